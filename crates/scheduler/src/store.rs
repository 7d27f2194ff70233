//! The persistence interface the driver and API use; `consort-store` implements it for
//! SQLite and PostgreSQL.
//!
//! Contract for every implementation: each method is one database transaction, so a crash
//! at any point leaves the previous or the next consistent state; firing decisions use the
//! pure functions of [`crate::fire`] so every backend decides the same way.

use std::fmt;

use async_trait::async_trait;

use crate::error::StoreError;
use crate::model::{
    DataMap, Job, JobKey, JobStatus, Outcome, Run, RunState, Trigger, TriggerKey, TriggerState, TriggerStatus,
};

/// Which triggers a pause or resume applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// One trigger.
    Trigger(TriggerKey),
    /// Every trigger in a trigger group; new triggers in a paused group start PAUSED.
    TriggerGroup(String),
    /// Every trigger of one job.
    Job(JobKey),
    /// Every trigger of every job in a job group.
    JobGroup(String),
}

/// Filters for [`Store::list_jobs`]; ordered by key. A page starts after `after`, so paging
/// by the last key of the previous page is stable while jobs are added and deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only jobs of this group.
    pub group: Option<String>,
    /// Only jobs of this kind.
    pub kind: Option<String>,
    /// Only jobs whose key sorts after this one (paging).
    pub after: Option<JobKey>,
    /// At most this many; `None` for all.
    pub limit: Option<usize>,
}

/// Filters for [`Store::list_triggers`]; ordered by key, paged like [`JobFilter`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TriggerFilter {
    /// Only triggers of this trigger group.
    pub group: Option<String>,
    /// Only triggers of this job.
    pub job: Option<JobKey>,
    /// Only triggers in this state as shown to users (BLOCKED, EXECUTING and PAUSED_BLOCKED
    /// included, as [`TriggerStatus::state`] reports them).
    pub state: Option<TriggerState>,
    /// Only triggers whose key sorts after this one (paging).
    pub after: Option<TriggerKey>,
    /// At most this many; `None` for all.
    pub limit: Option<usize>,
}

/// Filters for [`Store::list_runs`]; newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only runs of this job.
    pub job: Option<JobKey>,
    /// Only runs fired by this trigger.
    pub trigger: Option<TriggerKey>,
    /// Only runs in this state.
    pub state: Option<RunState>,
    /// Only runs fired by this instance.
    pub instance: Option<String>,
    /// Only runs fired after this instant (epoch ms).
    pub fired_after_ms: Option<i64>,
    /// Only runs fired before this instant (epoch ms).
    pub fired_before_ms: Option<i64>,
    /// Only runs with an id below this one (paging).
    pub before_id: Option<i64>,
    /// At most this many (0 = 100).
    pub limit: usize,
}

/// A run that ended on this instance, written back by the next [`Store::cycle`].
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    /// The run.
    pub run_id: i64,
    /// Its job.
    pub job: JobKey,
    /// Whether the job is non-concurrent (its other triggers are unblocked).
    pub non_concurrent: bool,
    /// When it ended.
    pub ended_ms: i64,
    /// How it ended.
    pub outcome: Outcome,
    /// Put this trigger in ERROR (e.g. the job's kind is unknown on this instance).
    pub error_trigger: Option<TriggerKey>,
}

/// One driver cycle: write completions, handle misfires, acquire due triggers, fire them.
#[derive(Clone, Debug, PartialEq)]
pub struct CycleRequest {
    /// This instance's id.
    pub instance: String,
    /// The current time.
    pub now_ms: i64,
    /// Fire at most this many triggers (free executor slots).
    pub max_fires: usize,
    /// Acquire WAITING triggers due within this many ms (they are fired by a later cycle).
    pub acquire_ahead_ms: i64,
    /// A trigger more than this late has misfired.
    pub misfire_threshold_ms: i64,
    /// Handle at most this many misfired triggers per cycle.
    pub max_misfires: usize,
    /// Runs that ended since the last cycle.
    pub completions: Vec<Completion>,
}

/// A trigger fired by a cycle: the run to execute.
#[derive(Clone, Debug, PartialEq)]
pub struct Firing {
    /// The run row created, state EXECUTING.
    pub run_id: i64,
    /// The job to execute.
    pub job: Job,
    /// The trigger that fired.
    pub trigger: TriggerKey,
    /// The job's data map overlaid by the trigger's.
    pub data: DataMap,
    /// The scheduled fire time.
    pub scheduled_ms: i64,
    /// The actual fire time.
    pub fired_ms: i64,
}

/// What a cycle did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CycleOutcome {
    /// Runs to execute now.
    pub fired: Vec<Firing>,
    /// Misfired triggers handled.
    pub misfires_handled: usize,
    /// The misfires this cycle applied (decodable triggers only; `misfires_handled` also
    /// counts the undecodable ones it put in ERROR), for observers that alert on them.
    pub misfired: Vec<Misfire>,
    /// Triggers acquired by this cycle (including those fired at once).
    pub acquired: usize,
    /// The earliest next fire among WAITING triggers and this instance's ACQUIRED ones; the
    /// request's time, unread, after a cycle that fired `max_fires` (more may be due now).
    pub next_fire_ms: Option<i64>,
}

/// A trigger whose fire time passed by more than the misfire threshold, and what the cycle
/// did about it (its misfire instruction).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Misfire {
    /// The trigger.
    pub trigger: TriggerKey,
    /// Its job.
    pub job: JobKey,
    /// The fire time that was missed (epoch ms).
    pub missed_ms: i64,
    /// The trigger's next fire time after the misfire instruction; `None`: it will not fire again.
    pub next_fire_ms: Option<i64>,
}

/// A cluster member, as recorded by check-ins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// Its id.
    pub id: String,
    /// Its last check-in.
    pub last_checkin_ms: i64,
    /// Its check-in interval.
    pub checkin_interval_ms: i64,
    /// The mark of the process that checks in with this id (see [`Store::check_in`]).
    pub boot_id: Option<String>,
}

/// Runs of one state fired in one bucket of time (see [`Store::run_history`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunHistoryBucket {
    /// The bucket's index: it holds runs fired in `[from + index × width, from + (index + 1) × width)`.
    pub index: i64,
    /// The runs' state.
    pub state: RunState,
    /// How many runs.
    pub runs: i64,
    /// Their lateness (fired minus scheduled, ms) summed, for a mean.
    pub lateness_sum_ms: i64,
    /// Their largest lateness, ms.
    pub lateness_max_ms: i64,
}

/// What recovering a failed instance did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The failed instance.
    pub instance: String,
    /// Its ACQUIRED triggers put back to WAITING.
    pub released_triggers: usize,
    /// Its EXECUTING runs marked ABANDONED.
    pub abandoned_runs: usize,
    /// Recovery triggers created for runs of jobs requesting recovery.
    pub recovery_triggers: usize,
    /// Its EXECUTING runs taken over by the recovering instance (see [`Adoption`]), still
    /// EXECUTING; the recovering instance now follows them to their end.
    pub adopted_runs: Vec<i64>,
}

/// Runs of a failed instance that the recovering instance takes over instead of abandoning,
/// because their job kind can re-attach to them (e.g. a Spark application still running on
/// its cluster).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Adoption {
    /// The recovering instance; the adopted runs become its own.
    pub by: String,
    /// The runs to adopt; runs not EXECUTING on the failed instance any more are skipped.
    pub runs: Vec<i64>,
}

/// What one [`Store::expire_runs`] call did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunExpiry {
    /// Runs deleted.
    pub deleted: usize,
    /// Where the next call goes on (runs after this id); `None` once the runs examined reached
    /// those fired at or after the cutoff, so the next sweep starts from the oldest run again.
    pub next_after_id: Option<i64>,
}

/// Where a pass of [`Store::move_ended_runs`] is: the last run it moved, in job order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoveCursor {
    pub job: JobKey,
    pub run_id: i64,
}

/// What one [`Store::move_ended_runs`] call did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunMove {
    /// Ended runs moved to the history.
    pub moved: usize,
    /// Where the pass goes on; `None` once it reached the last job with ended runs.
    pub next_after: Option<MoveCursor>,
}

/// A job with its first triggers (by key) and its newest runs, read in one snapshot: the
/// three agree (the job's last state is that of the newest run listed).
#[derive(Clone, Debug, PartialEq)]
pub struct JobSnapshot {
    pub status: JobStatus,
    pub triggers: Vec<TriggerStatus>,
    pub recent_runs: Vec<Run>,
}

/// What one [`Store::trim_runs`] call did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunTrim {
    /// Runs deleted.
    pub deleted: usize,
    /// The job the next call starts at (this one included: it may have more to trim); `None`
    /// once every job with runs was visited, so the next sweep starts from the first again.
    pub next_from: Option<JobKey>,
}

/// Durable storage of jobs, triggers, runs and cluster state.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Transactions committed since this store was opened (benchmarks report commits per fire).
    fn commits(&self) -> u64;

    /// Stores a job and, atomically, triggers for it. Without `replace` an existing job or
    /// trigger is refused; with it, they are updated (a replaced trigger restarts its schedule).
    /// A non-durable job must have a trigger.
    async fn put_job(&self, job: &Job, triggers: &[Trigger], replace: bool, now_ms: i64) -> Result<(), StoreError>;

    /// Stores a job and its triggers with the statuses another scheduler left them in (next
    /// and previous fire, times triggered; WAITING, PAUSED, COMPLETE or ERROR), so an import
    /// continues the schedules instead of restarting them. Otherwise as [`Store::put_job`].
    async fn restore_job(
        &self,
        job: &Job,
        triggers: &[TriggerStatus],
        replace: bool,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// A job and its latest run state.
    async fn get_job(&self, key: &JobKey) -> Result<Option<JobStatus>, StoreError>;

    /// A job with its first `triggers` triggers and newest `runs` runs, in one snapshot.
    async fn job_snapshot(&self, key: &JobKey, triggers: usize, runs: usize)
    -> Result<Option<JobSnapshot>, StoreError>;

    /// Jobs matching `filter`, ordered by key (one page of at most `filter.limit`).
    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<JobStatus>, StoreError>;

    /// Deletes a job and its triggers (runs stay). False if it did not exist.
    async fn delete_job(&self, key: &JobKey) -> Result<bool, StoreError>;

    /// Stores one trigger for an existing job; see [`Store::put_job`] for `replace`.
    async fn put_trigger(&self, trigger: &Trigger, replace: bool, now_ms: i64) -> Result<TriggerStatus, StoreError>;

    /// A trigger and its status.
    async fn get_trigger(&self, key: &TriggerKey) -> Result<Option<TriggerStatus>, StoreError>;

    /// Triggers matching `filter`, ordered by key (one page of at most `filter.limit`).
    async fn list_triggers(&self, filter: &TriggerFilter) -> Result<Vec<TriggerStatus>, StoreError>;

    /// Deletes a trigger; a non-durable job left without triggers is deleted too.
    async fn delete_trigger(&self, key: &TriggerKey) -> Result<bool, StoreError>;

    /// Pauses the selected triggers; returns how many changed.
    async fn pause(&self, selector: &Selector) -> Result<usize, StoreError>;

    /// Resumes the selected PAUSED (or ERROR) triggers; a late one is then handled by its
    /// misfire instruction. Returns how many changed.
    async fn resume(&self, selector: &Selector) -> Result<usize, StoreError>;

    /// Run history, newest first.
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>, StoreError>;

    /// One run.
    async fn get_run(&self, id: i64) -> Result<Option<Run>, StoreError>;

    /// Age retention, a bounded step of a sweep over the run history in id order: looks at
    /// most at the `batch` runs after `after_id` and deletes those that ended and were fired
    /// before `fired_before_ms`, except a job's latest run (its last state) and a run a job
    /// still marks as executing. One transaction.
    async fn expire_runs(&self, fired_before_ms: i64, after_id: i64, batch: usize) -> Result<RunExpiry, StoreError>;

    /// A bounded step of a pass that moves ended runs from the recent runs (where a run
    /// executes and ends) to the run history: at most `batch` of them, in job order after
    /// `after` (from the first job when `None`). A job's runs ended since the last pass go
    /// together, so the history's index of runs by job is written once per job and pass, not
    /// once per run. Readers see a run alike before and after its move. One transaction.
    async fn move_ended_runs(&self, after: Option<&MoveCursor>, batch: usize) -> Result<RunMove, StoreError>;

    /// Count retention, a bounded step of a sweep over the jobs that have runs, in key order:
    /// from job `from` (the first when `None`), visits at most `max_jobs` jobs and deletes, in
    /// all, at most `batch` of their ended runs older than their `keep` most recent ended runs.
    /// Executing runs (and a run a job still marks as executing) are never deleted nor counted.
    /// One transaction.
    async fn trim_runs(
        &self,
        keep: usize,
        from: Option<&JobKey>,
        max_jobs: usize,
        batch: usize,
    ) -> Result<RunTrim, StoreError>;

    /// Deletes at most `batch` COMPLETE simple triggers (one-shot ones, fire-nows, recovery
    /// triggers, finished repeats), which never fire again, whose last fire (or start, if they
    /// never fired) and whose runs' ends are all before `completed_before_ms`, and that have no
    /// executing run. Their jobs stay, durable or not (a run's log and kill go through its
    /// job's kind). Returns how many were deleted. One transaction.
    async fn remove_spent_triggers(&self, completed_before_ms: i64, batch: usize) -> Result<usize, StoreError>;

    /// Records an executing run's external application id and/or log location.
    async fn report_run(
        &self,
        id: i64,
        application_id: Option<&str>,
        log_location: Option<&str>,
    ) -> Result<(), StoreError>;

    /// One driver cycle, in one transaction (see [`CycleRequest`]).
    async fn cycle(&self, request: CycleRequest) -> Result<CycleOutcome, StoreError>;

    /// Records this instance's check-in, and returns the instances that failed: those whose
    /// check-in is older than their interval plus `grace_ms`, and owners of ACQUIRED triggers
    /// or EXECUTING runs that have no check-in row at all.
    ///
    /// `boot_id` marks the process: a row of this instance id written by another process
    /// (another boot id) that is not stale yet is left alone and the check-in is refused with
    /// [`StoreError::InstanceIdInUse`], since two live processes share the id.
    async fn check_in(
        &self,
        instance: &str,
        boot_id: &str,
        now_ms: i64,
        checkin_interval_ms: i64,
        grace_ms: i64,
    ) -> Result<Vec<String>, StoreError>;

    /// Recovers a failed instance: releases its ACQUIRED triggers, moves the EXECUTING runs
    /// named in `adoption` to the recovering instance (they stay EXECUTING, their jobs stay
    /// blocked), abandons its other EXECUTING runs (creating a one-shot recovery trigger at the
    /// original scheduled time for jobs requesting recovery, and unblocking non-concurrent
    /// jobs), and deletes its check-in row.
    /// Does nothing if the instance checked in again (within `grace_ms` past its interval) or
    /// another instance is recovering it.
    async fn recover(
        &self,
        failed: &str,
        adoption: &Adoption,
        now_ms: i64,
        grace_ms: i64,
    ) -> Result<Recovery, StoreError>;

    /// Cleanly leaves the cluster: releases this instance's ACQUIRED triggers and deletes its
    /// check-in row (call after its runs completed).
    async fn leave(&self, instance: &str) -> Result<(), StoreError>;

    /// Instances that checked in, ordered by id: those after `after`, at most `limit` (`None`
    /// for all).
    async fn instances(&self, after: Option<&str>, limit: Option<usize>) -> Result<Vec<Instance>, StoreError>;

    /// Runs fired in `[from_ms, to_ms)` counted per bucket of `width_ms` and state, with their
    /// lateness, aggregated in the database (the dashboard's run-history chart); ordered by
    /// bucket, then state. Buckets without runs are absent.
    async fn run_history(&self, from_ms: i64, to_ms: i64, width_ms: i64) -> Result<Vec<RunHistoryBucket>, StoreError>;
}
