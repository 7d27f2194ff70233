//! The security layer through the router: the negative matrix of issue "secure by
//! default" (each refusal with its status, code and a message that says what to do), the
//! roles per route, the `command` kind, limits, and the audit trail.
//! JWTs are checked against a real OpenID provider in `crates/auth/tests/oidc.rs`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use consort_auth::{AuditQuery, AuthStore, NewToken, Role, RoleSet, token};
use consort_scheduler::{Kinds, Scheduler, SchedulerConfig};
use consort_server::auth::{AuthSettings, Guard};
use consort_server::{AppState, ClientCertificate, router};
use http_body_util::BodyExt;
use jiff::Timestamp;
use serde_json::{Value, json};
use tower::ServiceExt;

const NOW: &str = "2026-01-01T00:00:00Z";

struct App {
    router: axum::Router,
    store: Arc<dyn AuthStore>,
}

async fn app_with(settings: AuthSettings, command_kind: bool) -> App {
    let fixed: Timestamp = NOW.parse().unwrap();
    let stores = consort_store::open_all("sqlite::memory:").await.unwrap();
    let scheduler = Arc::new(Scheduler::new(stores.scheduler, Kinds::builtin(), SchedulerConfig::new("test-instance")));
    let guard = Guard::with_clock(settings, stores.auth.clone(), None, Arc::new(move || fixed));
    let mut state = AppState::new(scheduler, guard);
    state.clock = Arc::new(move || fixed);
    state.command_kind = command_kind;
    App { router: router(state), store: stores.auth }
}

async fn app() -> App {
    app_with(AuthSettings::default(), false).await
}

/// Stores a token with `roles` expiring at `expires_ms`; returns its secret.
async fn token_for(app: &App, name: &str, roles: RoleSet, expires_ms: Option<i64>) -> String {
    let g = token::generate().unwrap();
    let created_ms = NOW.parse::<Timestamp>().unwrap().as_millisecond();
    app.store
        .create_token(NewToken { id: g.id, hash: g.hash, name: name.into(), roles, created_ms, expires_ms })
        .await
        .unwrap();
    g.secret
}

async fn call(app: &App, method: &str, uri: &str, auth: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri).header("content-type", "application/json");
    if let Some(a) = auth {
        request = request.header("authorization", a);
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    send(app, request.body(body).unwrap()).await
}

async fn send(app: &App, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let mut value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if let Some(r) = retry {
        value["retry_after_header"] = json!(r);
    }
    (status, value)
}

fn bearer(secret: &str) -> String {
    format!("Bearer {secret}")
}

#[track_caller]
fn refused(got: &(StatusCode, Value), status: StatusCode, code: &str, hint: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
    let message = got.1["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(hint), "message {message:?} should say {hint:?}");
}

#[tokio::test]
async fn public_routes_need_no_token_and_the_others_do() {
    let app = app().await;
    for uri in ["/health", "/openapi.json", "/v1/cron/next?expr=0+0+12+*+*+%3F", "/v1/cron/explain?expr=0+0+12+*+*+%3F"]
    {
        assert_eq!(call(&app, "GET", uri, None, None).await.0, StatusCode::OK, "{uri}");
    }
    for (method, uri) in [
        ("GET", "/v1/scheduler/jobs"),
        ("GET", "/v1/scheduler/runs"),
        ("GET", "/v1/scheduler/instances"),
        ("PUT", "/v1/scheduler/jobs/g/j"),
        ("POST", "/v1/scheduler/jobs/g/j/fire"),
        ("GET", "/v1/tokens"),
        ("GET", "/v1/audit"),
    ] {
        let got = call(&app, method, uri, None, None).await;
        refused(&got, StatusCode::UNAUTHORIZED, "unauthenticated", "consort tokens create");
    }
}

#[tokio::test]
async fn the_negative_matrix_of_api_tokens() {
    let app = app().await;
    let now_ms = NOW.parse::<Timestamp>().unwrap().as_millisecond();
    let viewer = token_for(&app, "viewer", RoleSet::of(Role::Viewer), None).await;
    let expired = token_for(&app, "expired", RoleSet::of(Role::Admin), Some(now_ms - 1)).await;
    let revoked = token_for(&app, "revoked", RoleSet::of(Role::Admin), None).await;
    app.store.revoke_token("revoked", now_ms).await.unwrap();
    let jobs = "/v1/scheduler/jobs";

    refused(
        &call(&app, "GET", jobs, Some("Token abc"), None).await,
        StatusCode::UNAUTHORIZED,
        "malformed_authorization",
        "Bearer",
    );
    refused(
        &call(&app, "GET", jobs, Some("Bearer"), None).await,
        StatusCode::UNAUTHORIZED,
        "malformed_authorization",
        "Bearer",
    );
    refused(
        &call(&app, "GET", jobs, Some("Bearer a b"), None).await,
        StatusCode::UNAUTHORIZED,
        "malformed_authorization",
        "Bearer",
    );
    let wrong = token::generate().unwrap().secret;
    refused(
        &call(&app, "GET", jobs, Some(&bearer(&wrong)), None).await,
        StatusCode::UNAUTHORIZED,
        "unknown_token",
        "copied whole",
    );
    refused(
        &call(&app, "GET", jobs, Some(&bearer(&revoked)), None).await,
        StatusCode::UNAUTHORIZED,
        "revoked_token",
        "revoked",
    );
    refused(
        &call(&app, "GET", jobs, Some(&bearer(&expired)), None).await,
        StatusCode::UNAUTHORIZED,
        "expired_token",
        "expired",
    );
    // Not a token's shape and no issuer configured: said plainly.
    refused(
        &call(&app, "GET", jobs, Some("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."), None).await,
        StatusCode::UNAUTHORIZED,
        "invalid_jwt",
        "no OpenID issuer",
    );

    // A viewer reads, and is refused every write with the role it needs.
    assert_eq!(call(&app, "GET", jobs, Some(&bearer(&viewer)), None).await.0, StatusCode::OK);
    let put = call(
        &app,
        "PUT",
        "/v1/scheduler/jobs/g/j",
        Some(&bearer(&viewer)),
        Some(json!({"kind": "noop", "durable": true})),
    )
    .await;
    refused(&put, StatusCode::FORBIDDEN, "forbidden", "needs the operator role");
    refused(
        &call(&app, "GET", "/v1/tokens", Some(&bearer(&viewer)), None).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        "admin",
    );
}

#[tokio::test]
async fn roles_per_route() {
    let app = app().await;
    let admin = bearer(&token_for(&app, "root", RoleSet::of(Role::Admin), None).await);
    let operator = bearer(&token_for(&app, "ops", RoleSet::of(Role::Operator), None).await);
    let provisioner = bearer(&token_for(&app, "witboost", RoleSet::of(Role::Provisioner), None).await);
    let job = json!({"kind": "noop", "durable": true});

    assert_eq!(call(&app, "PUT", "/v1/scheduler/jobs/g/j", Some(&operator), Some(job.clone())).await.0, StatusCode::OK);
    assert_eq!(call(&app, "POST", "/v1/scheduler/jobs/g/j/pause", Some(&operator), None).await.0, StatusCode::OK);
    refused(&call(&app, "GET", "/v1/audit", Some(&operator), None).await, StatusCode::FORBIDDEN, "forbidden", "admin");
    // The provisioner role is for the provisioner's endpoints only.
    refused(
        &call(&app, "GET", "/v1/scheduler/jobs", Some(&provisioner), None).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        "viewer",
    );
    assert_eq!(call(&app, "DELETE", "/v1/scheduler/jobs/g/j", Some(&admin), None).await.0, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn purging_run_history_is_for_admins_only() {
    let app = app().await;
    let admin = bearer(&token_for(&app, "root", RoleSet::of(Role::Admin), None).await);
    let operator = bearer(&token_for(&app, "ops", RoleSet::of(Role::Operator), None).await);
    let viewer = bearer(&token_for(&app, "eyes", RoleSet::of(Role::Viewer), None).await);
    let purge = "/v1/scheduler/runs?fired_before=2025-06-01T00:00:00Z";

    refused(&call(&app, "DELETE", purge, None, None).await, StatusCode::UNAUTHORIZED, "unauthenticated", "token");
    refused(&call(&app, "DELETE", purge, Some(&viewer), None).await, StatusCode::FORBIDDEN, "forbidden", "admin");
    refused(&call(&app, "DELETE", purge, Some(&operator), None).await, StatusCode::FORBIDDEN, "forbidden", "admin");
    // Reading the history stays a viewer's right.
    assert_eq!(call(&app, "GET", "/v1/scheduler/runs", Some(&viewer), None).await.0, StatusCode::OK);

    let (status, body) = call(&app, "DELETE", purge, Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"deleted": 0, "fired_before": "2025-06-01T00:00:00Z"}));
    let (status, body) = call(&app, "DELETE", "/v1/scheduler/runs?fired_before=yesterday", Some(&admin), None).await;
    assert_eq!((status, body["error"]["param"].as_str()), (StatusCode::BAD_REQUEST, Some("fired_before")), "{body}");
    let (status, body) = call(&app, "DELETE", "/v1/scheduler/runs", Some(&admin), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a purge without its cutoff deletes nothing: {body}");
}

#[tokio::test]
async fn tokens_api_creates_once_revokes_at_once_and_never_lists_secrets() {
    let app = app().await;
    let admin = bearer(&token_for(&app, "root", RoleSet::of(Role::Admin), None).await);
    let (status, created) = call(
        &app,
        "POST",
        "/v1/tokens",
        Some(&admin),
        Some(json!({"name": "ci", "roles": ["operator"], "expires_in_secs": 3600})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(token::looks_like_token(&secret));
    assert_eq!(created["roles"], json!(["operator"]));
    assert_eq!(created["expires_at"], "2026-01-01T01:00:00Z");

    let ci = bearer(&secret);
    assert_eq!(call(&app, "GET", "/v1/scheduler/jobs", Some(&ci), None).await.0, StatusCode::OK);
    let (_, listed) = call(&app, "GET", "/v1/tokens", Some(&admin), None).await;
    assert!(!listed.to_string().contains(&secret), "a list never shows a secret");
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);

    let (status, v) = call(
        &app,
        "POST",
        "/v1/tokens",
        Some(&admin),
        Some(json!({"name": "f", "roles": ["viewer"], "expires_in_secs": 60.0})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "an integral float is an integer: {v}");

    // Same live name: conflict. Bad role, bad name, zero lifetime: 400 naming the field.
    let again = call(&app, "POST", "/v1/tokens", Some(&admin), Some(json!({"name": "ci", "roles": ["viewer"]}))).await;
    refused(&again, StatusCode::CONFLICT, "conflict", "revoke it first");
    for (body, param) in [
        (json!({"name": "x", "roles": ["root"]}), "roles[0]"),
        (json!({"name": "x", "roles": []}), "roles"),
        (json!({"name": "x"}), "roles"),
        (json!({"name": "a b", "roles": ["viewer"]}), "name"),
        (json!({"name": "x", "roles": ["viewer"], "expires_in_secs": 0}), "expires_in_secs"),
        (json!({"name": "x", "roles": ["viewer"], "expires_in_secs": 1.5}), "expires_in_secs"),
    ] {
        let (status, v) = call(&app, "POST", "/v1/tokens", Some(&admin), Some(body)).await;
        assert_eq!((status, v["error"]["param"].as_str()), (StatusCode::BAD_REQUEST, Some(param)), "{v}");
    }

    // Revoked (cached a moment ago): refused at once.
    let (status, v) = call(&app, "POST", "/v1/tokens/ci/revoke", Some(&admin), None).await;
    assert_eq!((status, v["state"].as_str()), (StatusCode::OK, Some("revoked")), "{v}");
    refused(
        &call(&app, "GET", "/v1/scheduler/jobs", Some(&ci), None).await,
        StatusCode::UNAUTHORIZED,
        "revoked_token",
        "revoked",
    );
}

#[tokio::test]
async fn command_kind_is_off_unless_enabled_and_then_admins_only() {
    let off = app().await;
    let admin = bearer(&token_for(&off, "root", RoleSet::of(Role::Admin), None).await);
    let job = json!({"kind": "command", "data": {"program": "/bin/true"}, "durable": true});
    let (status, v) = call(&off, "PUT", "/v1/scheduler/jobs/g/sh", Some(&admin), Some(job.clone())).await;
    assert_eq!((status, v["error"]["param"].as_str()), (StatusCode::BAD_REQUEST, Some("kind")), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("command_kind = true"), "{v}");

    let on = app_with(AuthSettings::default(), true).await;
    let admin = bearer(&token_for(&on, "root", RoleSet::of(Role::Admin), None).await);
    let operator = bearer(&token_for(&on, "ops", RoleSet::of(Role::Operator), None).await);
    refused(
        &call(&on, "PUT", "/v1/scheduler/jobs/g/sh", Some(&operator), Some(job.clone())).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        "only an admin",
    );
    assert_eq!(call(&on, "PUT", "/v1/scheduler/jobs/g/sh", Some(&admin), Some(job)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn limits_body_size_and_rate() {
    let settings = AuthSettings { max_body_bytes: 4096, rate_per_sec: 1, rate_burst: 5, ..AuthSettings::default() };
    let app = app_with(settings, false).await;
    let operator = bearer(&token_for(&app, "ops", RoleSet::of(Role::Operator), None).await);

    let big = json!({"kind": "noop", "durable": true, "description": "x".repeat(5000)});
    let got = call(&app, "PUT", "/v1/scheduler/jobs/g/big", Some(&operator), Some(big)).await;
    refused(&got, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "limits.max_body_bytes");

    // Deeply nested JSON: a 400 in the error shape, not a stack overflow or a 500.
    let nested =
        format!(r#"{{"kind": "noop", "durable": true, "data": {{"a": {}{}}}}}"#, "[".repeat(1000), "]".repeat(1000));
    let request = Request::builder()
        .method("PUT")
        .uri("/v1/scheduler/jobs/g/deep")
        .header("content-type", "application/json")
        .header("authorization", &operator)
        .body(Body::from(nested))
        .unwrap();
    let got = send(&app, request).await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    assert!(got.1["error"]["message"].as_str().unwrap().contains("nested too deeply"), "{}", got.1);

    // A flood: the burst passes (two already spent above), then 429 with Retry-After.
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(call(&app, "GET", "/v1/scheduler/jobs", Some(&operator), None).await);
    }
    assert!(statuses[..3].iter().all(|(s, _)| *s == StatusCode::OK), "{statuses:?}");
    let limited = statuses.last().unwrap();
    refused(limited, StatusCode::TOO_MANY_REQUESTS, "too_many_requests", "retry in");
    assert_eq!(limited.1["retry_after_header"], "1");

    // Unauthenticated guessing is limited per address too.
    let mut last = StatusCode::OK;
    for _ in 0..10 {
        last = call(&app, "GET", "/v1/scheduler/jobs", Some("Bearer cst_nope"), None).await.0;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn client_certificates_map_to_roles() {
    let mut settings = AuthSettings::default();
    settings.client_cert_roles.insert("ci-bot".into(), RoleSet::of(Role::Operator));
    let app = app_with(settings, false).await;
    let request = |cn: &str| {
        let mut r = Request::builder().uri("/v1/scheduler/jobs").body(Body::empty()).unwrap();
        r.extensions_mut()
            .insert(ClientCertificate { subject: format!("CN={cn},O=acme"), common_name: Some(cn.to_string()) });
        r
    };
    assert_eq!(send(&app, request("ci-bot")).await.0, StatusCode::OK);
    let got = send(&app, request("stranger")).await;
    refused(&got, StatusCode::FORBIDDEN, "forbidden", "has no role");
}

#[tokio::test]
async fn writes_and_refusals_reach_the_audit_trail_without_secrets() {
    let app = app().await;
    let secret = token_for(&app, "ops", RoleSet::of(Role::Operator), None).await;
    let operator = bearer(&secret);
    call(&app, "PUT", "/v1/scheduler/jobs/g/j", Some(&operator), Some(json!({"kind": "noop", "durable": true}))).await;
    call(&app, "GET", "/v1/scheduler/jobs", Some(&operator), None).await; // a read: not audited
    call(&app, "GET", "/v1/scheduler/jobs", Some("Bearer cst_wrong"), None).await;
    call(&app, "GET", "/v1/tokens", Some(&operator), None).await;

    let mut entries = Vec::new();
    for _ in 0..100 {
        entries = app.store.list_audit(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
        if entries.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let summary: Vec<(String, String, u16, String)> =
        entries.iter().rev().map(|e| (e.principal.clone(), e.path.clone(), e.status, e.outcome.clone())).collect();
    assert_eq!(
        summary,
        [
            ("token:ops".to_string(), "/v1/scheduler/jobs/g/j".to_string(), 200, "ok".to_string()),
            ("anonymous".into(), "/v1/scheduler/jobs".into(), 401, "refused:unknown_token".into()),
            ("token:ops".into(), "/v1/tokens".into(), 403, "refused:forbidden".into()),
        ]
    );
    let all = format!("{entries:?}");
    assert!(!all.contains(&secret) && !all.contains("cst_wrong"), "no credential in the audit trail");
}

#[tokio::test]
async fn auth_off_makes_everyone_admin_only_when_configured() {
    let app = app_with(AuthSettings { required: false, ..AuthSettings::default() }, false).await;
    assert_eq!(call(&app, "GET", "/v1/tokens", None, None).await.0, StatusCode::OK);
}

#[path = "support/oidc_rig.rs"]
mod oidc_rig;

/// A JWT from a real OpenID provider through the whole layer: its `groups` claim gives the
/// role, a tampered one and one for another audience are refused, and the audit trail
/// names the JWT's subject.
#[tokio::test]
async fn jwt_from_a_real_provider_through_the_layer() {
    use consort_auth::{IssuerConfig, OidcVerifier};
    let rig = oidc_rig::Rig::start();
    // reqwest is built without a crypto provider of its own here (consort-auth brings ring).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let jwt = rig.token(&http, "RS256").await;

    let fixed: Timestamp = NOW.parse().unwrap();
    let stores = consort_store::open_all("sqlite::memory:").await.unwrap();
    let scheduler = Arc::new(Scheduler::new(stores.scheduler, Kinds::builtin(), SchedulerConfig::new("test-instance")));
    let verifier = OidcVerifier::new(vec![IssuerConfig::new(rig.issuer(), vec![oidc_rig::AUD.into()])]).unwrap();
    let other_audience =
        OidcVerifier::new(vec![IssuerConfig::new(rig.issuer(), vec!["https://elsewhere".into()])]).unwrap();
    // The real clock: the provider signs with today's time.
    let guard = Guard::new(AuthSettings::default(), stores.auth.clone(), Some(Arc::new(verifier)));
    let mut state = AppState::new(scheduler.clone(), guard);
    state.clock = Arc::new(move || fixed);
    let app = App { router: router(state), store: stores.auth.clone() };

    assert_eq!(call(&app, "GET", "/v1/scheduler/jobs", Some(&bearer(&jwt)), None).await.0, StatusCode::OK);
    let put = call(
        &app,
        "PUT",
        "/v1/scheduler/jobs/g/j",
        Some(&bearer(&jwt)),
        Some(json!({"kind": "noop", "durable": true})),
    )
    .await;
    refused(&put, StatusCode::FORBIDDEN, "forbidden", "needs the operator role");
    let mut tampered = jwt.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    refused(
        &call(&app, "GET", "/v1/scheduler/jobs", Some(&bearer(&tampered)), None).await,
        StatusCode::UNAUTHORIZED,
        "invalid_jwt",
        "",
    );

    let guard = Guard::new(AuthSettings::default(), stores.auth.clone(), Some(Arc::new(other_audience)));
    let app_elsewhere = App { router: router(AppState::new(scheduler, guard)), store: stores.auth.clone() };
    let got = call(&app_elsewhere, "GET", "/v1/scheduler/jobs", Some(&bearer(&jwt)), None).await;
    refused(&got, StatusCode::UNAUTHORIZED, "invalid_jwt", "aud");

    let mut entries = Vec::new();
    for _ in 0..100 {
        entries = app.store.list_audit(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
        if entries.iter().any(|e| e.status == 403) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let forbidden = entries.iter().find(|e| e.status == 403).expect("the refusal is audited");
    assert!(forbidden.principal.starts_with("jwt:"), "{forbidden:?}");
    assert!(!format!("{entries:?}").contains(&jwt), "no JWT in the audit trail");
}
