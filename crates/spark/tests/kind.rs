//! The scheduler's `spark` kind end to end on the local backend: a fire's time limits
//! (`submitTimeoutSecs`, `timeoutSecs`) kill the application and fail the run with the
//! fix in its error, and an unavailable backend is retried, then reported.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use consort_scheduler::{Job, JobKey, Kinds, Run, RunFilter, RunState, Scheduler, SchedulerConfig};
use consort_spark::{Launcher, LocalConfig, LocalLauncher, SparkKind, installed_pyspark, tool_cache};
use serde_json::{Value, json};

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("consort-spark-kind-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Fires one `spark` job with `data` through a scheduler on SQLite, with the local backend on
/// `spark_home`, and returns its ended run.
async fn fire_once(dir: &Path, spark_home: PathBuf, data: Value) -> Run {
    let local: Arc<dyn Launcher> = Arc::new(LocalLauncher::new(LocalConfig {
        spark_home,
        python: None,
        work_dir: dir.join("runs"),
        master: "local[1]".into(),
        hadoop_conf_dir: None,
        kerberos: None,
    }));
    let mut kinds = Kinds::builtin();
    kinds.register(Arc::new(SparkKind::new(vec![local], "local", Duration::from_millis(200))));
    let store = consort_store::open(&format!("sqlite://{}", dir.join("c.db").display())).await.unwrap();
    let scheduler = Scheduler::new(store, kinds, SchedulerConfig::new("kind-test"));
    let job = JobKey::in_default_group("job").unwrap();
    let data = data.as_object().unwrap().clone();
    scheduler.create_job(&Job::new(job.clone(), "spark").with_durable(true).with_data(data), &[]).await.unwrap();
    scheduler.start().await.unwrap();
    scheduler.fire_now(&job, Default::default()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    let run = loop {
        if let Some(run) =
            scheduler.list_runs(&RunFilter::default()).await.unwrap().pop().filter(|r| r.state.is_final())
        {
            break run;
        }
        assert!(Instant::now() < deadline, "the run never ended");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    scheduler.stop().await.unwrap();
    run
}

/// A `spark-submit` that never gets as far as an application: the run stays SUBMITTED.
fn stuck_spark_home(dir: &Path) -> PathBuf {
    let home = dir.join("stuck-spark");
    std::fs::create_dir_all(home.join("bin")).unwrap();
    std::fs::write(home.join("bin/spark-submit"), "#!/bin/sh\nexec sleep 600\n").unwrap();
    std::process::Command::new("chmod").arg("+x").arg(home.join("bin/spark-submit")).status().unwrap();
    home
}

fn run_dir(dir: &Path, run: &Run) -> PathBuf {
    dir.join("runs").join(run.log_location.as_deref().unwrap().trim_start_matches("local:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_that_never_starts_is_killed_at_its_submit_timeout() {
    let dir = tempdir("submit-timeout");
    let data = json!({"jar": "app.jar", "className": "x.Main", "submitTimeoutSecs": 2});
    let run = fire_once(&dir, stuck_spark_home(&dir), data).await;
    assert_eq!(run.state, RunState::Failed);
    let error = run.error.clone().unwrap();
    assert!(error.contains("still SUBMITTED") && error.contains("raise submitTimeoutSecs"), "{error}");
    assert!(run_dir(&dir, &run).join("killed").exists(), "the stuck submission was killed");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_running_past_its_timeout_is_killed() {
    let dir = tempdir("timeout");
    let spark_home = installed_pyspark().expect("pyspark venv missing: run scripts/setup").spark_home;
    let jar = tool_cache().unwrap().join("examples/consort-examples.jar").display().to_string();
    let data = json!({
        "jar": jar, "className": "consort.examples.CountRange", "args": ["10", "ok", "600000"],
        "driverMemory": "512m", "timeoutSecs": 45
    });
    let run = fire_once(&dir, spark_home, data).await;
    assert_eq!(run.state, RunState::Failed);
    let error = run.error.clone().unwrap();
    assert!(error.contains("longer than timeoutSecs (45s)"), "{error}");
    assert!(run.application_id.as_deref().is_some_and(|id| id.starts_with("local-")), "{run:?}");
    assert!(run_dir(&dir, &run).join("killed").exists(), "the application was killed");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_backend_is_retried_then_reported() {
    let dir = tempdir("retries");
    let data = json!({"jar": "app.jar", "className": "x.Main", "retries": 2, "retryDelaySecs": 0});
    let run = fire_once(&dir, dir.join("no-spark-here"), data).await;
    assert_eq!(run.state, RunState::Failed);
    let error = run.error.clone().unwrap();
    assert!(error.contains("local backend at") && error.contains("no-spark-here"), "{error}");
    assert!(error.contains("gave up after 3 submission attempts"), "{error}");
    assert_eq!(run.log_location, None, "nothing was submitted");
    std::fs::remove_dir_all(&dir).unwrap();
}
