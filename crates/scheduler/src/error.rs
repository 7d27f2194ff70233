//! Errors of the scheduler: invalid definitions, store failures, and API refusals.

use crate::model::{JobKey, TriggerKey};

/// An invalid job or trigger definition. Each message names the field and the fix.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ModelError {
    /// A key part is empty, too long or has control characters.
    #[error("invalid {what} {value:?}: use 1 to {max} characters without control characters")]
    InvalidKey {
        /// Which part (e.g. "job name").
        what: &'static str,
        /// The value given.
        value: String,
        /// Maximum length.
        max: usize,
    },
    /// The cron expression was refused.
    #[error("invalid cron expression: {0}")]
    Cron(String),
    /// The zone is unknown.
    #[error("invalid time zone: {0}")]
    Zone(String),
    /// A repeating simple trigger needs a positive interval.
    #[error("invalid repeat interval {0} ms: a repeating trigger needs an interval of at least 1 ms")]
    Interval(i64),
    /// End before start.
    #[error("end time {end_ms} is before start time {start_ms}: move the end time after the start, or drop it")]
    EndBeforeStart {
        /// Start (epoch ms).
        start_ms: i64,
        /// End (epoch ms).
        end_ms: i64,
    },
    /// An unknown misfire instruction name.
    #[error("unknown misfire instruction {0:?}: use smart, fire-once-now, do-nothing or ignore")]
    Misfire(String),
    /// A trigger given with a job names another job.
    #[error("trigger {trigger} was given with job {job} but belongs to another job: set its job key to {job}")]
    TriggerJobMismatch {
        /// The trigger.
        trigger: TriggerKey,
        /// The job it was given with.
        job: JobKey,
    },
    /// An unknown state name (a damaged or newer database).
    #[error("unknown state {0:?} in the store: the database was written by a newer consort, upgrade this one")]
    State(String),
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or refused a statement.
    #[error("database error during {context}: {message}")]
    Database {
        /// What the store was doing.
        context: String,
        /// The database's message.
        message: String,
        /// Whether retrying the same call may succeed (connection lost, deadlock, serialization).
        transient: bool,
    },
    /// The schema's migrations do not match this build.
    #[error("schema migration problem: {0}")]
    Migration(String),
    /// A stored row cannot be read back into the model.
    #[error("corrupt row in {table}: {message}")]
    Corrupt {
        /// Table.
        table: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The job exists already (create, not replace).
    #[error("job {0} already exists: replace it instead, or pick another name")]
    JobExists(JobKey),
    /// The trigger exists already (create, not replace).
    #[error("trigger {0} already exists: replace it instead, or pick another name")]
    TriggerExists(TriggerKey),
    /// The job does not exist.
    #[error("job {0} not found: create it first (list jobs to see the keys)")]
    JobNotFound(JobKey),
    /// The trigger does not exist.
    #[error("trigger {0} not found (list triggers to see the keys)")]
    TriggerNotFound(TriggerKey),
    /// A trigger's schedule will never fire.
    #[error("trigger {0} will never fire with this schedule, start and end time: change one of them")]
    NeverFires(TriggerKey),
    /// A non-durable job needs a trigger.
    #[error("job {0} is not durable and has no trigger: make it durable or add it with a trigger")]
    NotDurable(JobKey),
    /// A row failed model validation.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Another live process checks in with this instance id.
    #[error(
        "instance id {instance} is checked in by another process: give each process its own instance id \
         (scheduler.instance_id, CONSORT_INSTANCE_ID), or stop the other process"
    )]
    InstanceIdInUse {
        /// The instance id.
        instance: String,
    },
}

impl StoreError {
    /// Whether the caller may retry the same operation.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Database { transient: true, .. })
    }
}

/// An error from the [`crate::Scheduler`] API.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// A store failure (includes not-found and already-exists).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An invalid definition.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The job's kind is not registered.
    #[error("unknown job kind {kind:?}: use one of {known}")]
    UnknownKind {
        /// The kind asked for.
        kind: String,
        /// The registered kinds, comma separated.
        known: String,
    },
    /// The kind refused the job's data map.
    #[error("job {job}: invalid data for kind {kind:?}: {message}")]
    InvalidData {
        /// The job.
        job: JobKey,
        /// The kind.
        kind: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Another live process uses this instance id (it checked in since this one started).
    #[error(
        "instance id {instance} is in use: another process checked in with it at {last_checkin_ms} (epoch ms) \
         while this one waited; give each process its own instance id (scheduler.instance_id, \
         CONSORT_INSTANCE_ID), or stop the other process first"
    )]
    InstanceIdInUse {
        /// The instance id.
        instance: String,
        /// The other process's latest check-in.
        last_checkin_ms: i64,
    },
    /// The driver is already running, or not running.
    #[error("scheduler driver is {0}")]
    Driver(&'static str),
    /// No run with this id.
    #[error("run {0} not found (list runs to see their ids)")]
    RunNotFound(i64),
    /// The run's kind could not do what was asked.
    #[error("run {run}: cannot {action}: {error}")]
    RunAction {
        /// The run.
        run: i64,
        /// What was asked ("kill it", "read its log").
        action: &'static str,
        /// Why not.
        error: crate::kind::RunActionError,
    },
}
