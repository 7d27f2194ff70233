//! The `spark-submit` command line for an [`AppSpec`]: one place where every
//! field is mapped, so no backend that shells out can lose one.

use crate::spec::{AppResource, AppSpec};

/// Arguments after `spark-submit` for `spec` against `master` (e.g. `local[2]`,
/// `yarn`, `spark://host:7077`), in `deploy_mode` (`client` or `cluster`).
pub fn spark_submit_args(spec: &AppSpec, master: &str, deploy_mode: &str) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    let mut push = |flag: &str, value: &str| {
        args.push(flag.to_string());
        args.push(value.to_string());
    };
    push("--master", master);
    push("--deploy-mode", deploy_mode);
    push("--name", &spec.name);
    if let AppResource::Jar { main_class, .. } = &spec.resource {
        push("--class", main_class);
    }
    for (flag, list) in [
        ("--jars", &spec.jars),
        ("--py-files", &spec.py_files),
        ("--files", &spec.files),
        ("--packages", &spec.packages),
    ] {
        if !list.is_empty() {
            push(flag, &list.join(","));
        }
    }
    if let Some(n) = spec.driver_cores {
        push("--driver-cores", &n.to_string());
    }
    if let Some(m) = &spec.driver_memory {
        push("--driver-memory", m);
    }
    if let Some(n) = spec.executor_cores {
        push("--executor-cores", &n.to_string());
    }
    if let Some(m) = &spec.executor_memory {
        push("--executor-memory", m);
    }
    if let Some(n) = spec.num_executors {
        push("--num-executors", &n.to_string());
    }
    if let Some(q) = &spec.queue {
        push("--queue", q);
    }
    if let Some(level) = &spec.log_level {
        push("--conf", &format!("spark.log.level={}", level.to_uppercase()));
    }
    for (key, value) in &spec.conf {
        push("--conf", &format!("{key}={value}"));
    }
    args.push(spec.resource.uri().to_string());
    args.extend(spec.args.iter().cloned());
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_reaches_the_command_line() {
        let mut spec = AppSpec::jar("etl", "hdfs://ns1/jobs/etl.jar", "com.example.Etl");
        spec.args = vec!["--date".into(), "2026-01-01".into()];
        spec.conf.insert("spark.sql.shuffle.partitions".into(), "8".into());
        spec.jars = vec!["a.jar".into(), "b.jar".into()];
        spec.files = vec!["app.conf".into()];
        spec.packages = vec!["org.example:lib:1.0".into()];
        spec.driver_cores = Some(1);
        spec.driver_memory = Some("1g".into());
        spec.executor_cores = Some(2);
        spec.executor_memory = Some("2g".into());
        spec.num_executors = Some(3);
        spec.queue = Some("etl".into());
        spec.log_level = Some("warn".into());
        let args = spark_submit_args(&spec, "yarn", "cluster").join(" ");
        assert_eq!(
            args,
            "--master yarn --deploy-mode cluster --name etl --class com.example.Etl --jars a.jar,b.jar --files app.conf \
             --packages org.example:lib:1.0 --driver-cores 1 --driver-memory 1g --executor-cores 2 --executor-memory 2g \
             --num-executors 3 --queue etl --conf spark.log.level=WARN --conf spark.sql.shuffle.partitions=8 \
             hdfs://ns1/jobs/etl.jar --date 2026-01-01"
        );
    }

    #[test]
    fn python_apps_have_no_class() {
        let mut spec = AppSpec::python("report", "/jobs/report.py");
        spec.py_files = vec!["lib.zip".into()];
        let args = spark_submit_args(&spec, "local[2]", "client");
        assert!(!args.contains(&"--class".to_string()));
        assert_eq!(args[args.len() - 1], "/jobs/report.py");
        assert!(args.windows(2).any(|w| w[0] == "--py-files" && w[1] == "lib.zip"));
    }
}
