//! JWT issuers from `[[auth.oidc]]`, verified by `consort_auth::oidc`.

use std::sync::Arc;

use anyhow::Context;
use consort_auth::Role;
use consort_auth::oidc::{IssuerConfig, OidcVerifier};
use consort_config::Config;
use consort_server::auth::JwtVerifier;

/// The verifier of the configured issuers, `None` when there are none.
pub fn verifier(config: &Config) -> anyhow::Result<Option<Arc<dyn JwtVerifier>>> {
    if config.auth.oidc.is_empty() {
        return Ok(None);
    }
    let mut issuers = Vec::with_capacity(config.auth.oidc.len());
    for settings in &config.auth.oidc {
        let mut issuer = IssuerConfig::new(settings.issuer.clone(), settings.audiences.clone());
        issuer.roles_claim = settings.roles_claim.clone();
        issuer.subject_claim = settings.subject_claim.clone();
        issuer.leeway_secs = settings.leeway_secs;
        if !settings.algorithms.is_empty() {
            issuer.algorithms = settings.algorithms.clone();
        }
        for (value, role) in &settings.role_map {
            issuer.role_map.insert(value.clone(), role.parse::<Role>().map_err(anyhow::Error::msg)?);
        }
        issuers.push(issuer);
    }
    let verifier = OidcVerifier::new(issuers).context("[[auth.oidc]]")?;
    Ok(Some(Arc::new(verifier)))
}
