//! `/v1/cleanrooms/*`: clean-room governance.
//!
//! Two planes, as in CCF's clean-room governance service:
//! - **Members** sign every governance write as a COSE_Sign1 (`Content-Type: application/cose`;
//!   see docs/governance-requests.md): creating a clean room (admin role too; the request is
//!   signed by the initial member's key, proving it holds it), proposals, ballots, withdrawals,
//!   contract drafts and member consent. The signature, the member, the clean room and message
//!   type in the protected header, freshness and replays are checked before anything is read.
//! - **Users** (an API token or OIDC principal mapped to a user of the clean room by an accepted
//!   proposal) write documents, vote on them and give consent with plain JSON.
//!
//! Reading a clean room needs the admin role, or a principal that is one of its users or named
//! like one of its active members. Every route needs the `cleanroom` role (or admin); creating
//! a clean room needs admin. Every refusal inside a clean room is appended to its ledger.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use consort_auth::{Principal, Role};
use consort_governance::model::{
    Action, ConsentOption, Contract, Document, DocumentBody, Member, PartyStatus, Proposal, User, Vote,
};
use consort_governance::{Caller, ConsentSubject, ConsentView, DocumentDraft, GovError, Governance, MemberRequest};
use consort_ledger::{DerivedServiceKeys, Ledger, LedgerConfig, LedgerStore};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody, MAX_BODY_BYTES};

/// The clean-room area's dependencies.
#[derive(Debug)]
pub struct CleanRoomArea {
    /// Governance over the store.
    pub governance: Governance,
    /// The ledgers' store (governance commits append to it in their own transactions).
    pub ledger_store: Arc<dyn LedgerStore>,
    /// The ledger service: signed roots, receipts, proofs, exports.
    pub ledger: Ledger,
    /// The clean rooms' service keys.
    pub service_keys: Arc<DerivedServiceKeys>,
    /// How old (and how far in the future) a signed request may be.
    pub freshness: consort_signing::Freshness,
    /// The attestation evidence accepted from runners; `None` refuses every release.
    pub verifier: Option<Arc<dyn consort_attest::AttestationVerifier>>,
    /// The server's public https base URL, under which each clean room's OIDC issuer lives;
    /// `None` issues no tokens.
    pub issuer_base_url: Option<String>,
    /// Executes clean-room runs on Spark; `None` refuses to run queries.
    pub runs: Option<Arc<dyn consort_governance::runs::RunExecutor>>,
}

impl CleanRoomArea {
    /// The area over `governance` and `ledger_store`, with service keys derived from
    /// `service_keys` and the ledger service's default intervals (a root at least every 1000
    /// entries or 100 ms).
    pub fn new(
        governance: Governance,
        ledger_store: Arc<dyn LedgerStore>,
        service_keys: Arc<DerivedServiceKeys>,
        config: LedgerConfig,
    ) -> Self {
        let keys = service_keys.clone();
        let ledger = Ledger::new(ledger_store.clone(), move |cleanroom: &str| Ok(keys.key(cleanroom)), config);
        CleanRoomArea {
            governance,
            ledger_store,
            ledger,
            service_keys,
            freshness: consort_signing::Freshness::default(),
            verifier: None,
            issuer_base_url: None,
            runs: None,
        }
    }

    /// A clean room's OIDC issuer URL, when the server has a public base URL.
    pub fn issuer_url(&self, cleanroom: &str) -> Option<String> {
        self.issuer_base_url
            .as_ref()
            .map(|base| format!("{}/v1/cleanrooms/{cleanroom}/oidc", base.trim_end_matches('/')))
    }

    /// A clean room's service public key, PEM.
    pub fn service_public_key(&self, cleanroom: &str) -> Result<String, String> {
        Ok(self.service_keys.key(cleanroom).public_key().to_pem())
    }

    /// Starts signing the roots of every clean room (and of any created later, as their ledgers
    /// are first used): each room's signer runs in the background from its first use.
    pub async fn start_signers(&self) -> Result<(), GovError> {
        for name in self.governance.cleanrooms().await? {
            if let Err(e) = self.ledger.sign_now(&name).await {
                tracing::warn!(cleanroom = %name, error = %e, "could not sign the clean room's ledger root");
            }
        }
        Ok(())
    }
}

/// The media type of signed governance requests.
pub const COSE_CONTENT_TYPE: &str = "application/cose";

// ---- shapes --------------------------------------------------------------------

/// Creates a clean room: the payload of a `cleanroom.init` request signed by the initial
/// member's key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateCleanRoom {
    /// The clean room's name (`[a-z0-9._-]`, 1 to 64).
    name: String,
    /// The initial member's id.
    member_id: String,
    /// The initial member's public key or certificate, PEM (the request must verify with it).
    member_public_key_pem: String,
    /// The initial user, accepted by the creation (the seed's creation phase).
    #[serde(default)]
    user: Option<NewUser>,
}

/// A user to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    /// Its id in the clean room.
    id: String,
    /// The authenticated principal it is (an API token's name, an OIDC subject).
    principal: String,
}

/// A created clean room.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CleanRoomCreated {
    /// Its name.
    name: String,
    /// Its members.
    members: Vec<Member>,
    /// Its users.
    users: Vec<User>,
}

/// The clean rooms.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CleanRoomList {
    /// Their names, sorted.
    items: Vec<String>,
}

/// A list of members.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MemberList {
    /// By id.
    items: Vec<Member>,
}

/// A list of users.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserList {
    /// By id.
    items: Vec<User>,
}

/// A list of proposals.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProposalList {
    /// By id.
    items: Vec<Proposal>,
}

/// A list of contracts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ContractList {
    /// By id.
    items: Vec<Contract>,
}

/// A list of documents.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DocumentList {
    /// By id.
    items: Vec<Document>,
}

/// The payload of a `proposal` request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewProposal {
    /// What the proposal does when accepted, all or nothing.
    actions: Vec<Action>,
}

/// The payload of a `ballot` request (members) or a document ballot (users).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Ballot {
    /// `accept` or `reject`.
    vote: Vote,
}

/// The payload of a `contract` request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContractDraft {
    /// The draft version this change is based on; leave it out to create the contract.
    #[serde(default)]
    version: Option<i64>,
    /// The contract's content.
    #[schema(value_type = Object)]
    data: serde_json::Value,
}

/// A document draft.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DocumentDraftBody {
    /// The accepted contract it belongs to.
    contract_id: String,
    /// The draft version this change is based on; leave it out to create the document.
    #[serde(default)]
    version: Option<i64>,
    /// What it describes: `{"kind": "dataset" | "sink" | "query", ...}`.
    body: DocumentBody,
    /// Refused when present: approvers are computed by the server from the owners of what
    /// the document references.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    approvers: Option<serde_json::Value>,
}

/// A consent decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsentChange {
    /// On or off.
    enabled: bool,
}

/// The effective consent on a contract or document.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConsentAnswer {
    /// The parties whose decisions count (`member:ID`, `user:ID`).
    parties: Vec<String>,
    /// Per option: whether it is on (the AND over the parties) and who has it off.
    options: Vec<ConsentOptionStatus>,
}

/// One option's effective consent.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConsentOptionStatus {
    /// `execution`, `logging` or `telemetry`.
    option: String,
    /// On only when every party has it on.
    enabled: bool,
    /// The parties that have it off (explicitly, or by default for logging and telemetry).
    off_by: Vec<String>,
}

impl From<ConsentView> for ConsentAnswer {
    fn from(v: ConsentView) -> Self {
        ConsentAnswer {
            parties: v.parties,
            options: v
                .options
                .into_iter()
                .map(|(o, s)| ConsentOptionStatus { option: o.as_str().into(), enabled: s.enabled, off_by: s.off_by })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct RoomPath {
    /// The clean room.
    pub(crate) cleanroom: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ItemPath {
    /// The clean room.
    cleanroom: String,
    /// The proposal, contract or document id.
    id: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ConsentPath {
    /// The clean room.
    cleanroom: String,
    /// `contract` or `document`.
    kind: String,
    /// The contract's or document's id.
    id: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ConsentOptionPath {
    /// The clean room.
    cleanroom: String,
    /// `contract` or `document`.
    kind: String,
    /// The contract's or document's id.
    id: String,
    /// `execution`, `logging` or `telemetry`.
    option: String,
}

// ---- plumbing ------------------------------------------------------------------

/// A governance request body, signed (`application/cose`) or not: an unsigned one is refused
/// by [`member_request`], which records the refusal in the clean room's ledger.
#[derive(Debug)]
pub struct CoseBody {
    signed: bool,
    bytes: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for CoseBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let signed = content_type.starts_with(COSE_CONTENT_TYPE);
        let bytes = Bytes::from_request(req, state).await.map_err(|_| ApiError::PayloadTooLarge {
            message: format!("the signed request is larger than {MAX_BODY_BYTES} bytes"),
        })?;
        Ok(CoseBody { signed, bytes })
    }
}

fn unsigned() -> GovError {
    GovError::BadRequestSignature(format!(
        "governance requests are COSE_Sign1 documents sent as `Content-Type: {COSE_CONTENT_TYPE}`; sign the \
         request with the member's key (the `consort cleanroom` commands take --member-id and --member-key)"
    ))
}

pub(crate) fn area(s: &AppState) -> Result<&Arc<CleanRoomArea>, ApiError> {
    s.cleanrooms
        .as_ref()
        .ok_or_else(|| ApiError::NotFound { message: "this consort server does not run the clean-room area".into() })
}

pub(crate) fn now_ms(s: &AppState) -> i64 {
    (s.clock)().as_millisecond()
}

/// A governance refusal or failure as an API error.
pub(crate) fn gov_error(e: GovError) -> ApiError {
    let message = e.to_string();
    match e {
        GovError::Invalid { field, .. } => ApiError::bad_request("invalid_request", field, message),
        GovError::BadRequestSignature(_)
        | GovError::Stale(_)
        | GovError::Replayed
        | GovError::NotAMember { .. }
        | GovError::MemberInactive { .. }
        | GovError::NotAUser { .. }
        | GovError::Forbidden { .. }
        | GovError::Attestation { .. }
        | GovError::ConsentWithdrawn { .. } => ApiError::Forbidden { code: e.code(), message },
        GovError::RunRefused { code: "forbidden", .. } => ApiError::Forbidden { code: e.code(), message },
        GovError::RunRefused { code, .. } => ApiError::Refused { code, message },
        GovError::Credential { code, .. } => ApiError::Unauthorized { code, message },
        GovError::Invitation { code: "invitation_not_yours", .. } => ApiError::Forbidden { code: e.code(), message },
        GovError::Invitation { code, .. } => ApiError::Refused { code, message },
        GovError::ProposalNotOpen { .. }
        | GovError::AlreadyVoted { .. }
        | GovError::LastMember
        | GovError::Immutable { .. }
        | GovError::VersionMismatch { .. }
        | GovError::CleanRoomExists(_) => ApiError::Conflict { message },
        GovError::NotFound { .. } | GovError::NoSuchCleanRoom(_) => ApiError::NotFound { message },
        GovError::Busy(_) => ApiError::Unavailable { message },
        GovError::Corrupt { .. } | GovError::Keys(_) => ApiError::Internal { cause: message },
        GovError::Store(e) => e.into(),
    }
}

/// What a member's signed header must name besides its clean room and message type: the
/// thing the route acts on, so that a request signed for one thing cannot be sent to another.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Names<'a> {
    /// Nothing more (the route names nothing but the clean room, or the payload does).
    Nothing,
    /// The proposal a ballot or withdrawal is about (`consort.proposal_id`).
    Proposal(&'a str),
    /// The route's path below the clean room (`consort.subject`), e.g. `contracts/c1`.
    Subject(&'a str),
}

/// Verifies a member's signed request for `cleanroom` of type `msg_type`: its envelope, what
/// it names, the member (active, with the key that verifies the signature) and its freshness. Replays are
/// refused when the request's unit of work commits (the digest is marked seen in it). A
/// refusal is recorded in the clean room's ledger.
pub(crate) async fn member_request(
    s: &AppState,
    cleanroom: &str,
    msg_type: &str,
    names: Names<'_>,
    body: &CoseBody,
) -> Result<(MemberRequest, Vec<u8>), ApiError> {
    let area = area(s)?;
    let now = now_ms(s);
    let verified = if body.signed {
        verify_member_request(area, cleanroom, msg_type, names, &body.bytes, now).await
    } else {
        Err(unsigned())
    };
    match verified {
        Ok(ok) => Ok(ok),
        Err(refused) => {
            if refused.is_refusal() && !matches!(refused, GovError::NoSuchCleanRoom(_)) {
                let what = format!("signed {msg_type} request");
                area.governance.record_refusal(cleanroom, now, &what, None, &refused).await;
            }
            Err(gov_error(refused))
        }
    }
}

async fn verify_member_request(
    area: &CleanRoomArea,
    cleanroom: &str,
    msg_type: &str,
    names: Names<'_>,
    bytes: &[u8],
    now_ms: i64,
) -> Result<(MemberRequest, Vec<u8>), GovError> {
    let unverified = consort_signing::parse_request(bytes).map_err(|e| GovError::BadRequestSignature(e.to_string()))?;
    let header = unverified.header().clone();
    if header.cleanroom != cleanroom {
        return Err(GovError::BadRequestSignature(format!(
            "the request was signed for clean room {:?}, not {cleanroom:?}: sign it for the clean room it is sent to",
            header.cleanroom
        )));
    }
    if header.msg_type != msg_type {
        return Err(GovError::BadRequestSignature(format!(
            "the request is a signed {:?} request, and this endpoint takes {msg_type:?} requests",
            header.msg_type
        )));
    }
    // A ballot or withdrawal names its proposal in the signed header, so it cannot be replayed
    // against another proposal (nor refused as a replay of a ballot on another one).
    if let Names::Proposal(expected) = names
        && header.proposal_id.as_deref() != Some(expected)
    {
        return Err(GovError::BadRequestSignature(format!(
            "the signed header names proposal {:?}, and this request is for proposal {expected:?}: sign it with \
             `consort.proposal_id` set to the proposal it is for",
            header.proposal_id.as_deref().unwrap_or("(none)")
        )));
    }
    // Consent, a contract draft, a secret or a run name their subject only in the route; the
    // signed header must name the same, or a captured request could be sent to another one.
    if let Names::Subject(expected) = names
        && header.subject.as_deref() != Some(expected)
    {
        return Err(GovError::BadRequestSignature(format!(
            "the signed header names subject {:?}, and this request is for {expected:?}: sign it with \
             `consort.subject` set to the request's path below the clean room",
            header.subject.as_deref().unwrap_or("(none)")
        )));
    }
    let member = match area.governance.member(cleanroom, &header.member_id).await {
        Ok(m) => m,
        Err(GovError::NotFound { .. }) => return Err(GovError::NotAMember { member: header.member_id.clone() }),
        Err(e) => return Err(e),
    };
    if member.status != PartyStatus::Active {
        return Err(GovError::MemberInactive { member: member.id });
    }
    let key = consort_signing::MemberPublicKey::from_pem(&member.public_key_pem).map_err(|e| GovError::Corrupt {
        what: "members",
        key: member.id.clone(),
        message: e.to_string(),
    })?;
    let verified = unverified.verify(&key).map_err(|e| GovError::BadRequestSignature(e.to_string()))?;
    area.freshness
        .check_fresh(verified.header.created_at, now_ms / 1000)
        .map_err(|e| GovError::Stale(e.to_string()))?;
    let request = MemberRequest {
        member: member.id,
        msg_type: msg_type.to_string(),
        digest: verified.digest.to_hex(),
        created_at_s: verified.header.created_at,
        oldest_fresh_s: area.freshness.oldest_fresh(now_ms / 1000),
    };
    Ok((request, verified.payload))
}

fn payload<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    crate::error::parse_json(bytes)
}

/// A body that is a member's signed request of `msg_type` (`application/cose`) or a user's
/// JSON, with who sent it.
pub(crate) async fn caller_and_body<T: serde::de::DeserializeOwned>(
    s: &AppState,
    cleanroom: &str,
    msg_type: &str,
    names: Names<'_>,
    principal: &Option<axum::Extension<Principal>>,
    request: Request,
) -> Result<(Caller, T), ApiError> {
    let (caller, value) = caller_and_optional_body(s, cleanroom, msg_type, names, principal, request).await?;
    let value = value.ok_or_else(|| {
        ApiError::bad_request("invalid_request", "body", "the request needs a body: JSON, or a signed request")
    })?;
    Ok((caller, value))
}

/// As [`caller_and_body`], for requests whose body may be left out (`None`).
pub(crate) async fn caller_and_optional_body<T: serde::de::DeserializeOwned>(
    s: &AppState,
    cleanroom: &str,
    msg_type: &str,
    names: Names<'_>,
    principal: &Option<axum::Extension<Principal>>,
    request: Request,
) -> Result<(Caller, Option<T>), ApiError> {
    let signed = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with(COSE_CONTENT_TYPE));
    if signed {
        let body = CoseBody::from_request(request, &()).await?;
        let (member, bytes) = member_request(s, cleanroom, msg_type, names, &body).await?;
        let value = if bytes.iter().all(u8::is_ascii_whitespace) { None } else { Some(payload(&bytes)?) };
        Ok((Caller::Member(member), value))
    } else {
        let crate::error::OptionalApiJson(value) =
            crate::error::OptionalApiJson::<T>::from_request(request, &()).await?;
        Ok((Caller::User(principal_name(principal)?), value))
    }
}

pub(crate) fn principal_name(principal: &Option<axum::Extension<Principal>>) -> Result<String, ApiError> {
    principal.as_ref().map(|p| p.0.name.clone()).ok_or_else(|| ApiError::Forbidden {
        code: "user_required",
        message: "clean-room users are authenticated principals: call with an API token or an OIDC token".into(),
    })
}

/// Reading needs admin, a user of the clean room, or a principal named like an active member.
pub(crate) async fn require_reader(
    s: &AppState,
    cleanroom: &str,
    principal: &Option<axum::Extension<Principal>>,
) -> Result<(), ApiError> {
    let governance = &area(s)?.governance;
    let Some(axum::Extension(p)) = principal else {
        // Authentication is off (loopback only): the operator is the caller.
        return governance.members(cleanroom).await.map(|_| ()).map_err(gov_error);
    };
    if p.roles.contains(Role::Admin) {
        return governance.members(cleanroom).await.map(|_| ()).map_err(gov_error);
    }
    let members = governance.members(cleanroom).await.map_err(gov_error)?;
    if members.iter().any(|m| m.id == p.name && m.status == PartyStatus::Active) {
        return Ok(());
    }
    match governance.user_for(cleanroom, &p.name).await {
        Ok(_) => Ok(()),
        Err(e) => Err(gov_error(e)),
    }
}

// ---- clean rooms -----------------------------------------------------------------

/// Create a clean room with its initial member (and user). Admins only; the body is a
/// `cleanroom.init` request signed by the initial member's key.
#[utoipa::path(
    post,
    path = "/v1/cleanrooms",
    operation_id = "createCleanRoom",
    tag = "cleanrooms",
    request_body(content = Vec<u8>, content_type = "application/cose",
        description = "A COSE_Sign1 `cleanroom.init` request whose payload is a CreateCleanRoom."),
    responses(
        (status = 201, description = "Created.", body = CleanRoomCreated),
        (status = 400, description = "Not a signed request, or a bad payload.", body = ErrorBody),
        (status = 403, description = "The signature does not verify with the initial member's key, or is stale.", body = ErrorBody),
        (status = 409, description = "A clean room of that name exists.", body = ErrorBody),
    )
)]
pub(crate) async fn create(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    body: CoseBody,
) -> Result<(StatusCode, Json<CleanRoomCreated>), ApiError> {
    if principal.as_ref().is_some_and(|p| !p.0.roles.contains(Role::Admin)) {
        return Err(ApiError::Forbidden {
            code: "role_required",
            message: "creating a clean room needs the admin role".into(),
        });
    }
    let area = area(&s)?;
    let now = now_ms(&s);
    if !body.signed {
        return Err(gov_error(unsigned()));
    }
    let unverified = consort_signing::parse_request(&body.bytes)
        .map_err(|e| gov_error(GovError::BadRequestSignature(e.to_string())))?;
    let header = unverified.header().clone();
    if header.msg_type != "cleanroom.init" {
        return Err(gov_error(GovError::BadRequestSignature(format!(
            "this endpoint takes signed \"cleanroom.init\" requests, not {:?}",
            header.msg_type
        ))));
    }
    // The payload is read before it is trusted only to find the key it must verify with.
    let claimed: CreateCleanRoom = payload(unverified.payload())?;
    if header.cleanroom != claimed.name || header.member_id != claimed.member_id {
        return Err(gov_error(GovError::BadRequestSignature(
            "the signed header's clean room and member must equal the payload's name and member_id".into(),
        )));
    }
    let key = consort_signing::MemberPublicKey::from_pem(&claimed.member_public_key_pem).map_err(|e| {
        ApiError::bad_request(
            "invalid_request",
            "member_public_key_pem",
            format!("{e}: pass the member's public key or certificate PEM"),
        )
    })?;
    let verified = unverified.verify(&key).map_err(|e| gov_error(GovError::BadRequestSignature(e.to_string())))?;
    area.freshness
        .check_fresh(verified.header.created_at, now / 1000)
        .map_err(|e| gov_error(GovError::Stale(e.to_string())))?;
    let user = claimed.user.as_ref().map(|u| (u.id.as_str(), u.principal.as_str()));
    area.governance
        .create_cleanroom(&claimed.name, &claimed.member_id, &claimed.member_public_key_pem, user, now)
        .await
        .map_err(gov_error)?;
    // Its ledger's signer starts now: the creation entries get their signed root at once.
    if let Err(e) = area.ledger.sign_now(&claimed.name).await {
        tracing::warn!(cleanroom = %claimed.name, error = %e, "could not sign the new clean room's first root");
    }
    let members = area.governance.members(&claimed.name).await.map_err(gov_error)?;
    let users = area.governance.users(&claimed.name).await.map_err(gov_error)?;
    Ok((StatusCode::CREATED, Json(CleanRoomCreated { name: claimed.name, members, users })))
}

/// The clean rooms' names (admins see all; others the ones they take part in).
#[utoipa::path(
    get,
    path = "/v1/cleanrooms",
    operation_id = "listCleanRooms",
    tag = "cleanrooms",
    responses((status = 200, description = "The names.", body = CleanRoomList))
)]
pub(crate) async fn list(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
) -> Result<Json<CleanRoomList>, ApiError> {
    let governance = &area(&s)?.governance;
    let mut items = Vec::new();
    for name in governance.cleanrooms().await.map_err(gov_error)? {
        if require_reader(&s, &name, &principal).await.is_ok() {
            items.push(name);
        }
    }
    Ok(Json(CleanRoomList { items }))
}

/// The members.
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/members",
    operation_id = "listMembers",
    tag = "cleanrooms",
    params(RoomPath),
    responses(
        (status = 400, description = "A malformed path parameter or body.", body = ErrorBody),
        (status = 200, description = "The members.", body = MemberList),
        (status = 403, description = "Not a party to the clean room.", body = ErrorBody),
        (status = 404, description = "No such clean room.", body = ErrorBody),
    )
)]
pub(crate) async fn members(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<RoomPath>,
) -> Result<Json<MemberList>, ApiError> {
    require_reader(&s, &p.cleanroom, &principal).await?;
    Ok(Json(MemberList { items: area(&s)?.governance.members(&p.cleanroom).await.map_err(gov_error)? }))
}

/// The users.
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/users",
    operation_id = "listUsers",
    tag = "cleanrooms",
    params(RoomPath),
    responses(
        (status = 400, description = "A malformed path parameter or body.", body = ErrorBody),
        (status = 200, description = "The users.", body = UserList),
        (status = 403, description = "Not a party to the clean room.", body = ErrorBody),
        (status = 404, description = "No such clean room.", body = ErrorBody),
    )
)]
pub(crate) async fn users(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<RoomPath>,
) -> Result<Json<UserList>, ApiError> {
    require_reader(&s, &p.cleanroom, &principal).await?;
    Ok(Json(UserList { items: area(&s)?.governance.users(&p.cleanroom).await.map_err(gov_error)? }))
}

// ---- proposals -------------------------------------------------------------------

/// Propose actions (a member's signed `proposal` request whose payload is a NewProposal).
#[utoipa::path(
    post,
    path = "/v1/cleanrooms/{cleanroom}/proposals",
    operation_id = "createProposal",
    tag = "cleanrooms",
    params(RoomPath),
    request_body(content = Vec<u8>, content_type = "application/cose",
        description = "A COSE_Sign1 `proposal` request whose payload is a NewProposal."),
    responses(
        (status = 201, description = "Open; its id is the signed request's digest.", body = Proposal),
        (status = 400, description = "A bad action.", body = ErrorBody),
        (status = 403, description = "Unsigned, wrong key, stale, replayed, or not an active member.", body = ErrorBody),
        (status = 404, description = "No such clean room.", body = ErrorBody),
        (status = 409, description = "The actions cannot apply (e.g. they remove every member).", body = ErrorBody),
    )
)]
pub(crate) async fn propose(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<RoomPath>,
    body: CoseBody,
) -> Result<(StatusCode, Json<Proposal>), ApiError> {
    let (request, bytes) = member_request(&s, &p.cleanroom, "proposal", Names::Nothing, &body).await?;
    let new: NewProposal = payload(&bytes)?;
    let proposal =
        area(&s)?.governance.propose(&p.cleanroom, &request, new.actions, now_ms(&s)).await.map_err(gov_error)?;
    Ok((StatusCode::CREATED, Json(proposal)))
}

/// The proposals.
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/proposals",
    operation_id = "listProposals",
    tag = "cleanrooms",
    params(RoomPath),
    responses(
        (status = 400, description = "A malformed path parameter or body.", body = ErrorBody),
        (status = 200, description = "The proposals.", body = ProposalList),
        (status = 403, description = "Not a party to the clean room.", body = ErrorBody),
        (status = 404, description = "No such clean room.", body = ErrorBody),
    )
)]
pub(crate) async fn proposals(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<RoomPath>,
) -> Result<Json<ProposalList>, ApiError> {
    require_reader(&s, &p.cleanroom, &principal).await?;
    Ok(Json(ProposalList { items: area(&s)?.governance.proposals(&p.cleanroom).await.map_err(gov_error)? }))
}

/// One proposal.
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/proposals/{id}",
    operation_id = "getProposal",
    tag = "cleanrooms",
    params(ItemPath),
    responses(
        (status = 400, description = "A malformed path parameter or body.", body = ErrorBody),
        (status = 200, description = "The proposal.", body = Proposal),
        (status = 403, description = "Not a party to the clean room.", body = ErrorBody),
        (status = 404, description = "No such clean room or proposal.", body = ErrorBody),
    )
)]
pub(crate) async fn proposal(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<ItemPath>,
) -> Result<Json<Proposal>, ApiError> {
    require_reader(&s, &p.cleanroom, &principal).await?;
    Ok(Json(area(&s)?.governance.proposal(&p.cleanroom, &p.id).await.map_err(gov_error)?))
}

/// Vote on a proposal (a member's signed `ballot` request whose payload is a Ballot).
#[utoipa::path(
    post,
    path = "/v1/cleanrooms/{cleanroom}/proposals/{id}/ballots",
    operation_id = "voteOnProposal",
    tag = "cleanrooms",
    params(ItemPath),
    request_body(content = Vec<u8>, content_type = "application/cose",
        description = "A COSE_Sign1 `ballot` request whose payload is a Ballot."),
    responses(
        (status = 400, description = "A malformed path parameter or body.", body = ErrorBody),
        (status = 200, description = "The proposal after the ballot (Accepted applies its actions).", body = Proposal),
        (status = 403, description = "Unsigned, wrong key, stale, replayed, or not an active member.", body = ErrorBody),
        (status = 404, description = "No such clean room or proposal.", body = ErrorBody),
        (status = 409, description = "Already voted, or the proposal is resolved.", body = ErrorBody),
    )
)]
pub(crate) async fn vote(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<ItemPath>,
    body: CoseBody,
) -> Result<Json<Proposal>, ApiError> {
    let (request, bytes) = member_request(&s, &p.cleanroom, "ballot", Names::Proposal(&p.id), &body).await?;
    let ballot: Ballot = payload(&bytes)?;
    let proposal =
        area(&s)?.governance.vote(&p.cleanroom, &request, &p.id, ballot.vote, now_ms(&s)).await.map_err(gov_error)?;
    Ok(Json(proposal))
}

/// Withdraw a proposal (its proposer's signed `withdrawal` request; the payload is ignored).
#[utoipa::path(
    post,
    path = "/v1/cleanrooms/{cleanroom}/proposals/{id}/withdraw",
    operation_id = "withdrawProposal",
    tag = "cleanrooms",
    params(ItemPath),
    request_body(content = Vec<u8>, content_type = "application/cose",
        description = "A COSE_Sign1 `withdrawal` request."),
    responses(
        (status = 400, description = "A malformed path parameter or body.", body = ErrorBody),
        (status = 200, description = "Withdrawn.", body = Proposal),
        (status = 403, description = "Not the proposer, or a bad signature.", body = ErrorBody),
        (status = 404, description = "No such clean room or proposal.", body = ErrorBody),
        (status = 409, description = "The proposal is resolved.", body = ErrorBody),
    )
)]
pub(crate) async fn withdraw(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<ItemPath>,
    body: CoseBody,
) -> Result<Json<Proposal>, ApiError> {
    let (request, _) = member_request(&s, &p.cleanroom, "withdrawal", Names::Proposal(&p.id), &body).await?;
    let proposal = area(&s)?.governance.withdraw(&p.cleanroom, &request, &p.id, now_ms(&s)).await.map_err(gov_error)?;
    Ok(Json(proposal))
}

// ---- contracts -------------------------------------------------------------------

/// Write a contract draft (a member's signed `contract` request whose payload is a
/// ContractDraft). Accepted contracts never change.
#[utoipa::path(
    put,
    path = "/v1/cleanrooms/{cleanroom}/contracts/{id}",
    operation_id = "putContract",
    tag = "cleanrooms",
    params(ItemPath),
    request_body(content = Vec<u8>, content_type = "application/cose",
        description = "A COSE_Sign1 `contract` request whose payload is a ContractDraft."),
    responses(
        (status = 200, description = "The draft.", body = Contract),
        (status = 400, description = "A bad draft.", body = ErrorBody),
        (status = 403, description = "A bad signature, or not an active member.", body = ErrorBody),
        (status = 409, description = "Accepted or proposed, or another version.", body = ErrorBody),
        (status = 404, description = "No such clean room (or a thing it names).", body = ErrorBody),
    )
)]
pub(crate) async fn put_contract(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<ItemPath>,
    body: CoseBody,
) -> Result<Json<Contract>, ApiError> {
    let subject = format!("contracts/{}", p.id);
    let (request, bytes) = member_request(&s, &p.cleanroom, "contract", Names::Subject(&subject), &body).await?;
    let draft: ContractDraft = payload(&bytes)?;
    let contract = area(&s)?
        .governance
        .put_contract(&p.cleanroom, &request, &p.id, draft.version, draft.data, now_ms(&s))
        .await
        .map_err(gov_error)?;
    Ok(Json(contract))
}

/// The contracts.
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/contracts",
    operation_id = "listContracts",
    tag = "cleanrooms",
    params(RoomPath),
    responses(
        (status = 400, description = "A malformed path parameter or body.", body = ErrorBody),
        (status = 200, description = "The contracts.", body = ContractList),
        (status = 403, description = "Not a party to the clean room.", body = ErrorBody),
        (status = 404, description = "No such clean room.", body = ErrorBody),
    )
)]
pub(crate) async fn contracts(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<RoomPath>,
) -> Result<Json<ContractList>, ApiError> {
    require_reader(&s, &p.cleanroom, &principal).await?;
    Ok(Json(ContractList { items: area(&s)?.governance.contracts(&p.cleanroom).await.map_err(gov_error)? }))
}

/// One contract.
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/contracts/{id}",
    operation_id = "getContract",
    tag = "cleanrooms",
    params(ItemPath),
    responses(
        (status = 400, description = "A malformed path parameter or body.", body = ErrorBody),
        (status = 200, description = "The contract.", body = Contract),
        (status = 403, description = "Not a party to the clean room.", body = ErrorBody),
        (status = 404, description = "No such clean room or contract.", body = ErrorBody),
    )
)]
pub(crate) async fn contract(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<ItemPath>,
) -> Result<Json<Contract>, ApiError> {
    require_reader(&s, &p.cleanroom, &principal).await?;
    Ok(Json(area(&s)?.governance.contract(&p.cleanroom, &p.id).await.map_err(gov_error)?))
}

// ---- documents -------------------------------------------------------------------

/// Write a document draft (its owner, a user of the clean room). Accepted documents never
/// change: publish a new document for a new version.
#[utoipa::path(
    put,
    path = "/v1/cleanrooms/{cleanroom}/documents/{id}",
    operation_id = "putDocument",
    tag = "cleanrooms",
    params(ItemPath),
    request_body = DocumentDraftBody,
    responses(
        (status = 200, description = "The draft.", body = Document),
        (status = 400, description = "A bad draft, or approvers supplied by the caller.", body = ErrorBody),
        (status = 403, description = "Not a user of the clean room, or not the document's owner.", body = ErrorBody),
        (status = 409, description = "Accepted or proposed, or another version.", body = ErrorBody),
        (status = 404, description = "No such clean room (or a thing it names).", body = ErrorBody),
    )
)]
pub(crate) async fn put_document(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<ItemPath>,
    ApiJson(draft): ApiJson<DocumentDraftBody>,
) -> Result<Json<Document>, ApiError> {
    let who = principal_name(&principal)?;
    let governance = &area(&s)?.governance;
    if draft.approvers.is_some() {
        let refused = GovError::invalid(
            "approvers",
            "approvers are computed by the server from the owners of every dataset and sink the document references",
            "leave `approvers` out",
        );
        governance.record_refusal(&p.cleanroom, now_ms(&s), "put document", Some(&Caller::User(who)), &refused).await;
        return Err(gov_error(refused));
    }
    let draft = DocumentDraft { id: p.id, contract_id: draft.contract_id, version: draft.version, body: draft.body };
    Ok(Json(governance.put_document(&p.cleanroom, &who, draft, now_ms(&s)).await.map_err(gov_error)?))
}

/// Propose a document to its approvers (its owner). The approvers are computed here: the
/// document's owner and, for a query, the owners of every input dataset and of the sink.
#[utoipa::path(
    post,
    path = "/v1/cleanrooms/{cleanroom}/documents/{id}/propose",
    operation_id = "proposeDocument",
    tag = "cleanrooms",
    params(ItemPath),
    responses(
        (status = 200, description = "Proposed (or accepted, when its owner is its only approver).", body = Document),
        (status = 400, description = "It references documents that are missing or not accepted.", body = ErrorBody),
        (status = 403, description = "Not its owner.", body = ErrorBody),
        (status = 409, description = "Not a draft.", body = ErrorBody),
        (status = 404, description = "No such clean room (or a thing it names).", body = ErrorBody),
    )
)]
pub(crate) async fn propose_document(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<ItemPath>,
) -> Result<Json<Document>, ApiError> {
    let who = principal_name(&principal)?;
    let governance = &area(&s)?.governance;
    Ok(Json(governance.propose_document(&p.cleanroom, &who, &p.id, now_ms(&s)).await.map_err(gov_error)?))
}

/// An approver's ballot on a proposed document.
#[utoipa::path(
    post,
    path = "/v1/cleanrooms/{cleanroom}/documents/{id}/ballots",
    operation_id = "voteOnDocument",
    tag = "cleanrooms",
    params(ItemPath),
    request_body = Ballot,
    responses(
        (status = 400, description = "A malformed path parameter or body.", body = ErrorBody),
        (status = 200, description = "The document after the ballot.", body = Document),
        (status = 403, description = "Not an approver.", body = ErrorBody),
        (status = 409, description = "Already voted, or not proposed.", body = ErrorBody),
        (status = 404, description = "No such clean room (or a thing it names).", body = ErrorBody),
    )
)]
pub(crate) async fn vote_document(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<ItemPath>,
    ApiJson(ballot): ApiJson<Ballot>,
) -> Result<Json<Document>, ApiError> {
    let who = principal_name(&principal)?;
    let governance = &area(&s)?.governance;
    Ok(Json(governance.vote_document(&p.cleanroom, &who, &p.id, ballot.vote, now_ms(&s)).await.map_err(gov_error)?))
}

/// The documents.
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/documents",
    operation_id = "listDocuments",
    tag = "cleanrooms",
    params(RoomPath),
    responses(
        (status = 400, description = "A malformed path parameter or body.", body = ErrorBody),
        (status = 200, description = "The documents.", body = DocumentList),
        (status = 403, description = "Not a party to the clean room.", body = ErrorBody),
        (status = 404, description = "No such clean room.", body = ErrorBody),
    )
)]
pub(crate) async fn documents(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<RoomPath>,
) -> Result<Json<DocumentList>, ApiError> {
    require_reader(&s, &p.cleanroom, &principal).await?;
    Ok(Json(DocumentList { items: area(&s)?.governance.documents(&p.cleanroom).await.map_err(gov_error)? }))
}

/// One document.
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/documents/{id}",
    operation_id = "getDocument",
    tag = "cleanrooms",
    params(ItemPath),
    responses(
        (status = 400, description = "A malformed path parameter or body.", body = ErrorBody),
        (status = 200, description = "The document.", body = Document),
        (status = 403, description = "Not a party to the clean room.", body = ErrorBody),
        (status = 404, description = "No such clean room or document.", body = ErrorBody),
    )
)]
pub(crate) async fn document(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<ItemPath>,
) -> Result<Json<Document>, ApiError> {
    require_reader(&s, &p.cleanroom, &principal).await?;
    Ok(Json(area(&s)?.governance.document(&p.cleanroom, &p.id).await.map_err(gov_error)?))
}

// ---- consent ---------------------------------------------------------------------

fn consent_subject(kind: &str, id: &str) -> Result<ConsentSubject, ApiError> {
    match kind {
        "contract" => Ok(ConsentSubject::Contract(id.to_string())),
        "document" => Ok(ConsentSubject::Document(id.to_string())),
        other => Err(ApiError::bad_request(
            "invalid_request",
            "kind",
            format!("{other:?} is not a consent subject: use `contract` or `document`"),
        )),
    }
}

fn consent_option(name: &str) -> Result<ConsentOption, ApiError> {
    ConsentOption::parse(name).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_request",
            "option",
            format!("{name:?} is not a consent option: use `execution`, `logging` or `telemetry`"),
        )
    })
}

/// Give or withdraw one's own consent. Users send JSON (a ConsentChange); members send a
/// signed `consent` request whose payload is a ConsentChange. Withdrawing is immediate.
#[utoipa::path(
    put,
    path = "/v1/cleanrooms/{cleanroom}/consent/{kind}/{id}/{option}",
    operation_id = "setConsent",
    tag = "cleanrooms",
    params(ConsentOptionPath),
    request_body = ConsentChange,
    responses(
        (status = 200, description = "The effective consent after the change.", body = ConsentAnswer),
        (status = 400, description = "An unknown subject kind or option.", body = ErrorBody),
        (status = 403, description = "Not a party to the subject.", body = ErrorBody),
        (status = 404, description = "No such clean room, contract or document.", body = ErrorBody),
    )
)]
pub(crate) async fn set_consent(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<ConsentOptionPath>,
    request: Request,
) -> Result<Json<ConsentAnswer>, ApiError> {
    let subject = consent_subject(&p.kind, &p.id)?;
    let option = consent_option(&p.option)?;
    let named = format!("consent/{}/{}/{}", p.kind, p.id, p.option);
    let (caller, change): (Caller, ConsentChange) =
        caller_and_body(&s, &p.cleanroom, "consent", Names::Subject(&named), &principal, request).await?;
    let view = area(&s)?
        .governance
        .set_consent(&p.cleanroom, &caller, &subject, option, change.enabled, now_ms(&s))
        .await
        .map_err(gov_error)?;
    crate::run_api::after_consent(&s, &p.cleanroom, &subject, option, change.enabled).await?;
    Ok(Json(view.into()))
}

/// The effective consent on a contract or document: the AND over its parties.
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/consent/{kind}/{id}",
    operation_id = "getConsent",
    tag = "cleanrooms",
    params(ConsentPath),
    responses(
        (status = 400, description = "A malformed path parameter or body.", body = ErrorBody),
        (status = 200, description = "The effective consent.", body = ConsentAnswer),
        (status = 403, description = "Not a party to the clean room.", body = ErrorBody),
        (status = 404, description = "No such clean room, contract or document.", body = ErrorBody),
    )
)]
pub(crate) async fn consent(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<ConsentPath>,
) -> Result<Json<ConsentAnswer>, ApiError> {
    require_reader(&s, &p.cleanroom, &principal).await?;
    let subject = consent_subject(&p.kind, &p.id)?;
    Ok(Json(area(&s)?.governance.consent(&p.cleanroom, &subject).await.map_err(gov_error)?.into()))
}
