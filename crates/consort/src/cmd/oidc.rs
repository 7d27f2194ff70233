//! JWT issuers from `[[auth.oidc]]`.

use std::sync::Arc;

use consort_config::Config;
use consort_server::auth::JwtVerifier;

/// The verifier of the configured issuers, `None` when there are none.
pub fn verifier(config: &Config) -> anyhow::Result<Option<Arc<dyn JwtVerifier>>> {
    if config.auth.oidc.is_empty() {
        return Ok(None);
    }
    anyhow::bail!("[[auth.oidc]] issuers are configured, but this build cannot verify JWTs yet; remove them")
}
