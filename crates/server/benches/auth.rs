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

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
use serde_json::{Value, json};
use tower::ServiceExt;

const URI: &str = "/v1/scheduler/jobs";
const AUD: &str = "https://consort.test/api";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

// ---- the OpenID provider rig (the minimal part of crates/auth/tests/oidc.rs) ----

/// Signing algorithms of the clients the rig knows (`c-rs256` …), all `viewer`s.
const ALGS: [(&str, &str); 4] = [("RS256", "rsa"), ("PS256", "rsa"), ("ES256", "ec-p256"), ("EdDSA", "ed25519")];

fn client_id(alg: &str) -> String {
    format!("c-{}", alg.to_ascii_lowercase())
}

fn tool_cache() -> PathBuf {
    std::env::var_os("CONSORT_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/consort")))
        .expect("neither CONSORT_CACHE nor HOME is set")
}

fn rig_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rigs/oidc")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A private JWK made by the rig's keygen.
fn keygen(kind: &str, kid: &str) -> Value {
    let out =
        Command::new("node").args(["keygen.mjs", kind, kid]).current_dir(rig_source()).output().expect("node runs");
    assert!(out.status.success(), "keygen failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The real provider on 127.0.0.1, killed when dropped.
struct Rig {
    dir: PathBuf,
    port: u16,
    child: Child,
}

impl Rig {
    fn start() -> Rig {
        let modules = tool_cache().join("rigs/oidc/node_modules");
        assert!(
            modules.join("oidc-provider/package.json").is_file(),
            "the OpenID provider rig is not installed ({} is missing): run scripts/setup (45-oidc-provider.sh)",
            modules.display()
        );
        let dir = std::env::temp_dir().join(format!("consort-bench-oidc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let keys = [keygen("rsa", "rsa-a"), keygen("ec-p256", "ec-e"), keygen("ed25519", "ed-d")];
        std::fs::write(dir.join("keys.json"), json!({ "keys": keys }).to_string()).unwrap();
        let clients: Vec<Value> = ALGS
            .iter()
            .map(|(alg, _)| {
                json!({"client_id": client_id(alg), "client_secret": format!("secret-{}", client_id(alg)),
                       "alg": alg, "claims": {"groups": ["viewer"]}})
            })
            .collect();
        std::fs::write(dir.join("clients.json"), Value::from(clients).to_string()).unwrap();
        let port = free_port();
        let log = dir.join("provider.log");
        let mut child = Command::new("node")
            .arg(rig_source().join("server.mjs"))
            .args(["--port", &port.to_string()])
            .arg("--keys")
            .arg(dir.join("keys.json"))
            .arg("--clients")
            .arg(dir.join("clients.json"))
            .args(["--access-token-ttl", "3600"])
            .arg("--node-modules")
            .arg(&modules)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().unwrap();
        let ready = BufReader::new(stdout).lines().map_while(Result::ok).any(|l| l.starts_with("oidc rig ready on "));
        let rig = Rig { dir, port, child };
        assert!(ready, "the OpenID provider did not start:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        rig
    }

    fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An access token for `alg`'s client by a real `client_credentials` request.
    async fn token(&self, http: &reqwest::Client, alg: &str) -> String {
        let client = client_id(alg);
        let response = http
            .post(format!("{}/token", self.issuer()))
            .basic_auth(&client, Some(format!("secret-{client}")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&resource=https%3A%2F%2Fconsort.test%2Fapi")
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "token request for {client} answered {status}: {text}");
        serde_json::from_str::<Value>(&text).unwrap()["access_token"].as_str().unwrap().to_string()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

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
