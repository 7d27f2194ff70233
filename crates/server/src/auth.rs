//! The security layer in front of every route: who is calling ([`Guard::authenticate`]),
//! whether they may ([`action_for`] + [`Principal::may`]), how often (a token bucket per
//! principal), and what they did (the audit trail).
//!
//! One middleware, [`layer`], does all of it in this order: body size by its declared
//! length → the route's action → public routes pass → authenticate → rate → authorise →
//! the handler, under the request time-out → audit (writes and refusals). The principal
//! is left in the request's extensions for handlers that refine by resource (the
//! `command` kind; the status fire routes' access lists, `status_api::ACL_FIRE_ROUTES`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use consort_auth::{
    Action, AuditRecord, AuthError, AuthStore, AuthStoreError, Method as AuthMethod, Principal, RoleSet, TokenRecord,
    token,
};
use tokio::sync::mpsc;

use crate::error::ApiError;

use crate::listener::ClientCertificate;

/// How long a token looked up in the store is trusted before it is read again. A
/// revocation through this server takes effect at once; through another instance
/// sharing the store, within this.
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);
/// Most tokens cached (a flood of random tokens must not grow memory).
const TOKEN_CACHE_MAX: usize = 10_000;
/// Most rate-limit buckets kept; idle ones are dropped first.
const BUCKETS_MAX: usize = 50_000;
/// Audit records waiting for the writer; beyond it they are counted and dropped, never
/// blocking a request.
const AUDIT_QUEUE: usize = 10_000;

/// Verifies JWT bearer tokens (implemented by `consort_auth::oidc::OidcVerifier`).
#[async_trait]
pub trait JwtVerifier: Send + Sync + 'static {
    /// The principal of a valid JWT, or why it is refused.
    async fn verify(&self, jwt: &str, now_unix_secs: i64) -> Result<Principal, AuthError>;
}

#[async_trait]
impl JwtVerifier for consort_auth::oidc::OidcVerifier {
    async fn verify(&self, jwt: &str, now_unix_secs: i64) -> Result<Principal, AuthError> {
        consort_auth::oidc::OidcVerifier::verify(self, jwt, now_unix_secs).await
    }
}

/// Verifies member-issued clean-room user credentials (`ccu_…`; implemented over the
/// clean-room area, [`crate::cleanroom_api::AreaCredentials`]).
#[async_trait]
pub trait CredentialVerifier: Send + Sync + 'static {
    /// The principal of a valid credential, or why it is refused.
    async fn verify(&self, credential: &str, now_ms: i64) -> Result<Principal, AuthError>;
}

/// The security settings of a server.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// `false` only for `auth.mode = "none"` (every caller is an admin; loopback only).
    pub required: bool,
    /// Requests per second per principal.
    pub rate_per_sec: u32,
    /// Burst per principal.
    pub rate_burst: u32,
    /// Client certificate common name (or subject) → roles.
    pub client_cert_roles: BTreeMap<String, RoleSet>,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Longest a request may take.
    pub request_timeout: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            required: true,
            rate_per_sec: 50,
            rate_burst: 200,
            client_cert_roles: BTreeMap::new(),
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

struct CachedToken {
    record: TokenRecord,
    read_at: Instant,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The security state shared by every request.
pub struct Guard {
    settings: AuthSettings,
    store: Arc<dyn AuthStore>,
    jwt: Option<Arc<dyn JwtVerifier>>,
    credentials: std::sync::OnceLock<Arc<dyn CredentialVerifier>>,
    tokens: Mutex<HashMap<String, CachedToken>>,
    buckets: Mutex<HashMap<String, Bucket>>,
    used: Mutex<HashSet<String>>,
    audit: mpsc::Sender<AuditRecord>,
    dropped: std::sync::atomic::AtomicU64,
    clock: Clock,
}

/// The current time, injected so tests control it (expiry is checked against it).
pub type Clock = Arc<dyn Fn() -> jiff::Timestamp + Send + Sync>;

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("required", &self.settings.required)
            .field("jwt", &self.jwt.is_some())
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// A guard over `store`, with JWTs checked by `jwt` when issuers are configured.
    /// Spawns the task that writes the audit trail and tokens' last use.
    pub fn new(settings: AuthSettings, store: Arc<dyn AuthStore>, jwt: Option<Arc<dyn JwtVerifier>>) -> Arc<Guard> {
        Guard::with_clock(settings, store, jwt, Arc::new(jiff::Timestamp::now))
    }

    /// [`Guard::new`] with an injected clock.
    pub fn with_clock(
        settings: AuthSettings,
        store: Arc<dyn AuthStore>,
        jwt: Option<Arc<dyn JwtVerifier>>,
        clock: Clock,
    ) -> Arc<Guard> {
        let (tx, rx) = mpsc::channel(AUDIT_QUEUE);
        let guard = Arc::new(Guard {
            settings,
            store,
            jwt,
            credentials: std::sync::OnceLock::new(),
            tokens: Mutex::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
            used: Mutex::new(HashSet::new()),
            audit: tx,
            dropped: std::sync::atomic::AtomicU64::new(0),
            clock,
        });
        tokio::spawn(write_audit(Arc::downgrade(&guard), rx));
        guard
    }

    /// Accepts clean-room user credentials, checked by `verifier` (set once, by the router,
    /// when the server runs the clean-room area; later calls change nothing).
    pub fn set_credentials(&self, verifier: Arc<dyn CredentialVerifier>) {
        let _ = self.credentials.set(verifier);
    }

    /// The store of tokens and the audit trail.
    pub fn store(&self) -> &Arc<dyn AuthStore> {
        &self.store
    }

    /// The largest request body read.
    pub fn max_body_bytes(&self) -> usize {
        self.settings.max_body_bytes
    }

    /// Whether callers must authenticate.
    pub fn required(&self) -> bool {
        self.settings.required
    }

    /// Forgets a cached token (after revoking it), so the revocation holds at once here.
    pub fn forget(&self, token_id: &str) {
        if let Ok(mut cache) = self.tokens.lock() {
            cache.retain(|_, c| c.record.id != token_id);
        }
    }

    /// Who sent a request, from its bearer token or else its client certificate.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        certificate: Option<&ClientCertificate>,
        now_ms: i64,
    ) -> Result<Principal, AuthError> {
        if !self.settings.required {
            return Ok(Principal {
                name: "anonymous".into(),
                roles: RoleSet::of(consort_auth::Role::Admin),
                method: AuthMethod::Unauthenticated,
                groups: Vec::new(),
            });
        }
        match headers.get(header::AUTHORIZATION) {
            Some(value) => {
                let bearer = bearer(value)?;
                if token::looks_like_token(bearer) {
                    self.check_token(bearer, now_ms).await
                } else if consort_governance::credentials::looks_like_credential(bearer) {
                    match self.credentials.get() {
                        Some(verifier) => verifier.verify(bearer, now_ms).await,
                        None => Err(AuthError::Credential {
                            code: "credential_malformed",
                            message: "this server runs no clean rooms: use an API token".into(),
                        }),
                    }
                } else if let Some(jwt) = &self.jwt {
                    jwt.verify(bearer, now_ms.div_euclid(1000)).await
                } else if bearer.starts_with(token::PREFIX) {
                    Err(AuthError::UnknownToken)
                } else {
                    Err(AuthError::InvalidJwt(
                        "no OpenID issuer is configured on this server ([[auth.oidc]]); use an API token".into(),
                    ))
                }
            }
            None => match certificate {
                Some(cert) => Ok(self.certificate_principal(cert)),
                None => Err(AuthError::Missing),
            },
        }
    }

    fn certificate_principal(&self, cert: &ClientCertificate) -> Principal {
        let roles = cert
            .common_name
            .as_ref()
            .and_then(|cn| self.settings.client_cert_roles.get(cn))
            .or_else(|| self.settings.client_cert_roles.get(&cert.subject))
            .copied()
            .unwrap_or(RoleSet::EMPTY);
        Principal { name: cert.subject.clone(), roles, method: AuthMethod::ClientCertificate, groups: Vec::new() }
    }

    async fn check_token(&self, secret: &str, now_ms: i64) -> Result<Principal, AuthError> {
        let hash = token::hash(secret);
        let cached = self.tokens.lock().ok().and_then(|cache| {
            cache.get(&hash).filter(|c| c.read_at.elapsed() < TOKEN_CACHE_TTL).map(|c| c.record.clone())
        });
        let record = match cached {
            Some(record) => record,
            None => {
                let record = self
                    .store
                    .token_by_hash(&hash)
                    .await
                    .map_err(|e| AuthError::Unavailable(unavailable(&e)))?
                    .ok_or(AuthError::UnknownToken)?;
                if let Ok(mut cache) = self.tokens.lock() {
                    if cache.len() >= TOKEN_CACHE_MAX {
                        cache.retain(|_, c| c.read_at.elapsed() < TOKEN_CACHE_TTL);
                        if cache.len() >= TOKEN_CACHE_MAX {
                            cache.clear();
                        }
                    }
                    cache.insert(hash, CachedToken { record: record.clone(), read_at: Instant::now() });
                }
                record
            }
        };
        if record.revoked_ms.is_some() {
            return Err(AuthError::Revoked);
        }
        if record.expires_ms.is_some_and(|e| e <= now_ms) {
            return Err(AuthError::Expired);
        }
        if let Ok(mut used) = self.used.lock() {
            used.insert(record.id.clone());
        }
        Ok(Principal {
            name: record.name,
            roles: record.roles,
            method: AuthMethod::ApiToken { id: record.id },
            groups: Vec::new(),
        })
    }

    /// Takes one request from `key`'s bucket; `Err(seconds)` to wait when it is empty.
    fn take(&self, key: &str) -> Result<(), u64> {
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        let rate = f64::from(self.settings.rate_per_sec);
        let burst = f64::from(self.settings.rate_burst);
        let now = Instant::now();
        if buckets.len() >= BUCKETS_MAX && !buckets.contains_key(key) {
            // Drop buckets that have refilled: forgetting them changes nothing.
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket { tokens: burst, at: now });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / rate).ceil().max(1.0) as u64)
        }
    }

    fn record(&self, record: AuditRecord) {
        if self.audit.try_send(record).is_err() {
            let n = self.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if n.is_power_of_two() {
                tracing::warn!(dropped = n + 1, "audit queue full: records dropped (is the store down?)");
            }
        }
    }
}

/// Writes queued audit records and tokens' last use in batches until the guard is gone.
async fn write_audit(guard: std::sync::Weak<Guard>, mut rx: mpsc::Receiver<AuditRecord>) {
    let mut batch = Vec::with_capacity(256);
    let mut last_touch = Instant::now();
    loop {
        let received = tokio::time::timeout(Duration::from_secs(5), rx.recv_many(&mut batch, 256)).await;
        let Some(guard) = guard.upgrade() else { return };
        if matches!(received, Ok(0)) {
            return; // every sender is gone
        }
        if !batch.is_empty() {
            if let Err(e) = guard.store.append_audit(&batch).await {
                tracing::warn!(records = batch.len(), error = %e, "audit records not written");
            }
            batch.clear();
        }
        if last_touch.elapsed() >= Duration::from_secs(30) {
            last_touch = Instant::now();
            let ids: Vec<String> = guard.used.lock().map(|mut u| u.drain().collect()).unwrap_or_default();
            if !ids.is_empty()
                && let Err(e) = guard.store.touch_tokens(&ids, (guard.clock)().as_millisecond()).await
            {
                tracing::warn!(error = %e, "tokens' last use not recorded");
            }
        }
    }
}

fn unavailable(e: &AuthStoreError) -> String {
    match e {
        AuthStoreError::Database { .. } => "the token store is unavailable".into(),
        other => other.to_string(),
    }
}

fn bearer(value: &HeaderValue) -> Result<&str, AuthError> {
    let text = value.to_str().map_err(|_| AuthError::Malformed("it holds bytes that are not visible ASCII"))?;
    let (scheme, rest) = text.split_once(' ').ok_or(AuthError::Malformed("the scheme `Bearer` is missing"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Malformed("only the Bearer scheme is accepted"));
    }
    if rest.is_empty() || rest.contains(char::is_whitespace) {
        return Err(AuthError::Malformed("the token is empty or holds spaces"));
    }
    Ok(rest)
}

/// Routes any authenticated principal may call, whatever its roles: they answer only about the
/// caller itself. A `cleanroom`-only or `provisioner`-only principal must be able to learn what
/// it may do (the dashboard signs in with `whoami`) without the `viewer` role.
pub const SELF_ROUTES: &[&str] = &["/v1/auth/whoami"];

/// The action a route performs; `None` for the public routes and the governed runner's,
/// which authenticate with its attestation and session instead. The one table of the
/// authorisation model: a new route is covered the moment it is added.
pub fn action_for(method: &Method, route: &str) -> Option<Action> {
    if crate::openapi::is_public(route) || crate::openapi::is_self_authenticated(route) {
        return None;
    }
    // Deleting run history at once is an administrator's decision, not an operator's.
    let purge = *method == Method::DELETE && route == "/v1/scheduler/runs";
    if purge || route.starts_with("/v1/tokens") || route.starts_with("/v1/audit") {
        return Some(Action::Administer);
    }
    // The invitations addressed to the caller: an invited identity needs the `cleanroom` role
    // to accept one, so it needs it to list them.
    if route.starts_with("/v1/cleanrooms") || route == "/v1/invitations" {
        return Some(Action::Govern);
    }
    if route.starts_with("/v1/provision")
        || route.starts_with("/v1/unprovision")
        || route.starts_with("/v1/validate")
        || route.starts_with("/v2/validate")
        || route.starts_with("/v1/updateacl")
        || route.starts_with("/v1/reverse-provisioning")
    {
        return Some(Action::Provision);
    }
    // Fire-now on a job status: readers pass here, the handler requires the operate role or
    // a place on the component's access list.
    if *method == Method::POST && crate::status_api::ACL_FIRE_ROUTES.contains(&route) {
        return Some(Action::Read);
    }
    Some(if matches!(*method, Method::GET | Method::HEAD) { Action::Read } else { Action::Operate })
}

/// The writes a clean-room user credential may make (matched routes): a user's acts.
pub const USER_CREDENTIAL_WRITES: &[(Method, &str)] = &[
    (Method::PUT, "/v1/cleanrooms/{cleanroom}/documents/{id}"),
    (Method::POST, "/v1/cleanrooms/{cleanroom}/documents/{id}/propose"),
    (Method::POST, "/v1/cleanrooms/{cleanroom}/documents/{id}/ballots"),
    (Method::PUT, "/v1/cleanrooms/{cleanroom}/documents/{id}/approval"),
    (Method::PUT, "/v1/cleanrooms/{cleanroom}/consent/{kind}/{id}/{option}"),
];

/// Whether a user credential of `cleanroom` reaches this request: a user write of
/// [`USER_CREDENTIAL_WRITES`] or a read under `/v1/cleanrooms/{cleanroom}/`, and the request's
/// clean room (the path's own segment, not the credential's word) is the credential's.
/// `whoami` answers about the caller, so it is open too.
pub fn credential_reaches(method: &Method, route: &str, path: &str, cleanroom: &str) -> bool {
    if SELF_ROUTES.contains(&route) {
        return true;
    }
    let in_room = path
        .strip_prefix("/v1/cleanrooms/")
        .and_then(|rest| rest.split('/').next())
        .is_some_and(|segment| segment == cleanroom);
    let user_write = USER_CREDENTIAL_WRITES.iter().any(|(m, r)| m == method && *r == route);
    let room_read = matches!(*method, Method::GET | Method::HEAD) && route.starts_with("/v1/cleanrooms/{cleanroom}/");
    in_room && (user_write || room_read)
}

fn auth_code(e: &AuthError) -> &'static str {
    match e {
        AuthError::Missing => "unauthenticated",
        AuthError::Malformed(_) => "malformed_authorization",
        AuthError::UnknownToken => "unknown_token",
        AuthError::Revoked => "revoked_token",
        AuthError::Expired => "expired_token",
        AuthError::InvalidJwt(_) => "invalid_jwt",
        AuthError::Unavailable(_) => "auth_unavailable",
        AuthError::Credential { code, .. } => code,
    }
}

/// The middleware (installed with `route_layer`, so the matched route is known).
pub async fn layer(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let started_ms = (guard.clock)().as_millisecond();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let route = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or(path.clone());
    let remote = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_else(|| "unknown".into());
    let audit = |principal: &str, status: StatusCode, outcome: String| AuditRecord {
        id: 0,
        at_ms: started_ms,
        principal: principal.to_string(),
        remote: remote.clone(),
        method: method.to_string(),
        path: path.clone(),
        status: status.as_u16(),
        outcome,
    };

    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > guard.settings.max_body_bytes as u64) {
        return too_large(guard.settings.max_body_bytes);
    }

    let Some(action) = action_for(&method, &route) else {
        return next.run(request).await;
    };

    let certificate = request.extensions().get::<ClientCertificate>().cloned();
    let principal = match guard.authenticate(request.headers(), certificate.as_ref(), started_ms).await {
        Ok(p) => p,
        Err(e) => {
            let ip = remote.rsplit_once(':').map_or(remote.as_str(), |(ip, _)| ip).to_string();
            if let Err(retry) = guard.take(&format!("ip:{ip}")) {
                return too_many(retry);
            }
            let code = auth_code(&e);
            let error = match e {
                AuthError::Unavailable(_) => ApiError::Unavailable { message: e.to_string() },
                _ => ApiError::Unauthorized { code, message: e.to_string() },
            };
            guard.record(audit("anonymous", error.status(), format!("refused:{code}")));
            return error.into_response();
        }
    };
    let who = principal.display_name();
    if let Err(retry) = guard.take(&who) {
        guard.record(audit(&who, StatusCode::TOO_MANY_REQUESTS, "refused:rate_limited".into()));
        return too_many(retry);
    }
    if let AuthMethod::UserCredential { cleanroom, .. } = &principal.method
        && !credential_reaches(&method, &route, &path, cleanroom)
    {
        guard.record(audit(&who, StatusCode::FORBIDDEN, "refused:credential_scope".into()));
        let message = format!(
            "a user credential of clean room {cleanroom:?} reaches only that clean room's user routes (documents, \
             ballots, consent, approvals and its reads), not {method} {route}: use an API token for anything else"
        );
        return ApiError::Forbidden { code: "credential_scope", message }.into_response();
    }
    if !principal.may(action) && !SELF_ROUTES.contains(&route.as_str()) {
        guard.record(audit(&who, StatusCode::FORBIDDEN, "refused:forbidden".into()));
        let roles = if principal.roles.is_empty() { "no role".to_string() } else { principal.roles.to_string() };
        let message = format!(
            "{who} has {roles}; {method} {route} needs the {} role (or admin): ask an admin for a token with it",
            action.needed_role()
        );
        return ApiError::Forbidden { code: "forbidden", message }.into_response();
    }

    let mut request = request;
    if !matches!(method, Method::GET | Method::HEAD) {
        // The body, read whole up to the limit (a chunked body declares no length).
        let (parts, body) = request.into_parts();
        match axum::body::to_bytes(body, guard.settings.max_body_bytes).await {
            Ok(bytes) => request = Request::from_parts(parts, axum::body::Body::from(bytes)),
            Err(_) => {
                guard.record(audit(&who, StatusCode::PAYLOAD_TOO_LARGE, "rejected:413".into()));
                return too_large(guard.settings.max_body_bytes);
            }
        }
    }
    request.extensions_mut().insert(principal);
    let response = match tokio::time::timeout(guard.settings.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Unavailable {
            message: format!(
                "the request took longer than {} s (limits.request_timeout_secs) and was stopped; retry, or narrow it",
                guard.settings.request_timeout.as_secs()
            ),
        }
        .into_response(),
    };
    if action != Action::Read || method != Method::GET {
        let status = response.status();
        let outcome = if status.is_success() {
            "ok".to_string()
        } else if status.is_client_error() {
            format!("rejected:{}", status.as_u16())
        } else {
            format!("failed:{}", status.as_u16())
        };
        guard.record(audit(&who, status, outcome));
    }
    response
}

fn too_large(max: usize) -> Response {
    ApiError::PayloadTooLarge {
        message: format!("the request body is larger than {max} bytes; send less, or raise limits.max_body_bytes"),
    }
    .into_response()
}

fn too_many(retry_after_secs: u64) -> Response {
    ApiError::TooManyRequests {
        message: format!(
            "too many requests from this principal; retry in {retry_after_secs} s (auth.rate_per_sec and auth.rate_burst set the limit)"
        ),
        retry_after_secs,
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_but_the_public_ones_needs_an_action() {
        for route in crate::openapi::PUBLIC_PATHS {
            assert_eq!(action_for(&Method::GET, route), None);
        }
        assert_eq!(action_for(&Method::GET, "/v1/scheduler/jobs"), Some(Action::Read));
        assert_eq!(action_for(&Method::GET, "/v1/scheduler/runs"), Some(Action::Read));
        assert_eq!(action_for(&Method::DELETE, "/v1/scheduler/runs"), Some(Action::Administer));
        assert_eq!(action_for(&Method::PUT, "/v1/scheduler/jobs/{group}/{name}"), Some(Action::Operate));
        assert_eq!(action_for(&Method::GET, "/v1/tokens"), Some(Action::Administer));
        assert_eq!(action_for(&Method::GET, "/v1/audit"), Some(Action::Administer));
        assert_eq!(action_for(&Method::POST, "/v1/provision"), Some(Action::Provision));
        assert_eq!(action_for(&Method::GET, "/v1/unknown-future-route"), Some(Action::Read));
        // The dashboard's calls: who am I, and the chart's aggregate, for readers.
        assert_eq!(action_for(&Method::GET, "/v1/auth/whoami"), Some(Action::Read));
        assert_eq!(action_for(&Method::GET, "/v1/dashboard/run-history"), Some(Action::Read));
        // Clean-room runs need the role; only the runner's own calls authenticate themselves.
        assert_eq!(action_for(&Method::POST, "/v1/cleanrooms/{cleanroom}/queries/{id}/run"), Some(Action::Govern));
        assert_eq!(action_for(&Method::GET, "/v1/cleanrooms/{cleanroom}/runs/{run}/log"), Some(Action::Govern));
        assert_eq!(action_for(&Method::GET, "/v1/invitations"), Some(Action::Govern));
        for route in crate::run_api::RUNNER_ROUTES {
            assert_eq!(action_for(&Method::POST, route), None, "{route}");
        }
        // The status fire routes: readers reach the handler, which checks the access list.
        assert_eq!(action_for(&Method::POST, "/v1/status/jobs/{group}/{name}/fire"), Some(Action::Read));
        assert_eq!(action_for(&Method::POST, "/v1/status/components/{component_id}/fire"), Some(Action::Read));
        assert_eq!(action_for(&Method::GET, "/v1/status/running"), Some(Action::Read));
        assert_eq!(action_for(&Method::POST, "/v1/scheduler/jobs/{group}/{name}/fire"), Some(Action::Operate));
        // Only the exact routes: a concrete path (never a matched route) is not opened.
        assert_eq!(action_for(&Method::POST, "/v1/status/jobs/g/j/fire"), Some(Action::Operate));
    }

    #[test]
    fn a_user_credential_reaches_only_its_clean_rooms_user_routes() {
        let reaches = |m: Method, route: &str, path: &str| credential_reaches(&m, route, path, "lab");
        assert!(reaches(Method::PUT, "/v1/cleanrooms/{cleanroom}/documents/{id}", "/v1/cleanrooms/lab/documents/d"));
        assert!(reaches(
            Method::PUT,
            "/v1/cleanrooms/{cleanroom}/consent/{kind}/{id}/{option}",
            "/v1/cleanrooms/lab/consent/document/d/execution"
        ));
        assert!(reaches(Method::GET, "/v1/cleanrooms/{cleanroom}/documents", "/v1/cleanrooms/lab/documents"));
        assert!(reaches(Method::GET, "/v1/auth/whoami", "/v1/auth/whoami"));
        // Another clean room, a member's signed write, the clean rooms' list, other areas.
        assert!(!reaches(Method::PUT, "/v1/cleanrooms/{cleanroom}/documents/{id}", "/v1/cleanrooms/lab2/documents/d"));
        assert!(!reaches(Method::POST, "/v1/cleanrooms/{cleanroom}/proposals", "/v1/cleanrooms/lab/proposals"));
        assert!(!reaches(Method::PUT, "/v1/cleanrooms/{cleanroom}/secrets/{name}", "/v1/cleanrooms/lab/secrets/s"));
        assert!(!reaches(Method::GET, "/v1/cleanrooms", "/v1/cleanrooms"));
        assert!(!reaches(Method::GET, "/v1/invitations", "/v1/invitations"));
        assert!(!reaches(Method::GET, "/v1/scheduler/jobs", "/v1/scheduler/jobs"));
        assert!(!reaches(Method::GET, "/v1/tokens", "/v1/tokens"));
    }

    #[test]
    fn bearer_header_shapes() {
        let ok = HeaderValue::from_static("Bearer abc");
        assert_eq!(bearer(&ok).unwrap(), "abc");
        assert_eq!(bearer(&HeaderValue::from_static("bearer abc")).unwrap(), "abc");
        for bad in ["Basic abc", "Bearer", "Bearer ", "Bearer a b", "abc"] {
            assert!(matches!(bearer(&HeaderValue::from_static(bad)), Err(AuthError::Malformed(_))), "{bad}");
        }
    }
}
