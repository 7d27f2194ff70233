//! The listener: plain TCP or TLS (optionally mutual TLS), with limits on the
//! request head, and who is calling on every request.
//!
//! [`serve`] runs its own accept loop so that plain and TLS connections get the
//! same treatment: each connection is its own task, HTTP/1.1 heads larger than
//! [`ListenerSettings::max_header_bytes`] are refused with 431, a client that does
//! not finish its head (or its TLS handshake) in time is disconnected, and a
//! failed handshake never disturbs the loop. Every request carries two
//! extensions: [`ConnectInfo<SocketAddr>`] (the peer's address) and, when the
//! client presented a certificate that verified against the client CA,
//! [`ClientCertificate`].
//!
//! HTTP/2 is offered over TLS only (ALPN `h2`, then `http/1.1`); a plain listener
//! speaks HTTP/1.1.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// Where the server's certificate and key are, and whether clients must
/// present certificates of their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM certificate chain, the server's certificate first.
    pub cert_path: PathBuf,
    /// PEM private key: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or
    /// SEC1 (`EC PRIVATE KEY`), unencrypted.
    pub key_path: PathBuf,
    /// PEM bundle of the CAs that sign client certificates. With it, a client
    /// certificate is verified against these CAs; without it, none is asked for.
    pub client_ca_path: Option<PathBuf>,
    /// With a client CA: `true` refuses the handshake of a client without a
    /// valid certificate; `false` makes the certificate optional (a presented
    /// certificate must still verify). Requiring certificates without a CA is
    /// an error.
    pub client_cert_required: bool,
}

/// How the listener treats connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSettings {
    /// `None` serves plain HTTP.
    pub tls: Option<TlsSettings>,
    /// The largest HTTP/1.1 request head (request line and headers) accepted, in
    /// bytes; a larger one is answered 431 and the connection closed. For
    /// HTTP/2 it is the largest header list (`SETTINGS_MAX_HEADER_LIST_SIZE`).
    /// Default 16 KiB.
    pub max_header_bytes: usize,
    /// How long a client may take to send a request head, and how long an idle
    /// keep-alive connection is kept (HTTP/1.1). Default 10 s.
    pub header_read_timeout: Duration,
    /// How long a client may take to complete the TLS handshake. Default 10 s.
    pub tls_handshake_timeout: Duration,
}

impl Default for ListenerSettings {
    fn default() -> Self {
        ListenerSettings {
            tls: None,
            max_header_bytes: 16 * 1024,
            header_read_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// The verified certificate a client presented during the TLS handshake; a
/// request extension. Absent when the client presented none (or the listener
/// has no client CA): a certificate that does not verify never gets this far,
/// its handshake is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// The subject's distinguished name as an RFC 4514 string, most specific
    /// part first: `CN=ops,O=acme`.
    pub subject: String,
    /// The subject's common name (its most specific `CN`), if it has one.
    pub common_name: Option<String>,
}

impl ClientCertificate {
    /// Reads the subject of a DER-encoded X.509 certificate; `None` if it cannot
    /// be parsed.
    pub fn from_der(der: &[u8]) -> Option<ClientCertificate> {
        use x509_cert::der::Decode;
        use x509_cert::der::asn1::{Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef};
        use x509_cert::der::oid::db::rfc4519::CN;

        let cert = x509_cert::Certificate::from_der(der).ok()?;
        let subject = &cert.tbs_certificate.subject;
        let common_name =
            subject.0.iter().rev().flat_map(|rdn| rdn.0.iter()).find(|atv| atv.oid == CN).and_then(|atv| {
                let value = &atv.value;
                Utf8StringRef::try_from(value)
                    .map(|s| s.as_str().to_string())
                    .or_else(|_| PrintableStringRef::try_from(value).map(|s| s.as_str().to_string()))
                    .or_else(|_| Ia5StringRef::try_from(value).map(|s| s.as_str().to_string()))
                    .or_else(|_| TeletexStringRef::try_from(value).map(|s| s.as_str().to_string()))
                    .ok()
            });
        Some(ClientCertificate { subject: subject.to_string(), common_name })
    }
}

/// Why the TLS configuration could not be loaded. Each message names the file,
/// the problem and the fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read the {role} {}: {source}; check the path and that consort may read it", .path.display())]
    Read {
        /// Which file: "certificate file", "private key file" or "client CA file".
        role: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A file is not well-formed PEM.
    #[error("the {role} {} is not valid PEM ({problem}); it must hold `-----BEGIN ...-----` sections as written by openssl", .path.display())]
    Pem { role: &'static str, path: PathBuf, problem: String },
    /// The certificate file holds no certificate.
    #[error(
        "the certificate file {} holds no certificate{hint}; it must be the PEM certificate chain (`-----BEGIN CERTIFICATE-----`), the server's certificate first",
        .path.display()
    )]
    NoCertificate { path: PathBuf, hint: &'static str },
    /// The key file holds no private key in a supported format.
    #[error(
        "the private key file {} holds no usable private key{hint}; it must be an unencrypted PEM key: PKCS#8 (`BEGIN PRIVATE KEY`), PKCS#1 (`BEGIN RSA PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`)",
        .path.display()
    )]
    NoPrivateKey { path: PathBuf, hint: &'static str },
    /// The key parsed but its algorithm is not supported.
    #[error(
        "the private key in {} is not supported ({problem}); use an RSA (2048 bits or more), ECDSA P-256 or P-384, or Ed25519 key",
        .path.display()
    )]
    UnsupportedKey { path: PathBuf, problem: String },
    /// The key is not the certificate's.
    #[error(
        "the private key {} does not match the certificate {}; the key must be the one the certificate was issued for (compare `openssl x509 -noout -pubkey -in CERT` with `openssl pkey -pubout -in KEY`)",
        .key.display(), .cert.display()
    )]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    /// The certificate cannot be used.
    #[error("the certificate in {} cannot be used ({problem}); it must be a valid X.509 certificate in PEM", .path.display())]
    BadCertificate { path: PathBuf, problem: String },
    /// The client CA file holds no certificate.
    #[error(
        "the client CA file {} holds no certificate; put the PEM certificates (`-----BEGIN CERTIFICATE-----`) of the CAs that sign client certificates in it, or turn client certificates off",
        .path.display()
    )]
    EmptyCa { path: PathBuf },
    /// A certificate of the client CA file cannot be used.
    #[error(
        "the client CA file {} holds a certificate that cannot be used as a trust anchor ({problem}); keep only valid PEM CA certificates in it",
        .path.display()
    )]
    BadCa { path: PathBuf, problem: String },
    /// Client certificates are required but nothing can verify them.
    #[error(
        "client certificates are required but no client CA file is set; set the PEM bundle of the CAs that sign client certificates, or do not require them"
    )]
    RequiredWithoutCa,
    /// rustls refused the configuration for another reason.
    #[error("the TLS configuration is refused: {problem}")]
    Config { problem: String },
}

/// The rustls provider: `ring`, installed on each configuration so no
/// process-wide default is needed.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(role: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { role, path: path.to_path_buf(), source })
}

fn certificates(role: &'static str, path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>().map_err(|e| TlsError::Pem {
        role,
        path: path.to_path_buf(),
        problem: e.to_string(),
    })
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Loads the certificate chain, the private key and (if set) the client CA
/// bundle into a rustls server configuration using the `ring` provider, with
/// ALPN `h2` and `http/1.1`.
pub fn load_tls(settings: &TlsSettings) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = provider();

    let cert_pem = read("certificate file", &settings.cert_path)?;
    let certs = certificates("certificate file", &settings.cert_path, &cert_pem)?;
    if certs.is_empty() {
        let hint = if contains(&cert_pem, "PRIVATE KEY-----") {
            " (it holds a private key: are the certificate and key paths swapped?)"
        } else {
            ""
        };
        return Err(TlsError::NoCertificate { path: settings.cert_path.clone(), hint });
    }

    let key_pem = read("private key file", &settings.key_path)?;
    let key = match PrivateKeyDer::from_pem_slice(&key_pem) {
        Ok(key) => key,
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            let hint = if contains(&key_pem, "BEGIN ENCRYPTED PRIVATE KEY") {
                " (its key is encrypted: decrypt it with `openssl pkey -in KEY -out KEY.plain`)"
            } else if contains(&key_pem, "BEGIN OPENSSH PRIVATE KEY") {
                " (it is an OpenSSH key, not a TLS key)"
            } else if contains(&key_pem, "BEGIN CERTIFICATE") {
                " (it holds a certificate: are the certificate and key paths swapped?)"
            } else {
                ""
            };
            return Err(TlsError::NoPrivateKey { path: settings.key_path.clone(), hint });
        }
        Err(e) => {
            return Err(TlsError::Pem {
                role: "private key file",
                path: settings.key_path.clone(),
                problem: e.to_string(),
            });
        }
    };
    if let Err(e) = provider.key_provider.load_private_key(key.clone_key()) {
        return Err(TlsError::UnsupportedKey { path: settings.key_path.clone(), problem: e.to_string() });
    }

    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config { problem: e.to_string() })?;
    let builder = match &settings.client_ca_path {
        None if settings.client_cert_required => return Err(TlsError::RequiredWithoutCa),
        None => builder.with_no_client_auth(),
        Some(ca_path) => {
            let ca_pem = read("client CA file", ca_path)?;
            let cas = certificates("client CA file", ca_path, &ca_pem)?;
            if cas.is_empty() {
                return Err(TlsError::EmptyCa { path: ca_path.clone() });
            }
            let mut roots = RootCertStore::empty();
            for ca in cas {
                roots.add(ca).map_err(|e| TlsError::BadCa { path: ca_path.clone(), problem: e.to_string() })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let verifier = if settings.client_cert_required { verifier } else { verifier.allow_unauthenticated() };
            let verifier =
                verifier.build().map_err(|e| TlsError::BadCa { path: ca_path.clone(), problem: e.to_string() })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            TlsError::KeyMismatch { cert: settings.cert_path.clone(), key: settings.key_path.clone() }
        }
        other => TlsError::BadCertificate { path: settings.cert_path.clone(), problem: other.to_string() },
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// accepting and lets in-flight requests finish (the caller bounds how long).
///
/// With `settings.tls` the TLS configuration is loaded first; a bad one is an
/// error of kind `InvalidInput` wrapping the [`TlsError`]. Errors accepting a
/// connection are logged and do not stop the loop.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: ListenerSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let acceptor = match &settings.tls {
        Some(tls) => {
            Some(TlsAcceptor::from(load_tls(tls).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?))
        }
        None => None,
    };
    let protocols = Arc::new(Protocols::new(&settings));
    let handshake_timeout = settings.tls_handshake_timeout;
    let graceful = GracefulShutdown::new();
    // Tells connections still in their TLS handshake to give up (hyper's
    // graceful shutdown only covers connections already speaking HTTP).
    let (stopping, _) = watch::channel(false);
    tokio::pin!(shutdown);

    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let connection =
            Connection { peer, router: router.clone(), protocols: protocols.clone(), watcher: graceful.watcher() };
        match &acceptor {
            None => {
                tokio::spawn(connection.serve(tcp, None, false));
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let mut stopping = stopping.subscribe();
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(handshake_timeout, acceptor.accept(tcp));
                    let stream = tokio::select! {
                        result = handshake => match result {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, timeout = ?handshake_timeout, "TLS handshake timed out");
                                return;
                            }
                        },
                        _ = stopping.wait_for(|stopping| *stopping) => return,
                    };
                    let (_, session) = stream.get_ref();
                    let h2 = session.alpn_protocol() == Some(b"h2");
                    let client_cert = session.peer_certificates().and_then(|chain| chain.first()).and_then(|cert| {
                        let parsed = ClientCertificate::from_der(cert);
                        if parsed.is_none() {
                            tracing::warn!(%peer, "a verified client certificate could not be parsed; treating the client as anonymous");
                        }
                        parsed
                    });
                    connection.serve(stream, client_cert, h2).await;
                });
            }
        }
    }

    drop(listener);
    stopping.send_replace(true);
    graceful.shutdown().await;
    Ok(())
}

/// After a failed `accept`: errors about one connection are skipped; others
/// (too many open files, …) are logged and the loop waits a moment so it does
/// not spin.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::*;
    if matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted | WouldBlock) {
        tracing::debug!(error = %e, "accepting a connection failed");
        return;
    }
    tracing::error!(error = %e, "accepting connections failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// The HTTP/1.1 and HTTP/2 connection builders, configured once.
struct Protocols {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

/// hyper's default read buffer limit; the head limit must fit in the buffer.
const HYPER_DEFAULT_MAX_BUF: usize = 8192 + 4096 * 100;

impl Protocols {
    fn new(settings: &ListenerSettings) -> Self {
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(settings.header_read_timeout)
            .max_header_size(settings.max_header_bytes);
        if settings.max_header_bytes >= HYPER_DEFAULT_MAX_BUF {
            http1.max_buf_size(settings.max_header_bytes.saturating_add(8192));
        }
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX));
        Protocols { http1, http2 }
    }
}

/// One accepted connection, ready to speak HTTP.
struct Connection {
    peer: SocketAddr,
    router: Router,
    protocols: Arc<Protocols>,
    watcher: Watcher,
}

impl Connection {
    async fn serve<I>(self, io: I, client_cert: Option<ClientCertificate>, h2: bool)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection { peer, router, protocols, watcher } = self;
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            if let Some(cert) = &client_cert {
                request.extensions_mut().insert(cert.clone());
            }
            let router = router.clone();
            async move { Ok::<_, Infallible>(router.oneshot(request).await.unwrap_or_else(|never| match never {})) }
        });
        let io = TokioIo::new(io);
        let result = if h2 {
            watcher.watch(protocols.http2.serve_connection(io, service)).await
        } else {
            watcher.watch(protocols.http1.serve_connection(io, service)).await
        };
        if let Err(e) = result {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ClientCertificate;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

    fn cert(dn: &[(DnType, &str)]) -> Vec<u8> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        for (kind, value) in dn {
            params.distinguished_name.push(kind.clone(), *value);
        }
        params.self_signed(&KeyPair::generate().unwrap()).unwrap().der().to_vec()
    }

    #[test]
    fn subject_is_rfc_4514_most_specific_first_and_escaped() {
        let der =
            cert(&[(DnType::CountryName, "IT"), (DnType::OrganizationName, "acme, inc"), (DnType::CommonName, "ops")]);
        let parsed = ClientCertificate::from_der(&der).unwrap();
        assert_eq!(parsed.subject, r"CN=ops,O=acme\, inc,C=IT");
        assert_eq!(parsed.common_name.as_deref(), Some("ops"));

        let no_cn = ClientCertificate::from_der(&cert(&[(DnType::OrganizationName, "acme")])).unwrap();
        assert_eq!((no_cn.subject.as_str(), no_cn.common_name), ("O=acme", None));
        assert_eq!(ClientCertificate::from_der(b"not a certificate"), None);
    }
}
