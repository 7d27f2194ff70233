//! Rows as both backends store them, and their conversion to and from the domain model.

use consort_scheduler::fire::FireStatus;
use consort_scheduler::{
    DataMap, Job, JobKey, MisfireInstruction, Run, RunState, Schedule, StoreError, Trigger, TriggerKey, TriggerState,
    TriggerStatus,
};

/// A trigger's columns, as read.
#[derive(Clone, Debug)]
pub(crate) struct RawTrigger {
    pub group: String,
    pub name: String,
    pub job_group: String,
    pub job_name: String,
    pub description: Option<String>,
    pub schedule_type: String,
    pub cron_expression: Option<String>,
    pub time_zone: Option<String>,
    pub repeat_count: Option<i64>,
    pub repeat_interval_ms: Option<i64>,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub priority: i32,
    pub misfire: String,
    pub data: String,
    pub state: String,
    pub next_fire_ms: Option<i64>,
    pub prev_fire_ms: Option<i64>,
    pub times_triggered: i64,
    pub instance: Option<String>,
}

/// The trigger columns in [`RawTrigger`] order (prefix them with an alias where needed).
pub(crate) const TRIGGER_COLUMNS: &str = "trigger_group, trigger_name, job_group, job_name, description, \
    schedule_type, cron_expression, time_zone, repeat_count, repeat_interval_ms, start_ms, end_ms, priority, \
    misfire, data, state, next_fire_ms, prev_fire_ms, times_triggered, instance_id";

/// `columns` (comma separated) each prefixed with `alias.`.
pub(crate) fn prefixed(alias: &str, columns: &str) -> String {
    columns.split(", ").map(|c| format!("{alias}.{c}")).collect::<Vec<_>>().join(", ")
}

fn corrupt(table: &'static str, message: impl Into<String>) -> StoreError {
    StoreError::Corrupt { table, message: message.into() }
}

pub(crate) fn parse_data(table: &'static str, text: &str) -> Result<DataMap, StoreError> {
    if text == "{}" {
        return Ok(DataMap::new());
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(corrupt(table, "data is not a JSON object")),
        Err(e) => Err(corrupt(table, format!("data is not JSON: {e}"))),
    }
}

pub(crate) fn data_text(data: &DataMap) -> String {
    serde_json::Value::Object(data.clone()).to_string()
}

/// A trigger's schedule columns: type, cron, zone, repeat count (NULL = forever), interval.
pub(crate) type ScheduleColumns = (&'static str, Option<String>, Option<String>, Option<i64>, Option<i64>);

pub(crate) fn schedule_columns(schedule: &Schedule) -> ScheduleColumns {
    match schedule {
        Schedule::Cron { cron, zone } => {
            ("cron", Some(cron.as_str().to_string()), Some(zone.name().to_string()), None, None)
        }
        Schedule::Simple { repeat_count, interval_ms } => {
            ("simple", None, None, repeat_count.map(i64::from), Some(*interval_ms))
        }
    }
}

impl RawTrigger {
    pub fn key(&self) -> Result<TriggerKey, StoreError> {
        Ok(TriggerKey::new(&self.group, &self.name)?)
    }

    pub fn trigger(&self) -> Result<Trigger, StoreError> {
        let schedule = match self.schedule_type.as_str() {
            "cron" => Schedule::cron(
                self.cron_expression.as_deref().unwrap_or_default(),
                self.time_zone.as_deref().unwrap_or("UTC"),
            )?,
            "simple" => Schedule::Simple {
                repeat_count: match self.repeat_count {
                    None => None,
                    Some(n) => Some(u32::try_from(n).map_err(|_| corrupt("consort_triggers", "repeat_count"))?),
                },
                interval_ms: self.repeat_interval_ms.unwrap_or(0),
            },
            other => return Err(corrupt("consort_triggers", format!("unknown schedule type {other:?}"))),
        };
        let mut t = Trigger::new(self.key()?, JobKey::new(&self.job_group, &self.job_name)?, schedule, self.start_ms)
            .with_end_ms(self.end_ms)
            .with_priority(self.priority)
            .with_misfire(MisfireInstruction::parse(&self.misfire)?)
            .with_data(parse_data("consort_triggers", &self.data)?);
        if let Some(d) = &self.description {
            t = t.with_description(d.clone());
        }
        Ok(t)
    }

    pub fn fire_status(&self) -> FireStatus {
        FireStatus { next_fire_ms: self.next_fire_ms, times_triggered: self.times_triggered }
    }

    /// The status shown to users; `job_running` and `executing` derive BLOCKED and EXECUTING.
    pub fn status(&self, job_running: bool, executing: bool) -> Result<TriggerStatus, StoreError> {
        let stored = TriggerState::parse(&self.state)?;
        let state = match stored {
            TriggerState::Waiting | TriggerState::Acquired if job_running => TriggerState::Blocked,
            TriggerState::Paused if job_running => TriggerState::PausedBlocked,
            TriggerState::Waiting if executing => TriggerState::Executing,
            s => s,
        };
        Ok(TriggerStatus {
            trigger: self.trigger()?,
            state,
            next_fire_ms: self.next_fire_ms,
            prev_fire_ms: self.prev_fire_ms,
            times_triggered: self.times_triggered,
            instance: self.instance.clone(),
            error: None,
        })
    }
}

/// A job's columns, as read.
#[derive(Clone, Debug)]
pub(crate) struct RawJob {
    pub group: String,
    pub name: String,
    pub description: Option<String>,
    pub kind: String,
    pub data: String,
    pub durable: bool,
    pub non_concurrent: bool,
    pub requests_recovery: bool,
    pub executing_run: Option<i64>,
}

pub(crate) const JOB_COLUMNS: &str =
    "job_group, job_name, description, kind, data, durable, non_concurrent, requests_recovery, executing_run";

impl RawJob {
    pub fn job(&self) -> Result<Job, StoreError> {
        let mut job = Job::new(JobKey::new(&self.group, &self.name)?, self.kind.clone())
            .with_data(parse_data("consort_jobs", &self.data)?)
            .with_durable(self.durable)
            .with_non_concurrent(self.non_concurrent)
            .with_requests_recovery(self.requests_recovery);
        if let Some(d) = &self.description {
            job = job.with_description(d.clone());
        }
        Ok(job)
    }
}

/// A run's columns, as read.
#[derive(Clone, Debug)]
pub(crate) struct RawRun {
    pub id: i64,
    pub job_group: String,
    pub job_name: String,
    pub trigger_group: String,
    pub trigger_name: String,
    pub scheduled_ms: i64,
    pub fired_ms: i64,
    pub instance: String,
    pub state: String,
    pub ended_ms: Option<i64>,
    pub error: Option<String>,
    pub exit_code: Option<i32>,
    pub application_id: Option<String>,
    pub log_location: Option<String>,
    pub recovers_run: Option<i64>,
}

pub(crate) const RUN_COLUMNS: &str = "id, job_group, job_name, trigger_group, trigger_name, scheduled_ms, fired_ms, \
    instance_id, state, ended_ms, error, exit_code, application_id, log_location, recovers_run";

impl RawRun {
    pub fn run(self) -> Result<Run, StoreError> {
        Ok(Run {
            id: self.id,
            job: JobKey::new(self.job_group, self.job_name)?,
            trigger: TriggerKey::new(self.trigger_group, self.trigger_name)?,
            scheduled_ms: self.scheduled_ms,
            fired_ms: self.fired_ms,
            instance: self.instance,
            state: RunState::parse(&self.state)?,
            ended_ms: self.ended_ms,
            error: self.error,
            exit_code: self.exit_code,
            application_id: self.application_id,
            log_location: self.log_location,
            recovers_run: self.recovers_run,
        })
    }
}
