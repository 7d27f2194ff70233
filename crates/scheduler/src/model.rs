//! The domain: keys, jobs, triggers, schedules, states, misfire instructions and runs.
//!
//! All instants are Unix epoch milliseconds (`i64`), as in Quartz's tables. None of
//! these types is `Serialize`: the server crate owns its DTOs.

use std::fmt;

use consort_cron::{Cron, Zone};

use crate::error::ModelError;

/// A job's or trigger's data map: JSON object, trigger entries overlay job entries.
pub type DataMap = serde_json::Map<String, serde_json::Value>;

/// The group used when none is given, as in Quartz.
pub const DEFAULT_GROUP: &str = "DEFAULT";
/// Group of the one-shot triggers created by "fire now".
pub const MANUAL_GROUP: &str = "MANUAL_TRIGGER";
/// Group of the one-shot triggers created to re-run a crashed instance's runs.
pub const RECOVERING_GROUP: &str = "RECOVERING_JOBS";

/// The most characters in a key's group or name.
pub const MAX_KEY_LEN: usize = 190;

fn check_part(what: &'static str, value: &str) -> Result<(), ModelError> {
    // Characters, not bytes: the API documents the limit as a JSON Schema `maxLength`.
    if value.is_empty() || value.chars().count() > MAX_KEY_LEN || value.chars().any(char::is_control) {
        return Err(ModelError::InvalidKey { what, value: value.to_string(), max: MAX_KEY_LEN });
    }
    Ok(())
}

macro_rules! key_type {
    ($name:ident, $what:literal) => {
        /// A (group, name) pair that identifies one entity, as Quartz's `Key`.
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name {
            group: String,
            name: String,
        }

        impl $name {
            /// Builds a key; both parts must be 1..=190 characters without control characters.
            pub fn new(group: impl Into<String>, name: impl Into<String>) -> Result<Self, ModelError> {
                let (group, name) = (group.into(), name.into());
                check_part(concat!($what, " group"), &group)?;
                check_part(concat!($what, " name"), &name)?;
                Ok(Self { group, name })
            }

            /// A key in the `DEFAULT` group.
            pub fn in_default_group(name: impl Into<String>) -> Result<Self, ModelError> {
                Self::new(DEFAULT_GROUP, name)
            }

            /// The group part.
            pub fn group(&self) -> &str {
                &self.group
            }

            /// The name part.
            pub fn name(&self) -> &str {
                &self.name
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}.{}", self.group, self.name)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({}.{})", stringify!($name), self.group, self.name)
            }
        }
    };
}

key_type!(JobKey, "job");
key_type!(TriggerKey, "trigger");

/// A job definition: what runs when one of its triggers fires.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    key: JobKey,
    description: Option<String>,
    kind: String,
    data: DataMap,
    durable: bool,
    non_concurrent: bool,
    requests_recovery: bool,
}

impl Job {
    /// A job of `kind` (e.g. `noop`, `command`, `spark`) with an empty data map, not durable,
    /// concurrent, not requesting recovery (Quartz's defaults).
    pub fn new(key: JobKey, kind: impl Into<String>) -> Self {
        Job {
            key,
            description: None,
            kind: kind.into(),
            data: DataMap::new(),
            durable: false,
            non_concurrent: false,
            requests_recovery: false,
        }
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
    /// Sets the data map.
    pub fn with_data(mut self, data: DataMap) -> Self {
        self.data = data;
        self
    }
    /// A durable job stays when its last trigger is deleted.
    pub fn with_durable(mut self, durable: bool) -> Self {
        self.durable = durable;
        self
    }
    /// A non-concurrent job never has two runs executing at once, cluster-wide.
    pub fn with_non_concurrent(mut self, non_concurrent: bool) -> Self {
        self.non_concurrent = non_concurrent;
        self
    }
    /// A job requesting recovery is re-fired when the instance running it dies.
    pub fn with_requests_recovery(mut self, requests_recovery: bool) -> Self {
        self.requests_recovery = requests_recovery;
        self
    }

    /// The job's key.
    pub fn key(&self) -> &JobKey {
        &self.key
    }
    /// The description, if any.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// The kind name, which selects the [`crate::JobKind`] that executes it.
    pub fn kind(&self) -> &str {
        &self.kind
    }
    /// The job's data map.
    pub fn data(&self) -> &DataMap {
        &self.data
    }
    /// Whether the job survives the deletion of its last trigger.
    pub fn durable(&self) -> bool {
        self.durable
    }
    /// Whether runs of this job are serialised cluster-wide.
    pub fn non_concurrent(&self) -> bool {
        self.non_concurrent
    }
    /// Whether a run interrupted by an instance crash is fired again.
    pub fn requests_recovery(&self) -> bool {
        self.requests_recovery
    }
}

/// When a trigger fires.
#[derive(Clone, Debug, PartialEq)]
#[expect(clippy::large_enum_variant, reason = "one schedule per trigger; boxing the cron buys nothing")]
pub enum Schedule {
    /// A Quartz cron expression evaluated in an IANA zone.
    Cron {
        /// The expression.
        cron: Cron,
        /// The zone it is evaluated in.
        zone: Zone,
    },
    /// Fires `repeat_count + 1` times (`None` = forever), `interval_ms` apart, from the start time.
    /// A repeat count of 0 is a one-shot trigger.
    Simple {
        /// Repeats after the first fire; `None` repeats forever.
        repeat_count: Option<u32>,
        /// Milliseconds between fires (> 0 when repeating).
        interval_ms: i64,
    },
}

impl Schedule {
    /// A cron schedule.
    pub fn cron(expression: &str, zone: &str) -> Result<Self, ModelError> {
        let cron = Cron::parse(expression).map_err(|e| ModelError::Cron(e.to_string()))?;
        let zone = Zone::get(zone).map_err(|e| ModelError::Zone(e.to_string()))?;
        Ok(Schedule::Cron { cron, zone })
    }

    /// A one-shot schedule (fires once, at the trigger's start time).
    pub fn once() -> Self {
        Schedule::Simple { repeat_count: Some(0), interval_ms: 0 }
    }

    /// A simple repeating schedule.
    pub fn simple(repeat_count: Option<u32>, interval_ms: i64) -> Result<Self, ModelError> {
        if repeat_count != Some(0) && interval_ms <= 0 {
            return Err(ModelError::Interval(interval_ms));
        }
        Ok(Schedule::Simple { repeat_count, interval_ms })
    }

    /// `cron` or `simple`, as stored.
    pub fn type_name(&self) -> &'static str {
        match self {
            Schedule::Cron { .. } => "cron",
            Schedule::Simple { .. } => "simple",
        }
    }
}

/// What to do when a trigger's fire time passed more than the misfire threshold ago.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MisfireInstruction {
    /// Quartz's smart policy: per schedule type (see [`crate::fire::apply_misfire`]).
    Smart,
    /// Fire once now, then resume the schedule.
    FireOnceNow,
    /// Skip the missed fires: next fire is the first scheduled time after now.
    DoNothing,
    /// Never misfire: fire every missed time, as fast as possible.
    Ignore,
}

impl MisfireInstruction {
    /// The stored name (`smart`, `fire-once-now`, `do-nothing`, `ignore`).
    pub fn as_str(self) -> &'static str {
        match self {
            MisfireInstruction::Smart => "smart",
            MisfireInstruction::FireOnceNow => "fire-once-now",
            MisfireInstruction::DoNothing => "do-nothing",
            MisfireInstruction::Ignore => "ignore",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        Ok(match s {
            "smart" => MisfireInstruction::Smart,
            "fire-once-now" => MisfireInstruction::FireOnceNow,
            "do-nothing" => MisfireInstruction::DoNothing,
            "ignore" => MisfireInstruction::Ignore,
            other => return Err(ModelError::Misfire(other.to_string())),
        })
    }
}

/// A trigger's state. `WAITING`, `ACQUIRED`, `PAUSED`, `COMPLETE` and `ERROR` are stored;
/// `BLOCKED` and `PAUSED_BLOCKED` are what a `WAITING`/`ACQUIRED` or `PAUSED` trigger shows
/// while its non-concurrent job has a run executing. `EXECUTING` is a run's state (as in
/// Quartz, where it lives in the fired-triggers table) and is shown by triggers whose latest
/// run is executing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TriggerState {
    /// Waiting for its next fire time.
    Waiting,
    /// Taken by an instance that will fire it.
    Acquired,
    /// Fired; its run is executing.
    Executing,
    /// Paused by key, group or job; does not fire.
    Paused,
    /// Waiting, but its non-concurrent job is running.
    Blocked,
    /// Paused while its non-concurrent job is running.
    PausedBlocked,
    /// Failed permanently (e.g. its job kind is unknown); does not fire until resumed.
    Error,
    /// Will never fire again.
    Complete,
}

impl TriggerState {
    /// The Quartz name (`WAITING`, `ACQUIRED`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerState::Waiting => "WAITING",
            TriggerState::Acquired => "ACQUIRED",
            TriggerState::Executing => "EXECUTING",
            TriggerState::Paused => "PAUSED",
            TriggerState::Blocked => "BLOCKED",
            TriggerState::PausedBlocked => "PAUSED_BLOCKED",
            TriggerState::Error => "ERROR",
            TriggerState::Complete => "COMPLETE",
        }
    }

    /// Parses a Quartz state name.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        Ok(match s {
            "WAITING" => TriggerState::Waiting,
            "ACQUIRED" => TriggerState::Acquired,
            "EXECUTING" => TriggerState::Executing,
            "PAUSED" => TriggerState::Paused,
            "BLOCKED" => TriggerState::Blocked,
            "PAUSED_BLOCKED" => TriggerState::PausedBlocked,
            "ERROR" => TriggerState::Error,
            "COMPLETE" => TriggerState::Complete,
            other => return Err(ModelError::State(other.to_string())),
        })
    }
}

/// A trigger definition: when and how often a job fires.
#[derive(Clone, Debug, PartialEq)]
pub struct Trigger {
    key: TriggerKey,
    job: JobKey,
    description: Option<String>,
    schedule: Schedule,
    start_ms: i64,
    end_ms: Option<i64>,
    priority: i32,
    misfire: MisfireInstruction,
    data: DataMap,
}

impl Trigger {
    /// A trigger for `job` starting at `start_ms`, priority 5, smart misfire policy.
    pub fn new(key: TriggerKey, job: JobKey, schedule: Schedule, start_ms: i64) -> Self {
        Trigger {
            key,
            job,
            description: None,
            schedule,
            start_ms,
            end_ms: None,
            priority: 5,
            misfire: MisfireInstruction::Smart,
            data: DataMap::new(),
        }
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
    /// Sets the end time (inclusive for cron, as in Quartz).
    pub fn with_end_ms(mut self, end_ms: Option<i64>) -> Self {
        self.end_ms = end_ms;
        self
    }
    /// Sets the priority (higher fires first among equal fire times).
    pub fn with_priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }
    /// Sets the misfire instruction.
    pub fn with_misfire(mut self, misfire: MisfireInstruction) -> Self {
        self.misfire = misfire;
        self
    }
    /// Sets the data map (overlays the job's).
    pub fn with_data(mut self, data: DataMap) -> Self {
        self.data = data;
        self
    }

    /// The trigger's key.
    pub fn key(&self) -> &TriggerKey {
        &self.key
    }
    /// The job it fires.
    pub fn job(&self) -> &JobKey {
        &self.job
    }
    /// The description, if any.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// The schedule.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }
    /// Start time (epoch ms).
    pub fn start_ms(&self) -> i64 {
        self.start_ms
    }
    /// End time (epoch ms), if any.
    pub fn end_ms(&self) -> Option<i64> {
        self.end_ms
    }
    /// Priority.
    pub fn priority(&self) -> i32 {
        self.priority
    }
    /// Misfire instruction.
    pub fn misfire(&self) -> MisfireInstruction {
        self.misfire
    }
    /// Data map.
    pub fn data(&self) -> &DataMap {
        &self.data
    }

    /// Checks the definition: end after start, interval sane.
    pub fn validate(&self) -> Result<(), ModelError> {
        if let Some(end) = self.end_ms
            && end < self.start_ms
        {
            return Err(ModelError::EndBeforeStart { start_ms: self.start_ms, end_ms: end });
        }
        if let Schedule::Simple { repeat_count, interval_ms } = &self.schedule
            && *repeat_count != Some(0)
            && *interval_ms <= 0
        {
            return Err(ModelError::Interval(*interval_ms));
        }
        Ok(())
    }
}

/// A trigger with its live status, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct TriggerStatus {
    /// The definition.
    pub trigger: Trigger,
    /// The state (BLOCKED/PAUSED_BLOCKED/EXECUTING derived on read).
    pub state: TriggerState,
    /// The next scheduled fire time, if it will fire again.
    pub next_fire_ms: Option<i64>,
    /// The previous scheduled fire time, if it fired.
    pub prev_fire_ms: Option<i64>,
    /// How many times it fired.
    pub times_triggered: i64,
    /// The instance that acquired it, while ACQUIRED.
    pub instance: Option<String>,
    /// Why it is in ERROR (an unreadable row, its job's kind unknown...), while in ERROR.
    pub error: Option<String>,
}

/// A job with its latest run's state.
#[derive(Clone, Debug, PartialEq)]
pub struct JobStatus {
    /// The definition.
    pub job: Job,
    /// The latest run's state: the job's "last state", mirroring what it ran (e.g. Spark).
    pub last_run_state: Option<RunState>,
    /// The latest run's id.
    pub last_run_id: Option<i64>,
    /// The run executing now, for a non-concurrent job.
    pub executing_run: Option<i64>,
}

/// A run's state: executing, or how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RunState {
    /// Fired and running.
    Executing,
    /// Ended successfully.
    Succeeded,
    /// Ended with an error.
    Failed,
    /// Its instance died while it ran; see the error for which and whether it was re-fired.
    Abandoned,
}

impl RunState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Executing => "EXECUTING",
            RunState::Succeeded => "SUCCEEDED",
            RunState::Failed => "FAILED",
            RunState::Abandoned => "ABANDONED",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        Ok(match s {
            "EXECUTING" => RunState::Executing,
            "SUCCEEDED" => RunState::Succeeded,
            "FAILED" => RunState::Failed,
            "ABANDONED" => RunState::Abandoned,
            other => return Err(ModelError::State(other.to_string())),
        })
    }

    /// Whether the run has ended.
    pub fn is_final(self) -> bool {
        self != RunState::Executing
    }
}

/// One fire of a trigger: the run-history row.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// Store-assigned id, increasing.
    pub id: i64,
    /// The job that ran.
    pub job: JobKey,
    /// The trigger that fired.
    pub trigger: TriggerKey,
    /// The scheduled fire time.
    pub scheduled_ms: i64,
    /// When it actually fired.
    pub fired_ms: i64,
    /// The instance that fired it.
    pub instance: String,
    /// Its state.
    pub state: RunState,
    /// When it ended.
    pub ended_ms: Option<i64>,
    /// The error, for FAILED and ABANDONED runs.
    pub error: Option<String>,
    /// Exit code, for kinds that have one.
    pub exit_code: Option<i32>,
    /// The external application id (e.g. Spark's), once known.
    pub application_id: Option<String>,
    /// Where its log is, once known.
    pub log_location: Option<String>,
    /// The run this one re-executes after an instance crash.
    pub recovers_run: Option<i64>,
}

impl Run {
    /// Duration in milliseconds, once ended.
    pub fn duration_ms(&self) -> Option<i64> {
        self.ended_ms.map(|end| end - self.fired_ms)
    }
}

/// How a run ended, reported by its job kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// SUCCEEDED or FAILED.
    pub state: RunState,
    /// The error message for a failure.
    pub error: Option<String>,
    /// Exit code, if any.
    pub exit_code: Option<i32>,
    /// External application id, if any.
    pub application_id: Option<String>,
    /// Log location, if any.
    pub log_location: Option<String>,
}

impl Outcome {
    /// A success.
    pub fn succeeded() -> Self {
        Outcome { state: RunState::Succeeded, error: None, exit_code: None, application_id: None, log_location: None }
    }

    /// A failure with a message.
    pub fn failed(error: impl Into<String>) -> Self {
        Outcome {
            state: RunState::Failed,
            error: Some(error.into()),
            exit_code: None,
            application_id: None,
            log_location: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_refuse_empty_and_control_characters() {
        assert!(JobKey::new("", "a").is_err());
        assert!(TriggerKey::new("g", "a\nb").is_err());
        assert!(JobKey::new("g", "x".repeat(191)).is_err());
        let key = JobKey::in_default_group("nightly").unwrap();
        assert_eq!(key.to_string(), "DEFAULT.nightly");
    }

    #[test]
    fn names_round_trip() {
        for m in [
            MisfireInstruction::Smart,
            MisfireInstruction::FireOnceNow,
            MisfireInstruction::DoNothing,
            MisfireInstruction::Ignore,
        ] {
            assert_eq!(MisfireInstruction::parse(m.as_str()).unwrap(), m);
        }
        for s in ["WAITING", "ACQUIRED", "EXECUTING", "PAUSED", "BLOCKED", "PAUSED_BLOCKED", "ERROR", "COMPLETE"] {
            assert_eq!(TriggerState::parse(s).unwrap().as_str(), s);
        }
        for s in ["EXECUTING", "SUCCEEDED", "FAILED", "ABANDONED"] {
            assert_eq!(RunState::parse(s).unwrap().as_str(), s);
        }
        assert!(MisfireInstruction::parse("sometimes").is_err());
    }

    #[test]
    fn trigger_validation_explains() {
        let job = JobKey::in_default_group("j").unwrap();
        let t =
            Trigger::new(TriggerKey::in_default_group("t").unwrap(), job, Schedule::once(), 10).with_end_ms(Some(5));
        let err = t.validate().unwrap_err().to_string();
        assert!(err.contains("end"), "{err}");
        assert!(Schedule::simple(Some(3), 0).is_err());
        assert!(Schedule::cron("0 0 12 * * ?", "Mars/Olympus").is_err());
        assert!(Schedule::cron("0 0 12 * *", "UTC").is_err());
    }
}
