//! Firing one `spark` job through a real scheduler (SQLite store) and waiting for its run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use consort_scheduler::{Job, JobKey, Kinds, Run, RunFilter, Scheduler, SchedulerConfig};
use consort_spark::{Launcher, SparkKind};
use serde_json::Value;

/// Fires one `spark` job with `data` through a scheduler on SQLite whose only backend is
/// `launcher`, and returns its ended run.
pub async fn fire_once(launcher: Arc<dyn Launcher>, data: Value) -> Run {
    let dir = std::env::temp_dir().join(format!("consort-spark-fire-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut kinds = Kinds::builtin();
    let backend = launcher.kind().as_str();
    kinds.register(Arc::new(SparkKind::new(vec![launcher], backend, Duration::from_millis(500))));
    let store = consort_store::open(&format!("sqlite://{}", dir.join("c.db").display())).await.unwrap();
    let scheduler = Scheduler::new(store, kinds, SchedulerConfig::new("fire-test"));
    let job = JobKey::in_default_group("job").unwrap();
    let data = data.as_object().unwrap().clone();
    scheduler.create_job(&Job::new(job.clone(), "spark").with_durable(true).with_data(data), &[]).await.unwrap();
    scheduler.start().await.unwrap();
    scheduler.fire_now(&job, Default::default()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(400);
    let run = loop {
        if let Some(run) =
            scheduler.list_runs(&RunFilter::default()).await.unwrap().pop().filter(|r| r.state.is_final())
        {
            break run;
        }
        assert!(Instant::now() < deadline, "the run never ended");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    scheduler.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    run
}
