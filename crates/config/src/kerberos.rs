//! `[kerberos]`: consort's identity on a kerberized Hadoop cluster (HDFS, WebHDFS, YARN, Livy).

use std::path::PathBuf;

use consort_kerberos::KerberosSettings;
use serde::Deserialize;

use crate::{ConfigError, Origin};

/// `[kerberos]`. Present (even empty: the default ticket cache) means every Hadoop client
/// authenticates with Kerberos: HDFS RPC with SASL/GSSAPI, WebHDFS, YARN's and Livy's REST APIs
/// with SPNEGO, and spark-submit with the keytab or the ticket cache.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KerberosSection {
    /// The client principal, e.g. `consort@EXAMPLE.COM` (`CONSORT_KERBEROS_PRINCIPAL`).
    pub principal: Option<String>,
    /// Its keytab (`CONSORT_KERBEROS_KEYTAB`): consort logs in and renews by itself.
    pub keytab: Option<PathBuf>,
    /// An existing ticket cache instead of a keytab (default `KRB5CCNAME`, else
    /// `FILE:/tmp/krb5cc_UID`).
    pub ticket_cache: Option<String>,
    /// The krb5.conf (`KRB5_CONFIG`); default /etc/krb5.conf.
    pub krb5_conf: Option<PathBuf>,
    /// The NameNodes' principal pattern.
    pub hdfs_principal: String,
    /// The HTTP services' principal pattern (SPNEGO).
    pub http_principal: String,
    /// Renew at this percentage of the ticket's lifetime.
    pub renew_at_percent: u8,
}

impl Default for KerberosSection {
    fn default() -> Self {
        KerberosSection {
            principal: None,
            keytab: None,
            ticket_cache: None,
            krb5_conf: None,
            hdfs_principal: "hdfs/_HOST".into(),
            http_principal: "HTTP/_HOST".into(),
            renew_at_percent: 80,
        }
    }
}

impl KerberosSection {
    /// The Kerberos crate's settings for this section.
    pub fn settings(&self) -> KerberosSettings {
        KerberosSettings {
            principal: self.principal.clone(),
            keytab: self.keytab.clone(),
            ticket_cache: self.ticket_cache.clone(),
            krb5_conf: self.krb5_conf.clone(),
            hdfs_principal: self.hdfs_principal.clone(),
            http_principal: self.http_principal.clone(),
            renew_at_percent: self.renew_at_percent,
        }
    }

    /// Checks the section with the Kerberos crate's own rules.
    pub(crate) fn validate(&self, origin: &Origin) -> Result<(), ConfigError> {
        self.settings().check().map_err(|e| ConfigError::Invalid {
            option: e.option,
            value: e.value,
            origin: origin.clone(),
            problem: e.problem,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::{Config, Sources};

    fn resolve(toml: &str, env: &[(&str, &str)]) -> Result<Config, String> {
        Config::resolve(&Sources {
            file: Some(("c.toml".into(), toml.into())),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn kerberos_section_is_optional_and_checked() {
        assert_eq!(resolve("", &[]).unwrap().kerberos, None);
        let k = resolve("[kerberos]\n", &[]).unwrap().kerberos.unwrap();
        assert_eq!((k.hdfs_principal.as_str(), k.renew_at_percent), ("hdfs/_HOST", 80));
        let e = resolve("[kerberos]\nkeytab = \"/k\"\n", &[]).unwrap_err();
        assert!(e.contains("kerberos.keytab") && e.contains("kerberos.principal"), "{e}");
        let e =
            resolve("[kerberos]\nprincipal = \"a@R\"\nkeytab = \"/k\"\nticket_cache = \"FILE:/c\"\n", &[]).unwrap_err();
        assert!(e.contains("ticket_cache"), "{e}");
        let e = resolve("[kerberos]\nhttp_principal = \"HTTP\"\n", &[]).unwrap_err();
        assert!(e.contains("kerberos.http_principal") && e.contains("_HOST"), "{e}");
        let e = resolve("[kerberos]\nrenew_at_percent = 100\n", &[]).unwrap_err();
        assert!(e.contains("between 1 and 99"), "{e}");
        // The environment turns it on and fills it in.
        let k = resolve("", &[("CONSORT_KERBEROS_PRINCIPAL", "etl@R"), ("CONSORT_KERBEROS_KEYTAB", "/etc/etl.keytab")])
            .unwrap()
            .kerberos
            .unwrap();
        assert_eq!(k.principal.as_deref(), Some("etl@R"));
        let e = resolve("", &[("CONSORT_KERBEROS_KEYTAB", "/etc/etl.keytab")]).unwrap_err();
        assert!(e.contains("environment variable CONSORT_KERBEROS_KEYTAB"), "{e}");
    }
}
