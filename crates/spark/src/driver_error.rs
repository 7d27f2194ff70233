//! The first line of the exception that ended a driver, from its log: what a failed run says
//! instead of "exited with code 1" (or YARN's "User application exited with status 1").

/// The driver's exception in `log`, one line: a JVM `Exception in thread "main" X: msg` or
/// YARN's `User class threw exception: X: msg` (its root cause, the last `Caused by:`, if any), else the last Python traceback's final line
/// (`RuntimeError: msg`), else the first line that looks like an exception (`x.y.ZException: msg`).
pub fn driver_error(log: &str) -> Option<String> {
    let lines: Vec<&str> = log.lines().collect();
    jvm_error(&lines).or_else(|| python_error(&lines)).or_else(|| exception_like(&lines))
}

/// The driver's exception from its two streams, kept apart: the JVM's in its stderr, else a
/// Python traceback in its stdout (Spark's `PythonRunner` merges a PySpark driver's stderr into
/// the JVM's stdout, so a PySpark failure leaves the JVM's stderr with none), else what
/// [`driver_error`] finds in either.
pub fn driver_error_in(stderr: &str, stdout: &str) -> Option<String> {
    let (err, out): (Vec<&str>, Vec<&str>) = (stderr.lines().collect(), stdout.lines().collect());
    // PythonRunner ends a failed Python driver with `SparkUserAppException: User application
    // exited with N` (standalone's DriverWrapper names it as the root cause): the traceback says why.
    let jvm = jvm_error(&err);
    let python_exit = jvm.as_deref().is_some_and(|e| e.contains("SparkUserAppException"));
    jvm.filter(|_| !python_exit)
        .or_else(|| python_error(&out))
        .or_else(|| python_error(&err))
        .or_else(|| exception_like(&err).filter(|_| !python_exit))
        .or_else(|| driver_error(stdout))
        .or_else(|| jvm_error(&err))
}

fn jvm_error(lines: &[&str]) -> Option<String> {
    for marker in ["Exception in thread \"main\" ", "User class threw exception: "] {
        if let Some((at, line)) =
            lines.iter().enumerate().find_map(|(i, l)| l.split_once(marker).map(|(_, rest)| (i, rest)))
        {
            // A wrapper (standalone's DriverWrapper throws InvocationTargetException) names the
            // real exception last, as the root cause.
            let root = lines[at + 1..].iter().rev().find_map(|l| l.trim_start().strip_prefix("Caused by: "));
            return Some(clip(root.unwrap_or(line)));
        }
    }
    None
}

fn python_error(lines: &[&str]) -> Option<String> {
    let at = lines.iter().rposition(|l| l.trim_start().starts_with("Traceback (most recent call last):"))?;
    let indent = |l: &str| l.len() - l.trim_start().len();
    let base = indent(lines[at]);
    lines[at + 1..].iter().find(|l| !l.trim().is_empty() && indent(l) <= base).map(|line| clip(line.trim()))
}

fn exception_like(lines: &[&str]) -> Option<String> {
    lines.iter().map(|l| l.trim()).find(|l| looks_like_exception(l)).map(clip)
}

/// `java.lang.IllegalStateException: msg`, `org.apache.spark.SparkException: msg`, `ValueError: msg`.
fn looks_like_exception(line: &str) -> bool {
    let name = line.split_once(": ").map_or(line, |(name, _)| name);
    !name.is_empty()
        && !name.contains(char::is_whitespace)
        && (name.ends_with("Exception") || name.ends_with("Error"))
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '$' || c == '_')
}

fn clip(line: &str) -> String {
    const MAX: usize = 500;
    let line = line.trim();
    match line.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_exception_of_each_driver_kind() {
        let jvm = "25/01/01 INFO SparkContext: stopped\nException in thread \"main\" java.lang.IllegalStateException: failing on purpose\n\tat consort.examples.CountRange.main(CountRange.java:20)\n";
        assert_eq!(driver_error(jvm).as_deref(), Some("java.lang.IllegalStateException: failing on purpose"));
        let wrapped = "Exception in thread \"main\" java.lang.reflect.InvocationTargetException\n\tat x\nCaused by: java.lang.IllegalStateException: failing on purpose\n\tat y\n";
        assert_eq!(driver_error(wrapped).as_deref(), Some("java.lang.IllegalStateException: failing on purpose"));
        let yarn = "ERROR ApplicationMaster: User class threw exception: java.lang.RuntimeException: boom\n";
        assert_eq!(driver_error(yarn).as_deref(), Some("java.lang.RuntimeException: boom"));
        let py = "Traceback (most recent call last):\n  File \"x.py\", line 3, in <module>\n    raise ValueError(\"bad input\")\nValueError: bad input\nINFO ShutdownHookManager: deleted\n";
        assert_eq!(driver_error(py).as_deref(), Some("ValueError: bad input"));
        let bare = "WARN a b\norg.apache.spark.SparkException: Job aborted\n\tat x\n";
        assert_eq!(driver_error(bare).as_deref(), Some("org.apache.spark.SparkException: Job aborted"));
        assert_eq!(driver_error("INFO all fine\nWARN Error handling is fine\n"), None);
    }

    #[test]
    fn a_python_exit_wrapped_by_standalones_driver_wrapper_gives_way_to_the_traceback() {
        let stderr = "Exception in thread \"main\" java.lang.reflect.InvocationTargetException\n\tat x\n\
                      Caused by: org.apache.spark.SparkUserAppException: User application exited with 1\n\tat y\n";
        let stdout = "COUNT=10\nTraceback (most recent call last):\n  File \"count_range.py\", line 16, in <module>\n\
                      RuntimeError: failing on purpose (mode=fail)\n";
        assert_eq!(driver_error_in(stderr, stdout).as_deref(), Some("RuntimeError: failing on purpose (mode=fail)"));
        // Without a traceback, the exit is still the reason.
        assert_eq!(
            driver_error_in(stderr, "COUNT=10\n").as_deref(),
            Some("org.apache.spark.SparkUserAppException: User application exited with 1")
        );
    }

    #[test]
    fn a_pyspark_drivers_traceback_is_found_in_its_stdout() {
        // What a failed PySpark driver leaves (local, and YARN's application master): the JVM's
        // stderr names only the exit status; Python's traceback went to stdout.
        let stderr = "INFO SparkContext: Successfully stopped SparkContext\n\
                      ERROR ApplicationMaster: User application exited with status 1\n\
                      org.apache.spark.SparkUserAppException: User application exited with 1\n";
        let stdout = "COUNT=10\nTraceback (most recent call last):\n  File \"count_range.py\", line 17, in <module>\n\
                      RuntimeError: failing on purpose (mode=fail)\n";
        assert_eq!(driver_error_in(stderr, stdout).as_deref(), Some("RuntimeError: failing on purpose (mode=fail)"));
        // A JVM driver's own exception in stderr still comes first.
        let jvm = "Exception in thread \"main\" java.lang.IllegalStateException: failing on purpose\n";
        assert_eq!(
            driver_error_in(jvm, stdout).as_deref(),
            Some("java.lang.IllegalStateException: failing on purpose")
        );
        assert_eq!(
            driver_error_in(stderr, "COUNT=10\n").as_deref(),
            Some("org.apache.spark.SparkUserAppException: User application exited with 1")
        );
        assert_eq!(driver_error_in("", "ValueError: bad\n").as_deref(), Some("ValueError: bad"));
        assert_eq!(driver_error_in("INFO fine\n", "all good\n"), None);
    }
}
