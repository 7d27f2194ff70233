//! The `local` backend against a real Spark (the pyspark package installed by
//! `scripts/setup.d/40-spark.sh`) running the example jobs of `examples/spark`.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::Duration;

use consort_spark::{
    AppSpec, AppState, Launcher, LocalConfig, LocalLauncher, installed_pyspark, tool_cache, wait_until_final,
};

#[path = "support/sleeper.rs"]
mod sleeper;
use sleeper::{driver_processes, wait_until_gone, write_sleeper};

fn examples() -> PathBuf {
    let dir = tool_cache().unwrap().join("examples");
    assert!(dir.join("consort-examples.jar").exists(), "example jar missing: run scripts/setup (41-spark-examples.sh)");
    dir
}

fn launcher(work: &std::path::Path) -> LocalLauncher {
    let spark = installed_pyspark().expect("pyspark venv missing: run scripts/setup (scripts/setup.d/40-spark.sh)");
    let (spark_home, python) = (spark.spark_home, spark.python);
    LocalLauncher::new(LocalConfig {
        spark_home,
        python: Some(python),
        work_dir: work.to_path_buf(),
        master: "local[1]".into(),
        hadoop_conf_dir: None,
        kerberos: None,
    })
}

const WAIT: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(250);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jar_job_success_failure_and_python_job() {
    let work = tempdir("local-lifecycle");
    let spark = launcher(&work);
    let jar = examples().join("consort-examples.jar");

    let mut ok = AppSpec::jar("count-ok", jar.display().to_string(), "consort.examples.CountRange");
    ok.args = vec!["1000".into(), "ok".into()];
    ok.driver_memory = Some("512m".into());
    ok.log_level = Some("WARN".into());
    let mut fail = ok.clone();
    fail.name = "count-fail".into();
    fail.args = vec!["10".into(), "fail".into()];
    let mut py = AppSpec::python("count-py", examples().join("count_range.py").display().to_string());
    py.args = vec!["42".into()];
    let mut py_fail = py.clone();
    py_fail.name = "count-py-fail".into();
    py_fail.args = vec!["10".into(), "fail".into()];

    // Run the four side by side: each driver is a JVM of its own.
    let a = spark.submit(&ok).await.unwrap();
    let b = spark.submit(&fail).await.unwrap();
    let c = spark.submit(&py).await.unwrap();
    let d = spark.submit(&py_fail).await.unwrap();

    let done = wait_until_final(&spark, &a.id, POLL, WAIT).await.unwrap();
    assert_eq!(done.state, AppState::Succeeded, "{done:?}\n{}", spark.logs(&a.id, 4000).await.unwrap());
    assert_eq!(done.exit_code, Some(0));
    let app_id = done.app_id.expect("the application id is learnt from the event log");
    assert!(app_id.starts_with("local-"), "{app_id}");
    let logs = spark.logs(&a.id, 1 << 20).await.unwrap();
    assert!(logs.contains("COUNT=1000") && logs.contains(&format!("APP_ID={app_id}")), "{logs}");

    let failed = wait_until_final(&spark, &b.id, POLL, WAIT).await.unwrap();
    assert_eq!(failed.state, AppState::Failed, "{failed:?}");
    assert_ne!(failed.exit_code, Some(0));
    let reason = failed.message.clone().unwrap_or_default();
    assert!(reason.contains("Exception: failing on purpose"), "the driver's exception is the reason: {reason}");
    assert!(spark.logs(&b.id, 1 << 20).await.unwrap().contains("failing on purpose"));

    let python = wait_until_final(&spark, &c.id, POLL, WAIT).await.unwrap();
    assert_eq!(python.state, AppState::Succeeded, "{python:?}\n{}", spark.logs(&c.id, 4000).await.unwrap());
    assert!(spark.logs(&c.id, 1 << 20).await.unwrap().contains("COUNT=42"));

    // A PySpark driver's traceback goes to the JVM's stdout, not its stderr: still the reason.
    let py_failed = wait_until_final(&spark, &d.id, POLL, WAIT).await.unwrap();
    assert_eq!(py_failed.state, AppState::Failed, "{py_failed:?}");
    let reason = py_failed.message.clone().unwrap_or_default();
    assert!(reason.starts_with("RuntimeError: failing on purpose (mode=fail)"), "the Python exception: {reason}");
    std::fs::remove_dir_all(&work).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_and_reattach_after_a_restart() {
    let work = tempdir("local-kill");
    // A PySpark driver that sleeps: the kill must end its JVM and its Python.
    let (script, pid_file) = write_sleeper(&work);
    let mut long = AppSpec::python("py-sleep", script.display().to_string());
    long.args = vec![pid_file.display().to_string()];
    let id = {
        let first = launcher(&work);
        first.submit(&long).await.unwrap().id
    };
    // A new launcher on the same work directory (a restarted server) sees the same run.
    let second = launcher(&work);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let status = second.status(&id).await.unwrap();
        assert!(!status.state.is_final(), "{status:?}");
        if status.state == AppState::Running {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never reached RUNNING");
        tokio::time::sleep(POLL).await;
    }
    let (python, jvm) = driver_processes(&pid_file, &script.display().to_string(), WAIT).await;
    second.kill(&id).await.unwrap();
    wait_until_gone(python, jvm, Duration::from_secs(30)).await;
    let killed = wait_until_final(&second, &id, POLL, Duration::from_secs(60)).await.unwrap();
    assert_eq!(killed.state, AppState::Killed, "{killed:?}");
    assert!(second.status("run-does-not-exist").await.is_err());
    assert!(second.status("../etc").await.is_err());
    std::fs::remove_dir_all(&work).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_names_one_run_and_a_reused_pid_is_not_the_run() {
    let work = tempdir("local-key");
    let spark = launcher(&work);
    let mut spec = AppSpec::jar(
        "keyed",
        examples().join("consort-examples.jar").display().to_string(),
        "consort.examples.CountRange",
    );
    spec.args = vec!["10".into(), "ok".into()];
    spec.key = Some(consort_spark::run_key(7, 1_764_000_000_000));
    assert_eq!(spark.find("consort-run-7-1").await.unwrap(), None, "never submitted");
    let first = spark.submit(&spec).await.unwrap();
    let again = spark.submit(&spec).await.unwrap();
    assert_eq!(first, again, "a second submission under the key adopts the first");
    assert_eq!(spark.find(spec.key.as_deref().unwrap()).await.unwrap(), Some(first.clone()));
    let runs = std::fs::read_dir(&work).unwrap().count();
    assert_eq!(runs, 1, "one run directory");
    let done = wait_until_final(&spark, &first.id, POLL, WAIT).await.unwrap();
    assert_eq!(done.state, AppState::Succeeded, "{done:?}");

    // A run directory whose pid now names another process (here a `sleep` of the test's, as
    // after a reboot): the run is not taken for running, and a kill does not signal it.
    let mut other = std::process::Command::new("sleep").arg("600").process_group(0).spawn().unwrap();
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let stale = work.join("consort-run-8-1");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("pid"), format!("{} 1 {}", other.id(), boot.trim())).unwrap();
    let status = spark.status("consort-run-8-1").await.unwrap();
    assert_eq!(status.state, AppState::Failed, "{status:?}");
    spark.kill("consort-run-8-1").await.unwrap();
    assert!(other.try_wait().unwrap().is_none(), "the unrelated process was left alone");
    other.kill().unwrap();
    other.wait().unwrap();
    std::fs::remove_dir_all(&work).unwrap();
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("consort-spark-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
