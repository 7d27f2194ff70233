//! The [`Scheduler`] handle: the job/trigger/run API, and the driver loop that checks in,
//! recovers failed instances, fires due triggers in batches and executes their runs.
//!
//! The loop is the only place that reads the clock (through [`SchedulerConfig::clock`]).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, Notify, Semaphore, mpsc, watch};
use tokio::task::{AbortHandle, JoinHandle};

use crate::error::{SchedulerError, StoreError};
use crate::kind::{Kinds, RunActionError, RunContext, RunReporter};
use crate::model::{
    DataMap, Job, JobKey, JobStatus, MANUAL_GROUP, Outcome, Run, RunState, Schedule, Trigger, TriggerKey, TriggerStatus,
};
use crate::observe::{NoObserver, SchedulerObserver};
use crate::store::{
    Adoption, Completion, CycleRequest, Firing, Instance, JobFilter, MoveCursor, Recovery, RunFilter, Selector, Store,
    TriggerFilter,
};

/// Retention deletes at most this many rows per transaction, so a write lock (SQLite's one
/// writer) is held for a few milliseconds and cycles keep firing in between.
const RETENTION_BATCH: usize = 1000;
/// Transactions of each kind of retention per check-in: a backlog shrinks over the next ones.
const RETENTION_STEPS: usize = 4;
/// Jobs whose run count one count-retention transaction looks at.
const RETENTION_JOBS: usize = 32;
/// Ended runs one transaction moves to the history: a few milliseconds of SQLite's writer.
const MOVE_BATCH: usize = 500;
/// Move transactions per check-in at most (32,000 runs, 4,000 a second at the default
/// interval); a longer backlog goes on at the next check-ins, where this one stopped.
const MOVE_STEPS: usize = 64;

/// The time source: epoch milliseconds.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default()
    })
}

/// A mark unique to this scheduler in this process: the pid, the start time and a sequence.
fn boot_id() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{}-{nanos:x}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed))
}

/// How the driver behaves. Defaults follow Quartz's JDBC store where it has one.
#[derive(Clone)]
pub struct SchedulerConfig {
    /// This instance's id, unique in the cluster (e.g. host name + pid).
    pub instance_id: String,
    /// Most triggers fired per cycle (one transaction).
    pub batch_size: usize,
    /// Most runs executing at once on this instance.
    pub max_running: usize,
    /// Triggers due within this many ms are acquired ahead (state ACQUIRED) and fired on time.
    pub acquire_ahead_ms: i64,
    /// Longest sleep between cycles when nothing is due (triggers added by other instances
    /// are seen within this time).
    pub idle_wait_ms: i64,
    /// A trigger later than this has misfired (Quartz's JDBC default: 60 000).
    pub misfire_threshold_ms: i64,
    /// Misfired triggers handled per cycle.
    pub max_misfires_per_cycle: usize,
    /// How often cycles look for misfired triggers (they are at least the misfire threshold
    /// late already).
    pub misfire_scan_interval_ms: i64,
    /// Longest delay before a finished run's outcome is written (runs of non-concurrent jobs
    /// are written at once, to unblock their triggers); outcomes ride along with the next
    /// cycle, which keeps commits per fire low.
    pub completion_flush_ms: i64,
    /// Check-in interval (Quartz's default: 7 500).
    pub checkin_interval_ms: i64,
    /// Extra time past its interval before an instance counts as failed (Quartz: 7 500).
    pub failure_grace_ms: i64,
    /// How long `stop` waits for executing runs.
    pub stop_timeout_ms: i64,
    /// Run history older than this (by fire time) is deleted at check-ins, except each job's
    /// latest run; `None` keeps it.
    pub run_retention_ms: Option<i64>,
    /// Each job keeps at most this many of its most recent ended runs; older ones are deleted
    /// at check-ins. `None` keeps them all.
    pub runs_per_job: Option<usize>,
    /// COMPLETE simple triggers (one-shot, fire-now, recovery, finished repeats) are deleted at
    /// check-ins once this long has passed since their last fire and their runs' ends, so the
    /// API still shows a trigger that just completed. `None` keeps them.
    pub spent_trigger_retention_ms: Option<i64>,
    /// The clock.
    pub clock: Clock,
}

impl fmt::Debug for SchedulerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchedulerConfig")
            .field("instance_id", &self.instance_id)
            .field("batch_size", &self.batch_size)
            .field("max_running", &self.max_running)
            .field("acquire_ahead_ms", &self.acquire_ahead_ms)
            .field("idle_wait_ms", &self.idle_wait_ms)
            .field("misfire_threshold_ms", &self.misfire_threshold_ms)
            .field("misfire_scan_interval_ms", &self.misfire_scan_interval_ms)
            .field("completion_flush_ms", &self.completion_flush_ms)
            .field("checkin_interval_ms", &self.checkin_interval_ms)
            .field("failure_grace_ms", &self.failure_grace_ms)
            .field("run_retention_ms", &self.run_retention_ms)
            .field("runs_per_job", &self.runs_per_job)
            .field("spent_trigger_retention_ms", &self.spent_trigger_retention_ms)
            .finish_non_exhaustive()
    }
}

impl SchedulerConfig {
    /// Checks the settings; the message names the setting and the fix. [`Scheduler::start`]
    /// refuses an invalid configuration; call this first to show the user why.
    pub fn validate(&self) -> Result<(), String> {
        let id = &self.instance_id;
        if id.is_empty() || id.len() > 120 || id.chars().any(char::is_control) {
            return Err(format!("instance id {id:?}: use 1 to 120 characters without control characters"));
        }
        let positive = [
            ("batch_size", self.batch_size as i64),
            ("max_running", self.max_running as i64),
            ("idle_wait_ms", self.idle_wait_ms),
            ("checkin_interval_ms", self.checkin_interval_ms),
            ("misfire_scan_interval_ms", self.misfire_scan_interval_ms),
            // None keeps every run; Some(0) would delete even each job's latest.
            ("runs_per_job", self.runs_per_job.map_or(1, |n| n as i64)),
        ];
        for (name, value) in positive {
            if value <= 0 {
                return Err(format!("{name} is {value}: it must be at least 1"));
            }
        }
        let non_negative = [
            ("acquire_ahead_ms", self.acquire_ahead_ms),
            ("misfire_threshold_ms", self.misfire_threshold_ms),
            ("failure_grace_ms", self.failure_grace_ms),
            ("stop_timeout_ms", self.stop_timeout_ms),
            ("completion_flush_ms", self.completion_flush_ms),
            ("run_retention_ms", self.run_retention_ms.unwrap_or(0)),
            ("spent_trigger_retention_ms", self.spent_trigger_retention_ms.unwrap_or(0)),
        ];
        for (name, value) in non_negative {
            if value < 0 {
                return Err(format!("{name} is {value}: it must not be negative"));
            }
        }
        Ok(())
    }

    /// Defaults for an instance with this id.
    pub fn new(instance_id: impl Into<String>) -> Self {
        SchedulerConfig {
            instance_id: instance_id.into(),
            batch_size: 1000,
            max_running: 256,
            acquire_ahead_ms: 50,
            idle_wait_ms: 1000,
            misfire_threshold_ms: 60_000,
            max_misfires_per_cycle: 200,
            misfire_scan_interval_ms: 1000,
            completion_flush_ms: 100,
            checkin_interval_ms: 7_500,
            failure_grace_ms: 7_500,
            stop_timeout_ms: 30_000,
            run_retention_ms: None,
            runs_per_job: None,
            spent_trigger_retention_ms: None,
            clock: system_clock(),
        }
    }
}

/// Counters since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedulerStats {
    /// Runs fired by this instance.
    pub fired: u64,
    /// Cycles run.
    pub cycles: u64,
    /// Cycles that failed (database unreachable...), retried.
    pub failed_cycles: u64,
    /// Failed instances recovered by this one.
    pub recoveries: u64,
    /// Runs started elsewhere (a previous life of this instance, a failed one) that this
    /// instance re-attached to.
    pub resumed: u64,
    /// Runs left executing on their own when the driver stopped, for a restart to resume.
    pub detached: u64,
}

struct Inner {
    store: Arc<dyn Store>,
    kinds: Kinds,
    config: SchedulerConfig,
    wake: Notify,
    fired: AtomicU64,
    cycles: AtomicU64,
    failed_cycles: AtomicU64,
    recoveries: AtomicU64,
    resumed: AtomicU64,
    detached: AtomicU64,
    manual_seq: AtomicU64,
    /// The kind task of each executing run, so that stop can detach resumable ones.
    tasks: std::sync::Mutex<HashMap<i64, AbortHandle>>,
    /// This process's mark in its check-in row, telling it apart from another process that
    /// checks in with the same instance id.
    boot_id: String,
    /// Where fires, cycles and runs' ends are reported (metrics); none until one is set.
    observer: std::sync::OnceLock<Arc<dyn SchedulerObserver>>,
}

impl Inner {
    fn observer(&self) -> &dyn SchedulerObserver {
        match self.observer.get() {
            Some(observer) => observer.as_ref(),
            None => &NoObserver,
        }
    }
}

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// The scheduler: API over a [`Store`] plus the driver. Cheap to clone.
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
    driver: Arc<Mutex<Option<Running>>>,
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("backend", &self.inner.store.backend())
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A scheduler over `store` executing `kinds`; the driver is not started.
    pub fn new(store: Arc<dyn Store>, kinds: Kinds, config: SchedulerConfig) -> Self {
        Scheduler {
            inner: Arc::new(Inner {
                store,
                kinds,
                config,
                wake: Notify::new(),
                fired: AtomicU64::new(0),
                cycles: AtomicU64::new(0),
                failed_cycles: AtomicU64::new(0),
                recoveries: AtomicU64::new(0),
                resumed: AtomicU64::new(0),
                detached: AtomicU64::new(0),
                manual_seq: AtomicU64::new(0),
                tasks: std::sync::Mutex::default(),
                boot_id: boot_id(),
                observer: std::sync::OnceLock::new(),
            }),
            driver: Arc::new(Mutex::new(None)),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The configuration.
    pub fn config(&self) -> &SchedulerConfig {
        &self.inner.config
    }

    /// Reports the driver's events (fires, misfires, cycles, runs' ends) to `observer` from
    /// now on. Set once, before [`Scheduler::start`]; `false` (and nothing changes) if one was
    /// already set.
    pub fn set_observer(&self, observer: Arc<dyn SchedulerObserver>) -> bool {
        self.inner.observer.set(observer).is_ok()
    }

    /// Counters.
    pub fn stats(&self) -> SchedulerStats {
        SchedulerStats {
            fired: self.inner.fired.load(Ordering::Relaxed),
            cycles: self.inner.cycles.load(Ordering::Relaxed),
            failed_cycles: self.inner.failed_cycles.load(Ordering::Relaxed),
            recoveries: self.inner.recoveries.load(Ordering::Relaxed),
            resumed: self.inner.resumed.load(Ordering::Relaxed),
            detached: self.inner.detached.load(Ordering::Relaxed),
        }
    }

    fn now(&self) -> i64 {
        (self.inner.config.clock)()
    }

    fn check_job(&self, job: &Job) -> Result<(), SchedulerError> {
        let kind = self.inner.kinds.get(job.kind()).ok_or_else(|| SchedulerError::UnknownKind {
            kind: job.kind().to_string(),
            known: self.inner.kinds.names(),
        })?;
        kind.validate(job.data()).map_err(|message| SchedulerError::InvalidData {
            job: job.key().clone(),
            kind: job.kind().to_string(),
            message,
        })
    }

    /// Creates a job with its triggers; refuses an existing job or trigger.
    pub async fn create_job(&self, job: &Job, triggers: &[Trigger]) -> Result<(), SchedulerError> {
        self.put_job(job, triggers, false).await
    }

    /// Creates or replaces a job and its given triggers.
    pub async fn replace_job(&self, job: &Job, triggers: &[Trigger]) -> Result<(), SchedulerError> {
        self.put_job(job, triggers, true).await
    }

    async fn put_job(&self, job: &Job, triggers: &[Trigger], replace: bool) -> Result<(), SchedulerError> {
        self.check_job(job)?;
        for t in triggers {
            t.validate()?;
        }
        self.inner.store.put_job(job, triggers, replace, self.now()).await?;
        self.inner.wake.notify_one();
        Ok(())
    }

    /// A job with its last run state.
    pub async fn get_job(&self, key: &JobKey) -> Result<Option<JobStatus>, SchedulerError> {
        Ok(self.inner.store.get_job(key).await?)
    }

    /// A job with its first `triggers` triggers and newest `runs` runs, read in one snapshot.
    pub async fn job_snapshot(
        &self,
        key: &JobKey,
        triggers: usize,
        runs: usize,
    ) -> Result<Option<crate::JobSnapshot>, SchedulerError> {
        Ok(self.inner.store.job_snapshot(key, triggers, runs).await?)
    }

    /// Jobs matching `filter`, ordered by key.
    pub async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<JobStatus>, SchedulerError> {
        Ok(self.inner.store.list_jobs(filter).await?)
    }

    /// Deletes a job and its triggers; false if absent.
    pub async fn delete_job(&self, key: &JobKey) -> Result<bool, SchedulerError> {
        Ok(self.inner.store.delete_job(key).await?)
    }

    /// Creates a trigger for an existing job.
    pub async fn create_trigger(&self, trigger: &Trigger) -> Result<TriggerStatus, SchedulerError> {
        self.put_trigger(trigger, false).await
    }

    /// Creates or replaces a trigger (its schedule restarts).
    pub async fn replace_trigger(&self, trigger: &Trigger) -> Result<TriggerStatus, SchedulerError> {
        self.put_trigger(trigger, true).await
    }

    async fn put_trigger(&self, trigger: &Trigger, replace: bool) -> Result<TriggerStatus, SchedulerError> {
        trigger.validate()?;
        let status = self.inner.store.put_trigger(trigger, replace, self.now()).await?;
        self.inner.wake.notify_one();
        Ok(status)
    }

    /// A trigger with its state and next/previous fire times.
    pub async fn get_trigger(&self, key: &TriggerKey) -> Result<Option<TriggerStatus>, SchedulerError> {
        Ok(self.inner.store.get_trigger(key).await?)
    }

    /// Checked-in instances ordered by id, a page at a time: those after `after`, at most
    /// `limit`.
    pub async fn list_instances(&self, after: Option<&str>, limit: usize) -> Result<Vec<Instance>, SchedulerError> {
        Ok(self.inner.store.instances(after, Some(limit)).await?)
    }

    /// Triggers matching `filter`, ordered by key.
    pub async fn list_triggers(&self, filter: &TriggerFilter) -> Result<Vec<TriggerStatus>, SchedulerError> {
        Ok(self.inner.store.list_triggers(filter).await?)
    }

    /// Deletes a trigger (and its job, if not durable and now trigger-less).
    pub async fn delete_trigger(&self, key: &TriggerKey) -> Result<bool, SchedulerError> {
        Ok(self.inner.store.delete_trigger(key).await?)
    }

    /// Pauses a trigger, a trigger group, a job's triggers or a job group's triggers.
    pub async fn pause(&self, selector: &Selector) -> Result<usize, SchedulerError> {
        Ok(self.inner.store.pause(selector).await?)
    }

    /// Resumes what [`Scheduler::pause`] paused.
    pub async fn resume(&self, selector: &Selector) -> Result<usize, SchedulerError> {
        let n = self.inner.store.resume(selector).await?;
        self.inner.wake.notify_one();
        Ok(n)
    }

    /// Fires a job now through a one-shot trigger in group `MANUAL_TRIGGER` carrying `data`;
    /// returns that trigger's key (its run shows up under it).
    pub async fn fire_now(&self, job: &JobKey, data: DataMap) -> Result<TriggerKey, SchedulerError> {
        let now = self.now();
        let seq = self.inner.manual_seq.fetch_add(1, Ordering::Relaxed);
        // The unique part first: a long job name is cut, never the instance, time or sequence.
        let name = format!("MT_{}_{}_{}_{}", self.inner.config.instance_id, now, seq, job.name());
        let name: String = name.chars().take(crate::model::MAX_KEY_LEN).collect();
        let key = TriggerKey::new(MANUAL_GROUP, name)?;
        let trigger = Trigger::new(key.clone(), job.clone(), Schedule::once(), now).with_data(data);
        self.inner.store.put_trigger(&trigger, false, now).await?;
        self.inner.wake.notify_one();
        Ok(key)
    }

    /// Run history, newest first.
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>, SchedulerError> {
        Ok(self.inner.store.list_runs(filter).await?)
    }

    /// Runs fired in `[from_ms, to_ms)` per bucket of `width_ms` and state (see
    /// [`Store::run_history`]).
    pub async fn run_history(
        &self,
        from_ms: i64,
        to_ms: i64,
        width_ms: i64,
    ) -> Result<Vec<crate::store::RunHistoryBucket>, SchedulerError> {
        Ok(self.inner.store.run_history(from_ms, to_ms, width_ms).await?)
    }

    /// One run.
    pub async fn get_run(&self, id: i64) -> Result<Option<Run>, SchedulerError> {
        Ok(self.inner.store.get_run(id).await?)
    }

    /// Deletes the ended runs fired before `fired_before_ms`, except each job's latest run and
    /// runs a job still marks as executing; returns how many. Sweeps the history in bounded
    /// transactions (the age retention's steps), so firing is never held up for long. The runs
    /// ended since the last check-in are moved to the history first, so they are purged too.
    pub async fn purge_runs(&self, fired_before_ms: i64) -> Result<usize, SchedulerError> {
        let mut after = None;
        loop {
            after = self.inner.store.move_ended_runs(after.as_ref(), MOVE_BATCH).await?.next_after;
            if after.is_none() {
                break;
            }
        }
        let (mut total, mut after_id) = (0, 0);
        loop {
            let step = self.inner.store.expire_runs(fired_before_ms, after_id, RETENTION_BATCH).await?;
            total += step.deleted;
            match step.next_after_id {
                Some(id) => after_id = id,
                None => return Ok(total),
            }
        }
    }

    /// The end of a run's log, from where its work ran (its kind knows where).
    pub async fn run_log(&self, id: i64, max_bytes: usize) -> Result<String, SchedulerError> {
        let (run, kind) = self.run_and_kind(id, "read its log").await?;
        kind.log_tail(&run, max_bytes).await.map_err(|error| SchedulerError::RunAction {
            run: id,
            action: "read its log",
            error,
        })
    }

    /// Where `run`'s work shows itself on the web (Spark's UI), when its kind knows. Asking may
    /// reach the backend; a failure is an answer of `None` (the page is optional, never an error).
    pub async fn run_ui_url(&self, run: &Run) -> Option<String> {
        let job = self.inner.store.get_job(&run.job).await.ok().flatten()?;
        let kind = self.inner.kinds.get(job.job.kind()).cloned()?;
        match kind.ui_url(run).await {
            Ok(url) => url,
            Err(error) => {
                tracing::debug!(run = run.id, %error, "no web UI address for the run");
                None
            }
        }
    }

    /// Stops an executing run's work where it runs; the run then ends FAILED (killed) once the
    /// instance following it sees the work end.
    pub async fn kill_run(&self, id: i64) -> Result<(), SchedulerError> {
        let (run, kind) = self.run_and_kind(id, "kill it").await?;
        if run.state.is_final() {
            let error = RunActionError::Failed(format!("it already ended {}", run.state.as_str()));
            return Err(SchedulerError::RunAction { run: id, action: "kill it", error });
        }
        kind.kill(&run).await.map_err(|error| SchedulerError::RunAction { run: id, action: "kill it", error })
    }

    async fn run_and_kind(
        &self,
        id: i64,
        action: &'static str,
    ) -> Result<(Run, Arc<dyn crate::kind::JobKind>), SchedulerError> {
        let run = self.inner.store.get_run(id).await?.ok_or(SchedulerError::RunNotFound(id))?;
        let gone =
            |message: String| SchedulerError::RunAction { run: id, action, error: RunActionError::Failed(message) };
        let job = self
            .inner
            .store
            .get_job(&run.job)
            .await?
            .ok_or_else(|| gone(format!("its job {} was deleted, so its kind is unknown", run.job)))?;
        let kind = self.inner.kinds.get(job.job.kind()).cloned().ok_or_else(|| {
            gone(format!("job kind {:?} is not known to instance {}", job.job.kind(), self.inner.config.instance_id))
        })?;
        Ok((run, kind))
    }

    /// Instances that checked in (the cluster).
    pub async fn instances(&self) -> Result<Vec<Instance>, SchedulerError> {
        Ok(self.inner.store.instances(None, None).await?)
    }

    /// Whether the driver runs.
    pub async fn is_running(&self) -> bool {
        self.driver.lock().await.is_some()
    }

    /// Starts the driver loop on the current Tokio runtime.
    pub async fn start(&self) -> Result<(), SchedulerError> {
        if let Err(problem) = self.inner.config.validate() {
            tracing::error!(%problem, "invalid scheduler setting");
            return Err(SchedulerError::Driver(
                "not started: a setting is out of range (SchedulerConfig::validate names it)",
            ));
        }
        let mut driver = self.driver.lock().await;
        if driver.is_some() {
            return Err(SchedulerError::Driver("already running"));
        }
        let inner = &self.inner;
        let cfg = &inner.config;
        wait_for_previous_life(inner).await?;
        let (done, done_rx) = mpsc::unbounded_channel::<Completion>();
        let runs = Runs { known: Arc::default(), done, slots: Arc::new(Semaphore::new(cfg.max_running)) };
        // A previous process with this instance id may have died or stopped: recover what it
        // left (its ACQUIRED triggers, EXECUTING runs, blocked jobs) before firing anything, as
        // Quartz does on an instance's first check-in, resuming the runs that can be
        // re-attached to.
        match recover_instance(inner, &runs, &cfg.instance_id, i64::MIN / 4).await {
            Ok(r) => log_recovery(&r, "recovered what a previous process with this instance id left"),
            Err(e) => tracing::warn!(error = %e, "recovering this instance's previous life failed"),
        }
        // Checked in before the first cycle acquires anything (triggers or runs of an instance
        // without a check-in row look failed to the others), and refused if another process
        // took this id meanwhile.
        let now = (cfg.clock)();
        match inner
            .store
            .check_in(&cfg.instance_id, &inner.boot_id, now, cfg.checkin_interval_ms, cfg.failure_grace_ms)
            .await
        {
            Ok(_) => {}
            Err(StoreError::InstanceIdInUse { instance }) => {
                return Err(SchedulerError::InstanceIdInUse { instance, last_checkin_ms: now });
            }
            Err(e) => tracing::warn!(error = %e, "check-in failed; retrying at the next one"),
        }
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(drive(inner.clone(), stop_rx, runs, done_rx));
        *driver = Some(Running { stop, task });
        Ok(())
    }

    /// Stops the driver: fires nothing more, detaches from runs their kind can resume later
    /// ([`crate::JobKind::can_resume`]: they stay EXECUTING, and a restart or another instance
    /// re-attaches to them), waits up to `stop_timeout_ms` for the other executing runs,
    /// records their outcomes, releases acquired triggers and leaves the cluster.
    pub async fn stop(&self) -> Result<(), SchedulerError> {
        let running = self.driver.lock().await.take().ok_or(SchedulerError::Driver("not running"))?;
        let _ = running.stop.send(true);
        self.inner.wake.notify_one();
        let _ = running.task.await;
        Ok(())
    }
}

/// Whether a run is new (fired now) or was started by another process and is resumed.
enum Start {
    Fire,
    Resume(Box<Run>),
}

async fn execute(inner: Arc<Inner>, firing: Firing, start: Start, done: mpsc::UnboundedSender<Completion>) {
    let Firing { run_id, job, trigger, data, scheduled_ms, fired_ms } = firing;
    let job_key = job.key().clone();
    let non_concurrent = job.non_concurrent();
    let kind_name = job.kind().to_string();
    let trigger_key = trigger.clone();
    let resumed = matches!(start, Start::Resume(_));
    inner.observer().run_started(&crate::observe::RunStart {
        run_id,
        job: &job_key,
        trigger: &trigger_key,
        kind: &kind_name,
        fired_ms,
        resumed,
    });
    let (outcome, error_trigger) = match inner.kinds.get(job.kind()).cloned() {
        Some(kind) => {
            let reporter = RunReporter::new(run_id, inner.store.clone());
            let span = tracing::info_span!(
                "run",
                run_id,
                job = %job_key,
                trigger = %trigger,
                kind = %kind_name,
                resumed,
                state = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
            );
            let context = RunContext { run_id, job, trigger, data, scheduled_ms, fired_ms, reporter };
            let task = tokio::spawn(tracing::Instrument::instrument(
                async move {
                    if let Some(failure) = crate::failpoint::injected("scheduler::before_execute") {
                        return Outcome::failed(failure);
                    }
                    let outcome = match start {
                        Start::Fire => {
                            tracing::debug!(late_ms = fired_ms - scheduled_ms, "RunStarted");
                            kind.execute(context).await
                        }
                        Start::Resume(run) => {
                            tracing::info!("RunResumed");
                            kind.resume(context, *run).await
                        }
                    };
                    match crate::failpoint::injected("scheduler::after_execute") {
                        Some(failure) => Outcome::failed(failure),
                        None => outcome,
                    }
                },
                span.clone(),
            ));
            if let Ok(mut tasks) = inner.tasks.lock() {
                tasks.insert(run_id, task.abort_handle());
            }
            let joined = task.await;
            if let Ok(mut tasks) = inner.tasks.lock() {
                tasks.remove(&run_id);
            }
            match joined {
                Ok(outcome) => {
                    span.record("state", outcome.state.as_str());
                    if outcome.state != RunState::Succeeded {
                        span.record("otel.status_code", "error");
                    }
                    (outcome, None)
                }
                // Only `detach` aborts kind tasks: the run goes on without us, still EXECUTING.
                Err(e) if e.is_cancelled() => return,
                Err(e) => (Outcome::failed(format!("job kind crashed: {e}")), None),
            }
        }
        None => (
            Outcome::failed(format!(
                "job kind {:?} is not known to instance {}: register it, or use one of {}",
                job.kind(),
                inner.config.instance_id,
                inner.kinds.names()
            )),
            Some(trigger),
        ),
    };
    let ended_ms = (inner.config.clock)();
    inner.observer().run_ended(&kind_name, outcome.state);
    inner.observer().run_finished(&crate::observe::RunEnd {
        run_id,
        job: &job_key,
        trigger: &trigger_key,
        kind: &kind_name,
        fired_ms,
        ended_ms,
        state: outcome.state,
        error: outcome.error.as_deref(),
    });
    tracing::debug!(run_id, job = %job_key, state = outcome.state.as_str(), error = ?outcome.error, "RunEnded");
    let _ = done.send(Completion { run_id, job: job_key, non_concurrent, ended_ms, outcome, error_trigger });
}

/// Runs this instance fired whose outcome the store has not recorded yet.
type Known = Arc<std::sync::Mutex<HashSet<i64>>>;

/// What the driver loop shares with the runs it starts.
#[derive(Clone)]
struct Runs {
    known: Known,
    done: mpsc::UnboundedSender<Completion>,
    slots: Arc<Semaphore>,
}

impl Runs {
    fn is_known(&self, id: i64) -> bool {
        self.known.lock().map(|k| k.contains(&id)).unwrap_or(true)
    }

    /// Starts (or resumes) a run as soon as a slot is free. It never waits itself: the
    /// driver loop and the check-in task must not stall behind busy slots (an instance that
    /// stops checking in is failed over while alive).
    fn spawn(&self, inner: &Arc<Inner>, firing: Firing, start: Start) {
        if let Ok(mut k) = self.known.lock() {
            k.insert(firing.run_id);
        }
        let (inner, done, slots) = (inner.clone(), self.done.clone(), self.slots.clone());
        // The run's span is a child of the span current here (the firing cycle's, for a fire).
        let parent = tracing::Span::current();
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                // The semaphore is never closed, so this only waits.
                let Ok(permit) = slots.acquire_owned().await else { return };
                execute(inner, firing, start, done).await;
                drop(permit);
            },
            parent,
        ));
    }
}

fn executing_on(instance: &str) -> RunFilter {
    RunFilter {
        state: Some(RunState::Executing),
        instance: Some(instance.to_string()),
        limit: 10_000,
        ..RunFilter::default()
    }
}

/// What executing `run` again (or resuming it) needs: its job and its data (job data overlaid
/// by the trigger's, when the trigger still exists). `None` when the job is gone.
async fn firing_of(inner: &Inner, run: &Run) -> Option<Firing> {
    let status = inner.store.get_job(&run.job).await.ok()??;
    let trigger_data = match inner.store.get_trigger(&run.trigger).await {
        Ok(Some(t)) => t.trigger.data().clone(),
        _ => DataMap::new(),
    };
    let mut data = status.job.data().clone();
    data.extend(trigger_data);
    Some(Firing {
        run_id: run.id,
        job: status.job,
        trigger: run.trigger.clone(),
        data,
        scheduled_ms: run.scheduled_ms,
        fired_ms: run.fired_ms,
    })
}

/// After a failed cycle the commit may have happened with its reply lost: runs recorded as
/// EXECUTING on this instance that it never started are started now (they were fired).
async fn reconcile(inner: &Arc<Inner>, runs: &Runs) {
    let Ok(executing) = inner.store.list_runs(&executing_on(&inner.config.instance_id)).await else { return };
    for run in executing {
        if runs.is_known(run.id) {
            continue;
        }
        let Some(firing) = firing_of(inner, &run).await else { continue };
        tracing::warn!(run_id = run.id, job = %run.job, "starting a run whose firing reply was lost");
        runs.spawn(inner, firing, Start::Fire);
    }
}

/// Recovers `failed` (another instance, or a previous life of this one): its EXECUTING runs
/// that their kind can re-attach to are adopted and resumed here; the rest is recovered as
/// Quartz does (see [`Store::recover`]).
async fn recover_instance(inner: &Arc<Inner>, runs: &Runs, failed: &str, grace_ms: i64) -> Result<Recovery, String> {
    let executing = inner.store.list_runs(&executing_on(failed)).await.map_err(|e| e.to_string())?;
    let mut resumable = Vec::new();
    for run in executing {
        let Some(firing) = firing_of(inner, &run).await else { continue };
        if inner.kinds.get(firing.job.kind()).is_some_and(|kind| kind.can_resume(&run)) {
            resumable.push((firing, run));
        }
    }
    let adoption =
        Adoption { by: inner.config.instance_id.clone(), runs: resumable.iter().map(|(_, run)| run.id).collect() };
    if let Some(failure) = crate::failpoint::injected("scheduler::recover") {
        return Err(failure);
    }
    let recovery =
        inner.store.recover(failed, &adoption, (inner.config.clock)(), grace_ms).await.map_err(|e| e.to_string())?;
    for (firing, run) in resumable {
        if recovery.adopted_runs.contains(&run.id) {
            inner.resumed.fetch_add(1, Ordering::Relaxed);
            runs.spawn(inner, firing, Start::Resume(Box::new(run)));
        }
    }
    Ok(recovery)
}

fn log_recovery(r: &Recovery, what: &str) {
    if r.abandoned_runs + r.released_triggers + r.adopted_runs.len() > 0 {
        tracing::warn!(
            instance = %r.instance, released = r.released_triggers, abandoned = r.abandoned_runs,
            refired = r.recovery_triggers, resumed = r.adopted_runs.len(), "{what}"
        );
    }
}

/// Checks in, and recovers the instances the store finds failed once this instance has
/// reached the store for a whole interval plus grace; then takes its share of retention.
/// `reachable_since`: when this instance's check-ins started succeeding again (`None` after a
/// failed one). After a store outage (a PostgreSQL restart) every live instance's last
/// check-in is old: an instance's silence counts only from when the others could check in
/// again, or the first one back would fail them all over while they live (assuming the
/// cluster shares one check-in interval).
async fn check_in_and_recover(
    inner: &Arc<Inner>,
    runs: &Runs,
    recover: bool,
    reachable_since: &mut Option<i64>,
    retention: &mut Retention,
) {
    let cfg = &inner.config;
    if let Some(failure) = crate::failpoint::injected("scheduler::check_in") {
        tracing::warn!(error = %failure, "check-in failed");
        *reachable_since = None;
        return;
    }
    let now = (cfg.clock)();
    let checked_in = inner
        .store
        .check_in(&cfg.instance_id, &inner.boot_id, now, cfg.checkin_interval_ms, cfg.failure_grace_ms)
        .await;
    if checked_in.is_err() {
        *reachable_since = None;
    }
    match checked_in {
        Ok(failed) => {
            let since = *reachable_since.get_or_insert(now);
            let settled = now - since >= cfg.checkin_interval_ms + cfg.failure_grace_ms;
            for instance in failed.iter().filter(|i| recover && settled && **i != cfg.instance_id) {
                match recover_instance(inner, runs, instance, cfg.failure_grace_ms).await {
                    Ok(r) => {
                        inner.recoveries.fetch_add(1, Ordering::Relaxed);
                        log_recovery(&r, "instance recovered");
                    }
                    Err(e) => tracing::warn!(instance = %instance, error = %e, "instance recovery failed"),
                }
            }
        }
        Err(e @ StoreError::InstanceIdInUse { .. }) => tracing::error!(error = %e, "check-in refused"),
        Err(e) => tracing::warn!(error = %e, "check-in failed"),
    }
    if recover {
        retention.step(inner).await;
    }
}

/// Where the history upkeep of one check-in task is (moving ended runs to the history, and
/// retention); every instance works in small transactions, so no single one has to be
/// elected, and competing ones only overlap.
#[derive(Debug, Default)]
struct Retention {
    /// The pass moving ended runs goes on after this run (in job order).
    move_after: Option<MoveCursor>,
    /// Age retention goes on after this run id.
    expire_after_id: i64,
    /// Count retention goes on at this job.
    trim_from: Option<JobKey>,
}

impl Retention {
    /// One check-in's share: at most [`MOVE_STEPS`] transactions moving at most [`MOVE_BATCH`]
    /// ended runs each, then at most [`RETENTION_STEPS`] transactions of each kind of
    /// retention, each deleting at most [`RETENTION_BATCH`] rows.
    async fn step(&mut self, inner: &Inner) {
        let cfg = &inner.config;
        let store = &inner.store;
        let (mut moved, mut expired, mut trimmed, mut spent) = (0, 0, 0, 0);
        // First, so that count retention sees the runs ended since the last check-in.
        for _ in 0..MOVE_STEPS {
            match store.move_ended_runs(self.move_after.as_ref(), MOVE_BATCH).await {
                Ok(step) => {
                    moved += step.moved;
                    self.move_after = step.next_after;
                    if self.move_after.is_none() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "moving ended runs to the history failed");
                    break;
                }
            }
        }
        if let Some(age) = cfg.run_retention_ms {
            for _ in 0..RETENTION_STEPS {
                match store.expire_runs((cfg.clock)() - age, self.expire_after_id, RETENTION_BATCH).await {
                    Ok(step) => {
                        expired += step.deleted;
                        self.expire_after_id = step.next_after_id.unwrap_or(0);
                        if step.next_after_id.is_none() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "deleting runs past their age failed");
                        break;
                    }
                }
            }
        }
        if let Some(keep) = cfg.runs_per_job {
            for _ in 0..RETENTION_STEPS {
                match store.trim_runs(keep, self.trim_from.as_ref(), RETENTION_JOBS, RETENTION_BATCH).await {
                    Ok(step) => {
                        trimmed += step.deleted;
                        self.trim_from = step.next_from;
                        if self.trim_from.is_none() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "deleting runs past each job's count failed");
                        break;
                    }
                }
            }
        }
        if let Some(grace) = cfg.spent_trigger_retention_ms {
            for _ in 0..RETENTION_STEPS {
                match store.remove_spent_triggers((cfg.clock)() - grace, RETENTION_BATCH).await {
                    Ok(n) => {
                        spent += n;
                        if n < RETENTION_BATCH {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "deleting completed triggers failed");
                        break;
                    }
                }
            }
        }
        // Steady trimming (a few rows per check-in) is debug; working off a backlog is info.
        if expired + trimmed + spent >= RETENTION_BATCH {
            tracing::info!(
                runs_moved = moved,
                runs_past_age = expired,
                runs_past_count = trimmed,
                completed_triggers = spent,
                "retention deleted old history; more may follow at the next check-ins"
            );
        } else {
            tracing::debug!(
                runs_moved = moved,
                runs_past_age = expired,
                runs_past_count = trimmed,
                completed_triggers = spent,
                "retention deleted old history"
            );
        }
    }
}

/// Where the driver is in its life, as the check-in task sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Checking in and recovering failed instances.
    Running,
    /// Stopping: runs are being waited for, so keep checking in (a silent instance would be
    /// failed over while its runs still execute), but take nothing over.
    Draining,
    /// Stop checking in: the instance is about to leave the cluster.
    Done,
}

/// Checks in every `checkin_interval_ms` on its own task, so neither busy run slots nor a
/// slow cycle delays it, and recovers the instances it finds failed.
async fn check_ins(inner: Arc<Inner>, runs: Runs, mut phase: watch::Receiver<Phase>) {
    let interval = Duration::from_millis(inner.config.checkin_interval_ms.max(1) as u64);
    let mut reachable_since = None;
    let mut retention = Retention::default();
    loop {
        let recover = match *phase.borrow() {
            Phase::Running => true,
            Phase::Draining => false,
            Phase::Done => return,
        };
        check_in_and_recover(&inner, &runs, recover, &mut reachable_since, &mut retention).await;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = phase.wait_for(|p| *p == Phase::Done) => return,
        }
    }
}

/// At start: a check-in row of this instance id that is still fresh may belong to a live
/// process (two processes configured with one id) or to one that just died. Waits until the
/// row goes stale (the previous life died: it is recovered next) or changes (another live
/// process checks in with this id: refused).
async fn wait_for_previous_life(inner: &Inner) -> Result<(), SchedulerError> {
    let cfg = &inner.config;
    let find = || async {
        let all = inner.store.instances(None, None).await?;
        Ok::<_, SchedulerError>(all.into_iter().find(|i| i.id == cfg.instance_id))
    };
    let Some(first) = find().await? else { return Ok(()) };
    let mut told = false;
    loop {
        let Some(seen) = find().await? else { return Ok(()) };
        if seen.last_checkin_ms != first.last_checkin_ms || seen.boot_id != first.boot_id {
            return Err(SchedulerError::InstanceIdInUse {
                instance: cfg.instance_id.clone(),
                last_checkin_ms: seen.last_checkin_ms,
            });
        }
        let now = (cfg.clock)();
        let stale_at = seen.last_checkin_ms + seen.checkin_interval_ms + cfg.failure_grace_ms;
        if now > stale_at {
            return Ok(());
        }
        if !std::mem::replace(&mut told, true) {
            tracing::info!(
                instance = %cfg.instance_id, last_checkin_ms = seen.last_checkin_ms, wait_ms = stale_at - now,
                "this instance id checked in recently: waiting to see whether that process is still alive"
            );
        }
        let step = (stale_at - now + 1).clamp(1, (seen.checkin_interval_ms / 4).clamp(10, 1000));
        tokio::time::sleep(Duration::from_millis(step as u64)).await;
    }
}

/// At stop: lets go of the executing runs whose kind can resume them later; they stay
/// EXECUTING in the store, and whoever recovers this instance re-attaches to them.
async fn detach_resumable(inner: &Inner) {
    let Ok(executing) = inner.store.list_runs(&executing_on(&inner.config.instance_id)).await else { return };
    for run in executing {
        let Some(handle) = inner.tasks.lock().ok().and_then(|t| t.get(&run.id).cloned()) else { continue };
        let Ok(Some(status)) = inner.store.get_job(&run.job).await else { continue };
        if inner.kinds.get(status.job.kind()).is_some_and(|kind| kind.can_resume(&run)) {
            handle.abort();
            inner.detached.fetch_add(1, Ordering::Relaxed);
            tracing::info!(run_id = run.id, job = %run.job, "run detached; it goes on, and is resumed after a restart");
        }
    }
}

async fn drive(
    inner: Arc<Inner>,
    mut stop: watch::Receiver<bool>,
    runs: Runs,
    mut done_rx: mpsc::UnboundedReceiver<Completion>,
) {
    let cfg = inner.config.clone();
    let slots = runs.slots.clone();
    let mut pending: Vec<Completion> = Vec::new();
    let mut backoff_ms = 20u64;
    let mut next_misfire_scan = i64::MIN;
    let mut pending_since: Option<i64> = None;
    let mut suspect = false;
    tracing::info!(instance = %cfg.instance_id, backend = inner.store.backend(), "scheduler driver started");
    let (phase, phase_rx) = watch::channel(Phase::Running);
    let checking_in = tokio::spawn(check_ins(inner.clone(), runs.clone(), phase_rx));
    while !*stop.borrow() {
        let now = (cfg.clock)();
        while let Ok(c) = done_rx.try_recv() {
            pending_since.get_or_insert(now);
            pending.push(c);
        }
        let max_fires = cfg.batch_size.min(slots.available_permits());
        let request = CycleRequest {
            instance: cfg.instance_id.clone(),
            now_ms: (cfg.clock)(),
            max_fires,
            acquire_ahead_ms: cfg.acquire_ahead_ms,
            misfire_threshold_ms: cfg.misfire_threshold_ms,
            max_misfires: if now >= next_misfire_scan { cfg.max_misfires_per_cycle } else { 0 },
            completions: pending.clone(),
        };
        let scanned = request.max_misfires > 0;
        inner.cycles.fetch_add(1, Ordering::Relaxed);
        let cycle_started = std::time::Instant::now();
        let cycled = inner.store.cycle(request).await;
        inner.observer().cycle(cycle_started.elapsed(), cycled.is_ok());
        let outcome = match cycled {
            Ok(outcome) => {
                if let Ok(mut k) = runs.known.lock() {
                    for c in &pending {
                        k.remove(&c.run_id);
                    }
                }
                pending.clear();
                pending_since = None;
                backoff_ms = 20;
                if scanned && outcome.misfires_handled < cfg.max_misfires_per_cycle {
                    next_misfire_scan = now + cfg.misfire_scan_interval_ms;
                }
                outcome
            }
            Err(e) => {
                suspect = true;
                inner.failed_cycles.fetch_add(1, Ordering::Relaxed);
                if e.is_transient() {
                    tracing::warn!(error = %e, retry_ms = backoff_ms, "scheduler cycle failed; retrying");
                } else {
                    // Undecodable rows are put in ERROR by the store, so this is a bug or a
                    // broken database: say so loudly, and keep trying.
                    tracing::error!(error = %e, retry_ms = backoff_ms, "scheduler cycle failed; retrying");
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(backoff_ms)) => {}
                    _ = stop.changed() => {}
                }
                backoff_ms = (backoff_ms * 2).min(2000);
                continue;
            }
        };
        let fired = outcome.fired.len();
        inner.fired.fetch_add(fired as u64, Ordering::Relaxed);
        if outcome.misfires_handled > 0 {
            inner.observer().misfired(outcome.misfires_handled);
        }
        if !outcome.misfired.is_empty() {
            inner.observer().triggers_misfired(&outcome.misfired);
        }
        // A cycle that fired or misfired is a span (a trace's root), its runs its children;
        // idle cycles (one a second at least) are not, so a trace backend is not flooded.
        let firing_cycle = (fired > 0 || outcome.misfires_handled > 0).then(|| {
            tracing::info_span!(
                "firing cycle",
                fired = fired as i64,
                misfired = outcome.misfires_handled as i64,
                store_cycle_ms = cycle_started.elapsed().as_secs_f64() * 1000.0,
            )
        });
        let in_cycle = firing_cycle.as_ref().map(|span| span.enter());
        for firing in outcome.fired {
            inner.observer().fired(firing.job.kind(), (firing.fired_ms - firing.scheduled_ms).max(0));
            runs.spawn(&inner, firing, Start::Fire);
        }
        drop(in_cycle);
        if std::mem::take(&mut suspect) {
            reconcile(&inner, &runs).await;
        }
        let more_misfires = cfg.max_misfires_per_cycle > 0 && outcome.misfires_handled >= cfg.max_misfires_per_cycle;
        if max_fires > 0 && (fired >= max_fires || more_misfires) {
            tokio::task::yield_now().await;
            continue;
        }
        let now = (cfg.clock)();
        // With every slot busy, nothing can fire before a run ends: wait for that instead.
        let saturated = max_fires == 0;
        let next_fire = if saturated { None } else { outcome.next_fire_ms };
        let wake_at = next_fire.unwrap_or(i64::MAX).min(now + cfg.idle_wait_ms).min(next_misfire_scan);
        let min_sleep = if fired == 0 { 1 } else { 0 };
        let deadline = tokio::time::Instant::now() + Duration::from_millis((wake_at - now).max(min_sleep) as u64);
        loop {
            let flush = pending_since.map(|since| {
                let left = (since + cfg.completion_flush_ms - (cfg.clock)()).max(0) as u64;
                tokio::time::Instant::now() + Duration::from_millis(left)
            });
            let until = flush.map_or(deadline, |f| f.min(deadline));
            tokio::select! {
                _ = tokio::time::sleep_until(until) => break,
                _ = inner.wake.notified() => break,
                Some(c) = done_rx.recv() => {
                    let urgent = c.non_concurrent || saturated;
                    pending_since.get_or_insert_with(|| (cfg.clock)());
                    pending.push(c);
                    if urgent {
                        break;
                    }
                }
                _ = stop.changed() => break,
            }
        }
    }
    // Shutdown: let go of resumable runs, wait for the others (still checking in, so that no
    // one fails this instance over meanwhile), record them, release what we hold, leave.
    let _ = phase.send(Phase::Draining);
    detach_resumable(&inner).await;
    let all = u32::try_from(cfg.max_running).unwrap_or(u32::MAX);
    let deadline = Duration::from_millis(cfg.stop_timeout_ms.max(0) as u64);
    if tokio::time::timeout(deadline, slots.acquire_many(all)).await.is_err() {
        tracing::warn!("runs still executing at stop; they will be recovered by another instance");
    }
    while let Ok(c) = done_rx.try_recv() {
        pending.push(c);
    }
    // No check-in may follow `leave` (it would bring the instance's row back).
    let _ = phase.send(Phase::Done);
    let _ = checking_in.await;
    for attempt in 0..5 {
        let request = CycleRequest {
            instance: cfg.instance_id.clone(),
            now_ms: (cfg.clock)(),
            max_fires: 0,
            acquire_ahead_ms: 0,
            misfire_threshold_ms: cfg.misfire_threshold_ms,
            max_misfires: 0,
            completions: std::mem::take(&mut pending),
        };
        let completions = request.completions.clone();
        match inner.store.cycle(request).await {
            Ok(_) => match inner.store.leave(&cfg.instance_id).await {
                Ok(()) => break,
                Err(e) => tracing::warn!(error = %e, attempt, "leaving the cluster failed"),
            },
            Err(e) => {
                pending = completions;
                tracing::warn!(error = %e, attempt, "recording final run outcomes failed");
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tracing::info!(instance = %cfg.instance_id, "scheduler driver stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_validated_with_the_setting_named() {
        assert!(SchedulerConfig::new("node-1").validate().is_ok());
        let mut c = SchedulerConfig::new("node-1");
        c.batch_size = 0;
        assert!(c.validate().unwrap_err().contains("batch_size"));
        let mut c = SchedulerConfig::new("node-1");
        c.failure_grace_ms = -1;
        assert!(c.validate().unwrap_err().contains("failure_grace_ms"));
        assert!(SchedulerConfig::new("").validate().unwrap_err().contains("instance id"));
        let mut c = SchedulerConfig::new("node-1");
        c.runs_per_job = Some(0);
        assert!(c.validate().unwrap_err().contains("runs_per_job"), "0 would delete every job's latest run");
        c.runs_per_job = Some(1);
        c.spent_trigger_retention_ms = Some(-1);
        assert!(c.validate().unwrap_err().contains("spent_trigger_retention_ms"));
        c.spent_trigger_retention_ms = Some(0);
        assert!(c.validate().is_ok());
    }
}
