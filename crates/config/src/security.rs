//! `[auth]`, `[tls]`, `[limits]` and `[jobs]`: who may call, over what, how much.
//!
//! The safe default is the strict one: authentication on, the `command` kind off,
//! and a listener outside loopback only with TLS (or TLS ended in front of consort).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::{ConfigError, Origin};

/// The role names a mapping may name.
pub const ROLE_NAMES: [&str; 5] = ["admin", "operator", "provisioner", "viewer", "cleanroom"];

/// How callers authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// API tokens, JWTs of configured issuers, client certificates. The default.
    #[default]
    Token,
    /// Nobody is asked; every caller is an admin. Refused outside loopback.
    None,
}

/// `[auth]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// "token" or "none".
    pub mode: String,
    /// Requests per second a principal may make on average.
    pub rate_per_sec: u32,
    /// Requests a principal may make at once before the rate applies.
    pub rate_burst: u32,
    /// `[[auth.oidc]]`: JWT issuers.
    pub oidc: Vec<OidcIssuerSettings>,
    /// `[auth.client_cert_roles]`: a verified client certificate's common name (or whole
    /// subject) → role.
    pub client_cert_roles: BTreeMap<String, String>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            mode: "token".into(),
            rate_per_sec: 50,
            rate_burst: 200,
            oidc: Vec::new(),
            client_cert_roles: BTreeMap::new(),
        }
    }
}

impl AuthSettings {
    /// The parsed mode (validated by `Config::resolve`).
    pub fn auth_mode(&self) -> AuthMode {
        if self.mode == "none" { AuthMode::None } else { AuthMode::Token }
    }
}

/// One `[[auth.oidc]]` issuer.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcIssuerSettings {
    /// The exact `iss`.
    pub issuer: String,
    /// Accepted `aud` values.
    pub audiences: Vec<String>,
    /// Dotted path of the claim holding role names or groups.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// Claim value → role; a value that is a role name maps to it without an entry.
    #[serde(default)]
    pub role_map: BTreeMap<String, String>,
    /// Claim naming the principal.
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    /// Accepted signature algorithms; empty means the asymmetric default list.
    #[serde(default)]
    pub algorithms: Vec<String>,
    /// Clock leeway for `exp` and `nbf`, seconds.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
}

fn default_roles_claim() -> String {
    "groups".into()
}
fn default_subject_claim() -> String {
    "sub".into()
}
fn default_leeway() -> u64 {
    30
}

/// `[tls]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSection {
    /// PEM certificate chain; with `key`, the listener speaks HTTPS.
    pub cert: Option<PathBuf>,
    /// PEM private key.
    pub key: Option<PathBuf>,
    /// PEM CA bundle client certificates are verified against (mutual TLS).
    pub client_ca: Option<PathBuf>,
    /// With `client_ca`: refuse clients without a valid certificate (else optional).
    pub client_cert_required: bool,
    /// TLS ends at a proxy or load balancer in front of consort: allows a plain
    /// listener outside loopback.
    pub terminated_upstream: bool,
}

/// `[limits]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Largest request body, bytes (413 above).
    pub max_body_bytes: usize,
    /// Largest request header section, bytes (431 above).
    pub max_header_bytes: usize,
    /// Longest a request may take, seconds (then 408/503).
    pub request_timeout_secs: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings { max_body_bytes: 1024 * 1024, max_header_bytes: 16 * 1024, request_timeout_secs: 30 }
    }
}

/// `[jobs]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobSettings {
    /// Enables the `command` job kind (a program run as the server's user; admins only).
    pub command_kind: bool,
}

fn invalid(option: &'static str, value: impl Into<String>, origin: Origin, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { option, value: value.into(), origin, problem: problem.into() }
}

/// Checks the security sections against each other and the listen address.
pub(crate) fn check(
    listen: SocketAddr,
    listen_origin: &Origin,
    auth: &AuthSettings,
    auth_origin: Origin,
    tls: &TlsSection,
    limits: &LimitSettings,
    file: &str,
) -> Result<(), ConfigError> {
    let in_file = || Origin::File(file.to_string());
    if !["token", "none"].contains(&auth.mode.as_str()) {
        return Err(invalid("auth.mode", &auth.mode, auth_origin, "use \"token\" (the default) or \"none\""));
    }
    let loopback = listen.ip().is_loopback();
    if auth.auth_mode() == AuthMode::None && !loopback {
        return Err(invalid(
            "auth.mode",
            "none",
            auth_origin,
            format!(
                "authentication can be off only on a loopback address, and server.listen is {listen} (from {listen_origin}): \
                 listen on 127.0.0.1, or set auth.mode = \"token\" and create tokens with `consort tokens create`"
            ),
        ));
    }
    if tls.cert.is_some() != tls.key.is_some() {
        return Err(invalid(
            if tls.cert.is_some() { "tls.key" } else { "tls.cert" },
            "",
            in_file(),
            "set both tls.cert (PEM certificate chain) and tls.key (PEM private key), or neither",
        ));
    }
    if tls.client_ca.is_some() && tls.cert.is_none() {
        return Err(invalid(
            "tls.client_ca",
            tls.client_ca.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            in_file(),
            "client certificates need TLS on the listener: set tls.cert and tls.key too",
        ));
    }
    if tls.client_cert_required && tls.client_ca.is_none() {
        return Err(invalid(
            "tls.client_cert_required",
            "true",
            in_file(),
            "set tls.client_ca to the CA bundle client certificates are verified against",
        ));
    }
    if !loopback && tls.cert.is_none() && !tls.terminated_upstream {
        return Err(invalid(
            "server.listen",
            listen.to_string(),
            listen_origin.clone(),
            "a listener outside loopback needs TLS: set tls.cert and tls.key, or tls.terminated_upstream = true \
             if a proxy in front of consort ends TLS (tokens must never cross a network in clear text)",
        ));
    }
    for (option, value) in [("auth.client_cert_roles", &auth.client_cert_roles)] {
        if let Some((subject, role)) = value.iter().find(|(_, r)| !ROLE_NAMES.contains(&r.as_str())) {
            return Err(invalid(
                option,
                format!("{subject} = {role}"),
                in_file(),
                "the role must be one of admin, operator, provisioner, viewer, cleanroom",
            ));
        }
    }
    for issuer in &auth.oidc {
        if let Some((value, role)) = issuer.role_map.iter().find(|(_, r)| !ROLE_NAMES.contains(&r.as_str())) {
            return Err(invalid(
                "auth.oidc.role_map",
                format!("{value} = {role}"),
                in_file(),
                "the role must be one of admin, operator, provisioner, viewer, cleanroom",
            ));
        }
        if issuer.audiences.is_empty() {
            return Err(invalid(
                "auth.oidc.audiences",
                &issuer.issuer,
                in_file(),
                "list the audiences (`aud`) this server accepts, e.g. audiences = [\"consort\"]",
            ));
        }
    }
    if auth.rate_per_sec == 0 || auth.rate_burst == 0 {
        return Err(invalid(
            "auth.rate_per_sec",
            format!("{}/{}", auth.rate_per_sec, auth.rate_burst),
            in_file(),
            "rate_per_sec and rate_burst must be at least 1",
        ));
    }
    if limits.max_body_bytes < 1024 || limits.max_header_bytes < 1024 || limits.request_timeout_secs == 0 {
        return Err(invalid(
            "limits",
            format!(
                "max_body_bytes={} max_header_bytes={} request_timeout_secs={}",
                limits.max_body_bytes, limits.max_header_bytes, limits.request_timeout_secs
            ),
            in_file(),
            "body and header limits must be at least 1024 bytes and the time-out at least 1 second",
        ));
    }
    Ok(())
}
