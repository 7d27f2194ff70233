//! `/v1/tokens` and `/v1/audit`: API tokens (the secret is answered once, at creation)
//! and the audit trail. Admins only (see `auth::action_for`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use consort_auth::{AuditQuery, AuditRecord, AuthStoreError, NewToken, Role, RoleSet, TokenRecord, token};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::scheduler_api::time;

/// Longest token name.
pub const MAX_NAME: usize = 100;
/// Longest lifetime a token may be given: ten years.
pub const MAX_EXPIRES_IN_SECS: u64 = 10 * 366 * 24 * 3600;
/// Largest audit page.
pub const MAX_AUDIT_PAGE: u32 = 1000;

/// A role name.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RoleName {
    /// Everything, tokens and the audit trail included.
    Admin,
    /// Jobs, triggers, runs: create, change, fire, kill.
    Operator,
    /// The Witboost provisioner endpoints.
    Provisioner,
    /// Read only.
    Viewer,
    /// A clean room's members and users.
    CleanRoom,
}

impl From<RoleName> for Role {
    fn from(r: RoleName) -> Role {
        match r {
            RoleName::Admin => Role::Admin,
            RoleName::Operator => Role::Operator,
            RoleName::Provisioner => Role::Provisioner,
            RoleName::Viewer => Role::Viewer,
            RoleName::CleanRoom => Role::CleanRoom,
        }
    }
}

impl From<Role> for RoleName {
    fn from(r: Role) -> RoleName {
        match r {
            Role::Admin => RoleName::Admin,
            Role::Operator => RoleName::Operator,
            Role::Provisioner => RoleName::Provisioner,
            Role::Viewer => RoleName::Viewer,
            Role::CleanRoom => RoleName::CleanRoom,
        }
    }
}

/// A token's state.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TokenState {
    /// Accepted.
    Active,
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
}

/// An API token, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenInfo {
    /// Public id, `tok_…`: safe to show and log.
    #[schema(example = "tok_3kq9Xb2mPa1Z")]
    id: String,
    /// Who or what it is for.
    name: String,
    /// What it may do.
    roles: Vec<RoleName>,
    /// Whether it is accepted now.
    state: TokenState,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339; null never expires.
    expires_at: Option<String>,
    /// RFC 3339.
    revoked_at: Option<String>,
    /// RFC 3339; recorded at most about every 30 s.
    last_used_at: Option<String>,
}

/// A new token, with its secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedToken {
    #[serde(flatten)]
    token: TokenInfo,
    /// The bearer secret (`cst_` + 43 characters). The server keeps only its hash.
    secret: String,
}

/// A list of tokens, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenList {
    /// The tokens (revoked and expired ones included).
    items: Vec<TokenInfo>,
}

fn token_info(t: &TokenRecord, now_ms: i64) -> TokenInfo {
    let state = if t.revoked_ms.is_some() {
        TokenState::Revoked
    } else if t.expires_ms.is_some_and(|e| e <= now_ms) {
        TokenState::Expired
    } else {
        TokenState::Active
    };
    TokenInfo {
        id: t.id.clone(),
        name: t.name.clone(),
        roles: t.roles.iter().map(RoleName::from).collect(),
        state,
        created_at: time(t.created_ms),
        expires_at: t.expires_ms.map(time),
        revoked_at: t.revoked_ms.map(time),
        last_used_at: t.last_used_ms.map(time),
    }
}

impl From<AuthStoreError> for ApiError {
    fn from(e: AuthStoreError) -> Self {
        match e {
            AuthStoreError::NameTaken(_) => ApiError::Conflict { message: e.to_string() },
            AuthStoreError::NotFound(_) => ApiError::NotFound { message: e.to_string() },
            AuthStoreError::Database { transient: true, message } => ApiError::Unavailable { message },
            AuthStoreError::Database { transient: false, message } => ApiError::Internal { cause: message },
        }
    }
}

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateToken {
    /// Who or what it is for: letters, digits and `. _ @ -`; unique among live tokens.
    #[schema(min_length = 1, max_length = 100, pattern = r"^[A-Za-z0-9._@-]{1,100}$", example = "ci-deploy")]
    name: String,
    /// What it may do: one role or more.
    #[schema(min_items = 1, max_items = 4)]
    roles: Vec<RoleName>,
    /// Lifetime in seconds; left out, the token never expires.
    #[serde(default, deserialize_with = "crate::scheduler_api::optional_integer")]
    #[schema(minimum = 1, maximum = 316_224_000)]
    expires_in_secs: Option<u64>,
}

/// Checks a token's name: what people and the audit trail will call its holder.
pub fn check_token_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!("must be 1 to {MAX_NAME} characters"));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c)) {
        return Err("may hold only letters, digits and . _ @ -, e.g. ci-deploy or alice@example.com".into());
    }
    Ok(())
}

/// Create an API token; its secret is in this answer only.
#[utoipa::path(
    post,
    path = "/v1/tokens",
    operation_id = "createToken",
    tag = "auth",
    request_body = CreateToken,
    responses(
        (status = 201, description = "Created; `secret` is shown this once.", body = CreatedToken),
        (status = 400, description = "A bad name, role or lifetime; the message names the field.", body = ErrorBody),
        (status = 409, description = "A live token has this name.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn create(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    check_token_name(&body.name).map_err(|m| ApiError::bad_request("invalid_token", "name", m))?;
    let roles: RoleSet = body.roles.iter().map(|r| Role::from(*r)).collect();
    if roles.is_empty() || body.roles.len() > Role::ALL.len() {
        return Err(ApiError::bad_request(
            "invalid_token",
            "roles",
            "give the token one to four roles of admin, operator, provisioner and viewer, e.g. [\"viewer\"]",
        ));
    }
    let now_ms = (s.clock)().as_millisecond();
    let expires_ms = match body.expires_in_secs {
        Some(0) => {
            return Err(ApiError::bad_request(
                "invalid_token",
                "expires_in_secs",
                "must be at least 1 second; leave it out for a token that never expires",
            ));
        }
        Some(secs) if secs > MAX_EXPIRES_IN_SECS => {
            return Err(ApiError::bad_request(
                "invalid_token",
                "expires_in_secs",
                format!("must be at most {MAX_EXPIRES_IN_SECS} seconds (ten years)"),
            ));
        }
        Some(secs) => Some(now_ms + secs as i64 * 1000),
        None => None,
    };
    let generated =
        token::generate().map_err(|e| ApiError::Internal { cause: format!("reading the OS random source: {e}") })?;
    let record = s
        .guard
        .store()
        .create_token(NewToken {
            id: generated.id.clone(),
            hash: generated.hash.clone(),
            name: body.name,
            roles,
            created_ms: now_ms,
            expires_ms,
        })
        .await?;
    let created = CreatedToken { token: token_info(&record, now_ms), secret: generated.secret.clone() };
    Ok((StatusCode::CREATED, Json(created)))
}

/// Every token, newest first, without secrets.
#[utoipa::path(
    get,
    path = "/v1/tokens",
    operation_id = "listTokens",
    tag = "auth",
    responses(
        (status = 200, description = "The tokens.", body = TokenList),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn list(State(s): State<AppState>) -> Result<Json<TokenList>, ApiError> {
    let now_ms = (s.clock)().as_millisecond();
    let tokens = s.guard.store().list_tokens().await?;
    Ok(Json(TokenList { items: tokens.iter().map(|t| token_info(t, now_ms)).collect() }))
}

/// The token addressed by `{id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct TokenPath {
    /// The token's id (`tok_…`) or the name of a live token.
    #[param(min_length = 1, max_length = 100)]
    id: String,
}

/// Revoke a token: it is refused from now on (at once on this server; within 5 s on others
/// sharing the store).
#[utoipa::path(
    post,
    path = "/v1/tokens/{id}/revoke",
    operation_id = "revokeToken",
    tag = "auth",
    params(TokenPath),
    responses(
        (status = 200, description = "Revoked (or already was).", body = TokenInfo),
        (status = 400, description = "A bad id.", body = ErrorBody),
        (status = 404, description = "No such token.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn revoke(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<TokenPath>,
) -> Result<Json<TokenInfo>, ApiError> {
    let now_ms = (s.clock)().as_millisecond();
    let record = s.guard.store().revoke_token(&p.id, now_ms).await?;
    s.guard.forget(&record.id);
    Ok(Json(token_info(&record, now_ms)))
}

/// Query of `GET /v1/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditParams {
    /// Page size.
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1, max_length = 20, pattern = r"^[0-9]{1,19}$")]
    cursor: Option<String>,
    /// Only this principal, e.g. `token:ci-deploy`.
    #[param(min_length = 1, max_length = 300)]
    principal: Option<String>,
    /// Only refused requests.
    refused: Option<bool>,
}

/// One entry of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditEntry {
    /// Increasing.
    id: i64,
    /// RFC 3339.
    at: String,
    /// `token:NAME`, `jwt:SUBJECT`, `cert:SUBJECT` or `anonymous`.
    principal: String,
    /// The client's address.
    remote: String,
    /// HTTP method.
    method: String,
    /// The path (no query string).
    path: String,
    /// The status answered.
    status: u16,
    /// `ok`, `refused:REASON`, `rejected:STATUS` or `failed:STATUS`.
    outcome: String,
}

/// A page of the audit trail, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditPage {
    /// The entries.
    items: Vec<AuditEntry>,
    /// Pass as `cursor` for the next page; null at the end.
    next_cursor: Option<String>,
}

fn audit_entry(r: &AuditRecord) -> AuditEntry {
    AuditEntry {
        id: r.id,
        at: time(r.at_ms),
        principal: r.principal.clone(),
        remote: r.remote.clone(),
        method: r.method.clone(),
        path: r.path.clone(),
        status: r.status,
        outcome: r.outcome.clone(),
    }
}

/// The audit trail: every write and every refused request, newest first.
#[utoipa::path(
    get,
    path = "/v1/audit",
    operation_id = "listAudit",
    tag = "auth",
    params(AuditParams),
    responses(
        (status = 200, description = "A page of entries.", body = AuditPage),
        (status = 400, description = "A bad limit or cursor; the message names it.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn audit(
    State(s): State<AppState>,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = p.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_AUDIT_PAGE {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit",
            format!("must be 1 to {MAX_AUDIT_PAGE}; follow next_cursor for more"),
        ));
    }
    let before_id = match p.cursor.as_deref() {
        None => None,
        // Ids are positive i64s; a larger number still means "below it": everything.
        // Exactly what the document says: 1 to 19 digits (no sign, no space).
        Some(c) if (1..=19).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit()) => {
            Some(c.parse::<u64>().map(|n| i64::try_from(n).unwrap_or(i64::MAX)).unwrap_or(i64::MAX))
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_cursor",
                "cursor",
                "pass back the next_cursor of the previous page as is",
            ));
        }
    };
    if p.principal.as_deref().is_some_and(|p| p.is_empty() || p.chars().count() > 300) {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            "principal",
            "must be 1 to 300 characters, e.g. token:ci-deploy; leave it out for every principal",
        ));
    }
    let query = AuditQuery { before_id, principal: p.principal, refused_only: p.refused.unwrap_or(false), limit };
    let records = s.guard.store().list_audit(&query).await?;
    let next_cursor = (records.len() == limit as usize).then(|| records.last().map(|r| r.id.to_string())).flatten();
    Ok(Json(AuditPage { items: records.iter().map(audit_entry).collect(), next_cursor }))
}
