//! The `standalone` backend against a real Spark standalone cluster (master with
//! its REST submission server, one worker) started by this test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use consort_scheduler::RunState;
use consort_spark::{
    AppSpec, AppState, Launcher, SparkError, StandaloneConfig, StandaloneLauncher, installed_pyspark, run_key,
    tool_cache, wait_until_final,
};
use serde_json::{Map, Value, json};

#[path = "support/fire.rs"]
mod fire;
#[path = "support/lossy_proxy.rs"]
mod lossy_proxy;
#[cfg(feature = "failpoints")]
#[path = "support/once_scenarios.rs"]
mod once_scenarios;
use fire::fire_once;

fn spark_home() -> PathBuf {
    installed_pyspark().expect("pyspark venv missing: run scripts/setup (40-spark.sh)").spark_home
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A master (RPC, web UI, REST) and one worker; both killed on drop.
struct Cluster {
    processes: Vec<Child>,
    rest_url: String,
    master_url: String,
    ui_url: String,
    dir: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for p in &mut self.processes {
            let _ = p.kill();
            let _ = p.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spark_class(home: &Path, dir: &Path, log: &str) -> Command {
    let mut cmd = Command::new(home.join("bin/spark-class"));
    cmd.env("SPARK_HOME", home)
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .env("SPARK_LOG_DIR", dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join(format!("{log}.out"))).unwrap())
        .stderr(std::fs::File::create(dir.join(format!("{log}.err"))).unwrap());
    cmd
}

async fn start_cluster() -> Cluster {
    let home = spark_home();
    let dir = std::env::temp_dir().join(format!("consort-standalone-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("work")).unwrap();
    let (rpc, ui, rest, worker_ui) = (free_port(), free_port(), free_port(), free_port());
    let conf = dir.join("master.conf");
    std::fs::write(
        &conf,
        format!("spark.master.rest.enabled true\nspark.master.rest.port {rest}\nspark.master.rest.host 127.0.0.1\n"),
    )
    .unwrap();
    let master = spark_class(&home, &dir, "master")
        .args(["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", &rpc.to_string()])
        .args(["--webui-port", &ui.to_string(), "--properties-file"])
        .arg(&conf)
        .spawn()
        .unwrap();
    let master_url = format!("spark://127.0.0.1:{rpc}");
    let worker = spark_class(&home, &dir, "worker")
        .args(["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--webui-port", &worker_ui.to_string()])
        .args(["--cores", "2", "--memory", "2g", "--work-dir"])
        .arg(dir.join("work"))
        .arg(&master_url)
        .spawn()
        .unwrap();
    let cluster = Cluster {
        processes: vec![master, worker],
        rest_url: format!("http://127.0.0.1:{rest}"),
        master_url,
        ui_url: format!("http://127.0.0.1:{ui}"),
        dir,
    };

    // Ready when the REST server answers and the worker has registered.
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let json = http.get(format!("http://127.0.0.1:{ui}/json/")).send().await;
        let alive = match json {
            Ok(r) => r.text().await.unwrap_or_default().contains("\"aliveworkers\" : 1"),
            Err(_) => false,
        };
        let rest_ok = http.get(format!("{}/v1/submissions/readyz", cluster.rest_url)).send().await.is_ok();
        if alive && rest_ok {
            return cluster;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "standalone cluster did not start; see {}",
            cluster.dir.display()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn config(cluster: &Cluster) -> StandaloneConfig {
    StandaloneConfig {
        rest_url: cluster.rest_url.clone(),
        master_url: cluster.master_url.clone(),
        spark_version: "4.3.0".into(),
        request_timeout: Duration::from_secs(30),
        ui_url: Some(cluster.ui_url.clone()),
        python: Some(tool_cache().unwrap().join("venvs/spark/bin/python")),
    }
}

/// A `spark` job that counts to 10 on one core.
fn small_job(jar: &str) -> Map<String, Value> {
    let data = json!({
        "backend": "standalone", "jar": jar, "className": "consort.examples.CountRange", "args": ["10", "ok"],
        "driverMemory": "512m", "executorMemory": "512m", "conf": {"spark.cores.max": "1"}
    });
    data.as_object().unwrap().clone()
}

/// The master's `/json/`, read past the launcher.
async fn master_json(cluster: &Cluster) -> Value {
    reqwest::get(format!("{}/json/", cluster.ui_url)).await.unwrap().json().await.unwrap()
}

/// Every driver the master knows (active and completed): `(id, worker id)`.
async fn drivers(cluster: &Cluster) -> Vec<(String, String)> {
    let page = master_json(cluster).await;
    ["activedrivers", "completeddrivers"]
        .iter()
        .flat_map(|k| page[k].as_array().cloned().unwrap_or_default())
        .map(|d| (d["id"].as_str().unwrap().to_string(), d["worker"].as_str().unwrap_or("None").to_string()))
        .collect()
}

/// The drivers whose launch command (the first line of their stderr, written by the worker)
/// carries run key `key`, read through the workers' web UIs.
async fn drivers_with_key(cluster: &Cluster, key: &str) -> Vec<String> {
    let page = master_json(cluster).await;
    let mut found = Vec::new();
    for (id, worker) in drivers(cluster).await {
        let ui = page["workers"].as_array().unwrap().iter().find(|w| w["id"] == worker.as_str());
        let Some(ui) = ui.and_then(|w| w["webuiaddress"].as_str()) else { continue };
        let url = format!("{ui}/log?driverId={id}&logType=stderr&offset=0&byteLength=65536");
        let text = reqwest::get(url).await.unwrap().text().await.unwrap();
        if text.contains(&format!("\"-Dspark.consort.runKey={key}\"")) {
            found.push(id);
        }
    }
    found
}

/// The standalone cluster, for the fault-injection matrix.
#[cfg(feature = "failpoints")]
struct Standalone<'a> {
    cluster: &'a Cluster,
    jar: String,
}

#[cfg(feature = "failpoints")]
impl once_scenarios::Backend for Standalone<'_> {
    fn launcher(&self) -> Arc<dyn Launcher> {
        Arc::new(StandaloneLauncher::new(config(self.cluster)).unwrap())
    }
    fn job(&self) -> Map<String, Value> {
        small_job(&self.jar)
    }
    async fn applications(&self, key: &str) -> Vec<String> {
        drivers_with_key(self.cluster, key).await
    }
    async fn total(&self) -> usize {
        drivers(self.cluster).await.len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_status_kill_against_a_real_cluster() {
    let cluster = start_cluster().await;
    let spark = StandaloneLauncher::new(config(&cluster)).unwrap();
    spark.health().await.unwrap();
    let jar = format!("file:{}", tool_cache().unwrap().join("examples/consort-examples.jar").display());
    let job = |name: &str, args: &[&str]| {
        let mut spec = AppSpec::jar(name, &jar, "consort.examples.CountRange");
        spec.args = args.iter().map(|a| a.to_string()).collect();
        spec.driver_memory = Some("512m".into());
        spec.executor_memory = Some("512m".into());
        spec.conf.insert("spark.cores.max".into(), "1".into());
        spec
    };
    let wait = Duration::from_secs(300);
    let poll = Duration::from_millis(500);

    let ok = spark.submit(&job("count-ok", &["1000", "ok"])).await.unwrap();
    assert!(ok.id.starts_with("driver-"), "{ok:?}");
    let done = wait_until_final(&spark, &ok.id, poll, wait).await.unwrap();
    assert_eq!(done.state, AppState::Succeeded, "{done:?}");
    // Spark's application id and the driver's log, read through the master's and worker's UIs.
    assert!(done.app_id.as_deref().is_some_and(|id| id.starts_with("app-")), "{done:?}");
    let log = spark.logs(&ok.id, 64 << 10).await.unwrap();
    assert!(log.contains("COUNT=1000"), "{log}");
    let tail = spark.logs(&ok.id, 200).await.unwrap();
    assert!(tail.len() <= 200 && log.trim_end().ends_with(tail.trim_end().lines().last().unwrap()), "{tail}");

    let failing = spark.submit(&job("count-fail", &["10", "fail"])).await.unwrap();
    let failed = wait_until_final(&spark, &failing.id, poll, wait).await.unwrap();
    assert_eq!(failed.state, AppState::Failed, "{failed:?}");
    let reason = failed.message.clone().unwrap_or_default();
    assert!(reason.contains("Exception: failing on purpose"), "the driver's exception is the reason: {reason}");

    // PySpark: the file and its arguments reach PythonRunner, the venv's Python runs it, and a
    // failure's reason is its Python exception.
    let python = format!("file:{}", tool_cache().unwrap().join("examples/count_range.py").display());
    let py_job = |name: &str, args: &[&str]| {
        let mut spec = AppSpec::python(name, &python);
        spec.args = args.iter().map(|a| a.to_string()).collect();
        spec.driver_memory = Some("512m".into());
        spec.executor_memory = Some("512m".into());
        spec.conf.insert("spark.cores.max".into(), "1".into());
        spec
    };
    let py_ok = spark.submit(&py_job("count-py", &["777", "ok"])).await.unwrap();
    let done = wait_until_final(&spark, &py_ok.id, poll, wait).await.unwrap();
    let log = spark.logs(&py_ok.id, 64 << 10).await.unwrap();
    assert_eq!(done.state, AppState::Succeeded, "{done:?}\n{log}");
    assert!(log.contains("COUNT=777"), "{log}");
    let py_fail = spark.submit(&py_job("count-py-fail", &["10", "fail"])).await.unwrap();
    let failed = wait_until_final(&spark, &py_fail.id, poll, wait).await.unwrap();
    assert_eq!(failed.state, AppState::Failed, "{failed:?}");
    let reason = failed.message.clone().unwrap_or_default();
    assert!(reason.contains("failing on purpose"), "the Python exception is the reason: {reason}");

    let long = spark.submit(&job("count-long", &["10", "ok", "600000"])).await.unwrap();
    spark.kill(&long.id).await.unwrap();
    let killed = wait_until_final(&spark, &long.id, poll, Duration::from_secs(60)).await.unwrap();
    assert_eq!(killed.state, AppState::Killed, "{killed:?}");

    match spark.status("driver-does-not-exist").await {
        Err(SparkError::NotFound { .. }) => {}
        other => panic!("an unknown driver is NotFound, got {other:?}"),
    }

    // The answer to the create is lost (the master got it, the proxy cut the connection): the
    // `spark` kind does not send it again but looks the run's key up (in the drivers' launch
    // commands) and adopts the driver the master made.
    let before = drivers(&cluster).await.len();
    let upstream = cluster.rest_url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let proxy = lossy_proxy::start(&upstream, "POST /v1/submissions/create", 1).await;
    let through_proxy: Arc<dyn Launcher> = Arc::new(
        StandaloneLauncher::new(StandaloneConfig { rest_url: proxy.url.clone(), ..config(&cluster) }).unwrap(),
    );
    let mut data = small_job(&jar);
    data.insert("retries".into(), 3.into());
    data.insert("retryDelaySecs".into(), 1.into());
    let run = fire_once(through_proxy, Value::Object(data)).await;
    assert_eq!(proxy.lost(), 1, "the create's answer was lost once");
    assert_eq!(run.state, RunState::Succeeded, "{run:?}");
    let key = run_key(run.id, run.fired_ms);
    let keyed = drivers_with_key(&cluster, &key).await;
    assert_eq!(keyed.len(), 1, "exactly one driver for the run: {keyed:?}");
    assert_eq!(run.log_location, Some(format!("standalone:{}", keyed[0])), "the run follows that driver");
    assert_eq!(drivers(&cluster).await.len(), before + 1, "the create was not sent twice");
    assert_eq!(spark.find("consort-run-0-0").await.unwrap(), None, "a key never submitted is provably absent");

    // The fault-injection matrix (`--features failpoints`): a crash between submitting and
    // recording the handle, and a lost submit answer, each end with one driver followed.
    #[cfg(feature = "failpoints")]
    once_scenarios::exactly_one_application_per_run(&Standalone { cluster: &cluster, jar: jar.clone() }).await;

    drop(cluster);

    // The cluster is gone: a clear, retryable error naming the backend and address.
    let err = spark.submit(&job("late", &["1"])).await.unwrap_err();
    assert!(err.is_retryable() && err.was_not_sent(), "a refused connection sent nothing: {err:?}");
    let message = err.to_string();
    assert!(message.contains("standalone backend at http://127.0.0.1:") && message.contains("retry"), "{message}");
}
