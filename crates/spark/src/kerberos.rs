//! Kerberos for the backends that speak to a kerberized Hadoop cluster (YARN, Livy): SPNEGO on
//! their REST APIs and the login spark-submit needs, from one shared [`Identity`].

use std::sync::Arc;

use consort_kerberos::{ErrorKind, Identity, KerberosError, KerberosSettings};

use crate::launcher::{BackendKind, SparkError};

/// The identity for `settings`, logged in on first use (off the async workers: it talks to the
/// KDC).
pub(crate) async fn identity(
    settings: Option<&KerberosSettings>,
    backend: BackendKind,
    address: &str,
) -> Result<Option<Arc<Identity>>, SparkError> {
    let Some(settings) = settings.cloned() else { return Ok(None) };
    let login = tokio::task::spawn_blocking(move || Identity::login(&settings)).await;
    match login {
        Ok(Ok(id)) => Ok(Some(id)),
        Ok(Err(e)) => Err(error(backend, address, e)),
        Err(e) => Err(error(backend, address, KerberosError::new(ErrorKind::Other, e.to_string()))),
    }
}

/// A SPNEGO `Authorization` header value for `url`.
pub(crate) async fn negotiate(id: &Arc<Identity>, url: &str) -> Result<String, KerberosError> {
    let (id, url) = (id.clone(), url.to_owned());
    match tokio::task::spawn_blocking(move || id.negotiate(&url)).await {
        Ok(header) => header,
        Err(e) => Err(KerberosError::new(ErrorKind::Other, e.to_string())),
    }
}

/// A Kerberos failure as the backend's error. Nothing was sent when it happens, so an
/// unreachable KDC is worth retrying; anything else needs the settings fixed.
pub(crate) fn error(backend: BackendKind, address: &str, e: KerberosError) -> SparkError {
    match e.kind {
        ErrorKind::KdcUnreachable => {
            SparkError::NotSent { backend, address: address.to_owned(), message: e.to_string() }
        }
        _ => SparkError::Rejected { backend, message: e.to_string() },
    }
}

/// The JVM option that points Java's Kerberos at the process's `krb5.conf` (Java ignores
/// `KRB5_CONFIG`), when one is set.
pub(crate) fn java_krb5_option() -> Option<String> {
    std::env::var_os("KRB5_CONFIG").map(|path| format!("-Djava.security.krb5.conf={}", path.to_string_lossy()))
}

/// Adds `option` to a Spark `*.extraJavaOptions` value, keeping what the job set.
pub(crate) fn with_java_option(existing: Option<&String>, option: &str) -> String {
    match existing.map(|s| s.trim()).filter(|s| !s.is_empty()) {
        Some(own) if own.contains("java.security.krb5.conf") => own.to_owned(),
        Some(own) => format!("{own} {option}"),
        None => option.to_owned(),
    }
}
