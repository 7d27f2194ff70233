//! `/v1/tokens` and `/v1/audit`: API tokens (the secret is answered once, at creation)
//! and the audit trail. Admins only (see `auth::action_for`).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use consort_auth::{AuditQuery, AuditRecord, AuthStoreError, NewToken, Role, RoleSet, TokenRecord, token};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;

/// Longest token name.
pub const MAX_NAME: usize = 100;
/// Longest lifetime a token may be given: ten years.
pub const MAX_EXPIRES_IN_SECS: u64 = 10 * 366 * 24 * 3600;
/// Largest audit page.
pub const MAX_AUDIT_PAGE: u32 = 1000;

fn time(ms: i64) -> String {
    Timestamp::from_millisecond(ms).map(|t| t.to_string()).unwrap_or_else(|_| ms.to_string())
}

fn token_json(t: &TokenRecord, now_ms: i64) -> Value {
    let state = if t.revoked_ms.is_some() {
        "revoked"
    } else if t.expires_ms.is_some_and(|e| e <= now_ms) {
        "expired"
    } else {
        "active"
    };
    json!({
        "id": t.id,
        "name": t.name,
        "roles": t.roles.iter().map(Role::as_str).collect::<Vec<_>>(),
        "state": state,
        "created_at": time(t.created_ms),
        "expires_at": t.expires_ms.map(time),
        "revoked_at": t.revoked_ms.map(time),
        "last_used_at": t.last_used_ms.map(time),
    })
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

/// `POST /v1/tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateToken {
    name: String,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
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

pub(crate) async fn create(
    State(s): State<AppState>,
    Json(body): Json<CreateToken>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    check_token_name(&body.name).map_err(|m| ApiError::bad_request("invalid_token", "name", m))?;
    let names: Vec<&String> = body.role.iter().chain(body.roles.iter()).collect();
    if names.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_token",
            "role",
            "give the token a role: admin, operator, provisioner or viewer",
        ));
    }
    let mut roles = RoleSet::EMPTY;
    for name in names {
        roles = roles.with(name.parse::<Role>().map_err(|m| ApiError::bad_request("invalid_token", "role", m))?);
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
    let mut answer = token_json(&record, now_ms);
    answer["secret"] = Value::String(generated.secret);
    Ok((StatusCode::CREATED, Json(answer)))
}

pub(crate) async fn list(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let now_ms = (s.clock)().as_millisecond();
    let tokens = s.guard.store().list_tokens().await?;
    Ok(Json(json!({"items": tokens.iter().map(|t| token_json(t, now_ms)).collect::<Vec<_>>()})))
}

pub(crate) async fn revoke(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let now_ms = (s.clock)().as_millisecond();
    let record = s.guard.store().revoke_token(&id, now_ms).await?;
    s.guard.forget(&record.id);
    Ok(Json(token_json(&record, now_ms)))
}

/// `GET /v1/audit` parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditParams {
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    principal: Option<String>,
    #[serde(default)]
    refused: Option<bool>,
}

fn audit_json(r: &AuditRecord) -> Value {
    json!({
        "id": r.id,
        "at": time(r.at_ms),
        "principal": r.principal,
        "remote": r.remote,
        "method": r.method,
        "path": r.path,
        "status": r.status,
        "outcome": r.outcome,
    })
}

pub(crate) async fn audit(State(s): State<AppState>, Query(p): Query<AuditParams>) -> Result<Json<Value>, ApiError> {
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
        Some(c) => Some(c.parse::<i64>().map_err(|_| {
            ApiError::bad_request("invalid_cursor", "cursor", "pass back the next_cursor of the previous page as is")
        })?),
    };
    let query = AuditQuery { before_id, principal: p.principal, refused_only: p.refused.unwrap_or(false), limit };
    let records = s.guard.store().list_audit(&query).await?;
    let next = (records.len() == limit as usize).then(|| records.last().map(|r| r.id.to_string())).flatten();
    Ok(Json(json!({"items": records.iter().map(audit_json).collect::<Vec<_>>(), "next_cursor": next})))
}
