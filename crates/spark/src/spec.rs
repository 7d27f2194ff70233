//! What to run: a Spark application described once, for every backend.

use std::collections::BTreeMap;
use std::fmt;

/// The application's code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppResource {
    /// A jar and the class whose `main` Spark calls.
    Jar {
        /// Where the jar is (a path or a URI Spark can read).
        uri: String,
        /// Fully qualified main class, e.g. `com.example.Etl`.
        main_class: String,
    },
    /// A Python file (`.py`) run by PySpark.
    Python {
        /// Where the file is.
        uri: String,
    },
}

impl AppResource {
    /// The artifact's location.
    pub fn uri(&self) -> &str {
        match self {
            AppResource::Jar { uri, .. } | AppResource::Python { uri } => uri,
        }
    }
}

/// A Spark application: every field a descriptor can set reaches Spark.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppSpec {
    /// `spark.app.name`.
    pub name: String,
    /// The code to run.
    pub resource: AppResource,
    /// Arguments for the application's main.
    pub args: Vec<String>,
    /// Spark properties (`--conf k=v`), applied last so they win over the typed fields.
    pub conf: BTreeMap<String, String>,
    /// Extra jars on the classpath (`--jars`).
    pub jars: Vec<String>,
    /// Extra Python files (`--py-files`).
    pub py_files: Vec<String>,
    /// Files shipped to the working directory (`--files`).
    pub files: Vec<String>,
    /// Maven coordinates (`--packages`).
    pub packages: Vec<String>,
    /// `--driver-cores`.
    pub driver_cores: Option<u32>,
    /// `--driver-memory`, e.g. `1g`.
    pub driver_memory: Option<String>,
    /// `--executor-cores`.
    pub executor_cores: Option<u32>,
    /// `--executor-memory`.
    pub executor_memory: Option<String>,
    /// `--num-executors` (`spark.executor.instances`).
    pub num_executors: Option<u32>,
    /// YARN queue (`--queue`).
    pub queue: Option<String>,
    /// Root log level (`spark.log.level`): ALL, DEBUG, ERROR, FATAL, INFO, OFF, TRACE, WARN.
    pub log_level: Option<String>,
    /// The run's key ([`run_key`]): each backend submits under it (a directory, a tag, a batch
    /// name, an object name) so that [`crate::Launcher::find`] can tell whether a submission
    /// whose answer was lost reached the backend. `None`: the backend makes up a unique one.
    pub key: Option<String>,
    /// What the driver's and executors' pods carry besides Spark (Kubernetes only; the other
    /// backends run no pods of their own).
    pub pods: PodExtras,
}

/// Annotations, labels and sidecar containers of the driver's and executors' pods: how a
/// clean-room run puts its run policy on its pods and runs beside the runner the sidecars
/// that hold its secrets, identity and telemetry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodExtras {
    /// Pod annotations.
    pub annotations: BTreeMap<String, String>,
    /// Pod labels.
    pub labels: BTreeMap<String, String>,
    /// Sidecar containers (Kubernetes `Container` objects).
    pub sidecars: Vec<serde_json::Value>,
}

/// The key a scheduler run submits under: `consort-run-<run id>-<fire time ms>`. The fire
/// time keeps keys apart across stores that reuse run ids (a database created again). A
/// DNS-1123 label, lower case, so every backend can use it as a name or tag as it is.
pub fn run_key(run_id: i64, fired_ms: i64) -> String {
    format!("consort-run-{run_id}-{fired_ms}")
}

/// Whether `key` can name a submission on every backend (a DNS-1123 label of at most 63).
pub(crate) fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 63
        && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !key.starts_with('-')
        && !key.ends_with('-')
}

impl AppSpec {
    /// A jar application with defaults for everything else.
    pub fn jar(name: impl Into<String>, uri: impl Into<String>, main_class: impl Into<String>) -> Self {
        AppSpec::new(name, AppResource::Jar { uri: uri.into(), main_class: main_class.into() })
    }

    /// A Python application with defaults for everything else.
    pub fn python(name: impl Into<String>, uri: impl Into<String>) -> Self {
        AppSpec::new(name, AppResource::Python { uri: uri.into() })
    }

    fn new(name: impl Into<String>, resource: AppResource) -> Self {
        AppSpec {
            name: name.into(),
            resource,
            args: Vec::new(),
            conf: BTreeMap::new(),
            jars: Vec::new(),
            py_files: Vec::new(),
            files: Vec::new(),
            packages: Vec::new(),
            driver_cores: None,
            driver_memory: None,
            executor_cores: None,
            executor_memory: None,
            num_executors: None,
            queue: None,
            log_level: None,
            key: None,
            pods: PodExtras::default(),
        }
    }

    /// Checks the fields a backend cannot check for us; the error names the field and the fix.
    pub fn validate(&self) -> Result<(), SpecError> {
        let fail = |field: &'static str, problem: String| Err(SpecError { field, problem });
        if self.name.trim().is_empty() {
            return fail("name", "must not be empty; give the application a name".into());
        }
        match &self.resource {
            AppResource::Jar { uri, main_class } => {
                if uri.trim().is_empty() {
                    return fail("jar", "must name the jar to run".into());
                }
                let valid = !main_class.is_empty()
                    && main_class.split('.').all(|part| {
                        let mut chars = part.chars();
                        chars.next().is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
                            && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$')
                    });
                if !valid {
                    return fail(
                        "className",
                        format!("`{main_class}` is not a Java class name; use the dotted form, e.g. com.example.Etl"),
                    );
                }
            }
            AppResource::Python { uri } => {
                if !uri.ends_with(".py") {
                    return fail("file", format!("`{uri}` is not a Python file; a PySpark entry point ends in .py"));
                }
            }
        }
        for (field, memory) in [("driverMemory", &self.driver_memory), ("executorMemory", &self.executor_memory)] {
            if let Some(m) = memory
                && !is_memory(m)
            {
                return fail(
                    field,
                    format!("`{m}` is not a JVM memory size; use a number and a unit, e.g. 512m or 2g"),
                );
            }
        }
        for (field, count) in [
            ("driverCores", self.driver_cores),
            ("executorCores", self.executor_cores),
            ("numExecutors", self.num_executors),
        ] {
            if count == Some(0) {
                return fail(field, "must be at least 1".into());
            }
        }
        if let Some(level) = &self.log_level {
            const LEVELS: [&str; 8] = ["ALL", "DEBUG", "ERROR", "FATAL", "INFO", "OFF", "TRACE", "WARN"];
            if !LEVELS.contains(&level.to_uppercase().as_str()) {
                return fail("logLevel", format!("`{level}` is not a log level; use one of {}", LEVELS.join(", ")));
            }
        }
        if let Some(key) = self.key.as_deref().filter(|k| !is_valid_key(k)) {
            return fail(
                "key",
                format!("`{key}` cannot name a submission; use lower-case letters, digits and `-`, at most 63"),
            );
        }
        if let Some(key) = self.conf.keys().find(|k| k.trim().is_empty() || k.contains(char::is_whitespace)) {
            return fail(
                "conf",
                format!("`{key}` is not a Spark property name; names look like spark.sql.shuffle.partitions"),
            );
        }
        Ok(())
    }
}

fn is_memory(text: &str) -> bool {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &text[digits.len()..];
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && ["", "k", "kb", "m", "mb", "g", "gb", "t", "tb"].contains(&unit.to_lowercase().as_str())
}

/// An [`AppSpec`] field a backend would reject.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct SpecError {
    /// The descriptor field, e.g. `driverMemory`.
    pub field: &'static str,
    /// What is wrong and the fix.
    pub problem: String,
}

impl fmt::Display for AppResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppResource::Jar { uri, main_class } => write!(f, "{main_class} in {uri}"),
            AppResource::Python { uri } => f.write_str(uri),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let mut spec = AppSpec::jar("etl", "/jobs/etl.jar", "com.example.Etl");
        assert_eq!(spec.validate(), Ok(()));
        spec.driver_memory = Some("2 gigs".into());
        assert_eq!(spec.validate().unwrap_err().field, "driverMemory");
        spec.driver_memory = Some("2g".into());
        spec.resource = AppResource::Jar { uri: "/jobs/etl.jar".into(), main_class: "com.example.".into() };
        assert_eq!(spec.validate().unwrap_err().field, "className");
        let mut py = AppSpec::python("report", "/jobs/report.sh");
        assert_eq!(py.validate().unwrap_err().field, "file");
        py.resource = AppResource::Python { uri: "/jobs/report.py".into() };
        py.log_level = Some("loud".into());
        assert!(py.validate().unwrap_err().to_string().contains("WARN"));
        py.log_level = Some("warn".into());
        py.num_executors = Some(0);
        assert_eq!(py.validate().unwrap_err().field, "numExecutors");
    }
}
