//! What the store keeps for this area: API tokens (hashes only) and the audit trail.

use async_trait::async_trait;

use crate::RoleSet;

/// A stored API token. Holds no secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// Public id, `tok_…`.
    pub id: String,
    /// Who it is for; unique among live tokens.
    pub name: String,
    /// What it may do.
    pub roles: RoleSet,
    /// Creation instant, epoch ms.
    pub created_ms: i64,
    /// Expiry instant, epoch ms; `None` never expires.
    pub expires_ms: Option<i64>,
    /// Revocation instant, epoch ms.
    pub revoked_ms: Option<i64>,
    /// Last successful use, epoch ms (recorded at most about once a minute).
    pub last_used_ms: Option<i64>,
}

/// A token to insert.
#[derive(Clone, Debug)]
pub struct NewToken {
    /// Public id.
    pub id: String,
    /// SHA-256 of the secret, hex.
    pub hash: String,
    /// Who it is for.
    pub name: String,
    /// What it may do.
    pub roles: RoleSet,
    /// Creation instant, epoch ms.
    pub created_ms: i64,
    /// Expiry, epoch ms.
    pub expires_ms: Option<i64>,
}

/// One entry of the audit trail: a write, or a refused request. Never holds a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// Assigned by the store; 0 on insert.
    pub id: i64,
    /// When, epoch ms.
    pub at_ms: i64,
    /// Who (`token:NAME`, `jwt:SUB`, `cert:SUBJECT`, `anonymous`).
    pub principal: String,
    /// The client's address.
    pub remote: String,
    /// HTTP method.
    pub method: String,
    /// The path (no query string: it may hold data).
    pub path: String,
    /// The status answered.
    pub status: u16,
    /// `ok`, `refused` or `failed`, with a short reason code for refusals.
    pub outcome: String,
}

/// A page of the audit trail, newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Only entries with an id below this (the cursor of the previous page).
    pub before_id: Option<i64>,
    /// Only entries of this principal.
    pub principal: Option<String>,
    /// Only refused requests.
    pub refused_only: bool,
    /// At most this many.
    pub limit: u32,
}

/// A store failure, already worded for an operator; never holds a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthStoreError {
    /// The name is taken by a live token.
    #[error("a live token named {0:?} exists: revoke it first or choose another name")]
    NameTaken(String),
    /// No such token.
    #[error("no token {0:?}: `consort tokens list` shows ids and names")]
    NotFound(String),
    /// The database failed; `transient` says whether a retry may help.
    #[error("{message}")]
    Database {
        /// What failed.
        message: String,
        /// Whether a retry may help.
        transient: bool,
    },
}

/// The store of this area.
#[async_trait]
pub trait AuthStore: Send + Sync + 'static {
    /// Inserts a token.
    async fn create_token(&self, token: NewToken) -> Result<TokenRecord, AuthStoreError>;
    /// The token with this secret hash, revoked and expired ones included.
    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, AuthStoreError>;
    /// Every token, newest first.
    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, AuthStoreError>;
    /// Revokes the token with this id or name; returns it.
    async fn revoke_token(&self, id_or_name: &str, now_ms: i64) -> Result<TokenRecord, AuthStoreError>;
    /// Records the last use of these tokens (one statement for a batch).
    async fn touch_tokens(&self, ids: &[String], now_ms: i64) -> Result<(), AuthStoreError>;
    /// Appends entries to the audit trail (one transaction for a batch).
    async fn append_audit(&self, records: &[AuditRecord]) -> Result<(), AuthStoreError>;
    /// A page of the audit trail, newest first.
    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, AuthStoreError>;
}
