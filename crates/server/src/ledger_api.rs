//! `/v1/cleanrooms/{cleanroom}/ledger/*`: a clean room's ledger, for its parties and auditors.
//!
//! - `GET …/ledger`: entries a page at a time (`from`, `limit`), with the ledger's size;
//! - `GET …/ledger/roots`: the signed roots (`from_size`, `limit`);
//! - `GET …/ledger/receipts/{seq}`: a receipt for one entry (its inclusion proof and the signed
//!   root covering it; one is signed at once if none covers it yet);
//! - `GET …/ledger/consistency?old=&new=`: a consistency proof between two tree sizes;
//! - `GET …/ledger/export`: the whole ledger, to verify offline (`consort ledger verify`);
//! - `GET …/ledger/public-key`: the service key that signs the roots (PEM).
//!
//! Readers are the clean room's readers (see `cleanroom_api`). Nothing here writes.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use consort_auth::Principal;
use consort_ledger::{Entry, LedgerError, SignedRoot};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::cleanroom_api::{RoomPath, area, require_reader};
use crate::error::{ApiError, ApiPath, ApiQuery, ErrorBody};

/// The most entries or roots one page holds.
pub const MAX_LEDGER_PAGE: u64 = 10_000;

/// One ledger entry.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EntryView {
    /// Its place, from 0.
    seq: u64,
    /// When, ms since the epoch.
    at_ms: i64,
    /// What kind of event (`proposal.accepted`, `refused`, …).
    kind: String,
    /// Its details: canonical JSON text (the exact bytes the leaf hash covers).
    body: String,
}

impl From<Entry> for EntryView {
    fn from(e: Entry) -> Self {
        EntryView { seq: e.seq, at_ms: e.at_ms, kind: e.kind, body: e.body }
    }
}

/// A page of entries.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EntryPage {
    /// The entries, in order.
    items: Vec<EntryView>,
    /// How many entries the ledger holds.
    size: u64,
    /// The `from` of the next page; absent at the end.
    next_from: Option<u64>,
}

/// A root signed by the clean room's service key.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RootView {
    /// The tree covers entries `0..size`.
    size: u64,
    /// The Merkle tree hash (RFC 6962), hex.
    root: String,
    /// When it was signed, ms since the epoch.
    at_ms: i64,
    /// The signing key's id.
    key_id: String,
    /// The Ed25519 signature, base64 (see docs/ledger.md for the signed bytes).
    signature: String,
}

impl From<SignedRoot> for RootView {
    fn from(r: SignedRoot) -> Self {
        RootView { size: r.size, root: r.root, at_ms: r.at_ms, key_id: r.key_id, signature: r.signature }
    }
}

/// Signed roots.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RootPage {
    /// Ascending by size.
    items: Vec<RootView>,
}

/// A consistency proof (RFC 6962 §2.1.2) between the trees of the first `old` and `new` entries.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConsistencyProof {
    /// The smaller size.
    old: u64,
    /// The larger size.
    new: u64,
    /// The proof's hashes, hex.
    proof: Vec<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ReceiptPath {
    /// The clean room.
    cleanroom: String,
    /// The entry's place.
    seq: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EntryQuery {
    /// The first entry (default 0).
    #[serde(default)]
    from: u64,
    /// At most this many (default and maximum 10000).
    limit: Option<u64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RootQuery {
    /// Roots of at least this size (default 0).
    #[serde(default)]
    from_size: u64,
    /// At most this many (default and maximum 10000).
    limit: Option<u64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ConsistencyQuery {
    /// The smaller tree size.
    old: u64,
    /// The larger tree size.
    new: u64,
}

fn ledger_error(e: LedgerError) -> ApiError {
    match e {
        LedgerError::NoSuchEntry { .. } | LedgerError::Proof { .. } => ApiError::NotFound { message: e.to_string() },
        LedgerError::Stopped => ApiError::Unavailable { message: e.to_string() },
        other => ApiError::Internal { cause: other.to_string() },
    }
}

fn page_limit(limit: Option<u64>) -> Result<u64, ApiError> {
    match limit {
        None => Ok(MAX_LEDGER_PAGE),
        Some(0) => Err(ApiError::bad_request("invalid_limit", "limit", "limit must be at least 1")),
        Some(n) if n > MAX_LEDGER_PAGE => Err(ApiError::bad_request(
            "invalid_limit",
            "limit",
            format!("limit is at most {MAX_LEDGER_PAGE}: read further pages with `from`"),
        )),
        Some(n) => Ok(n),
    }
}

/// Ledger entries, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/ledger",
    operation_id = "ledgerEntries",
    tag = "cleanrooms",
    params(RoomPath, EntryQuery),
    responses(
        (status = 200, description = "A page of entries.", body = EntryPage),
        (status = 400, description = "A bad limit.", body = ErrorBody),
        (status = 403, description = "Not a party to the clean room.", body = ErrorBody),
        (status = 404, description = "No such clean room.", body = ErrorBody),
    )
)]
pub(crate) async fn entries(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<RoomPath>,
    ApiQuery(q): ApiQuery<EntryQuery>,
) -> Result<Json<EntryPage>, ApiError> {
    require_reader(&s, &p.cleanroom, &principal).await?;
    let limit = page_limit(q.limit)?;
    let store = &area(&s)?.ledger_store;
    let size = store.size(&p.cleanroom).await?;
    let items: Vec<EntryView> =
        store.entries(&p.cleanroom, q.from, limit).await?.into_iter().map(EntryView::from).collect();
    let end = q.from.saturating_add(items.len() as u64);
    Ok(Json(EntryPage { next_from: (end < size && !items.is_empty()).then_some(end), size, items }))
}

/// The signed roots.
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/ledger/roots",
    operation_id = "ledgerRoots",
    tag = "cleanrooms",
    params(RoomPath, RootQuery),
    responses(
        (status = 400, description = "A malformed path parameter or body.", body = ErrorBody),
        (status = 200, description = "Signed roots, ascending.", body = RootPage),
        (status = 403, description = "Not a party to the clean room.", body = ErrorBody),
        (status = 404, description = "No such clean room.", body = ErrorBody),
    )
)]
pub(crate) async fn roots(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<RoomPath>,
    ApiQuery(q): ApiQuery<RootQuery>,
) -> Result<Json<RootPage>, ApiError> {
    require_reader(&s, &p.cleanroom, &principal).await?;
    let limit = page_limit(q.limit)?;
    let store = &area(&s)?.ledger_store;
    let items = store.roots(&p.cleanroom, q.from_size, limit).await?.into_iter().map(RootView::from).collect();
    Ok(Json(RootPage { items }))
}

/// A receipt for one entry: verify it offline with `consort ledger verify-receipt`.
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/ledger/receipts/{seq}",
    operation_id = "ledgerReceipt",
    tag = "cleanrooms",
    params(ReceiptPath),
    responses(
        (status = 400, description = "A malformed path parameter or body.", body = ErrorBody),
        (status = 200, description = "The receipt (format `consort-ledger-receipt/1`, see docs/ledger.md).",
            body = Object, content_type = "application/json"),
        (status = 403, description = "Not a party to the clean room.", body = ErrorBody),
        (status = 404, description = "No such clean room or entry.", body = ErrorBody),
    )
)]
pub(crate) async fn receipt(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<ReceiptPath>,
) -> Result<Response, ApiError> {
    require_reader(&s, &p.cleanroom, &principal).await?;
    let receipt = area(&s)?.ledger.receipt(&p.cleanroom, p.seq).await.map_err(ledger_error)?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], receipt.to_json()).into_response())
}

/// A consistency proof between two sizes of the ledger.
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/ledger/consistency",
    operation_id = "ledgerConsistency",
    tag = "cleanrooms",
    params(RoomPath, ConsistencyQuery),
    responses(
        (status = 400, description = "A malformed path parameter or body.", body = ErrorBody),
        (status = 200, description = "The proof.", body = ConsistencyProof),
        (status = 403, description = "Not a party to the clean room.", body = ErrorBody),
        (status = 404, description = "No such clean room, or sizes the ledger does not have.", body = ErrorBody),
    )
)]
pub(crate) async fn consistency(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<RoomPath>,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    require_reader(&s, &p.cleanroom, &principal).await?;
    let proof = area(&s)?.ledger.consistency(&p.cleanroom, q.old, q.new).await.map_err(ledger_error)?;
    let proof = proof.iter().map(|h| h.iter().map(|b| format!("{b:02x}")).collect()).collect();
    Ok(Json(ConsistencyProof { old: q.old, new: q.new, proof }))
}

/// The whole ledger as an export file: verify it offline with `consort ledger verify`.
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/ledger/export",
    operation_id = "ledgerExport",
    tag = "cleanrooms",
    params(RoomPath),
    responses(
        (status = 400, description = "A malformed path parameter or body.", body = ErrorBody),
        (status = 200, description = "The export (JSON lines, see docs/ledger.md).", body = String,
            content_type = "application/x-ndjson"),
        (status = 403, description = "Not a party to the clean room.", body = ErrorBody),
        (status = 404, description = "No such clean room.", body = ErrorBody),
    )
)]
pub(crate) async fn export(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<RoomPath>,
) -> Result<Response, ApiError> {
    require_reader(&s, &p.cleanroom, &principal).await?;
    let bytes = area(&s)?.ledger.export(&p.cleanroom).await.map_err(ledger_error)?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"))], bytes).into_response())
}

/// The clean room's service public key, which verifies its signed roots (PEM).
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/ledger/public-key",
    operation_id = "ledgerPublicKey",
    tag = "cleanrooms",
    params(RoomPath),
    responses(
        (status = 400, description = "A malformed path parameter or body.", body = ErrorBody),
        (status = 200, description = "The Ed25519 public key, PEM.", body = String, content_type = "application/x-pem-file"),
        (status = 403, description = "Not a party to the clean room.", body = ErrorBody),
        (status = 404, description = "No such clean room.", body = ErrorBody),
    )
)]
pub(crate) async fn public_key(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<RoomPath>,
) -> Result<Response, ApiError> {
    require_reader(&s, &p.cleanroom, &principal).await?;
    let pem = area(&s)?.service_public_key(&p.cleanroom).map_err(|message| ApiError::Internal { cause: message })?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/x-pem-file"))], pem).into_response())
}
