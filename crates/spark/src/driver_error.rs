//! The first line of the exception that ended a driver, from its log: what a failed run says
//! instead of "exited with code 1" (or YARN's "User application exited with status 1").

/// The driver's exception in `log`, one line: a JVM `Exception in thread "main" X: msg` or
/// YARN's `User class threw exception: X: msg` (its root cause, the last `Caused by:`, if any), else the last Python traceback's final line
/// (`RuntimeError: msg`), else the first line that looks like an exception (`x.y.ZException: msg`).
pub fn driver_error(log: &str) -> Option<String> {
    let lines: Vec<&str> = log.lines().collect();
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
    if let Some(at) = lines.iter().rposition(|l| l.trim_start().starts_with("Traceback (most recent call last):")) {
        let indent = |l: &str| l.len() - l.trim_start().len();
        let base = indent(lines[at]);
        if let Some(line) = lines[at + 1..].iter().find(|l| !l.trim().is_empty() && indent(l) <= base) {
            return Some(clip(line.trim()));
        }
    }
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
}
