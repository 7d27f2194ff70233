//! `/v1/scheduler/*`: jobs, triggers, runs and instances of the Quartz-model scheduler.
//!
//! Keys are `{group}/{name}` path segments. Instants are RFC 3339 strings in UTC (also
//! accepted as Unix seconds on input). Definitions are checked here against the documented
//! limits (the `MAX_*` constants, also in the document as `maxLength` and friends), then by
//! the scheduler; its errors come back as 400 (bad definition), 404 (unknown key), 409 (the
//! run cannot do that now) or 503 (database unavailable, retry).
//!
//! Every list is a page: `limit` (default [`DEFAULT_PAGE`], at most [`MAX_PAGE`]) and an
//! opaque `cursor` from the previous page's `next_cursor`. Pages are keyset pages (after the
//! last key, or below the last run id), so they stay stable while rows are added or deleted.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use consort_scheduler::{
    DataMap, Instance, Job, JobFilter, JobKey, JobStatus, MisfireInstruction, Run, RunActionError, RunFilter, RunState,
    Schedule, SchedulerError, Selector, StoreError, Trigger, TriggerFilter, TriggerKey, TriggerState, TriggerStatus,
};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::cron_api::{MAX_ZONE_LEN, parse_cron};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody, OptionalApiJson};

/// Items in a page when `limit` is not given.
pub const DEFAULT_PAGE: usize = 100;
/// The largest `limit` of a page.
pub const MAX_PAGE: usize = 1000;
/// The longest description of a job or trigger, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 2000;
/// The largest data map (a job's or a trigger's parameters, e.g. a `spark` job's `args`),
/// in bytes of JSON. Larger inputs belong in storage, passed by location.
pub const MAX_DATA_BYTES: usize = 64 << 10;
/// The deepest nesting of a data map (an object in an object ... counts one per level).
pub const MAX_DATA_DEPTH: usize = 32;
/// The most triggers given with one job.
pub const MAX_TRIGGERS_PER_JOB: usize = 100;
/// The longest job kind name, in characters.
pub const MAX_KIND_LEN: usize = 64;
/// The longest simple-trigger interval: about ten years, in milliseconds.
pub const MAX_INTERVAL_MS: i64 = 10 * 366 * 24 * 3_600_000;
/// The most bytes of a run's log one request returns.
pub const MAX_LOG_BYTES: usize = 16 << 20;
/// The most triggers shown with a job (`GET /v1/scheduler/triggers?job=…` pages through all).
const TRIGGERS_WITH_JOB: usize = 100;
/// The most runs shown with a job (`GET /v1/scheduler/runs?job=…` pages through all).
const RUNS_WITH_JOB: usize = 20;

/// An instant (epoch ms) as RFC 3339; the number itself if out of range.
pub(crate) fn time(ms: i64) -> String {
    Timestamp::from_millisecond(ms).map(|t| t.to_string()).unwrap_or_else(|_| ms.to_string())
}

fn parse_time(param: impl Into<String>, text: &str) -> Result<i64, ApiError> {
    crate::parse_instant(text).map(|t| t.as_millisecond()).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_instant",
            param.into(),
            format!("`{text}` is not an instant; give RFC 3339 (2026-01-01T00:00:00Z) or Unix seconds"),
        )
    })
}

impl From<SchedulerError> for ApiError {
    fn from(e: SchedulerError) -> Self {
        match e {
            SchedulerError::Store(store) => store.into(),
            SchedulerError::UnknownKind { .. } => ApiError::bad_request("unknown_kind", "kind", e.to_string()),
            SchedulerError::InvalidData { .. } => ApiError::bad_request("invalid_data", "data", e.to_string()),
            SchedulerError::Model(_) => ApiError::bad_request("invalid_definition", "body", e.to_string()),
            SchedulerError::Driver(_) | SchedulerError::InstanceIdInUse { .. } => {
                ApiError::Unavailable { message: e.to_string() }
            }
            SchedulerError::RunNotFound(_) => ApiError::NotFound { message: e.to_string() },
            SchedulerError::RunAction { error: RunActionError::Unavailable(_), .. } => {
                ApiError::Unavailable { message: e.to_string() }
            }
            SchedulerError::RunAction { .. } => ApiError::Conflict { message: e.to_string() },
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::JobNotFound(_) | StoreError::TriggerNotFound(_) => {
                ApiError::NotFound { message: e.to_string() }
            }
            StoreError::JobExists(_) | StoreError::TriggerExists(_) => ApiError::Conflict { message: e.to_string() },
            StoreError::NeverFires(_) | StoreError::NotDurable(_) | StoreError::Model(_) => {
                ApiError::bad_request("invalid_definition", "body", e.to_string())
            }
            _ if e.is_transient() => {
                ApiError::Unavailable { message: "the scheduler's database is unavailable; retry shortly".into() }
            }
            _ => ApiError::Internal { cause: e.to_string() },
        }
    }
}

pub(crate) fn job_key(group: &str, name: &str) -> Result<JobKey, ApiError> {
    JobKey::new(group, name).map_err(|e| ApiError::bad_request("invalid_key", "path", e.to_string()))
}

pub(crate) fn trigger_key(group: &str, name: &str) -> Result<TriggerKey, ApiError> {
    TriggerKey::new(group, name).map_err(|e| ApiError::bad_request("invalid_key", "path", e.to_string()))
}

/// Checks a group given on its own (a filter, a group to pause) with the key rules.
fn group(param: &'static str, text: &str) -> Result<String, ApiError> {
    JobKey::new(text, "_").map_err(|e| ApiError::bad_request("invalid_key", param, e.to_string()))?;
    Ok(text.to_string())
}

/// `"group.name"` (the last dot separates), as in `?job=etl.nightly`.
fn dotted_key(param: &'static str, text: &str) -> Result<(String, String), ApiError> {
    let (group, name) = text.rsplit_once('.').unwrap_or(("DEFAULT", text));
    JobKey::new(group, name).map_err(|e| {
        ApiError::bad_request("invalid_key", param, format!("{e} (`{param}` is GROUP.NAME, or NAME in group DEFAULT)"))
    })?;
    Ok((group.to_string(), name.to_string()))
}

fn check_text(param: String, text: &str, max: usize) -> Result<(), ApiError> {
    let length = text.chars().count();
    if length > max {
        return Err(ApiError::bad_request(
            "too_long",
            param.clone(),
            format!("`{param}` has {length} characters; the limit is {max}: shorten it"),
        ));
    }
    if text.contains('\0') {
        return Err(ApiError::bad_request(
            "invalid_text",
            param.clone(),
            format!("`{param}` contains a NUL character: remove it"),
        ));
    }
    Ok(())
}

/// A kind name: 1 to [`MAX_KIND_LEN`] of `A-Z a-z 0-9 _ . -`.
fn check_kind(param: &'static str, kind: &str) -> Result<(), ApiError> {
    let ok = !kind.is_empty()
        && kind.chars().count() <= MAX_KIND_LEN
        && kind.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        return Ok(());
    }
    Err(ApiError::bad_request(
        "invalid_kind",
        param,
        format!("`{param}` must be 1 to {MAX_KIND_LEN} of A-Z, a-z, 0-9, `_`, `.`, `-`, such as `noop` or `spark`"),
    ))
}

fn depth(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// A data map within [`MAX_DATA_BYTES`] and [`MAX_DATA_DEPTH`].
fn check_data(param: String, data: &DataMap) -> Result<(), ApiError> {
    let size = serde_json::to_vec(data).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > MAX_DATA_BYTES {
        return Err(ApiError::bad_request(
            "data_too_large",
            param.clone(),
            format!(
                "`{param}` is {size} bytes as JSON; the limit is {MAX_DATA_BYTES}: keep large inputs in storage and \
                 pass their location"
            ),
        ));
    }
    let levels = 1 + data.values().map(depth).max().unwrap_or(0);
    if levels > MAX_DATA_DEPTH {
        return Err(ApiError::bad_request(
            "data_too_deep",
            param.clone(),
            format!("`{param}` is nested {levels} levels deep; the limit is {MAX_DATA_DEPTH}: flatten it"),
        ));
    }
    Ok(())
}

/// An integer field: JSON Schema counts `580.0` as the integer 580, so it is read as one.
pub(crate) fn integer<'de, D: serde::Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<T, D::Error> {
    use serde::de::Error;
    let number = serde_json::Number::deserialize(d)?;
    let whole = match (number.as_i64(), number.as_f64()) {
        (Some(n), _) => Some(n),
        (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(f as i64),
        _ => None,
    };
    whole
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| D::Error::custom(format!("{number} is not a whole number in range")))
}

pub(crate) fn optional_integer<'de, D: serde::Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<Option<T>, D::Error> {
    #[derive(Deserialize)]
    struct Whole<T: TryFrom<i64>>(#[serde(deserialize_with = "integer")] T);
    Ok(Option::<Whole<T>>::deserialize(d)?.map(|w| w.0))
}

// ---- cursors -------------------------------------------------------------------

/// An opaque cursor: the list it belongs to and the last key of the page, base64url.
pub(crate) fn encode_cursor(list: &str, parts: &[&str]) -> String {
    URL_SAFE_NO_PAD.encode(format!("{list}\n{}", parts.join("\n")))
}

pub(crate) fn bad_cursor(list: &str) -> ApiError {
    ApiError::bad_request(
        "invalid_cursor",
        "cursor",
        format!(
            "`cursor` is not one this list issued: pass `next_cursor` of the previous {list} page, or leave it out"
        ),
    )
}

pub(crate) fn decode_cursor(list: &str, parts: usize, text: &str) -> Result<Vec<String>, ApiError> {
    let bad = || bad_cursor(list);
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let mut fields = text.split('\n').map(str::to_string);
    if fields.next().as_deref() != Some(list) {
        return Err(bad());
    }
    let fields: Vec<String> = fields.collect();
    if fields.len() != parts || fields.iter().any(String::is_empty) {
        return Err(bad());
    }
    Ok(fields)
}

pub(crate) fn page_limit(limit: Option<u64>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE as u64).contains(&n) => Ok(n as usize),
        Some(n) => Err(ApiError::bad_request(
            "invalid_limit",
            "limit",
            format!("`limit` is {n}: give 1 to {MAX_PAGE} (default {DEFAULT_PAGE}) and follow `next_cursor` for more"),
        )),
    }
}

/// Cuts the one extra row fetched to tell whether another page follows.
pub(crate) fn paginate<T>(mut rows: Vec<T>, limit: usize, cursor: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(cursor);
        (rows, next)
    } else {
        (rows, None)
    }
}

// ---- request shapes ------------------------------------------------------------

/// The path of a job or trigger: its group and name.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct KeyPath {
    /// The group (1 to 190 characters, no control characters).
    #[param(min_length = 1, max_length = 190, pattern = r"^[^\u0000-\u001F\u007F-\u009F]+$", example = "etl")]
    pub(crate) group: String,
    /// The name (1 to 190 characters, no control characters).
    #[param(min_length = 1, max_length = 190, pattern = r"^[^\u0000-\u001F\u007F-\u009F]+$", example = "nightly")]
    pub(crate) name: String,
}

/// The path of a group.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct GroupPath {
    /// The group (1 to 190 characters, no control characters).
    #[param(min_length = 1, max_length = 190, pattern = r"^[^\u0000-\u001F\u007F-\u009F]+$", example = "etl")]
    group: String,
}

/// The path of a run.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct RunPath {
    /// The run's id.
    #[param(example = 1)]
    id: i64,
}

/// A job's definition: what a fire does, and its triggers. A job given without triggers must
/// be `durable`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = JobDefinition)]
pub(crate) struct JobBody {
    /// What a fire does: `noop`, `command` (when enabled on the server), `spark`.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9_.-]+$", example = "noop")]
    kind: String,
    /// Free text, at most 2000 characters.
    #[schema(max_length = 2000, pattern = r"^[^\u0000]*$")]
    description: Option<String>,
    /// The kind's parameters (e.g. a `command` job's `program` and `args`): at most 64 KiB as
    /// JSON, nested at most 32 levels.
    #[serde(default)]
    #[schema(value_type = Object)]
    data: DataMap,
    /// Keep the job when it has no trigger (a job without triggers must be durable).
    #[serde(default)]
    durable: bool,
    /// Never run two fires of this job at once.
    #[serde(default)]
    non_concurrent: bool,
    /// Re-fire a run whose instance died.
    #[serde(default)]
    requests_recovery: bool,
    /// Triggers to create or replace with the job, at most 100.
    #[serde(default)]
    #[schema(max_items = 100)]
    triggers: Vec<JobTriggerBody>,
}

/// Declares a trigger definition: the fields given, then the schedule and timing fields every
/// trigger definition shares (`deny_unknown_fields` rules out `#[serde(flatten)]`).
macro_rules! trigger_definition {
    ($(#[$meta:meta])* $name:ident { $($fields:tt)* }) => {
        #[derive(Debug, Deserialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        $(#[$meta])*
        pub(crate) struct $name {
            $($fields)*
            /// Free text, at most 2000 characters.
            #[schema(max_length = 2000, pattern = r"^[^\u0000]*$")]
            description: Option<String>,
            /// A Quartz cron expression (at most 256 characters), read in `timezone`.
            #[schema(min_length = 1, max_length = 256, format = "quartz-cron", example = "0 0 2 * * ?")]
            cron: Option<String>,
            /// The IANA time zone of `cron` (default UTC); only with `cron`.
            #[schema(min_length = 1, max_length = 64, format = "iana-time-zone", example = "Europe/Rome")]
            timezone: Option<String>,
            /// A simple repeat.
            simple: Option<SimpleBody>,
            /// Fire once, at the start time.
            #[serde(default)]
            once: bool,
            /// When the schedule starts (RFC 3339, or Unix seconds). Default: now.
            #[schema(schema_with = crate::cron_api::nullable_instant_schema)]
            start_time: Option<String>,
            /// When the schedule ends (after `start_time`).
            #[schema(schema_with = crate::cron_api::nullable_instant_schema)]
            end_time: Option<String>,
            /// Among triggers due at the same instant, higher fires first (default 5).
            #[serde(default, deserialize_with = "optional_integer")]
            priority: Option<i32>,
            /// What to do when the trigger missed its fire time (default `smart`).
            misfire: Option<MisfireName>,
            /// Parameters overlaid on the job's data for this trigger's fires: at most 64 KiB as
            /// JSON, nested at most 32 levels.
            #[serde(default)]
            #[schema(value_type = Object)]
            data: DataMap,
        }

        impl $name {
            fn schedule(&self) -> ScheduleFields<'_> {
                ScheduleFields {
                    description: self.description.as_deref(),
                    cron: self.cron.as_deref(),
                    timezone: self.timezone.as_deref(),
                    simple: self.simple.as_ref(),
                    once: self.once,
                    start_time: self.start_time.as_deref(),
                    end_time: self.end_time.as_deref(),
                    priority: self.priority,
                    misfire: self.misfire,
                    data: &self.data,
                }
            }
        }
    };
}

trigger_definition! {
    /// A trigger given with its job. Exactly one schedule: `cron` (with `timezone`), `simple`,
    /// or `once: true`. The schedule must fire at least once between `start_time` and
    /// `end_time`.
    #[schema(as = JobTrigger)]
    JobTriggerBody {
        /// The trigger's name.
        #[schema(min_length = 1, max_length = 190, pattern = r"^[^\u0000-\u001F\u007F-\u009F]+$")]
        name: String,
        /// The trigger's group; the job's group if left out.
        #[schema(min_length = 1, max_length = 190, pattern = r"^[^\u0000-\u001F\u007F-\u009F]+$")]
        group: Option<String>,
    }
}

trigger_definition! {
    /// A trigger of an existing job, created on its own. Exactly one schedule: `cron` (with
    /// `timezone`), `simple`, or `once: true`. The schedule must fire at least once between
    /// `start_time` and `end_time`.
    #[schema(as = TriggerDefinition)]
    TriggerBody {
        /// The job the trigger fires.
        job: KeyBody,
    }
}

/// The schedule and timing fields of a trigger definition.
struct ScheduleFields<'a> {
    description: Option<&'a str>,
    cron: Option<&'a str>,
    timezone: Option<&'a str>,
    simple: Option<&'a SimpleBody>,
    once: bool,
    start_time: Option<&'a str>,
    end_time: Option<&'a str>,
    priority: Option<i32>,
    misfire: Option<MisfireName>,
    data: &'a DataMap,
}

/// A simple repeat: every `interval_ms`, `repeat_count` times after the first fire.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SimpleBody {
    /// Repeats after the first fire; absent or null repeats forever.
    #[serde(default, deserialize_with = "optional_integer")]
    #[schema(minimum = 0, maximum = 4_294_967_295_i64)]
    repeat_count: Option<u32>,
    /// Milliseconds between fires, 1 to about ten years.
    #[serde(deserialize_with = "integer")]
    #[schema(minimum = 1, maximum = 316_224_000_000_i64)]
    interval_ms: i64,
}

/// The key of a job or trigger.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Key)]
pub(crate) struct KeyBody {
    /// The group.
    #[schema(min_length = 1, max_length = 190, pattern = r"^[^\u0000-\u001F\u007F-\u009F]+$")]
    group: String,
    /// The name.
    #[schema(min_length = 1, max_length = 190, pattern = r"^[^\u0000-\u001F\u007F-\u009F]+$")]
    name: String,
}

impl KeyBody {
    pub(crate) fn of(group: &str, name: &str) -> Self {
        KeyBody { group: group.to_string(), name: name.to_string() }
    }
}

/// Quartz's misfire instructions.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
#[schema(as = Misfire)]
pub(crate) enum MisfireName {
    /// The schedule's own choice (Quartz's smart policy).
    Smart,
    /// Fire once now, then continue the schedule.
    FireOnceNow,
    /// Skip the missed fires.
    DoNothing,
    /// Fire every missed fire.
    Ignore,
}

impl MisfireName {
    fn of(m: MisfireInstruction) -> Self {
        match m.as_str() {
            "fire-once-now" => MisfireName::FireOnceNow,
            "do-nothing" => MisfireName::DoNothing,
            "ignore" => MisfireName::Ignore,
            _ => MisfireName::Smart,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            MisfireName::Smart => "smart",
            MisfireName::FireOnceNow => "fire-once-now",
            MisfireName::DoNothing => "do-nothing",
            MisfireName::Ignore => "ignore",
        }
    }
}

/// A trigger's state, as Quartz names it.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum TriggerStateName {
    /// Waiting for its next fire time.
    Waiting,
    /// Taken by an instance that will fire it.
    Acquired,
    /// Fired; its run is executing.
    Executing,
    /// Paused; does not fire.
    Paused,
    /// Waiting, but its non-concurrent job is running.
    Blocked,
    /// Paused while its non-concurrent job is running.
    PausedBlocked,
    /// Failed permanently; does not fire until resumed.
    Error,
    /// Will never fire again.
    Complete,
}

impl TriggerStateName {
    pub(crate) fn of(s: TriggerState) -> Self {
        match s {
            TriggerState::Waiting => TriggerStateName::Waiting,
            TriggerState::Acquired => TriggerStateName::Acquired,
            TriggerState::Executing => TriggerStateName::Executing,
            TriggerState::Paused => TriggerStateName::Paused,
            TriggerState::Blocked => TriggerStateName::Blocked,
            TriggerState::PausedBlocked => TriggerStateName::PausedBlocked,
            TriggerState::Error => TriggerStateName::Error,
            TriggerState::Complete => TriggerStateName::Complete,
        }
    }

    fn domain(self) -> TriggerState {
        match self {
            TriggerStateName::Waiting => TriggerState::Waiting,
            TriggerStateName::Acquired => TriggerState::Acquired,
            TriggerStateName::Executing => TriggerState::Executing,
            TriggerStateName::Paused => TriggerState::Paused,
            TriggerStateName::Blocked => TriggerState::Blocked,
            TriggerStateName::PausedBlocked => TriggerState::PausedBlocked,
            TriggerStateName::Error => TriggerState::Error,
            TriggerStateName::Complete => TriggerState::Complete,
        }
    }
}

/// A run's state.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum RunStateName {
    /// Running now.
    Executing,
    /// Ended well.
    Succeeded,
    /// Ended badly (see `error` and `exit_code`).
    Failed,
    /// Its instance died while it ran.
    Abandoned,
}

impl RunStateName {
    fn of(s: RunState) -> Self {
        match s {
            RunState::Executing => RunStateName::Executing,
            RunState::Succeeded => RunStateName::Succeeded,
            RunState::Failed => RunStateName::Failed,
            RunState::Abandoned => RunStateName::Abandoned,
        }
    }

    fn domain(self) -> RunState {
        match self {
            RunStateName::Executing => RunState::Executing,
            RunStateName::Succeeded => RunState::Succeeded,
            RunStateName::Failed => RunState::Failed,
            RunStateName::Abandoned => RunState::Abandoned,
        }
    }
}

fn build_trigger(
    fields: ScheduleFields<'_>,
    param: &str,
    key: TriggerKey,
    job: JobKey,
    now_ms: i64,
) -> Result<Trigger, ApiError> {
    let at = |field: &str| if param.is_empty() { field.to_string() } else { format!("{param}.{field}") };
    let label = key.to_string();
    let bad = |field: &str, message: String| {
        ApiError::bad_request("invalid_definition", at(field), format!("trigger {label}: {message}"))
    };
    if let Some(d) = fields.description {
        check_text(at("description"), d, MAX_DESCRIPTION_LEN)?;
    }
    check_data(at("data"), fields.data)?;
    if fields.timezone.is_some() && fields.cron.is_none() {
        return Err(bad(
            "timezone",
            "\"timezone\" is read only with \"cron\": drop it, or give a cron expression".into(),
        ));
    }
    let schedule = match (fields.cron, fields.simple, fields.once) {
        (Some(expr), None, false) => {
            let cron = parse_cron(&at("cron"), expr)?;
            let zone = fields.timezone.unwrap_or("UTC");
            check_text(at("timezone"), zone, MAX_ZONE_LEN)?;
            Schedule::cron(cron.as_str(), zone).map_err(|e| bad("timezone", e.to_string()))?
        }
        (None, Some(s), false) => {
            if !(1..=MAX_INTERVAL_MS).contains(&s.interval_ms) {
                return Err(bad(
                    "simple.interval_ms",
                    format!("`interval_ms` is {}: give 1 to {MAX_INTERVAL_MS} milliseconds", s.interval_ms),
                ));
            }
            Schedule::simple(s.repeat_count, s.interval_ms).map_err(|e| bad("simple", e.to_string()))?
        }
        (None, None, true) => Schedule::once(),
        _ => {
            return Err(bad(
                "cron",
                "give exactly one schedule: \"cron\" (with \"timezone\"), \"simple\" or \"once\": true".into(),
            ));
        }
    };
    let start_ms = match fields.start_time {
        Some(text) => parse_time(at("start_time"), text)?,
        None => now_ms,
    };
    let end_ms = fields.end_time.map(|t| parse_time(at("end_time"), t)).transpose()?;
    let mut trigger = Trigger::new(key, job, schedule, start_ms).with_end_ms(end_ms).with_data(fields.data.clone());
    if let Some(d) = fields.description {
        trigger = trigger.with_description(d);
    }
    if let Some(p) = fields.priority {
        trigger = trigger.with_priority(p);
    }
    if let Some(m) = fields.misfire {
        trigger =
            trigger.with_misfire(MisfireInstruction::parse(m.as_str()).map_err(|e| bad("misfire", e.to_string()))?);
    }
    trigger.validate().map_err(|e| bad("end_time", e.to_string()))?;
    Ok(trigger)
}

// ---- response shapes -----------------------------------------------------------

/// A trigger's schedule.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum ScheduleView {
    /// A cron schedule.
    Cron {
        /// The Quartz cron expression.
        cron: String,
        /// Its IANA time zone.
        timezone: String,
        /// The expression in English.
        explanation: String,
    },
    /// A simple repeat (a one-shot trigger repeats 0 times).
    Simple {
        /// The repeat.
        simple: SimpleView,
    },
}

impl ScheduleView {
    /// A schedule as shown: a cron expression with its zone and its English explanation, or
    /// a simple repeat.
    pub(crate) fn of(schedule: &Schedule) -> Self {
        match schedule {
            Schedule::Cron { cron, zone } => ScheduleView::Cron {
                cron: cron.as_str().to_string(),
                timezone: zone.name().to_string(),
                explanation: cron.explain(),
            },
            Schedule::Simple { repeat_count, interval_ms } => {
                ScheduleView::Simple { simple: SimpleView { repeat_count: *repeat_count, interval_ms: *interval_ms } }
            }
        }
    }
}

/// A simple repeat.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SimpleView {
    /// Repeats after the first fire; null repeats forever.
    repeat_count: Option<u32>,
    /// Milliseconds between fires.
    interval_ms: i64,
}

/// A trigger with its state and fire times.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Trigger)]
pub(crate) struct TriggerView {
    /// The trigger's group.
    group: String,
    /// The trigger's name.
    name: String,
    /// The job it fires.
    job: KeyBody,
    /// Free text.
    description: Option<String>,
    /// When it fires.
    schedule: ScheduleView,
    /// Its state.
    state: TriggerStateName,
    /// Its next fire, if any.
    #[schema(format = DateTime)]
    next_fire_time: Option<String>,
    /// Its previous fire, if any.
    #[schema(format = DateTime)]
    previous_fire_time: Option<String>,
    /// How often it fired.
    times_triggered: i64,
    /// The instance that acquired it, while acquired.
    instance: Option<String>,
    /// Why it is in ERROR (e.g. its row or its job's row could not be read, or its job's
    /// kind is unknown), while in ERROR; resuming it clears this and tries again.
    error: Option<String>,
    /// When its schedule starts.
    #[schema(format = DateTime)]
    start_time: String,
    /// When its schedule ends.
    #[schema(format = DateTime)]
    end_time: Option<String>,
    /// Its priority.
    priority: i32,
    /// Its misfire instruction.
    misfire: MisfireName,
    /// Its data map.
    #[schema(value_type = Object)]
    data: DataMap,
}

impl TriggerView {
    fn of(t: &TriggerStatus) -> Self {
        let tr = &t.trigger;
        let schedule = ScheduleView::of(tr.schedule());
        TriggerView {
            group: tr.key().group().to_string(),
            name: tr.key().name().to_string(),
            job: KeyBody::of(tr.job().group(), tr.job().name()),
            description: tr.description().map(str::to_string),
            schedule,
            state: TriggerStateName::of(t.state),
            next_fire_time: t.next_fire_ms.map(time),
            previous_fire_time: t.prev_fire_ms.map(time),
            times_triggered: t.times_triggered,
            instance: t.instance.clone(),
            error: t.error.clone(),
            start_time: time(tr.start_ms()),
            end_time: tr.end_ms().map(time),
            priority: tr.priority(),
            misfire: MisfireName::of(tr.misfire()),
            data: tr.data().clone(),
        }
    }
}

/// A job with its latest run.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Job)]
pub(crate) struct JobView {
    /// The job's group.
    group: String,
    /// The job's name.
    name: String,
    /// What a fire does.
    kind: String,
    /// Free text.
    description: Option<String>,
    /// The kind's parameters.
    #[schema(value_type = Object)]
    data: DataMap,
    /// Kept without triggers.
    durable: bool,
    /// Never runs two fires at once.
    non_concurrent: bool,
    /// A run whose instance died is re-fired.
    requests_recovery: bool,
    /// The state of its latest run.
    last_run_state: Option<RunStateName>,
    /// Its latest run's id.
    last_run_id: Option<i64>,
    /// The run executing now (non-concurrent jobs).
    executing_run: Option<i64>,
}

impl JobView {
    fn of(j: &JobStatus) -> Self {
        let job = &j.job;
        JobView {
            group: job.key().group().to_string(),
            name: job.key().name().to_string(),
            kind: job.kind().to_string(),
            description: job.description().map(str::to_string),
            data: job.data().clone(),
            durable: job.durable(),
            non_concurrent: job.non_concurrent(),
            requests_recovery: job.requests_recovery(),
            last_run_state: j.last_run_state.map(RunStateName::of),
            last_run_id: j.last_run_id,
            executing_run: j.executing_run,
        }
    }
}

/// A job with its triggers and recent runs.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobDetail {
    #[serde(flatten)]
    job: JobView,
    /// Its triggers (at most 100; `GET /v1/scheduler/triggers?job=` lists all).
    triggers: Vec<TriggerView>,
    /// Its latest runs, newest first (at most 20; `GET /v1/scheduler/runs?job=` lists all).
    recent_runs: Vec<RunView>,
}

/// One fire of a job.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Run)]
pub(crate) struct RunView {
    /// The run's id.
    id: i64,
    /// Its job.
    job: KeyBody,
    /// The trigger that fired it.
    trigger: KeyBody,
    /// When it was due.
    #[schema(format = DateTime)]
    scheduled_time: String,
    /// When it fired.
    #[schema(format = DateTime)]
    fired_time: String,
    /// When it ended.
    #[schema(format = DateTime)]
    ended_time: Option<String>,
    /// How long it ran.
    duration_ms: Option<i64>,
    /// The instance that runs it.
    instance: String,
    /// Its state.
    state: RunStateName,
    /// Why it failed.
    error: Option<String>,
    /// The exit code of its work, when it has one.
    exit_code: Option<i32>,
    /// The Spark application id, for Spark jobs.
    application_id: Option<String>,
    /// Where its log is.
    log_location: Option<String>,
    /// The run this one recovers, for recovery fires.
    recovers_run: Option<i64>,
    /// Spark's web UI for the run's application, where its backend has one: YARN's tracking
    /// URL, the standalone master's application page, Livy's, the local driver's UI while it
    /// runs. Only `GET /v1/scheduler/runs/{id}` looks it up (it may ask the backend); lists
    /// leave it null.
    spark_ui_url: Option<String>,
}

/// How long a run's answer waits for its backend to say where Spark's UI is.
const UI_LOOKUP: std::time::Duration = std::time::Duration::from_secs(2);

impl RunView {
    fn of(r: &Run) -> Self {
        RunView {
            id: r.id,
            job: KeyBody::of(r.job.group(), r.job.name()),
            trigger: KeyBody::of(r.trigger.group(), r.trigger.name()),
            scheduled_time: time(r.scheduled_ms),
            fired_time: time(r.fired_ms),
            ended_time: r.ended_ms.map(time),
            duration_ms: r.duration_ms(),
            instance: r.instance.clone(),
            state: RunStateName::of(r.state),
            error: r.error.clone(),
            exit_code: r.exit_code,
            application_id: r.application_id.clone(),
            log_location: r.log_location.clone(),
            recovers_run: r.recovers_run,
            spark_ui_url: None,
        }
    }
}

/// A scheduler instance that checked in.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Instance)]
pub(crate) struct InstanceView {
    /// Its id.
    id: String,
    /// Its latest check-in.
    #[schema(format = DateTime)]
    last_checkin: String,
    /// How often it checks in.
    checkin_interval_ms: i64,
}

impl InstanceView {
    fn of(i: &Instance) -> Self {
        InstanceView {
            id: i.id.clone(),
            last_checkin: time(i.last_checkin_ms),
            checkin_interval_ms: i.checkin_interval_ms,
        }
    }
}

/// A page of jobs.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobPage {
    /// The jobs, in key order.
    items: Vec<JobView>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// A page of triggers.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TriggerPage {
    /// The triggers, in key order.
    items: Vec<TriggerView>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// A page of runs.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunPage {
    /// The runs, newest first.
    items: Vec<RunView>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// A page of the cluster's instances, with this instance's counters.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InstancePage {
    /// The instances, in id order.
    items: Vec<InstanceView>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
    /// The id of the instance that answered.
    this_instance: String,
    /// Runs fired by this instance since it started.
    fired_here: u64,
    /// Driver cycles run.
    cycles: u64,
    /// Driver cycles that failed and were retried.
    failed_cycles: u64,
    /// Failed instances this one recovered.
    recoveries: u64,
}

/// How many triggers a pause or resume changed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TriggersChanged {
    /// Triggers that changed state.
    triggers_changed: usize,
}

/// The one-shot trigger a fire-now created.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Fired {
    /// Its key; the run shows up under it.
    trigger: KeyBody,
}

/// Extra data for a fire-now.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FireBody {
    /// Parameters overlaid on the job's data for this fire: at most 64 KiB as JSON, nested at
    /// most 32 levels.
    #[serde(default)]
    #[schema(value_type = Object)]
    data: DataMap,
}

/// The end of a run's log.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunLog {
    /// The run.
    run: i64,
    /// The most bytes asked for.
    max_bytes: usize,
    /// The log's last `max_bytes` bytes.
    log: String,
}

/// What a purge deleted.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Purged {
    /// Runs deleted.
    deleted: u64,
    /// The cutoff: ended runs fired before it were deleted, except each job's latest run.
    #[schema(example = "2026-01-01T00:00:00Z")]
    fired_before: String,
}

/// A kill was requested.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KillRequested {
    /// The run.
    run: i64,
    /// Always `requested`: the run ends once its work has stopped.
    #[schema(example = "requested")]
    kill: String,
}

// ---- queries -------------------------------------------------------------------

/// Query of `GET /v1/scheduler/jobs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct JobsQuery {
    /// Only jobs of this group.
    #[param(min_length = 1, max_length = 190, pattern = r"^[^\u0000-\u001F\u007F-\u009F]+$")]
    group: Option<String>,
    /// Only jobs of this kind.
    #[param(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9_.-]+$", example = "noop")]
    kind: Option<String>,
    /// Page size.
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<u64>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1, max_length = 1024)]
    cursor: Option<String>,
}

/// Query of `GET /v1/scheduler/triggers`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TriggersQuery {
    /// Only triggers of this trigger group.
    #[param(min_length = 1, max_length = 190, pattern = r"^[^\u0000-\u001F\u007F-\u009F]+$")]
    group: Option<String>,
    /// Only triggers of this job: GROUP.NAME (or NAME in group DEFAULT).
    #[param(
        min_length = 1,
        max_length = 381,
        pattern = r"^(?:[^\u0000-\u001F\u007F-\u009F]{1,190}\.)?[^\u0000-\u001F\u007F-\u009F.]{1,190}$",
        example = "etl.nightly"
    )]
    job: Option<String>,
    /// Only triggers in this state.
    #[param(inline)]
    state: Option<TriggerStateName>,
    /// Page size.
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<u64>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1, max_length = 1024)]
    cursor: Option<String>,
}

/// Query of `DELETE /v1/scheduler/runs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PurgeQuery {
    fired_before: String,
}

// Written by hand: the derive drops `required` and the description of a `schema_with` field,
// and a cutoff documented as optional invites a request without one (schemathesis sent it).
impl IntoParams for PurgeQuery {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        vec![
            ParameterBuilder::new()
                .name("fired_before")
                .parameter_in(ParameterIn::Query)
                .required(utoipa::openapi::Required::True)
                .description(Some(
                    "Delete the ended runs fired before this instant (RFC 3339; Unix seconds are accepted too).",
                ))
                .schema(Some(crate::cron_api::instant_schema()))
                .build(),
        ]
    }
}

/// Query of `GET /v1/scheduler/runs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct RunsQuery {
    /// Only runs of this job: GROUP.NAME (or NAME in group DEFAULT).
    #[param(
        min_length = 1,
        max_length = 381,
        pattern = r"^(?:[^\u0000-\u001F\u007F-\u009F]{1,190}\.)?[^\u0000-\u001F\u007F-\u009F.]{1,190}$",
        example = "etl.nightly"
    )]
    job: Option<String>,
    /// Only runs fired by this trigger: GROUP.NAME.
    #[param(
        min_length = 1,
        max_length = 381,
        pattern = r"^(?:[^\u0000-\u001F\u007F-\u009F]{1,190}\.)?[^\u0000-\u001F\u007F-\u009F.]{1,190}$"
    )]
    trigger: Option<String>,
    /// Only runs in this state.
    #[param(inline)]
    state: Option<RunStateName>,
    /// Only runs fired after this instant (RFC 3339; Unix seconds are accepted too).
    #[param(required = false, schema_with = crate::cron_api::instant_schema)]
    fired_after: Option<String>,
    /// Only runs fired before this instant.
    #[param(required = false, schema_with = crate::cron_api::instant_schema)]
    fired_before: Option<String>,
    /// Page size.
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<u64>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1, max_length = 1024)]
    cursor: Option<String>,
}

/// Query of `GET /v1/scheduler/instances`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct InstancesQuery {
    /// Page size.
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<u64>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1, max_length = 1024)]
    cursor: Option<String>,
}

/// Query of `GET /v1/scheduler/runs/{id}/log`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct LogQuery {
    /// At most this many bytes, from the end.
    #[param(minimum = 1, maximum = 16_777_216, default = 65536)]
    max_bytes: Option<u64>,
}

// ---- handlers ------------------------------------------------------------------

/// List jobs with their last run state, a page at a time in key order.
#[utoipa::path(
    get,
    path = "/v1/scheduler/jobs",
    operation_id = "listJobs",
    tag = "scheduler",
    params(JobsQuery),
    responses(
        (status = 200, description = "A page of jobs.", body = JobPage),
        (status = 400, description = "A bad filter, limit or cursor; the message names it.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn list_jobs(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<JobsQuery>,
) -> Result<Json<JobPage>, ApiError> {
    let limit = page_limit(q.limit)?;
    let group_filter = q.group.as_deref().map(|g| group("group", g)).transpose()?;
    if let Some(kind) = &q.kind {
        check_kind("kind", kind)?;
    }
    let after = match &q.cursor {
        Some(c) => {
            let parts = decode_cursor("jobs", 2, c)?;
            Some(JobKey::new(&parts[0], &parts[1]).map_err(|_| bad_cursor("jobs"))?)
        }
        None => None,
    };
    let filter = JobFilter { group: group_filter, kind: q.kind, after, limit: Some(limit + 1) };
    let jobs = s.scheduler.list_jobs(&filter).await?;
    let (jobs, next_cursor) =
        paginate(jobs, limit, |j| encode_cursor("jobs", &[j.job.key().group(), j.job.key().name()]));
    Ok(Json(JobPage { items: jobs.iter().map(JobView::of).collect(), next_cursor }))
}

async fn job_detail(s: &AppState, key: &JobKey) -> Result<JobDetail, ApiError> {
    // One snapshot: the job's last state is that of the newest run listed.
    let snapshot = s.scheduler.job_snapshot(key, TRIGGERS_WITH_JOB, RUNS_WITH_JOB).await?.ok_or_else(|| {
        ApiError::NotFound { message: format!("job {key} not found (GET /v1/scheduler/jobs lists them)") }
    })?;
    Ok(JobDetail {
        job: JobView::of(&snapshot.status),
        triggers: snapshot.triggers.iter().map(TriggerView::of).collect(),
        recent_runs: snapshot.recent_runs.iter().map(RunView::of).collect(),
    })
}

/// A job with its triggers and recent runs.
#[utoipa::path(
    get,
    path = "/v1/scheduler/jobs/{group}/{name}",
    operation_id = "getJob",
    tag = "scheduler",
    params(KeyPath),
    responses(
        (status = 200, description = "The job.", body = JobDetail),
        (status = 400, description = "An invalid key.", body = ErrorBody),
        (status = 404, description = "No such job.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn get_job(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<KeyPath>,
) -> Result<Json<JobDetail>, ApiError> {
    let key = job_key(&p.group, &p.name)?;
    Ok(Json(job_detail(&s, &key).await?))
}

/// Create or replace a job and its given triggers (idempotent, one transaction).
#[utoipa::path(
    put,
    path = "/v1/scheduler/jobs/{group}/{name}",
    operation_id = "putJob",
    tag = "scheduler",
    params(KeyPath),
    request_body = JobBody,
    responses(
        (status = 200, description = "The stored job.", body = JobDetail),
        (status = 400, description = "An invalid definition; the message names the field and what to change.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn put_job(
    State(s): State<AppState>,
    principal: Option<axum::Extension<consort_auth::Principal>>,
    ApiPath(p): ApiPath<KeyPath>,
    ApiJson(body): ApiJson<JobBody>,
) -> Result<Json<JobDetail>, ApiError> {
    let key = job_key(&p.group, &p.name)?;
    if body.kind == "command" {
        check_command_kind(&s, principal.as_ref().map(|p| &p.0))?;
    }
    if body.kind == "cleanroom" {
        check_cleanroom_kind(principal.as_ref().map(|p| &p.0), &body.data)?;
    }
    let now_ms = (s.clock)().as_millisecond();
    check_kind("kind", &body.kind)?;
    if !body.durable && body.triggers.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_definition",
            "durable",
            format!(
                "job {key} has no trigger in `triggers`, so it must be durable: set \"durable\": true or give a trigger"
            ),
        ));
    }
    if let Some(d) = &body.description {
        check_text("description".into(), d, MAX_DESCRIPTION_LEN)?;
    }
    check_data("data".into(), &body.data)?;
    if body.triggers.len() > MAX_TRIGGERS_PER_JOB {
        return Err(ApiError::bad_request(
            "too_many_triggers",
            "triggers",
            format!(
                "{} triggers given; the limit is {MAX_TRIGGERS_PER_JOB} with one job: add more with PUT \
                 /v1/scheduler/triggers/{{group}}/{{name}}",
                body.triggers.len()
            ),
        ));
    }
    let mut job = Job::new(key.clone(), body.kind)
        .with_data(body.data)
        .with_durable(body.durable)
        .with_non_concurrent(body.non_concurrent)
        .with_requests_recovery(body.requests_recovery);
    if let Some(d) = body.description {
        job = job.with_description(d);
    }
    let mut triggers = Vec::new();
    for (i, t) in body.triggers.iter().enumerate() {
        let param = format!("triggers[{i}]");
        let tgroup = t.group.as_deref().unwrap_or(&p.group);
        let tkey = TriggerKey::new(tgroup, &t.name)
            .map_err(|e| ApiError::bad_request("invalid_key", format!("{param}.name"), e.to_string()))?;
        triggers.push(build_trigger(t.schedule(), &param, tkey, key.clone(), now_ms)?);
    }
    s.scheduler.replace_job(&job, &triggers).await?;
    Ok(Json(job_detail(&s, &key).await?))
}

/// The `command` kind runs a program as the server's user: only when the
/// configuration enables it, and only for admins.
fn check_command_kind(s: &AppState, principal: Option<&consort_auth::Principal>) -> Result<(), ApiError> {
    if !s.command_kind {
        return Err(ApiError::bad_request(
            "command_kind_disabled",
            "kind",
            "the `command` kind is off on this server (it runs a program as the server's user); \
             an operator can enable it with [jobs] command_kind = true (CONSORT_COMMAND_KIND=true), \
             or use the `spark` kind",
        ));
    }
    if !principal.is_some_and(|p| p.may(consort_auth::Action::Administer)) {
        return Err(ApiError::Forbidden {
            code: "forbidden",
            message: "only an admin may create a job of the `command` kind (it runs a program on the server)".into(),
        });
    }
    Ok(())
}

/// A scheduled clean-room query runs its checklist as `runAs`: only that principal may schedule
/// it (nobody runs a query in another party's name), and runs started through the run route
/// are that route's alone.
fn check_cleanroom_kind(
    principal: Option<&consort_auth::Principal>,
    data: &consort_scheduler::DataMap,
) -> Result<(), ApiError> {
    if data.contains_key("run") {
        return Err(ApiError::bad_request(
            "invalid_definition",
            "data.run",
            "clean-room runs are started with POST /v1/cleanrooms/{cleanroom}/queries/{id}/run; a scheduled \
             query gives \"cleanroom\", \"query\" and \"runAs\"",
        ));
    }
    let run_as = data.get("runAs").and_then(|v| v.as_str()).unwrap_or_default();
    match principal {
        // Authentication off (loopback only): the operator is every user.
        None => Ok(()),
        Some(p) if p.name == run_as => Ok(()),
        Some(p) => Err(ApiError::Forbidden {
            code: "forbidden",
            message: format!(
                "a scheduled clean-room query runs as its `runAs` user; {:?} may schedule queries as itself only \
                 (set \"runAs\": {:?})",
                p.name, p.name
            ),
        }),
    }
}

/// Delete a job and its triggers (its runs stay in the history).
#[utoipa::path(
    delete,
    path = "/v1/scheduler/jobs/{group}/{name}",
    operation_id = "deleteJob",
    tag = "scheduler",
    params(KeyPath),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = "An invalid key.", body = ErrorBody),
        (status = 404, description = "No such job.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn delete_job(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<KeyPath>,
) -> Result<StatusCode, ApiError> {
    let key = job_key(&p.group, &p.name)?;
    if s.scheduler.delete_job(&key).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound { message: format!("job {key} not found") })
    }
}

/// Fire a job now through a one-shot trigger; the body (optional) adds data to this fire.
#[utoipa::path(
    post,
    path = "/v1/scheduler/jobs/{group}/{name}/fire",
    operation_id = "fireJob",
    tag = "scheduler",
    params(KeyPath),
    request_body(content = Option<FireBody>, description = "Optional: `{\"data\": {…}}`, or no body at all."),
    responses(
        (status = 202, description = "Fired; the run appears in the job's runs.", body = Fired),
        (status = 400, description = "An invalid key or body.", body = ErrorBody),
        (status = 404, description = "No such job.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn fire_job(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<KeyPath>,
    OptionalApiJson(body): OptionalApiJson<FireBody>,
) -> Result<(StatusCode, Json<Fired>), ApiError> {
    let key = job_key(&p.group, &p.name)?;
    let data = body.unwrap_or_default().data;
    check_data("data".into(), &data)?;
    let trigger = s.scheduler.fire_now(&key, data).await?;
    Ok((StatusCode::ACCEPTED, Json(Fired { trigger: KeyBody::of(trigger.group(), trigger.name()) })))
}

async fn pause_or_resume(s: &AppState, selector: Selector, pause: bool) -> Result<Json<TriggersChanged>, ApiError> {
    let changed = if pause { s.scheduler.pause(&selector).await? } else { s.scheduler.resume(&selector).await? };
    Ok(Json(TriggersChanged { triggers_changed: changed }))
}

macro_rules! pause_route {
    ($fn:ident, $path:literal, $op:literal, $summary:literal, $params:ident, $not_found:literal, $pause:expr, |$p:ident| $selector:expr) => {
        #[doc = $summary]
        #[utoipa::path(
                    post,
                    path = $path,
                    operation_id = $op,
                    tag = "scheduler",
                    params($params),
                    responses(
                        (status = 200, description = "How many triggers changed state.", body = TriggersChanged),
                        (status = 400, description = "An invalid key or group.", body = ErrorBody),
                        (status = 404, description = $not_found, body = ErrorBody),
                        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
                    )
                )]
        pub(crate) async fn $fn(
            State(s): State<AppState>,
            ApiPath($p): ApiPath<$params>,
        ) -> Result<Json<TriggersChanged>, ApiError> {
            pause_or_resume(&s, $selector, $pause).await
        }
    };
}

pause_route!(
    pause_job,
    "/v1/scheduler/jobs/{group}/{name}/pause",
    "pauseJob",
    "Pause every trigger of a job.",
    KeyPath,
    "No such job.",
    true,
    |p| Selector::Job(job_key(&p.group, &p.name)?)
);
pause_route!(
    resume_job,
    "/v1/scheduler/jobs/{group}/{name}/resume",
    "resumeJob",
    "Resume every trigger of a job.",
    KeyPath,
    "No such job.",
    false,
    |p| Selector::Job(job_key(&p.group, &p.name)?)
);
pause_route!(
    pause_job_group,
    "/v1/scheduler/job-groups/{group}/pause",
    "pauseJobGroup",
    "Pause every trigger of every job in a group.",
    GroupPath,
    "Never answered for a group.",
    true,
    |p| Selector::JobGroup(group("group", &p.group)?)
);
pause_route!(
    resume_job_group,
    "/v1/scheduler/job-groups/{group}/resume",
    "resumeJobGroup",
    "Resume every trigger of every job in a group.",
    GroupPath,
    "Never answered for a group.",
    false,
    |p| Selector::JobGroup(group("group", &p.group)?)
);
pause_route!(
    pause_trigger,
    "/v1/scheduler/triggers/{group}/{name}/pause",
    "pauseTrigger",
    "Pause a trigger.",
    KeyPath,
    "No such trigger.",
    true,
    |p| Selector::Trigger(trigger_key(&p.group, &p.name)?)
);
pause_route!(
    resume_trigger,
    "/v1/scheduler/triggers/{group}/{name}/resume",
    "resumeTrigger",
    "Resume a trigger.",
    KeyPath,
    "No such trigger.",
    false,
    |p| Selector::Trigger(trigger_key(&p.group, &p.name)?)
);
pause_route!(
    pause_trigger_group,
    "/v1/scheduler/trigger-groups/{group}/pause",
    "pauseTriggerGroup",
    "Pause a trigger group (new triggers in it start paused).",
    GroupPath,
    "Never answered for a group.",
    true,
    |p| Selector::TriggerGroup(group("group", &p.group)?)
);
pause_route!(
    resume_trigger_group,
    "/v1/scheduler/trigger-groups/{group}/resume",
    "resumeTriggerGroup",
    "Resume a trigger group.",
    GroupPath,
    "Never answered for a group.",
    false,
    |p| Selector::TriggerGroup(group("group", &p.group)?)
);

/// List triggers with state and next/previous fire times, a page at a time in key order.
#[utoipa::path(
    get,
    path = "/v1/scheduler/triggers",
    operation_id = "listTriggers",
    tag = "scheduler",
    params(TriggersQuery),
    responses(
        (status = 200, description = "A page of triggers.", body = TriggerPage),
        (status = 400, description = "A bad filter, limit or cursor; the message names it.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn list_triggers(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<TriggersQuery>,
) -> Result<Json<TriggerPage>, ApiError> {
    let limit = page_limit(q.limit)?;
    let group_filter = q.group.as_deref().map(|g| group("group", g)).transpose()?;
    let job = match q.job.as_deref() {
        Some(j) => {
            let (g, n) = dotted_key("job", j)?;
            Some(job_key(&g, &n)?)
        }
        None => None,
    };
    let after = match &q.cursor {
        Some(c) => {
            let parts = decode_cursor("triggers", 2, c)?;
            Some(TriggerKey::new(&parts[0], &parts[1]).map_err(|_| bad_cursor("triggers"))?)
        }
        None => None,
    };
    let filter = TriggerFilter {
        group: group_filter,
        job,
        state: q.state.map(TriggerStateName::domain),
        after,
        limit: Some(limit + 1),
    };
    let triggers = s.scheduler.list_triggers(&filter).await?;
    let (triggers, next_cursor) =
        paginate(triggers, limit, |t| encode_cursor("triggers", &[t.trigger.key().group(), t.trigger.key().name()]));
    Ok(Json(TriggerPage { items: triggers.iter().map(TriggerView::of).collect(), next_cursor }))
}

/// A trigger: state, next and previous fire times.
#[utoipa::path(
    get,
    path = "/v1/scheduler/triggers/{group}/{name}",
    operation_id = "getTrigger",
    tag = "scheduler",
    params(KeyPath),
    responses(
        (status = 200, description = "The trigger.", body = TriggerView),
        (status = 400, description = "An invalid key.", body = ErrorBody),
        (status = 404, description = "No such trigger.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn get_trigger(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<KeyPath>,
) -> Result<Json<TriggerView>, ApiError> {
    let key = trigger_key(&p.group, &p.name)?;
    let t = s.scheduler.get_trigger(&key).await?.ok_or_else(|| ApiError::NotFound {
        message: format!("trigger {key} not found (GET /v1/scheduler/triggers lists them)"),
    })?;
    Ok(Json(TriggerView::of(&t)))
}

/// Create or replace one trigger of an existing job (its schedule restarts).
#[utoipa::path(
    put,
    path = "/v1/scheduler/triggers/{group}/{name}",
    operation_id = "putTrigger",
    tag = "scheduler",
    params(KeyPath),
    request_body = TriggerBody,
    responses(
        (status = 200, description = "The stored trigger.", body = TriggerView),
        (status = 400, description = "An invalid definition; the message names the field and what to change.", body = ErrorBody),
        (status = 404, description = "The trigger's job does not exist.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn put_trigger(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<KeyPath>,
    ApiJson(body): ApiJson<TriggerBody>,
) -> Result<Json<TriggerView>, ApiError> {
    let key = trigger_key(&p.group, &p.name)?;
    let job = JobKey::new(&body.job.group, &body.job.name)
        .map_err(|e| ApiError::bad_request("invalid_key", "job", e.to_string()))?;
    let trigger = build_trigger(body.schedule(), "", key, job, (s.clock)().as_millisecond())?;
    let status = s.scheduler.replace_trigger(&trigger).await?;
    Ok(Json(TriggerView::of(&status)))
}

/// Delete a trigger (a non-durable job left without triggers goes with it).
#[utoipa::path(
    delete,
    path = "/v1/scheduler/triggers/{group}/{name}",
    operation_id = "deleteTrigger",
    tag = "scheduler",
    params(KeyPath),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = "An invalid key.", body = ErrorBody),
        (status = 404, description = "No such trigger.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn delete_trigger(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<KeyPath>,
) -> Result<StatusCode, ApiError> {
    let key = trigger_key(&p.group, &p.name)?;
    if s.scheduler.delete_trigger(&key).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound { message: format!("trigger {key} not found") })
    }
}

/// Run history, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/scheduler/runs",
    operation_id = "listRuns",
    tag = "scheduler",
    params(RunsQuery),
    responses(
        (status = 200, description = "A page of runs.", body = RunPage),
        (status = 400, description = "A bad filter, limit or cursor; the message names it.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn list_runs(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<RunsQuery>,
) -> Result<Json<RunPage>, ApiError> {
    let limit = page_limit(q.limit)?;
    let job = match q.job.as_deref() {
        Some(j) => {
            let (g, n) = dotted_key("job", j)?;
            Some(job_key(&g, &n)?)
        }
        None => None,
    };
    let trigger = match q.trigger.as_deref() {
        Some(t) => {
            let (g, n) = dotted_key("trigger", t)?;
            Some(trigger_key(&g, &n)?)
        }
        None => None,
    };
    let fired_after_ms = q.fired_after.as_deref().map(|t| parse_time("fired_after", t)).transpose()?;
    let fired_before_ms = q.fired_before.as_deref().map(|t| parse_time("fired_before", t)).transpose()?;
    let before_id = match &q.cursor {
        Some(c) => Some(decode_cursor("runs", 1, c)?[0].parse::<i64>().map_err(|_| bad_cursor("runs"))?),
        None => None,
    };
    let filter = RunFilter {
        job,
        trigger,
        state: q.state.map(RunStateName::domain),
        fired_after_ms,
        fired_before_ms,
        before_id,
        limit: limit + 1,
        ..RunFilter::default()
    };
    let runs = s.scheduler.list_runs(&filter).await?;
    let (runs, next_cursor) = paginate(runs, limit, |r| encode_cursor("runs", &[&r.id.to_string()]));
    Ok(Json(RunPage { items: runs.iter().map(RunView::of).collect(), next_cursor }))
}

/// Deletes run history at once (retention does it a little at every check-in): the ended runs
/// fired before `fired_before`, except each job's latest run (its last state) and any run
/// still executing. Admin only.
#[utoipa::path(
    delete,
    path = "/v1/scheduler/runs",
    operation_id = "purgeRuns",
    tag = "scheduler",
    params(PurgeQuery),
    responses(
        (status = 200, description = "The runs were deleted.", body = Purged),
        (status = 400, description = "`fired_before` is missing or not an instant.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn purge_runs(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<PurgeQuery>,
) -> Result<Json<Purged>, ApiError> {
    let before = parse_time("fired_before", &q.fired_before)?;
    let deleted = s.scheduler.purge_runs(before).await?;
    Ok(Json(Purged { deleted: deleted as u64, fired_before: time(before) }))
}

/// One run: scheduled/fired/ended times, instance, state, error, Spark application id, log
/// location, and the address of Spark's UI for it where the backend has one.
#[utoipa::path(
    get,
    path = "/v1/scheduler/runs/{id}",
    operation_id = "getRun",
    tag = "scheduler",
    params(RunPath),
    responses(
        (status = 200, description = "The run.", body = RunView),
        (status = 400, description = "The id is not a number.", body = ErrorBody),
        (status = 404, description = "No such run.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn get_run(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<RunPath>,
) -> Result<Json<RunView>, ApiError> {
    let id = p.id;
    let run =
        s.scheduler.get_run(id).await?.ok_or_else(|| ApiError::NotFound { message: format!("run {id} not found") })?;
    let mut view = RunView::of(&run);
    // A slow backend delays the run's page by at most UI_LOOKUP; the link is then left out.
    if run.log_location.is_some() {
        view.spark_ui_url = tokio::time::timeout(UI_LOOKUP, s.scheduler.run_ui_url(&run)).await.ok().flatten();
    }
    Ok(Json(view))
}

/// The end of a run's log, read from where its work ran (the Spark driver's log), for
/// executing and ended runs.
#[utoipa::path(
    get,
    path = "/v1/scheduler/runs/{id}/log",
    operation_id = "runLog",
    tag = "scheduler",
    params(RunPath, LogQuery),
    responses(
        (status = 200, description = "The log's end.", body = RunLog),
        (status = 400, description = "The id or max_bytes is not valid.", body = ErrorBody),
        (status = 404, description = "No such run.", body = ErrorBody),
        (status = 409, description = "The run's kind keeps no log, or its log is gone.", body = ErrorBody),
        (status = 503, description = "Where the run ran cannot be reached; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn run_log(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<RunPath>,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> Result<Json<RunLog>, ApiError> {
    let max_bytes = match q.max_bytes {
        None => 64 << 10,
        Some(n) if (1..=MAX_LOG_BYTES as u64).contains(&n) => n as usize,
        Some(n) => {
            return Err(ApiError::bad_request(
                "invalid_max_bytes",
                "max_bytes",
                format!("`max_bytes` is {n}: give 1 to {MAX_LOG_BYTES}"),
            ));
        }
    };
    let log = s.scheduler.run_log(p.id, max_bytes).await?;
    Ok(Json(RunLog { run: p.id, max_bytes, log }))
}

/// Stop an executing run's work where it runs (kills the Spark application); the run then
/// ends FAILED.
#[utoipa::path(
    post,
    path = "/v1/scheduler/runs/{id}/kill",
    operation_id = "killRun",
    tag = "scheduler",
    params(RunPath),
    responses(
        (status = 202, description = "Kill requested.", body = KillRequested),
        (status = 400, description = "The id is not a number.", body = ErrorBody),
        (status = 404, description = "No such run.", body = ErrorBody),
        (status = 409, description = "The run already ended, or its kind cannot kill it.", body = ErrorBody),
        (status = 503, description = "Where the run runs cannot be reached; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn kill_run(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<RunPath>,
) -> Result<(StatusCode, Json<KillRequested>), ApiError> {
    s.scheduler.kill_run(p.id).await?;
    Ok((StatusCode::ACCEPTED, Json(KillRequested { run: p.id, kill: "requested".into() })))
}

/// Scheduler instances sharing the store (cluster check-ins), a page at a time, and this
/// instance's counters.
#[utoipa::path(
    get,
    path = "/v1/scheduler/instances",
    operation_id = "listInstances",
    tag = "scheduler",
    params(InstancesQuery),
    responses(
        (status = 200, description = "A page of instances.", body = InstancePage),
        (status = 400, description = "A bad limit or cursor.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn instances(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<InstancesQuery>,
) -> Result<Json<InstancePage>, ApiError> {
    let limit = page_limit(q.limit)?;
    let after = match &q.cursor {
        Some(c) => Some(decode_cursor("instances", 1, c)?.remove(0)),
        None => None,
    };
    let list = s.scheduler.list_instances(after.as_deref(), limit + 1).await?;
    let (list, next_cursor) = paginate(list, limit, |i| encode_cursor("instances", &[&i.id]));
    let stats = s.scheduler.stats();
    Ok(Json(InstancePage {
        items: list.iter().map(InstanceView::of).collect(),
        next_cursor,
        this_instance: s.scheduler.config().instance_id.clone(),
        fired_here: stats.fired,
        cycles: stats.cycles,
        failed_cycles: stats.failed_cycles,
        recoveries: stats.recoveries,
    }))
}
