//! The Witboost Specific Provisioner API, spec 2.2.0 (`witboost-sp-openapi.yaml`): the same
//! paths, bodies, status codes and error shapes, so a Witboost coordinator calls consort as it
//! calls any Tech Adapter.
//!
//! - `POST /v1/validate` answers 200 `ValidationResult` (`valid: false` with every problem);
//!   `POST /v2/validate` answers 202 and a token, polled at `GET /v2/validate/{token}/status`.
//! - `POST /v1/provision`, `/v1/unprovision`, `/v1/updateacl` answer 200 `ProvisioningStatus`,
//!   or 202 and a token when `[provisioner] asynchronous` is on, polled at
//!   `GET /v1/provision/{token}/status` (the spec has one status path for the three).
//! - `POST /v1/reverse-provisioning` answers 200 `ReverseProvisioningStatus` (or 202 + token,
//!   polled at `GET /v1/reverse-provisioning/{token}/status`).
//!
//! Errors are the spec's: 400 `RequestValidationError` (`inputErrorField` is the dot path of the
//! field, `moreInfo.problems`/`solutions` the problem and its fix), 500 `SystemError`. Tokens are
//! tasks in the store, so any instance sharing it answers their status and a restart loses none.
//! The answers' extra fields (`details`, `schedule`) are extensions the spec allows.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use consort_provisioner::{Checks, Problem, ProvisionerStore, Settings, Task, TaskKind, TaskState, Validated};
use consort_scheduler::{JobKey, RunFilter, RunState, StoreError, TriggerFilter};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, ApiPath};
use crate::scheduler_api::time;

/// What the provisioner endpoints need besides the scheduler.
#[derive(Clone)]
pub struct ProvisionerArea {
    /// Components and tasks.
    pub store: Arc<dyn ProvisionerStore>,
    /// The jar, the Python file and the backends, checked for real.
    pub checks: Arc<dyn Checks>,
    /// How descriptors are read.
    pub settings: Settings,
    /// Answer provision, unprovision and updateacl with 202 and a token.
    pub asynchronous: bool,
    /// Kill a still-running Spark application on unprovision.
    pub kill_running_on_unprovision: bool,
    /// Base URL for links in `publicInfo`; relative links without it.
    pub public_url: Option<String>,
    /// This instance's id, recorded on the tasks it works on.
    pub instance: String,
}

impl std::fmt::Debug for ProvisionerArea {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvisionerArea").field("asynchronous", &self.asynchronous).finish_non_exhaustive()
    }
}

// ---- shapes (the spec's names) --------------------------------------------------

/// What the descriptor describes; consort provisions single components.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum DescriptorKind {
    /// A whole data product (not accepted: consort provisions components).
    DataproductDescriptor,
    /// The data product and `componentIdToProvision`.
    ComponentDescriptor,
    /// Not used by provisioners.
    DataproductDescriptorWithResults,
}

/// A provisioning request.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProvisioningRequest {
    /// `COMPONENT_DESCRIPTOR`.
    descriptor_kind: DescriptorKind,
    /// The data product descriptor and `componentIdToProvision`, as YAML.
    descriptor: String,
    /// The whole data product as last provisioned (YAML); read for nothing here.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    latest_enriched_descriptor: Option<String>,
    /// On unprovision, also delete the component's data: not applicable to a Spark job.
    remove_data: bool,
}

/// A provisioning operation's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum Status {
    /// Still running; poll again.
    Running,
    /// Done.
    Completed,
    /// Failed; `logs` and `result` say why.
    Failed,
}

impl From<TaskState> for Status {
    fn from(state: TaskState) -> Self {
        match state {
            TaskState::Running => Status::Running,
            TaskState::Completed => Status::Completed,
            TaskState::Failed => Status::Failed,
        }
    }
}

/// The result of a provision, unprovision or ACL update.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ProvisioningStatus {
    /// The state.
    status: Status,
    /// A one-line summary (deprecated by the spec, always sent).
    result: String,
    /// What Witboost shows (`publicInfo`) and keeps (`privateInfo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    info: Option<Info>,
    /// What happened, step by step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    logs: Vec<Log>,
}

/// Information for the Witboost marketplace.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Info {
    /// Shown in the "Technical Information" card: `{key: {type, label, value, href}}`.
    #[schema(value_type = Object)]
    public_info: Map<String, Value>,
    /// Kept in the deployed descriptor, not shown.
    #[schema(value_type = Object)]
    private_info: Map<String, Value>,
}

/// A log line of an operation.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Log {
    /// When (RFC 3339).
    #[schema(format = DateTime)]
    timestamp: String,
    /// Severity.
    level: LogLevel,
    /// What happened.
    message: String,
    /// The step, e.g. `validate`, `store`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phase: Option<String>,
}

/// A log line's severity.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum LogLevel {
    /// Detail.
    Debug,
    /// Progress.
    Info,
    /// Something to look at.
    Warning,
    /// A failure.
    Error,
}

/// The result of a validation.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ValidationResult {
    /// Whether the descriptor can be provisioned.
    valid: bool,
    /// Every problem, when not valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<ValidationError>,
    /// The schedule as consort reads it: the expression in English and the next fire times
    /// (an extension of the spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    schedule: Option<ScheduleInfo>,
}

/// Every problem of a descriptor.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ValidationError {
    /// One line per problem: `field: problem; fix`.
    errors: Vec<String>,
    /// One `RequestValidationError` per problem, with its field, problem and fix (an
    /// extension of the spec).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    details: Vec<RequestValidationError>,
}

/// A component's schedule, read.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScheduleInfo {
    /// The Quartz cron expression.
    cron_expression: String,
    /// The zone it runs in.
    timezone: String,
    /// In English.
    explanation: String,
    /// The next fire times (RFC 3339).
    next_fire_times: Vec<String>,
}

/// An asynchronous validation's state and, once done, its result.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ValidationStatus {
    /// The state.
    status: Status,
    /// The result, once done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    info: Option<ValidationInfo>,
}

/// Where an asynchronous validation's result is.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ValidationInfo {
    /// The result.
    public_info: ValidationResult,
}

/// A 400: the request cannot be acted on.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RequestValidationError {
    /// The problems, one line each (deprecated by the spec, always sent).
    errors: Vec<String>,
    /// What to show a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_message: Option<String>,
    /// The input at fault, when short.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    input: Option<String>,
    /// The dot path of the field at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    input_error_field: Option<String>,
    /// The problems and their fixes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    more_info: Option<ErrorMoreInfo>,
}

/// A 500: consort or something it depends on failed.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SystemError {
    /// What failed (deprecated by the spec, always sent).
    error: String,
    /// What to show a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_message: Option<String>,
    /// The input being handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    input: Option<String>,
    /// The field being handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    input_error_field: Option<String>,
    /// The problems and what to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    more_info: Option<ErrorMoreInfo>,
}

/// Problems and their fixes, in the same order.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ErrorMoreInfo {
    /// What is wrong.
    problems: Vec<String>,
    /// How to fix each.
    solutions: Vec<String>,
}

/// Who may use a provisioned component.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateAclRequest {
    /// `user:NAME` and `group:NAME` entries.
    refs: Vec<String>,
    /// The last provisioning of the component.
    provision_info: ProvisionInfo,
}

/// The last provisioning of a component.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ProvisionInfo {
    /// The `COMPONENT_DESCRIPTOR` (JSON or YAML) it was provisioned with.
    request: String,
    /// That provisioning's result.
    result: String,
}

/// A request to describe an existing job as a component.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReverseProvisioningRequest {
    /// The component's use case template.
    use_case_template_id: String,
    /// The environment.
    environment: String,
    /// The job to describe: `{"jobName": N, "jobGroup": G}` (group `DEFAULT` when left out).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, nullable = false)]
    params: Option<Map<String, Value>>,
    /// The component's current `catalog-info.yaml`.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, nullable = false)]
    catalog_info: Option<Map<String, Value>>,
}

/// The fields that describe the job as a component.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ReverseProvisioningStatus {
    /// The state.
    status: Status,
    /// Dot-path updates of `catalog-info.yaml`.
    #[schema(value_type = Object)]
    updates: Map<String, Value>,
    /// What happened.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    logs: Vec<Log>,
}

/// An optional request field that may be left out but not sent as `null`: the spec types these
/// fields without `nullable`, so a `null` is a malformed request (400 naming the field), not the
/// field left out.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// A task's token in a status path.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct TokenPath {
    /// The token a 202 answered.
    token: String,
}

// ---- errors ---------------------------------------------------------------------

/// The spec's error answers.
#[derive(Debug)]
pub(crate) enum SpError {
    /// 400 `RequestValidationError`.
    Invalid(Box<RequestValidationError>),
    /// 500 `SystemError`; the cause is logged, the body says what failed in general terms.
    System { cause: String, user_message: String },
    /// Refusals of the layers in front (413, 429, …) keep the API's own shape.
    Api(ApiError),
}

impl SpError {
    fn invalid(field: &str, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        SpError::Invalid(Box::new(one_problem(&Problem {
            field: field.to_string(),
            problem: problem.into(),
            fix: fix.into(),
            line: None,
            column: None,
        })))
    }

    fn problems(problems: &[Problem]) -> Self {
        SpError::Invalid(Box::new(request_error(problems)))
    }

    fn store(e: StoreError) -> Self {
        let user_message = if e.is_transient() {
            "consort's database is unavailable; retry shortly".to_string()
        } else {
            "consort could not store the change; the server log has the cause".to_string()
        };
        SpError::System { cause: e.to_string(), user_message }
    }
}

impl From<ApiError> for SpError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::BadRequest { param, message, .. } => {
                SpError::invalid(&param, message, "send a body as /openapi.json describes it")
            }
            other => SpError::Api(other),
        }
    }
}

impl IntoResponse for SpError {
    fn into_response(self) -> Response {
        match self {
            SpError::Invalid(body) => (StatusCode::BAD_REQUEST, Json(*body)).into_response(),
            SpError::System { cause, user_message } => {
                tracing::error!(%cause, "provisioner request failed");
                let body = SystemError {
                    error: user_message.clone(),
                    user_message: Some(user_message),
                    input: None,
                    input_error_field: None,
                    more_info: None,
                };
                (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
            }
            SpError::Api(e) => e.into_response(),
        }
    }
}

fn problem_line(p: &Problem) -> String {
    let at = match (p.line, p.column) {
        (Some(line), Some(column)) => format!(" (line {line}, column {column})"),
        (Some(line), None) => format!(" (line {line})"),
        _ => String::new(),
    };
    format!("{}{at}: {}", p.field, p.problem)
}

fn one_problem(p: &Problem) -> RequestValidationError {
    RequestValidationError {
        errors: vec![problem_line(p)],
        user_message: Some(format!("{}; {}", problem_line(p), p.fix)),
        input: None,
        input_error_field: Some(p.field.clone()),
        more_info: Some(ErrorMoreInfo { problems: vec![problem_line(p)], solutions: vec![p.fix.clone()] }),
    }
}

fn request_error(problems: &[Problem]) -> RequestValidationError {
    let lines: Vec<String> = problems.iter().map(problem_line).collect();
    let user_message = match problems {
        [one] => format!("{}; {}", problem_line(one), one.fix),
        many => format!("the descriptor has {} problems; see moreInfo for each and its fix", many.len()),
    };
    RequestValidationError {
        errors: lines.clone(),
        user_message: Some(user_message),
        input: None,
        input_error_field: problems.first().map(|p| p.field.clone()),
        more_info: Some(ErrorMoreInfo { problems: lines, solutions: problems.iter().map(|p| p.fix.clone()).collect() }),
    }
}

/// A JSON body whose every defect is a 400 `RequestValidationError` naming the field.
#[derive(Debug)]
pub(crate) struct SpJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for SpJson<T> {
    type Rejection = SpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, SpError> {
        let crate::error::ApiJson(value) =
            crate::error::ApiJson::<T>::from_request(req, state).await.map_err(SpError::from)?;
        Ok(SpJson(value))
    }
}

// ---- the operations -------------------------------------------------------------

fn area(s: &AppState) -> Result<&Arc<ProvisionerArea>, SpError> {
    s.provisioner.as_ref().ok_or_else(|| SpError::System {
        cause: "the provisioner area is not wired on this server".into(),
        user_message: "this consort server does not run the provisioner".into(),
    })
}

fn now_ms(s: &AppState) -> i64 {
    (s.clock)().as_millisecond()
}

fn log(s: &AppState, level: LogLevel, phase: &str, message: impl Into<String>) -> Log {
    Log { timestamp: time(now_ms(s)), level, message: message.into(), phase: Some(phase.to_string()) }
}

fn component_descriptor(request: &ProvisioningRequest) -> Result<(), Problem> {
    if request.descriptor_kind == DescriptorKind::ComponentDescriptor {
        return Ok(());
    }
    Err(Problem {
        field: "descriptorKind".into(),
        problem: "consort provisions single components, not whole data products".into(),
        fix: "send COMPONENT_DESCRIPTOR with componentIdToProvision naming the Spark workload".into(),
        line: None,
        column: None,
    })
}

fn schedule_info(validated: &Validated) -> Option<ScheduleInfo> {
    validated.plan.schedule.as_ref().map(|s| ScheduleInfo {
        cron_expression: s.expression.clone(),
        timezone: s.timezone.clone(),
        explanation: s.explanation.clone(),
        next_fire_times: s.next_fires_ms.iter().map(|ms| time(*ms)).collect(),
    })
}

async fn validation_result(area: &ProvisionerArea, request: &ProvisioningRequest, now_ms: i64) -> ValidationResult {
    let outcome = match component_descriptor(request) {
        Err(problem) => Err(vec![problem]),
        Ok(()) => {
            consort_provisioner::validate(&request.descriptor, &area.settings, area.checks.as_ref(), now_ms).await
        }
    };
    match outcome {
        Ok(validated) => ValidationResult { valid: true, error: None, schedule: schedule_info(&validated) },
        Err(problems) => ValidationResult {
            valid: false,
            error: Some(ValidationError {
                errors: problems.iter().map(problem_line).collect(),
                details: problems.iter().map(one_problem).collect(),
            }),
            schedule: None,
        },
    }
}

/// Validate a component descriptor; every problem is reported at once.
#[utoipa::path(
    post,
    path = "/v1/validate",
    operation_id = "validate",
    tag = "provisioner",
    request_body = ProvisioningRequest,
    responses(
        (status = 200, description = "The result: `valid`, or every problem with its field and fix.", body = ValidationResult),
        (status = 400, description = "The body is not a provisioning request.", body = RequestValidationError),
        (status = 500, description = "System problem.", body = SystemError),
    )
)]
pub(crate) async fn validate(
    State(s): State<AppState>,
    SpJson(request): SpJson<ProvisioningRequest>,
) -> Result<Json<ValidationResult>, SpError> {
    let area = area(&s)?;
    Ok(Json(validation_result(area, &request, now_ms(&s)).await))
}

/// Validate asynchronously: answers a token to poll.
#[utoipa::path(
    post,
    path = "/v2/validate",
    operation_id = "asyncValidate",
    tag = "provisioner",
    request_body = ProvisioningRequest,
    responses(
        (status = 202, description = "The token to poll at /v2/validate/{token}/status.", body = String, content_type = "application/json"),
        (status = 400, description = "The body is not a provisioning request.", body = RequestValidationError),
        (status = 500, description = "System problem.", body = SystemError),
    )
)]
pub(crate) async fn async_validate(
    State(s): State<AppState>,
    SpJson(request): SpJson<ProvisioningRequest>,
) -> Result<Response, SpError> {
    let area = area(&s)?.clone();
    accept(&s, area, TaskKind::Validate, request, |s, area, request| async move {
        let result = validation_result(&area, &request, now_ms(&s)).await;
        Ok(ValidationStatus { status: Status::Completed, info: Some(ValidationInfo { public_info: result }) })
    })
    .await
}

/// The state and result of an asynchronous validation.
#[utoipa::path(
    get,
    path = "/v2/validate/{token}/status",
    operation_id = "getValidationStatus",
    tag = "provisioner",
    params(TokenPath),
    responses(
        (status = 200, description = "The validation's state and, once done, its result.", body = ValidationStatus),
        (status = 400, description = "No validation has this token.", body = RequestValidationError),
        (status = 500, description = "System problem.", body = SystemError),
    )
)]
pub(crate) async fn validation_status(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<TokenPath>,
) -> Result<Response, SpError> {
    let task = task(&s, &p.token, &[TaskKind::Validate], "/v1/provision/{token}/status").await?;
    match (task.state, &task.result) {
        (TaskState::Running, _) | (_, None) => {
            Ok(Json(ValidationStatus { status: Status::Running, info: None }).into_response())
        }
        (_, Some(result)) => stored(result),
    }
}

/// Provision a component: validate it, then create or replace its job and schedule.
#[utoipa::path(
    post,
    path = "/v1/provision",
    operation_id = "provision",
    tag = "provisioner",
    request_body = ProvisioningRequest,
    responses(
        (status = 200, description = "Provisioned: the job, its schedule and next fire times in `info.publicInfo`.", body = ProvisioningStatus),
        (status = 202, description = "Accepted (asynchronous mode): the token to poll at /v1/provision/{token}/status.", body = String, content_type = "application/json"),
        (status = 400, description = "The descriptor is not valid: every problem with its field and fix.", body = RequestValidationError),
        (status = 500, description = "System problem.", body = SystemError),
    )
)]
pub(crate) async fn provision(
    State(s): State<AppState>,
    SpJson(request): SpJson<ProvisioningRequest>,
) -> Result<Response, SpError> {
    let area = area(&s)?.clone();
    component_descriptor(&request).map_err(|p| SpError::problems(&[p]))?;
    answer(&s, area, TaskKind::Provision, request, |s, area, request| async move {
        provision_now(&s, &area, &request).await
    })
    .await
}

async fn provision_now(
    s: &AppState,
    area: &ProvisionerArea,
    request: &ProvisioningRequest,
) -> Result<ProvisioningStatus, SpError> {
    let now = now_ms(s);
    let validated = consort_provisioner::validate(&request.descriptor, &area.settings, area.checks.as_ref(), now)
        .await
        .map_err(|problems| SpError::problems(&problems))?;
    let mut logs = vec![log(s, LogLevel::Info, "validate", "the descriptor is valid")];
    let plan = &validated.plan;
    let mut component = plan.component.clone();
    let key = plan.job.key().clone();
    if let Some(owner) = area.store.component_by_job(&key).await.map_err(SpError::store)?
        && owner.component_id != component.component_id
    {
        return Err(SpError::invalid(
            "componentIdToProvision",
            format!("job {key} already belongs to component {}", owner.component_id),
            "give this component its own specific.jobName, or unprovision the other component first",
        ));
    }
    // A re-provision keeps who may use the component and when it first arrived.
    if let Some(existing) = area.store.component(&component.component_id).await.map_err(SpError::store)? {
        component.acl = existing.acl;
        component.created_ms = existing.created_ms;
        logs.push(log(s, LogLevel::Info, "store", format!("replacing the definition of job {key}; its runs are kept")));
    }
    let mut triggers = Vec::with_capacity(plan.triggers.len());
    for planned in &plan.triggers {
        let stored = s.scheduler.get_trigger(planned.key()).await.map_err(|e| SpError::System {
            cause: e.to_string(),
            user_message: "consort could not read the job's schedule; retry shortly".into(),
        })?;
        triggers.push(keep_started_schedule(planned, stored.as_ref().map(|t| &t.trigger), now));
    }
    if let Some(adopted) = &plan.adopts
        && let Some(owner) = area.store.component_by_job(adopted).await.map_err(SpError::store)?
        && owner.component_id != component.component_id
    {
        return Err(SpError::invalid(
            "adoptJob",
            format!("job {adopted} belongs to component {}", owner.component_id),
            "adopt only jobs that no other component was provisioned as (see reverse provisioning)",
        ));
    }
    area.store
        .provision_adopting(&component, &plan.job, &triggers, plan.adopts.as_ref(), None, now)
        .await
        .map_err(SpError::store)?;
    if let Some(adopted) = &plan.adopts {
        let message =
            format!("job {adopted} is adopted: its schedule was removed (its runs are kept) in favour of {key}");
        logs.push(log(s, LogLevel::Info, "store", message));
    }
    logs.push(log(s, LogLevel::Info, "store", format!("job {key} stored with {} trigger(s)", triggers.len())));
    let link = job_link(area, &key);
    let public_info = match consort_provisioner::public_info_json(&consort_provisioner::public_info(plan, Some(&link)))
    {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let mut private_info = Map::new();
    private_info.insert("jobGroup".into(), Value::from(key.group()));
    private_info.insert("jobName".into(), Value::from(key.name()));
    private_info.insert("componentId".into(), Value::from(component.component_id.clone()));
    Ok(ProvisioningStatus {
        status: Status::Completed,
        result: format!("component {} provisioned as job {key}", component.component_id),
        info: Some(Info { public_info, private_info }),
        logs,
    })
}

/// A re-provision plans its schedule to start now (or at a later `startDate`); a schedule
/// already stored with the same definition that has started keeps its start, so the store
/// sees it unchanged and leaves its next fire time and history alone.
fn keep_started_schedule(
    planned: &consort_scheduler::Trigger,
    stored: Option<&consort_scheduler::Trigger>,
    now_ms: i64,
) -> consort_scheduler::Trigger {
    let Some(stored) = stored else { return planned.clone() };
    let same = stored.job() == planned.job()
        && stored.schedule() == planned.schedule()
        && stored.end_ms() == planned.end_ms()
        && stored.misfire() == planned.misfire()
        && stored.data() == planned.data();
    if !same || stored.start_ms() > now_ms || planned.start_ms() > now_ms {
        return planned.clone();
    }
    let mut kept = consort_scheduler::Trigger::new(
        planned.key().clone(),
        planned.job().clone(),
        planned.schedule().clone(),
        stored.start_ms(),
    )
    .with_end_ms(planned.end_ms())
    .with_priority(planned.priority())
    .with_misfire(planned.misfire())
    .with_data(planned.data().clone());
    if let Some(description) = planned.description() {
        kept = kept.with_description(description);
    }
    kept
}

/// The job's page in the job status API.
fn job_link(area: &ProvisionerArea, key: &JobKey) -> String {
    let path = crate::status_api::status_link(key);
    match &area.public_url {
        Some(base) => format!("{}{path}", base.trim_end_matches('/')),
        None => path,
    }
}

/// Unprovision a component: delete its job and schedule (runs stay).
#[utoipa::path(
    post,
    path = "/v1/unprovision",
    operation_id = "unprovision",
    tag = "provisioner",
    request_body = ProvisioningRequest,
    responses(
        (status = 200, description = "Unprovisioned (also when it never was provisioned).", body = ProvisioningStatus),
        (status = 202, description = "Accepted (asynchronous mode): the token to poll at /v1/provision/{token}/status.", body = String, content_type = "application/json"),
        (status = 400, description = "The descriptor does not name a component.", body = RequestValidationError),
        (status = 500, description = "System problem.", body = SystemError),
    )
)]
pub(crate) async fn unprovision(
    State(s): State<AppState>,
    SpJson(request): SpJson<ProvisioningRequest>,
) -> Result<Response, SpError> {
    let area = area(&s)?.clone();
    component_descriptor(&request).map_err(|p| SpError::problems(&[p]))?;
    answer(&s, area, TaskKind::Unprovision, request, |s, area, request| async move {
        unprovision_now(&s, &area, &request).await
    })
    .await
}

async fn unprovision_now(
    s: &AppState,
    area: &ProvisionerArea,
    request: &ProvisioningRequest,
) -> Result<ProvisioningStatus, SpError> {
    // Only the component's identity is read: a jar deleted since, or a descriptor that no
    // longer validates, must not stop its removal.
    let target = consort_provisioner::target(&request.descriptor).map_err(|problems| SpError::problems(&problems))?;
    let mut logs = Vec::new();
    if request.remove_data {
        logs.push(log(
            s,
            LogLevel::Info,
            "unprovision",
            "removeData is not applicable: a Spark job owns no data of its own; its outputs stay where it wrote them",
        ));
    }
    let existing = area.store.component(&target.component_id).await.map_err(SpError::store)?;
    if let Some(component) = &existing {
        let filter = RunFilter {
            job: Some(component.job.clone()),
            state: Some(RunState::Executing),
            limit: 1000,
            ..RunFilter::default()
        };
        let running = s.scheduler.list_runs(&filter).await.map_err(|e| SpError::System {
            cause: e.to_string(),
            user_message: "consort could not read the job's runs; retry shortly".into(),
        })?;
        for run in &running {
            let app = run.application_id.as_deref().unwrap_or("not yet known");
            if area.kill_running_on_unprovision {
                match s.scheduler.kill_run(run.id).await {
                    Ok(()) => logs.push(log(
                        s,
                        LogLevel::Info,
                        "unprovision",
                        format!("run {} (Spark application {app}) killed", run.id),
                    )),
                    Err(e) => logs.push(log(
                        s,
                        LogLevel::Warning,
                        "unprovision",
                        format!("run {} (Spark application {app}) could not be killed: {e}", run.id),
                    )),
                }
            } else {
                logs.push(log(
                    s,
                    LogLevel::Warning,
                    "unprovision",
                    format!(
                        "run {} (Spark application {app}) is still running and is left to finish \
                         ([provisioner] kill_running_on_unprovision = true kills it)",
                        run.id
                    ),
                ));
            }
        }
    }
    let removed = area.store.unprovision(&target.component_id, None, now_ms(s)).await.map_err(SpError::store)?;
    let result = match &removed {
        Some(component) => format!("component {} unprovisioned: job {} deleted", component.component_id, component.job),
        None => format!("component {} was not provisioned; nothing to remove", target.component_id),
    };
    logs.push(log(s, LogLevel::Info, "store", result.clone()));
    Ok(ProvisioningStatus { status: Status::Completed, result, info: None, logs })
}

/// Set who may read a provisioned component's runs and fire it in the job status API.
#[utoipa::path(
    post,
    path = "/v1/updateacl",
    operation_id = "updateacl",
    tag = "provisioner",
    request_body = UpdateAclRequest,
    responses(
        (status = 200, description = "The access list is stored.", body = ProvisioningStatus),
        (status = 202, description = "Accepted (asynchronous mode): the token to poll at /v1/provision/{token}/status.", body = String, content_type = "application/json"),
        (status = 400, description = "An invalid reference, or a component that is not provisioned.", body = RequestValidationError),
        (status = 500, description = "System problem.", body = SystemError),
    )
)]
pub(crate) async fn update_acl(
    State(s): State<AppState>,
    SpJson(request): SpJson<UpdateAclRequest>,
) -> Result<Response, SpError> {
    let area = area(&s)?.clone();
    answer(&s, area, TaskKind::UpdateAcl, request, |s, area, request| async move {
        update_acl_now(&s, &area, &request).await
    })
    .await
}

/// The most entries an access list holds.
const MAX_ACL_REFS: usize = 1000;

async fn update_acl_now(
    s: &AppState,
    area: &ProvisionerArea,
    request: &UpdateAclRequest,
) -> Result<ProvisioningStatus, SpError> {
    if request.refs.len() > MAX_ACL_REFS {
        return Err(SpError::invalid(
            "refs",
            format!("{} entries; at most {MAX_ACL_REFS} are kept", request.refs.len()),
            "grant access to groups instead of many single users",
        ));
    }
    for (i, entry) in request.refs.iter().enumerate() {
        let valid = entry.split_once(':').is_some_and(|(kind, name)| {
            matches!(kind, "user" | "group") && !name.trim().is_empty() && name.len() <= 255
        });
        if !valid {
            return Err(SpError::invalid(
                &format!("refs[{i}]"),
                format!("`{entry}` is not a user or group reference"),
                "write user:NAME or group:NAME, e.g. user:alice or group:finance",
            ));
        }
    }
    let target = consort_provisioner::target(&request.provision_info.request).map_err(|problems| {
        let mut problems = problems;
        for p in &mut problems {
            p.field = format!("provisionInfo.request.{}", p.field);
        }
        SpError::problems(&problems)
    })?;
    let mut refs: Vec<String> = request.refs.clone();
    refs.sort();
    refs.dedup();
    let stored = area.store.set_acl(&target.component_id, &refs, None, now_ms(s)).await.map_err(SpError::store)?;
    if !stored {
        return Err(SpError::invalid(
            "provisionInfo.request",
            format!("component {} is not provisioned on this server", target.component_id),
            "provision the component first, then update its access list",
        ));
    }
    let result = format!("access to component {} granted to {} reference(s)", target.component_id, refs.len());
    Ok(ProvisioningStatus {
        status: Status::Completed,
        result: result.clone(),
        info: None,
        logs: vec![log(s, LogLevel::Info, "updateacl", result)],
    })
}

/// The state and result of an asynchronous provision, unprovision or ACL update.
#[utoipa::path(
    get,
    path = "/v1/provision/{token}/status",
    operation_id = "getStatus",
    tag = "provisioner",
    params(TokenPath),
    responses(
        (status = 200, description = "The operation's state and, once done, its result.", body = ProvisioningStatus),
        (status = 400, description = "No provisioning operation has this token.", body = RequestValidationError),
        (status = 500, description = "System problem.", body = SystemError),
    )
)]
pub(crate) async fn provision_status(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<TokenPath>,
) -> Result<Response, SpError> {
    let kinds = [TaskKind::Provision, TaskKind::Unprovision, TaskKind::UpdateAcl];
    let task = task(&s, &p.token, &kinds, "/v2/validate/{token}/status").await?;
    match (task.state, &task.result) {
        (TaskState::Running, _) | (_, None) => Ok(Json(ProvisioningStatus {
            status: Status::Running,
            result: String::new(),
            info: None,
            logs: Vec::new(),
        })
        .into_response()),
        (_, Some(result)) => stored(result),
    }
}

/// Describe an existing job as a component, so it can be adopted into the catalogue.
#[utoipa::path(
    post,
    path = "/v1/reverse-provisioning",
    operation_id = "runReverseProvisioning",
    tag = "provisioner",
    request_body = ReverseProvisioningRequest,
    responses(
        (status = 200, description = "The updates that describe the job as a component.", body = ReverseProvisioningStatus),
        (status = 202, description = "Accepted (asynchronous mode): the token to poll at /v1/reverse-provisioning/{token}/status.", body = String, content_type = "application/json"),
        (status = 400, description = "The params do not name a job that can be described.", body = RequestValidationError),
        (status = 500, description = "System problem.", body = SystemError),
    )
)]
pub(crate) async fn reverse_provisioning(
    State(s): State<AppState>,
    SpJson(request): SpJson<ReverseProvisioningRequest>,
) -> Result<Response, SpError> {
    let area = area(&s)?.clone();
    answer(&s, area, TaskKind::ReverseProvisioning, request, |s, _area, request| async move {
        reverse_now(&s, &request).await
    })
    .await
}

async fn reverse_now(s: &AppState, request: &ReverseProvisioningRequest) -> Result<ReverseProvisioningStatus, SpError> {
    let params = request.params.clone().unwrap_or_default();
    let key = consort_provisioner::reverse_job_key(&params).map_err(|p| SpError::problems(&[p]))?;
    let scheduler_error = |e: consort_scheduler::SchedulerError| SpError::System {
        cause: e.to_string(),
        user_message: "consort could not read the job; retry shortly".into(),
    };
    let Some(status) = s.scheduler.get_job(&key).await.map_err(scheduler_error)? else {
        return Err(SpError::invalid(
            "params.jobName",
            format!("there is no job {key}"),
            "name an existing job (consort jobs list shows them)",
        ));
    };
    let filter = TriggerFilter { job: Some(key.clone()), ..TriggerFilter::default() };
    let triggers = s.scheduler.list_triggers(&filter).await.map_err(scheduler_error)?;
    let updates = consort_provisioner::reverse(&status.job, &triggers).map_err(|p| SpError::problems(&[p]))?;
    let message = format!("job {key} described as a component ({} field(s))", updates.len());
    let logs = vec![
        log(s, LogLevel::Info, "reverse-provisioning", message),
        log(
            s,
            LogLevel::Info,
            "reverse-provisioning",
            format!(
                "the updates carry spec.mesh.specific.adoptJob: provisioning the component replaces job {key} \
                 in the same transaction, so the work never runs twice"
            ),
        ),
    ];
    Ok(ReverseProvisioningStatus { status: Status::Completed, updates, logs })
}

/// The state and result of an asynchronous reverse provisioning.
#[utoipa::path(
    get,
    path = "/v1/reverse-provisioning/{token}/status",
    operation_id = "getReverseProvisioningStatus",
    tag = "provisioner",
    params(TokenPath),
    responses(
        (status = 200, description = "The operation's state and, once done, its result.", body = ReverseProvisioningStatus),
        (status = 400, description = "No reverse provisioning has this token.", body = RequestValidationError),
        (status = 500, description = "System problem.", body = SystemError),
    )
)]
pub(crate) async fn reverse_status(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<TokenPath>,
) -> Result<Response, SpError> {
    let task = task(&s, &p.token, &[TaskKind::ReverseProvisioning], "/v1/provision/{token}/status").await?;
    match (task.state, &task.result) {
        (TaskState::Running, _) | (_, None) => {
            Ok(Json(ReverseProvisioningStatus { status: Status::Running, updates: Map::new(), logs: Vec::new() })
                .into_response())
        }
        (_, Some(result)) => stored(result),
    }
}

// ---- tasks ----------------------------------------------------------------------

fn new_task<T: Serialize>(
    s: &AppState,
    area: &ProvisionerArea,
    kind: TaskKind,
    component_id: Option<String>,
    request: &T,
) -> Result<Task, SpError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| SpError::System {
        cause: format!("no randomness for a token: {e}"),
        user_message: "consort could not create a token; retry".into(),
    })?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let now = now_ms(s);
    Ok(Task {
        token,
        kind,
        state: TaskState::Running,
        component_id,
        request: serde_json::to_string(request).unwrap_or_default(),
        result: None,
        instance: Some(area.instance.clone()),
        created_ms: now,
        updated_ms: now,
    })
}

/// Answers `work`'s result at once (200), or, with `[provisioner] asynchronous`, through a
/// token ([`accept`]).
async fn answer<T, R, F, Fut>(
    s: &AppState,
    area: Arc<ProvisionerArea>,
    kind: TaskKind,
    request: T,
    work: F,
) -> Result<Response, SpError>
where
    T: Serialize + Send + 'static,
    R: Serialize + Send + Sync + 'static,
    F: FnOnce(AppState, Arc<ProvisionerArea>, T) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<R, SpError>> + Send + 'static,
{
    if area.asynchronous {
        return accept(s, area, kind, request, work).await;
    }
    Ok(Json(work(s.clone(), area, request).await?).into_response())
}

/// Stores a RUNNING task, runs `work` in the background, stores its answer, and answers 202
/// with the token.
async fn accept<T, R, F, Fut>(
    s: &AppState,
    area: Arc<ProvisionerArea>,
    kind: TaskKind,
    request: T,
    work: F,
) -> Result<Response, SpError>
where
    T: Serialize + Send + 'static,
    R: Serialize + Send + Sync + 'static,
    F: FnOnce(AppState, Arc<ProvisionerArea>, T) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<R, SpError>> + Send + 'static,
{
    let task = new_task(s, &area, kind, None, &request)?;
    area.store.put_task(&task).await.map_err(SpError::store)?;
    let token = task.token.clone();
    let state = s.clone();
    tokio::spawn(async move {
        match work(state.clone(), area.clone(), request).await {
            Ok(answer) => finish(&state, &area, task, TaskState::Completed, &answer).await,
            Err(e) => {
                let answer = failed_answer(&state, kind, e);
                finish(&state, &area, task, TaskState::Failed, &answer).await;
            }
        }
    });
    Ok((StatusCode::ACCEPTED, Json(token)).into_response())
}

/// A failed operation's answer, in the status shape of its kind.
fn failed_answer(s: &AppState, kind: TaskKind, e: SpError) -> Value {
    let (result, logs) = match e {
        SpError::Invalid(body) => {
            let lines = body
                .more_info
                .map(|m| m.problems.into_iter().zip(m.solutions).map(|(p, f)| format!("{p}; {f}")).collect::<Vec<_>>());
            let lines = lines.unwrap_or(body.errors);
            let logs = lines.iter().map(|l| log(s, LogLevel::Error, "validate", l.clone())).collect::<Vec<_>>();
            (body.user_message.unwrap_or_else(|| "the request is not valid".into()), logs)
        }
        SpError::System { cause, user_message } => {
            tracing::error!(%cause, "asynchronous provisioner task failed");
            (user_message.clone(), vec![log(s, LogLevel::Error, "system", user_message)])
        }
        SpError::Api(e) => {
            let message = format!("refused: {}", e.status());
            (message.clone(), vec![log(s, LogLevel::Error, "system", message)])
        }
    };
    match kind {
        TaskKind::ReverseProvisioning => {
            serde_json::to_value(ReverseProvisioningStatus { status: Status::Failed, updates: Map::new(), logs })
        }
        _ => serde_json::to_value(ProvisioningStatus { status: Status::Failed, result, info: None, logs }),
    }
    .unwrap_or(Value::Null)
}

async fn finish<R: Serialize>(s: &AppState, area: &ProvisionerArea, mut task: Task, state: TaskState, answer: &R) {
    task.state = state;
    task.result = Some(serde_json::to_string(answer).unwrap_or_default());
    task.updated_ms = now_ms(s);
    task.instance = None;
    // The store is retried: a task left RUNNING would be polled forever.
    for attempt in 0..5u32 {
        match area.store.put_task(&task).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(token_kind = task.kind.as_str(), attempt, error = %e, "storing a provisioner task's result failed");
                tokio::time::sleep(std::time::Duration::from_millis(200 << attempt)).await;
            }
        }
    }
}

async fn task(s: &AppState, token: &str, kinds: &[TaskKind], other_path: &str) -> Result<Task, SpError> {
    let area = area(s)?;
    let unknown = || {
        SpError::invalid(
            "token",
            "no operation has this token",
            "use the token a 202 answered; tokens are kept by the server that shares this store",
        )
    };
    if token.is_empty() || token.len() > 128 {
        return Err(unknown());
    }
    let task = area.store.task(token).await.map_err(SpError::store)?.ok_or_else(unknown)?;
    if !kinds.contains(&task.kind) {
        return Err(SpError::invalid(
            "token",
            format!("this token belongs to a {} operation", task.kind.as_str()),
            format!("poll it at {other_path}"),
        ));
    }
    Ok(task)
}

/// A stored answer, sent as it was written.
fn stored(result: &str) -> Result<Response, SpError> {
    let value: Value = serde_json::from_str(result).map_err(|e| SpError::System {
        cause: format!("a stored task result is not JSON: {e}"),
        user_message: "consort could not read this operation's result".into(),
    })?;
    Ok(Json(value).into_response())
}

/// Claims the tasks of instances that are gone and finishes them as FAILED, so a caller
/// polling one gets an answer instead of RUNNING forever. Called at start-up.
pub async fn fail_orphaned_tasks(
    store: &dyn ProvisionerStore,
    instance: &str,
    gone: &[String],
    now_ms: i64,
) -> Result<usize, StoreError> {
    let mut count = 0;
    loop {
        let tasks = store.claim_orphaned_tasks(instance, gone, 100, now_ms).await?;
        if tasks.is_empty() {
            return Ok(count);
        }
        for mut task in tasks {
            let message =
                "the consort instance working on this operation stopped before it finished; send the request again";
            let log = Log {
                timestamp: time(now_ms),
                level: LogLevel::Error,
                message: message.into(),
                phase: Some("system".into()),
            };
            let answer = match task.kind {
                TaskKind::Validate => serde_json::to_value(ValidationStatus { status: Status::Failed, info: None }),
                TaskKind::ReverseProvisioning => serde_json::to_value(ReverseProvisioningStatus {
                    status: Status::Failed,
                    updates: Map::new(),
                    logs: vec![log],
                }),
                _ => serde_json::to_value(ProvisioningStatus {
                    status: Status::Failed,
                    result: message.into(),
                    info: None,
                    logs: vec![log],
                }),
            };
            task.state = TaskState::Failed;
            task.result = Some(answer.map(|v| v.to_string()).unwrap_or_default());
            task.instance = None;
            task.updated_ms = now_ms;
            store.put_task(&task).await?;
            count += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use consort_scheduler::{JobKey, Schedule, Trigger, TriggerKey};

    use super::keep_started_schedule;

    fn trigger(cron: &str, start_ms: i64) -> Trigger {
        let job = JobKey::new("dp", "job").unwrap();
        Trigger::new(
            TriggerKey::new("dp", "job.schedule").unwrap(),
            job,
            Schedule::cron(cron, "UTC").unwrap(),
            start_ms,
        )
    }

    #[test]
    fn a_started_schedule_keeps_its_start_only_when_its_definition_is_unchanged() {
        let (then, now) = (1_000, 5_000);
        let stored = trigger("0 0 2 * * ?", then);
        assert_eq!(keep_started_schedule(&trigger("0 0 2 * * ?", now), Some(&stored), now).start_ms(), then);
        assert_eq!(keep_started_schedule(&trigger("0 0 3 * * ?", now), Some(&stored), now).start_ms(), now);
        assert_eq!(keep_started_schedule(&trigger("0 0 2 * * ?", now), None, now).start_ms(), now);
        let later = trigger("0 0 2 * * ?", now + 10_000);
        assert_eq!(keep_started_schedule(&later, Some(&stored), now).start_ms(), now + 10_000, "a new startDate wins");
        let ended = trigger("0 0 2 * * ?", now).with_end_ms(Some(now + 1));
        assert_eq!(keep_started_schedule(&ended, Some(&stored), now).start_ms(), now, "a new endDate restarts it");
    }
}
