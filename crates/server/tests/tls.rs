//! The listener over real sockets: TLS, mutual TLS, the request-head limit, slow
//! clients and graceful shutdown. Certificates are made by the test (`rcgen`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::routing::get;
use axum::{Json, body::Body};
use consort_server::{ClientCertificate, ListenerSettings, TlsError, TlsSettings, load_tls};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, oneshot};
use tokio_rustls::TlsConnector;

// ---------------------------------------------------------------- certificates

/// A CA that signs the server's certificate and a client's, and a second CA
/// (a stranger) with a client certificate of its own; PEM files in a temp dir.
struct Pki {
    dir: PathBuf,
    ca_pem: String,
    client: Identity,
    stranger: Identity,
}

struct Identity {
    cert_pem: String,
    key_pem: String,
}

fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), Issuer::new(params, key))
}

fn leaf(issuer: &Issuer<'static, KeyPair>, sans: &[&str], dn: &[(DnType, &str)]) -> Identity {
    let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    for (kind, value) in dn {
        params.distinguished_name.push(kind.clone(), *value);
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    Identity { cert_pem: cert.pem(), key_pem: key.serialize_pem() }
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("consort-tls-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ca_pem, issuer) = ca("consort test CA");
        let server = leaf(&issuer, &["localhost"], &[(DnType::CommonName, "localhost")]);
        // Encoded O then CN, so RFC 4514 (most specific first) reads CN=ops,O=acme.
        let client = leaf(&issuer, &[], &[(DnType::OrganizationName, "acme"), (DnType::CommonName, "ops")]);
        let (_, other) = ca("someone else's CA");
        let stranger = leaf(&other, &[], &[(DnType::CommonName, "ops")]);
        std::fs::write(dir.join("ca.pem"), &ca_pem).unwrap();
        std::fs::write(dir.join("server.pem"), &server.cert_pem).unwrap();
        std::fs::write(dir.join("server.key"), &server.key_pem).unwrap();
        std::fs::write(dir.join("client.key"), &client.key_pem).unwrap();
        Pki { dir, ca_pem, client, stranger }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    fn tls(&self, client_ca: bool, client_cert_required: bool) -> TlsSettings {
        TlsSettings {
            cert_path: self.path("server.pem"),
            key_path: self.path("server.key"),
            client_ca_path: client_ca.then(|| self.path("ca.pem")),
            client_cert_required,
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------- server

/// Lets the test hold `/slow` open: the handler says it started, then waits.
#[derive(Default)]
struct Gate {
    started: Notify,
    release: Notify,
}

fn test_router(gate: Arc<Gate>) -> Router {
    Router::new().route("/whoami", get(whoami)).route("/slow", get(slow)).with_state(gate)
}

/// Echoes what the listener attached to the request.
async fn whoami(ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request) -> Json<Value> {
    let cert = request.extensions().get::<ClientCertificate>();
    Json(json!({
        "peer": peer.to_string(),
        "version": format!("{:?}", request.version()),
        "subject": cert.map(|c| c.subject.clone()),
        "common_name": cert.and_then(|c| c.common_name.clone()),
    }))
}

async fn slow(State(gate): State<Arc<Gate>>) -> Json<Value> {
    gate.started.notify_one();
    gate.release.notified().await;
    Json(json!({"done": true}))
}

struct Server {
    addr: SocketAddr,
    gate: Arc<Gate>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(settings: ListenerSettings) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gate = Arc::new(Gate::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(consort_server::serve(listener, test_router(gate.clone()), settings, async {
        let _ = stopped.await;
    }));
    Server { addr, gate, stop: Some(stop), task }
}

impl Server {
    async fn shut_down(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        within(self.task).await.unwrap().unwrap();
    }
}

fn tls_settings(tls: TlsSettings) -> ListenerSettings {
    ListenerSettings { tls: Some(tls), ..ListenerSettings::default() }
}

// ---------------------------------------------------------------- clients

/// Bounds a step that must finish, so a regression fails instead of hanging.
async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), future).await.expect("step did not finish within 20 s")
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

fn client_config(ca_pem: &str, identity: Option<&Identity>, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(id) => {
            let certs = CertificateDer::pem_slice_iter(id.cert_pem.as_bytes()).map(Result::unwrap).collect();
            let key = PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// What a GET answered: status and JSON body, the client's own address, or why it failed.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
    local: SocketAddr,
}

async fn https_get(
    addr: SocketAddr,
    ca_pem: &str,
    identity: Option<&Identity>,
    h2: bool,
    path: &str,
) -> Result<Answer, String> {
    let alpn: &[&[u8]] = if h2 { &[b"h2"] } else { &[b"http/1.1"] };
    let tcp = TcpStream::connect(addr).await.unwrap();
    let local = tcp.local_addr().unwrap();
    let connector = TlsConnector::from(client_config(ca_pem, identity, alpn));
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| format!("handshake: {}", chain(&e)))?;
    let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    assert_eq!(negotiated.as_deref(), Some(alpn[0]), "ALPN");
    http_get(tls, h2, path, local).await
}

async fn http_get<S>(io: S, h2: bool, path: &str, local: SocketAddr) -> Result<Answer, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let uri = if h2 { format!("https://localhost{path}") } else { path.to_string() };
    let request = hyper::Request::get(uri).header("host", "localhost").body(Body::empty()).unwrap();
    let response = if h2 {
        let (mut sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| format!("h2 handshake: {}", chain(&e)))?;
        tokio::spawn(connection);
        sender.send_request(request).await
    } else {
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(io).await.map_err(|e| format!("h1 handshake: {}", chain(&e)))?;
        tokio::spawn(connection);
        sender.send_request(request).await
    };
    let response = response.map_err(|e| format!("request: {}", chain(&e)))?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.map_err(|e| format!("body: {}", chain(&e)))?.to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok(Answer { status, body, local })
}

async fn plain_get(addr: SocketAddr, path: &str) -> Result<Answer, String> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let local = tcp.local_addr().unwrap();
    http_get(tcp, false, path, local).await
}

/// Writes `bytes` on a raw connection and reads until the server closes it;
/// returns what was read and how reading ended (`None`: a clean close).
async fn raw_exchange(stream: &mut TcpStream, bytes: &[u8]) -> (String, Option<std::io::Error>) {
    let _ = stream.write_all(bytes).await;
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => return (String::from_utf8_lossy(&reply).into_owned(), None),
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e) => return (String::from_utf8_lossy(&reply).into_owned(), Some(e)),
        }
    }
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn tls_serves_https_h1_and_h2_and_refuses_plain_http() {
    let pki = Pki::new("https");
    let settings =
        ListenerSettings { tls_handshake_timeout: Duration::from_secs(1), ..tls_settings(pki.tls(false, false)) };
    let server = start(settings).await;

    // A client that never starts its handshake holds no one up, and is dropped.
    let mut stalled = TcpStream::connect(server.addr).await.unwrap();

    for h2 in [false, true] {
        let answer = within(https_get(server.addr, &pki.ca_pem, None, h2, "/whoami")).await.unwrap();
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.body["peer"], answer.local.to_string(), "ConnectInfo is the peer's address");
        assert_eq!(answer.body["version"], if h2 { "HTTP/2.0" } else { "HTTP/1.1" });
        assert_eq!(answer.body["subject"], Value::Null, "no client CA, no client certificate");
    }

    let (reply, _) = within(raw_exchange(&mut stalled, b"")).await;
    assert_eq!(reply, "", "the stalled handshake is closed after tls_handshake_timeout");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = within(plain_get(server.addr, "/whoami")).await;
    assert!(plain.is_err(), "{plain:?}");
    let mut raw = TcpStream::connect(server.addr).await.unwrap();
    let (reply, _) = within(raw_exchange(&mut raw, b"GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n")).await;
    assert!(!reply.starts_with("HTTP/"), "{reply}");

    // A client that does not trust the server's CA refuses it.
    let stranger_ca = ca("not the server's CA").0;
    let distrust = within(https_get(server.addr, &stranger_ca, None, false, "/whoami")).await;
    assert!(distrust.unwrap_err().contains("UnknownIssuer"));

    server.shut_down().await;
}

#[tokio::test]
async fn mutual_tls_required_refuses_clients_without_a_valid_certificate() {
    let pki = Pki::new("mtls-required");
    let server = start(tls_settings(pki.tls(true, true))).await;

    let anonymous = within(https_get(server.addr, &pki.ca_pem, None, false, "/whoami")).await;
    let error = anonymous.expect_err("no client certificate");
    assert!(error.contains("CertificateRequired"), "{error}");

    let stranger = within(https_get(server.addr, &pki.ca_pem, Some(&pki.stranger), false, "/whoami")).await;
    let error = stranger.expect_err("certificate from another CA");
    assert!(error.contains("UnknownCA") || error.contains("BadCertificate"), "{error}");

    for h2 in [false, true] {
        let answer = within(https_get(server.addr, &pki.ca_pem, Some(&pki.client), h2, "/whoami")).await.unwrap();
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.body["subject"], "CN=ops,O=acme");
        assert_eq!(answer.body["common_name"], "ops");
        assert_eq!(answer.body["peer"], answer.local.to_string());
    }
    server.shut_down().await;
}

#[tokio::test]
async fn mutual_tls_optional_admits_anonymous_clients_without_the_extension() {
    let pki = Pki::new("mtls-optional");
    let server = start(tls_settings(pki.tls(true, false))).await;

    let anonymous = within(https_get(server.addr, &pki.ca_pem, None, false, "/whoami")).await.unwrap();
    assert_eq!(anonymous.status, 200);
    assert_eq!(anonymous.body["subject"], Value::Null);
    assert_eq!(anonymous.body["common_name"], Value::Null);

    let client = within(https_get(server.addr, &pki.ca_pem, Some(&pki.client), false, "/whoami")).await.unwrap();
    assert_eq!(client.body["subject"], "CN=ops,O=acme");

    // Optional is not "anything goes": a certificate that does not verify is refused.
    let stranger = within(https_get(server.addr, &pki.ca_pem, Some(&pki.stranger), false, "/whoami")).await;
    assert!(stranger.is_err(), "{stranger:?}");
    server.shut_down().await;
}

#[tokio::test]
async fn load_tls_errors_name_the_file_and_the_fix() {
    let pki = Pki::new("errors");
    std::fs::write(pki.path("other.key"), KeyPair::generate().unwrap().serialize_pem()).unwrap();
    std::fs::write(pki.path("empty-ca.pem"), "").unwrap();
    let good = pki.tls(true, true);
    assert!(load_tls(&good).is_ok());

    let message = |settings: TlsSettings| -> (TlsError, String) {
        let error = load_tls(&settings).expect_err("must fail");
        let text = error.to_string();
        (error, text)
    };
    let shown = |path: &Path| path.display().to_string();

    let missing = pki.path("nope.pem");
    let (error, text) = message(TlsSettings { cert_path: missing.clone(), ..good.clone() });
    assert!(matches!(error, TlsError::Read { .. }), "{error:?}");
    assert!(text.contains(&shown(&missing)) && text.contains("check the path"), "{text}");

    let (error, text) = message(TlsSettings { key_path: pki.path("other.key"), ..good.clone() });
    assert!(matches!(error, TlsError::KeyMismatch { .. }), "{error:?}");
    assert!(text.contains(&shown(&pki.path("other.key"))) && text.contains(&shown(&pki.path("server.pem"))), "{text}");
    assert!(text.contains("the key must be the one the certificate was issued for"), "{text}");

    let (error, text) = message(TlsSettings { client_ca_path: Some(pki.path("empty-ca.pem")), ..good.clone() });
    assert!(matches!(error, TlsError::EmptyCa { .. }), "{error:?}");
    assert!(text.contains(&shown(&pki.path("empty-ca.pem"))) && text.contains("put the PEM certificates"), "{text}");

    let swapped = TlsSettings { cert_path: pki.path("server.key"), key_path: pki.path("server.pem"), ..good.clone() };
    let (error, text) = message(swapped);
    assert!(matches!(error, TlsError::NoCertificate { .. }), "{error:?}");
    assert!(text.contains(&shown(&pki.path("server.key"))) && text.contains("swapped"), "{text}");

    let (error, text) = message(TlsSettings { key_path: pki.path("ca.pem"), ..good.clone() });
    assert!(matches!(error, TlsError::NoPrivateKey { .. }), "{error:?}");
    assert!(text.contains(&shown(&pki.path("ca.pem"))) && text.contains("PKCS#8"), "{text}");

    let (error, _) = message(TlsSettings { client_ca_path: None, ..good.clone() });
    assert!(matches!(error, TlsError::RequiredWithoutCa), "{error:?}");

    // `serve` refuses to start on a bad configuration, with the same message.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bad = tls_settings(TlsSettings { key_path: pki.path("other.key"), ..good });
    let error = consort_server::serve(listener, test_router(Arc::default()), bad, std::future::pending())
        .await
        .expect_err("bad TLS configuration");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("does not match the certificate"), "{error}");
}

#[tokio::test]
async fn request_heads_are_limited_and_slow_clients_dropped() {
    let settings = ListenerSettings { header_read_timeout: Duration::from_secs(1), ..ListenerSettings::default() };
    let server = start(settings).await;

    // A client that starts a head and never finishes it holds no one up, and is dropped.
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /whoami HTTP/1.1\r\nHost: x\r\n").await.unwrap();

    let normal = within(plain_get(server.addr, "/whoami")).await.unwrap();
    assert_eq!(normal.status, 200);
    assert_eq!(normal.body["peer"], normal.local.to_string(), "ConnectInfo on the plain listener too");

    // Just under the limit passes; a 64 KiB header is answered 431 and the connection closed.
    let head = |value_len: usize| {
        format!("GET /whoami HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n", "a".repeat(value_len))
    };
    let mut under = TcpStream::connect(server.addr).await.unwrap();
    let (reply, _) = within(raw_exchange(&mut under, head(15 * 1024).as_bytes())).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let mut over = TcpStream::connect(server.addr).await.unwrap();
    let (reply, ended) = within(raw_exchange(&mut over, head(64 * 1024).as_bytes())).await;
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply:?} then {ended:?}");

    // More than 100 header fields is refused the same way (hyper's limit).
    let many: String = (0..101).map(|i| format!("X-H{i}: v\r\n")).collect();
    let mut crowded = TcpStream::connect(server.addr).await.unwrap();
    let request = format!("GET /whoami HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n");
    let (reply, _) = within(raw_exchange(&mut crowded, request.as_bytes())).await;
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply}");

    let (reply, ended) = within(raw_exchange(&mut slow, b"")).await;
    assert_eq!((reply.as_str(), ended.map(|e| e.kind())), ("", None), "closed after header_read_timeout");
    server.shut_down().await;
}

#[tokio::test]
async fn http2_header_lists_are_limited_too() {
    let pki = Pki::new("h2-limit");
    let server = start(tls_settings(pki.tls(false, false))).await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let connector = TlsConnector::from(client_config(&pki.ca_pem, None, &[b"h2"]));
    let tls = within(connector.connect(ServerName::try_from("localhost").unwrap(), tcp)).await.unwrap();
    let (mut sender, connection) =
        within(hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))).await.unwrap();
    tokio::spawn(connection);
    let mut get = async |header_len: usize| {
        let request = hyper::Request::get("https://localhost/whoami")
            .header("x-big", "a".repeat(header_len))
            .body(Body::empty())
            .unwrap();
        within(sender.send_request(request)).await.map(|r| r.status().as_u16()).map_err(|e| chain(&e))
    };
    assert_eq!(get(15 * 1024).await, Ok(200));
    // Over the limit: that stream is answered 431, the connection stays usable.
    assert_eq!(get(20 * 1024).await, Ok(431));
    assert_eq!(get(10).await, Ok(200));
    // Far over it (64 KiB against 16 KiB), h2 treats the peer as abusive and ends the connection.
    let error = get(64 * 1024).await.expect_err("connection ended");
    assert!(error.contains("header_list_way_too_large"), "{error}");
    server.shut_down().await;
}

#[tokio::test]
async fn graceful_shutdown_lets_an_in_flight_request_finish() {
    let pki = Pki::new("graceful");
    let server = start(tls_settings(pki.tls(false, false))).await;
    let (addr, ca_pem) = (server.addr, pki.ca_pem.clone());
    let in_flight = tokio::spawn(async move { https_get(addr, &ca_pem, None, false, "/slow").await });
    within(server.gate.started.notified()).await;

    let gate = server.gate.clone();
    let stop = server.stop;
    stop.unwrap().send(()).unwrap();
    // The server is stopping but waits for the request; let it finish.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!server.task.is_finished(), "serve returned with a request in flight");
    gate.release.notify_one();

    let answer = within(in_flight).await.unwrap().unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["done"], true);
    within(server.task).await.unwrap().unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "no longer listening");
}
