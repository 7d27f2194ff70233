//! The run flow: prepare, the run checklist, the governed runner's session, and revocation.
//!
//! A run is decided here and executed elsewhere (the server's `cleanroom` job kind submits the
//! governed runner to Spark). Every step of the checklist has its own refusal code and ledger
//! entry; the run, its grants and the entries of its checklist commit together. The runner
//! attests once and then acts through a session bound to the run; consent is re-checked at each
//! of its calls, and a run revoked by a withdrawal loses its grants at once.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use consort_attest::{AttestationVerifier, Policy, WrappedAnswer, bind_check, secret_binding};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::GovError;
use crate::model::{
    ConsentOption, Contract, ContractState, DatasetSpec, Document, DocumentBody, DocumentState, QuerySpec, SinkSpec,
    Vote,
};
use crate::secrets::{Attested, SecretGrant, SecretRecord};
use crate::service::{Caller, ConsentSubject, Governance, consent_view, not_found, party_of};
use crate::store::Map;
use crate::tx::Tx;

/// What the server would run for a clean room's queries now: measured when preparing, and again
/// at every run to refuse a run whose runner changed since.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerIdentity {
    /// SHA-256 of the governed runner package (hex).
    pub measurement: String,
    /// The Spark backend runs go to.
    pub backend: String,
    /// SHA-256 of what the driver and executors run besides the package (on Kubernetes the
    /// pods' image and spec), hex; `None` where the backend runs the package as it is.
    pub platform: Option<String>,
}

/// A secret bound to the prepared policy: the storage key of a dataset or sink.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreparedKey {
    /// The secret's name.
    pub secret: String,
    /// The dataset or sink document that needs it.
    pub document: String,
    /// The secret's owner (`user:ID` or `member:ID`).
    pub owner: String,
}

/// The clean room's prepared run policy.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prepared {
    /// SHA-256 (hex) of the runner identity and the bound keys.
    pub id: String,
    /// What it was prepared for.
    pub runner: RunnerIdentity,
    /// The dataset and sink keys bound to it.
    pub keys: Vec<PreparedKey>,
    /// Who prepared it.
    pub prepared_by: String,
    /// When, ms.
    pub prepared_ms: i64,
}

/// A run's state.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunState {
    /// Checked and granted; being submitted, or submitted and not attested yet.
    Starting,
    /// The runner attested and works.
    Running,
    /// Written to the sink.
    Succeeded,
    /// Failed (the reason says why).
    Failed,
    /// The runner stopped itself because consent was withdrawn.
    Stopped,
    /// Revoked by a withdrawal of consent or approval; killed through the backend.
    Revoked,
}

impl RunState {
    /// Whether the run ended.
    pub fn is_final(self) -> bool {
        !matches!(self, RunState::Starting | RunState::Running)
    }
}

/// The rows one segment produced.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentResult {
    /// The segment's execution order.
    pub execution_order: u32,
    /// Rows in its result.
    pub rows: u64,
}

/// A clean-room run as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CleanRoomRun {
    /// Its id (16 lower-case hex digits).
    pub id: String,
    /// The query.
    pub query: String,
    /// The query's version.
    pub query_version: i64,
    /// Who asked for it (`user:ID` or `member:ID`).
    pub requested_by: String,
    /// The idempotency key it was asked with.
    pub idempotency_key: Option<String>,
    /// Its state.
    pub state: RunState,
    /// SHA-256 (hex) of the job config's canonical bytes: the runner's `host_data`.
    pub job_config_hash: String,
    /// SHA-256 (hex) of the runner measurement and the job config hash.
    pub run_policy: String,
    /// The prepared policy it derives from.
    pub prepared: String,
    /// The attestation policy its runner must satisfy.
    pub policy: Policy,
    /// The secrets granted to it.
    pub secrets: Vec<String>,
    /// The consent it depends on.
    pub consent: Vec<ConsentSubject>,
    /// The owners whose approval it depends on (user ids).
    pub approvers: Vec<String>,
    /// The backend it runs on.
    pub backend: String,
    /// The scheduler run that executes it.
    pub scheduler_run: Option<i64>,
    /// SHA-256 (hex) of the runner's session token, once it attested.
    pub session_hash: Option<String>,
    /// The runner's one-off X25519 public key (base64), once it attested.
    pub one_off_key: Option<String>,
    /// When it was asked for, ms.
    pub created_ms: i64,
    /// When its runner attested, ms.
    pub started_ms: Option<i64>,
    /// When it ended, ms.
    pub ended_ms: Option<i64>,
    /// Rows per segment, as the runner reported them.
    pub segments: Vec<SegmentResult>,
    /// Rows read from the datasets.
    pub rows_read: u64,
    /// Rows written to the sink.
    pub rows_written: u64,
    /// Where the result was written.
    pub output: Option<String>,
    /// Why it failed, stopped or was revoked.
    pub failure: Option<String>,
    /// The ledger index of its end entry (for a receipt).
    pub end_seq: Option<u64>,
}

/// A run just asked for: the record and the job config the runner receives.
#[derive(Clone, Debug)]
pub struct StartedRun {
    /// The run.
    pub run: CleanRoomRun,
    /// The job config's canonical bytes (the runner hashes exactly these).
    pub job_config: Vec<u8>,
    /// `false` when an earlier call with the same idempotency key made it.
    pub created: bool,
}

/// Whether the places a run reads and writes can be used, checked before it is granted
/// anything. Implemented by the server over the landed storage.
#[async_trait::async_trait]
pub trait LocationProbe: Send + Sync {
    /// `Err(why)` when the dataset cannot be read with `credentials` (the secrets' values).
    async fn readable(&self, dataset: &DatasetSpec, credentials: &[Vec<u8>]) -> Result<(), String>;
    /// `Err(why)` when the sink cannot be written with `credentials`.
    async fn writable(&self, sink: &SinkSpec, credentials: &[Vec<u8>]) -> Result<(), String>;
}

/// A probe that accepts every location (benchmarks of the governance overhead alone).
#[derive(Debug, Default, Clone, Copy)]
pub struct AcceptAllLocations;

#[async_trait::async_trait]
impl LocationProbe for AcceptAllLocations {
    async fn readable(&self, _: &DatasetSpec, _: &[Vec<u8>]) -> Result<(), String> {
        Ok(())
    }
    async fn writable(&self, _: &SinkSpec, _: &[Vec<u8>]) -> Result<(), String> {
        Ok(())
    }
}

/// What a runner reports.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum RunnerEvent {
    /// It started reading.
    Start,
    /// A segment ran.
    Segment {
        /// Its execution order.
        #[serde(rename = "executionOrder")]
        execution_order: u32,
        /// Rows in its result.
        rows: u64,
    },
    /// Rows read from the datasets so far.
    Rows {
        /// The count.
        read: u64,
    },
    /// It ended.
    End {
        /// `succeeded`, `failed` or `stopped`.
        state: RunnerEnd,
        /// Rows read.
        #[serde(rename = "rowsRead", default)]
        rows_read: u64,
        /// Rows written.
        #[serde(rename = "rowsWritten", default)]
        rows_written: u64,
        /// Where the result went.
        #[serde(default)]
        output: Option<String>,
        /// Why it failed or stopped.
        #[serde(default)]
        failure: Option<String>,
    },
}

/// How a runner says it ended.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunnerEnd {
    /// Written.
    Succeeded,
    /// Failed.
    Failed,
    /// Stopped on withdrawn consent.
    Stopped,
}

/// One approver's standing on a document.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalStatus {
    /// The approver (a user id).
    pub approver: String,
    /// Its ballot, once it voted.
    pub ballot: Option<Vote>,
    /// Whether it withdrew its approval after accepting (`PUT …/documents/{id}/approval`).
    pub withdrawn: bool,
    /// Whether its approval holds now: it accepted and did not withdraw.
    pub approved: bool,
}

impl ApprovalStatus {
    /// The standing from a ballot and a withdrawal.
    pub fn of(approver: &str, ballot: Option<Vote>, withdrawn: bool) -> Self {
        ApprovalStatus {
            approver: approver.to_string(),
            ballot,
            withdrawn,
            approved: ballot == Some(Vote::Accept) && !withdrawn,
        }
    }
}

/// What a withdrawal revokes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// Consent withdrawn on a subject: every live run depending on it.
    Consent(ConsentSubject),
    /// An owner's approval of a query withdrawn: every live run of it.
    Approval {
        /// The query.
        query: String,
        /// The owner (user id).
        user: String,
    },
}

const PREPARED: &str = "prepared";
/// How long a runner's session lives at most; it dies with its run before that.
pub const SESSION_TTL_MS: i64 = 24 * 3600 * 1000;

fn run_key(id: &str) -> String {
    format!("run/{id}")
}

fn idempotency_key(query: &str, key: &str) -> String {
    format!("idempotency/{query}/{key}")
}

fn withdrawn_key(document: &str, user: &str) -> String {
    format!("approval-withdrawn/{document}/{user}")
}

fn grant_key(run: &str, secret: &str) -> String {
    format!("grant/{run}/{secret}")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex_encode(&Sha256::digest(bytes))
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The refusal of one checklist step.
fn refused(code: &'static str, step: &'static str, message: String) -> GovError {
    GovError::RunRefused { code, step, message }
}

/// The run policy: SHA-256 over the runner's measurement and the job config's hash.
pub fn run_policy(measurement: &str, job_config_hash: &str) -> String {
    sha256_hex(format!("consort-run-policy/v1\n{measurement}\n{job_config_hash}").as_bytes())
}

/// The job config's canonical bytes: the query and its datasets' and sink's descriptors.
pub fn job_config(
    cleanroom: &str,
    run: &str,
    query: (&Document, &QuerySpec),
    datasets: &[(String, &Document, &DatasetSpec)],
    sink: (&Document, &SinkSpec),
) -> Vec<u8> {
    let (query_doc, spec) = query;
    let mut segments = spec.segments.clone();
    segments.sort_by_key(|s| s.execution_order);
    let segments: Vec<Value> = segments
        .iter()
        .map(|s| {
            json!({
                "executionOrder": s.execution_order,
                "sql": s.sql,
                "preconditions": s.preconditions.iter().map(|p| json!({"view": p.view, "minRows": p.min_rows})).collect::<Vec<_>>(),
                "postFilters": s.post_filters.iter().map(|f| json!({"column": f.column, "min": f.min})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let datasets: Vec<Value> = datasets
        .iter()
        .map(|(view, doc, d)| {
            json!({
                "id": doc.id, "owner": doc.owner, "view": view, "location": d.location, "format": d.format,
                "schema": d.schema, "allowedFields": d.allowed_fields, "secrets": d.secrets,
            })
        })
        .collect();
    let (sink_doc, s) = sink;
    let config = json!({
        "cleanroom": cleanroom,
        "run": run,
        "query": {"id": query_doc.id, "version": query_doc.version, "segments": segments},
        "datasets": datasets,
        "sink": {"id": sink_doc.id, "owner": sink_doc.owner, "location": s.location, "format": s.format,
                 "allowedFields": s.allowed_fields, "secrets": s.secrets},
    });
    consort_ledger::canonical_json(&config).into_bytes()
}

/// A new run id: 16 hex digits, from the idempotency key when there is one (a retry finds the
/// same id), else random.
fn new_run_id(cleanroom: &str, query: &str, key: Option<&str>) -> Result<String, GovError> {
    let seed = match key {
        Some(key) => format!("{cleanroom}\n{query}\n{key}").into_bytes(),
        None => random_bytes::<16>()?.to_vec(),
    };
    Ok(sha256_hex(&seed)[..16].to_string())
}

fn random_bytes<const N: usize>() -> Result<[u8; N], GovError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; N];
    ring::rand::SystemRandom::new().fill(&mut bytes).map_err(|_| GovError::Keys("no randomness".into()))?;
    Ok(bytes)
}

/// Everything a run reads: the query and its documents, decided on fresh reads.
struct Checked {
    query: Document,
    spec: QuerySpec,
    datasets: Vec<(String, Document, DatasetSpec)>,
    sink: (Document, SinkSpec),
    approvers: Vec<String>,
    consent: Vec<ConsentSubject>,
}

impl Governance {
    // ---- prepare ----

    /// Prepares the clean room's runs for `runner`: binds every accepted dataset's and sink's
    /// secrets to it. Any member or user may prepare; the last prepare counts.
    pub async fn prepare(
        &self,
        cleanroom: &str,
        caller: &Caller,
        runner: RunnerIdentity,
        now_ms: i64,
    ) -> Result<Prepared, GovError> {
        if !is_hex_of(&runner.measurement, 32) {
            return Err(GovError::invalid(
                "runner.measurement",
                "not 64 hex digits",
                "pass the runner package's SHA-256",
            ));
        }
        let (prepared, _) = transact!(self, cleanroom, now_ms, "prepare", Some(caller), |tx| {
            let by = party_of(tx, caller).await?;
            let documents: Vec<Document> = tx.all(Map::Documents, "").await?.into_iter().map(|(_, d)| d).collect();
            let mut keys = Vec::new();
            for doc in documents.iter().filter(|d| d.state == DocumentState::Accepted) {
                let secrets = match &doc.body {
                    DocumentBody::Dataset(d) => &d.secrets,
                    DocumentBody::Sink(s) => &s.secrets,
                    DocumentBody::Query(_) => continue,
                };
                for secret in secrets {
                    let record: SecretRecord = tx.get(Map::Secrets, secret).await?.ok_or_else(|| {
                        refused(
                            "key_missing",
                            "prepare",
                            format!(
                                "{} {:?} needs secret {secret:?}, which nobody put: its owner {:?} puts it first",
                                doc.body.kind(),
                                doc.id,
                                doc.owner
                            ),
                        )
                    })?;
                    keys.push(PreparedKey { secret: secret.clone(), document: doc.id.clone(), owner: record.owner });
                }
            }
            let id = sha256_hex(consort_ledger::canonical_json(&json!({"runner": runner, "keys": keys})).as_bytes());
            let prepared = Prepared { id, runner: runner.clone(), keys, prepared_by: by, prepared_ms: now_ms };
            tx.put(Map::Config, PREPARED, &prepared);
            tx.log("run.prepared", json!({"prepared": prepared}));
            Ok(prepared)
        })?;
        Ok(prepared)
    }

    /// The clean room's prepared policy, if any.
    pub async fn prepared(&self, cleanroom: &str) -> Result<Option<Prepared>, GovError> {
        let mut tx = Tx::new(self.store().as_ref(), cleanroom, 0);
        tx.get(Map::Config, PREPARED).await
    }

    // ---- the run checklist ----

    /// Asks for a run of `query`: the checklist, then the run and its per-run grants with one
    /// ledger entry per step, committed together. With an `idempotency_key` a retried call
    /// returns the run the first call made. `runner` is what the server would run now.
    #[allow(clippy::too_many_arguments)]
    pub async fn start_run(
        &self,
        cleanroom: &str,
        caller: &Caller,
        query_id: &str,
        idempotency: Option<&str>,
        runner: &RunnerIdentity,
        probe: &dyn LocationProbe,
        now_ms: i64,
    ) -> Result<StartedRun, GovError> {
        if let Some(key) = idempotency
            && (key.is_empty() || key.len() > 128 || !key.chars().all(|c| c.is_ascii_graphic()))
        {
            return Err(GovError::invalid(
                "Idempotency-Key",
                "must be 1 to 128 visible ASCII characters",
                "send a unique key per intended run, e.g. a UUID",
            ));
        }
        if let Some(key) = idempotency
            && let Some(existing) = self.run_for_key(cleanroom, query_id, key).await?
        {
            return Ok(existing);
        }
        let what = format!("run of query {query_id}");
        let id = new_run_id(cleanroom, query_id, idempotency)?;
        let (started, _) = transact!(self, cleanroom, now_ms, &what, Some(caller), |tx| {
            if let Some(key) = idempotency
                && let Some(existing) = tx.get::<String>(Map::Bindings, &idempotency_key(query_id, key)).await?
            {
                let run: CleanRoomRun = tx.get(Map::Bindings, &run_key(&existing)).await?.ok_or_else(|| {
                    GovError::Corrupt { what: "run", key: existing.clone(), message: "missing".into() }
                })?;
                let bytes = self.job_config_of(tx, &run).await?;
                return Ok(StartedRun { run, job_config: bytes, created: false });
            }
            let c = self.checklist(tx, caller, query_id).await?;
            let requested_by = party_of(tx, caller).await?;
            // Probing is I/O inside the unit of work: nothing is locked meanwhile, and what the
            // checklist read is checked again when it commits.
            self.probe_locations(cleanroom, &c, probe).await?;
            let log_step = |tx: &mut Tx<'_>, step: &str, detail: Value| {
                tx.log("run.check", json!({"run": id, "step": step, "ok": true, "detail": detail}));
            };
            log_step(tx, "authorise", json!({"caller": requested_by}));
            log_step(
                tx,
                "accepted",
                json!({"query": c.query.id, "version": c.query.version,
                    "datasets": c.datasets.iter().map(|(_, d, _)| &d.id).collect::<Vec<_>>(), "sink": c.sink.0.id}),
            );
            log_step(tx, "approvals", json!({"approvers": c.approvers}));
            log_step(tx, "consent", json!({"subjects": c.consent}));
            log_step(tx, "locations", json!({"readable": c.datasets.len(), "writable": 1}));
            let datasets: Vec<(String, &Document, &DatasetSpec)> =
                c.datasets.iter().map(|(view, doc, spec)| (view.clone(), doc, spec)).collect();
            let config = job_config(cleanroom, &id, (&c.query, &c.spec), &datasets, (&c.sink.0, &c.sink.1));
            let config_hash = sha256_hex(&config);
            log_step(tx, "job_config", json!({"sha256": config_hash}));
            let prepared: Prepared = tx.get(Map::Config, PREPARED).await?.ok_or_else(|| {
                refused(
                    "not_prepared",
                    "run_policy",
                    "the clean room was never prepared: run `consort cleanroom prepare` first".into(),
                )
            })?;
            if prepared.runner != *runner {
                return Err(refused(
                    "prepare_stale",
                    "run_policy",
                    format!(
                        "the clean room was prepared for runner {} on {}, but this server runs {} on {}: prepare again",
                        short(&prepared.runner.measurement),
                        prepared.runner.backend,
                        short(&runner.measurement),
                        runner.backend
                    ),
                ));
            }
            let policy_hash = run_policy(&runner.measurement, &config_hash);
            log_step(tx, "run_policy", json!({"run_policy": policy_hash, "prepared": prepared.id}));
            let needed: BTreeSet<(String, String)> = c
                .datasets
                .iter()
                .flat_map(|(_, doc, spec)| spec.secrets.iter().map(|s| (doc.id.clone(), s.clone())))
                .chain(c.sink.1.secrets.iter().map(|s| (c.sink.0.id.clone(), s.clone())))
                .collect();
            let policy = Policy {
                measurements: vec![runner.measurement.clone()],
                host_data: vec![config_hash.clone()],
                ..Policy::default()
            };
            let mut secrets = Vec::new();
            for (document, secret) in &needed {
                let Some(key) = prepared.keys.iter().find(|k| &k.secret == secret && &k.document == document) else {
                    return Err(refused(
                        "prepare_stale",
                        "grants",
                        format!(
                            "secret {secret:?} of {document:?} is not bound to the prepared policy (published after it?): prepare again"
                        ),
                    ));
                };
                let grant = SecretGrant {
                    run_id: id.clone(),
                    secret: secret.clone(),
                    policy: policy.clone(),
                    consent: c.consent.clone(),
                    granted_by: key.owner.clone(),
                };
                tx.put(Map::Bindings, &grant_key(&id, secret), &grant);
                secrets.push(secret.clone());
            }
            log_step(tx, "grants", json!({"secrets": secrets, "policy": policy}));
            let run = CleanRoomRun {
                id: id.clone(),
                query: c.query.id.clone(),
                query_version: c.query.version,
                requested_by,
                idempotency_key: idempotency.map(str::to_string),
                state: RunState::Starting,
                job_config_hash: config_hash,
                run_policy: policy_hash,
                prepared: prepared.id.clone(),
                policy,
                secrets,
                consent: c.consent.clone(),
                approvers: c.approvers.clone(),
                backend: runner.backend.clone(),
                scheduler_run: None,
                session_hash: None,
                one_off_key: None,
                created_ms: now_ms,
                started_ms: None,
                ended_ms: None,
                segments: Vec::new(),
                rows_read: 0,
                rows_written: 0,
                output: None,
                failure: None,
                end_seq: None,
            };
            tx.put(Map::Bindings, &run_key(&id), &run);
            if let Some(key) = idempotency {
                tx.put(Map::Bindings, &idempotency_key(query_id, key), &id);
            }
            tx.log(
                "run.started",
                json!({"run": id, "query": run.query, "backend": run.backend, "by": run.requested_by}),
            );
            Ok(StartedRun { run, job_config: config, created: true })
        })?;
        Ok(started)
    }

    async fn run_for_key(&self, cleanroom: &str, query: &str, key: &str) -> Result<Option<StartedRun>, GovError> {
        let mut tx = Tx::new(self.store().as_ref(), cleanroom, 0);
        let Some(id) = tx.get::<String>(Map::Bindings, &idempotency_key(query, key)).await? else {
            return Ok(None);
        };
        let run: CleanRoomRun = tx.get(Map::Bindings, &run_key(&id)).await?.ok_or_else(|| GovError::Corrupt {
            what: "run",
            key: id.clone(),
            message: "missing".into(),
        })?;
        let job_config = self.job_config_of(&mut tx, &run).await?;
        Ok(Some(StartedRun { run, job_config, created: false }))
    }

    /// The job config of a recorded run, rebuilt from its (immutable, accepted) documents.
    async fn job_config_of(&self, tx: &mut Tx<'_>, run: &CleanRoomRun) -> Result<Vec<u8>, GovError> {
        let query: Document =
            tx.get(Map::Documents, &run.query).await?.ok_or_else(|| not_found("query", &run.query))?;
        let DocumentBody::Query(spec) = &query.body else {
            return Err(not_found("query", &run.query));
        };
        let mut datasets = Vec::new();
        for input in &spec.inputs {
            let doc: Document =
                tx.get(Map::Documents, &input.dataset).await?.ok_or_else(|| not_found("dataset", &input.dataset))?;
            datasets.push((input.view.clone(), doc));
        }
        let sink: Document = tx.get(Map::Documents, &spec.sink).await?.ok_or_else(|| not_found("sink", &spec.sink))?;
        let DocumentBody::Sink(sink_spec) = &sink.body else {
            return Err(not_found("sink", &spec.sink));
        };
        let specs: Vec<(String, &Document, &DatasetSpec)> = datasets
            .iter()
            .filter_map(|(view, doc)| match &doc.body {
                DocumentBody::Dataset(d) => Some((view.clone(), doc, d)),
                _ => None,
            })
            .collect();
        let bytes = job_config(tx.cleanroom(), &run.id, (&query, spec), &specs, (&sink, sink_spec));
        if sha256_hex(&bytes) != run.job_config_hash {
            return Err(GovError::Corrupt {
                what: "run",
                key: run.id.clone(),
                message: "its documents changed since it started".into(),
            });
        }
        Ok(bytes)
    }

    /// The checklist's decisions on fresh reads: the caller, the documents' states, the
    /// approvals and the consent. Each refusal names its step.
    async fn checklist(&self, tx: &mut Tx<'_>, caller: &Caller, query_id: &str) -> Result<Checked, GovError> {
        // authorise: a member by its signed request (marked seen by the committing pass only).
        if !matches!(caller, Caller::Member(_)) {
            party_of(tx, caller).await.map_err(|e| match e {
                GovError::NotAUser { .. } | GovError::Forbidden { .. } => {
                    refused("forbidden", "authorise", e.to_string())
                }
                e => e,
            })?;
        }
        let query: Document = tx.get(Map::Documents, query_id).await?.ok_or_else(|| not_found("query", query_id))?;
        let DocumentBody::Query(spec) = query.body.clone() else {
            return Err(GovError::invalid(
                "query",
                format!("document {query_id:?} is a {}, not a query", query.body.kind()),
                "run a query document",
            ));
        };
        match query.state {
            DocumentState::Accepted => {}
            // Proposed: some approvers have not accepted it yet, which is the approvals step's
            // refusal (named below with who is missing).
            DocumentState::Proposed => {}
            state => {
                return Err(refused(
                    "query_not_accepted",
                    "accepted",
                    format!("query {query_id:?} is {state:?}: its owner proposes it and every approver accepts it"),
                ));
            }
        }
        let contract: Contract = tx
            .get(Map::Contracts, &query.contract_id)
            .await?
            .ok_or_else(|| not_found("contract", &query.contract_id))?;
        if contract.state != ContractState::Accepted {
            return Err(refused(
                "query_not_accepted",
                "accepted",
                format!("contract {:?} of the query is {:?}", contract.id, contract.state),
            ));
        }
        let mut datasets = Vec::new();
        for input in &spec.inputs {
            let doc: Document =
                tx.get(Map::Documents, &input.dataset).await?.ok_or_else(|| not_found("dataset", &input.dataset))?;
            let DocumentBody::Dataset(d) = doc.body.clone() else {
                return Err(refused(
                    "dataset_not_accepted",
                    "accepted",
                    format!("input {:?} is not a dataset", input.dataset),
                ));
            };
            if doc.state != DocumentState::Accepted {
                return Err(refused(
                    "dataset_not_accepted",
                    "accepted",
                    format!(
                        "dataset {:?} is {:?}: its owner proposes it and its approvers accept it",
                        doc.id, doc.state
                    ),
                ));
            }
            datasets.push((input.view.clone(), doc, d));
        }
        let sink: Document = tx.get(Map::Documents, &spec.sink).await?.ok_or_else(|| not_found("sink", &spec.sink))?;
        let DocumentBody::Sink(sink_spec) = sink.body.clone() else {
            return Err(refused("sink_not_accepted", "accepted", format!("{:?} is not a sink", spec.sink)));
        };
        if sink.state != DocumentState::Accepted {
            return Err(refused(
                "sink_not_accepted",
                "accepted",
                format!("sink {:?} is {:?}: its owner proposes it and its approvers accept it", sink.id, sink.state),
            ));
        }
        // approvals: every owner of every input and of the sink, computed again now (never the
        // list recorded at proposal time alone), with no approval withdrawn since.
        let approvers: BTreeSet<String> = datasets
            .iter()
            .map(|(_, d, _)| d.owner.clone())
            .chain([sink.owner.clone(), query.owner.clone()])
            .chain(query.approvers.iter().cloned())
            .collect();
        let mut missing = Vec::new();
        for approver in &approvers {
            let accepted = query.ballots.get(approver) == Some(&Vote::Accept);
            let withdrawn = tx.get::<i64>(Map::Bindings, &withdrawn_key(query_id, approver)).await?.is_some();
            if !accepted || withdrawn {
                missing.push(approver.clone());
            }
        }
        if !missing.is_empty() {
            return Err(refused(
                "approval_missing",
                "approvals",
                format!(
                    "query {query_id:?} lacks the approval of {} (owners of its inputs and sink approve every run): ask them to approve it",
                    missing.join(", ")
                ),
            ));
        }
        // consent: the query, each input, the sink and the contract.
        let consent: Vec<ConsentSubject> = [ConsentSubject::Document(query.id.clone())]
            .into_iter()
            .chain(datasets.iter().map(|(_, d, _)| ConsentSubject::Document(d.id.clone())))
            .chain([ConsentSubject::Document(sink.id.clone()), ConsentSubject::Contract(contract.id.clone())])
            .collect();
        require_execution_consent(tx, &consent).await?;
        Ok(Checked {
            query,
            spec,
            datasets,
            sink: (sink, sink_spec),
            approvers: approvers.into_iter().collect(),
            consent,
        })
    }

    async fn probe_locations(&self, cleanroom: &str, c: &Checked, probe: &dyn LocationProbe) -> Result<(), GovError> {
        for (_, doc, spec) in &c.datasets {
            let credentials = self.open_secrets(cleanroom, &spec.secrets).await?;
            probe.readable(spec, &credentials).await.map_err(|why| {
                refused("source_unreadable", "locations", format!("dataset {:?} at {}: {why}", doc.id, spec.location))
            })?;
        }
        let credentials = self.open_secrets(cleanroom, &c.sink.1.secrets).await?;
        probe.writable(&c.sink.1, &credentials).await.map_err(|why| {
            refused("sink_unwritable", "locations", format!("sink {:?} at {}: {why}", c.sink.0.id, c.sink.1.location))
        })
    }

    async fn open_secrets(&self, cleanroom: &str, names: &[String]) -> Result<Vec<Vec<u8>>, GovError> {
        let mut tx = Tx::new(self.store().as_ref(), cleanroom, 0);
        let mut values = Vec::new();
        for name in names {
            let record: SecretRecord = tx.get(Map::Secrets, name).await?.ok_or_else(|| {
                refused("key_missing", "locations", format!("secret {name:?} was never put: its owner puts it first"))
            })?;
            let opened = consort_attest::seal::open_with(
                self.sealing().as_ref(),
                &secret_binding(cleanroom, name),
                &record.sealed,
            )?;
            values.push(opened.expose().to_vec());
        }
        Ok(values)
    }

    /// Records the scheduler run that executes a clean-room run.
    pub async fn set_scheduler_run(
        &self,
        cleanroom: &str,
        run_id: &str,
        scheduler_run: i64,
        now_ms: i64,
    ) -> Result<CleanRoomRun, GovError> {
        let (run, _) = transact!(self, cleanroom, now_ms, "record the run's job", None, |tx| {
            let mut run = load_run(tx, run_id).await?;
            run.scheduler_run = Some(scheduler_run);
            tx.put(Map::Bindings, &run_key(run_id), &run);
            Ok(run)
        })?;
        Ok(run)
    }

    // ---- reads ----

    /// A run.
    pub async fn run(&self, cleanroom: &str, run_id: &str) -> Result<CleanRoomRun, GovError> {
        self.require_cleanroom(cleanroom).await?;
        let mut tx = Tx::new(self.store().as_ref(), cleanroom, 0);
        load_run(&mut tx, run_id).await
    }

    /// A run and its job config's canonical bytes (what its runner is given).
    pub async fn run_with_config(&self, cleanroom: &str, run_id: &str) -> Result<(CleanRoomRun, Vec<u8>), GovError> {
        let mut tx = Tx::new(self.store().as_ref(), cleanroom, 0);
        let run = load_run(&mut tx, run_id).await?;
        let config = self.job_config_of(&mut tx, &run).await?;
        Ok((run, config))
    }

    /// The runs, newest first; of one query when `query` is given.
    pub async fn runs(&self, cleanroom: &str, query: Option<&str>) -> Result<Vec<CleanRoomRun>, GovError> {
        self.require_cleanroom(cleanroom).await?;
        let mut tx = Tx::new(self.store().as_ref(), cleanroom, 0);
        let mut runs: Vec<CleanRoomRun> = tx
            .all(Map::Bindings, "run/")
            .await?
            .into_iter()
            .map(|(_, r): (String, CleanRoomRun)| r)
            .filter(|r| query.is_none_or(|q| r.query == q))
            .collect();
        runs.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then_with(|| a.id.cmp(&b.id)));
        Ok(runs)
    }

    // ---- the runner ----

    /// The runner's first call: its evidence must satisfy the run's policy (the prepared
    /// runner's measurement, the job config as host data) and bind its one-off key; the run
    /// must be live and every consent on. The answer is a session token, HPKE-encrypted to
    /// the one-off key.
    pub async fn runner_attest(
        &self,
        cleanroom: &str,
        request: Attested<'_>,
        verifier: &dyn AttestationVerifier,
        now_ms: i64,
    ) -> Result<WrappedAnswer, GovError> {
        let run_id = request.run_id;
        let caller = Caller::Runner(run_id.to_string());
        let token = format!("crs_{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()?));
        transact!(self, cleanroom, now_ms, "runner attestation", Some(&caller), |tx| {
            let mut run = load_run(tx, run_id).await?;
            require_live(&run)?;
            require_execution_consent(tx, &run.consent).await?;
            if request.evidence.is_empty() {
                return Err(consort_attest::AttestError::MissingEvidence.into());
            }
            let claims = verifier.verify(request.evidence, now_ms / 1000)?;
            run.policy.check(&claims)?;
            bind_check(&claims, request.one_off_public_key)?;
            run.session_hash = Some(sha256_hex(token.as_bytes()));
            run.one_off_key = Some(STANDARD.encode(request.one_off_public_key));
            run.state = RunState::Running;
            run.started_ms.get_or_insert(now_ms);
            tx.put(Map::Bindings, &run_key(run_id), &run);
            tx.log(
                "run.attested",
                json!({"run": run_id, "platform": claims.platform, "measurement": claims.measurement,
                    "host_data": claims.host_data}),
            );
            Ok(())
        })?;
        Ok(consort_attest::wrap_to(
            request.one_off_public_key,
            &consort_attest::session_info(cleanroom, run_id),
            token.as_bytes(),
        )?)
    }

    /// The run a session token belongs to, live, with every consent on.
    pub async fn runner_session(&self, cleanroom: &str, run_id: &str, token: &str) -> Result<CleanRoomRun, GovError> {
        let mut tx = Tx::new(self.store().as_ref(), cleanroom, 0);
        let run = session_run(&mut tx, run_id, token).await?;
        require_live(&run)?;
        require_execution_consent(&mut tx, &run.consent).await?;
        Ok(run)
    }

    /// A granted secret, HPKE-encrypted to the runner's one-off key (the session proves the
    /// attestation); every release is in the ledger.
    pub async fn runner_secret(
        &self,
        cleanroom: &str,
        run_id: &str,
        token: &str,
        name: &str,
        now_ms: i64,
    ) -> Result<WrappedAnswer, GovError> {
        let decided = async {
            let mut tx = Tx::new(self.store().as_ref(), cleanroom, now_ms);
            let run = session_run(&mut tx, run_id, token).await?;
            require_live(&run)?;
            let grant: SecretGrant =
                tx.get(Map::Bindings, &grant_key(run_id, name)).await?.ok_or_else(|| GovError::Attestation {
                    code: "wrong_run",
                    message: format!("secret {name:?} is not granted to run {run_id:?} (or its grant ended with it)"),
                })?;
            require_execution_consent(&mut tx, &grant.consent).await?;
            let record: SecretRecord = tx.get(Map::Secrets, name).await?.ok_or_else(|| not_found("secret", name))?;
            let value = consort_attest::seal::open_with(
                self.sealing().as_ref(),
                &secret_binding(cleanroom, name),
                &record.sealed,
            )?;
            let key = STANDARD
                .decode(run.one_off_key.as_deref().unwrap_or_default())
                .map_err(|e| GovError::Keys(format!("stored one-off key: {e}")))?;
            Ok::<_, GovError>(consort_attest::wrap_to(
                &key,
                &consort_attest::release_info(cleanroom, run_id, name),
                value.expose(),
            )?)
        }
        .await;
        match decided {
            Ok(answer) => {
                self.append_entry(cleanroom, "secret.released", json!({"secret": name, "run": run_id}), now_ms).await?;
                Ok(answer)
            }
            Err(e) => Err(self.refuse_runner(cleanroom, now_ms, &format!("release of secret {name}"), run_id, e).await),
        }
    }

    /// Records a runner's event; `end` ends the run, voids its grants and is in the ledger.
    pub async fn runner_event(
        &self,
        cleanroom: &str,
        run_id: &str,
        token: &str,
        event: RunnerEvent,
        now_ms: i64,
    ) -> Result<CleanRoomRun, GovError> {
        let caller = Caller::Runner(run_id.to_string());
        let (run, entries) = transact!(self, cleanroom, now_ms, "runner event", Some(&caller), |tx| {
            let mut run = session_run(tx, run_id, token).await?;
            require_live(&run)?;
            match &event {
                RunnerEvent::Start => tx.log("run.event", json!({"run": run_id, "event": "start"})),
                RunnerEvent::Segment { execution_order, rows } => {
                    run.segments.retain(|s| s.execution_order != *execution_order);
                    run.segments.push(SegmentResult { execution_order: *execution_order, rows: *rows });
                    tx.log(
                        "run.event",
                        json!({"run": run_id, "event": "segment", "executionOrder": execution_order, "rows": rows}),
                    );
                }
                RunnerEvent::Rows { read } => {
                    run.rows_read = *read;
                    tx.log("run.event", json!({"run": run_id, "event": "rows", "read": read}));
                }
                RunnerEvent::End { state, rows_read, rows_written, output, failure } => {
                    run.rows_read = *rows_read;
                    run.rows_written = *rows_written;
                    run.output = output.clone();
                    run.failure = failure.clone();
                    let state = match state {
                        RunnerEnd::Succeeded => RunState::Succeeded,
                        RunnerEnd::Failed => RunState::Failed,
                        RunnerEnd::Stopped => RunState::Stopped,
                    };
                    end_run(tx, &mut run, state, now_ms).await?;
                }
            }
            tx.put(Map::Bindings, &run_key(run_id), &run);
            Ok(run)
        })?;
        self.note_end_seq(cleanroom, run, &entries, now_ms).await
    }

    /// Ends a run whose application ended (the job kind calls it): a run its runner already
    /// ended is left as it said; otherwise it failed with `reason`.
    pub async fn finish_run(
        &self,
        cleanroom: &str,
        run_id: &str,
        succeeded: bool,
        reason: Option<String>,
        now_ms: i64,
    ) -> Result<CleanRoomRun, GovError> {
        let (run, entries) = transact!(self, cleanroom, now_ms, "finish run", None, |tx| {
            let mut run = load_run(tx, run_id).await?;
            if run.state.is_final() {
                return Ok(run);
            }
            run.failure = Some(match (succeeded, reason.clone()) {
                (true, _) => "the application succeeded without its runner reporting the end".into(),
                (false, Some(reason)) => reason,
                (false, None) => "the application ended without its runner reporting the end".into(),
            });
            end_run(tx, &mut run, RunState::Failed, now_ms).await?;
            tx.put(Map::Bindings, &run_key(run_id), &run);
            Ok(run)
        })?;
        self.note_end_seq(cleanroom, run, &entries, now_ms).await
    }

    async fn note_end_seq(
        &self,
        cleanroom: &str,
        mut run: CleanRoomRun,
        entries: &[consort_ledger::Entry],
        now_ms: i64,
    ) -> Result<CleanRoomRun, GovError> {
        let Some(seq) = entries.iter().find(|e| e.kind == "run.ended").map(|e| e.seq) else {
            return Ok(run);
        };
        let (updated, _) = transact!(self, cleanroom, now_ms, "record the run's end", None, |tx| {
            let mut stored = load_run(tx, &run.id).await?;
            stored.end_seq = Some(seq);
            tx.put(Map::Bindings, &run_key(&run.id), &stored);
            Ok(stored)
        })?;
        run = updated;
        Ok(run)
    }

    // ---- approvals and revocation ----

    /// Each approver's standing on a document: its ballot, and whether it withdrew its approval
    /// since (accepted queries). A run needs every one of them approved.
    pub async fn approvals(&self, cleanroom: &str, document_id: &str) -> Result<Vec<ApprovalStatus>, GovError> {
        let doc = self.document(cleanroom, document_id).await?;
        let mut tx = Tx::new(self.store().as_ref(), cleanroom, 0);
        let mut items = Vec::with_capacity(doc.approvers.len());
        for approver in &doc.approvers {
            let withdrawn = tx.get::<i64>(Map::Bindings, &withdrawn_key(document_id, approver)).await?.is_some();
            items.push(ApprovalStatus::of(approver, doc.ballots.get(approver).copied(), withdrawn));
        }
        Ok(items)
    }

    /// An owner withdraws (or gives again) its approval of an accepted query; runs of it need
    /// every approval at their start and while they run.
    pub async fn set_approval(
        &self,
        cleanroom: &str,
        principal: &str,
        query_id: &str,
        approve: bool,
        now_ms: i64,
    ) -> Result<Document, GovError> {
        let caller = Caller::User(principal.to_string());
        let (doc, _) = transact!(self, cleanroom, now_ms, "approval", Some(&caller), |tx| {
            let party = party_of(tx, &caller).await?;
            let user = party.trim_start_matches("user:").to_string();
            let doc: Document = tx.get(Map::Documents, query_id).await?.ok_or_else(|| not_found("query", query_id))?;
            if doc.state != DocumentState::Accepted || !doc.approvers.contains(&user) {
                return Err(GovError::Forbidden {
                    message: format!(
                        "{user:?} is not an approver of accepted document {query_id:?} (its approvers: {})",
                        doc.approvers.join(", ")
                    ),
                });
            }
            let key = withdrawn_key(query_id, &user);
            if approve {
                tx.delete(Map::Bindings, &key);
            } else {
                tx.put(Map::Bindings, &key, &now_ms);
            }
            tx.log("approval", json!({"document": query_id, "user": user, "approved": approve}));
            Ok(doc)
        })?;
        Ok(doc)
    }

    /// Revokes the live runs a withdrawal concerns: each is `Revoked`, its grants are deleted
    /// and its end is in the ledger. Returns them, for their applications to be killed.
    pub async fn revoke_runs(
        &self,
        cleanroom: &str,
        revocation: &Revocation,
        now_ms: i64,
    ) -> Result<Vec<CleanRoomRun>, GovError> {
        let (revoked, _) = transact!(self, cleanroom, now_ms, "revoke runs", None, |tx| {
            let runs: Vec<CleanRoomRun> =
                tx.all(Map::Bindings, "run/").await?.into_iter().map(|(_, r): (String, CleanRoomRun)| r).collect();
            let mut revoked = Vec::new();
            for mut run in runs.into_iter().filter(|r| !r.state.is_final()) {
                let (hit, reason) = match revocation {
                    Revocation::Consent(subject) => (
                        run.consent.contains(subject) && !execution_on(tx, subject).await?,
                        format!("execution consent on {subject:?} was withdrawn"),
                    ),
                    Revocation::Approval { query, user } => (
                        &run.query == query && run.approvers.contains(user),
                        format!("{user:?} withdrew the approval of query {query:?}"),
                    ),
                };
                if !hit {
                    continue;
                }
                run.failure = Some(reason);
                end_run(tx, &mut run, RunState::Revoked, now_ms).await?;
                tx.put(Map::Bindings, &run_key(&run.id), &run);
                revoked.push(run);
            }
            Ok(revoked)
        })?;
        Ok(revoked)
    }
}

/// Ends a run: its state, its end time, its grants deleted ("a grant dies with its run"), and
/// the `run.ended` entry.
async fn end_run(tx: &mut Tx<'_>, run: &mut CleanRoomRun, state: RunState, now_ms: i64) -> Result<(), GovError> {
    run.state = state;
    run.ended_ms = Some(now_ms);
    run.session_hash = None;
    for secret in &run.secrets {
        tx.delete(Map::Bindings, &grant_key(&run.id, secret));
    }
    tx.log(
        "run.ended",
        json!({"run": run.id, "query": run.query, "state": state, "rowsRead": run.rows_read,
            "rowsWritten": run.rows_written, "output": run.output, "failure": run.failure,
            "segments": run.segments}),
    );
    Ok(())
}

async fn load_run(tx: &mut Tx<'_>, run_id: &str) -> Result<CleanRoomRun, GovError> {
    tx.get(Map::Bindings, &run_key(run_id)).await?.ok_or_else(|| GovError::NotFound {
        what: "run",
        id: run_id.to_string(),
        hint: ": list the query's runs to see their ids",
    })
}

async fn session_run(tx: &mut Tx<'_>, run_id: &str, token: &str) -> Result<CleanRoomRun, GovError> {
    let run = load_run(tx, run_id).await?;
    let valid = run.session_hash.as_deref().is_some_and(|h| constant_time_eq(h, &sha256_hex(token.as_bytes())))
        && run.started_ms.is_some_and(|t| tx.now_ms() == 0 || tx.now_ms() - t < SESSION_TTL_MS);
    if !valid {
        return Err(GovError::Attestation {
            code: "invalid_session",
            message: format!(
                "not a live session of run {run_id:?}: attest first (POST …/runner/attest); a session ends with its run"
            ),
        });
    }
    Ok(run)
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn require_live(run: &CleanRoomRun) -> Result<(), GovError> {
    if run.state.is_final() {
        return Err(refused(
            "run_not_live",
            "run",
            format!(
                "run {:?} is {:?}{}: it does nothing more",
                run.id,
                run.state,
                match &run.failure {
                    Some(f) => format!(" ({f})"),
                    None => String::new(),
                }
            ),
        ));
    }
    Ok(())
}

async fn execution_on(tx: &mut Tx<'_>, subject: &ConsentSubject) -> Result<bool, GovError> {
    let view = consent_view(tx, subject).await?;
    Ok(view.options.get(&ConsentOption::Execution).is_none_or(|s| s.enabled))
}

/// Refuses when execution consent is off on any of `subjects`: nothing runs or is released
/// while any party withholds it.
pub(crate) async fn require_execution_consent(tx: &mut Tx<'_>, subjects: &[ConsentSubject]) -> Result<(), GovError> {
    for subject in subjects {
        let view = consent_view(tx, subject).await?;
        if let Some(status) = view.options.get(&ConsentOption::Execution)
            && !status.enabled
        {
            return Err(GovError::ConsentWithdrawn {
                message: format!(
                    "execution consent on {subject:?} is off (by {}): nothing runs and nothing is released while any party withholds it",
                    status.off_by.join(", ")
                ),
            });
        }
    }
    Ok(())
}

fn short(hex: &str) -> &str {
    &hex[..hex.len().min(12)]
}

fn is_hex_of(text: &str, bytes: usize) -> bool {
    text.len() == bytes * 2 && text.chars().all(|c| c.is_ascii_hexdigit())
}

/// How the server executes the runs governance decided: the runner it would run, where the
/// data is, and the Spark side (implemented by consort-runtime over the scheduler).
#[async_trait::async_trait]
pub trait RunExecutor: Send + Sync + std::fmt::Debug {
    /// What runs would run on `backend` (the configured default when `None`); `Err` names an
    /// unknown backend.
    fn runner(&self, backend: Option<&str>) -> Result<RunnerIdentity, String>;
    /// Checks that datasets are readable and sinks writable.
    fn probe(&self) -> &dyn LocationProbe;
    /// Submits a started run (through the scheduler, exactly once).
    async fn submit(&self, cleanroom: &str, run: &CleanRoomRun) -> Result<(), String>;
    /// Kills a revoked run's application.
    async fn kill(&self, run: &CleanRoomRun) -> Result<(), String>;
}
