//! `Storage`: one handle per storage root (a NameNode or nameservice, a bucket, a container, the
//! local file system) that stats, reads byte ranges and lists by URI. HDFS goes through
//! `hdfs-native` (native RPC, HA failover built in); WebHDFS, S3, Azure Blob and local files go
//! through `opendal`.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use consort_kerberos::Identity;

use crate::config::{HdfsConfig, Nameservice, StorageConfig};
use crate::error::StorageError;
use crate::uri::{Scheme, StorageUri};

/// What `stat` says about an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Length in bytes (0 for directories).
    pub len: u64,
    /// Whether the path is a directory (or an object-store prefix).
    pub is_dir: bool,
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// The entry's full URI.
    pub uri: String,
    /// Length in bytes, when the listing says it.
    pub len: Option<u64>,
    /// Whether the entry is a directory.
    pub is_dir: bool,
}

/// A connection to one storage root, able to read any URI under it.
#[derive(Debug)]
pub struct Storage {
    root: String,
    scheme: Scheme,
    backend: Backend,
    /// Who the backend acts as (HDFS user, access key id, account), for permission errors.
    principal: String,
    /// The address the backend talks to, for unreachable errors.
    address: String,
}

enum Backend {
    Opendal(opendal::Operator),
    Hdfs(hdfs_native::Client),
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Opendal(op) => write!(f, "Opendal({:?})", op.info().scheme()),
            Backend::Hdfs(_) => f.write_str("HdfsNative"),
        }
    }
}

impl Storage {
    /// Opens the storage that serves `uri` (any URI under the same root can then be read).
    ///
    /// For a WebHDFS nameservice this asks each NameNode's JMX endpoint which one is active, as
    /// upstream does; native HDFS RPC fails over by itself.
    pub async fn from_uri(uri: &str, config: &StorageConfig) -> Result<Storage, StorageError> {
        Storage::connect(&StorageUri::parse(uri)?, config).await
    }

    /// Like `from_uri`, for a parsed URI.
    pub async fn connect(uri: &StorageUri, config: &StorageConfig) -> Result<Storage, StorageError> {
        install_http_transport();
        let root = uri.root();
        let config_error = |reason: String| StorageError::Config { uri: uri.original.clone(), reason };
        let (backend, principal, address) = match uri.scheme {
            Scheme::File => {
                let op = opendal::Operator::new(opendal::services::Fs::default().root("/"))
                    .map_err(|e| config_error(e.to_string()))?;
                (Backend::Opendal(op), local_user(), "local file system".to_owned())
            }
            Scheme::Hdfs => {
                let identity = kerberos_identity(uri, &config.hdfs).await?;
                let (client, address) = hdfs_client(uri, &config.hdfs, identity.as_deref())?;
                if let Some(id) = &identity {
                    check_namenode_principals(uri, id, &address).await?;
                }
                let principal = identity.map(|id| id.principal().to_owned()).unwrap_or_else(|| hdfs_user(&config.hdfs));
                (Backend::Hdfs(client), principal, address)
            }
            Scheme::WebHdfs { tls } => {
                let identity = kerberos_identity(uri, &config.hdfs).await?;
                let address = match find_nameservice(&config.hdfs, &uri.authority) {
                    Some(ns) => active_http_namenode(uri, ns, tls, identity.as_ref()).await?,
                    None => uri.authority.clone(),
                };
                let proto = if tls { "https" } else { "http" };
                let mut user = hdfs_user(&config.hdfs);
                let mut builder =
                    opendal::services::Webhdfs::default().endpoint(&format!("{proto}://{address}")).root("/");
                match (&config.hdfs.delegation_token, &identity) {
                    (Some(token), _) => builder = builder.delegation(token.expose()),
                    (None, Some(id)) => {
                        // SPNEGO once, for a delegation token that authorises the reads (and the
                        // DataNode redirects, which SPNEGO cannot follow).
                        let token = webhdfs_delegation_token(uri, &format!("{proto}://{address}"), id).await?;
                        builder = builder.delegation(&token);
                        user = id.principal().to_owned();
                    }
                    (None, None) => builder = builder.user_name(&user),
                }
                let op = opendal::Operator::new(builder).map_err(|e| config_error(e.to_string()))?;
                (Backend::Opendal(op), user, address)
            }
            Scheme::S3 => {
                let s3 = &config.s3;
                let region = s3
                    .region
                    .clone()
                    .or_else(|| std::env::var("AWS_REGION").ok())
                    .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
                    .unwrap_or_else(|| "us-east-1".to_owned());
                let mut b = opendal::services::S3::default().bucket(&uri.authority).root("/").region(&region);
                let address = s3.endpoint.clone().unwrap_or_else(|| format!("s3.{region}.amazonaws.com"));
                if let Some(endpoint) = &s3.endpoint {
                    b = b.endpoint(endpoint);
                }
                if let Some(key) = &s3.access_key_id {
                    b = b.access_key_id(key);
                }
                if let Some(secret) = &s3.secret_access_key {
                    b = b.secret_access_key(secret.expose());
                }
                if let Some(token) = &s3.session_token {
                    b = b.session_token(token.expose());
                }
                if s3.virtual_host_style {
                    b = b.enable_virtual_host_style();
                }
                if s3.anonymous {
                    b = b.skip_signature();
                }
                let op = opendal::Operator::new(b).map_err(|e| config_error(e.to_string()))?;
                let principal = s3
                    .access_key_id
                    .clone()
                    .or_else(|| std::env::var("AWS_ACCESS_KEY_ID").ok())
                    .map(|k| format!("access key {k}"))
                    .unwrap_or_else(|| "the default AWS credentials".to_owned());
                (Backend::Opendal(op), principal, address)
            }
            Scheme::Azure => {
                let az = &config.azure;
                let account = uri.account.clone().or_else(|| az.account_name.clone()).ok_or_else(|| {
                    config_error(
                        "no Azure storage account: write abfs://container@ACCOUNT.dfs.core.windows.net/path \
                         or set the account name in the storage configuration"
                            .to_owned(),
                    )
                })?;
                let endpoint =
                    az.endpoint.clone().unwrap_or_else(|| format!("https://{account}.blob.core.windows.net"));
                let mut b = opendal::services::Azblob::default()
                    .container(&uri.authority)
                    .root("/")
                    .endpoint(&endpoint)
                    .account_name(&account);
                if let Some(key) = &az.account_key {
                    b = b.account_key(key.expose());
                }
                if let Some(sas) = &az.sas_token {
                    b = b.sas_token(sas.expose());
                }
                let op = opendal::Operator::new(b).map_err(|e| config_error(e.to_string()))?;
                (Backend::Opendal(op), format!("account {account}"), endpoint)
            }
        };
        Ok(Storage { root, scheme: uri.scheme, backend, principal, address })
    }

    /// The root this handle serves, e.g. `s3://bucket` or `hdfs://ns1`.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The address this handle talks to (for WebHDFS nameservices: the active NameNode's).
    pub fn address(&self) -> &str {
        &self.address
    }

    fn path_of(&self, uri: &str) -> Result<StorageUri, StorageError> {
        let parsed = StorageUri::parse(uri)?;
        if parsed.root() != self.root {
            return Err(StorageError::WrongRoot { uri: uri.to_owned(), root: self.root.clone() });
        }
        Ok(parsed)
    }

    /// Length and kind of the object at `uri`.
    pub async fn stat(&self, uri: &str) -> Result<ObjectMeta, StorageError> {
        let u = self.path_of(uri)?;
        match &self.backend {
            Backend::Opendal(op) => {
                let meta = op.stat(&self.op_path(&u)).await.map_err(|e| self.opendal_error(&u, "stat", e))?;
                Ok(ObjectMeta { len: meta.content_length(), is_dir: meta.is_dir() })
            }
            Backend::Hdfs(client) => {
                let st = client.get_file_info(&u.path).await.map_err(|e| self.hdfs_error(&u, "stat", e))?;
                Ok(ObjectMeta { len: st.length as u64, is_dir: st.isdir })
            }
        }
    }

    /// The bytes of `range` in the object at `uri` (the range must lie within the object).
    pub async fn read_range(&self, uri: &str, range: Range<u64>) -> Result<Bytes, StorageError> {
        let u = self.path_of(uri)?;
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        match &self.backend {
            Backend::Opendal(op) => {
                let buf = op
                    .read_with(&self.op_path(&u))
                    .range(range.clone())
                    .await
                    .map_err(|e| self.opendal_error(&u, "read", e))?;
                Ok(buf.to_bytes())
            }
            Backend::Hdfs(client) => {
                let reader = client.read(&u.path).await.map_err(|e| self.hdfs_error(&u, "read", e))?;
                let len = (range.end - range.start) as usize;
                reader.read_range(range.start as usize, len).await.map_err(|e| self.hdfs_error(&u, "read", e))
            }
        }
    }

    /// The whole object at `uri`.
    pub async fn read(&self, uri: &str) -> Result<Bytes, StorageError> {
        let u = self.path_of(uri)?;
        match &self.backend {
            Backend::Opendal(op) => {
                let buf = op.read(&self.op_path(&u)).await.map_err(|e| self.opendal_error(&u, "read", e))?;
                Ok(buf.to_bytes())
            }
            Backend::Hdfs(client) => {
                let mut reader = client.read(&u.path).await.map_err(|e| self.hdfs_error(&u, "read", e))?;
                let len = reader.file_length();
                reader.read_bytes(len).await.map_err(|e| self.hdfs_error(&u, "read", e))
            }
        }
    }

    /// Writes `bytes` as the object at `uri`, replacing it (parent directories are created).
    pub async fn write(&self, uri: &str, bytes: Bytes) -> Result<(), StorageError> {
        let u = self.path_of(uri)?;
        match &self.backend {
            Backend::Opendal(op) => {
                op.write(&self.op_path(&u), bytes).await.map_err(|e| self.opendal_error(&u, "write", e))?;
                Ok(())
            }
            Backend::Hdfs(client) => {
                let opts = hdfs_native::WriteOptions::default().overwrite(true).create_parent(true);
                let mut w = client.create(&u.path, opts).await.map_err(|e| self.hdfs_error(&u, "write", e))?;
                let mut rest = bytes;
                while !rest.is_empty() {
                    let chunk = rest.split_to(rest.len().min(8 << 20));
                    w.write_bytes(chunk).await.map_err(|e| self.hdfs_error(&u, "write", e))?;
                }
                w.close().await.map_err(|e| self.hdfs_error(&u, "write", e))
            }
        }
    }

    /// The entries directly under the directory (or prefix) `uri`.
    pub async fn list(&self, uri: &str) -> Result<Vec<ListEntry>, StorageError> {
        let u = self.path_of(uri)?;
        let base = uri.trim_end_matches('/');
        match &self.backend {
            Backend::Opendal(op) => {
                let mut dir = self.op_path(&u);
                if !dir.ends_with('/') {
                    dir.push('/');
                }
                let entries = op.list(&dir).await.map_err(|e| self.opendal_error(&u, "list", e))?;
                Ok(entries
                    .into_iter()
                    // opendal lists the directory itself too (its paths have no leading `/`).
                    .filter(|e| e.path().trim_matches('/') != dir.trim_matches('/'))
                    .map(|e| {
                        let name = e.name().trim_end_matches('/');
                        let meta = e.metadata();
                        ListEntry {
                            uri: format!("{base}/{name}"),
                            len: (!meta.is_dir()).then(|| meta.content_length()),
                            is_dir: meta.is_dir(),
                        }
                    })
                    .collect())
            }
            Backend::Hdfs(client) => {
                let entries = client.list_status(&u.path, false).await.map_err(|e| self.hdfs_error(&u, "list", e))?;
                Ok(entries
                    .into_iter()
                    .map(|st| {
                        let name = st.path.rsplit('/').next().unwrap_or_default().to_owned();
                        ListEntry {
                            uri: format!("{base}/{name}"),
                            len: (!st.isdir).then_some(st.length as u64),
                            is_dir: st.isdir,
                        }
                    })
                    .collect())
            }
        }
    }

    /// The path opendal expects: absolute for the file system and WebHDFS, a key for object stores.
    fn op_path(&self, u: &StorageUri) -> String {
        match self.scheme {
            Scheme::S3 | Scheme::Azure => u.key().to_owned(),
            _ => u.path.clone(),
        }
    }

    fn container_word(&self) -> &'static str {
        match self.scheme {
            Scheme::File => "directory",
            Scheme::Hdfs | Scheme::WebHdfs { .. } => "NameNode",
            Scheme::S3 => "bucket",
            Scheme::Azure => "container",
        }
    }

    fn service(&self) -> &'static str {
        match self.scheme {
            Scheme::File => "the local file system",
            Scheme::Hdfs => "HDFS NameNode",
            Scheme::WebHdfs { .. } => "WebHDFS",
            Scheme::S3 => "S3",
            Scheme::Azure => "Azure Blob",
        }
    }

    fn opendal_error(&self, u: &StorageUri, operation: &'static str, e: opendal::Error) -> StorageError {
        let uri = u.original.clone();
        match e.kind() {
            opendal::ErrorKind::NotFound => StorageError::NotFound { uri, container: self.container_word() },
            // WebHDFS answers 401 only when it wants SPNEGO: a kerberized NameNode asked without
            // Kerberos (or with a token it no longer accepts).
            opendal::ErrorKind::PermissionDenied
                if matches!(self.scheme, Scheme::WebHdfs { .. }) && e.message().contains("HTTP ERROR 401") =>
            {
                StorageError::Kerberos {
                    uri,
                    source: consort_kerberos::KerberosError::new(
                        consort_kerberos::ErrorKind::Config,
                        format!(
                            "the NameNode at {} requires Kerberos authentication (HTTP 401): set [kerberos] for HDFS \
                             (a principal and keytab, or a ticket cache) or a WebHDFS delegation token",
                            self.address
                        ),
                    ),
                }
            }
            opendal::ErrorKind::PermissionDenied => StorageError::PermissionDenied {
                uri,
                principal: self.principal.clone(),
                detail: e.message().to_owned(),
            },
            opendal::ErrorKind::IsADirectory => StorageError::IsDirectory { uri },
            _ if is_connect_error(&e) => StorageError::Unreachable {
                uri,
                service: self.service(),
                address: self.address.clone(),
                detail: error_chain(&e),
            },
            _ => StorageError::Backend { uri, operation, detail: error_chain(&e) },
        }
    }

    fn hdfs_error(&self, u: &StorageUri, operation: &'static str, e: hdfs_native::HdfsError) -> StorageError {
        use hdfs_native::HdfsError as H;
        let uri = u.original.clone();
        match e {
            H::FileNotFound(_) => StorageError::NotFound { uri, container: "NameNode" },
            H::IsADirectoryError(_) => StorageError::IsDirectory { uri },
            // The minor status is the Kerberos error code, which names what to fix.
            H::GSSAPIError(_, minor, text) => StorageError::Kerberos {
                uri,
                source: consort_kerberos::KerberosError::from_code(
                    minor as i32,
                    format!("SASL/GSSAPI to the NameNode failed: {text}"),
                ),
            },
            H::RPCError(class, msg) | H::FatalRPCError(class, msg) if class.ends_with("AccessControlException") => {
                StorageError::PermissionDenied { uri, principal: format!("user {}", self.principal), detail: msg }
            }
            H::RPCError(class, msg) if class.ends_with("FileNotFoundException") => {
                let _ = msg;
                StorageError::NotFound { uri, container: "NameNode" }
            }
            H::IOError(io) => StorageError::Unreachable {
                uri,
                service: "HDFS NameNode",
                address: self.address.clone(),
                detail: io.to_string(),
            },
            other => StorageError::Backend { uri, operation, detail: other.to_string() },
        }
    }
}

/// Gives opendal's HTTP services (WebHDFS, S3, Azure) one shared reqwest client that gives up
/// connecting after a while, so an unreachable endpoint becomes an error rather than a hang.
///
/// The client keeps no idle connections: a pooled connection belongs to the Tokio runtime that
/// opened it and dies with it ("dispatch task is gone"), and one process may run several
/// runtimes one after another (each CLI command, each test). An artifact check makes a handful
/// of requests, so a fresh connection per request costs nothing that matters.
fn install_http_transport() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        opendal::init_default_registry();
        let client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .pool_max_idle_per_host(0)
            .build()
            .unwrap_or_default();
        opendal::HttpTransporter::install_default(opendal_http_transport_reqwest::ReqwestTransport::new(client));
    });
}

fn local_user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "the current user".to_owned())
}

fn hdfs_user(config: &HdfsConfig) -> String {
    config
        .user
        .clone()
        .or_else(|| std::env::var("HADOOP_USER_NAME").ok())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".to_owned())
}

fn find_nameservice<'a>(config: &'a HdfsConfig, name: &str) -> Option<&'a Nameservice> {
    config.nameservices.iter().find(|ns| ns.name == name)
}

/// Builds the native RPC client: a configured nameservice becomes Hadoop's HA settings, so the
/// client finds the active NameNode and fails over by itself.
fn hdfs_client(
    uri: &StorageUri,
    config: &HdfsConfig,
    identity: Option<&Identity>,
) -> Result<(hdfs_native::Client, String), StorageError> {
    let mut builder = hdfs_native::ClientBuilder::new().with_url(format!("hdfs://{}", uri.authority));
    let mut settings: Vec<(String, String)> = Vec::new();
    let address = match find_nameservice(config, &uri.authority) {
        Some(ns) => {
            let rpc: Vec<(&str, &str)> =
                ns.namenodes.iter().filter_map(|nn| nn.rpc.as_deref().map(|a| (nn.name.as_str(), a))).collect();
            if rpc.is_empty() {
                return Err(StorageError::Config {
                    uri: uri.original.clone(),
                    reason: format!("nameservice {} lists no NameNode RPC address; add one per NameNode", ns.name),
                });
            }
            settings.push(("dfs.nameservices".to_owned(), ns.name.clone()));
            settings.push((
                format!("dfs.ha.namenodes.{}", ns.name),
                rpc.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(","),
            ));
            for (name, addr) in &rpc {
                settings.push((format!("dfs.namenode.rpc-address.{}.{name}", ns.name), (*addr).to_owned()));
            }
            rpc.iter().map(|(_, a)| *a).collect::<Vec<_>>().join(",")
        }
        None => uri.authority.clone(),
    };
    // Give up within seconds when no NameNode answers (Hadoop's defaults retry for minutes);
    // callers retry on `Unreachable`.
    settings.push(("dfs.client.failover.max.attempts".to_owned(), "4".to_owned()));
    settings.push(("dfs.client.failover.sleep.base.millis".to_owned(), "200".to_owned()));
    settings.push(("dfs.client.failover.sleep.max.millis".to_owned(), "1000".to_owned()));
    if let Some(dir) = &config.config_dir {
        builder = builder.with_config_dir(dir.to_string_lossy().into_owned());
    }
    builder = builder.with_config(settings);
    if let Some(user) = &config.user {
        builder = builder.with_user(user.clone());
    }
    if let Some(id) = identity {
        // The identity's own ticket cache, which it keeps renewed.
        builder = builder.with_kerberos_principal(id.principal()).with_kerberos_cache(id.ccache());
    }
    let client = builder.build().map_err(|e| StorageError::Config {
        uri: uri.original.clone(),
        reason: format!("the HDFS client cannot be set up: {e}; check the URI's NameNode and the HDFS settings"),
    })?;
    Ok((client, address))
}

/// Asks each NameNode for its HA state and returns the HTTP address of the active one.
async fn active_http_namenode(
    uri: &StorageUri,
    ns: &Nameservice,
    tls: bool,
    identity: Option<&Arc<Identity>>,
) -> Result<String, StorageError> {
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .map_err(|e| StorageError::Config { uri: uri.original.clone(), reason: e.to_string() })?;
    let proto = if tls { "https" } else { "http" };
    let mut tried = Vec::new();
    let mut unreachable = 0;
    let candidates: Vec<(&str, &str)> =
        ns.namenodes.iter().filter_map(|nn| nn.http.as_deref().map(|a| (nn.name.as_str(), a))).collect();
    if candidates.is_empty() {
        return Err(StorageError::Config {
            uri: uri.original.clone(),
            reason: format!("nameservice {} lists no NameNode HTTP address; add one per NameNode", ns.name),
        });
    }
    for (name, addr) in &candidates {
        let state = match namenode_ha_state(&client, proto, addr, identity).await {
            Ok(state) => state,
            Err(HaStateError::Kerberos(source)) => {
                return Err(StorageError::Kerberos { uri: uri.original.clone(), source });
            }
            Err(HaStateError::Http(e)) => {
                unreachable += 1;
                format!("unreachable: {}", error_chain(&e))
            }
        };
        if state == "active" {
            return Ok((*addr).to_owned());
        }
        tried.push(format!("{name} at {addr}: {state}"));
    }
    if unreachable == candidates.len() {
        return Err(StorageError::Unreachable {
            uri: uri.original.clone(),
            service: "WebHDFS",
            address: candidates.iter().map(|(_, a)| *a).collect::<Vec<_>>().join(", "),
            detail: tried.join("; "),
        });
    }
    Err(StorageError::NoActiveNameNode {
        uri: uri.original.clone(),
        nameservice: ns.name.clone(),
        tried: tried.join("; "),
    })
}

/// One NameNode's HA state ("active", "standby", ...). Hadoop 3.3+ answers `/isActive` with 200 on
/// the active NameNode and 405 elsewhere; older ones are asked through JMX's `NameNodeStatus`
/// bean, as the upstream provisioner does. (`/isActive` comes first because several NameNodes in
/// one JVM, as in a minicluster, share one JMX registry and so report the same state.)
async fn namenode_ha_state(
    client: &reqwest::Client,
    proto: &str,
    addr: &str,
    identity: Option<&Arc<Identity>>,
) -> Result<String, HaStateError> {
    // A fresh SPNEGO token per request: Hadoop's servers reject a replayed one.
    let get = async |url: String| -> Result<reqwest::Response, HaStateError> {
        let mut request = client.get(&url);
        if let Some(id) = identity {
            request = request.header(reqwest::header::AUTHORIZATION, negotiate(id, &url).await?);
        }
        Ok(request.send().await?)
    };
    let resp = get(format!("{proto}://{addr}/isActive")).await?;
    match resp.status().as_u16() {
        200 => return Ok("active".to_owned()),
        405 => return Ok("standby".to_owned()),
        401 | 403 => return Ok(format!("refused the request ({}): check the Kerberos settings", resp.status())),
        _ => {}
    }
    let url = format!("{proto}://{addr}/jmx?qry=Hadoop:service=NameNode,name=NameNodeStatus");
    let body = get(url).await?.bytes().await?;
    Ok(namenode_state(&body).unwrap_or_else(|| "no HA state in its JMX answer".to_owned()))
}

/// Why a NameNode's HA state is unknown: it did not answer, or we could not authenticate.
enum HaStateError {
    Http(reqwest::Error),
    Kerberos(consort_kerberos::KerberosError),
}

impl From<reqwest::Error> for HaStateError {
    fn from(e: reqwest::Error) -> Self {
        HaStateError::Http(e)
    }
}

impl From<consort_kerberos::KerberosError> for HaStateError {
    fn from(e: consort_kerberos::KerberosError) -> Self {
        HaStateError::Kerberos(e)
    }
}

/// The process's Kerberos identity for these HDFS settings, logged in on first use.
async fn kerberos_identity(uri: &StorageUri, config: &HdfsConfig) -> Result<Option<Arc<Identity>>, StorageError> {
    let Some(settings) = config.kerberos.clone() else { return Ok(None) };
    // Logging in talks to the KDC: off the async workers.
    let login = tokio::task::spawn_blocking(move || Identity::login(&settings)).await;
    match login {
        Ok(Ok(id)) => Ok(Some(id)),
        Ok(Err(source)) => Err(StorageError::Kerberos { uri: uri.original.clone(), source }),
        Err(e) => Err(StorageError::Config { uri: uri.original.clone(), reason: format!("Kerberos login: {e}") }),
    }
}

/// Checks that the KDC knows each NameNode in `addresses` (`host:port,…`; a logical nameservice
/// resolved by the Hadoop configuration is left to the RPC handshake), once per host and process.
async fn check_namenode_principals(
    uri: &StorageUri,
    identity: &Arc<Identity>,
    addresses: &str,
) -> Result<(), StorageError> {
    // Only NameNodes that answer: one that does not is reported as unreachable by the RPC
    // client, which is the truer error.
    let mut hosts = Vec::new();
    for address in addresses.split(',').filter(|a| a.contains(':')) {
        if identity.knows_namenode(consort_kerberos::host_of(address)) {
            continue;
        }
        let connect = tokio::net::TcpStream::connect(address);
        if let Ok(Ok(_)) = tokio::time::timeout(std::time::Duration::from_secs(3), connect).await {
            hosts.push(consort_kerberos::host_of(address).to_owned());
        }
    }
    let id = identity.clone();
    let checked = tokio::task::spawn_blocking(move || hosts.iter().try_for_each(|h| id.check_hdfs_service(h))).await;
    match checked {
        Ok(result) => result.map_err(|source| StorageError::Kerberos { uri: uri.original.clone(), source }),
        Err(e) => Err(StorageError::Config { uri: uri.original.clone(), reason: format!("Kerberos check: {e}") }),
    }
}

/// A SPNEGO `Authorization` header for `url` (may fetch a service ticket from the KDC).
async fn negotiate(identity: &Arc<Identity>, url: &str) -> Result<String, consort_kerberos::KerberosError> {
    let (id, url) = (identity.clone(), url.to_owned());
    match tokio::task::spawn_blocking(move || id.negotiate(&url)).await {
        Ok(header) => header,
        Err(e) => Err(consort_kerberos::KerberosError::new(consort_kerberos::ErrorKind::Other, e.to_string())),
    }
}

/// A WebHDFS delegation token from the NameNode at `base` (`http(s)://host:port`), got with
/// SPNEGO and kept for an hour per NameNode and principal, so a check costs one SPNEGO round
/// trip at most and the NameNode is not asked for a token per file.
async fn webhdfs_delegation_token(
    uri: &StorageUri,
    base: &str,
    identity: &Arc<Identity>,
) -> Result<String, StorageError> {
    type Cache = std::sync::Mutex<Vec<(String, String, std::time::Instant)>>;
    static TOKENS: Cache = std::sync::Mutex::new(Vec::new());
    const KEEP: std::time::Duration = std::time::Duration::from_secs(3600);
    let key = format!("{base} {}", identity.principal());
    {
        let mut tokens = TOKENS.lock().unwrap_or_else(|p| p.into_inner());
        tokens.retain(|(_, _, at)| at.elapsed() < KEEP);
        if let Some((_, token, _)) = tokens.iter().find(|(k, _, _)| *k == key) {
            return Ok(token.clone());
        }
    }
    let url = format!("{base}/webhdfs/v1/?op=GETDELEGATIONTOKEN");
    let unreachable = |detail: String| StorageError::Unreachable {
        uri: uri.original.clone(),
        service: "WebHDFS",
        address: base.to_owned(),
        detail,
    };
    let header = match negotiate(identity, &url).await {
        Ok(header) => header,
        // SPNEGO comes before any request; for an address nobody listens on (whose host often
        // has no principal either) the true and retryable error is that it is unreachable.
        Err(_) if !accepts_connections(base).await => {
            return Err(unreachable("nothing accepts connections there".to_owned()));
        }
        Err(source) => return Err(StorageError::Kerberos { uri: uri.original.clone(), source }),
    };
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .map_err(|e| StorageError::Config { uri: uri.original.clone(), reason: e.to_string() })?;
    let resp = client
        .get(&url)
        .header(reqwest::header::AUTHORIZATION, header)
        .send()
        .await
        .map_err(|e| unreachable(error_chain(&e)))?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| unreachable(error_chain(&e)))?;
    if !status.is_success() {
        return Err(StorageError::PermissionDenied {
            uri: uri.original.clone(),
            principal: identity.principal().to_owned(),
            detail: format!(
                "the NameNode refused a delegation token ({status}): {}",
                String::from_utf8_lossy(&body).chars().take(300).collect::<String>()
            ),
        });
    }
    let token = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("Token")?.get("urlString")?.as_str().map(str::to_owned))
        .ok_or_else(|| StorageError::Backend {
            uri: uri.original.clone(),
            operation: "get a delegation token for",
            detail: "the NameNode's answer has no Token.urlString".to_owned(),
        })?;
    TOKENS.lock().unwrap_or_else(|p| p.into_inner()).push((key, token.clone(), std::time::Instant::now()));
    Ok(token)
}

/// Whether `base` (`http(s)://host:port`) accepts a TCP connection within 5 s.
async fn accepts_connections(base: &str) -> bool {
    let addr = base.split_once("://").map_or(base, |(_, a)| a);
    let connect = tokio::net::TcpStream::connect(addr);
    matches!(tokio::time::timeout(std::time::Duration::from_secs(5), connect).await, Ok(Ok(_)))
}

/// The `State` of the `NameNodeStatus` bean in a NameNode's JMX answer.
fn namenode_state(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("beans")?.as_array()?.iter().find_map(|b| b.get("State")?.as_str().map(str::to_owned))
}

fn is_connect_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<reqwest::Error>()
            && (r.is_connect() || r.is_timeout())
        {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::HostUnreachable
                    | std::io::ErrorKind::NetworkUnreachable
            )
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// An error and its causes on one line.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        let s = err.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = err.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_ha_state_from_jmx() {
        let body = br#"{"beans":[{"name":"Hadoop:service=NameNode,name=NameNodeStatus","State":"standby"}]}"#;
        assert_eq!(namenode_state(body).as_deref(), Some("standby"));
        assert_eq!(namenode_state(b"{}"), None);
    }
}
