//! Exactly one Spark application per run, through a crash between submitting and recording the
//! handle, and through a submission whose answer is lost (fail points in the `spark` kind), on
//! the real local backend. Run with `--features failpoints`. The scenarios are in
//! `support/once_scenarios.rs`; the standalone, YARN, Livy and Kubernetes binaries run them on
//! their own rigs.

use std::path::PathBuf;
use std::sync::Arc;

use consort_spark::{Launcher, LocalConfig, LocalLauncher, installed_pyspark, tool_cache};
use serde_json::{Map, Value, json};

#[path = "support/once_scenarios.rs"]
mod once_scenarios;

/// The local backend: one work directory, a run directory per application.
struct Local {
    dir: PathBuf,
}

impl Local {
    fn runs(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.join("runs"))
            .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        // Directories set aside (`KEY.never-started-…`) are not applications.
        names.retain(|n| n.starts_with("consort-run-") && !n.contains('.'));
        names.sort();
        names
    }
}

impl once_scenarios::Backend for Local {
    fn launcher(&self) -> Arc<dyn Launcher> {
        let spark = installed_pyspark().expect("pyspark venv missing: run scripts/setup (scripts/setup.d/40-spark.sh)");
        Arc::new(LocalLauncher::new(LocalConfig {
            spark_home: spark.spark_home,
            python: Some(spark.python),
            work_dir: self.dir.join("runs"),
            master: "local[1]".into(),
            hadoop_conf_dir: None,
            kerberos: None,
        }))
    }

    fn job(&self) -> Map<String, Value> {
        let jar = tool_cache().unwrap().join("examples/consort-examples.jar");
        assert!(jar.exists(), "example jar missing: run scripts/setup (41-spark-examples.sh)");
        let data = json!({
            "jar": jar.display().to_string(), "className": "consort.examples.CountRange",
            "args": ["100", "ok"], "driverMemory": "512m"
        });
        data.as_object().unwrap().clone()
    }

    async fn applications(&self, key: &str) -> Vec<String> {
        self.runs().into_iter().filter(|name| name == key).collect()
    }

    async fn total(&self) -> usize {
        self.runs().len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_local_application_per_run_through_a_crash_and_a_lost_answer() {
    let dir = std::env::temp_dir().join(format!("consort-spark-once-local-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    once_scenarios::exactly_one_application_per_run(&Local { dir: dir.clone() }).await;
    std::fs::remove_dir_all(&dir).unwrap();
}
