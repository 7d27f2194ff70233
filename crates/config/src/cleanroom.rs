//! `[cleanroom]`: the clean rooms' keys, attestation and OIDC issuer.

use std::path::PathBuf;

use serde::Deserialize;

use crate::{ConfigError, Origin};

/// `[cleanroom]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CleanRoomSettings {
    /// The key file that seals secrets and derives the ledgers' service keys (32 bytes, mode
    /// 0600, created if absent). Default: `cleanroom.key` in the data directory. Instances
    /// sharing a PostgreSQL store must share this file.
    pub key_file: Option<PathBuf>,
    /// The simulated TEE's attestation public key (Ed25519, 32 bytes base64): reports it signs
    /// are accepted as evidence. For development and tests only; leave it out in production.
    pub simulated_attestation_key: Option<String>,
    /// The simulated TEE's private key (PKCS#8 Ed25519, DER; created with mode 0600 if absent):
    /// governed runners on this machine sign their reports with it, and the server trusts its
    /// public key. For development, tests and the demo only; leave it out in production.
    pub simulated_tee_key_file: Option<PathBuf>,
    /// The URL governed runners call back (this server as the Spark driver reaches it).
    /// Default: the address the server listens on (127.0.0.1 for a wildcard address).
    pub runner_callback_url: Option<String>,
    /// On Kubernetes: where the runner's entry script is in the Spark image (the package next
    /// to it). Default: `local:///opt/consort/runner/consort_runner_main.py`.
    pub kubernetes_runner_file: Option<String>,
    /// On Kubernetes: the image of the sidecars beside the runner on the driver and executor
    /// pods (secrets, identity, telemetry). Default: `consort-sidecar:{version}`.
    pub kubernetes_sidecar_image: Option<String>,
    /// Accept AMD SEV-SNP evidence (checked against AMD's pinned Milan and Genoa roots).
    pub sev_snp: bool,
    /// AMD's certificate revocation lists (DER, as AMD's key distribution service serves them
    /// per product), read at start. With any configured, a chain whose root has none current
    /// is refused, and a listed ASK or VCEK is refused as revoked.
    pub sev_snp_crl_files: Vec<PathBuf>,
    /// The public https base URL of this server, under which each clean room's OIDC issuer is
    /// `{issuer_base_url}/v1/cleanrooms/{name}/oidc`; without it no tokens are issued.
    pub issuer_base_url: Option<String>,
}

impl CleanRoomSettings {
    /// Checks what serde cannot; `path` is the configuration file, for messages.
    pub(crate) fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let invalid = |option: &'static str, value: String, problem: &str| ConfigError::Invalid {
            option,
            value,
            origin: Origin::File(path.to_string()),
            problem: problem.to_string(),
        };
        if let Some(url) = &self.issuer_base_url
            && (!url.starts_with("https://") || url.contains(['?', '#', ' ']))
        {
            return Err(invalid(
                "cleanroom.issuer_base_url",
                url.clone(),
                "must be an https:// URL without query or fragment (OIDC issuers are https), e.g. https://consort.example.com",
            ));
        }
        if let Some(url) = &self.runner_callback_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid(
                "cleanroom.runner_callback_url",
                url.clone(),
                "must be an http:// or https:// URL of this server, e.g. http://10.0.0.5:8080",
            ));
        }
        if !self.sev_snp && !self.sev_snp_crl_files.is_empty() {
            return Err(invalid(
                "cleanroom.sev_snp_crl_files",
                format!("{:?}", self.sev_snp_crl_files),
                "AMD CRLs are only read when SEV-SNP evidence is accepted: set sev_snp = true, or remove the list",
            ));
        }
        if let Some(key) = &self.simulated_attestation_key {
            use base64::Engine;
            let decoded = base64::engine::general_purpose::STANDARD.decode(key.trim());
            if decoded.map(|k| k.len()) != Ok(32) {
                return Err(invalid(
                    "cleanroom.simulated_attestation_key",
                    key.clone(),
                    "must be the simulated TEE's 32-byte Ed25519 public key in standard base64",
                ));
            }
        }
        Ok(())
    }
}
