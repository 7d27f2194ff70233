//! consort's PySpark driver launcher (`deploy/spark/consort-pyspark-driver`). Spark runs a
//! PySpark driver's Python as a child of the driver JVM, and a kill that ends only the JVM
//! (Livy's `DELETE`, which stops spark-submit's process, not its children) leaves that Python
//! running, orphaned. Named as `spark.pyspark.driver.python`, the launcher runs Python with
//! `PR_SET_PDEATHSIG = KILL`, so it dies with its JVM however the JVM ends.

use crate::spec::{AppResource, AppSpec};

/// The launcher script, to install on the hosts where drivers run (it needs `sh` and
/// util-linux's `setpriv`, both in every Debian image).
pub const PYSPARK_DRIVER_LAUNCHER: &str = include_str!("../../../deploy/spark/consort-pyspark-driver");

/// The Spark property naming the driver's Python; it wins over `PYSPARK_DRIVER_PYTHON`.
pub const DRIVER_PYTHON_PROPERTY: &str = "spark.pyspark.driver.python";

/// Makes a PySpark application's driver start through `launcher` (its path on the driver's
/// host), unless the application names its own driver Python. Jar applications are left alone.
pub fn launch_driver_python_with(spec: &mut AppSpec, launcher: Option<&str>) {
    default_python_properties(spec, &[DRIVER_PYTHON_PROPERTY], launcher);
}

/// Sets each of `properties` to `value` on a PySpark application that does not set it itself
/// (a backend's configured Python, or the launcher). Jar applications, and `None`, change nothing.
pub fn default_python_properties(spec: &mut AppSpec, properties: &[&str], value: Option<&str>) {
    if let (AppResource::Python { .. }, Some(value)) = (&spec.resource, value) {
        for property in properties {
            spec.conf.entry((*property).into()).or_insert_with(|| value.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_python_applications_without_their_own_driver_python_get_the_launcher() {
        let mut py = AppSpec::python("report", "/jobs/report.py");
        launch_driver_python_with(&mut py, Some("/opt/consort/consort-pyspark-driver"));
        assert_eq!(py.conf[DRIVER_PYTHON_PROPERTY], "/opt/consort/consort-pyspark-driver");

        let mut own = AppSpec::python("report", "/jobs/report.py");
        own.conf.insert(DRIVER_PYTHON_PROPERTY.into(), "/usr/bin/python3.12".into());
        launch_driver_python_with(&mut own, Some("/opt/consort/consort-pyspark-driver"));
        assert_eq!(own.conf[DRIVER_PYTHON_PROPERTY], "/usr/bin/python3.12", "the job's own choice wins");

        let mut jar = AppSpec::jar("etl", "/jobs/etl.jar", "x.Y");
        launch_driver_python_with(&mut jar, Some("/opt/consort/consort-pyspark-driver"));
        assert!(jar.conf.is_empty());
        let mut unset = AppSpec::python("report", "/jobs/report.py");
        launch_driver_python_with(&mut unset, None);
        assert!(unset.conf.is_empty());
    }

    #[test]
    fn the_launcher_sets_the_parent_death_signal_and_checks_its_parent() {
        assert!(PYSPARK_DRIVER_LAUNCHER.starts_with("#!/bin/sh\n"));
        assert!(PYSPARK_DRIVER_LAUNCHER.contains("setpriv --pdeathsig KILL"));
        assert!(PYSPARK_DRIVER_LAUNCHER.contains(r#"[ "$PPID" = "$1" ] || exit 143"#));
    }
}
