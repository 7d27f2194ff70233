//! What authentication adds to a request (issue "secure by default"): requests/s and
//! p50/p99 latency of `GET /v1/scheduler/jobs` with an API token and with a JWT, beside
//! the same request with authentication off, in one run.
//!
//! Three routers over one in-memory SQLite store: auth off (`required: false`), an API
//! token (a `viewer` token in the store), and a JWT (an `OidcVerifier` for the real
//! `oidc-provider` rig started here, one RS256 access token fetched by
//! `client_credentials`). Rate limits are raised out of the way. Each router is driven
//! in-process with `oneshot` (no socket: the layer's cost without the network's), one
//! request at a time, in interleaved rounds (off, token, jwt, off, ...) so machine noise
//! hits every arm alike; then the same through `consort_server::serve` on 127.0.0.1 with
//! one keep-alive HTTP/1.1 connection per arm. Latency is request built → response body
//! read; req/s is one sequential client's (1 / mean latency).
//!
//! The JWT arm's first request (discovery + JWKS fetch + signature) is reported apart, and
//! so is the first request of fresh tokens once keys are cached (the signature check,
//! per algorithm): after that a token costs a hash and a cache lookup.
//!
//! `scripts/bench auth`; `CONSORT_BENCH_ROUNDS` (20), `CONSORT_BENCH_REQUESTS` (2000 per
//! arm per round), `CONSORT_BENCH_SOCKET_REQUESTS` (1000 per arm per
//! round, half as many rounds), `CONSORT_BENCH_FRESH_JWTS` (10
//! per algorithm) size it. Ends with one `auth: …` line.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use consort_auth::{IssuerConfig, NewToken, OidcVerifier, Role, RoleSet, token};
use consort_scheduler::{Kinds, Scheduler, SchedulerConfig};
use consort_server::auth::{AuthSettings, Guard, JwtVerifier};
use consort_server::{AppState, ListenerSettings, router};
use http_body_util::BodyExt;
use tower::ServiceExt;

const URI: &str = "/v1/scheduler/jobs";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[path = "../tests/support/oidc_rig.rs"]
mod oidc_rig;
use oidc_rig::{ALGS, AUD, Rig};

// ---- the arms ----

struct Arm {
    name: &'static str,
    router: Router,
    authorization: Option<HeaderValue>,
    /// Nanoseconds per request, over every timed round.
    ns: Vec<u64>,
}

fn request(authorization: Option<&HeaderValue>) -> Request<Body> {
    let mut request = Request::get(URI);
    if let Some(a) = authorization {
        request = request.header(header::AUTHORIZATION, a.clone());
    }
    request.body(Body::empty()).unwrap()
}

/// One request through the router in-process; its latency in ns.
async fn once(router: &Router, authorization: Option<&HeaderValue>) -> u64 {
    let started = Instant::now();
    let response = router.clone().oneshot(request(authorization)).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let ns = started.elapsed().as_nanos() as u64;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    ns
}

struct Stats {
    n: usize,
    p50: f64,
    p99: f64,
    mean: f64,
}

/// µs figures of a sample of ns.
fn stats(ns: &[u64]) -> Stats {
    let mut sorted = ns.to_vec();
    sorted.sort_unstable();
    let at = |p: f64| sorted[((sorted.len() as f64 - 1.0) * p).round() as usize] as f64 / 1e3;
    let mean = sorted.iter().sum::<u64>() as f64 / sorted.len() as f64 / 1e3;
    Stats { n: sorted.len(), p50: at(0.5), p99: at(0.99), mean }
}

fn settings(required: bool) -> AuthSettings {
    AuthSettings { required, rate_per_sec: u32::MAX, rate_burst: u32::MAX, ..AuthSettings::default() }
}

fn app(
    stores: &consort_store::Stores,
    scheduler: &Arc<Scheduler>,
    s: AuthSettings,
    jwt: Option<Arc<dyn JwtVerifier>>,
) -> Router {
    let guard = Guard::new(s, stores.auth.clone(), jwt);
    router(AppState::new(scheduler.clone(), guard))
}

/// A keep-alive HTTP/1.1 connection to a real `serve` of `router`.
async fn socket_client(router: Router) -> hyper::client::conn::http1::SendRequest<Body> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(consort_server::serve(listener, router, ListenerSettings::default(), std::future::pending()));
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    sender
}

async fn once_socket(
    sender: &mut hyper::client::conn::http1::SendRequest<Body>,
    authorization: Option<&HeaderValue>,
) -> u64 {
    let started = Instant::now();
    let mut req = request(authorization);
    req.headers_mut().insert(header::HOST, HeaderValue::from_static("127.0.0.1"));
    sender.ready().await.unwrap();
    let response = sender.send_request(req).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let ns = started.elapsed().as_nanos() as u64;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    ns
}

fn row(table: &mut Vec<String>, arm: &str, s: &Stats, off_p50: Option<f64>) {
    let added = off_p50.map_or("—".to_string(), |o| format!("{:+.1}", s.p50 - o));
    table.push(format!(
        "| {arm} | {} | {:.1} | {:.1} | {:.1} | {:.0} | {added} |",
        s.n,
        s.p50,
        s.p99,
        s.mean,
        1e6 / s.mean
    ));
}

fn main() {
    // consort-auth turns on reqwest's rustls without a default crypto provider; the token
    // client here needs one (the provider is plain http, but the client builds a config).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rounds = env_usize("CONSORT_BENCH_ROUNDS", 20);
    let per_round = env_usize("CONSORT_BENCH_REQUESTS", 2000);
    let socket_requests = env_usize("CONSORT_BENCH_SOCKET_REQUESTS", 1000);
    let fresh = env_usize("CONSORT_BENCH_FRESH_JWTS", 10);

    eprintln!("auth bench: starting the OpenID provider (rigs/oidc)");
    let rig = Rig::start();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let stores = consort_store::open_all("sqlite::memory:").await.unwrap();
        let scheduler =
            Arc::new(Scheduler::new(stores.scheduler.clone(), Kinds::builtin(), SchedulerConfig::new("bench")));

        let g = token::generate().unwrap();
        stores
            .auth
            .create_token(NewToken {
                id: g.id,
                hash: g.hash,
                name: "bench".into(),
                roles: RoleSet::of(Role::Viewer),
                created_ms: jiff::Timestamp::now().as_millisecond(),
                expires_ms: None,
            })
            .await
            .unwrap();
        let verifier: Arc<dyn JwtVerifier> =
            Arc::new(OidcVerifier::new(vec![IssuerConfig::new(rig.issuer(), vec![AUD.into()])]).unwrap());
        let jwt = rig.token(&http, "RS256").await;
        let bearer = |t: &str| Some(HeaderValue::from_str(&format!("Bearer {t}")).unwrap());

        let mut arms = [
            Arm { name: "off", router: app(&stores, &scheduler, settings(false), None), authorization: None, ns: vec![] },
            Arm {
                name: "token",
                router: app(&stores, &scheduler, settings(true), None),
                authorization: bearer(&g.secret),
                ns: vec![],
            },
            Arm {
                name: "jwt",
                router: app(&stores, &scheduler, settings(true), Some(verifier.clone())),
                authorization: bearer(&jwt),
                ns: vec![],
            },
        ];

        // Cold: the first request of each arm (the JWT's fetches discovery and the JWKS).
        let cold: Vec<u64> = {
            let mut v = Vec::new();
            for arm in &arms {
                v.push(once(&arm.router, arm.authorization.as_ref()).await);
            }
            v
        };
        // Fresh tokens, fetched now, first sent after the warm rounds (keys cached).
        let mut fresh_tokens = Vec::new();
        for (alg, _) in ALGS {
            for _ in 0..fresh {
                fresh_tokens.push((alg, rig.token(&http, alg).await));
            }
        }

        eprintln!("auth bench: in-process, {rounds} rounds × {per_round} requests per arm, interleaved");
        for round in 0..=rounds {
            for arm in arms.iter_mut() {
                for _ in 0..per_round {
                    let ns = once(&arm.router, arm.authorization.as_ref()).await;
                    if round > 0 {
                        arm.ns.push(ns); // round 0 warms up
                    }
                }
            }
        }

        // A new token's first request, with keys cached: the signature check, per algorithm.
        let mut fresh_rows: Vec<(&str, Vec<u64>)> = ALGS.iter().map(|(alg, _)| (*alg, Vec::new())).collect();
        for (alg, t) in &fresh_tokens {
            let ns = once(&arms[2].router, bearer(t).as_ref()).await;
            fresh_rows.iter_mut().find(|(a, _)| a == alg).unwrap().1.push(ns);
            for arm in &arms {
                once(&arm.router, arm.authorization.as_ref()).await; // back to the warm path
            }
        }


        let mut socket: Vec<(&str, _, Option<HeaderValue>, Vec<u64>)> = Vec::new();
        for arm in &arms {
            socket.push((arm.name, socket_client(arm.router.clone()).await, arm.authorization.clone(), Vec::new()));
        }
        let socket_rounds = rounds.div_ceil(2).max(1);
        eprintln!("auth bench: through a socket, {socket_rounds} rounds × {socket_requests} requests per arm");
        for round in 0..=socket_rounds {
            for (_, sender, authorization, ns) in socket.iter_mut() {
                for _ in 0..socket_requests {
                    let t = once_socket(sender, authorization.as_ref()).await;
                    if round > 0 {
                        ns.push(t);
                    }
                }
            }
        }

        let s: Vec<Stats> = arms.iter().map(|a| stats(&a.ns)).collect();
        let so: Vec<Stats> = socket.iter().map(|a| stats(&a.3)).collect();
        let mut table = vec![
            format!("GET {URI} (empty job list), one sequential client; µs; added = p50 − off's p50"),
            String::new(),
            "| arm | requests | p50 µs | p99 µs | mean µs | req/s | added p50 µs |".into(),
            "|---|---|---|---|---|---|---|".into(),
        ];
        for (i, arm) in arms.iter().enumerate() {
            row(&mut table, &format!("in-process, {}", arm.name), &s[i], (i > 0).then_some(s[0].p50));
        }
        for (i, arm) in socket.iter().enumerate() {
            row(&mut table, &format!("socket (keep-alive), {}", arm.0), &so[i], (i > 0).then_some(so[0].p50));
        }
        for (alg, ns) in &fresh_rows {
            row(&mut table, &format!("in-process, jwt: a new {alg} token's first request (keys cached)"), &stats(ns), Some(s[0].p50));
        }
        for (arm, ns) in arms.iter().zip(&cold) {
            table.push(format!("| in-process, {}: the router's first request | 1 | {:.1} | | | | |", arm.name, *ns as f64 / 1e3));
        }
        println!("{}", table.join("\n"));
        println!();
        println!(
            "auth: off_p50_us={:.1} token_p50_us={:.1} jwt_p50_us={:.1} token_added_p50_us={:.1} jwt_added_p50_us={:.1} off_rps={:.0} token_rps={:.0} jwt_rps={:.0} jwt_first_request_us={:.0}",
            s[0].p50,
            s[1].p50,
            s[2].p50,
            s[1].p50 - s[0].p50,
            s[2].p50 - s[0].p50,
            1e6 / s[0].mean,
            1e6 / s[1].mean,
            1e6 / s[2].mean,
            cold[2] as f64 / 1e3,
        );
    });
    drop(rig);
}
