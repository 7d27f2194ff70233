//! Kerberos for the backends that speak to a kerberized Hadoop cluster (YARN, Livy): SPNEGO on
//! their REST APIs and the login spark-submit needs, from one shared [`Identity`].

use std::sync::Arc;

use consort_kerberos::{ErrorKind, Identity, KerberosError, KerberosSettings};

use crate::launcher::{BackendKind, SparkError};
use crate::spec::AppSpec;

/// Spark properties that pick the Kerberos identity spark-submit logs in as. Only consort's own
/// identity may set them: a job naming a keytab would run as whoever that keytab belongs to.
const IDENTITY_KEYS: [&str; 4] =
    ["spark.kerberos.principal", "spark.kerberos.keytab", "spark.yarn.principal", "spark.yarn.keytab"];

/// Makes `spec` log in as `identity` when spark-submit runs it, and returns the environment
/// spark-submit needs for that. A job's own identity settings are dropped either way.
pub(crate) fn prepare_submit(spec: &mut AppSpec, identity: Option<&Identity>) -> Vec<(&'static str, String)> {
    for key in IDENTITY_KEYS {
        if spec.conf.remove(key).is_some() {
            tracing::warn!(app = %spec.name, %key, "ignored a job's Kerberos identity setting: jobs run as consort's identity");
        }
    }
    let Some(id) = identity else { return Vec::new() };
    let mut env = Vec::new();
    match id.keytab_file() {
        // spark-submit logs in by itself and, on YARN, keeps the application's delegation
        // tokens renewed for as long as it runs.
        Some(keytab) => {
            spec.conf.insert("spark.kerberos.principal".into(), id.principal().to_owned());
            spec.conf.insert("spark.kerberos.keytab".into(), keytab.to_owned());
        }
        // The ticket cache kinit filled: Java reads KRB5CCNAME.
        None => env.push(("KRB5CCNAME", id.ccache().to_owned())),
    }
    if let Some(option) = java_krb5_option() {
        // The driver (the application master in YARN's cluster mode) and the executors read the
        // same krb5.conf as spark-submit (Hadoop maps principals to users with its realm).
        for key in ["spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions"] {
            let value = with_java_option(spec.conf.get(key), &option);
            spec.conf.insert(key.into(), value);
        }
        let opts = match std::env::var("SPARK_SUBMIT_OPTS") {
            Ok(own) if !own.trim().is_empty() => format!("{own} {option}"),
            _ => option,
        };
        env.push(("SPARK_SUBMIT_OPTS", opts));
    }
    env
}

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
fn java_krb5_option() -> Option<String> {
    std::env::var_os("KRB5_CONFIG").map(|path| format!("-Djava.security.krb5.conf={}", path.to_string_lossy()))
}

/// Adds `option` to a Spark `*.extraJavaOptions` value, keeping what the job set.
fn with_java_option(existing: Option<&String>, option: &str) -> String {
    match existing.map(|s| s.trim()).filter(|s| !s.is_empty()) {
        Some(own) if own.contains("java.security.krb5.conf") => own.to_owned(),
        Some(own) => format!("{own} {option}"),
        None => option.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_cannot_choose_the_identity() {
        let mut spec = AppSpec::jar("etl", "hdfs://ns/etl.jar", "com.example.Etl");
        spec.conf.insert("spark.kerberos.keytab".into(), "/etc/security/keytabs/hdfs.keytab".into());
        spec.conf.insert("spark.yarn.principal".into(), "hdfs@EXAMPLE.COM".into());
        spec.conf.insert("spark.kerberos.access.hadoopFileSystems".into(), "hdfs://other".into());
        assert!(prepare_submit(&mut spec, None).is_empty());
        assert!(!IDENTITY_KEYS.iter().any(|k| spec.conf.contains_key(*k)), "{:?}", spec.conf);
        assert_eq!(spec.conf["spark.kerberos.access.hadoopFileSystems"], "hdfs://other");
    }

    #[test]
    fn java_options_are_appended_once() {
        let opt = "-Djava.security.krb5.conf=/k";
        assert_eq!(with_java_option(None, opt), opt);
        assert_eq!(with_java_option(Some(&"-Xss4m".to_string()), opt), format!("-Xss4m {opt}"));
        let own = "-Djava.security.krb5.conf=/mine".to_string();
        assert_eq!(with_java_option(Some(&own), opt), own);
    }
}
