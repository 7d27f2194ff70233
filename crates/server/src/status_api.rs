//! `/v1/status/*`: the status of jobs, and of the components Witboost provisioned as jobs —
//! the four job status operations the seed planned (`/scheduler/runs/{id}`,
//! `/scheduler/trigger/{id}`, `/scheduler/job/{id}`, `POST /scheduler/manualTrigger/{id}`).
//!
//! - `GET /v1/status/running`: jobs with a run executing now, a page at a time (newest fire
//!   first): job, component, run, fire time, Spark application id, and for `spark` jobs the
//!   backend state as far as the scheduler recorded it (SUBMITTED until Spark reported an
//!   application id, then RUNNING; the backend itself is not asked).
//! - `GET /v1/status/triggers/{group}/{name}`: a trigger's state, next and previous fire, and
//!   its schedule (cron, zone and the cron in English).
//! - `GET /v1/status/jobs/{group}/{name}` and `GET /v1/status/components/{component_id}`: the
//!   job's state (its latest run's Spark outcome), component, triggers with their next fire, and
//!   its run history newest first (`limit` / `cursor`); `?log_tail_bytes=N` adds the end of the
//!   latest run's log, read where the run ran.
//! - `POST /v1/status/jobs/{group}/{name}/fire` and `POST /v1/status/components/{component_id}/fire`:
//!   fire the job now through a one-shot trigger; 202 with the trigger's key and the job's
//!   status link (also in `Location`).
//!
//! **Component ids** contain `:` (`urn:dmb:cmp:finance:cashflow:0:spark-etl`): `:` is a valid
//! character of a path segment, so the id is sent as it is or percent-encoded (`%3A`); both
//! address the same component. An id holding `/` must encode it as `%2F`.
//!
//! **A job's state** mirrors its latest run: `NEVER_RUN`, `RUNNING`, `SUCCEEDED`, `FAILED` or
//! `KILLED`. The scheduler records a killed Spark application as a FAILED run (its model has no
//! killed state), so `KILLED` is read from the failure reason the `spark` kind writes for one:
//! the application ended KILLED, was killed on request, was killed by the run policy's time
//! limits, or was deleted or forgotten by its backend after a kill (see [`KILL_MARKERS`]). A kill
//! a backend reports in other words reads `FAILED`; the reason is shown either way. A run whose
//! instance died (ABANDONED) makes the job `FAILED`.
//!
//! **Who may fire.** The security layer lets any reader reach the two fire routes
//! ([`ACL_FIRE_ROUTES`], `auth::action_for`); the handler then requires a role permitting
//! `operate`, or a place on the component's access list (`user:NAME` for the principal's name,
//! `group:NAME` for one of its JWT groups; set by Witboost's `/v1/updateacl`). Anyone else gets
//! 403, and so does every reader for a job that is not a provisioned component.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use consort_auth::{Action, Principal};
use consort_provisioner::ComponentRecord;
use consort_scheduler::{
    JobKey, MANUAL_GROUP, Run, RunActionError, RunFilter, RunState, SchedulerError, TriggerFilter, TriggerState,
    TriggerStatus,
};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::{ApiError, ApiPath, ApiQuery, ErrorBody};
use crate::scheduler_api::{
    KeyBody, KeyPath, ScheduleView, TriggerStateName, bad_cursor, decode_cursor, encode_cursor, job_key, page_limit,
    paginate, time, trigger_key,
};

/// The routes the security layer opens to readers: their handlers decide (operate role, or the
/// component's access list). `auth::action_for` reads this list.
pub const ACL_FIRE_ROUTES: &[&str] =
    &["/v1/status/jobs/{group}/{name}/fire", "/v1/status/components/{component_id}/fire"];
/// The most bytes of the latest run's log a status carries (`log_tail_bytes`).
pub const MAX_LOG_TAIL_BYTES: usize = 1 << 20;
/// The longest component id accepted, in characters.
pub const MAX_COMPONENT_ID_LEN: usize = 1024;
/// The job kind of Spark applications (`consort-spark`'s `SparkKind`).
const SPARK_KIND: &str = "spark";
/// The most triggers shown with a job.
const TRIGGERS_WITH_JOB: usize = 100;
/// Triggers read per page while looking for a job's live triggers.
const TRIGGER_SCAN_PAGE: usize = 1000;
/// The most pages read while looking for a job's live triggers.
const TRIGGER_SCAN_PAGES: usize = 10;
/// Failure reasons (lower case) that the `spark` kind and its launchers write for a killed
/// application; a FAILED run whose reason contains one reads `KILLED`.
pub const KILL_MARKERS: &[&str] = &[
    // The kind, when the backend gave no message: "Spark application ended KILLED".
    "spark application ended killed",
    // The local backend, after `runs kill`.
    "killed on request",
    // The run policy's limits (submitTimeoutSecs, timeoutSecs).
    "so it was killed",
    // Livy and Kubernetes delete a killed application; the kind then no longer finds it.
    "it was killed, or the backend dropped it",
    // Kubernetes, while the deletion of a killed application is pending.
    "the sparkapplication is being removed",
    // YARN's diagnostics of a killed application.
    "killed by user",
];

// ---- shapes --------------------------------------------------------------------

/// A job's state: its latest run's Spark outcome.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum JobState {
    /// No run yet.
    NeverRun,
    /// The latest run is executing.
    Running,
    /// The latest run succeeded.
    Succeeded,
    /// The latest run failed (or its instance died while it ran).
    Failed,
    /// The latest run's application was killed (on request, or by the run policy's limits).
    Killed,
}

/// A run's state, with a killed application told apart from a failure.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum RunOutcome {
    /// Executing now.
    Running,
    /// Ended well.
    Succeeded,
    /// Ended badly; `failure_reason` says why.
    Failed,
    /// Its application was killed; `failure_reason` says how.
    Killed,
    /// Its instance died while it ran, and no instance took it over.
    Abandoned,
}

impl RunOutcome {
    fn of(run: &Run) -> Self {
        match run.state {
            RunState::Executing => RunOutcome::Running,
            RunState::Succeeded => RunOutcome::Succeeded,
            RunState::Failed if run.error.as_deref().is_some_and(was_killed) => RunOutcome::Killed,
            RunState::Failed => RunOutcome::Failed,
            RunState::Abandoned => RunOutcome::Abandoned,
        }
    }

    fn job_state(self) -> JobState {
        match self {
            RunOutcome::Running => JobState::Running,
            RunOutcome::Succeeded => JobState::Succeeded,
            RunOutcome::Failed | RunOutcome::Abandoned => JobState::Failed,
            RunOutcome::Killed => JobState::Killed,
        }
    }
}

/// Whether a failure reason is one the `spark` kind writes for a killed application.
fn was_killed(reason: &str) -> bool {
    let reason = reason.to_lowercase();
    KILL_MARKERS.iter().any(|m| reason.contains(m))
        || (reason.starts_with("livy batch ") && reason.contains(" is killed"))
}

/// What the backend is doing with an executing run, as far as the scheduler recorded it.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum BackendState {
    /// Submitted; the backend has not reported a Spark application id yet (waiting for room
    /// on the cluster, or starting).
    Submitted,
    /// Spark's application id is known: the application runs.
    Running,
}

/// A run executing now.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunningJob {
    /// The job.
    job: KeyBody,
    /// What a fire of the job does (null when the job was deleted while its run goes on).
    kind: Option<String>,
    /// The component the job was provisioned from, if any.
    component_id: Option<String>,
    /// The run's id.
    run_id: i64,
    /// The trigger that fired it.
    trigger: KeyBody,
    /// When it fired.
    #[schema(format = DateTime)]
    fired_time: String,
    /// Spark's application id, once the backend reported it.
    application_id: Option<String>,
    /// For a `spark` job, what its backend is doing, from what it reported to the scheduler;
    /// null for other kinds.
    backend_state: Option<BackendState>,
    /// The scheduler instance following it.
    instance: String,
}

/// A page of running jobs.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunningPage {
    /// The executing runs, newest fire first.
    items: Vec<RunningJob>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// A trigger's status.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TriggerStatusView {
    /// The trigger's key.
    trigger: KeyBody,
    /// The job it fires.
    job: KeyBody,
    /// The component the job was provisioned from, if any.
    component_id: Option<String>,
    /// Its state.
    state: TriggerStateName,
    /// Its next fire, if it will fire again.
    #[schema(format = DateTime)]
    next_fire_time: Option<String>,
    /// Its previous fire, if it fired.
    #[schema(format = DateTime)]
    previous_fire_time: Option<String>,
    /// How often it fired.
    times_triggered: i64,
    /// When it fires.
    schedule: ScheduleView,
}

impl TriggerStatusView {
    fn of(t: &TriggerStatus, component_id: Option<String>) -> Self {
        let tr = &t.trigger;
        TriggerStatusView {
            trigger: KeyBody::of(tr.key().group(), tr.key().name()),
            job: KeyBody::of(tr.job().group(), tr.job().name()),
            component_id,
            state: TriggerStateName::of(t.state),
            next_fire_time: t.next_fire_ms.map(time),
            previous_fire_time: t.prev_fire_ms.map(time),
            times_triggered: t.times_triggered,
            schedule: ScheduleView::of(tr.schedule()),
        }
    }
}

/// One run of a job.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunStatus {
    /// The run's id.
    id: i64,
    /// The trigger that fired it.
    trigger: KeyBody,
    /// How it stands or ended.
    state: RunOutcome,
    /// Spark's application id, once known.
    application_id: Option<String>,
    /// When it started (fired).
    #[schema(format = DateTime)]
    start_time: String,
    /// When it ended.
    #[schema(format = DateTime)]
    end_time: Option<String>,
    /// How long it ran, once ended.
    duration_ms: Option<i64>,
    /// Why it failed, or how it was killed.
    failure_reason: Option<String>,
    /// The exit code of its work, when it has one.
    exit_code: Option<i32>,
}

impl RunStatus {
    fn of(r: &Run) -> Self {
        RunStatus {
            id: r.id,
            trigger: KeyBody::of(r.trigger.group(), r.trigger.name()),
            state: RunOutcome::of(r),
            application_id: r.application_id.clone(),
            start_time: time(r.fired_ms),
            end_time: r.ended_ms.map(time),
            duration_ms: r.duration_ms(),
            failure_reason: r.error.clone(),
            exit_code: r.exit_code,
        }
    }
}

/// A page of a job's runs.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunStatusPage {
    /// The runs, newest first.
    items: Vec<RunStatus>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// The end of the latest run's log.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LogTail {
    /// The run it belongs to (the job's latest).
    run_id: i64,
    /// The most bytes asked for.
    max_bytes: usize,
    /// The log's last `max_bytes` bytes; null when it cannot be read (see `unavailable`).
    text: Option<String>,
    /// Why the log cannot be read now (the kind keeps no log, or where the run ran is
    /// unreachable).
    unavailable: Option<String>,
}

/// A job's status.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobStatusView {
    /// The job.
    job: KeyBody,
    /// What a fire does (`spark` for provisioned components).
    kind: String,
    /// The component the job was provisioned from, if any.
    component_id: Option<String>,
    /// The latest run's outcome.
    state: JobState,
    /// The latest run's id.
    latest_run_id: Option<i64>,
    /// Its triggers with their next fire times (at most 100; spent fire-now triggers are left
    /// out).
    triggers: Vec<TriggerStatusView>,
    /// Its runs, newest first, a page at a time.
    runs: RunStatusPage,
    /// The end of the latest run's log, when `log_tail_bytes` asked for it and there is a run.
    log_tail: Option<LogTail>,
}

/// A fire-now was accepted.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FireAccepted {
    /// The one-shot trigger created; the run shows up under it.
    trigger: KeyBody,
    /// The job fired.
    job: KeyBody,
    /// The component the job was provisioned from, if any.
    component_id: Option<String>,
    /// Where the job's status is (also sent as `Location`).
    #[schema(example = "/v1/status/jobs/urn:dmb:dp:finance:cashflow:0/etl")]
    status: String,
}

// ---- requests ------------------------------------------------------------------

/// The path of a component.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ComponentPath {
    /// The component's id as Witboost names it; `:` may be sent as it is or as `%3A`, `/`
    /// must be sent as `%2F`.
    #[param(
        min_length = 1,
        max_length = 1024,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]+$",
        example = "urn:dmb:cmp:finance:cashflow:0:spark-etl"
    )]
    component_id: String,
}

/// Query of `GET /v1/status/running`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct RunningQuery {
    /// Page size.
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<u64>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1, max_length = 1024)]
    cursor: Option<String>,
}

/// Query of a job's status.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct StatusQuery {
    /// Runs per page.
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<u64>,
    /// `runs.next_cursor` of the previous page.
    #[param(min_length = 1, max_length = 1024)]
    cursor: Option<String>,
    /// Add the last N bytes of the latest run's log (1 to 1048576), read where it ran.
    #[param(minimum = 1, maximum = 1_048_576)]
    log_tail_bytes: Option<u64>,
}

// ---- helpers -------------------------------------------------------------------

fn check_component_id(id: &str) -> Result<(), ApiError> {
    let length = id.chars().count();
    if length == 0 || length > MAX_COMPONENT_ID_LEN || id.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_component_id",
            "component_id",
            format!(
                "`component_id` must be 1 to {MAX_COMPONENT_ID_LEN} characters without control characters, such as \
                 urn:dmb:cmp:finance:cashflow:0:spark-etl"
            ),
        ));
    }
    Ok(())
}

/// The component a job was provisioned from; `None` on a server without the provisioner area.
async fn component_of(s: &AppState, job: &JobKey) -> Result<Option<ComponentRecord>, ApiError> {
    match &s.components {
        Some(store) => Ok(store.component_by_job(job).await?),
        None => Ok(None),
    }
}

/// A provisioned component, or 404.
async fn component(s: &AppState, id: &str) -> Result<ComponentRecord, ApiError> {
    check_component_id(id)?;
    let found = match &s.components {
        Some(store) => store.component(id).await?,
        None => None,
    };
    found.ok_or_else(|| ApiError::NotFound {
        message: format!("component {id:?} is not provisioned on this server (Witboost's /v1/provision creates it)"),
    })
}

/// The characters escaped in a status link's path segment.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

pub(crate) fn status_link(job: &JobKey) -> String {
    format!(
        "/v1/status/jobs/{}/{}",
        utf8_percent_encode(job.group(), SEGMENT),
        utf8_percent_encode(job.name(), SEGMENT)
    )
}

async fn job_status(
    s: &AppState,
    key: &JobKey,
    component_id: Option<String>,
    q: &StatusQuery,
) -> Result<JobStatusView, ApiError> {
    let limit = page_limit(q.limit)?;
    let log_tail_bytes = match q.log_tail_bytes {
        None => None,
        Some(n) if (1..=MAX_LOG_TAIL_BYTES as u64).contains(&n) => Some(n as usize),
        Some(n) => {
            return Err(ApiError::bad_request(
                "invalid_log_tail_bytes",
                "log_tail_bytes",
                format!("`log_tail_bytes` is {n}: give 1 to {MAX_LOG_TAIL_BYTES}, or leave it out"),
            ));
        }
    };
    let before_id = match &q.cursor {
        Some(c) => Some(decode_cursor("job-runs", 1, c)?[0].parse::<i64>().map_err(|_| bad_cursor("job-runs"))?),
        None => None,
    };
    let job = s.scheduler.get_job(key).await?.ok_or_else(|| ApiError::NotFound {
        message: format!("job {key} not found (GET /v1/scheduler/jobs lists them)"),
    })?;
    let triggers = live_triggers(s, key).await?;
    let runs = s
        .scheduler
        .list_runs(&RunFilter { job: Some(key.clone()), before_id, limit: limit + 1, ..RunFilter::default() })
        .await?;
    let (runs, next_cursor) = paginate(runs, limit, |r| encode_cursor("job-runs", &[&r.id.to_string()]));

    let latest = match job.last_run_id {
        None => None,
        Some(id) => match runs.iter().find(|r| r.id == id) {
            Some(run) => Some(run.clone()),
            None => s.scheduler.get_run(id).await?,
        },
    };
    let state = latest.as_ref().map_or(JobState::NeverRun, |r| RunOutcome::of(r).job_state());
    let log_tail = match (log_tail_bytes, &latest) {
        (Some(max_bytes), Some(run)) => Some(log_tail(s, run.id, max_bytes).await?),
        _ => None,
    };
    Ok(JobStatusView {
        job: KeyBody::of(key.group(), key.name()),
        kind: job.job.kind().to_string(),
        component_id: component_id.clone(),
        state,
        latest_run_id: latest.as_ref().map(|r| r.id),
        triggers: triggers.iter().map(|t| TriggerStatusView::of(t, component_id.clone())).collect(),
        runs: RunStatusPage { items: runs.iter().map(RunStatus::of).collect(), next_cursor },
        log_tail,
    })
}

/// The job's triggers, at most [`TRIGGERS_WITH_JOB`], without the spent one-shot triggers of
/// past fire-nows (COMPLETE, in `MANUAL_TRIGGER`), which the store keeps until retention deletes
/// them (`completed_trigger_retention_minutes`) and which sort before most keys. At most [`TRIGGER_SCAN_PAGES`] pages are read.
async fn live_triggers(s: &AppState, key: &JobKey) -> Result<Vec<TriggerStatus>, ApiError> {
    let mut kept = Vec::new();
    let mut after = None;
    for _ in 0..TRIGGER_SCAN_PAGES {
        let filter =
            TriggerFilter { job: Some(key.clone()), after, limit: Some(TRIGGER_SCAN_PAGE), ..Default::default() };
        let page = s.scheduler.list_triggers(&filter).await?;
        let full = page.len() == TRIGGER_SCAN_PAGE;
        after = page.last().map(|t| t.trigger.key().clone());
        let spent = |t: &TriggerStatus| t.state == TriggerState::Complete && t.trigger.key().group() == MANUAL_GROUP;
        kept.extend(page.into_iter().filter(|t| !spent(t)));
        if kept.len() >= TRIGGERS_WITH_JOB || !full {
            break;
        }
    }
    kept.truncate(TRIGGERS_WITH_JOB);
    Ok(kept)
}

/// The end of a run's log; a log that cannot be read is said in the status, not an error.
async fn log_tail(s: &AppState, run_id: i64, max_bytes: usize) -> Result<LogTail, ApiError> {
    let unavailable = |why: String| LogTail { run_id, max_bytes, text: None, unavailable: Some(why) };
    match s.scheduler.run_log(run_id, max_bytes).await {
        Ok(text) => Ok(LogTail { run_id, max_bytes, text: Some(text), unavailable: None }),
        Err(SchedulerError::RunAction { error: RunActionError::NotSupported, .. }) => {
            Ok(unavailable("the job's kind keeps no log".into()))
        }
        Err(e @ SchedulerError::RunAction { .. }) => Ok(unavailable(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// Whether `principal` may fire a job: a role permitting `operate`, or a place on the
/// component's access list.
fn may_fire(principal: Option<&Principal>, job: &JobKey, component: Option<&ComponentRecord>) -> Result<(), ApiError> {
    let Some(principal) = principal else {
        return Err(ApiError::Forbidden {
            code: "forbidden",
            message: "firing a job needs an authenticated caller".into(),
        });
    };
    if principal.may(Action::Operate) {
        return Ok(());
    }
    if let Some(c) = component
        && principal.is_listed_in(c.acl.iter().map(String::as_str))
    {
        return Ok(());
    }
    let who = principal.display_name();
    let roles = if principal.roles.is_empty() { "no role".to_string() } else { principal.roles.to_string() };
    let message = match component {
        Some(c) => format!(
            "{who} has {roles} and is not on the access list of component {}: firing job {job} needs the operator \
             role, or an entry user:{} or group:GROUP on the list (Witboost's /v1/updateacl sets it)",
            c.component_id, principal.name
        ),
        None => format!(
            "{who} has {roles}; job {job} is not a provisioned component, so firing it needs the operator role: ask an \
             admin for a token with it"
        ),
    };
    Err(ApiError::Forbidden { code: "forbidden", message })
}

async fn fire(
    s: &AppState,
    principal: Option<&Principal>,
    key: JobKey,
    component: Option<ComponentRecord>,
) -> Result<(StatusCode, HeaderMap, Json<FireAccepted>), ApiError> {
    may_fire(principal, &key, component.as_ref())?;
    let trigger = s.scheduler.fire_now(&key, Default::default()).await?;
    let status = status_link(&key);
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&status) {
        headers.insert(header::LOCATION, location);
    }
    let accepted = FireAccepted {
        trigger: KeyBody::of(trigger.group(), trigger.name()),
        job: KeyBody::of(key.group(), key.name()),
        component_id: component.map(|c| c.component_id),
        status,
    };
    Ok((StatusCode::ACCEPTED, headers, Json(accepted)))
}

// ---- handlers ------------------------------------------------------------------

/// Jobs with a run executing now, newest fire first, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/status/running",
    operation_id = "statusRunning",
    tag = "status",
    params(RunningQuery),
    responses(
        (status = 200, description = "A page of executing runs.", body = RunningPage),
        (status = 400, description = "A bad limit or cursor; the message names it.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn running(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<RunningQuery>,
) -> Result<Json<RunningPage>, ApiError> {
    let limit = page_limit(q.limit)?;
    let before_id = match &q.cursor {
        Some(c) => Some(decode_cursor("running", 1, c)?[0].parse::<i64>().map_err(|_| bad_cursor("running"))?),
        None => None,
    };
    let filter = RunFilter { state: Some(RunState::Executing), before_id, limit: limit + 1, ..RunFilter::default() };
    let runs = s.scheduler.list_runs(&filter).await?;
    let (runs, next_cursor) = paginate(runs, limit, |r| encode_cursor("running", &[&r.id.to_string()]));
    // Per job of the page: its component and kind, read once.
    let mut jobs: HashMap<JobKey, (Option<String>, Option<String>)> = HashMap::new();
    let mut items = Vec::with_capacity(runs.len());
    for r in &runs {
        let (component_id, kind) = match jobs.get(&r.job) {
            Some(known) => known.clone(),
            None => {
                let component_id = component_of(&s, &r.job).await?.map(|c| c.component_id);
                let kind = s.scheduler.get_job(&r.job).await?.map(|j| j.job.kind().to_string());
                jobs.insert(r.job.clone(), (component_id.clone(), kind.clone()));
                (component_id, kind)
            }
        };
        let backend_state = match (kind.as_deref(), &r.application_id) {
            (Some(SPARK_KIND), Some(_)) => Some(BackendState::Running),
            (Some(SPARK_KIND), None) => Some(BackendState::Submitted),
            _ => None,
        };
        items.push(RunningJob {
            job: KeyBody::of(r.job.group(), r.job.name()),
            kind,
            component_id,
            run_id: r.id,
            trigger: KeyBody::of(r.trigger.group(), r.trigger.name()),
            fired_time: time(r.fired_ms),
            application_id: r.application_id.clone(),
            backend_state,
            instance: r.instance.clone(),
        });
    }
    Ok(Json(RunningPage { items, next_cursor }))
}

/// A trigger: state, next and previous fire, schedule in English.
#[utoipa::path(
    get,
    path = "/v1/status/triggers/{group}/{name}",
    operation_id = "statusTrigger",
    tag = "status",
    params(KeyPath),
    responses(
        (status = 200, description = "The trigger.", body = TriggerStatusView),
        (status = 400, description = "An invalid key.", body = ErrorBody),
        (status = 404, description = "No such trigger.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn trigger(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<KeyPath>,
) -> Result<Json<TriggerStatusView>, ApiError> {
    let key = trigger_key(&p.group, &p.name)?;
    let t = s.scheduler.get_trigger(&key).await?.ok_or_else(|| ApiError::NotFound {
        message: format!("trigger {key} not found (GET /v1/scheduler/triggers lists them)"),
    })?;
    let component_id = component_of(&s, t.trigger.job()).await?.map(|c| c.component_id);
    Ok(Json(TriggerStatusView::of(&t, component_id)))
}

/// A job's status: its latest run's outcome, triggers, and run history (newest first, paged);
/// `log_tail_bytes` adds the end of the latest run's log.
#[utoipa::path(
    get,
    path = "/v1/status/jobs/{group}/{name}",
    operation_id = "statusJob",
    tag = "status",
    params(KeyPath, StatusQuery),
    responses(
        (status = 200, description = "The job's status.", body = JobStatusView),
        (status = 400, description = "An invalid key, limit, cursor or log_tail_bytes.", body = ErrorBody),
        (status = 404, description = "No such job.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn job(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<KeyPath>,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> Result<Json<JobStatusView>, ApiError> {
    let key = job_key(&p.group, &p.name)?;
    let component_id = component_of(&s, &key).await?.map(|c| c.component_id);
    Ok(Json(job_status(&s, &key, component_id, &q).await?))
}

/// A provisioned component's job status, as `GET /v1/status/jobs/{group}/{name}` answers it.
#[utoipa::path(
    get,
    path = "/v1/status/components/{component_id}",
    operation_id = "statusComponent",
    tag = "status",
    params(ComponentPath, StatusQuery),
    responses(
        (status = 200, description = "The component's job status.", body = JobStatusView),
        (status = 400, description = "An invalid id, limit, cursor or log_tail_bytes.", body = ErrorBody),
        (status = 404, description = "No such component (or its job is gone).", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn component_status(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<ComponentPath>,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> Result<Json<JobStatusView>, ApiError> {
    let record = component(&s, &p.component_id).await?;
    Ok(Json(job_status(&s, &record.job, Some(record.component_id.clone()), &q).await?))
}

/// Fire a job now through a one-shot trigger. Operators may fire any job; a reader on the
/// job's component access list may fire that job.
#[utoipa::path(
    post,
    path = "/v1/status/jobs/{group}/{name}/fire",
    operation_id = "statusFireJob",
    tag = "status",
    params(KeyPath),
    responses(
        (status = 202, description = "Fired; the run appears in the job's status.", body = FireAccepted,
            headers(("Location" = String, description = "The job's status."))),
        (status = 400, description = "An invalid key.", body = ErrorBody),
        (status = 403, description = "The caller has neither a role permitting `operate` nor a place on the \
            access list of the job's component.", body = ErrorBody),
        (status = 404, description = "No such job.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn fire_job(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<KeyPath>,
) -> Result<(StatusCode, HeaderMap, Json<FireAccepted>), ApiError> {
    let key = job_key(&p.group, &p.name)?;
    if s.scheduler.get_job(&key).await?.is_none() {
        return Err(ApiError::NotFound { message: format!("job {key} not found (GET /v1/scheduler/jobs lists them)") });
    }
    let component = component_of(&s, &key).await?;
    fire(&s, principal.as_ref().map(|p| &p.0), key, component).await
}

/// Fire a provisioned component's job now through a one-shot trigger. Operators, and readers
/// on the component's access list, may.
#[utoipa::path(
    post,
    path = "/v1/status/components/{component_id}/fire",
    operation_id = "statusFireComponent",
    tag = "status",
    params(ComponentPath),
    responses(
        (status = 202, description = "Fired; the run appears in the job's status.", body = FireAccepted,
            headers(("Location" = String, description = "The job's status."))),
        (status = 400, description = "An invalid id.", body = ErrorBody),
        (status = 403, description = "The caller has neither a role permitting `operate` nor a place on the \
            component's access list.", body = ErrorBody),
        (status = 404, description = "No such component (or its job is gone).", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn fire_component(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<ComponentPath>,
) -> Result<(StatusCode, HeaderMap, Json<FireAccepted>), ApiError> {
    let record = component(&s, &p.component_id).await?;
    let key = record.job.clone();
    fire(&s, principal.as_ref().map(|p| &p.0), key, Some(record)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kills_are_told_from_failures_by_the_reasons_the_spark_kind_writes() {
        for killed in [
            "Spark application ended KILLED",
            "killed on request",
            "the application ran longer than timeoutSecs (60s), so it was killed; raise timeoutSecs if it needs longer",
            "the application was still SUBMITTED 600s after the fire, so it was killed (submitTimeoutSecs); …",
            "the livy backend no longer knows application `7` (last seen RUNNING): it was killed, or the backend dropped it",
            "deleted: the SparkApplication is being removed with its pods",
            "Livy batch 7 is killed (driver log: http://x)",
            "Application application_1_0001 was killed by user alice at 10.0.0.1",
        ] {
            assert!(was_killed(killed), "{killed}");
        }
        for failed in [
            "spark-submit exited with code 1",
            "Spark application ended FAILED",
            "driver container failed with ExitCode: 137, Reason: OOMKilled",
            "Livy batch 7 is dead",
        ] {
            assert!(!was_killed(failed), "{failed}");
        }
    }

    #[test]
    fn a_status_link_escapes_what_a_segment_cannot_hold() {
        let key = JobKey::new("urn:dmb:dp:finance:cashflow:0", "etl/nightly run").unwrap();
        assert_eq!(status_link(&key), "/v1/status/jobs/urn:dmb:dp:finance:cashflow:0/etl%2Fnightly%20run");
    }
}
