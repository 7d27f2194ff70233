//! The `livy` backend against a real Apache Livy server (the jars that
//! `scripts/setup.d/42-livy.sh` assembles from Maven Central) started by this
//! test, running batches with the pyspark of `40-spark.sh` as its SPARK_HOME.
//! One server serves every scenario; it is killed (its whole process group,
//! drivers included) on drop. The scenarios are in `support/livy_scenarios.rs`,
//! shared with `livy_kerberos.rs`.

use consort_spark::LivyAuth;

#[path = "support/fire.rs"]
mod fire;
#[path = "support/livy_scenarios.rs"]
mod livy_scenarios;
#[path = "support/lossy_proxy.rs"]
mod lossy_proxy;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_against_a_real_livy_server() {
    let (server, startup) = livy_scenarios::start_livy(&livy_scenarios::ServerAuth::None).await;
    eprintln!("Livy answered GET /batches {:.1} s after start", startup.as_secs_f64());
    livy_scenarios::batches(server, LivyAuth::None).await;
}
