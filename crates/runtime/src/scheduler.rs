//! The job kinds and the scheduler's driver.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use consort_config::Config;
use consort_governance::Governance;
use consort_scheduler::{Kinds, Scheduler, SchedulerConfig, SchedulerObserver};
use consort_spark::{Launcher, SparkKind, SubmitObserver};
use consort_store::Stores;

use crate::cleanroom::{CleanRoomKind, RunnerSettings};

/// How often a `spark` run polls its application when the backend cannot tell it of changes.
const SPARK_POLL: Duration = Duration::from_secs(1);

/// The job kinds this server runs: `noop`, `spark` on `backends`, `command` only when
/// `[jobs] command_kind` enables it (it runs a program as the server's user), and `cleanroom`
/// when `cleanrooms` gives the governance and the runner to launch. `on_submit` is told of
/// every Spark submission (metrics).
pub fn kinds(
    config: &Config,
    backends: Vec<Arc<dyn Launcher>>,
    cleanrooms: Option<(Governance, RunnerSettings)>,
    on_submit: Option<SubmitObserver>,
) -> Kinds {
    let mut kinds = Kinds::empty();
    kinds.register(Arc::new(consort_scheduler::NoopKind));
    if config.jobs.command_kind {
        kinds.register(Arc::new(consort_scheduler::CommandKind));
    }
    let mut spark = SparkKind::new(backends, config.spark.default_backend.clone(), SPARK_POLL);
    if let Some(observer) = on_submit {
        spark = spark.with_submit_observer(observer);
    }
    let spark = Arc::new(spark);
    kinds.register(spark.clone());
    if let Some((governance, settings)) = cleanrooms {
        kinds.register(Arc::new(CleanRoomKind::new(governance, spark, settings)));
    }
    kinds
}

/// Starts the scheduler's driver on `stores` with `kinds`, reporting to `observer` (metrics)
/// and, when `[alerts]` has rules, to the alerts ([`crate::alerts::Alerter`]); the instance id
/// is the configured one, else [`default_instance_id`].
pub async fn start_scheduler(
    config: &Config,
    stores: &Stores,
    kinds: Kinds,
    observer: Option<Arc<dyn SchedulerObserver>>,
) -> anyhow::Result<Arc<Scheduler>> {
    let settings = &config.scheduler;
    let instance_id = settings.instance_id.clone().unwrap_or_else(default_instance_id);
    let mut scheduler_config = SchedulerConfig::new(instance_id.clone());
    scheduler_config.misfire_threshold_ms = settings.misfire_threshold_ms;
    scheduler_config.checkin_interval_ms = settings.checkin_interval_ms;
    scheduler_config.failure_grace_ms = settings.failure_grace_ms;
    scheduler_config.max_running = settings.max_running;
    scheduler_config.batch_size = settings.batch_size();
    scheduler_config.run_retention_ms = settings.run_retention_ms();
    scheduler_config.runs_per_job = settings.runs_per_job();
    scheduler_config.spent_trigger_retention_ms = settings.completed_trigger_retention_ms();
    let scheduler = Arc::new(Scheduler::new(stores.scheduler.clone(), kinds, scheduler_config));
    let alerter = crate::alerts::Alerter::start(&config.alerts, &instance_id, stores.scheduler.clone())?;
    let observers: Vec<Arc<dyn SchedulerObserver>> =
        observer.into_iter().chain(alerter.map(|a| a as Arc<dyn SchedulerObserver>)).collect();
    match observers.len() {
        0 => {}
        1 => {
            scheduler.set_observer(observers[0].clone());
        }
        _ => {
            scheduler.set_observer(Arc::new(consort_scheduler::Observers(observers)));
        }
    }
    scheduler.start().await.context("starting the scheduler")?;
    tracing::info!(instance = %instance_id, "scheduler started");
    Ok(scheduler)
}

/// `HOSTNAME-PID`: unique among instances sharing a store.
pub fn default_instance_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "consort".into());
    format!("{host}-{}", std::process::id())
}
