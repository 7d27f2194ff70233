//! Exactly one Spark application per run, through a crash between submitting and recording the
//! handle, and through a submission whose answer is lost (fail points in the `spark` kind), on
//! the real local backend. Run with `--features failpoints`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use consort_scheduler::{Job, JobKey, Kinds, Run, RunFilter, RunState, Scheduler, SchedulerConfig};
use consort_spark::{Launcher, LocalConfig, LocalLauncher, SparkKind, installed_pyspark, tool_cache};
use serde_json::json;

/// Fail points are process-wide: one scenario at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("consort-spark-once-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn scheduler(dir: &Path) -> Scheduler {
    let spark = installed_pyspark().expect("pyspark venv missing: run scripts/setup (scripts/setup.d/40-spark.sh)");
    let local: Arc<dyn Launcher> = Arc::new(LocalLauncher::new(LocalConfig {
        spark_home: spark.spark_home,
        python: Some(spark.python),
        work_dir: dir.join("runs"),
        master: "local[1]".into(),
        hadoop_conf_dir: None,
        kerberos: None,
    }));
    let mut kinds = Kinds::builtin();
    kinds.register(Arc::new(SparkKind::new(vec![local], "local", Duration::from_millis(200))));
    let store = consort_store::open(&format!("sqlite://{}", dir.join("c.db").display())).await.unwrap();
    // The same instance id on both lives: the second recovers what the first left.
    Scheduler::new(store, kinds, SchedulerConfig::new("once-test"))
}

async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The run directories the local backend made (one per submitted application).
fn applications(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("runs"))
        .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.retain(|n| n.starts_with("consort-run-") && !n.contains('.'));
    names.sort();
    names
}

async fn only_run(scheduler: &Scheduler) -> Run {
    let mut runs = scheduler.list_runs(&RunFilter::default()).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs.pop().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_submit_and_recording_the_handle_is_adopted_not_resubmitted() {
    let _serial = SERIAL.lock().await;
    let dir = tempdir("crash-after-submit");
    let jar = tool_cache().unwrap().join("examples/consort-examples.jar");
    assert!(jar.exists(), "example jar missing: run scripts/setup (41-spark-examples.sh)");
    let data = json!({
        "jar": jar.display().to_string(), "className": "consort.examples.CountRange",
        "args": ["100", "ok", "5000"], "driverMemory": "512m"
    });
    let job = JobKey::in_default_group("job").unwrap();

    fail::cfg("spark::before-recording-handle", "return").unwrap();
    let first = scheduler(&dir).await;
    let data = data.as_object().unwrap().clone();
    first.create_job(&Job::new(job.clone(), "spark").with_durable(true).with_data(data), &[]).await.unwrap();
    first.start().await.unwrap();
    first.fire_now(&job, Default::default()).await.unwrap();
    // The application is submitted (its directory and process exist); the handle is not recorded.
    let submitted = wait_for("the application to be submitted", async || {
        let apps = applications(&dir);
        apps.iter().any(|a| dir.join("runs").join(a).join("pid").exists()).then_some(apps)
    })
    .await;
    assert_eq!(submitted.len(), 1, "{submitted:?}");
    let run = only_run(&first).await;
    assert_eq!((run.state, run.log_location.as_deref()), (RunState::Executing, None), "{run:?}");
    // The instance goes away before recording it.
    first.stop().await.unwrap();
    fail::remove("spark::before-recording-handle");
    assert_eq!(only_run(&first).await.state, RunState::Executing, "a run being submitted is detached, not failed");

    // Its next life finds the application by the run's key and follows it.
    let second = scheduler(&dir).await;
    second.start().await.unwrap();
    let ended = wait_for("the run to end", async || Some(only_run(&second).await).filter(|r| r.state.is_final())).await;
    second.stop().await.unwrap();
    assert_eq!(ended.state, RunState::Succeeded, "{ended:?}");
    assert_eq!(ended.log_location, Some(format!("local:{}", submitted[0])), "the first application was adopted");
    assert!(ended.application_id.as_deref().is_some_and(|id| id.starts_with("local-")), "{ended:?}");
    assert_eq!(applications(&dir), submitted, "exactly one application for the run");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_submit_answer_is_looked_up_and_adopted() {
    let _serial = SERIAL.lock().await;
    let dir = tempdir("lost-answer");
    let jar = tool_cache().unwrap().join("examples/consort-examples.jar");
    let data = json!({
        "jar": jar.display().to_string(), "className": "consort.examples.CountRange",
        "args": ["100", "ok"], "driverMemory": "512m", "retries": 3, "retryDelaySecs": 0
    });
    let job = JobKey::in_default_group("job").unwrap();
    let scheduler = scheduler(&dir).await;
    let data = data.as_object().unwrap().clone();
    scheduler.create_job(&Job::new(job.clone(), "spark").with_durable(true).with_data(data), &[]).await.unwrap();
    // The first submission reaches the backend and its answer is lost.
    fail::cfg("spark::lose-submit-answer", "1*return").unwrap();
    scheduler.start().await.unwrap();
    scheduler.fire_now(&job, Default::default()).await.unwrap();
    // The fire is asynchronous: no run may exist yet on the first looks.
    let ended = wait_for("the run to end", async || {
        let runs = scheduler.list_runs(&RunFilter::default()).await.unwrap();
        assert!(runs.len() <= 1, "exactly one run: {runs:?}");
        runs.into_iter().next().filter(|r| r.state.is_final())
    })
    .await;
    scheduler.stop().await.unwrap();
    fail::remove("spark::lose-submit-answer");
    assert_eq!(ended.state, RunState::Succeeded, "{ended:?}");
    let apps = applications(&dir);
    assert_eq!(apps.len(), 1, "exactly one application for the run: {apps:?}");
    assert_eq!(ended.log_location, Some(format!("local:{}", apps[0])));
    std::fs::remove_dir_all(&dir).unwrap();
}
