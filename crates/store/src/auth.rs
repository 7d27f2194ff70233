//! The auth area's statements (API tokens, the audit trail), written once over [`Sql`];
//! each runs inside one transaction of its backend.

use consort_auth::{AuditQuery, AuditRecord, AuthStoreError, NewToken, Role, RoleSet, TokenRecord};
use consort_scheduler::StoreError;

use crate::sql::{Cols, Sql, Value};

const TOKEN_COLUMNS: &str = "id, name, roles, created_ms, expires_ms, revoked_ms, last_used_ms";
const AUDIT_COLUMNS: &str = "id, at_ms, principal, remote, method, path, status, outcome";

/// A scheduler-store error as this area's error (messages never hold a secret:
/// statements carry hashes and names only).
pub(crate) fn from_store(e: StoreError) -> AuthStoreError {
    let transient = matches!(e, StoreError::Database { transient: true, .. });
    AuthStoreError::Database { message: e.to_string(), transient }
}

fn roles_text(roles: RoleSet) -> String {
    roles.to_string()
}

fn parse_roles(text: &str) -> Result<RoleSet, StoreError> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<Role>().map_err(|m| StoreError::Corrupt { table: "consort_tokens", message: m }))
        .collect()
}

fn token(row: &[Value]) -> Result<TokenRecord, StoreError> {
    let mut c = Cols::new("consort_tokens", row);
    Ok(TokenRecord {
        id: c.text()?,
        name: c.text()?,
        roles: parse_roles(&c.text()?)?,
        created_ms: c.int()?,
        expires_ms: c.opt_int()?,
        revoked_ms: c.opt_int()?,
        last_used_ms: c.opt_int()?,
    })
}

fn audit(row: &[Value]) -> Result<AuditRecord, StoreError> {
    let mut c = Cols::new("consort_audit", row);
    Ok(AuditRecord {
        id: c.int()?,
        at_ms: c.int()?,
        principal: c.text()?,
        remote: c.text()?,
        method: c.text()?,
        path: c.text()?,
        status: u16::try_from(c.int()?).unwrap_or(0),
        outcome: c.text()?,
    })
}

pub(crate) async fn create_token(
    db: &mut impl Sql,
    t: &NewToken,
) -> Result<Result<TokenRecord, AuthStoreError>, StoreError> {
    let live =
        db.rows("SELECT id FROM consort_tokens WHERE name = $1 AND revoked_ms IS NULL", &[(&t.name).into()]).await?;
    if !live.is_empty() {
        return Ok(Err(AuthStoreError::NameTaken(t.name.clone())));
    }
    db.exec(
        "INSERT INTO consort_tokens (id, hash, name, roles, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            (&t.id).into(),
            (&t.hash).into(),
            (&t.name).into(),
            roles_text(t.roles).into(),
            t.created_ms.into(),
            t.expires_ms.into(),
        ],
    )
    .await?;
    Ok(Ok(TokenRecord {
        id: t.id.clone(),
        name: t.name.clone(),
        roles: t.roles,
        created_ms: t.created_ms,
        expires_ms: t.expires_ms,
        revoked_ms: None,
        last_used_ms: None,
    }))
}

pub(crate) async fn token_by_hash(db: &mut impl Sql, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
    let rows = db.rows(&format!("SELECT {TOKEN_COLUMNS} FROM consort_tokens WHERE hash = $1"), &[hash.into()]).await?;
    rows.first().map(|r| token(r)).transpose()
}

pub(crate) async fn list_tokens(db: &mut impl Sql) -> Result<Vec<TokenRecord>, StoreError> {
    let rows =
        db.rows(&format!("SELECT {TOKEN_COLUMNS} FROM consort_tokens ORDER BY created_ms DESC, id"), &[]).await?;
    rows.iter().map(|r| token(r)).collect()
}

pub(crate) async fn revoke_token(
    db: &mut impl Sql,
    id_or_name: &str,
    now_ms: i64,
) -> Result<Result<TokenRecord, AuthStoreError>, StoreError> {
    // By id first; by name only among live tokens (a name can be reused after revocation).
    let mut rows =
        db.rows(&format!("SELECT {TOKEN_COLUMNS} FROM consort_tokens WHERE id = $1"), &[id_or_name.into()]).await?;
    if rows.is_empty() {
        rows = db
            .rows(
                &format!("SELECT {TOKEN_COLUMNS} FROM consort_tokens WHERE name = $1 AND revoked_ms IS NULL"),
                &[id_or_name.into()],
            )
            .await?;
    }
    let Some(row) = rows.first() else {
        return Ok(Err(AuthStoreError::NotFound(id_or_name.to_string())));
    };
    let mut record = token(row)?;
    if record.revoked_ms.is_none() {
        db.exec("UPDATE consort_tokens SET revoked_ms = $1 WHERE id = $2", &[now_ms.into(), (&record.id).into()])
            .await?;
        record.revoked_ms = Some(now_ms);
    }
    Ok(Ok(record))
}

pub(crate) async fn touch_tokens(db: &mut impl Sql, ids: &[String], now_ms: i64) -> Result<(), StoreError> {
    for id in ids {
        db.exec(
            "UPDATE consort_tokens SET last_used_ms = $1 WHERE id = $2 AND (last_used_ms IS NULL OR last_used_ms < $1)",
            &[now_ms.into(), id.into()],
        )
        .await?;
    }
    Ok(())
}

pub(crate) async fn append_audit(db: &mut impl Sql, records: &[AuditRecord]) -> Result<(), StoreError> {
    for r in records {
        db.exec(
            "INSERT INTO consort_audit (at_ms, principal, remote, method, path, status, outcome) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                r.at_ms.into(),
                (&r.principal).into(),
                (&r.remote).into(),
                (&r.method).into(),
                (&r.path).into(),
                i64::from(r.status).into(),
                (&r.outcome).into(),
            ],
        )
        .await?;
    }
    Ok(())
}

pub(crate) async fn list_audit(db: &mut impl Sql, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
    let rows = db
        .rows(
            &format!(
                "SELECT {AUDIT_COLUMNS} FROM consort_audit WHERE (CAST($1 AS BIGINT) IS NULL OR id < $1) \
                 AND (CAST($2 AS TEXT) IS NULL OR principal = $2) AND ($3 = 0 OR outcome LIKE 'refused%') \
                 ORDER BY id DESC LIMIT $4"
            ),
            &[
                q.before_id.into(),
                q.principal.clone().into(),
                i64::from(q.refused_only).into(),
                i64::from(q.limit).into(),
            ],
        )
        .await?;
    rows.iter().map(|r| audit(r)).collect()
}
