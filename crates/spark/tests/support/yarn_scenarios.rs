//! The YARN cluster-mode scenarios, shared by `yarn.rs` (a plain MiniYARNCluster) and
//! `yarn_kerberos.rs` (the kerberized HDFS HA pair + YARN): the same applications, kills, logs,
//! keys and errors, with what differs between the clusters behind [`YarnCluster`].

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use consort_kerberos::KerberosSettings;
use consort_spark::{
    AppSpec, AppState, Launcher, SparkError, YarnConfig, YarnLauncher, installed_pyspark, tool_cache, wait_until_final,
};

/// What differs between the clusters the scenarios run on.
pub trait YarnCluster {
    /// The client `HADOOP_CONF_DIR` the cluster wrote (yarn-site.xml has the RM's address).
    fn conf_dir(&self) -> PathBuf;
    /// The ResourceManager's web address, `host:port`.
    fn rm_webapp(&self) -> String;
    /// How long the cluster took to start.
    fn started_in(&self) -> Duration;
    /// The launcher's `kerberos` setting.
    fn kerberos(&self) -> Option<KerberosSettings>;
    /// What every `put` URI starts with.
    fn hdfs_prefix(&self) -> String;
    /// The YARN user the applications must run as, when the cluster decides it.
    fn expected_user(&self) -> Option<String>;
    /// Copies a local file into HDFS; returns its `hdfs://` URI.
    fn put(&mut self, local: &Path, hdfs_path: &str) -> String;
    /// The ResourceManager's REST JSON at `path`, bypassing the launcher (raw assertions).
    #[allow(async_fn_in_trait)]
    async fn rm_json(&self, path: &str) -> serde_json::Value;
    /// The application's container output read from the NodeManager's log directory, for a
    /// rig whose NodeManager cannot serve logs itself; `None` when `logs` can be asserted on.
    fn output_on_disk(&self, _app_id: &str) -> Option<String> {
        None
    }
}

/// A PySpark job that prints the Python its driver and an executor run, counts, then fails:
/// `[spark] python` must reach both on the nodes, and the run's reason must be the traceback's
/// last line, which the application master has in its stdout (YARN's own diagnostics say only
/// "User application exited with status 1").
const WHICH_PYTHON: &str = r#"import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
try:
    print(f"DRIVER_PYTHON={sys.executable}")
    executor = spark.sparkContext.parallelize([0], 1).map(lambda _: __import__("sys").executable).first()
    print(f"EXECUTOR_PYTHON={executor}")
    print(f"COUNT={spark.range(int(sys.argv[1])).count()}")
    raise RuntimeError("failing on purpose (mode=fail)")
finally:
    spark.stop()
"#;

/// What the driver printed: the launcher's log tail, or where the rig's NodeManager cannot
/// serve it, the files on disk, after checking that the launcher's authenticated request
/// reached the NodeManager's log servlet (its HTTP 500, not a 401).
async fn driver_output(cluster: &impl YarnCluster, yarn: &YarnLauncher, id: &str) -> String {
    let logs = yarn.logs(id, 64 * 1024).await.unwrap();
    match cluster.output_on_disk(id) {
        None => logs,
        Some(disk) => {
            assert!(logs.contains("HTTP 500") && !logs.contains("HTTP 401"), "{logs}");
            disk
        }
    }
}

/// The launcher's configuration for `cluster`, as a deployment would have it.
pub fn yarn_config(cluster: &impl YarnCluster) -> YarnConfig {
    let spark = installed_pyspark().expect("pyspark venv missing: run scripts/setup (40-spark.sh)");
    // The REST address comes from the yarn-site.xml the rig wrote, as for a real cluster.
    let mut config = YarnConfig::from_conf_dir(spark.spark_home.clone(), cluster.conf_dir(), None).unwrap();
    assert_eq!(config.rm_urls, [format!("http://{}", cluster.rm_webapp())]);
    // Containers take Spark's jars from this machine's Spark instead of a 460 MB upload per run.
    config.spark_conf.insert("spark.yarn.jars".into(), format!("local:{}/jars/*", spark.spark_home.display()));
    // Quicker JVM start-up for the many small JVMs on a 2-core machine; no web UI.
    for key in ["spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions"] {
        config.spark_conf.insert(key.into(), "-XX:+UseSerialGC -XX:TieredStopAtLevel=1".into());
    }
    config.spark_conf.insert("spark.ui.enabled".into(), "false".into());
    // `[spark] python`: reaches the PySpark driver and executors on the nodes.
    config.python = Some(spark.python.clone());
    config.kerberos = cluster.kerberos();
    config
}

async fn wait_for_state(yarn: &YarnLauncher, id: &str, want: AppState, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let status = yarn.status(id).await.unwrap();
        if status.state == want {
            return;
        }
        assert!(!status.state.is_final(), "{id} ended before reaching {want}: {status:?}");
        assert!(Instant::now() < deadline, "{id} did not reach {want} within {timeout:?}: {status:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every scenario, on `cluster`; takes the cluster away (drops it) at the end to check the
/// errors of a launcher whose ResourceManager is gone.
pub async fn cluster_mode_applications<C: YarnCluster>(mut cluster: C) {
    let test_started = Instant::now();
    let examples = tool_cache().unwrap().join("examples");
    let yarn = YarnLauncher::new(yarn_config(&cluster)).unwrap();
    yarn.health().await.unwrap();

    // The realistic path: the application's code is on HDFS.
    let jar = cluster.put(&examples.join("consort-examples.jar"), "/jobs/consort-examples.jar");
    let which_python = std::env::temp_dir().join(format!("consort-which-python-{}.py", std::process::id()));
    std::fs::write(&which_python, WHICH_PYTHON).unwrap();
    let py = cluster.put(&which_python, "/jobs/which_python.py");
    let _ = std::fs::remove_file(&which_python);
    assert!(jar.starts_with(&cluster.hdfs_prefix()), "{jar}");
    let small = |mut spec: AppSpec| {
        spec.driver_memory = Some("512m".into());
        spec.executor_memory = Some("512m".into());
        spec.num_executors = Some(1);
        // One attempt: a failing driver is not retried.
        spec.conf.insert("spark.yarn.maxAppAttempts".into(), "1".into());
        spec
    };
    let job = |name: &str, args: &[&str]| {
        let mut spec = small(AppSpec::jar(name, &jar, "consort.examples.CountRange"));
        spec.args = args.iter().map(|a| a.to_string()).collect();
        spec
    };

    let mut ok_spec = job("count-ok", &["1000", "ok"]);
    ok_spec.queue = Some("etl".into());
    ok_spec.conf.insert("spark.yarn.tags".into(), "team-a".into());
    let mut py_spec = small(AppSpec::python("which-python", &py));
    py_spec.args = vec!["2000".into()];
    // Keyed by a run: the key is the application's tag, a second submission adopts the first.
    let key = "consort-run-11-1764000000000";
    let mut failing_spec = job("count-fail", &["10", "fail"]);
    failing_spec.key = Some(key.into());
    assert_eq!(yarn.find(key).await.unwrap(), None, "never submitted");
    // Four spark-submits at once; YARN runs the applications side by side.
    let submit_started = Instant::now();
    let timed = |spec: AppSpec| {
        let yarn = &yarn;
        async move {
            let started = Instant::now();
            let submission = yarn.submit(&spec).await.unwrap_or_else(|e| panic!("submitting {}: {e}", spec.name));
            (submission, started.elapsed())
        }
    };
    let ((ok, ok_took), (failing, _), (long, _), (pyjob, _)) = tokio::join!(
        timed(ok_spec),
        timed(failing_spec.clone()),
        timed(job("count-long", &["10", "ok", "600000"])),
        timed(py_spec)
    );
    eprintln!("4 concurrent spark-submits: {ok_took:?} for one, {:?} for all", submit_started.elapsed());
    let ids = [&ok.id, &failing.id, &long.id, &pyjob.id];
    assert!(ids.iter().all(|id| id.starts_with("application_")), "{ids:?}");
    assert_eq!(ids.iter().collect::<std::collections::BTreeSet<_>>().len(), 4, "{ids:?}");

    // The queue, the name and the tags reached YARN.
    let app = &cluster.rm_json(&format!("/ws/v1/cluster/apps/{}", ok.id)).await["app"];
    assert!(["etl", "root.etl"].contains(&app["queue"].as_str().unwrap()), "{app}");
    assert_eq!(app["name"], "count-ok");
    assert_eq!(app["applicationType"], "SPARK");
    let tags = app["applicationTags"].as_str().unwrap();
    assert!(tags.contains("team-a") && tags.contains("consort-"), "{tags}");
    // On a kerberized cluster the application runs as the principal's short name.
    if let Some(user) = cluster.expected_user() {
        assert_eq!(app["user"], user.as_str(), "{app}");
    }
    assert_eq!(yarn.find_by_tag("team-a").await.unwrap(), vec![ok.id.clone()]);
    let other = &cluster.rm_json(&format!("/ws/v1/cluster/apps/{}", failing.id)).await["app"];
    assert!(["default", "root.default"].contains(&other["queue"].as_str().unwrap()), "{other}");

    // Kill the long one once its driver runs.
    wait_for_state(&yarn, &long.id, AppState::Running, Duration::from_secs(300)).await;
    yarn.kill(&long.id).await.unwrap();
    let poll = Duration::from_millis(500);
    let killed = wait_until_final(&yarn, &long.id, poll, Duration::from_secs(120)).await.unwrap();
    assert_eq!(killed.state, AppState::Killed, "{killed:?}");

    let wait = Duration::from_secs(300);
    let done = wait_until_final(&yarn, &ok.id, poll, wait).await.unwrap();
    assert_eq!(done.state, AppState::Succeeded, "{done:?}\n{}", yarn.logs(&ok.id, 20_000).await.unwrap());
    assert_eq!(done.app_id.as_deref(), Some(ok.id.as_str()));
    eprintln!("count-ok: submit to SUCCEEDED in {:?}", submit_started.elapsed());
    // Spark's UI: the ResourceManager's tracking URL of the application (its history once ended).
    let ui = yarn.ui_url(&ok.id).await.unwrap().expect("YARN reports a tracking URL");
    assert!(ui.starts_with("http") && ui.contains(&ok.id), "{ui}");
    let logs = yarn.logs(&ok.id, 64 * 1024).await.unwrap();
    let output = driver_output(&cluster, &yarn, &ok.id).await;
    assert!(output.contains("COUNT=1000") && output.contains(&format!("APP_ID={}", ok.id)), "{output}");
    assert!(logs.len() <= 64 * 1024);
    let small_logs = yarn.logs(&ok.id, 300).await.unwrap();
    assert!(small_logs.len() <= 300, "{}", small_logs.len());

    let failed = wait_until_final(&yarn, &failing.id, poll, wait).await.unwrap();
    assert_eq!(failed.state, AppState::Failed, "{failed:?}");
    let message = failed.message.unwrap_or_default();
    assert!(message.contains("Exception: failing on purpose"), "the driver's exception is the reason: {message}");
    assert_eq!(yarn.find(key).await.unwrap().map(|s| s.id), Some(failing.id.clone()));
    assert_eq!(yarn.submit(&failing_spec).await.unwrap().id, failing.id, "the key's application is adopted");
    let tagged = cluster.rm_json(&format!("/ws/v1/cluster/apps?applicationTags={key}")).await;
    assert_eq!(tagged["apps"]["app"].as_array().map(Vec::len), Some(1), "exactly one application for the key");
    assert!(yarn.logs(&failing.id, 64 * 1024).await.unwrap().contains("failing on purpose"));

    let py_done = wait_until_final(&yarn, &pyjob.id, poll, wait).await.unwrap();
    assert_eq!(py_done.state, AppState::Failed, "{py_done:?}\n{}", yarn.logs(&pyjob.id, 20_000).await.unwrap());
    let output = driver_output(&cluster, &yarn, &pyjob.id).await;
    let python = installed_pyspark().unwrap().python.display().to_string();
    for line in [format!("DRIVER_PYTHON={python}"), format!("EXECUTOR_PYTHON={python}"), "COUNT=2000".into()] {
        assert!(
            output.contains(&line),
            "[spark] python reaches the driver and the executors: {line} missing:\n{output}"
        );
    }
    // Where the NodeManager serves logs (not the kerberized rig's), the traceback is the reason.
    let reason = py_done.message.unwrap_or_default();
    if cluster.output_on_disk(&pyjob.id).is_none() {
        assert!(reason.starts_with("RuntimeError: failing on purpose (mode=fail)"), "the Python exception: {reason}");
    }

    // Killing an application that has ended is not an error, and changes nothing.
    yarn.kill(&ok.id).await.unwrap();
    assert_eq!(yarn.status(&ok.id).await.unwrap().state, AppState::Succeeded);

    // Unknown ids, both well-formed (the ResourceManager's 404) and not.
    for id in ["application_1_0001", "driver-123", "../../cluster/info"] {
        match yarn.status(id).await {
            Err(SparkError::NotFound { id: got, .. }) => assert_eq!(got, id),
            other => panic!("status of {id} should be NotFound, got {other:?}"),
        }
        assert!(matches!(yarn.kill(id).await, Err(SparkError::NotFound { .. })));
        assert!(matches!(yarn.logs(id, 1000).await, Err(SparkError::NotFound { .. })));
    }

    // A submission spark-submit refuses (no such jar) says why and leaves no application behind.
    let mut missing = job("missing-jar", &["1"]);
    missing.resource = consort_spark::AppResource::Jar {
        uri: format!("{jar}.nope"),
        main_class: "consort.examples.CountRange".into(),
    };
    match yarn.submit(&missing).await {
        Err(SparkError::Rejected { message, .. }) => assert!(message.contains("does not exist"), "{message}"),
        other => panic!("a missing jar is Rejected, got {other:?}"),
    }

    // The cluster goes away: every call is a retryable Unavailable naming the ResourceManager.
    let address = format!("http://{}", cluster.rm_webapp());
    let rig_started_in = cluster.started_in();
    drop(cluster);
    let down = Instant::now();
    for err in [
        yarn.health().await.unwrap_err(),
        yarn.status(&ok.id).await.unwrap_err(),
        yarn.kill(&ok.id).await.unwrap_err(),
        yarn.submit(&job("late", &["1"])).await.unwrap_err(),
    ] {
        assert!(err.is_retryable(), "{err}");
        let text = err.to_string();
        assert!(text.contains(&format!("yarn backend at {address}")) && text.contains("retry"), "{text}");
    }
    assert!(down.elapsed() < Duration::from_secs(30), "a down ResourceManager is reported quickly");
    eprintln!("rig start {rig_started_in:?}; whole scenario {:?}", test_started.elapsed());
}
