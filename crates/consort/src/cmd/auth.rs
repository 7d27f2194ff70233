//! The security layer's wiring: the guard from the configuration, and the admin token
//! written on first start.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use consort_auth::{AuthStore, NewToken, Role, RoleSet, token};
use consort_config::{AuthMode, Config};
use consort_server::auth::{AuthSettings, Guard};

/// The file in the data directory that holds the first admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// The guard for `consort serve`.
pub fn guard(config: &Config, store: Arc<dyn AuthStore>) -> anyhow::Result<Arc<Guard>> {
    let client_cert_roles = config
        .auth
        .client_cert_roles
        .iter()
        .map(|(subject, role)| Ok((subject.clone(), RoleSet::of(role.parse::<Role>().map_err(anyhow::Error::msg)?))))
        .collect::<anyhow::Result<_>>()?;
    let settings = AuthSettings {
        required: config.auth.auth_mode() == AuthMode::Token,
        rate_per_sec: config.auth.rate_per_sec,
        rate_burst: config.auth.rate_burst,
        client_cert_roles,
        max_body_bytes: config.limits.max_body_bytes,
        request_timeout: Duration::from_secs(config.limits.request_timeout_secs),
    };
    let jwt = crate::cmd::oidc::verifier(config)?;
    Ok(Guard::new(settings, store, jwt))
}

/// On first start (no `admin.token` in the data directory) creates an admin token and
/// writes it there, readable by this user only. A file that is present is never rewritten,
/// and its token is never revived once revoked (an admin who revoked it meant it); but a token
/// the store has never seen is registered as an admin token: how a deployment hands the same
/// first admin token to several instances on one PostgreSQL (a Secret mounted as the file).
pub async fn ensure_admin_token(store: &Arc<dyn AuthStore>, data_dir: &Path) -> anyhow::Result<PathBuf> {
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    if path.exists() {
        register_provided_token(store, &path).await?;
        return Ok(path);
    }
    let generated = token::generate().map_err(|e| anyhow::anyhow!("reading the OS random source for a token: {e}"))?;
    let name = format!("admin-{}", &generated.id[4..12]);
    store
        .create_token(NewToken {
            id: generated.id.clone(),
            hash: generated.hash.clone(),
            name: name.clone(),
            roles: RoleSet::of(Role::Admin),
            created_ms: jiff::Timestamp::now().as_millisecond(),
            expires_ms: None,
        })
        .await
        .context("creating the first admin token")?;
    write_secret(&path, &generated.secret).with_context(|| {
        format!("writing the admin token to {}; check the data directory is writable", path.display())
    })?;
    tracing::info!(
        path = %path.display(),
        token_id = %generated.id,
        name = %name,
        "wrote an admin token (mode 0600); the CLI on this machine uses it, or send it as `Authorization: Bearer`"
    );
    Ok(path)
}

/// Registers the token in an `admin.token` someone else wrote, unless the store knows it.
async fn register_provided_token(store: &Arc<dyn AuthStore>, path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {}; check its owner and mode", path.display()))?;
    let secret = text.trim();
    if !token::looks_like_token(secret) {
        tracing::warn!(
            path = %path.display(),
            "the admin token file does not hold a consort token (cst_ and 43 base64url characters); it is ignored"
        );
        return Ok(());
    }
    let hash = token::hash(secret);
    if store.token_by_hash(&hash).await.context("looking up the admin token file's token")?.is_some() {
        tracing::info!(path = %path.display(), "admin token file present");
        return Ok(());
    }
    // The id and name come from the hash, so instances starting together on one store make
    // the same row: the first insert wins and the others find it.
    let id = format!("tok_{}", &hash[..16]);
    let name = format!("admin-{}", &hash[..8]);
    let created = store
        .create_token(NewToken {
            id: id.clone(),
            hash: hash.clone(),
            name: name.clone(),
            roles: RoleSet::of(Role::Admin),
            created_ms: jiff::Timestamp::now().as_millisecond(),
            expires_ms: None,
        })
        .await;
    if let Err(err) = created
        && store.token_by_hash(&hash).await.context("looking up the admin token file's token")?.is_none()
    {
        return Err(err).context("registering the admin token file's token");
    }
    tracing::info!(path = %path.display(), token_id = %id, name = %name, "registered the admin token file's token as an admin token");
    Ok(())
}

fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    writeln!(file, "{secret}")?;
    file.sync_all()
}
