//! `OidcVerifier` against a real OpenID provider: the certified `oidc-provider` npm package
//! (rigs/oidc, installed by scripts/setup.d/45-oidc-provider.sh) started by this test on
//! 127.0.0.1, issuing JWT access tokens by real `client_credentials` requests. One provider
//! serves every scenario, in order (key rotation restarts it with another key set on the
//! same port); it is killed at the end, or when the test fails.
//!
//! Time: tokens carry the provider's real clock; the verifier's `now` is the real clock
//! plus a skew the test advances to open a new refetch window (10 s) or pass the keys'
//! max age.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use consort_auth::oidc::MIN_REFETCH_INTERVAL_SECS;
use consort_auth::{AuthError, IssuerConfig, Method, OidcVerifier, Principal, Role, RoleSet};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const AUD: &str = "https://consort.test/api";
const OTHER_AUD: &str = "https://elsewhere.test/api";
const TTL_SECS: i64 = 900;
const MAX_AGE_SECS: u64 = 60;
const NBF_OFFSET_SECS: i64 = 600;
const HS_REFUSAL: &str = "(a shared-secret MAC) is never accepted: consort accepts only an issuer's public-key signatures (RS*, PS*, ES256, ES384, EdDSA)";

/// The clients the provider knows: id, alg, claims, nbf offset.
fn clients() -> Value {
    json!([
        {"client_id": "operators", "client_secret": "secret-operators", "alg": "RS256",
         "claims": {"groups": ["consort-operators", "unrelated"]}},
        {"client_id": "admins", "client_secret": "secret-admins", "alg": "PS256", "claims": {"groups": "admin"}},
        {"client_id": "viewers", "client_secret": "secret-viewers", "alg": "ES256", "claims": {"groups": ["viewer"]}},
        {"client_id": "auditors", "client_secret": "secret-auditors", "alg": "ES384", "claims": {"groups": ["viewer"]}},
        {"client_id": "provisioners", "client_secret": "secret-provisioners", "alg": "EdDSA",
         "claims": {"groups": ["provisioner"]}},
        {"client_id": "nobody", "client_secret": "secret-nobody", "alg": "RS256"},
        {"client_id": "early", "client_secret": "secret-early", "alg": "RS256", "nbf_offset_secs": NBF_OFFSET_SECS,
         "claims": {"groups": ["viewer"]}},
    ])
}

/// Where scripts/setup keeps its tools: `$CONSORT_CACHE`, else `~/.cache/consort`.
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

/// The rig's npm dependencies, or a failure saying how to install them.
fn rig_modules() -> PathBuf {
    let modules = tool_cache().join("rigs/oidc/node_modules");
    assert!(
        modules.join("oidc-provider/package.json").is_file(),
        "the OpenID provider rig is not installed ({} is missing): run scripts/setup (45-oidc-provider.sh)",
        modules.display()
    );
    modules
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn node(args: &[&str]) -> String {
    let out = Command::new("node").args(args).current_dir(rig_source()).output().await.expect("node runs");
    assert!(out.status.success(), "node {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A private JWK made by the rig's keygen.
async fn keygen(kind: &str, kid: &str) -> Value {
    serde_json::from_str(&node(&["keygen.mjs", kind, kid]).await).unwrap()
}

/// The real provider, restartable on its port with another key set.
struct Rig {
    dir: PathBuf,
    port: u16,
    modules: PathBuf,
    child: Option<Child>,
    http: reqwest::Client,
}

impl Rig {
    fn new() -> Rig {
        // consort-auth turns on reqwest's rustls without a default crypto provider (its own
        // client is configured with ring); this test's plain client needs one installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let modules = rig_modules();
        let dir = std::env::temp_dir().join(format!("consort-oidc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("clients.json"), clients().to_string()).unwrap();
        Rig { dir, port: free_port(), modules, child: None, http: reqwest::Client::new() }
    }

    fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the provider signing with `keys` (the first key of a type signs).
    async fn start(&mut self, keys: &[&Value]) {
        assert!(self.child.is_none(), "the provider is already running");
        std::fs::write(self.dir.join("keys.json"), json!({ "keys": keys }).to_string()).unwrap();
        let log = self.dir.join("provider.log");
        let mut child = Command::new("node")
            .arg(rig_source().join("server.mjs"))
            .args(["--port", &self.port.to_string()])
            .arg("--keys")
            .arg(self.dir.join("keys.json"))
            .arg("--clients")
            .arg(self.dir.join("clients.json"))
            .args(["--access-token-ttl", &TTL_SECS.to_string()])
            .arg("--node-modules")
            .arg(&self.modules)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.starts_with("oidc rig ready on ") {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(
            matches!(ready, Ok(true)),
            "the OpenID provider did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        self.child = Some(child);
    }

    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }

    /// An access token by a real `client_credentials` request for `resource` (its `aud`).
    async fn token(&self, client: &str, resource: &str) -> String {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("resource", resource)
            .finish();
        let response = self
            .http
            .post(format!("{}/token", self.issuer()))
            .basic_auth(client, Some(format!("secret-{client}")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "token request for {client} answered {status}: {text}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        answer["access_token"].as_str().unwrap().to_string()
    }

    async fn get(&self, path: &str) -> Value {
        let text = self.http.get(format!("{}{path}", self.issuer())).send().await.unwrap().text().await.unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// How often the JWKS was requested since the provider last started.
    async fn jwks_requests(&self) -> u64 {
        self.get("/rig/stats").await["jwks_requests"].as_u64().unwrap()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The verifier's clock: real time plus a skew the test advances.
struct Clock(i64);

impl Clock {
    fn now(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64 + self.0
    }
    /// Moves past the refetch window of every fetch so far.
    fn next_window(&mut self) {
        self.0 += MIN_REFETCH_INTERVAL_SECS + 1;
    }
}

fn config(issuer: &str) -> IssuerConfig {
    let mut c = IssuerConfig::new(issuer, vec![AUD.into()]);
    c.role_map.insert("consort-operators".into(), Role::Operator);
    c.jwks_max_age_secs = MAX_AGE_SECS;
    c
}

/// The principal of client `name`'s tokens: its groups are the `groups` claim the provider
/// adds for it ([`clients`]), whatever roles they grant.
fn principal(name: &str, roles: RoleSet, issuer: &str) -> Principal {
    let clients = clients();
    let client = clients.as_array().unwrap().iter().find(|c| c["client_id"] == name);
    let groups = match client.map(|c| &c["claims"]["groups"]) {
        Some(Value::String(g)) => vec![g.clone()],
        Some(Value::Array(gs)) => gs.iter().map(|g| g.as_str().unwrap().to_string()).collect(),
        _ => Vec::new(),
    };
    Principal { name: name.into(), roles, method: Method::Jwt { issuer: issuer.into() }, groups }
}

fn refusal(result: Result<Principal, AuthError>) -> String {
    match result {
        Err(AuthError::InvalidJwt(reason)) => reason,
        other => panic!("expected InvalidJwt, got {other:?}"),
    }
}

fn unavailable(result: Result<Principal, AuthError>) -> String {
    match result {
        Err(AuthError::Unavailable(reason)) => reason,
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// A token's decoded header and claims.
fn decode(jwt: &str) -> (Value, Value) {
    let mut parts = jwt.split('.');
    let mut part = || serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    (part(), part())
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `header.claims.` signed by `sign`.
fn forge(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

fn hs256(secret: &[u8]) -> impl Fn(&[u8]) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    move |input| ring::hmac::sign(&key, input).as_ref().to_vec()
}

fn instant(secs: i64) -> String {
    format!("{} ({secs})", jiff::Timestamp::from_second(secs).unwrap())
}

fn unknown_kid(kid: &str, issuer: &str, age: i64, kids: &str) -> String {
    format!(
        "the JWT header's kid {kid:?} is not among the signing keys of issuer {issuer:?} (its JWKS, fetched {age} s ago, lists kids {kids}): the key was rotated out, or the token is not from this issuer"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_access_tokens_of_a_real_openid_provider() {
    let started = std::time::Instant::now();
    let mut rig = Rig::new();
    let (a, b, c) = (keygen("rsa", "rsa-a").await, keygen("rsa", "rsa-b").await, keygen("rsa", "rsa-c").await);
    let (e, p, d) = (keygen("ec-p256", "ec-e").await, keygen("ec-p384", "ec-p").await, keygen("ed25519", "ed-d").await);
    let kids_with = |rsa: &[&str]| {
        let mut kids: Vec<String> = rsa.iter().chain(&["ec-e", "ec-p", "ed-d"]).map(|k| format!("{k:?}")).collect();
        kids.sort();
        kids.join(", ")
    };
    rig.start(&[&a, &e, &p, &d]).await;
    let iss = rig.issuer();
    let mut clock = Clock(0);
    let verifier = Arc::new(OidcVerifier::new(vec![config(&iss)]).unwrap());

    // Good tokens of every algorithm; roles from `groups` through the map or by name.
    let operators = rig.token("operators", AUD).await;
    assert_eq!(decode(&operators).0, json!({"alg": "RS256", "typ": "at+jwt", "kid": "rsa-a"}));
    assert_eq!(
        verifier.verify(&operators, clock.now()).await.unwrap(),
        principal("operators", RoleSet::of(Role::Operator), &iss)
    );
    for (client, alg, roles) in [
        ("admins", "PS256", RoleSet::of(Role::Admin)),
        ("viewers", "ES256", RoleSet::of(Role::Viewer)),
        ("auditors", "ES384", RoleSet::of(Role::Viewer)),
        ("provisioners", "EdDSA", RoleSet::of(Role::Provisioner)),
        ("nobody", "RS256", RoleSet::EMPTY),
    ] {
        let token = rig.token(client, AUD).await;
        assert_eq!(decode(&token).0["alg"], alg);
        assert_eq!(verifier.verify(&token, clock.now()).await.unwrap(), principal(client, roles, &iss), "{client}");
    }
    assert_eq!(rig.jwks_requests().await, 1, "the keys are fetched once and cached");
    assert_eq!(verifier.cached_tokens(), 6);

    // A flipped signature byte.
    let (input, signature) = operators.rsplit_once('.').unwrap();
    let mut flipped = URL_SAFE_NO_PAD.decode(signature).unwrap();
    flipped[17] ^= 0x01;
    let tampered = format!("{input}.{}", b64(&flipped));
    assert_eq!(
        refusal(verifier.verify(&tampered, clock.now()).await),
        format!(
            "the signature does not verify with issuer {iss:?}'s key kid \"rsa-a\" (RS256): the token was altered or signed by another key"
        )
    );

    // `alg: none` over the provider's own claims, with and without a signature.
    let (header, claims) = decode(&operators);
    let mut none = header.clone();
    none["alg"] = json!("none");
    for unsigned in [forge(&none, &claims, |_| Vec::new()), forge(&none, &claims, |_| flipped.clone())] {
        assert_eq!(
            refusal(verifier.verify(&unsigned, clock.now()).await),
            "the JWT header's alg \"none\" (an unsigned token) is never accepted"
        );
    }

    // HS256 "signed" with the provider's public RSA key, in every form a forger would try.
    let jwks = rig.get("/jwks").await;
    let public = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == "rsa-a").unwrap().clone();
    let forms: Value = serde_json::from_str(&node(&["keygen.mjs", "public-forms", &public.to_string()]).await).unwrap();
    let mut secrets: Vec<Vec<u8>> = ["spki_pem", "pkcs1_pem"]
        .iter()
        .flat_map(|f| {
            let pem = forms[f].as_str().unwrap().to_string();
            [pem.clone().into_bytes(), pem.trim_end().as_bytes().to_vec()]
        })
        .collect();
    secrets.push(STANDARD.decode(forms["spki_der"].as_str().unwrap()).unwrap());
    secrets.push(STANDARD.decode(forms["pkcs1_der"].as_str().unwrap()).unwrap());
    secrets.push(URL_SAFE_NO_PAD.decode(public["n"].as_str().unwrap()).unwrap());
    secrets.push(public.to_string().into_bytes());
    let mut hs = header.clone();
    hs["alg"] = json!("HS256");
    for secret in &secrets {
        let forged = forge(&hs, &claims, hs256(secret));
        assert_eq!(
            refusal(verifier.verify(&forged, clock.now()).await),
            format!("the JWT header's alg \"HS256\" {HS_REFUSAL}")
        );
    }
    let mut hs512 = header.clone();
    hs512["alg"] = json!("HS512");
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA512, &secrets[0]);
    let forged = forge(&hs512, &claims, |m| ring::hmac::sign(&key, m).as_ref().to_vec());
    assert_eq!(
        refusal(verifier.verify(&forged, clock.now()).await),
        format!("the JWT header's alg \"HS512\" {HS_REFUSAL}")
    );

    // The wrong issuer: a verifier trusting another one refuses the provider's token…
    let elsewhere = OidcVerifier::new(vec![config("https://login.example.com")]).unwrap();
    assert_eq!(
        refusal(elsewhere.verify(&operators, clock.now()).await),
        format!(
            "issuer {iss:?} is not configured; configured issuers: \"https://login.example.com\" (the `iss` claim must equal one exactly)"
        )
    );
    // …a token naming the trusted issuer but signed by another key under its kid is refused…
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let stranger = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let forged = forge(&json!({"alg": "EdDSA", "kid": "ed-d"}), &claims, |m| stranger.sign(m).as_ref().to_vec());
    assert_eq!(
        refusal(verifier.verify(&forged, clock.now()).await),
        format!(
            "the signature does not verify with issuer {iss:?}'s key kid \"ed-d\" (EdDSA): the token was altered or signed by another key"
        )
    );
    // …and so is a token whose `iss` was rewritten.
    let mut rewritten = claims.clone();
    rewritten["iss"] = json!(format!("http://localhost:{}", rig.port));
    let moved = format!("{}.{}.{signature}", input.split('.').next().unwrap(), b64(rewritten.to_string().as_bytes()));
    assert!(refusal(verifier.verify(&moved, clock.now()).await).starts_with("issuer \"http://localhost:"));
    // An issuer configured under another name than the provider's own is refused at discovery.
    let aliased = OidcVerifier::new(vec![config(&format!("http://localhost:{}", rig.port))]).unwrap();
    let discovery = format!("http://localhost:{}/.well-known/openid-configuration", rig.port);
    assert_eq!(
        unavailable(aliased.verify(&moved, clock.now()).await),
        format!(
            "the discovery document at {discovery} names issuer {iss:?}, not the configured \"http://localhost:{}\": configure the issuer exactly as the provider names itself",
            rig.port
        )
    );

    // The wrong audience: a token the provider issued for another resource.
    let other = rig.token("operators", OTHER_AUD).await;
    assert_eq!(decode(&other).1["aud"], OTHER_AUD);
    assert_eq!(
        refusal(verifier.verify(&other, clock.now()).await),
        format!(
            "the JWT's `aud` ({OTHER_AUD:?}) names none of the configured audiences ({AUD:?}): request the token for one of them (the token request's resource or audience parameter)"
        )
    );

    // Expiry with the 30 s leeway, also for a token served from the cache. (A verifier of its
    // own: jumping the clock ahead and back would make the main one fetch keys again.)
    let traveller = OidcVerifier::new(vec![config(&iss)]).unwrap();
    let exp = claims["exp"].as_i64().unwrap();
    assert!(traveller.verify(&operators, exp + 30).await.is_ok());
    assert_eq!(
        refusal(traveller.verify(&operators, exp + 31).await),
        format!(
            "the JWT expired at {}; now is {}, past the 30 s leeway: get a new token",
            instant(exp),
            instant(exp + 31)
        )
    );

    // Not before: the provider stamps `nbf` ten minutes after `iat` (the token lasts 15).
    let early = rig.token("early", AUD).await;
    let nbf = decode(&early).1["nbf"].as_i64().unwrap();
    let now = clock.now();
    assert_eq!(nbf, decode(&early).1["iat"].as_i64().unwrap() + NBF_OFFSET_SECS);
    assert_eq!(
        refusal(verifier.verify(&early, now).await),
        format!(
            "the JWT is not valid before {}; now is {}, earlier even with the 30 s leeway: check the issuer's and this server's clocks",
            instant(nbf),
            instant(now)
        )
    );
    assert_eq!(traveller.verify(&early, nbf - 30).await.unwrap(), principal("early", RoleSet::of(Role::Viewer), &iss));

    // Rotation in: B signs, A is still published. B's first token is an unknown kid, which
    // fetches the keys again; A's tokens stay good.
    let token_a = rig.token("operators", AUD).await;
    assert!(verifier.verify(&token_a, clock.now()).await.is_ok());
    rig.stop().await;
    rig.start(&[&b, &a, &e, &p, &d]).await;
    clock.next_window();
    let token_b = rig.token("operators", AUD).await;
    assert_eq!(decode(&token_b).0["kid"], "rsa-b");
    // The first caller gives up while the keys are being fetched (as a handler does when its
    // client disconnects); the fetch completes anyway and the next caller gets its result.
    let now = clock.now();
    let gave_up = tokio::time::timeout(Duration::ZERO, verifier.verify(&token_b, now)).await;
    assert!(gave_up.is_err(), "the fetch cannot be over before the first poll returns");
    assert_eq!(
        verifier.verify(&token_b, now).await.unwrap(),
        principal("operators", RoleSet::of(Role::Operator), &iss)
    );
    assert_eq!(rig.jwks_requests().await, 1, "one refetch for the new kid");
    assert!(verifier.verify(&token_a, clock.now()).await.is_ok());

    // Rotation out: C replaces A and B. Until the verifier reads the keys again it cannot
    // know, so A's token (cached) still passes; the first token of C makes it read them,
    // and from then on A's and B's tokens are refused, cached or not.
    rig.stop().await;
    rig.start(&[&c, &e, &p, &d]).await;
    clock.next_window();
    let now = clock.now();
    assert!(verifier.verify(&token_a, now).await.is_ok(), "withdrawn but not yet refetched");
    let token_c = rig.token("operators", AUD).await;
    assert_eq!(decode(&token_c).0["kid"], "rsa-c");
    let cached_before = verifier.cached_tokens();
    assert!(verifier.verify(&token_c, now).await.is_ok());
    assert!(verifier.cached_tokens() < cached_before, "tokens of withdrawn keys left the cache");
    let kids = kids_with(&["rsa-c"]);
    assert_eq!(refusal(verifier.verify(&token_a, now).await), unknown_kid("rsa-a", &iss, 0, &kids));
    assert_eq!(refusal(verifier.verify(&token_b, now).await), unknown_kid("rsa-b", &iss, 0, &kids));

    // Withdrawal without a new key: C goes, nothing replaces it. C's token stays cached until
    // the keys reach their max age; then they are read again and C's token is refused.
    rig.stop().await;
    rig.start(&[&e, &p, &d, &a]).await;
    clock.next_window();
    assert!(verifier.verify(&token_c, clock.now()).await.is_ok(), "keys younger than their max age");
    assert_eq!(rig.jwks_requests().await, 0);
    clock.0 += MAX_AGE_SECS as i64;
    assert_eq!(
        refusal(verifier.verify(&token_c, clock.now()).await),
        unknown_kid("rsa-c", &iss, 0, &kids_with(&["rsa-a"]))
    );
    assert_eq!(rig.jwks_requests().await, 1);

    // A flood of made-up kids (claims fine, signature garbage), all at once: one refetch per
    // window, however many tokens; a good token still passes meanwhile.
    clock.next_window();
    let now = clock.now();
    let fakes: Vec<String> = (0..64)
        .map(|i| forge(&json!({"alg": "RS256", "kid": format!("flood-{i}")}), &claims, |_| vec![7u8; 256]))
        .collect();
    let mut flood = tokio::task::JoinSet::new();
    for fake in fakes.clone() {
        let verifier = verifier.clone();
        flood.spawn(async move { verifier.verify(&fake, now).await });
    }
    while let Some(result) = flood.join_next().await {
        assert!(refusal(result.unwrap()).starts_with("the JWT header's kid \"flood-"));
    }
    assert_eq!(rig.jwks_requests().await, 2, "one refetch for the whole flood");
    let fresh = rig.token("viewers", AUD).await;
    assert!(verifier.verify(&fresh, now + 5).await.is_ok());
    for fake in &fakes {
        assert!(verifier.verify(fake, now + MIN_REFETCH_INTERVAL_SECS - 1).await.is_err());
    }
    assert_eq!(rig.jwks_requests().await, 2, "still inside the window");
    for fake in &fakes {
        assert!(verifier.verify(fake, now + MIN_REFETCH_INTERVAL_SECS).await.is_err());
    }
    assert_eq!(rig.jwks_requests().await, 3, "one more in the next window");

    // The issuer goes down. Known keys keep working; an unknown kid, or a verifier that never
    // read the keys, cannot be answered: Unavailable, which names the cause.
    let late = rig.token("provisioners", AUD).await;
    rig.stop().await;
    clock.0 += 2 * MIN_REFETCH_INTERVAL_SECS + 1; // past the flood's second window
    assert_eq!(
        verifier.verify(&late, clock.now()).await.unwrap(),
        principal("provisioners", RoleSet::of(Role::Provisioner), &iss)
    );
    let down = unavailable(verifier.verify(&fakes[0], clock.now()).await);
    assert!(down.starts_with(&format!("OpenID issuer {iss:?} could not be reached at {iss}/jwks: ")), "{down}");
    assert!(down.contains("Connection refused"), "{down}");
    eprintln!("with the issuer down: {}", AuthError::Unavailable(down.clone()));
    let newcomer = OidcVerifier::new(vec![config(&iss)]).unwrap();
    let down = unavailable(newcomer.verify(&late, clock.now()).await);
    assert!(
        down.starts_with(&format!(
            "OpenID issuer {iss:?} could not be reached at {iss}/.well-known/openid-configuration: "
        )),
        "{down}"
    );
    // Asked again within the window, it answers from the last attempt.
    assert_eq!(unavailable(newcomer.verify(&late, clock.now()).await), down);

    eprintln!("OIDC scenarios against oidc-provider took {:.1} s", started.elapsed().as_secs_f64());
}
