//! `/v1/scheduler/*`: jobs, triggers, runs and instances of the Quartz-model scheduler.
//!
//! Keys are `{group}/{name}` path segments. Instants are RFC 3339 strings in UTC
//! (also accepted as Unix seconds on input). Definitions are validated by the
//! scheduler; its errors come back as 400 (bad definition), 404 (unknown key),
//! 409 (already exists) or 503 (database unavailable, retry).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use consort_scheduler::{
    DataMap, Job, JobKey, JobStatus, MisfireInstruction, Run, RunActionError, RunFilter, RunState, Schedule,
    SchedulerError, Selector, StoreError, Trigger, TriggerKey, TriggerStatus,
};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;

fn time(ms: i64) -> String {
    Timestamp::from_millisecond(ms).map(|t| t.to_string()).unwrap_or_else(|_| ms.to_string())
}

fn parse_time(param: &'static str, text: &str) -> Result<i64, ApiError> {
    crate::parse_instant(text).map(|t| t.as_millisecond()).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_instant",
            param,
            format!("`{text}` is not an instant; give RFC 3339 (2026-01-01T00:00:00Z) or Unix seconds"),
        )
    })
}

impl From<SchedulerError> for ApiError {
    fn from(e: SchedulerError) -> Self {
        match e {
            SchedulerError::Store(store) => store.into(),
            SchedulerError::Model(_) | SchedulerError::UnknownKind { .. } | SchedulerError::InvalidData { .. } => {
                ApiError::bad_request("invalid_definition", "body", e.to_string())
            }
            SchedulerError::Driver(_) => ApiError::Unavailable { message: e.to_string() },
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

fn job_key(group: &str, name: &str) -> Result<JobKey, ApiError> {
    JobKey::new(group, name).map_err(|e| ApiError::bad_request("invalid_key", "path", e.to_string()))
}

fn trigger_key(group: &str, name: &str) -> Result<TriggerKey, ApiError> {
    TriggerKey::new(group, name).map_err(|e| ApiError::bad_request("invalid_key", "path", e.to_string()))
}

/// `"group.name"` (the last dot separates), as in `?job=etl.nightly`.
fn dotted_job_key(param: &'static str, text: &str) -> Result<JobKey, ApiError> {
    let (group, name) = text.rsplit_once('.').unwrap_or(("DEFAULT", text));
    JobKey::new(group, name).map_err(|e| ApiError::bad_request("invalid_key", param, e.to_string()))
}

// ---- DTOs -------------------------------------------------------------------

/// A trigger definition, in a job or on its own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TriggerBody {
    /// Defaults to the job's group.
    group: Option<String>,
    /// Required in a job's `triggers`; taken from the path otherwise.
    name: Option<String>,
    /// `{"group": …, "name": …}` when the trigger is created on its own.
    job: Option<KeyBody>,
    description: Option<String>,
    /// A Quartz cron expression …
    cron: Option<String>,
    /// … read in this IANA zone (default UTC).
    timezone: Option<String>,
    /// Or a simple repeat.
    simple: Option<SimpleBody>,
    /// Or fire once, at the start time.
    #[serde(default)]
    once: bool,
    start_time: Option<String>,
    end_time: Option<String>,
    priority: Option<i32>,
    misfire: Option<String>,
    #[serde(default)]
    data: DataMap,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SimpleBody {
    /// Repeats after the first fire; absent or null repeats forever.
    repeat_count: Option<u32>,
    interval_ms: i64,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyBody {
    group: String,
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JobBody {
    kind: String,
    description: Option<String>,
    #[serde(default)]
    data: DataMap,
    #[serde(default)]
    durable: bool,
    #[serde(default)]
    non_concurrent: bool,
    #[serde(default)]
    requests_recovery: bool,
    #[serde(default)]
    triggers: Vec<TriggerBody>,
}

fn build_trigger(body: TriggerBody, key: TriggerKey, job: JobKey, now_ms: i64) -> Result<Trigger, ApiError> {
    let label = key.to_string();
    let bad =
        |message: String| ApiError::bad_request("invalid_definition", "trigger", format!("trigger {label}: {message}"));
    let schedule = match (&body.cron, &body.simple, body.once) {
        (Some(expr), None, false) => {
            Schedule::cron(expr, body.timezone.as_deref().unwrap_or("UTC")).map_err(|e| bad(e.to_string()))?
        }
        (None, Some(s), false) => Schedule::simple(s.repeat_count, s.interval_ms).map_err(|e| bad(e.to_string()))?,
        (None, None, true) => Schedule::once(),
        _ => {
            return Err(bad(
                "give exactly one schedule: \"cron\" (with \"timezone\"), \"simple\" or \"once\": true".into()
            ));
        }
    };
    let start_ms = match &body.start_time {
        Some(text) => parse_time("start_time", text)?,
        None => now_ms,
    };
    let end_ms = body.end_time.as_deref().map(|t| parse_time("end_time", t)).transpose()?;
    let mut trigger = Trigger::new(key, job, schedule, start_ms).with_end_ms(end_ms).with_data(body.data);
    if let Some(d) = body.description {
        trigger = trigger.with_description(d);
    }
    if let Some(p) = body.priority {
        trigger = trigger.with_priority(p);
    }
    if let Some(m) = body.misfire {
        trigger = trigger.with_misfire(MisfireInstruction::parse(&m).map_err(|e| bad(e.to_string()))?);
    }
    Ok(trigger)
}

fn trigger_json(t: &TriggerStatus) -> Value {
    let tr = &t.trigger;
    let schedule = match tr.schedule() {
        Schedule::Cron { cron, zone } => {
            json!({"cron": cron.as_str(), "timezone": zone.name(), "explanation": cron.explain()})
        }
        Schedule::Simple { repeat_count, interval_ms } => {
            json!({"simple": {"repeat_count": repeat_count, "interval_ms": interval_ms}})
        }
    };
    json!({
        "group": tr.key().group(),
        "name": tr.key().name(),
        "job": {"group": tr.job().group(), "name": tr.job().name()},
        "description": tr.description(),
        "schedule": schedule,
        "state": t.state.as_str(),
        "next_fire_time": t.next_fire_ms.map(time),
        "previous_fire_time": t.prev_fire_ms.map(time),
        "times_triggered": t.times_triggered,
        "instance": t.instance,
        "start_time": time(tr.start_ms()),
        "end_time": tr.end_ms().map(time),
        "priority": tr.priority(),
        "misfire": tr.misfire().as_str(),
        "data": tr.data(),
    })
}

fn job_json(j: &JobStatus) -> Value {
    let job = &j.job;
    json!({
        "group": job.key().group(),
        "name": job.key().name(),
        "kind": job.kind(),
        "description": job.description(),
        "data": job.data(),
        "durable": job.durable(),
        "non_concurrent": job.non_concurrent(),
        "requests_recovery": job.requests_recovery(),
        "last_run_state": j.last_run_state.map(RunState::as_str),
        "last_run_id": j.last_run_id,
        "executing_run": j.executing_run,
    })
}

fn run_json(r: &Run) -> Value {
    json!({
        "id": r.id,
        "job": {"group": r.job.group(), "name": r.job.name()},
        "trigger": {"group": r.trigger.group(), "name": r.trigger.name()},
        "scheduled_time": time(r.scheduled_ms),
        "fired_time": time(r.fired_ms),
        "ended_time": r.ended_ms.map(time),
        "duration_ms": r.duration_ms(),
        "instance": r.instance,
        "state": r.state.as_str(),
        "error": r.error,
        "exit_code": r.exit_code,
        "application_id": r.application_id,
        "log_location": r.log_location,
        "recovers_run": r.recovers_run,
    })
}

// ---- handlers ----------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub(crate) struct GroupQuery {
    group: Option<String>,
    job: Option<String>,
}

pub(crate) async fn list_jobs(State(s): State<AppState>, Query(q): Query<GroupQuery>) -> Result<Json<Value>, ApiError> {
    let jobs = s.scheduler.list_jobs(q.group.as_deref()).await?;
    Ok(Json(json!({"jobs": jobs.iter().map(job_json).collect::<Vec<_>>()})))
}

pub(crate) async fn get_job(
    State(s): State<AppState>,
    Path((group, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let key = job_key(&group, &name)?;
    let job = s.scheduler.get_job(&key).await?.ok_or_else(|| ApiError::NotFound {
        message: format!("job {key} not found (GET /v1/scheduler/jobs lists them)"),
    })?;
    let triggers = s.scheduler.list_triggers(None, Some(&key)).await?;
    let runs = s.scheduler.list_runs(&RunFilter { job: Some(key), limit: 20, ..RunFilter::default() }).await?;
    let mut body = job_json(&job);
    body["triggers"] = triggers.iter().map(trigger_json).collect();
    body["recent_runs"] = runs.iter().map(run_json).collect();
    Ok(Json(body))
}

/// Creates or replaces a job (and, if given, its triggers) in one transaction.
pub(crate) async fn put_job(
    State(s): State<AppState>,
    principal: Option<axum::Extension<consort_auth::Principal>>,
    Path((group, name)): Path<(String, String)>,
    Json(body): Json<JobBody>,
) -> Result<Json<Value>, ApiError> {
    let key = job_key(&group, &name)?;
    if body.kind == "command" {
        check_command_kind(&s, principal.as_ref().map(|p| &p.0))?;
    }
    let now_ms = (s.clock)().as_millisecond();
    let mut job = Job::new(key.clone(), body.kind)
        .with_data(body.data)
        .with_durable(body.durable)
        .with_non_concurrent(body.non_concurrent)
        .with_requests_recovery(body.requests_recovery);
    if let Some(d) = body.description {
        job = job.with_description(d);
    }
    let mut triggers = Vec::new();
    for t in body.triggers {
        let tname = t.name.clone().ok_or_else(|| {
            ApiError::bad_request("invalid_definition", "triggers", "every trigger in `triggers` needs a \"name\"")
        })?;
        let tkey = trigger_key(t.group.as_deref().unwrap_or(&group), &tname)?;
        triggers.push(build_trigger(t, tkey, key.clone(), now_ms)?);
    }
    s.scheduler.replace_job(&job, &triggers).await?;
    get_job(State(s), Path((group, name))).await
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

pub(crate) async fn delete_job(
    State(s): State<AppState>,
    Path((group, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let key = job_key(&group, &name)?;
    if s.scheduler.delete_job(&key).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound { message: format!("job {key} not found") })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FireBody {
    #[serde(default)]
    data: DataMap,
}

/// Fires a job now through a one-shot trigger.
pub(crate) async fn fire_job(
    State(s): State<AppState>,
    Path((group, name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let key = job_key(&group, &name)?;
    // The body is optional: an empty one fires with no extra data.
    let data = if body.iter().all(u8::is_ascii_whitespace) {
        DataMap::new()
    } else {
        serde_json::from_slice::<FireBody>(&body)
            .map_err(|e| {
                ApiError::bad_request("invalid_body", "body", format!("{e}; send {{\"data\": {{…}}}} or nothing"))
            })?
            .data
    };
    let trigger = s.scheduler.fire_now(&key, data).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"trigger": {"group": trigger.group(), "name": trigger.name()}}))))
}

async fn pause_or_resume(s: &AppState, selector: Selector, pause: bool) -> Result<Json<Value>, ApiError> {
    let changed = if pause { s.scheduler.pause(&selector).await? } else { s.scheduler.resume(&selector).await? };
    Ok(Json(json!({"triggers_changed": changed})))
}

pub(crate) async fn pause_job(
    State(s): State<AppState>,
    Path((g, n)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    pause_or_resume(&s, Selector::Job(job_key(&g, &n)?), true).await
}

pub(crate) async fn resume_job(
    State(s): State<AppState>,
    Path((g, n)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    pause_or_resume(&s, Selector::Job(job_key(&g, &n)?), false).await
}

pub(crate) async fn pause_job_group(State(s): State<AppState>, Path(g): Path<String>) -> Result<Json<Value>, ApiError> {
    pause_or_resume(&s, Selector::JobGroup(g), true).await
}

pub(crate) async fn resume_job_group(
    State(s): State<AppState>,
    Path(g): Path<String>,
) -> Result<Json<Value>, ApiError> {
    pause_or_resume(&s, Selector::JobGroup(g), false).await
}

pub(crate) async fn pause_trigger(
    State(s): State<AppState>,
    Path((g, n)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    pause_or_resume(&s, Selector::Trigger(trigger_key(&g, &n)?), true).await
}

pub(crate) async fn resume_trigger(
    State(s): State<AppState>,
    Path((g, n)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    pause_or_resume(&s, Selector::Trigger(trigger_key(&g, &n)?), false).await
}

pub(crate) async fn pause_trigger_group(
    State(s): State<AppState>,
    Path(g): Path<String>,
) -> Result<Json<Value>, ApiError> {
    pause_or_resume(&s, Selector::TriggerGroup(g), true).await
}

pub(crate) async fn resume_trigger_group(
    State(s): State<AppState>,
    Path(g): Path<String>,
) -> Result<Json<Value>, ApiError> {
    pause_or_resume(&s, Selector::TriggerGroup(g), false).await
}

pub(crate) async fn list_triggers(
    State(s): State<AppState>,
    Query(q): Query<GroupQuery>,
) -> Result<Json<Value>, ApiError> {
    let job = q.job.as_deref().map(|j| dotted_job_key("job", j)).transpose()?;
    let triggers = s.scheduler.list_triggers(q.group.as_deref(), job.as_ref()).await?;
    Ok(Json(json!({"triggers": triggers.iter().map(trigger_json).collect::<Vec<_>>()})))
}

pub(crate) async fn get_trigger(
    State(s): State<AppState>,
    Path((g, n)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let key = trigger_key(&g, &n)?;
    let t = s.scheduler.get_trigger(&key).await?.ok_or_else(|| ApiError::NotFound {
        message: format!("trigger {key} not found (GET /v1/scheduler/triggers lists them)"),
    })?;
    Ok(Json(trigger_json(&t)))
}

/// Creates or replaces one trigger of an existing job.
pub(crate) async fn put_trigger(
    State(s): State<AppState>,
    Path((g, n)): Path<(String, String)>,
    Json(body): Json<TriggerBody>,
) -> Result<Json<Value>, ApiError> {
    let key = trigger_key(&g, &n)?;
    if body.name.as_deref().is_some_and(|name| name != n) || body.group.as_deref().is_some_and(|group| group != g) {
        return Err(ApiError::bad_request(
            "invalid_definition",
            "body",
            "the trigger's group and name come from the path; leave them out of the body",
        ));
    }
    let job = body.job.as_ref().ok_or_else(|| {
        ApiError::bad_request(
            "invalid_definition",
            "job",
            "give the trigger's job as \"job\": {\"group\": …, \"name\": …}",
        )
    })?;
    let job = job_key(&job.group, &job.name)?;
    let trigger = build_trigger(body, key, job, (s.clock)().as_millisecond())?;
    let status = s.scheduler.replace_trigger(&trigger).await?;
    Ok(Json(trigger_json(&status)))
}

pub(crate) async fn delete_trigger(
    State(s): State<AppState>,
    Path((g, n)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let key = trigger_key(&g, &n)?;
    if s.scheduler.delete_trigger(&key).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound { message: format!("trigger {key} not found") })
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct RunQuery {
    job: Option<String>,
    trigger: Option<String>,
    state: Option<String>,
    before: Option<i64>,
    limit: Option<usize>,
}

pub(crate) async fn list_runs(State(s): State<AppState>, Query(q): Query<RunQuery>) -> Result<Json<Value>, ApiError> {
    let job = q.job.as_deref().map(|j| dotted_job_key("job", j)).transpose()?;
    let trigger = match q.trigger.as_deref() {
        Some(t) => {
            let (group, name) = t.rsplit_once('.').unwrap_or(("DEFAULT", t));
            Some(trigger_key(group, name)?)
        }
        None => None,
    };
    let state = match q.state.as_deref() {
        Some(text) => Some(
            RunState::parse(&text.to_uppercase())
                .map_err(|e| ApiError::bad_request("invalid_state", "state", e.to_string()))?,
        ),
        None => None,
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let runs = s
        .scheduler
        .list_runs(&RunFilter { job, trigger, state, before_id: q.before, limit, ..RunFilter::default() })
        .await?;
    Ok(Json(json!({"runs": runs.iter().map(run_json).collect::<Vec<_>>()})))
}

pub(crate) async fn get_run(State(s): State<AppState>, Path(id): Path<i64>) -> Result<Json<Value>, ApiError> {
    let run =
        s.scheduler.get_run(id).await?.ok_or_else(|| ApiError::NotFound { message: format!("run {id} not found") })?;
    Ok(Json(run_json(&run)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct LogQuery {
    max_bytes: Option<usize>,
}

/// `GET /v1/scheduler/runs/{id}/log`: the end of the run's log, from where it ran.
pub(crate) async fn run_log(
    State(s): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<LogQuery>,
) -> Result<Json<Value>, ApiError> {
    let max_bytes = q.max_bytes.unwrap_or(64 << 10).clamp(1, 16 << 20);
    let log = s.scheduler.run_log(id, max_bytes).await?;
    Ok(Json(json!({"run": id, "max_bytes": max_bytes, "log": log})))
}

/// `POST /v1/scheduler/runs/{id}/kill`: stops the run's work; the run ends once that is seen.
pub(crate) async fn kill_run(
    State(s): State<AppState>,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    s.scheduler.kill_run(id).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"run": id, "kill": "requested"}))))
}

pub(crate) async fn instances(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let list = s.scheduler.instances().await?;
    let stats = s.scheduler.stats();
    Ok(Json(json!({
        "this_instance": s.scheduler.config().instance_id,
        "instances": list
            .iter()
            .map(|i| json!({"id": i.id, "last_checkin": time(i.last_checkin_ms), "checkin_interval_ms": i.checkin_interval_ms}))
            .collect::<Vec<_>>(),
        "fired_here": stats.fired,
        "cycles": stats.cycles,
        "failed_cycles": stats.failed_cycles,
        "recoveries": stats.recoveries,
    })))
}
