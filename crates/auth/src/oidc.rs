//! OIDC bearer tokens: JWTs signed by a configured OpenID issuer, verified against the
//! issuer's published keys (discovery document → `jwks_uri` → JWKS).
//!
//! [`OidcVerifier::verify`] turns a JWT into a [`Principal`] or a refusal naming the
//! header or claim at fault. The rules are plain functions over parsed values (no I/O,
//! `now` an argument) and unit-tested here; the verifier adds what needs state: the
//! issuers' keys fetched over HTTP and cached (an unknown `kid` refetches them, at most
//! once per [`MIN_REFETCH_INTERVAL_SECS`] per issuer), and a bounded cache of verified
//! tokens keyed by the token's SHA-256, so a repeated token costs a hash and a lookup
//! instead of a signature check.
//!
//! Only public-key signatures are accepted (RS*, PS*, ES256, ES384, EdDSA): `alg: none`
//! and the HMAC family are refused before anything else, and the header's `alg` must fit
//! the type of the key its `kid` names (and that key's own `alg`, if published). Neither a
//! token nor key material ever appears in an error or a log line.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::{AuthError, Method, Principal, Role, RoleSet};

/// The algorithms accepted when [`IssuerConfig::algorithms`] is left at its default.
pub const DEFAULT_ALGORITHMS: [&str; 9] =
    ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];
/// Default clock leeway for `exp` and `nbf`, seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;
/// Default age after which an issuer's keys are fetched again, seconds.
pub const DEFAULT_JWKS_MAX_AGE_SECS: u64 = 300;
/// The least time between two fetches of one issuer's keys, seconds: a flood of tokens
/// with made-up `kid`s costs the issuer at most one request per this interval.
pub const MIN_REFETCH_INTERVAL_SECS: i64 = 10;
/// How many verified tokens are remembered.
pub const TOKEN_CACHE_CAPACITY: usize = 10_000;
/// Longer bearer strings are refused before any parsing.
pub const MAX_JWT_BYTES: usize = 16 * 1024;
/// Larger discovery documents or key sets are refused.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// One trusted OpenID issuer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerConfig {
    /// The exact `iss` of its tokens. Its discovery document is read from
    /// `{issuer}/.well-known/openid-configuration`, and must name the same issuer.
    /// `https://`, or `http://` on a loopback address only.
    pub issuer: String,
    /// The token's `aud` (a string or an array) must contain one of these; not empty.
    pub audiences: Vec<String>,
    /// Where the roles are: a claim name (`groups`), or a dotted path into nested
    /// objects (`realm_access.roles`); a claim whose whole name matches wins over a
    /// path. Its value is a string or an array of strings; a missing claim means no role.
    pub roles_claim: String,
    /// Claim value → role. A value absent from the map that is a role's name
    /// (`admin`, `operator`, `provisioner`, `viewer`) maps to that role; other values
    /// are ignored.
    pub role_map: BTreeMap<String, Role>,
    /// The claim naming the caller (default `sub`); a non-empty string.
    pub subject_claim: String,
    /// The `alg`s accepted; empty means [`DEFAULT_ALGORITHMS`] (also the default). `none`
    /// and `HS*` are refused at construction.
    pub algorithms: Vec<String>,
    /// Clock leeway applied to `exp` and `nbf`, seconds (default 30).
    pub leeway_secs: u64,
    /// The issuer's keys are fetched again when older than this (default 300 s), so a key
    /// the issuer withdrew stops being accepted within this time even when no token
    /// names a new key.
    pub jwks_max_age_secs: u64,
}

impl IssuerConfig {
    /// An issuer with the defaults: roles in `groups`, no role map, subject `sub`, the
    /// default algorithms, 30 s leeway, keys refreshed every 300 s.
    pub fn new(issuer: impl Into<String>, audiences: Vec<String>) -> IssuerConfig {
        IssuerConfig {
            issuer: issuer.into(),
            audiences,
            roles_claim: "groups".into(),
            role_map: BTreeMap::new(),
            subject_claim: "sub".into(),
            algorithms: DEFAULT_ALGORITHMS.iter().map(|a| a.to_string()).collect(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
            jwks_max_age_secs: DEFAULT_JWKS_MAX_AGE_SECS,
        }
    }
}

/// A configuration [`OidcVerifier::new`] refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The list of issuers is empty.
    #[error("no OpenID issuer is configured: add one (issuer and audiences), or turn JWT authentication off")]
    NoIssuer,
    /// One issuer's settings are wrong.
    #[error("OpenID issuer {issuer:?}: {problem}")]
    Issuer {
        /// The issuer as configured.
        issuer: String,
        /// What is wrong, and the fix.
        problem: String,
    },
    /// The HTTP client could not be built (for https issuers: the system's trusted CA
    /// certificates could not be read).
    #[error(
        "the HTTP client for OpenID discovery could not be set up ({0}): https issuers need the system's CA certificates (Debian's ca-certificates), or SSL_CERT_FILE naming a PEM bundle"
    )]
    Http(String),
}

/// Verifies JWT bearer tokens of the configured issuers. Cheap to share (`Arc`); holds
/// no secret (the token cache is keyed by hashes).
pub struct OidcVerifier {
    issuers: Vec<Issuer>,
    http: reqwest::Client,
    cache: Mutex<HashMap<[u8; 32], Cached>>,
    capacity: usize,
}

impl fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("issuers", &self.issuers.iter().map(|i| &i.config).collect::<Vec<_>>())
            .field("cached_tokens", &self.cached_tokens())
            .finish()
    }
}

/// A verified token, remembered.
struct Cached {
    principal: Principal,
    /// `exp` + leeway: served while `now` is at most this.
    valid_until: i64,
    issuer: usize,
    kid: String,
}

/// One configured issuer and its keys.
struct Issuer {
    config: IssuerConfig,
    algorithms: Vec<Alg>,
    discovery_url: String,
    http_allowed: bool,
    leeway: i64,
    max_age: i64,
    keys: RwLock<Arc<KeySet>>,
    /// Keys are fetched again when `now` reaches this (`i64::MIN` until the first fetch).
    refresh_at: AtomicI64,
    /// The `now` of the last fetch attempt (`i64::MIN` before the first): a `now` before
    /// it means the clock went back, and the keys are fetched again.
    attempted_at: AtomicI64,
    /// Serialises fetches (a task waiting here gets the result of the fetch in flight);
    /// holds what the next fetch needs.
    fetch: tokio::sync::Mutex<FetchState>,
}

struct FetchState {
    /// The `now` of the last attempt (`i64::MIN` before the first).
    last_attempt: i64,
    /// The fetch under way. A task of its own, so that it completes, and its result is
    /// recorded by the next caller, even when the caller that started it is dropped.
    in_flight: Option<tokio::task::JoinHandle<Fetched>>,
    /// From the discovery document; `None` until read, and after a failed key fetch.
    jwks_uri: Option<String>,
    /// Why the last attempt failed, if it did.
    last_error: Option<String>,
}

/// Keys by `kid` (`""` for a key published without one).
type KeyMap = HashMap<String, Vec<Arc<Jwk>>>;

/// What a fetch brings back: the `jwks_uri` to use next time, and the keys or why not.
type Fetched = (Option<String>, Result<KeyMap, String>);

/// An issuer's keys, and when they were fetched.
#[derive(Default)]
struct KeySet {
    keys: KeyMap,
    fetched_at: Option<i64>,
}

impl OidcVerifier {
    /// Checks the configuration. Nothing is fetched (keys are, on first use); with an
    /// https issuer, the system's trusted CA certificates are read.
    pub fn new(issuers: Vec<IssuerConfig>) -> Result<OidcVerifier, ConfigError> {
        if issuers.is_empty() {
            return Err(ConfigError::NoIssuer);
        }
        let mut checked: Vec<Issuer> = Vec::with_capacity(issuers.len());
        for config in issuers {
            if checked.iter().any(|i| i.config.issuer == config.issuer) {
                return Err(issuer_error(&config.issuer, "it is configured twice: keep one entry"));
            }
            checked.push(Issuer::new(config)?);
        }
        let tls = checked.iter().any(|i| !i.http_allowed);
        Ok(OidcVerifier {
            http: http_client(tls)?,
            issuers: checked,
            cache: Mutex::new(HashMap::new()),
            capacity: TOKEN_CACHE_CAPACITY,
        })
    }

    /// The principal a JWT proves, or why it is refused. `now_unix_secs` is the current
    /// time; it drives `exp`/`nbf`, the cache and the key refresh schedule.
    pub async fn verify(&self, jwt: &str, now_unix_secs: i64) -> Result<Principal, AuthError> {
        let now = now_unix_secs;
        if jwt.len() > MAX_JWT_BYTES {
            return Err(invalid(format!(
                "the JWT is {} bytes long, more than the {MAX_JWT_BYTES} accepted",
                jwt.len()
            )));
        }
        let digest: [u8; 32] = Sha256::digest(jwt.as_bytes()).into();
        if let Some(principal) = self.cached(&digest, now) {
            return Ok(principal);
        }

        let token = Token::parse(jwt).map_err(invalid)?;
        let alg = token.header_alg().map_err(invalid)?;
        let iss = token.issuer().map_err(invalid)?;
        let Some(index) = self.issuers.iter().position(|i| i.config.issuer == iss) else {
            return Err(invalid(format!(
                "issuer {} is not configured; configured issuers: {} (the `iss` claim must equal one exactly)",
                shown(iss),
                self.issuers.iter().map(|i| format!("{:?}", i.config.issuer)).collect::<Vec<_>>().join(", ")
            )));
        };
        let issuer = &self.issuers[index];
        issuer.check_alg(alg).map_err(invalid)?;
        let claims = check_claims(&token.claims, &issuer.config, now).map_err(invalid)?;

        let kid = token.header.kid.as_deref();
        let (kid, key) = issuer.key(&self.http, kid, alg, now, |removed| self.forget(index, removed)).await?;
        check_key_fits(alg, &key, &issuer.config.issuer, &kid).map_err(invalid)?;
        if !key.verifies(alg, token.signing_input.as_bytes(), &token.signature) {
            return Err(invalid(format!(
                "the signature does not verify with issuer {:?}'s key kid {} ({}): the token was altered or signed by another key",
                issuer.config.issuer,
                shown(&kid),
                alg.name()
            )));
        }

        let principal = Principal {
            name: claims.subject,
            roles: claims.roles,
            method: Method::Jwt { issuer: issuer.config.issuer.clone() },
            groups: claims.groups,
        };
        let valid_until = claims.exp.saturating_add(issuer.leeway);
        self.remember(digest, Cached { principal: principal.clone(), valid_until, issuer: index, kid }, now);
        Ok(principal)
    }

    /// How many verified tokens are remembered.
    pub fn cached_tokens(&self) -> usize {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    fn cached(&self, digest: &[u8; 32], now: i64) -> Option<Principal> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = cache.get(digest)?;
        if now > entry.valid_until {
            cache.remove(digest);
            return None;
        }
        // Keys due for a refresh: take the slow path, which refreshes them first.
        if self.issuers[entry.issuer].due(now) {
            return None;
        }
        Some(entry.principal.clone())
    }

    fn remember(&self, digest: [u8; 32], entry: Cached, now: i64) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= self.capacity && !cache.contains_key(&digest) {
            // First what has expired; then, if still full, an arbitrary eighth, so
            // eviction stays amortised O(1) per insert.
            cache.retain(|_, c| now <= c.valid_until);
            if cache.len() >= self.capacity {
                let mut excess = self.capacity / 8 + 1;
                cache.retain(|_, _| {
                    let keep = excess == 0;
                    excess = excess.saturating_sub(1);
                    keep
                });
            }
        }
        cache.insert(digest, entry);
    }

    /// Drops remembered tokens signed by keys the issuer no longer publishes.
    fn forget(&self, issuer: usize, removed: &[String]) {
        if removed.is_empty() {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.retain(|_, c| c.issuer != issuer || !removed.contains(&c.kid));
    }
}

fn invalid(reason: String) -> AuthError {
    AuthError::InvalidJwt(reason)
}

fn issuer_error(issuer: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Issuer { issuer: issuer.to_string(), problem: problem.into() }
}

/// A value taken from a token, quoted and cut short for a message.
fn shown(value: &str) -> String {
    const MAX: usize = 64;
    if value.chars().count() <= MAX {
        format!("{value:?}")
    } else {
        let cut: String = value.chars().take(MAX).collect();
        format!("{cut:?}…")
    }
}

/// An instant for messages: RFC 3339 and the raw seconds.
fn instant(secs: i64) -> String {
    match jiff::Timestamp::from_second(secs) {
        Ok(t) => format!("{t} ({secs})"),
        Err(_) => secs.to_string(),
    }
}

/// The client for discovery and JWKS requests. `tls`: trust the system's CA certificates
/// (some issuer is https); otherwise trust nothing, as only loopback http is used.
fn http_client(tls: bool) -> Result<reqwest::Client, ConfigError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Http(e.to_string()))?;
    let tls = if tls {
        builder.with_platform_verifier().map_err(|e| ConfigError::Http(e.to_string()))?.with_no_client_auth()
    } else {
        builder.with_root_certificates(rustls::RootCertStore::empty()).with_no_client_auth()
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        // Keys are fetched every few minutes at most: a pooled connection would only
        // go stale in between.
        .pool_max_idle_per_host(0)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("consort/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ConfigError::Http(error_chain(&e)))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

// ---------------------------------------------------------------------------------------
// Issuers: configuration checks and key fetching.

/// Whether a URL's host is a loopback address (or `localhost`).
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

impl Issuer {
    fn new(config: IssuerConfig) -> Result<Issuer, ConfigError> {
        let name = config.issuer.clone();
        let err = |problem: String| issuer_error(&name, problem);
        let url = url::Url::parse(&config.issuer).map_err(|e| {
            err(format!("not a URL ({e}): write the issuer's exact `iss`, e.g. https://login.example.com/realms/x"))
        })?;
        let http_allowed = match url.scheme() {
            "https" => false,
            "http" if is_loopback(&url) => true,
            "http" => {
                return Err(
                    err("plain http is accepted only on a loopback address: use the issuer's https URL".into()),
                );
            }
            other => return Err(err(format!("scheme {other:?}: an issuer is an https URL"))),
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(err("an issuer URL has no query or fragment (OpenID Connect Discovery §2)".into()));
        }
        if config.audiences.is_empty() || config.audiences.iter().any(|a| a.is_empty()) {
            return Err(err(
                "`audiences` must list at least one non-empty audience (the `aud` consort's tokens are issued for)"
                    .into(),
            ));
        }
        if config.roles_claim.is_empty() {
            return Err(err("`roles_claim` is empty: name the claim holding roles, e.g. \"groups\"".into()));
        }
        if config.subject_claim.is_empty() {
            return Err(err("`subject_claim` is empty: name the claim naming the caller, usually \"sub\"".into()));
        }
        let mut algorithms = Vec::with_capacity(config.algorithms.len());
        for name in &config.algorithms {
            let alg =
                Alg::from_name(name).map_err(|problem| err(format!("in `algorithms`: {}", problem.describe(name))))?;
            if !algorithms.contains(&alg) {
                algorithms.push(alg);
            }
        }
        if algorithms.is_empty() {
            algorithms = Alg::ALL.to_vec();
        }
        let discovery_url = format!("{}/.well-known/openid-configuration", config.issuer.trim_end_matches('/'));
        Ok(Issuer {
            algorithms,
            discovery_url,
            http_allowed,
            leeway: i64::try_from(config.leeway_secs).unwrap_or(i64::MAX),
            max_age: i64::try_from(config.jwks_max_age_secs).unwrap_or(i64::MAX),
            keys: RwLock::new(Arc::new(KeySet::default())),
            refresh_at: AtomicI64::new(i64::MIN),
            attempted_at: AtomicI64::new(i64::MIN),
            fetch: tokio::sync::Mutex::new(FetchState {
                last_attempt: i64::MIN,
                in_flight: None,
                jwks_uri: None,
                last_error: None,
            }),
            config,
        })
    }

    fn check_alg(&self, alg: Alg) -> Result<(), String> {
        if self.algorithms.contains(&alg) {
            return Ok(());
        }
        Err(format!(
            "the JWT header's alg {:?} is not among the algorithms allowed for issuer {:?} ({}): add it to `algorithms`, or have the issuer sign with an allowed one",
            alg.name(),
            self.config.issuer,
            self.algorithms.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
        ))
    }

    /// Whether the keys are due for a fetch: old enough, or the clock went back.
    fn due(&self, now: i64) -> bool {
        now >= self.refresh_at.load(Ordering::Acquire) || now < self.attempted_at.load(Ordering::Acquire)
    }

    fn current_keys(&self) -> Arc<KeySet> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The key a token's `kid` names: refreshes keys that are due, or once (rate
    /// limited) when the `kid` is unknown. `forget` is told which kids a refresh removed.
    async fn key(
        &self,
        http: &reqwest::Client,
        kid: Option<&str>,
        alg: Alg,
        now: i64,
        forget: impl Fn(&[String]),
    ) -> Result<(String, Arc<Jwk>), AuthError> {
        if self.due(now) {
            // Due (or never fetched). A failure is fatal only when no key is known yet.
            if let Err(e) = self.refresh(http, now, &forget).await
                && self.current_keys().fetched_at.is_none()
            {
                return Err(e);
            }
        }
        let keys = self.current_keys();
        if let Some(found) = keys.find(kid, alg) {
            return found.map_err(|reason| invalid(self.ambiguous(reason)));
        }
        // An unknown kid: perhaps a key rotated in since the last fetch.
        self.refresh(http, now, &forget).await?;
        let keys = self.current_keys();
        match keys.find(kid, alg) {
            Some(found) => found.map_err(|reason| invalid(self.ambiguous(reason))),
            None => Err(invalid(format!(
                "the JWT header's kid {} is not among the signing keys of issuer {:?} (its JWKS, fetched {} s ago, lists {}): the key was rotated out, or the token is not from this issuer",
                kid.map(shown).unwrap_or_else(|| "(none)".into()),
                self.config.issuer,
                keys.fetched_at.map(|t| now.saturating_sub(t)).unwrap_or(0),
                keys.kid_list()
            ))),
        }
    }

    fn ambiguous(&self, count: usize) -> String {
        format!(
            "the JWT header has no `kid` and issuer {:?} publishes {count} keys: consort cannot tell which one signed it",
            self.config.issuer
        )
    }

    /// Fetches the keys again unless a fetch was attempted within
    /// [`MIN_REFETCH_INTERVAL_SECS`]. `Err` is `Unavailable`: the issuer could not be read,
    /// now or at the last attempt.
    async fn refresh(&self, http: &reqwest::Client, now: i64, forget: &impl Fn(&[String])) -> Result<(), AuthError> {
        let mut state = self.fetch.lock().await;
        if state.in_flight.is_none() {
            let last = state.last_attempt;
            if last != i64::MIN && last <= now && now < last.saturating_add(MIN_REFETCH_INTERVAL_SECS) {
                // Fetched (or tried) just now, perhaps by the task this one waited for.
                return match &state.last_error {
                    Some(e) => Err(AuthError::Unavailable(e.clone())),
                    None => Ok(()),
                };
            }
            state.last_attempt = now;
            self.attempted_at.store(now, Ordering::Release);
            let target = FetchTarget {
                http: http.clone(),
                issuer: self.config.issuer.clone(),
                discovery_url: self.discovery_url.clone(),
                http_allowed: self.http_allowed,
                jwks_uri: state.jwks_uri.clone(),
            };
            state.in_flight = Some(tokio::spawn(target.fetch()));
        }
        let Some(in_flight) = state.in_flight.as_mut() else { return Ok(()) };
        let (jwks_uri, result) = match in_flight.await {
            Ok(fetched) => fetched,
            Err(e) => (None, Err(format!("fetching the keys of OpenID issuer {:?} failed: {e}", self.config.issuer))),
        };
        state.in_flight = None;
        state.jwks_uri = jwks_uri;
        let attempted = state.last_attempt;
        match result {
            Ok(keys) => {
                let old = self.current_keys();
                let removed: Vec<String> = old
                    .keys
                    .iter()
                    .filter(|(kid, old_keys)| keys.get(*kid).is_none_or(|new_keys| new_keys != *old_keys))
                    .map(|(kid, _)| kid.clone())
                    .collect();
                tracing::info!(
                    issuer = %self.config.issuer,
                    keys = keys.len(),
                    withdrawn = removed.len(),
                    "fetched the OpenID issuer's signing keys"
                );
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) =
                    Arc::new(KeySet { keys, fetched_at: Some(attempted) });
                state.last_error = None;
                self.refresh_at.store(attempted.saturating_add(self.max_age.max(1)), Ordering::Release);
                forget(&removed);
                Ok(())
            }
            Err(e) => {
                tracing::warn!(issuer = %self.config.issuer, error = %e, "could not fetch the OpenID issuer's signing keys");
                state.last_error = Some(e.clone());
                // Keep serving with the keys already known; try again after the interval.
                self.refresh_at.store(attempted.saturating_add(MIN_REFETCH_INTERVAL_SECS), Ordering::Release);
                Err(AuthError::Unavailable(e))
            }
        }
    }
}

/// What fetching an issuer's keys needs, owned, so the fetch can run as a task.
struct FetchTarget {
    http: reqwest::Client,
    issuer: String,
    discovery_url: String,
    http_allowed: bool,
    /// Known from an earlier discovery, if any.
    jwks_uri: Option<String>,
}

impl FetchTarget {
    /// Reads the discovery document (unless the `jwks_uri` is known), then the JWKS.
    async fn fetch(self) -> Fetched {
        let jwks_uri = match self.jwks_uri {
            Some(uri) => uri,
            None => {
                let discovered = match get_json(&self.http, &self.issuer, &self.discovery_url).await {
                    Ok(doc) => check_discovery(&doc, &self.issuer, &self.discovery_url, self.http_allowed),
                    Err(e) => Err(e),
                };
                match discovered {
                    Ok(uri) => uri,
                    Err(e) => return (None, Err(e)),
                }
            }
        };
        let result = get_json(&self.http, &self.issuer, &jwks_uri).await.and_then(|doc| {
            parse_jwks(&doc).map_err(|e| format!("the JWKS of OpenID issuer {:?} at {jwks_uri} {e}", self.issuer))
        });
        // After a failure, read the discovery document again next time: the keys may have moved.
        let next = result.is_ok().then_some(jwks_uri);
        (next, result)
    }
}

/// GETs a JSON document of at most [`MAX_DOCUMENT_BYTES`].
async fn get_json(http: &reqwest::Client, issuer: &str, url: &str) -> Result<Value, String> {
    let unreachable = |e: reqwest::Error| {
        format!("OpenID issuer {issuer:?} could not be reached at {url}: {}", error_chain(&e.without_url()))
    };
    let mut response = http.get(url).header("accept", "application/json").send().await.map_err(unreachable)?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("OpenID issuer {issuer:?} answered HTTP {status} for {url}"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(format!("OpenID issuer {issuer:?} sent more than {MAX_DOCUMENT_BYTES} bytes for {url}"));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| format!("OpenID issuer {issuer:?} did not answer JSON for {url}: {e}"))
}

/// The `jwks_uri` of a discovery document, after checking it names `issuer`.
fn check_discovery(doc: &Value, issuer: &str, url: &str, http_allowed: bool) -> Result<String, String> {
    let named = doc.get("issuer").and_then(Value::as_str);
    if named != Some(issuer) {
        return Err(format!(
            "the discovery document at {url} names issuer {}, not the configured {issuer:?}: configure the issuer exactly as the provider names itself",
            named.map(shown).unwrap_or_else(|| "(none)".into())
        ));
    }
    let Some(jwks_uri) = doc.get("jwks_uri").and_then(Value::as_str) else {
        return Err(format!("the discovery document at {url} has no `jwks_uri`: the issuer publishes no signing keys"));
    };
    let parsed = url::Url::parse(jwks_uri).map_err(|e| format!("the `jwks_uri` at {url} is not a URL: {e}"))?;
    match parsed.scheme() {
        "https" => Ok(jwks_uri.to_string()),
        "http" if http_allowed && is_loopback(&parsed) => Ok(jwks_uri.to_string()),
        _ => Err(format!("the `jwks_uri` {} at {url} is not an https URL", shown(jwks_uri))),
    }
}

// ---------------------------------------------------------------------------------------
// Keys.

/// A key of an issuer's JWKS: usable for some algorithm, or why not.
#[derive(Debug, PartialEq)]
struct Jwk {
    /// The JWK's own `alg`, if it has one.
    alg: Option<String>,
    material: Result<KeyMaterial, String>,
}

/// Public key material, decoded once when the JWKS is read.
#[derive(Clone, Debug, PartialEq, Eq)]
enum KeyMaterial {
    /// Modulus and exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed point (`04 || x || y`).
    Ec { curve: Curve, point: Vec<u8> },
    /// The 32-byte public key.
    Ed25519 { x: Vec<u8> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
}

impl Curve {
    fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
        }
    }
    fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }
}

impl KeyMaterial {
    fn describe(&self) -> String {
        match self {
            KeyMaterial::Rsa { n, .. } => format!("an RSA key ({} bits)", n.len() * 8),
            KeyMaterial::Ec { curve, .. } => format!("an EC {} key", curve.name()),
            KeyMaterial::Ed25519 { .. } => "an Ed25519 key".into(),
        }
    }
}

impl Jwk {
    /// Parses one JWK of a key set. Only a JWKS that is not a JSON object with a `keys`
    /// array fails as a whole; a key consort cannot use is kept with the reason.
    fn parse(value: &Value) -> Result<(String, Jwk), String> {
        let Some(obj) = value.as_object() else { return Err("has an entry that is not a JSON object".into()) };
        let field = |name: &str| obj.get(name).and_then(Value::as_str);
        let kid = field("kid").unwrap_or("").to_string();
        let alg = field("alg").map(String::from);
        let material = Jwk::material(obj);
        Ok((kid, Jwk { alg, material }))
    }

    fn material(obj: &Map<String, Value>) -> Result<KeyMaterial, String> {
        let field = |name: &str| obj.get(name).and_then(Value::as_str);
        if let Some(use_) = obj.get("use")
            && use_.as_str() != Some("sig")
        {
            return Err(format!("its `use` is {use_}, not \"sig\""));
        }
        if let Some(ops) = obj.get("key_ops") {
            let verify = ops.as_array().is_some_and(|ops| ops.iter().any(|o| o.as_str() == Some("verify")));
            if !verify {
                return Err("its `key_ops` do not include \"verify\"".into());
            }
        }
        let bytes = |name: &str| -> Result<Vec<u8>, String> {
            let text = field(name).ok_or_else(|| format!("it has no `{name}`"))?;
            URL_SAFE_NO_PAD.decode(text).map_err(|_| format!("its `{name}` is not base64url"))
        };
        match field("kty") {
            Some("RSA") => {
                let n = strip_leading_zeros(bytes("n")?);
                let e = strip_leading_zeros(bytes("e")?);
                let bits = n.len() * 8;
                if bits < 2048 {
                    return Err(format!("its RSA modulus has {bits} bits; at least 2048 are required"));
                }
                if n.len() > 1024 || e.is_empty() || e.len() > 4 {
                    return Err("its RSA modulus or exponent is out of range".into());
                }
                Ok(KeyMaterial::Rsa { n, e })
            }
            Some("EC") => {
                let curve = match field("crv") {
                    Some("P-256") => Curve::P256,
                    Some("P-384") => Curve::P384,
                    other => return Err(format!("its EC curve {other:?} is not supported (P-256, P-384 are)")),
                };
                let (x, y) = (bytes("x")?, bytes("y")?);
                let len = curve.coordinate_len();
                if x.len() != len || y.len() != len {
                    return Err(format!("its coordinates are not {len} bytes long, as {} needs", curve.name()));
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Ok(KeyMaterial::Ec { curve, point })
            }
            Some("OKP") => match field("crv") {
                Some("Ed25519") => {
                    let x = bytes("x")?;
                    if x.len() != 32 {
                        return Err("its Ed25519 key is not 32 bytes long".into());
                    }
                    Ok(KeyMaterial::Ed25519 { x })
                }
                other => Err(format!("its OKP curve {other:?} is not supported (Ed25519 is)")),
            },
            Some("oct") => Err("it is a symmetric key (kty \"oct\"), which consort never accepts".into()),
            other => Err(format!("its key type {other:?} is not supported (RSA, EC, OKP are)")),
        }
    }

    /// Whether `signature` is `alg`'s signature of `input` by this key. The caller has
    /// checked with [`check_key_fits`] that the key suits `alg`.
    fn verifies(&self, alg: Alg, input: &[u8], sig: &[u8]) -> bool {
        match (&self.material, alg.verification()) {
            (Ok(KeyMaterial::Rsa { n, e }), Verification::Rsa(params)) => {
                RsaPublicKeyComponents { n, e }.verify(params, input, sig).is_ok()
            }
            (Ok(KeyMaterial::Ec { point, .. }), Verification::Other(algorithm)) => {
                UnparsedPublicKey::new(algorithm, point).verify(input, sig).is_ok()
            }
            (Ok(KeyMaterial::Ed25519 { x }), Verification::Other(algorithm)) => {
                UnparsedPublicKey::new(algorithm, x).verify(input, sig).is_ok()
            }
            _ => false,
        }
    }
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

/// Parses a JWKS: `{"keys": [...]}` → keys by kid.
fn parse_jwks(doc: &Value) -> Result<KeyMap, String> {
    let Some(keys) = doc.get("keys").and_then(Value::as_array) else {
        return Err("is not a JSON object with a `keys` array".into());
    };
    let mut out = KeyMap::new();
    for key in keys {
        let (kid, jwk) = Jwk::parse(key)?;
        out.entry(kid).or_default().push(Arc::new(jwk));
    }
    Ok(out)
}

impl KeySet {
    /// The key a token's `kid` names (the first that suits `alg` when several share the
    /// kid); without a `kid`, the only key there is. `Some(Err(n))`: no kid, and `n` keys
    /// to choose from.
    fn find(&self, kid: Option<&str>, alg: Alg) -> Option<Result<(String, Arc<Jwk>), usize>> {
        let (kid, keys) = match kid {
            Some(kid) => (kid, self.keys.get(kid)?),
            None => {
                let total: usize = self.keys.values().map(Vec::len).sum();
                if total != 1 {
                    return if total == 0 { None } else { Some(Err(total)) };
                }
                let (kid, keys) = self.keys.iter().next()?;
                (kid.as_str(), keys)
            }
        };
        let key = keys.iter().find(|k| k.material.as_ref().is_ok_and(|m| alg.fits(m))).or_else(|| keys.first())?;
        Some(Ok((kid.to_string(), key.clone())))
    }

    fn kid_list(&self) -> String {
        if self.keys.is_empty() {
            return "no key".into();
        }
        let mut kids: Vec<_> = self.keys.keys().map(|k| shown(k)).collect();
        kids.sort();
        format!("kids {}", kids.join(", "))
    }
}

// ---------------------------------------------------------------------------------------
// Algorithms.

/// A JWS algorithm consort can verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
}

/// Why an `alg` name is not an [`Alg`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AlgProblem {
    /// `none`: an unsigned token.
    Unsigned,
    /// `HS*`: a MAC with a shared secret. Refused outright: with a public key as the
    /// "secret", anyone could forge one.
    Symmetric,
    /// Anything else.
    Unsupported,
}

impl AlgProblem {
    /// `alg "X" …`: the problem and the fix, for a token's header or a configuration.
    fn describe(self, name: &str) -> String {
        match self {
            AlgProblem::Unsigned => format!("alg {} (an unsigned token) is never accepted", shown(name)),
            AlgProblem::Symmetric => format!(
                "alg {} (a shared-secret MAC) is never accepted: consort accepts only an issuer's public-key signatures (RS*, PS*, ES256, ES384, EdDSA)",
                shown(name)
            ),
            AlgProblem::Unsupported => {
                format!("alg {} is not supported (supported: {})", shown(name), DEFAULT_ALGORITHMS.join(", "))
            }
        }
    }
}

/// How ring verifies an algorithm.
enum Verification {
    Rsa(&'static signature::RsaParameters),
    Other(&'static dyn signature::VerificationAlgorithm),
}

impl Alg {
    const ALL: [Alg; 9] =
        [Alg::Rs256, Alg::Rs384, Alg::Rs512, Alg::Ps256, Alg::Ps384, Alg::Ps512, Alg::Es256, Alg::Es384, Alg::EdDsa];

    fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::EdDsa => "EdDSA",
        }
    }

    fn from_name(name: &str) -> Result<Alg, AlgProblem> {
        if let Some(alg) = Alg::ALL.into_iter().find(|a| a.name() == name) {
            return Ok(alg);
        }
        let upper = name.to_ascii_uppercase();
        if upper == "NONE" {
            Err(AlgProblem::Unsigned)
        } else if upper.starts_with("HS") {
            Err(AlgProblem::Symmetric)
        } else {
            Err(AlgProblem::Unsupported)
        }
    }

    /// Whether a key of this type can make this algorithm's signatures.
    fn fits(self, key: &KeyMaterial) -> bool {
        match (self, key) {
            (Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512, KeyMaterial::Rsa { .. }) => {
                true
            }
            (Alg::Es256, KeyMaterial::Ec { curve, .. }) => *curve == Curve::P256,
            (Alg::Es384, KeyMaterial::Ec { curve, .. }) => *curve == Curve::P384,
            (Alg::EdDsa, KeyMaterial::Ed25519 { .. }) => true,
            _ => false,
        }
    }

    fn verification(self) -> Verification {
        match self {
            Alg::Rs256 => Verification::Rsa(&signature::RSA_PKCS1_2048_8192_SHA256),
            Alg::Rs384 => Verification::Rsa(&signature::RSA_PKCS1_2048_8192_SHA384),
            Alg::Rs512 => Verification::Rsa(&signature::RSA_PKCS1_2048_8192_SHA512),
            Alg::Ps256 => Verification::Rsa(&signature::RSA_PSS_2048_8192_SHA256),
            Alg::Ps384 => Verification::Rsa(&signature::RSA_PSS_2048_8192_SHA384),
            Alg::Ps512 => Verification::Rsa(&signature::RSA_PSS_2048_8192_SHA512),
            Alg::Es256 => Verification::Other(&signature::ECDSA_P256_SHA256_FIXED),
            Alg::Es384 => Verification::Other(&signature::ECDSA_P384_SHA384_FIXED),
            Alg::EdDsa => Verification::Other(&signature::ED25519),
        }
    }
}

/// Whether `key` (kid `kid` of `issuer`) may verify an `alg` signature: usable for
/// signatures, of the type `alg` needs, and published for `alg` if for any one alg.
fn check_key_fits(alg: Alg, key: &Jwk, issuer: &str, kid: &str) -> Result<(), String> {
    let material = key
        .material
        .as_ref()
        .map_err(|why| format!("issuer {issuer:?}'s key kid {} cannot verify signatures: {why}", shown(kid)))?;
    if !alg.fits(material) {
        return Err(format!(
            "the JWT header's alg {:?} does not fit issuer {issuer:?}'s key kid {}, which is {}",
            alg.name(),
            shown(kid),
            material.describe()
        ));
    }
    if let Some(published) = &key.alg
        && published != alg.name()
    {
        return Err(format!(
            "the JWT header's alg {:?} differs from the alg {} that issuer {issuer:?} publishes key kid {} for",
            alg.name(),
            shown(published),
            shown(kid)
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Tokens and claims.

/// A JWT split and decoded, nothing verified yet.
struct Token<'a> {
    header: Header,
    claims: Map<String, Value>,
    /// `header.payload`, what the signature covers.
    signing_input: &'a str,
    signature: Vec<u8>,
}

struct Header {
    alg: Option<String>,
    kid: Option<String>,
}

impl<'a> Token<'a> {
    fn parse(jwt: &'a str) -> Result<Token<'a>, String> {
        let parts: Vec<&str> = jwt.split('.').collect();
        match parts.len() {
            3 => {}
            5 => {
                return Err("encrypted JWTs (JWE, five parts) are not accepted: have the issuer sign access tokens without encrypting them".into());
            }
            n => {
                return Err(format!(
                    "a JWT is three base64url parts separated by dots (header.payload.signature); this one has {n}"
                ));
            }
        }
        let object = |part: &str, what: &str| -> Result<Map<String, Value>, String> {
            let bytes = URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| format!("the JWT {what} is not base64url (without padding)"))?;
            match serde_json::from_slice(&bytes) {
                Ok(Value::Object(map)) => Ok(map),
                _ => Err(format!("the JWT {what} is not a JSON object")),
            }
        };
        let header = object(parts[0], "header")?;
        let claims = object(parts[1], "payload")?;
        let signature = URL_SAFE_NO_PAD
            .decode(parts[2])
            .map_err(|_| "the JWT signature is not base64url (without padding)".to_string())?;
        if header.contains_key("crit") {
            return Err("the JWT header marks extensions critical (`crit`), which consort does not implement".into());
        }
        let text = |name: &str| -> Result<Option<String>, String> {
            match header.get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(format!("the JWT header's `{name}` is not a string")),
            }
        };
        let header = Header { alg: text("alg")?, kid: text("kid")? };
        let signing_input = &jwt[..parts[0].len() + 1 + parts[1].len()];
        Ok(Token { header, claims, signing_input, signature })
    }

    /// The header's `alg`, if consort verifies it at all (`none`, `HS*` never).
    fn header_alg(&self) -> Result<Alg, String> {
        let Some(name) = &self.header.alg else { return Err("the JWT header has no `alg`".into()) };
        Alg::from_name(name).map_err(|problem| format!("the JWT header's {}", problem.describe(name)))
    }

    /// The unverified `iss`: it only chooses the issuer whose rules then apply.
    fn issuer(&self) -> Result<&str, String> {
        match self.claims.get("iss") {
            Some(Value::String(iss)) => Ok(iss),
            Some(_) => Err("the JWT's `iss` claim is not a string".into()),
            None => Err("the JWT has no `iss` claim (its issuer): consort needs it to choose the issuer's keys".into()),
        }
    }
}

/// What the claims grant, once checked.
#[derive(Debug, PartialEq, Eq)]
struct Claims {
    subject: String,
    roles: RoleSet,
    groups: Vec<String>,
    exp: i64,
}

/// A NumericDate: seconds, possibly fractional (rounded down).
fn seconds(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f.floor() as i64))
}

/// A claim by name, or by a dotted path into nested objects.
fn claim<'c>(claims: &'c Map<String, Value>, path: &str) -> Option<&'c Value> {
    if let Some(value) = claims.get(path) {
        return Some(value);
    }
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// Checks `exp`, `nbf`, `aud`, the subject and the roles claim (`iss` chose `config`).
fn check_claims(claims: &Map<String, Value>, config: &IssuerConfig, now: i64) -> Result<Claims, String> {
    let leeway = i64::try_from(config.leeway_secs).unwrap_or(i64::MAX);
    let exp = match claims.get("exp") {
        None => return Err("the JWT has no `exp` claim: consort accepts only tokens that expire".into()),
        Some(v) => seconds(v).ok_or("the JWT's `exp` claim is not a number of seconds")?,
    };
    if now > exp.saturating_add(leeway) {
        return Err(format!(
            "the JWT expired at {}; now is {}, past the {leeway} s leeway: get a new token",
            instant(exp),
            instant(now)
        ));
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = seconds(nbf).ok_or("the JWT's `nbf` claim is not a number of seconds")?;
        if now.saturating_add(leeway) < nbf {
            return Err(format!(
                "the JWT is not valid before {}; now is {}, earlier even with the {leeway} s leeway: check the issuer's and this server's clocks",
                instant(nbf),
                instant(now)
            ));
        }
    }

    let configured = || config.audiences.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(", ");
    let audiences: Vec<&str> = match claims.get("aud") {
        None => {
            return Err(format!(
                "the JWT has no `aud` claim: have it issued for one of the configured audiences ({})",
                configured()
            ));
        }
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).collect(),
        Some(_) => return Err("the JWT's `aud` claim is neither a string nor an array of strings".into()),
    };
    if !audiences.iter().any(|a| config.audiences.iter().any(|c| c == a)) {
        let mut named: Vec<String> = audiences.iter().take(5).map(|a| shown(a)).collect();
        if audiences.len() > 5 {
            named.push("…".into());
        }
        return Err(format!(
            "the JWT's `aud` ({}) names none of the configured audiences ({}): request the token for one of them (the token request's resource or audience parameter)",
            if named.is_empty() { "empty".to_string() } else { named.join(", ") },
            configured()
        ));
    }

    let name = &config.subject_claim;
    let subject = match claim(claims, name) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) => return Err(format!("the JWT's `{name}` claim (its subject) is empty")),
        Some(_) => return Err(format!("the JWT's `{name}` claim (its subject) is not a string")),
        None => return Err(format!("the JWT has no `{name}` claim: consort needs it to name the caller")),
    };

    let roles = roles(claim(claims, &config.roles_claim), config)?;
    Ok(Claims { subject, roles, groups: groups(claims.get(GROUPS_CLAIM)), exp })
}

/// The claim whose values are the caller's groups (matched against access lists'
/// `group:NAME` entries), whatever `roles_claim` says.
const GROUPS_CLAIM: &str = "groups";
/// The most groups read from one token; more are ignored (the token's size is bounded too).
const MAX_GROUPS: usize = 256;

/// The caller's groups: the `groups` claim's strings (one string, or an array). A claim of
/// another shape grants no group and does not refuse the token (the roles claim is the one
/// that must be well formed).
fn groups(value: Option<&Value>) -> Vec<String> {
    let mut groups: Vec<String> = match value {
        Some(Value::String(g)) => vec![g.clone()],
        Some(Value::Array(values)) => values.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    groups.retain(|g| !g.is_empty());
    groups.truncate(MAX_GROUPS);
    groups
}

/// The roles a roles claim grants; unknown values grant nothing.
fn roles(value: Option<&Value>, config: &IssuerConfig) -> Result<RoleSet, String> {
    let role = |v: &str| config.role_map.get(v).copied().or_else(|| v.parse().ok());
    let wrong =
        || format!("the JWT's `{}` claim (its roles) is neither a string nor an array of strings", config.roles_claim);
    match value {
        None | Some(Value::Null) => Ok(RoleSet::EMPTY),
        Some(Value::String(v)) => Ok(role(v).into_iter().collect()),
        Some(Value::Array(values)) => {
            let mut set = RoleSet::EMPTY;
            for v in values {
                let v = v.as_str().ok_or_else(wrong)?;
                if let Some(r) = role(v) {
                    set = set.with(r);
                }
            }
            Ok(set)
        }
        Some(_) => Err(wrong()),
    }
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
    use serde_json::json;

    use super::*;

    const ISS: &str = "https://login.example.com/realms/consort";
    const AUD: &str = "https://consort.example.com";
    const NOW: i64 = 1_800_000_000;

    fn config() -> IssuerConfig {
        let mut c = IssuerConfig::new(ISS, vec![AUD.into()]);
        c.role_map.insert("consort-operators".into(), Role::Operator);
        c
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn jwt(header: Value, claims: Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let sig = sign(input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    fn good_claims() -> Value {
        json!({"iss": ISS, "aud": AUD, "sub": "alice", "exp": NOW + 300, "iat": NOW, "groups": ["consort-operators", "viewer", "other"]})
    }

    fn claims_of(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    struct Keys {
        ec: EcdsaKeyPair,
        ed: Ed25519KeyPair,
        rng: SystemRandom,
    }

    impl Keys {
        fn new() -> Keys {
            let rng = SystemRandom::new();
            let ec_pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, ec_pkcs8.as_ref(), &rng).unwrap();
            let ed = Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref()).unwrap();
            Keys { ec, ed, rng }
        }
        fn jwks(&self) -> Value {
            let point = self.ec.public_key().as_ref();
            json!({"keys": [
                {"kty": "EC", "crv": "P-256", "kid": "ec", "use": "sig", "x": b64(&point[1..33]), "y": b64(&point[33..])},
                {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "alg": "EdDSA", "x": b64(self.ed.public_key().as_ref())},
            ]})
        }
        fn es256(&self, claims: Value) -> String {
            jwt(json!({"alg": "ES256", "kid": "ec", "typ": "JWT"}), claims, |m| {
                self.ec.sign(&self.rng, m).unwrap().as_ref().to_vec()
            })
        }
        fn eddsa(&self, claims: Value) -> String {
            jwt(json!({"alg": "EdDSA", "kid": "ed"}), claims, |m| self.ed.sign(m).as_ref().to_vec())
        }
    }

    /// A verifier whose issuer already holds `jwks`, fetched at `now` (no network).
    fn verifier_with(jwks: &Value, now: i64) -> OidcVerifier {
        let v = OidcVerifier::new(vec![config()]).unwrap();
        let issuer = &v.issuers[0];
        *issuer.keys.write().unwrap() = Arc::new(KeySet { keys: parse_jwks(jwks).unwrap(), fetched_at: Some(now) });
        issuer.refresh_at.store(now + issuer.max_age, Ordering::Release);
        issuer.fetch.try_lock().unwrap().last_attempt = now;
        issuer.attempted_at.store(now, Ordering::Release);
        v
    }

    fn refusal(result: Result<Principal, AuthError>) -> String {
        match result {
            Err(AuthError::InvalidJwt(reason)) => reason,
            other => panic!("expected InvalidJwt, got {other:?}"),
        }
    }

    #[test]
    fn configuration_is_checked_without_network() {
        let problem = |c: IssuerConfig| match OidcVerifier::new(vec![c]) {
            Err(ConfigError::Issuer { problem, .. }) => problem,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(OidcVerifier::new(vec![]).unwrap_err(), ConfigError::NoIssuer);
        assert!(OidcVerifier::new(vec![config()]).is_ok());
        assert!(OidcVerifier::new(vec![IssuerConfig::new("http://127.0.0.1:8080", vec![AUD.into()])]).is_ok());
        assert!(OidcVerifier::new(vec![IssuerConfig::new("http://localhost:8080/x", vec![AUD.into()])]).is_ok());
        assert!(OidcVerifier::new(vec![IssuerConfig::new("http://[::1]:8080", vec![AUD.into()])]).is_ok());

        let p = problem(IssuerConfig::new("http://login.example.com", vec![AUD.into()]));
        assert!(p.contains("plain http is accepted only on a loopback address"), "{p}");
        let p = problem(IssuerConfig::new("login.example.com", vec![AUD.into()]));
        assert!(p.starts_with("not a URL"), "{p}");
        let p = problem(IssuerConfig::new("https://login.example.com?x=1", vec![AUD.into()]));
        assert!(p.contains("no query or fragment"), "{p}");
        let p = problem(IssuerConfig::new(ISS, vec![]));
        assert!(p.contains("`audiences` must list at least one"), "{p}");

        for (alg, expected) in [
            ("HS256", "in `algorithms`: alg \"HS256\" (a shared-secret MAC) is never accepted"),
            ("hs512", "in `algorithms`: alg \"hs512\" (a shared-secret MAC) is never accepted"),
            ("none", "in `algorithms`: alg \"none\" (an unsigned token) is never accepted"),
            ("ES512", "in `algorithms`: alg \"ES512\" is not supported (supported: RS256, RS384"),
        ] {
            let mut c = config();
            c.algorithms.push(alg.into());
            let p = problem(c);
            assert!(p.starts_with(expected), "{p}");
        }
        let mut c = config();
        c.algorithms.clear();
        let v = OidcVerifier::new(vec![c]).unwrap();
        assert_eq!(v.issuers[0].algorithms, Alg::ALL, "empty means the default list");

        let twice = OidcVerifier::new(vec![config(), config()]).unwrap_err();
        assert!(twice.to_string().contains("configured twice"), "{twice}");
    }

    #[test]
    fn debug_shows_the_configuration_only() {
        let v = OidcVerifier::new(vec![config()]).unwrap();
        let text = format!("{v:?}");
        assert!(text.contains(ISS) && text.contains("cached_tokens: 0"), "{text}");
    }

    #[test]
    fn token_shape_and_header() {
        let err = |jwt: &str| Token::parse(jwt).err().unwrap();
        assert_eq!(
            err("abc"),
            "a JWT is three base64url parts separated by dots (header.payload.signature); this one has 1"
        );
        assert!(err("a.b.c.d.e").starts_with("encrypted JWTs (JWE, five parts) are not accepted"));
        assert_eq!(err("e30=.e30.AA"), "the JWT header is not base64url (without padding)");
        assert_eq!(err("e30.e30.A+"), "the JWT signature is not base64url (without padding)");
        assert_eq!(err(&format!("{}.e30.AA", b64(b"[1]"))), "the JWT header is not a JSON object");
        assert_eq!(err(&format!("e30.{}.AA", b64(b"nope"))), "the JWT payload is not a JSON object");
        let crit = format!("{}.e30.AA", b64(br#"{"alg":"ES256","crit":["exp"]}"#));
        assert!(err(&crit).contains("`crit`"));
        let kid = format!("{}.e30.AA", b64(br#"{"alg":"ES256","kid":7}"#));
        assert_eq!(err(&kid), "the JWT header's `kid` is not a string");

        let alg = |header: &str| {
            Token::parse(&format!("{}.e30.AA", b64(header.as_bytes()))).unwrap().header_alg().map(Alg::name)
        };
        assert_eq!(alg(r#"{"alg":"RS256"}"#), Ok("RS256"));
        assert_eq!(alg(r#"{"alg":"EdDSA"}"#), Ok("EdDSA"));
        assert_eq!(alg("{}"), Err("the JWT header has no `alg`".into()));
        for none in ["none", "None", "NONE"] {
            assert_eq!(
                alg(&format!(r#"{{"alg":"{none}"}}"#)),
                Err(format!("the JWT header's alg {none:?} (an unsigned token) is never accepted"))
            );
        }
        assert_eq!(
            alg(r#"{"alg":"HS256"}"#),
            Err("the JWT header's alg \"HS256\" (a shared-secret MAC) is never accepted: consort accepts only an issuer's public-key signatures (RS*, PS*, ES256, ES384, EdDSA)".into())
        );
        assert_eq!(
            alg(r#"{"alg":"rs256"}"#),
            Err("the JWT header's alg \"rs256\" is not supported (supported: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA)".into())
        );
    }

    #[test]
    fn claims_expiry_and_not_before_with_leeway() {
        let c = config();
        let at = |exp: i64, nbf: Option<i64>, now: i64| {
            let mut claims = claims_of(good_claims());
            claims.insert("exp".into(), json!(exp));
            if let Some(nbf) = nbf {
                claims.insert("nbf".into(), json!(nbf));
            }
            check_claims(&claims, &c, now)
        };
        assert!(at(NOW, None, NOW + 30).is_ok(), "within the leeway");
        assert_eq!(
            at(NOW, None, NOW + 31).unwrap_err(),
            "the JWT expired at 2027-01-15T08:00:00Z (1800000000); now is 2027-01-15T08:00:31Z (1800000031), past the 30 s leeway: get a new token"
        );
        assert!(at(NOW + 100, Some(NOW + 30), NOW).is_ok(), "nbf within the leeway");
        assert_eq!(
            at(NOW + 100, Some(NOW + 31), NOW).unwrap_err(),
            "the JWT is not valid before 2027-01-15T08:00:31Z (1800000031); now is 2027-01-15T08:00:00Z (1800000000), earlier even with the 30 s leeway: check the issuer's and this server's clocks"
        );
        // Fractional NumericDates are accepted.
        let mut claims = claims_of(good_claims());
        claims.insert("exp".into(), json!((NOW + 10) as f64 + 0.5));
        assert_eq!(check_claims(&claims, &c, NOW).unwrap().exp, NOW + 10);

        claims.remove("exp");
        assert_eq!(
            check_claims(&claims, &c, NOW).unwrap_err(),
            "the JWT has no `exp` claim: consort accepts only tokens that expire"
        );
        claims.insert("exp".into(), json!("soon"));
        assert_eq!(check_claims(&claims, &c, NOW).unwrap_err(), "the JWT's `exp` claim is not a number of seconds");
    }

    #[test]
    fn claims_audience() {
        let c = config();
        let with_aud = |aud: Option<Value>| {
            let mut claims = claims_of(good_claims());
            match aud {
                Some(aud) => claims.insert("aud".into(), aud),
                None => claims.remove("aud"),
            };
            check_claims(&claims, &c, NOW)
        };
        assert!(with_aud(Some(json!(AUD))).is_ok());
        assert!(with_aud(Some(json!(["other", AUD]))).is_ok());
        assert_eq!(
            with_aud(Some(json!(["other", "x"]))).unwrap_err(),
            "the JWT's `aud` (\"other\", \"x\") names none of the configured audiences (\"https://consort.example.com\"): request the token for one of them (the token request's resource or audience parameter)"
        );
        assert!(with_aud(Some(json!([]))).unwrap_err().starts_with("the JWT's `aud` (empty) names none"));
        assert_eq!(
            with_aud(None).unwrap_err(),
            "the JWT has no `aud` claim: have it issued for one of the configured audiences (\"https://consort.example.com\")"
        );
        assert_eq!(
            with_aud(Some(json!(5))).unwrap_err(),
            "the JWT's `aud` claim is neither a string nor an array of strings"
        );
    }

    #[test]
    fn claims_subject_and_roles() {
        let mut c = config();
        let checked = check_claims(&claims_of(good_claims()), &c, NOW).unwrap();
        assert_eq!(checked.subject, "alice");
        assert_eq!(checked.roles, RoleSet::of(Role::Operator).with(Role::Viewer));
        assert_eq!(checked.groups, ["consort-operators", "viewer", "other"], "every group, role or not");

        let with = |c: &IssuerConfig, name: &str, value: Value| {
            let mut claims = claims_of(good_claims());
            claims.insert(name.into(), value);
            check_claims(&claims, c, NOW)
        };
        assert_eq!(with(&c, "groups", json!("admin")).unwrap().roles, RoleSet::of(Role::Admin));
        assert_eq!(with(&c, "groups", json!(["nothing"])).unwrap().roles, RoleSet::EMPTY);
        assert_eq!(with(&c, "groups", Value::Null).unwrap().roles, RoleSet::EMPTY);
        assert_eq!(
            with(&c, "groups", json!(["admin", 1])).unwrap_err(),
            "the JWT's `groups` claim (its roles) is neither a string nor an array of strings"
        );
        let mut claims = claims_of(good_claims());
        claims.remove("groups");
        assert_eq!(check_claims(&claims, &c, NOW).unwrap().roles, RoleSet::EMPTY, "no roles claim: no role");

        // A nested path, and a claim whose own name has dots.
        c.roles_claim = "realm_access.roles".into();
        assert_eq!(
            with(&c, "realm_access", json!({"roles": ["provisioner"]})).unwrap().roles,
            RoleSet::of(Role::Provisioner)
        );
        // Groups come from `groups` whatever holds the roles; a claim of another shape grants none.
        assert_eq!(with(&c, "groups", json!("finance")).unwrap().groups, ["finance"]);
        assert_eq!(with(&c, "groups", json!(["finance", 1, "", "eu"])).unwrap().groups, ["finance", "eu"]);
        assert_eq!(with(&c, "groups", json!({"finance": true})).unwrap().groups, Vec::<String>::new());
        let many: Vec<String> = (0..1000).map(|i| format!("g{i}")).collect();
        assert_eq!(with(&c, "groups", json!(many)).unwrap().groups.len(), MAX_GROUPS);
        c.roles_claim = "https://consort.example.com/roles".into();
        assert_eq!(
            with(&c, "https://consort.example.com/roles", json!("viewer")).unwrap().roles,
            RoleSet::of(Role::Viewer)
        );
        // A map entry wins over a role's own name.
        c.roles_claim = "groups".into();
        c.role_map.insert("admin".into(), Role::Viewer);
        assert_eq!(with(&c, "groups", json!("admin")).unwrap().roles, RoleSet::of(Role::Viewer));

        assert_eq!(with(&c, "sub", json!("")).unwrap_err(), "the JWT's `sub` claim (its subject) is empty");
        assert_eq!(with(&c, "sub", json!(42)).unwrap_err(), "the JWT's `sub` claim (its subject) is not a string");
        claims = claims_of(good_claims());
        claims.remove("sub");
        assert_eq!(
            check_claims(&claims, &c, NOW).unwrap_err(),
            "the JWT has no `sub` claim: consort needs it to name the caller"
        );
        c.subject_claim = "email".into();
        assert_eq!(with(&c, "email", json!("a@example.com")).unwrap().subject, "a@example.com");
    }

    #[test]
    fn jwks_keys_are_checked_one_by_one() {
        let n = |bytes: usize| b64(&[vec![0u8], vec![0xc5; bytes]].concat());
        let jwks = json!({"keys": [
            {"kty": "RSA", "kid": "rsa", "n": n(256), "e": "AQAB"},
            {"kty": "RSA", "kid": "small", "n": n(128), "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": n(256), "e": "AQAB"},
            {"kty": "RSA", "kid": "ops", "key_ops": ["encrypt"], "n": n(256), "e": "AQAB"},
            {"kty": "oct", "kid": "oct", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "short", "crv": "P-256", "x": b64(&[1; 31]), "y": b64(&[1; 32])},
            {"kty": "EC", "kid": "p521", "crv": "P-521", "x": b64(&[1; 66]), "y": b64(&[1; 66])},
            {"kty": "OKP", "kid": "x25519", "crv": "X25519", "x": b64(&[1; 32])},
        ]});
        let keys = parse_jwks(&jwks).unwrap();
        let why = |kid: &str| keys[kid][0].material.clone().err();
        match &keys["rsa"][0].material {
            Ok(KeyMaterial::Rsa { n, e }) => {
                assert_eq!((n.len(), e.as_slice()), (256, &[1, 0, 1][..]), "leading zero stripped")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(why("small").unwrap(), "its RSA modulus has 1024 bits; at least 2048 are required");
        assert_eq!(why("enc").unwrap(), "its `use` is \"enc\", not \"sig\"");
        assert_eq!(why("ops").unwrap(), "its `key_ops` do not include \"verify\"");
        assert_eq!(why("oct").unwrap(), "it is a symmetric key (kty \"oct\"), which consort never accepts");
        assert_eq!(why("short").unwrap(), "its coordinates are not 32 bytes long, as P-256 needs");
        assert_eq!(why("p521").unwrap(), "its EC curve Some(\"P-521\") is not supported (P-256, P-384 are)");
        assert_eq!(why("x25519").unwrap(), "its OKP curve Some(\"X25519\") is not supported (Ed25519 is)");
        assert_eq!(parse_jwks(&json!({"nokeys": []})).unwrap_err(), "is not a JSON object with a `keys` array");

        // The key must suit the alg, and the alg it is published for.
        let rsa = &keys["rsa"][0];
        assert!(check_key_fits(Alg::Rs256, rsa, ISS, "rsa").is_ok());
        assert!(check_key_fits(Alg::Ps512, rsa, ISS, "rsa").is_ok());
        assert_eq!(
            check_key_fits(Alg::Es256, rsa, ISS, "rsa").unwrap_err(),
            format!(
                "the JWT header's alg \"ES256\" does not fit issuer {ISS:?}'s key kid \"rsa\", which is an RSA key (2048 bits)"
            )
        );
        let pinned = Jwk { alg: Some("PS256".into()), material: rsa.material.clone() };
        assert_eq!(
            check_key_fits(Alg::Rs256, &pinned, ISS, "rsa").unwrap_err(),
            format!(
                "the JWT header's alg \"RS256\" differs from the alg \"PS256\" that issuer {ISS:?} publishes key kid \"rsa\" for"
            )
        );
        assert_eq!(
            check_key_fits(Alg::Rs256, &keys["enc"][0], ISS, "enc").unwrap_err(),
            format!("issuer {ISS:?}'s key kid \"enc\" cannot verify signatures: its `use` is \"enc\", not \"sig\"")
        );
        let ec = Jwk::parse(&json!({"kty": "EC", "kid": "e", "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[2; 32])}))
            .unwrap()
            .1;
        assert!(check_key_fits(Alg::Es256, &ec, ISS, "e").is_ok());
        assert!(check_key_fits(Alg::Es384, &ec, ISS, "e").unwrap_err().ends_with("which is an EC P-256 key"));
        assert!(check_key_fits(Alg::EdDsa, &ec, ISS, "e").is_err());
    }

    #[test]
    fn discovery_must_name_the_issuer_and_an_https_jwks_uri() {
        let url = "https://login.example.com/realms/consort/.well-known/openid-configuration";
        let doc = |issuer: &str, jwks: &str| json!({"issuer": issuer, "jwks_uri": jwks});
        assert_eq!(
            check_discovery(&doc(ISS, "https://k.example.com/jwks"), ISS, url, false).unwrap(),
            "https://k.example.com/jwks"
        );
        assert_eq!(
            check_discovery(&doc("https://login.example.com/realms/consort/", "https://k/jwks"), ISS, url, false)
                .unwrap_err(),
            format!(
                "the discovery document at {url} names issuer \"https://login.example.com/realms/consort/\", not the configured {ISS:?}: configure the issuer exactly as the provider names itself"
            )
        );
        assert!(
            check_discovery(&doc(ISS, "http://k.example.com/jwks"), ISS, url, false)
                .unwrap_err()
                .ends_with("is not an https URL")
        );
        assert!(check_discovery(&doc(ISS, "http://127.0.0.1/jwks"), ISS, url, false).is_err());
        assert!(check_discovery(&doc(ISS, "http://127.0.0.1/jwks"), ISS, url, true).is_ok());
        assert!(check_discovery(&json!({"issuer": ISS}), ISS, url, false).unwrap_err().contains("has no `jwks_uri`"));
    }

    #[test]
    fn signatures_verify_only_with_the_right_key_and_alg() {
        let keys = Keys::new();
        let set = KeySet { keys: parse_jwks(&keys.jwks()).unwrap(), fetched_at: Some(NOW) };
        for (jwt, alg, kid) in
            [(keys.es256(good_claims()), Alg::Es256, "ec"), (keys.eddsa(good_claims()), Alg::EdDsa, "ed")]
        {
            let token = Token::parse(&jwt).unwrap();
            let (_, key) = set.find(Some(kid), alg).unwrap().unwrap();
            assert!(key.verifies(alg, token.signing_input.as_bytes(), &token.signature));
            let mut flipped = token.signature.clone();
            flipped[10] ^= 1;
            assert!(!key.verifies(alg, token.signing_input.as_bytes(), &flipped));
            assert!(!key.verifies(alg, b"other input", &token.signature));
            assert!(!key.verifies(Alg::Rs256, token.signing_input.as_bytes(), &token.signature));
        }
        // No kid: the only key, if there is only one.
        assert_eq!(set.find(None, Alg::Es256).unwrap().unwrap_err(), 2);
        let one = KeySet { keys: parse_jwks(&json!({"keys": [keys.jwks()["keys"][1]]})).unwrap(), fetched_at: None };
        assert_eq!(one.find(None, Alg::EdDsa).unwrap().unwrap().0, "ed");
        assert!(set.find(Some("nope"), Alg::Es256).is_none());
    }

    #[tokio::test]
    async fn verify_end_to_end_with_installed_keys() {
        let keys = Keys::new();
        let v = verifier_with(&keys.jwks(), NOW);
        let token = keys.es256(good_claims());
        let p = v.verify(&token, NOW).await.unwrap();
        assert_eq!(p.name, "alice");
        assert_eq!(p.roles, RoleSet::of(Role::Operator).with(Role::Viewer));
        assert_eq!(p.method, Method::Jwt { issuer: ISS.into() });
        assert_eq!(v.cached_tokens(), 1);
        assert_eq!(v.verify(&token, NOW + 1).await.unwrap(), p, "served from the cache");
        assert_eq!(v.verify(&keys.eddsa(good_claims()), NOW).await.unwrap(), p);

        // The cache serves a token only until exp + leeway, then the claims refuse it.
        assert!(v.verify(&token, NOW + 330).await.is_ok());
        assert!(refusal(v.verify(&token, NOW + 331).await).starts_with("the JWT expired at"));

        // A bad signature is refused whatever the cache holds.
        let (input, sig) = token.rsplit_once('.').unwrap();
        let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        sig[0] ^= 0x80;
        let bad = format!("{input}.{}", b64(&sig));
        assert_eq!(
            refusal(v.verify(&bad, NOW).await),
            format!(
                "the signature does not verify with issuer {ISS:?}'s key kid \"ec\" (ES256): the token was altered or signed by another key"
            )
        );
        // An ES256 header over the Ed25519 key's kid.
        let swapped = jwt(json!({"alg": "ES256", "kid": "ed"}), good_claims(), |m| {
            keys.ec.sign(&keys.rng, m).unwrap().as_ref().to_vec()
        });
        assert_eq!(
            refusal(v.verify(&swapped, NOW).await),
            format!(
                "the JWT header's alg \"ES256\" does not fit issuer {ISS:?}'s key kid \"ed\", which is an Ed25519 key"
            )
        );
        // Another issuer's token.
        let mut claims = good_claims();
        claims["iss"] = json!("https://evil.example.com");
        assert_eq!(
            refusal(v.verify(&keys.es256(claims), NOW).await),
            format!(
                "issuer \"https://evil.example.com\" is not configured; configured issuers: {ISS:?} (the `iss` claim must equal one exactly)"
            )
        );
        // An alg outside this issuer's allow-list.
        let mut c = config();
        c.algorithms = vec!["RS256".into()];
        let strict = OidcVerifier::new(vec![c]).unwrap();
        assert_eq!(
            refusal(strict.verify(&keys.es256(good_claims()), NOW).await),
            format!(
                "the JWT header's alg \"ES256\" is not among the algorithms allowed for issuer {ISS:?} (RS256): add it to `algorithms`, or have the issuer sign with an allowed one"
            )
        );
        // Too long to look at.
        assert!(refusal(v.verify(&"a".repeat(MAX_JWT_BYTES + 1), NOW).await).contains("more than the 16384 accepted"));
    }

    #[test]
    fn the_cache_is_bounded_and_forgets_withdrawn_keys() {
        let mut v = OidcVerifier::new(vec![config()]).unwrap();
        v.capacity = 16;
        v.issuers[0].refresh_at.store(i64::MAX, Ordering::Release);
        let principal = Principal {
            name: "a".into(),
            roles: RoleSet::EMPTY,
            method: Method::Jwt { issuer: ISS.into() },
            groups: vec![],
        };
        for i in 0..40u8 {
            let kid = if i % 2 == 0 { "even" } else { "odd" };
            let entry =
                Cached { principal: principal.clone(), valid_until: NOW + i64::from(i), issuer: 0, kid: kid.into() };
            v.remember([i; 32], entry, NOW);
            assert!(v.cached_tokens() <= 16);
        }
        assert!(v.cached(&[39; 32], NOW).is_some(), "the newest entry is kept");
        // Expired entries go first when the cache is full.
        v.remember(
            [100; 32],
            Cached { principal: principal.clone(), valid_until: NOW + 100, issuer: 0, kid: "odd".into() },
            NOW + 38,
        );
        assert!(v.cache.lock().unwrap().values().all(|c| c.valid_until >= NOW + 38));
        v.forget(0, &["odd".to_string()]);
        assert!(v.cache.lock().unwrap().values().all(|c| c.kid == "even"));
        assert!(v.cached(&[100; 32], NOW).is_none());
    }
}
