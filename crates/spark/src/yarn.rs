//! The `yarn` backend: `spark-submit --master yarn --deploy-mode cluster`, then the
//! ResourceManager's REST API (`/ws/v1/cluster/apps/{id}`) for status and kill.
//!
//! The submission id is YARN's application id (`application_<cluster>_<n>`), which is also
//! Spark's application id on YARN, so status, logs and kill need nothing but the id: a
//! restarted consort re-attaches from the id alone, and nothing is kept in memory.
//!
//! spark-submit runs with `spark.yarn.submit.waitAppCompletion=false`, so it returns as soon
//! as the ResourceManager has accepted the application; the id is read from its
//! `Submitted application application_…` line. Every submission also carries a unique YARN
//! tag (`spark.yarn.tags`), and when that line is missing (a quieter log configuration, a
//! spark-submit that timed out after submitting) the application is found by its tag instead.
//! Callers that must find an application again after a crash between submit and learning the
//! id can put their own tag in `spark.yarn.tags` and use [`YarnLauncher::find_by_tag`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use consort_kerberos::{Identity, KerberosError, KerberosSettings};
use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::driver_error::driver_error_in;
use crate::driver_python::default_python_properties;
use crate::kerberos;
use crate::launcher::{AppState, AppStatus, BackendKind, Launcher, SparkError, Submission, error_chain};
use crate::spec::AppSpec;
use crate::submit::spark_submit_args;

/// The property that makes spark-submit return once YARN has accepted the application.
const FIRE_AND_FORGET: &str = "spark.yarn.submit.waitAppCompletion";

/// Where the cluster is and how to submit to it.
#[derive(Clone, Debug)]
pub struct YarnConfig {
    /// `SPARK_HOME` (a Spark distribution with spark-yarn, or the `pyspark` package directory).
    pub spark_home: PathBuf,
    /// The client `HADOOP_CONF_DIR` (yarn-site.xml, core-site.xml) spark-submit uses.
    pub conf_dir: PathBuf,
    /// The ResourceManagers' REST base URLs (`http://rm:8088`), tried in order (HA pairs).
    pub rm_urls: Vec<String>,
    /// Spark properties for every application, below the application's own `conf`
    /// (e.g. `spark.yarn.archive`, so the Spark jars are not uploaded with every submission).
    pub spark_conf: BTreeMap<String, String>,
    /// The user to submit as and to name in REST calls under simple authentication
    /// (`HADOOP_USER_NAME`, `user.name`); `None` keeps the process's own.
    pub user: Option<String>,
    /// Timeout of each REST call.
    pub request_timeout: Duration,
    /// How long spark-submit may take to hand the application to YARN (uploads included).
    pub submit_timeout: Duration,
    /// Python for PySpark drivers and executors on the cluster's nodes (`[spark] python`):
    /// set as `spark.yarn.appMasterEnv.PYSPARK_PYTHON` and `spark.executorEnv.PYSPARK_PYTHON`
    /// unless the job sets them.
    pub python: Option<PathBuf>,
    /// Kerberos on a secure cluster: SPNEGO on the REST calls, and spark-submit logs in with the
    /// keytab (`--principal`/`--keytab`) or the ticket cache.
    pub kerberos: Option<KerberosSettings>,
}

impl YarnConfig {
    /// A configuration for the cluster described by `conf_dir/yarn-site.xml`; `rm_url`
    /// overrides the REST address found there.
    pub fn from_conf_dir(spark_home: PathBuf, conf_dir: PathBuf, rm_url: Option<String>) -> Result<Self, SparkError> {
        let rm_urls = match rm_url {
            Some(url) => vec![url.trim_end_matches('/').to_string()],
            None => {
                let path = conf_dir.join("yarn-site.xml");
                let xml = std::fs::read_to_string(&path).map_err(|source| SparkError::Io {
                    context: format!(
                        "reading {} (the yarn backend needs the cluster's yarn-site.xml; set [spark] yarn_conf_dir)",
                        path.display()
                    ),
                    source,
                })?;
                rm_web_urls(&xml).map_err(|problem| SparkError::Rejected {
                    backend: BackendKind::Yarn,
                    message: format!("{}: {problem}", path.display()),
                })?
            }
        };
        Ok(YarnConfig {
            spark_home,
            conf_dir,
            rm_urls,
            spark_conf: BTreeMap::new(),
            user: None,
            request_timeout: Duration::from_secs(30),
            submit_timeout: Duration::from_secs(600),
            python: None,
            kerberos: None,
        })
    }
}

/// The ResourceManagers' web (REST) base URLs from the text of a yarn-site.xml: for HA, one per
/// `yarn.resourcemanager.ha.rm-ids` entry; otherwise `yarn.resourcemanager.webapp.address`
/// (or `.https.address` under `yarn.http.policy=HTTPS_ONLY`), falling back on
/// `yarn.resourcemanager.hostname` with the default port, as Hadoop's own clients do.
pub fn rm_web_urls(yarn_site: &str) -> Result<Vec<String>, String> {
    let props = hadoop_properties(yarn_site)?;
    let get = |key: &str| props.get(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let https = get("yarn.http.policy").is_some_and(|p| p.eq_ignore_ascii_case("HTTPS_ONLY"));
    let (scheme, key, port) = if https {
        ("https", "yarn.resourcemanager.webapp.https.address", 8090)
    } else {
        ("http", "yarn.resourcemanager.webapp.address", 8088)
    };
    let address = |suffix: &str| -> Option<String> {
        get(&format!("{key}{suffix}"))
            .or_else(|| get(&format!("yarn.resourcemanager.hostname{suffix}")).map(|h| format!("{h}:{port}")))
    };
    let ha = get("yarn.resourcemanager.ha.enabled").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let ids: Vec<String> = get("yarn.resourcemanager.ha.rm-ids")
        .map(|ids| ids.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let addresses: Vec<String> = if ha && !ids.is_empty() {
        ids.iter().filter_map(|id| address(&format!(".{id}"))).collect()
    } else {
        address("").into_iter().collect()
    };
    if addresses.is_empty() {
        return Err(format!(
            "no ResourceManager web address; set {key} (or yarn.resourcemanager.hostname) there, or [spark] yarn_rm_url"
        ));
    }
    Ok(addresses
        .into_iter()
        .map(|a| {
            // A wildcard bind address is reachable on this host.
            let a = a.strip_prefix("0.0.0.0:").map_or(a.clone(), |port| format!("127.0.0.1:{port}"));
            format!("{scheme}://{a}")
        })
        .collect())
}

/// `name → value` of a Hadoop configuration file, with `${other.name}` references expanded.
fn hadoop_properties(xml: &str) -> Result<BTreeMap<String, String>, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not a Hadoop configuration file: {e}"))?;
    let mut props = BTreeMap::new();
    for property in doc.descendants().filter(|n| n.has_tag_name("property")) {
        let child = |tag: &str| property.children().find(|c| c.has_tag_name(tag)).and_then(|c| c.text());
        if let Some(name) = child("name") {
            props.insert(name.trim().to_string(), child("value").unwrap_or_default().to_string());
        }
    }
    // Hadoop expands `${name}` from other properties (and system properties, not used here).
    for _ in 0..8 {
        let snapshot = props.clone();
        let mut changed = false;
        for value in props.values_mut() {
            let mut out = String::new();
            let mut rest = value.as_str();
            while let Some(start) = rest.find("${") {
                let Some(len) = rest[start + 2..].find('}') else { break };
                let name = &rest[start + 2..start + 2 + len];
                out.push_str(&rest[..start]);
                match snapshot.get(name) {
                    Some(v) => {
                        out.push_str(v);
                        changed = true;
                    }
                    None => out.push_str(&rest[start..start + 3 + len]),
                }
                rest = &rest[start + 3 + len..];
            }
            out.push_str(rest);
            *value = out;
        }
        if !changed {
            break;
        }
    }
    Ok(props)
}

/// The `yarn` backend.
#[derive(Debug)]
pub struct YarnLauncher {
    config: YarnConfig,
    http: reqwest::Client,
    /// Index into `rm_urls` of the ResourceManager that answered last.
    current: AtomicUsize,
    sequence: AtomicU64,
}

/// `GET /ws/v1/cluster/apps/{id}`'s `app`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppReport {
    id: String,
    state: String,
    #[serde(default)]
    final_status: Option<String>,
    /// The application master's UI through the ResourceManager's proxy while it runs, the
    /// history server's page after (when one is configured).
    #[serde(default)]
    tracking_url: Option<String>,
    #[serde(default)]
    diagnostics: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AppResponse {
    app: AppReport,
}

#[derive(Debug, Deserialize)]
struct AppsResponse {
    apps: Option<AppList>,
}

#[derive(Debug, Deserialize)]
struct AppList {
    #[serde(default)]
    app: Vec<AppReport>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttemptsResponse {
    app_attempts: Option<AttemptList>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttemptList {
    #[serde(default)]
    app_attempt: Vec<Attempt>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Attempt {
    #[serde(default)]
    id: u32,
    #[serde(default)]
    container_id: Option<String>,
    #[serde(default)]
    node_http_address: Option<String>,
    #[serde(default)]
    logs_link: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClusterInfoResponse {
    cluster_info: ClusterInfo,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClusterInfo {
    state: String,
    #[serde(default)]
    ha_state: Option<String>,
}

/// Maps YARN's application state and final status onto consort's.
pub fn yarn_state(state: &str, final_status: Option<&str>) -> AppState {
    match (state, final_status.unwrap_or("UNDEFINED")) {
        ("NEW" | "NEW_SAVING" | "SUBMITTED" | "ACCEPTED", _) => AppState::Submitted,
        ("RUNNING", _) => AppState::Running,
        ("FINISHED", "SUCCEEDED") => AppState::Succeeded,
        ("FINISHED", "KILLED") | ("KILLED", _) => AppState::Killed,
        ("FINISHED", _) | ("FAILED", _) => AppState::Failed,
        _ => AppState::Unknown,
    }
}

/// Whether `id` has the shape of a YARN application id (so it is safe in a URL path).
fn is_application_id(id: &str) -> bool {
    let Some(rest) = id.strip_prefix("application_") else { return false };
    let mut parts = rest.split('_');
    let digits = |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    digits(parts.next()) && digits(parts.next()) && parts.next().is_none()
}

/// The id in spark-submit's `Submitted application application_…` line (YarnClientImpl logs it
/// only once the ResourceManager has the application; the earlier "Application ID is assigned"
/// line does not mean it was submitted).
fn submitted_id(output: &str) -> Option<String> {
    output.lines().rev().find_map(|line| {
        let at = line.find("Submitted application ")?;
        let id = line[at + "Submitted application ".len()..].split_whitespace().next()?;
        is_application_id(id).then(|| id.to_string())
    })
}

/// The lines of spark-submit's output that say why it failed, for an error message.
fn failure_summary(output: &str) -> String {
    let interesting: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.starts_with("at ") && (l.contains("Exception") || l.contains("Error") || l.starts_with("Caused by"))
        })
        .collect();
    let lines: Vec<&str> = if interesting.is_empty() {
        output.lines().map(str::trim).filter(|l| !l.is_empty()).collect()
    } else {
        interesting
    };
    let start = lines.len().saturating_sub(5);
    let text = lines[start..].join(" | ");
    text.chars().take(2000).collect()
}

/// The first lines of YARN diagnostics, without a Java stack trace.
fn diagnostics_summary(diagnostics: &str) -> Option<String> {
    let lines: Vec<&str> = diagnostics
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("at "))
        .filter(|l| !l.is_empty())
        .take(5)
        .collect();
    (!lines.is_empty()).then(|| lines.join(" ").chars().take(2000).collect())
}

/// The last `max_bytes` of `text`, on a character boundary.
fn tail(text: &str, max_bytes: usize) -> &str {
    let mut start = text.len().saturating_sub(max_bytes);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Why a REST call could not be used.
enum CallError {
    /// No request was sent: the Kerberos identity could not log in or make a SPNEGO token.
    Kerberos(SparkError),
    /// No ResourceManager answered.
    Unreachable(String),
    /// An HTTP error status, with the RemoteException message when there is one.
    Status(reqwest::StatusCode, String),
}

impl YarnLauncher {
    /// A launcher for the cluster in `config`; nothing is contacted until used.
    pub fn new(config: YarnConfig) -> Result<Self, SparkError> {
        let address = config.rm_urls.join(", ");
        if config.rm_urls.is_empty() {
            return Err(SparkError::Rejected {
                backend: BackendKind::Yarn,
                message: "no ResourceManager URL; set [spark] yarn_rm_url or yarn-site.xml's webapp address".into(),
            });
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| SparkError::Unavailable { backend: BackendKind::Yarn, address, message: e.to_string() })?;
        Ok(YarnLauncher { config, http, current: AtomicUsize::new(0), sequence: AtomicU64::new(0) })
    }

    fn unavailable(&self, message: impl Into<String>) -> SparkError {
        SparkError::Unavailable { backend: BackendKind::Yarn, address: self.address(), message: message.into() }
    }

    /// Names the user on a REST call under simple authentication (Kerberos names it itself).
    fn with_user(&self, url: String) -> String {
        match &self.config.user {
            Some(user) if self.config.kerberos.is_none() => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}user.name={}", percent_encode(user))
            }
            _ => url,
        }
    }

    async fn identity(&self) -> Result<Option<Arc<Identity>>, SparkError> {
        kerberos::identity(self.config.kerberos.as_ref(), BackendKind::Yarn, &self.address()).await
    }

    /// The request with a fresh SPNEGO header when the cluster is kerberized (Hadoop refuses a
    /// replayed token, so one per request).
    async fn authorized(
        &self,
        request: reqwest::RequestBuilder,
        url: &str,
        identity: Option<&Arc<Identity>>,
    ) -> Result<reqwest::RequestBuilder, KerberosError> {
        match identity {
            Some(id) => Ok(request.header(reqwest::header::AUTHORIZATION, kerberos::negotiate(id, url).await?)),
            None => Ok(request),
        }
    }

    /// Sends a request to the ResourceManagers in turn, starting with the one that answered
    /// last, until one answers; returns the status and body.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<String, CallError> {
        let urls = &self.config.rm_urls;
        let identity = self.identity().await.map_err(CallError::Kerberos)?;
        let first = self.current.load(Ordering::Relaxed) % urls.len();
        let mut errors = Vec::new();
        for i in 0..urls.len() {
            let index = (first + i) % urls.len();
            let url = self.with_user(format!("{}{path}", urls[index].trim_end_matches('/')));
            let mut request = self.http.request(method.clone(), &url).header("Accept", "application/json");
            if let Some(body) = body {
                request = request.json(body);
            }
            let request = self
                .authorized(request, &url, identity.as_ref())
                .await
                .map_err(|e| CallError::Kerberos(kerberos::error(BackendKind::Yarn, &urls[index], e)))?;
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => {
                    errors.push(format!("{}: {}", urls[index], error_chain(&e)));
                    continue;
                }
            };
            let status = response.status();
            let text = match response.text().await {
                Ok(t) => t,
                Err(e) => {
                    errors.push(format!("{}: {}", urls[index], error_chain(&e)));
                    continue;
                }
            };
            // A standby ResourceManager that does not redirect says so with 503 / a standby page.
            if status == reqwest::StatusCode::SERVICE_UNAVAILABLE || text.contains("This is standby RM") {
                errors.push(format!("{}: standby or unavailable (HTTP {status})", urls[index]));
                continue;
            }
            self.current.store(index, Ordering::Relaxed);
            if !status.is_success() {
                return Err(CallError::Status(status, remote_exception(&text)));
            }
            return Ok(text);
        }
        Err(CallError::Unreachable(errors.join("; ")))
    }

    fn parse<T: serde::de::DeserializeOwned>(&self, what: &str, text: &str) -> Result<T, SparkError> {
        serde_json::from_str(text).map_err(|e| {
            self.unavailable(format!(
                "the ResourceManager's answer to {what} is not what its REST API documents ({e}): {}",
                text.chars().take(200).collect::<String>()
            ))
        })
    }

    /// Maps a failed call on application `id`.
    fn app_error(&self, id: &str, e: CallError) -> SparkError {
        match e {
            CallError::Unreachable(m) => self.unavailable(m),
            CallError::Kerberos(e) => e,
            CallError::Status(status, _) if status == reqwest::StatusCode::NOT_FOUND => {
                SparkError::NotFound { backend: BackendKind::Yarn, id: id.to_string() }
            }
            CallError::Status(status, m) if status.is_server_error() => self.unavailable(format!("HTTP {status}: {m}")),
            CallError::Status(status, m) => self.refused(status, &m),
        }
    }

    /// A 4xx answer as `Rejected`; 401 and 403 name the settings to check, since retrying as
    /// the same identity cannot help.
    fn refused(&self, status: reqwest::StatusCode, m: &str) -> SparkError {
        let hint = match (status.as_u16(), &self.config.kerberos) {
            (401, None) => {
                "; the ResourceManager asks for Kerberos (SPNEGO): check the [kerberos] settings (a principal with a keytab or a ticket cache)"
            }
            (401, Some(_)) => {
                "; check the [kerberos] settings: kerberos.http_principal must match the ResourceManager's HTTP principal"
            }
            (403, _) => {
                "; the user may not do this: check the [kerberos] principal and the YARN queue and application ACLs"
            }
            _ => "",
        };
        SparkError::Rejected { backend: BackendKind::Yarn, message: format!("HTTP {status}: {m}{hint}") }
    }

    async fn report(&self, id: &str) -> Result<AppReport, SparkError> {
        if !is_application_id(id) {
            return Err(SparkError::NotFound { backend: BackendKind::Yarn, id: id.to_string() });
        }
        let text = self
            .call(reqwest::Method::GET, &format!("/ws/v1/cluster/apps/{id}"), None)
            .await
            .map_err(|e| self.app_error(id, e))?;
        Ok(self.parse::<AppResponse>("an application report", &text)?.app)
    }

    /// The ids of the applications carrying YARN tag `tag` (YARN stores tags in lower case),
    /// oldest first: how an application is found again when its id was never learned.
    pub async fn find_by_tag(&self, tag: &str) -> Result<Vec<String>, SparkError> {
        let path = format!("/ws/v1/cluster/apps?applicationTags={}", percent_encode(&tag.to_lowercase()));
        let text = self.call(reqwest::Method::GET, &path, None).await.map_err(|e| self.app_error(tag, e))?;
        let apps = self.parse::<AppsResponse>("an application search", &text)?;
        let mut ids: Vec<String> = apps.apps.map(|a| a.app).unwrap_or_default().into_iter().map(|a| a.id).collect();
        ids.sort_by_key(|id| {
            let mut parts = id.trim_start_matches("application_").split('_').map(|p| p.parse::<u64>().unwrap_or(0));
            (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
        });
        Ok(ids)
    }

    fn new_tag(&self) -> String {
        let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        format!("consort-{ms}-{}-{n}", std::process::id())
    }

    /// The application's `spark-submit` command: the launcher's defaults below the spec's conf,
    /// fire-and-forget, and the tag added to the spec's own tags.
    fn command(&self, spec: &AppSpec, tag: &str, identity: Option<&Identity>) -> Command {
        let mut spec = spec.clone();
        for (key, value) in &self.config.spark_conf {
            spec.conf.entry(key.clone()).or_insert_with(|| value.clone());
        }
        let python = self.config.python.as_ref().map(|p| p.display().to_string());
        let python_env = ["spark.yarn.appMasterEnv.PYSPARK_PYTHON", "spark.executorEnv.PYSPARK_PYTHON"];
        default_python_properties(&mut spec, &python_env, python.as_deref());
        spec.conf.insert(FIRE_AND_FORGET.into(), "false".into());
        let tags = match spec.conf.get("spark.yarn.tags").filter(|t| !t.trim().is_empty()) {
            Some(own) => format!("{own},{tag}"),
            None => tag.to_string(),
        };
        spec.conf.insert("spark.yarn.tags".into(), tags);
        let kerberos_env = kerberos::prepare_submit(&mut spec, identity);
        let mut cmd = Command::new(self.config.spark_home.join("bin/spark-submit"));
        cmd.args(spark_submit_args(&spec, "yarn", "cluster"))
            .env("SPARK_HOME", &self.config.spark_home)
            .env("HADOOP_CONF_DIR", &self.config.conf_dir)
            .env("YARN_CONF_DIR", &self.config.conf_dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if identity.is_none()
            && let Some(user) = &self.config.user
        {
            cmd.env("HADOOP_USER_NAME", user);
        }
        cmd.envs(kerberos_env);
        cmd
    }

    /// Runs spark-submit; returns its exit status (`None` on timeout) and its output.
    async fn run_submit(&self, mut cmd: Command) -> Result<(Option<std::process::ExitStatus>, String), SparkError> {
        let mut child = cmd.spawn().map_err(|source| SparkError::Io {
            context: format!("starting {}", self.config.spark_home.join("bin/spark-submit").display()),
            source,
        })?;
        let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
        let read = async {
            let (mut o, mut e) = (Vec::new(), Vec::new());
            let read_out = async {
                if let Some(out) = out.as_mut() {
                    let _ = out.read_to_end(&mut o).await;
                }
            };
            let read_err = async {
                if let Some(err) = err.as_mut() {
                    let _ = err.read_to_end(&mut e).await;
                }
            };
            tokio::join!(read_out, read_err);
            let status = child.wait().await;
            (status, o, e)
        };
        match tokio::time::timeout(self.config.submit_timeout, read).await {
            Ok((status, o, e)) => {
                let status =
                    status.map_err(|source| SparkError::Io { context: "waiting for spark-submit".into(), source })?;
                let output = format!("{}{}", String::from_utf8_lossy(&o), String::from_utf8_lossy(&e));
                Ok((Some(status), output))
            }
            Err(_) => {
                // The whole group: spark-submit's launcher script and its JVM.
                if let Some(pid) = child.id() {
                    let _ = Command::new("kill").arg("-KILL").arg("--").arg(format!("-{pid}")).status().await;
                }
                let _ = child.wait().await;
                Ok((None, String::new()))
            }
        }
    }

    /// The AM container (the driver, in cluster mode) of the application's latest attempt and the
    /// base URL of its NodeManager.
    async fn am_container(&self, id: &str) -> Result<Option<Attempt>, SparkError> {
        let text = self
            .call(reqwest::Method::GET, &format!("/ws/v1/cluster/apps/{id}/appattempts"), None)
            .await
            .map_err(|e| self.app_error(id, e))?;
        let attempts = self.parse::<AttemptsResponse>("an attempt list", &text)?;
        Ok(attempts.app_attempts.map(|a| a.app_attempt).unwrap_or_default().into_iter().max_by_key(|a| a.id))
    }

    /// The last `max_bytes` of one of the container's log files from its NodeManager, or why not.
    async fn container_log(&self, node: &str, container: &str, file: &str, max_bytes: usize) -> String {
        let scheme = if self.config.rm_urls[0].starts_with("https:") { "https" } else { "http" };
        let url =
            self.with_user(format!("{scheme}://{node}/ws/v1/node/containerlogs/{container}/{file}?size=-{max_bytes}"));
        let request = match self.identity().await {
            Ok(identity) => self.authorized(self.http.get(&url), &url, identity.as_ref()).await,
            Err(e) => return format!("(could not authenticate to the NodeManager at {node}: {e})\n"),
        };
        let request = match request {
            Ok(r) => r,
            Err(e) => return format!("(could not authenticate to the NodeManager at {node}: {e})\n"),
        };
        match request.send().await {
            Ok(r) if r.status().is_success() => match r.text().await {
                Ok(text) => tail(&text, max_bytes).to_string(),
                Err(e) => format!("(could not read {file} from {node}: {})\n", error_chain(&e)),
            },
            Ok(r) => format!("(the NodeManager at {node} has no {file} for {container}: HTTP {})\n", r.status()),
            Err(e) => format!("(could not reach the NodeManager at {node} for {file}: {})\n", error_chain(&e)),
        }
    }
}

/// The `message` of a Hadoop REST `RemoteException` body, else the body's start.
fn remote_exception(body: &str) -> String {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Wrapper {
        remote_exception: Remote,
    }
    #[derive(Deserialize)]
    struct Remote {
        #[serde(default)]
        exception: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_str::<Wrapper>(body) {
        Ok(w) => format!("{}: {}", w.remote_exception.exception, w.remote_exception.message),
        Err(_) => body.chars().take(200).collect(),
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[async_trait]
impl Launcher for YarnLauncher {
    fn kind(&self) -> BackendKind {
        BackendKind::Yarn
    }

    fn address(&self) -> String {
        self.config.rm_urls.join(", ")
    }

    async fn health(&self) -> Result<(), SparkError> {
        let text = self.call(reqwest::Method::GET, "/ws/v1/cluster/info", None).await.map_err(|e| match e {
            CallError::Unreachable(m) => self.unavailable(m),
            CallError::Kerberos(e) => e,
            CallError::Status(status, m) if matches!(status.as_u16(), 401 | 403) => self.refused(status, &m),
            CallError::Status(status, m) => self.unavailable(format!("HTTP {status}: {m}")),
        })?;
        let info = self.parse::<ClusterInfoResponse>("/ws/v1/cluster/info", &text)?.cluster_info;
        let active = info.ha_state.as_deref().is_none_or(|s| s == "ACTIVE");
        if info.state == "STARTED" && active {
            Ok(())
        } else {
            Err(self.unavailable(format!(
                "the ResourceManager is {} (HA state {})",
                info.state,
                info.ha_state.as_deref().unwrap_or("none")
            )))
        }
    }

    async fn submit(&self, spec: &AppSpec) -> Result<Submission, SparkError> {
        spec.validate()?;
        // spark-submit would retry an unreachable ResourceManager for many minutes.
        // A failed pre-flight check sent nothing: retrying it cannot double anything.
        self.health().await.map_err(|e| e.unsent_if(true))?;
        if !self.config.spark_home.join("bin/spark-submit").is_file() {
            return Err(self
                .unavailable(format!(
                    "{} does not exist; set [spark] spark_home to a Spark installation with YARN support",
                    self.config.spark_home.join("bin/spark-submit").display()
                ))
                .unsent_if(true));
        }
        // Keyed: the key is the tag, and an application already carrying it is this run's.
        if let Some(key) = &spec.key
            && let Some(found) = self.find(key).await?
        {
            return Ok(found);
        }
        let tag = spec.key.clone().unwrap_or_else(|| self.new_tag());
        let started = tokio::time::Instant::now();
        let identity = self.identity().await?;
        let (status, output) = self.run_submit(self.command(spec, &tag, identity.as_deref())).await?;
        tracing::debug!(%tag, ?status, output = %tail(&output, 4096), "spark-submit for YARN returned");
        let id = match submitted_id(&output) {
            Some(id) => Some(id),
            None => self.find_by_tag(&tag).await?.pop(),
        };
        match (id, status) {
            (Some(id), _) => {
                tracing::info!(app = %spec.name, %id, %tag, took = ?started.elapsed(), "YARN application submitted");
                Ok(Submission { backend: BackendKind::Yarn, id })
            }
            (None, None) => Err(self.unavailable(format!(
                "spark-submit did not hand the application to YARN within {:?} and no application has tag {tag}",
                self.config.submit_timeout
            ))),
            (None, Some(status)) => Err(SparkError::Rejected {
                backend: BackendKind::Yarn,
                message: format!("spark-submit exited with {status} without submitting: {}", failure_summary(&output)),
            }),
        }
    }

    /// The application tagged with the run's key (the newest, should there be several).
    async fn find(&self, key: &str) -> Result<Option<Submission>, SparkError> {
        let mut ids = self.find_by_tag(key).await?;
        if ids.len() > 1 {
            tracing::warn!(%key, ?ids, "several YARN applications carry one run's key; following the newest");
        }
        Ok(ids.pop().map(|id| Submission { backend: BackendKind::Yarn, id }))
    }

    async fn status(&self, id: &str) -> Result<AppStatus, SparkError> {
        let app = self.report(id).await?;
        let state = yarn_state(&app.state, app.final_status.as_deref());
        let mut message = match state {
            AppState::Succeeded => None,
            _ => app.diagnostics.as_deref().and_then(diagnostics_summary),
        };
        // YARN says "User application exited with status 1"; the driver's log says why (a PySpark
        // driver's traceback is in the AM's stdout).
        if state == AppState::Failed
            && let Ok(Some(Attempt { container_id: Some(container), node_http_address: Some(node), .. })) =
                self.am_container(id).await
            && let Some(exception) = driver_error_in(
                &self.container_log(&node, &container, "stderr", 256 << 10).await,
                &self.container_log(&node, &container, "stdout", 256 << 10).await,
            )
        {
            message = Some(match message {
                Some(yarn) => format!("{exception} ({yarn})"),
                None => exception,
            });
        }
        let message = match (state, message) {
            (AppState::Failed, None) => Some(format!(
                "YARN state {}, final status {}",
                app.state,
                app.final_status.as_deref().unwrap_or("UNDEFINED")
            )),
            (_, m) => m,
        };
        Ok(AppStatus { state, app_id: Some(app.id), exit_code: None, message })
    }

    /// The driver's log, from the application master's container (in cluster mode the AM is
    /// the driver): the NodeManager's REST API (`/ws/v1/node/containerlogs/{container}/{file}`,
    /// a tail via `size=-N`) serves it while the application runs and after it ends, as long as
    /// the NodeManager keeps the logs locally; with log aggregation on, the NodeManager redirects
    /// to the configured log server's REST API, which this follows. The ResourceManager's
    /// diagnostics come first, since they say why YARN or the AM ended the application, which the
    /// container logs may not.
    async fn logs(&self, id: &str, max_bytes: usize) -> Result<String, SparkError> {
        let app = self.report(id).await?;
        let mut text = String::new();
        if let Some(d) = app.diagnostics.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            text.push_str(&format!("YARN diagnostics ({} / {}):\n", app.state, app.final_status.unwrap_or_default()));
            text.push_str(tail(d, max_bytes / 4));
            text.push('\n');
        }
        match self.am_container(id).await? {
            Some(Attempt { container_id: Some(container), node_http_address: Some(node), .. })
                if !node.is_empty() && !container.is_empty() =>
            {
                let budget = max_bytes.saturating_sub(text.len());
                let out = self.container_log(&node, &container, "stdout", budget / 3).await;
                let err = self.container_log(&node, &container, "stderr", budget - out.len().min(budget / 3)).await;
                text.push_str(&out);
                text.push_str(&err);
            }
            Some(attempt) => text.push_str(&format!(
                "(the application master has no container yet{})\n",
                attempt.logs_link.map(|l| format!("; logs: {l}")).unwrap_or_default()
            )),
            None => text.push_str("(no application attempt yet: the application is waiting for YARN to start it)\n"),
        }
        Ok(tail(&text, max_bytes).to_string())
    }

    /// YARN's tracking URL (Spark's UI through the ResourceManager's proxy, or its history).
    async fn ui_url(&self, id: &str) -> Result<Option<String>, SparkError> {
        let url = self.report(id).await?.tracking_url;
        Ok(url.filter(|u| u.starts_with("http://") || u.starts_with("https://")))
    }

    async fn kill(&self, id: &str) -> Result<(), SparkError> {
        let app = self.report(id).await?;
        if yarn_state(&app.state, app.final_status.as_deref()).is_final() {
            return Ok(());
        }
        let body = serde_json::json!({ "state": "KILLED" });
        match self.call(reqwest::Method::PUT, &format!("/ws/v1/cluster/apps/{id}/state"), Some(&body)).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let error = self.app_error(id, e);
                // It may have ended between the two calls.
                match self.status(id).await {
                    Ok(status) if status.state.is_final() => Ok(()),
                    _ => Err(error),
                }
            }
        }
    }
}

/// Whether `dir` holds a YARN client configuration (`yarn-site.xml`).
pub fn is_yarn_conf_dir(dir: &Path) -> bool {
    dir.join("yarn-site.xml").is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_as_documented() {
        for s in ["NEW", "NEW_SAVING", "SUBMITTED", "ACCEPTED"] {
            assert_eq!(yarn_state(s, Some("UNDEFINED")), AppState::Submitted);
        }
        assert_eq!(yarn_state("RUNNING", Some("UNDEFINED")), AppState::Running);
        assert_eq!(yarn_state("FINISHED", Some("SUCCEEDED")), AppState::Succeeded);
        assert_eq!(yarn_state("FINISHED", Some("FAILED")), AppState::Failed);
        assert_eq!(yarn_state("FINISHED", Some("KILLED")), AppState::Killed);
        assert_eq!(yarn_state("FINISHED", Some("UNDEFINED")), AppState::Failed);
        assert_eq!(yarn_state("FAILED", Some("FAILED")), AppState::Failed);
        assert_eq!(yarn_state("KILLED", Some("KILLED")), AppState::Killed);
        assert_eq!(yarn_state("SOMETHING_NEW", None), AppState::Unknown);
    }

    #[test]
    fn ids_are_checked_before_they_reach_a_url() {
        assert!(is_application_id("application_1795467415431_0001"));
        for bad in ["application_1_", "application_x_1", "application_1_2_3", "../../x", "app-1-2", ""] {
            assert!(!is_application_id(bad), "{bad}");
        }
    }

    #[test]
    fn the_submitted_line_wins_over_the_assigned_one() {
        let output = "INFO Client: Application ID is assigned: application_1_0007\n\
                      INFO YarnClientImpl: Submitted application application_1_0007\n";
        assert_eq!(submitted_id(output).as_deref(), Some("application_1_0007"));
        assert_eq!(submitted_id("INFO Client: Application ID is assigned: application_1_0007\nERROR upload"), None);
    }

    #[test]
    fn rm_urls_follow_hadoop_rules() {
        let site = |props: &[(&str, &str)]| {
            let body: String =
                props.iter().map(|(k, v)| format!("<property><name>{k}</name><value>{v}</value></property>")).collect();
            format!("<?xml version=\"1.0\"?><configuration>{body}</configuration>")
        };
        assert_eq!(
            rm_web_urls(&site(&[("yarn.resourcemanager.webapp.address", "127.0.0.1:46785")])).unwrap(),
            ["http://127.0.0.1:46785"]
        );
        assert_eq!(
            rm_web_urls(&site(&[("yarn.resourcemanager.hostname", "rm.example")])).unwrap(),
            ["http://rm.example:8088"]
        );
        assert_eq!(
            rm_web_urls(&site(&[
                ("yarn.resourcemanager.hostname", "rm.example"),
                ("yarn.resourcemanager.webapp.address", "${yarn.resourcemanager.hostname}:9999"),
            ]))
            .unwrap(),
            ["http://rm.example:9999"]
        );
        assert_eq!(
            rm_web_urls(&site(&[
                ("yarn.resourcemanager.ha.enabled", "true"),
                ("yarn.resourcemanager.ha.rm-ids", "rm1, rm2"),
                ("yarn.resourcemanager.hostname.rm1", "a.example"),
                ("yarn.resourcemanager.webapp.address.rm2", "b.example:18088"),
            ]))
            .unwrap(),
            ["http://a.example:8088", "http://b.example:18088"]
        );
        assert_eq!(
            rm_web_urls(&site(&[("yarn.http.policy", "HTTPS_ONLY"), ("yarn.resourcemanager.hostname", "rm")])).unwrap(),
            ["https://rm:8090"]
        );
        assert_eq!(
            rm_web_urls(&site(&[("yarn.resourcemanager.webapp.address", "0.0.0.0:8088")])).unwrap(),
            ["http://127.0.0.1:8088"]
        );
        let err = rm_web_urls(&site(&[])).unwrap_err();
        assert!(err.contains("yarn.resourcemanager.webapp.address") && err.contains("yarn_rm_url"), "{err}");
        assert!(rm_web_urls("not xml").unwrap_err().contains("not a Hadoop configuration file"));
    }

    #[test]
    fn summaries_drop_stack_traces() {
        let d = "User class threw exception: java.lang.IllegalStateException: failing on purpose (mode=fail)\n\
                 \tat consort.examples.CountRange.main(CountRange.java:27)\n\tat x.y(Z.java:1)";
        assert_eq!(
            diagnostics_summary(d).as_deref(),
            Some("User class threw exception: java.lang.IllegalStateException: failing on purpose (mode=fail)")
        );
        let out = "INFO Client: x\nException in thread \"main\" java.io.FileNotFoundException: File does not exist: hdfs://h/x.jar\n\tat a.b(C.java:1)\n";
        assert!(failure_summary(out).starts_with("Exception in thread"), "{}", failure_summary(out));
        assert_eq!(tail("héllo", 4), "llo");
    }
}
