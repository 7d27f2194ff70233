//! Clean-room runs (`/v1/cleanrooms/{cleanroom}/...`; docs/cleanroom-runs.md):
//!
//! - `POST …/prepare`: binds the datasets' and sinks' keys to the runner this server ships;
//! - `POST …/queries/{id}/run`: the run checklist, then the governed runner is submitted to
//!   Spark (an `Idempotency-Key` makes a retry return the same run);
//! - `GET …/runs`, `GET …/runs/{run}`, `GET …/runs/{run}/log`: status, history, the driver's
//!   log (only while every party consents to logging);
//! - `PUT …/documents/{id}/approval`: an owner withdraws or gives back its approval of a query;
//!   withdrawing consent or an approval revokes and kills the runs that depend on it;
//! - `…/runs/{run}/runner/*`: the governed runner's own calls, authenticated by its attestation
//!   evidence and then by the session it was given, never by an API token.

use axum::Json;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use consort_auth::Principal;
use consort_governance::model::ConsentOption;
use consort_governance::runs::{
    ApprovalStatus, CleanRoomRun, Prepared, Revocation, RunState, RunnerEvent, SegmentResult,
};
use consort_governance::secrets::Attested;
use consort_governance::{Caller, ConsentSubject};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::cleanroom_api::{
    Names, RoomPath, area, caller_and_optional_body, gov_error, now_ms, principal_name, require_reader,
};
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};

/// The runner routes: answered without an API token (the runner has none); the attestation
/// evidence, then the session, is the credential.
pub const RUNNER_ROUTES: &[&str] = &[
    "/v1/cleanrooms/{cleanroom}/runs/{run}/runner/attest",
    "/v1/cleanrooms/{cleanroom}/runs/{run}/runner/consent",
    "/v1/cleanrooms/{cleanroom}/runs/{run}/runner/secrets/{name}",
    "/v1/cleanrooms/{cleanroom}/runs/{run}/runner/events",
];

// ---- shapes --------------------------------------------------------------------

/// What to prepare for.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PrepareBody {
    /// The Spark backend runs will use (the server's default when left out).
    #[serde(default)]
    backend: Option<String>,
}

/// How to run a query.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunBody {
    /// The Spark backend (the one prepared for when left out).
    #[serde(default)]
    backend: Option<String>,
}

/// A clean-room run: its state and result (the JobResult).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunView {
    /// The run (job) id.
    id: String,
    /// The clean room.
    cleanroom: String,
    /// The query.
    query: String,
    /// The query's version.
    query_version: i64,
    /// `STARTING`, `RUNNING`, `SUCCEEDED`, `FAILED`, `STOPPED` or `REVOKED`.
    state: RunState,
    /// Who asked for it.
    requested_by: String,
    /// The Spark backend.
    backend: String,
    /// Rows per segment.
    segments: Vec<SegmentResult>,
    /// Rows read from the datasets.
    rows_read: u64,
    /// Rows written to the sink.
    rows_written: u64,
    /// Where the result was written.
    output: Option<String>,
    /// Why it failed, stopped or was revoked.
    failure: Option<String>,
    /// When it was asked for, ms.
    created_ms: i64,
    /// When its runner attested, ms.
    started_ms: Option<i64>,
    /// When it ended, ms.
    ended_ms: Option<i64>,
    /// SHA-256 of the job config (the runner's host data).
    job_config_sha256: String,
    /// The run policy: SHA-256 of the runner measurement and the job config.
    run_policy: String,
    /// The secrets granted to it (void once it ended).
    secrets: Vec<String>,
    /// The scheduler run executing it.
    scheduler_run: Option<i64>,
    /// Whose approval it needs, start to end (user ids; their standing now:
    /// `GET …/documents/{query}/approval`).
    approvers: Vec<String>,
    /// Whose consent it needs, start to end: the query, each input, the sink and the contract
    /// (each one's effective consent now: `GET …/consent/{kind}/{id}`).
    consent: Vec<ConsentSubjectRef>,
    /// The ledger index of its end entry.
    end_seq: Option<u64>,
    /// The receipt of its end entry (verify with `consort ledger verify-receipt`), once ended.
    #[schema(value_type = Option<Object>)]
    receipt: Option<serde_json::Value>,
}

/// A contract or document that consent is given on.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConsentSubjectRef {
    /// `contract` or `document`.
    kind: String,
    /// Its id.
    id: String,
}

impl From<&ConsentSubject> for ConsentSubjectRef {
    fn from(s: &ConsentSubject) -> Self {
        match s {
            ConsentSubject::Contract(id) => ConsentSubjectRef { kind: "contract".into(), id: id.clone() },
            ConsentSubject::Document(id) => ConsentSubjectRef { kind: "document".into(), id: id.clone() },
        }
    }
}

/// Each approver's standing on a document.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ApprovalList {
    /// By approver, as the document lists them.
    items: Vec<ApprovalStatus>,
}

/// A page of runs.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunList {
    /// The runs, newest first.
    items: Vec<RunView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RunFilter {
    /// Only runs of this query.
    #[serde(default)]
    query: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct QueryPath {
    /// The clean room.
    cleanroom: String,
    /// The query document.
    id: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct RunPath {
    /// The clean room.
    cleanroom: String,
    /// The run.
    run: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct RunSecretPath {
    /// The clean room.
    cleanroom: String,
    /// The run.
    run: String,
    /// The secret.
    name: String,
}

/// An owner's approval of a query.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApprovalChange {
    /// `false` withdraws it (revoking the query's running runs), `true` gives it back.
    approve: bool,
}

/// A runner's attestation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunnerAttestation {
    /// The evidence, standard base64 (a simulated report, or SEV-SNP evidence JSON).
    evidence: String,
    /// The one-off X25519 public key the evidence binds, standard base64.
    one_off_public_key: String,
}

/// An answer encrypted to the runner's one-off key (HPKE; docs/cleanroom-runs.md).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Wrapped {
    /// The encapsulated key, base64.
    enc: String,
    /// The ciphertext, base64.
    ciphertext: String,
}

/// The runner's session, encrypted to its one-off key.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunnerSession {
    /// The session token, HPKE-encrypted.
    session: Wrapped,
}

/// Whether the runner may go on.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunnerConsent {
    /// Always true in a 200 answer (a refusal is a 409).
    execution: bool,
}

fn wrapped(answer: consort_attest::WrappedAnswer) -> Wrapped {
    Wrapped { enc: STANDARD.encode(&answer.enc), ciphertext: STANDARD.encode(&answer.ciphertext) }
}

// ---- plumbing ------------------------------------------------------------------

impl RunView {
    async fn of(s: &AppState, cleanroom: &str, run: CleanRoomRun) -> RunView {
        let receipt = match (run.end_seq, area(s)) {
            (Some(seq), Ok(area)) => match area.ledger.receipt(cleanroom, seq).await {
                Ok(r) => serde_json::from_str(&r.to_json()).ok(),
                Err(e) => {
                    tracing::debug!(cleanroom, seq, error = %e, "no receipt yet for a run's end");
                    None
                }
            },
            _ => None,
        };
        RunView {
            id: run.id,
            cleanroom: cleanroom.to_string(),
            query: run.query,
            query_version: run.query_version,
            state: run.state,
            requested_by: run.requested_by,
            backend: run.backend,
            segments: run.segments,
            rows_read: run.rows_read,
            rows_written: run.rows_written,
            output: run.output,
            failure: run.failure,
            created_ms: run.created_ms,
            started_ms: run.started_ms,
            ended_ms: run.ended_ms,
            job_config_sha256: run.job_config_hash,
            run_policy: run.run_policy,
            secrets: run.secrets,
            scheduler_run: run.scheduler_run,
            approvers: run.approvers,
            consent: run.consent.iter().map(ConsentSubjectRef::from).collect(),
            end_seq: run.end_seq,
            receipt,
        }
    }
}

fn executor(s: &AppState) -> Result<&std::sync::Arc<dyn consort_governance::runs::RunExecutor>, ApiError> {
    area(s)?.runs.as_ref().ok_or_else(|| ApiError::NotFound {
        message: "this consort server does not run clean-room queries (no Spark executor is wired)".into(),
    })
}

/// Revokes the runs a withdrawal concerns and kills their applications. A kill that fails is
/// logged: the run is revoked either way (its grants are gone, its runner's next call stops it).
pub(crate) async fn revoke(s: &AppState, cleanroom: &str, revocation: Revocation) -> Result<(), ApiError> {
    let area = area(s)?;
    let revoked = area.governance.revoke_runs(cleanroom, &revocation, now_ms(s)).await.map_err(gov_error)?;
    if let Some(executor) = &area.runs {
        for run in &revoked {
            if let Err(e) = executor.kill(run).await {
                tracing::warn!(cleanroom, run = %run.id, error = %e, "a revoked run's application could not be killed");
            }
        }
    }
    if !revoked.is_empty() {
        tracing::info!(cleanroom, runs = revoked.len(), "revoked clean-room runs");
    }
    Ok(())
}

/// Revocation after a consent change (called by the consent route).
pub(crate) async fn after_consent(
    s: &AppState,
    cleanroom: &str,
    subject: &ConsentSubject,
    option: ConsentOption,
    enabled: bool,
) -> Result<(), ApiError> {
    if option == ConsentOption::Execution && !enabled {
        revoke(s, cleanroom, Revocation::Consent(subject.clone())).await?;
    }
    Ok(())
}

fn session_token(headers: &HeaderMap) -> Result<String, ApiError> {
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => Ok(token.to_string()),
        _ => Err(ApiError::Unauthorized {
            code: "session_required",
            message: "runner calls carry `Authorization: Bearer <session>`; attest first (POST …/runner/attest)".into(),
        }),
    }
}

fn b64(field: &'static str, text: &str) -> Result<Vec<u8>, ApiError> {
    STANDARD
        .decode(text.trim())
        .map_err(|_| ApiError::bad_request("invalid_request", field, format!("`{field}` is not standard base64")))
}

// ---- prepare and run -------------------------------------------------------------

/// Prepare the clean room's runs: measure the runner this server ships and bind every accepted
/// dataset's and sink's keys to it. A user sends JSON (or nothing); a member a signed `prepare`.
#[utoipa::path(
    post,
    path = "/v1/cleanrooms/{cleanroom}/prepare",
    operation_id = "prepareCleanRoom",
    tag = "cleanrooms",
    params(RoomPath),
    request_body(content = PrepareBody, description = "Optional."),
    responses(
        (status = 200, description = "The prepared policy.", body = Prepared),
        (status = 400, description = "An unknown backend.", body = ErrorBody),
        (status = 403, description = "Not a party to the clean room.", body = ErrorBody),
        (status = 404, description = "No such clean room.", body = ErrorBody),
        (status = 409, description = "A dataset's key was never put (`key_missing`).", body = ErrorBody),
    )
)]
pub(crate) async fn prepare(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<RoomPath>,
    request: Request,
) -> Result<Json<Prepared>, ApiError> {
    let (caller, body): (Caller, Option<PrepareBody>) =
        caller_and_optional_body(&s, &p.cleanroom, "prepare", Names::Nothing, &principal, request).await?;
    let body = body.unwrap_or_default();
    let runner = executor(&s)?
        .runner(body.backend.as_deref())
        .map_err(|e| ApiError::bad_request("invalid_request", "backend", e))?;
    let prepared = area(&s)?.governance.prepare(&p.cleanroom, &caller, runner, now_ms(&s)).await.map_err(gov_error)?;
    Ok(Json(prepared))
}

/// Run a query: the checklist (each step with its code and ledger entry), then the governed
/// runner is submitted to Spark. `Idempotency-Key` makes a retry return the same run (200).
#[utoipa::path(
    post,
    path = "/v1/cleanrooms/{cleanroom}/queries/{id}/run",
    operation_id = "runQuery",
    tag = "cleanrooms",
    params(QueryPath, ("Idempotency-Key" = Option<String>, Header, description = "1 to 128 visible ASCII characters; a retry with the same key returns the same run.")),
    request_body(content = RunBody, description = "Optional."),
    responses(
        (status = 201, description = "The run, started.", body = RunView),
        (status = 200, description = "The run an earlier call with this Idempotency-Key started.", body = RunView),
        (status = 400, description = "A malformed key or backend.", body = ErrorBody),
        (status = 403, description = "Not a party; consent withdrawn (`consent_withdrawn`).", body = ErrorBody),
        (status = 404, description = "No such clean room or query.", body = ErrorBody),
        (status = 409, description = "A checklist step refused: `query_not_accepted`, `dataset_not_accepted`, `sink_not_accepted`, `approval_missing`, `source_unreadable`, `sink_unwritable`, `not_prepared`, `prepare_stale`, `key_missing`.", body = ErrorBody),
        (status = 503, description = "The submission failed (`submit_failed`); the run is recorded as failed.", body = ErrorBody),
    )
)]
pub(crate) async fn run_query(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<QueryPath>,
    request: Request,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    let idempotency = match request.headers().get("idempotency-key") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| {
                    ApiError::bad_request("invalid_request", "Idempotency-Key", "must be visible ASCII characters")
                })?
                .to_string(),
        ),
    };
    let named = format!("queries/{}/run", p.id);
    let (caller, body): (Caller, Option<RunBody>) =
        caller_and_optional_body(&s, &p.cleanroom, "run", Names::Subject(&named), &principal, request).await?;
    let body = body.unwrap_or_default();
    let area = area(&s)?;
    let executor = executor(&s)?;
    let backend = match body.backend {
        Some(b) => Some(b),
        None => area.governance.prepared(&p.cleanroom).await.map_err(gov_error)?.map(|prep| prep.runner.backend),
    };
    let runner =
        executor.runner(backend.as_deref()).map_err(|e| ApiError::bad_request("invalid_request", "backend", e))?;
    let now = now_ms(&s);
    let started = area
        .governance
        .start_run(&p.cleanroom, &caller, &p.id, idempotency.as_deref(), &runner, executor.probe(), now)
        .await
        .map_err(gov_error)?;
    // Submitting again a run a retry found is harmless: its job exists, the submission is once.
    if started.run.state == RunState::Starting
        && let Err(e) = executor.submit(&p.cleanroom, &started.run).await
    {
        let reason = format!("submit_failed: {e}");
        let _ = area.governance.finish_run(&p.cleanroom, &started.run.id, false, Some(reason.clone()), now).await;
        return Err(ApiError::Unavailable {
            message: format!("run {} could not be submitted to Spark: {e}", started.run.id),
        });
    }
    let status = if started.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(RunView::of(&s, &p.cleanroom, started.run).await)))
}

/// The clean room's runs, newest first (of one query with `query`).
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/runs",
    operation_id = "listCleanRoomRuns",
    tag = "cleanrooms",
    params(RoomPath, RunFilter),
    responses(
        (status = 200, description = "The runs.", body = RunList),
        (status = 400, description = "A malformed parameter.", body = ErrorBody),
        (status = 403, description = "Not a party to the clean room.", body = ErrorBody),
        (status = 404, description = "No such clean room.", body = ErrorBody),
    )
)]
pub(crate) async fn runs(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<RoomPath>,
    Query(filter): Query<RunFilter>,
) -> Result<Json<RunList>, ApiError> {
    require_reader(&s, &p.cleanroom, &principal).await?;
    let runs = area(&s)?.governance.runs(&p.cleanroom, filter.query.as_deref()).await.map_err(gov_error)?;
    let mut items = Vec::with_capacity(runs.len());
    for run in runs {
        items.push(RunView::of(&s, &p.cleanroom, run).await);
    }
    Ok(Json(RunList { items }))
}

/// A run: state, segments, rows, timings, failure, and the receipt of its end.
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/runs/{run}",
    operation_id = "getCleanRoomRun",
    tag = "cleanrooms",
    params(RunPath),
    responses(
        (status = 200, description = "The run.", body = RunView),
        (status = 400, description = "A malformed parameter.", body = ErrorBody),
        (status = 403, description = "Not a party to the clean room.", body = ErrorBody),
        (status = 404, description = "No such clean room or run.", body = ErrorBody),
    )
)]
pub(crate) async fn run(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<RunPath>,
) -> Result<Json<RunView>, ApiError> {
    require_reader(&s, &p.cleanroom, &principal).await?;
    let run = area(&s)?.governance.run(&p.cleanroom, &p.run).await.map_err(gov_error)?;
    Ok(Json(RunView::of(&s, &p.cleanroom, run).await))
}

/// The end of the run's driver log, only while every party consents to logging on the run's
/// query, inputs, sink and contract (logs may carry what the runner saw).
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/runs/{run}/log",
    operation_id = "cleanRoomRunLog",
    tag = "cleanrooms",
    params(RunPath),
    responses(
        (status = 200, description = "The log's tail (at most 64 KiB).", body = String, content_type = "text/plain"),
        (status = 400, description = "A malformed parameter.", body = ErrorBody),
        (status = 403, description = "Not a party, or logging consent is off (`logging_not_consented`).", body = ErrorBody),
        (status = 404, description = "No such clean room or run, or no log yet.", body = ErrorBody),
    )
)]
pub(crate) async fn run_log(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<RunPath>,
) -> Result<String, ApiError> {
    require_reader(&s, &p.cleanroom, &principal).await?;
    let governance = &area(&s)?.governance;
    let run = governance.run(&p.cleanroom, &p.run).await.map_err(gov_error)?;
    for subject in &run.consent {
        let view = governance.consent(&p.cleanroom, subject).await.map_err(gov_error)?;
        if let Some(status) = view.options.get(&ConsentOption::Logging)
            && !status.enabled
        {
            return Err(ApiError::Forbidden {
                code: "logging_not_consented",
                message: format!(
                    "logs leave a run only when every party turned logging on: {subject:?} has it off for {}",
                    status.off_by.join(", ")
                ),
            });
        }
    }
    let id =
        run.scheduler_run.ok_or_else(|| ApiError::NotFound { message: format!("run {} has no log yet", run.id) })?;
    s.scheduler.run_log(id, 64 * 1024).await.map_err(ApiError::from)
}

/// Each approver's standing on a document: its ballot and whether it withdrew its approval
/// since. A run of a query needs every approver's approval.
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/documents/{id}/approval",
    operation_id = "getApprovals",
    tag = "cleanrooms",
    params(QueryPath),
    responses(
        (status = 200, description = "The approvers' standing.", body = ApprovalList),
        (status = 400, description = "A malformed path parameter.", body = ErrorBody),
        (status = 403, description = "Not a party to the clean room.", body = ErrorBody),
        (status = 404, description = "No such clean room or document.", body = ErrorBody),
    )
)]
pub(crate) async fn approvals(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<QueryPath>,
) -> Result<Json<ApprovalList>, ApiError> {
    require_reader(&s, &p.cleanroom, &principal).await?;
    let items = area(&s)?.governance.approvals(&p.cleanroom, &p.id).await.map_err(gov_error)?;
    Ok(Json(ApprovalList { items }))
}

/// An owner withdraws (`approve: false`) or gives back its approval of an accepted query.
/// Withdrawing revokes the query's running runs and kills their applications.
#[utoipa::path(
    put,
    path = "/v1/cleanrooms/{cleanroom}/documents/{id}/approval",
    operation_id = "setApproval",
    tag = "cleanrooms",
    params(QueryPath),
    request_body = ApprovalChange,
    responses(
        (status = 204, description = "Recorded (and runs revoked)."),
        (status = 400, description = "A malformed body.", body = ErrorBody),
        (status = 403, description = "Not an approver of the accepted document.", body = ErrorBody),
        (status = 404, description = "No such clean room or document.", body = ErrorBody),
    )
)]
pub(crate) async fn set_approval(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<QueryPath>,
    ApiJson(change): ApiJson<ApprovalChange>,
) -> Result<StatusCode, ApiError> {
    let principal = principal_name(&principal)?;
    let governance = &area(&s)?.governance;
    governance.set_approval(&p.cleanroom, &principal, &p.id, change.approve, now_ms(&s)).await.map_err(gov_error)?;
    if !change.approve {
        let user = governance.user_for(&p.cleanroom, &principal).await.map_err(gov_error)?;
        revoke(&s, &p.cleanroom, Revocation::Approval { query: p.id.clone(), user: user.id }).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---- the runner ----------------------------------------------------------------------

/// The runner attests: its evidence must satisfy the run's policy and bind its one-off key.
#[utoipa::path(
    post,
    path = "/v1/cleanrooms/{cleanroom}/runs/{run}/runner/attest",
    operation_id = "runnerAttest",
    tag = "runner",
    params(RunPath),
    request_body = RunnerAttestation,
    responses(
        (status = 200, description = "The session token, encrypted to the one-off key.", body = RunnerSession),
        (status = 400, description = "Malformed base64.", body = ErrorBody),
        (status = 403, description = "Refused: `attestation_required`, `attestation_invalid`, `measurement_not_allowed`, `report_data_mismatch`, `consent_withdrawn`.", body = ErrorBody),
        (status = 404, description = "No such clean room or run.", body = ErrorBody),
        (status = 409, description = "The run ended (`run_not_live`).", body = ErrorBody),
    )
)]
pub(crate) async fn runner_attest(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<RunPath>,
    ApiJson(body): ApiJson<RunnerAttestation>,
) -> Result<Json<RunnerSession>, ApiError> {
    let area = area(&s)?;
    let verifier = area.verifier.as_ref().ok_or_else(|| ApiError::Forbidden {
        code: "attestation_invalid",
        message: "this server accepts no attestation evidence ([cleanroom] sev_snp or simulated_attestation_key)"
            .into(),
    })?;
    let evidence = b64("evidence", &body.evidence)?;
    let key = b64("one_off_public_key", &body.one_off_public_key)?;
    let request = Attested { run_id: &p.run, evidence: &evidence, one_off_public_key: &key };
    let answer =
        area.governance.runner_attest(&p.cleanroom, request, verifier.as_ref(), now_ms(&s)).await.map_err(gov_error)?;
    Ok(Json(RunnerSession { session: wrapped(answer) }))
}

/// Whether the runner may go on: the run is live and every consent it depends on is on.
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/runs/{run}/runner/consent",
    operation_id = "runnerConsent",
    tag = "runner",
    params(RunPath),
    responses(
        (status = 200, description = "Go on.", body = RunnerConsent),
        (status = 400, description = "A malformed path parameter.", body = ErrorBody),
        (status = 401, description = "No session.", body = ErrorBody),
        (status = 403, description = "Not this run's session (`invalid_session`), or consent withdrawn (`consent_withdrawn`).", body = ErrorBody),
        (status = 404, description = "No such clean room or run.", body = ErrorBody),
        (status = 409, description = "The run ended or was revoked (`run_not_live`): stop.", body = ErrorBody),
    )
)]
pub(crate) async fn runner_consent(
    State(s): State<AppState>,
    headers: HeaderMap,
    ApiPath(p): ApiPath<RunPath>,
) -> Result<Json<RunnerConsent>, ApiError> {
    let token = session_token(&headers)?;
    area(&s)?.governance.runner_session(&p.cleanroom, &p.run, &token).await.map_err(gov_error)?;
    Ok(Json(RunnerConsent { execution: true }))
}

/// A secret granted to the run, encrypted to the runner's one-off key.
#[utoipa::path(
    post,
    path = "/v1/cleanrooms/{cleanroom}/runs/{run}/runner/secrets/{name}",
    operation_id = "runnerSecret",
    tag = "runner",
    params(RunSecretPath),
    responses(
        (status = 200, description = "The secret, HPKE-encrypted.", body = Wrapped),
        (status = 400, description = "A malformed path parameter.", body = ErrorBody),
        (status = 401, description = "No session.", body = ErrorBody),
        (status = 403, description = "Not granted to this run (`wrong_run`), a bad session, or consent withdrawn.", body = ErrorBody),
        (status = 404, description = "No such clean room, run or secret.", body = ErrorBody),
        (status = 409, description = "The run ended (`run_not_live`).", body = ErrorBody),
    )
)]
pub(crate) async fn runner_secret(
    State(s): State<AppState>,
    headers: HeaderMap,
    ApiPath(p): ApiPath<RunSecretPath>,
) -> Result<Json<Wrapped>, ApiError> {
    let token = session_token(&headers)?;
    let answer = area(&s)?
        .governance
        .runner_secret(&p.cleanroom, &p.run, &token, &p.name, now_ms(&s))
        .await
        .map_err(gov_error)?;
    Ok(Json(wrapped(answer)))
}

/// The runner reports progress and its end (in the ledger).
#[utoipa::path(
    post,
    path = "/v1/cleanrooms/{cleanroom}/runs/{run}/runner/events",
    operation_id = "runnerEvent",
    tag = "runner",
    params(RunPath),
    request_body = RunnerEvent,
    responses(
        (status = 204, description = "Recorded."),
        (status = 400, description = "A malformed event.", body = ErrorBody),
        (status = 401, description = "No session.", body = ErrorBody),
        (status = 403, description = "Not this run's session.", body = ErrorBody),
        (status = 404, description = "No such clean room or run.", body = ErrorBody),
        (status = 409, description = "The run ended (`run_not_live`).", body = ErrorBody),
    )
)]
pub(crate) async fn runner_event(
    State(s): State<AppState>,
    headers: HeaderMap,
    ApiPath(p): ApiPath<RunPath>,
    ApiJson(event): ApiJson<RunnerEvent>,
) -> Result<StatusCode, ApiError> {
    let token = session_token(&headers)?;
    area(&s)?.governance.runner_event(&p.cleanroom, &p.run, &token, event, now_ms(&s)).await.map_err(gov_error)?;
    Ok(StatusCode::NO_CONTENT)
}
