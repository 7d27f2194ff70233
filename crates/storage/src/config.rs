//! Storage settings: NameNodes and HDFS identity, S3 endpoint and credentials, Azure account and
//! key. Plain data with no I/O; secrets are wrapped so that `Debug` never prints them.

pub use consort_kerberos::KerberosSettings;
use std::fmt;
use std::path::PathBuf;

/// A secret string (key, token) whose `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret value, for handing to a client library.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Settings for every backend; unset fields fall back to each client's usual environment.
#[derive(Debug, Clone, Default)]
pub struct StorageConfig {
    /// HDFS (native RPC and WebHDFS).
    pub hdfs: HdfsConfig,
    /// S3 and S3-compatible servers.
    pub s3: S3Config,
    /// Azure Blob Storage and ADLS Gen2.
    pub azure: AzureConfig,
}

/// HDFS settings.
///
/// Authentication is Hadoop's "simple" mode by default: the user name is `user`, else the
/// `HADOOP_USER_NAME` environment variable, else the login user. On a kerberized cluster set
/// `kerberos`: native RPC (`hdfs://`) authenticates with SASL/GSSAPI and WebHDFS with SPNEGO
/// (which fetches a delegation token for the reads), both as one [`consort_kerberos::Identity`];
/// or give WebHDFS a `delegation_token` obtained elsewhere (`hdfs fetchdt`); see docs/kerberos.md.
#[derive(Debug, Clone, Default)]
pub struct HdfsConfig {
    /// The user to act as under simple authentication.
    pub user: Option<String>,
    /// Logical nameservices with several NameNodes (HA): `hdfs://NAME/...` and
    /// `webhdfs://NAME/...` use whichever NameNode is active.
    pub nameservices: Vec<Nameservice>,
    /// A Hadoop configuration directory (core-site.xml, hdfs-site.xml) for native RPC, as
    /// `HADOOP_CONF_DIR` would give.
    pub config_dir: Option<PathBuf>,
    /// Kerberos, for native RPC and WebHDFS.
    pub kerberos: Option<KerberosSettings>,
    /// A WebHDFS delegation token (for Kerberized clusters reached over WebHDFS).
    pub delegation_token: Option<Secret>,
}

/// A logical HDFS nameservice and its NameNodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nameservice {
    /// The name used as the URI's authority, e.g. `ns1`.
    pub name: String,
    /// The NameNodes, in the order to try them.
    pub namenodes: Vec<NameNodeAddress>,
}

/// The addresses of one NameNode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameNodeAddress {
    /// The NameNode's id within the nameservice, e.g. `nn1`.
    pub name: String,
    /// RPC `host:port` (native protocol, usually port 8020).
    pub rpc: Option<String>,
    /// HTTP `host:port` (WebHDFS and JMX, usually port 9870).
    pub http: Option<String>,
}

/// S3 settings.
#[derive(Debug, Clone, Default)]
pub struct S3Config {
    /// The endpoint URL for S3-compatible servers, e.g. `http://127.0.0.1:9000`.
    pub endpoint: Option<String>,
    /// The region; defaults to `AWS_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// Access key id; unset means the usual AWS credential chain (environment, profile, instance).
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<Secret>,
    /// Session token for temporary credentials.
    pub session_token: Option<Secret>,
    /// Address buckets as `bucket.endpoint` instead of `endpoint/bucket`.
    pub virtual_host_style: bool,
    /// Send unsigned requests (public buckets).
    pub anonymous: bool,
}

/// Azure Blob / ADLS Gen2 settings.
#[derive(Debug, Clone, Default)]
pub struct AzureConfig {
    /// The storage account; an `abfs://container@ACCOUNT.dfs.core.windows.net` URI overrides it.
    pub account_name: Option<String>,
    /// The account key.
    pub account_key: Option<Secret>,
    /// A SAS token, instead of the account key.
    pub sas_token: Option<Secret>,
    /// The Blob endpoint, e.g. `http://127.0.0.1:10000/devstoreaccount1` for azurite; defaults to
    /// `https://ACCOUNT.blob.core.windows.net`.
    pub endpoint: Option<String>,
}
