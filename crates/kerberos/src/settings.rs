//! The Kerberos settings and the rules on them, without I/O.

use std::path::PathBuf;

use crate::error::{ErrorKind, KerberosError};

/// How consort proves who it is to a kerberized cluster.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KerberosSettings {
    /// The client principal, e.g. `consort@EXAMPLE.COM` (required with a keytab; with a ticket
    /// cache, the cache's own principal is used when unset).
    pub principal: Option<String>,
    /// A keytab holding the principal's key: consort logs in by itself and again before the
    /// ticket expires.
    pub keytab: Option<PathBuf>,
    /// An existing ticket cache (e.g. `FILE:/tmp/krb5cc_1000` from `kinit`), renewed in place
    /// while its ticket is renewable. Used when no keytab is given; default `KRB5CCNAME`, else
    /// the library's default cache.
    pub ticket_cache: Option<String>,
    /// The `krb5.conf` to use (`KRB5_CONFIG`); default /etc/krb5.conf.
    pub krb5_conf: Option<PathBuf>,
    /// The NameNodes' principal pattern; `_HOST` becomes the NameNode's host name.
    pub hdfs_principal: String,
    /// The HTTP services' (WebHDFS, YARN, Livy) principal pattern for SPNEGO.
    pub http_principal: String,
    /// When to renew, in percent of the ticket's lifetime (Hadoop renews at 80).
    pub renew_at_percent: u8,
}

impl Default for KerberosSettings {
    fn default() -> Self {
        KerberosSettings {
            principal: None,
            keytab: None,
            ticket_cache: None,
            krb5_conf: None,
            hdfs_principal: "hdfs/_HOST".to_owned(),
            http_principal: "HTTP/_HOST".to_owned(),
            renew_at_percent: 80,
        }
    }
}

/// Where the credentials come from, once the settings are checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// Log in with a key from a keytab.
    Keytab {
        /// The principal to log in as.
        principal: String,
        /// The keytab file.
        keytab: PathBuf,
    },
    /// Use (and renew) the tickets in a cache.
    TicketCache {
        /// The cache's name; `None` for the library's default.
        cache: Option<String>,
        /// The principal expected in it, if configured.
        principal: Option<String>,
    },
}

/// A setting with an unusable value: which, what it is, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingError {
    /// The option, e.g. `kerberos.keytab`.
    pub option: &'static str,
    /// Its value as given.
    pub value: String,
    /// What is wrong and how to fix it.
    pub problem: String,
}

impl KerberosSettings {
    /// The rules on the settings alone (no I/O): one source of truth for the configuration's
    /// checks and for [`KerberosSettings::credentials`].
    pub fn check(&self) -> Result<(), SettingError> {
        let invalid =
            |option, value: String, problem: &str| SettingError { option, value, problem: problem.to_owned() };
        if let (Some(keytab), Some(_)) = (&self.keytab, &self.ticket_cache) {
            return Err(invalid(
                "kerberos.keytab",
                keytab.display().to_string(),
                "kerberos.ticket_cache is set too: keep one (a keytab lets consort log in and renew by itself)",
            ));
        }
        if let (Some(keytab), None) = (&self.keytab, &self.principal) {
            return Err(invalid(
                "kerberos.keytab",
                keytab.display().to_string(),
                "needs kerberos.principal, the principal whose key it holds (see `klist -kt KEYTAB`)",
            ));
        }
        if let Some(p) = &self.principal
            && (p.trim().is_empty() || p.contains(char::is_whitespace))
        {
            return Err(invalid("kerberos.principal", p.clone(), "write a principal such as consort@EXAMPLE.COM"));
        }
        for (option, pattern) in
            [("kerberos.hdfs_principal", &self.hdfs_principal), ("kerberos.http_principal", &self.http_principal)]
        {
            if !pattern.contains('/') {
                return Err(invalid(option, pattern.clone(), "write SERVICE/_HOST or SERVICE/_HOST@REALM"));
            }
        }
        if !(1..=99).contains(&self.renew_at_percent) {
            return Err(invalid(
                "kerberos.renew_at_percent",
                self.renew_at_percent.to_string(),
                "must be between 1 and 99 (Hadoop renews at 80)",
            ));
        }
        Ok(())
    }

    /// Checks the settings and says where credentials come from (`KRB5CCNAME` when neither a
    /// keytab nor a cache is configured).
    pub fn credentials(&self) -> Result<Credentials, KerberosError> {
        self.check().map_err(|e| {
            KerberosError::new(ErrorKind::Config, format!("{} = {:?}: {}", e.option, e.value, e.problem))
        })?;
        match (&self.keytab, &self.principal) {
            (Some(keytab), Some(principal)) => {
                Ok(Credentials::Keytab { principal: principal.clone(), keytab: keytab.clone() })
            }
            (_, principal) => {
                let cache = self.ticket_cache.clone().or_else(|| std::env::var("KRB5CCNAME").ok());
                Ok(Credentials::TicketCache { cache, principal: principal.clone() })
            }
        }
    }
}

/// A service principal from a Hadoop-style pattern: `_HOST` becomes `host`, lower-cased as
/// Hadoop's `SecurityUtil` does; no realm means the default realm.
pub fn service_principal(pattern: &str, host: &str) -> String {
    pattern.replace("_HOST", &host.to_ascii_lowercase())
}

/// The host of an `http(s)://host:port/...` URL or a `host:port` address.
pub fn host_of(address: &str) -> &str {
    let rest = address.split_once("://").map(|(_, r)| r).unwrap_or(address);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map(|(_, a)| a).unwrap_or(authority);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    authority.split(':').next().unwrap_or(authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keytab_needs_a_principal_and_excludes_a_cache() {
        let mut s = KerberosSettings { keytab: Some("/k.keytab".into()), ..Default::default() };
        assert!(s.credentials().unwrap_err().detail.contains("kerberos.principal"));
        s.principal = Some("consort@R".into());
        assert_eq!(
            s.credentials().unwrap(),
            Credentials::Keytab { principal: "consort@R".into(), keytab: "/k.keytab".into() }
        );
        s.ticket_cache = Some("FILE:/tmp/c".into());
        assert!(s.credentials().unwrap_err().detail.contains("ticket_cache is set too"));
        let bad = KerberosSettings { http_principal: "HTTP".into(), ..Default::default() };
        assert!(bad.credentials().unwrap_err().detail.contains("kerberos.http_principal"));
        let bad = KerberosSettings { renew_at_percent: 100, ..Default::default() };
        assert!(bad.credentials().unwrap_err().detail.contains("renew_at_percent"));
    }

    #[test]
    fn patterns_and_hosts() {
        assert_eq!(service_principal("HTTP/_HOST@EXAMPLE.COM", "NN1.example.com"), "HTTP/nn1.example.com@EXAMPLE.COM");
        assert_eq!(service_principal("hdfs/_HOST", "localhost"), "hdfs/localhost");
        assert_eq!(host_of("http://rm.example.com:8088/ws/v1/cluster"), "rm.example.com");
        assert_eq!(host_of("localhost:9870"), "localhost");
        assert_eq!(host_of("https://u@[::1]:8998/batches"), "::1");
    }
}
