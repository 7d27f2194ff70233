//! The `livy` backend against a real Apache Livy server (the jars that
//! `scripts/setup.d/42-livy.sh` assembles from Maven Central) started by this
//! test, running batches with the pyspark of `40-spark.sh` as its SPARK_HOME.
//! One server serves every scenario; it is killed (its whole process group,
//! drivers included) on drop. The scenarios are in `support/livy_scenarios.rs`,
//! shared with `livy_kerberos.rs`; with `--features failpoints` the fault-injection
//! matrix (`support/once_scenarios.rs`) runs on the same server first.

use consort_spark::LivyAuth;

#[path = "support/fire.rs"]
mod fire;
#[path = "support/livy_scenarios.rs"]
mod livy_scenarios;
#[path = "support/lossy_proxy.rs"]
mod lossy_proxy;
#[cfg(feature = "failpoints")]
#[path = "support/once_scenarios.rs"]
mod once_scenarios;
#[path = "support/sleeper.rs"]
mod sleeper;

/// The Livy server, for the fault-injection matrix; batches are counted from `GET /batches`.
#[cfg(feature = "failpoints")]
struct Livy<'a> {
    server: &'a livy_scenarios::LivyServer,
}

#[cfg(feature = "failpoints")]
impl Livy<'_> {
    async fn batches(&self) -> Vec<serde_json::Value> {
        let page =
            livy_scenarios::raw_get(&format!("{}/batches?from=0&size=10000", self.server.url), &LivyAuth::None).await;
        page["sessions"].as_array().cloned().unwrap_or_default()
    }
}

#[cfg(feature = "failpoints")]
impl once_scenarios::Backend for Livy<'_> {
    fn launcher(&self) -> std::sync::Arc<dyn consort_spark::Launcher> {
        std::sync::Arc::new(livy_scenarios::launcher(&self.server.url, Some("consort"), &LivyAuth::None))
    }
    fn job(&self) -> serde_json::Map<String, serde_json::Value> {
        let jar = livy_scenarios::examples().join("consort-examples.jar").display().to_string();
        let data = serde_json::json!({
            "backend": "livy", "jar": jar, "className": "consort.examples.CountRange", "args": ["10", "ok"],
            "driverMemory": "512m", "conf": {"spark.ui.enabled": "false"}
        });
        data.as_object().unwrap().clone()
    }
    async fn applications(&self, key: &str) -> Vec<String> {
        self.batches().await.iter().filter(|b| b["name"] == key).map(|b| b["id"].to_string()).collect()
    }
    async fn total(&self) -> usize {
        self.batches().await.len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_against_a_real_livy_server() {
    let (server, startup) = livy_scenarios::start_livy(&livy_scenarios::ServerAuth::None).await;
    eprintln!("Livy answered GET /batches {:.1} s after start", startup.as_secs_f64());
    #[cfg(feature = "failpoints")]
    once_scenarios::exactly_one_application_per_run(&Livy { server: &server }).await;
    livy_scenarios::batches(server, LivyAuth::None).await;
}
