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
use serde_json::{Value, json};

#[path = "support/fire.rs"]
mod fire;
#[path = "support/lossy_proxy.rs"]
mod lossy_proxy;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_status_kill_against_a_real_cluster() {
    let cluster = start_cluster().await;
    let spark = StandaloneLauncher::new(StandaloneConfig {
        rest_url: cluster.rest_url.clone(),
        master_url: cluster.master_url.clone(),
        spark_version: "4.3.0".into(),
        request_timeout: Duration::from_secs(30),
        ui_url: Some(cluster.ui_url.clone()),
    })
    .unwrap();
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

    let long = spark.submit(&job("count-long", &["10", "ok", "600000"])).await.unwrap();
    spark.kill(&long.id).await.unwrap();
    let killed = wait_until_final(&spark, &long.id, poll, Duration::from_secs(60)).await.unwrap();
    assert_eq!(killed.state, AppState::Killed, "{killed:?}");

    match spark.status("driver-does-not-exist").await {
        Err(SparkError::NotFound { .. }) => {}
        other => panic!("an unknown driver is NotFound, got {other:?}"),
    }

    // The answer to the create is lost (the master got it, the proxy cut the connection): the
    // standalone REST server cannot be asked for a run's key, so the `spark` kind does not send
    // it again. The run fails naming the key, and the master holds exactly one new driver.
    let drivers = || async {
        let page: Value = reqwest::get(format!("{}/json/", cluster.ui_url.trim_end_matches('/')))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ["activedrivers", "completeddrivers"].iter().map(|k| page[k].as_array().map_or(0, Vec::len)).sum::<usize>()
    };
    let before = drivers().await;
    let upstream = cluster.rest_url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let proxy = lossy_proxy::start(&upstream, "POST /v1/submissions/create", 1).await;
    let through_proxy: Arc<dyn Launcher> = Arc::new(
        StandaloneLauncher::new(StandaloneConfig {
            rest_url: proxy.url.clone(),
            master_url: cluster.master_url.clone(),
            spark_version: "4.3.0".into(),
            request_timeout: Duration::from_secs(30),
            ui_url: Some(cluster.ui_url.clone()),
        })
        .unwrap(),
    );
    let data = json!({
        "backend": "standalone", "jar": jar, "className": "consort.examples.CountRange", "args": ["10", "ok"],
        "driverMemory": "512m", "executorMemory": "512m", "conf": {"spark.cores.max": "1"},
        "retries": 3, "retryDelaySecs": 1
    });
    let run = fire_once(through_proxy, data).await;
    assert_eq!(proxy.lost(), 1, "the create's answer was lost once");
    assert_eq!(run.state, RunState::Failed, "{run:?}");
    let error = run.error.clone().unwrap_or_default();
    let key = run_key(run.id, run.fired_ms);
    assert!(error.contains("may have been submitted under key") && error.contains(&key), "{error}");
    assert_eq!(drivers().await, before + 1, "the create was not sent twice");
    drop(cluster);

    // The cluster is gone: a clear, retryable error naming the backend and address.
    let err = spark.submit(&job("late", &["1"])).await.unwrap_err();
    assert!(err.is_retryable() && err.was_not_sent(), "a refused connection sent nothing: {err:?}");
    let message = err.to_string();
    assert!(message.contains("standalone backend at http://127.0.0.1:") && message.contains("retry"), "{message}");
}
