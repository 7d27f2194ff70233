//! The `livy` backend: Apache Livy's batch API (`POST /batches`, `GET
//! /batches/{id}`, `GET /batches/{id}/log`, `DELETE /batches/{id}`).
//!
//! Livy runs `spark-submit` itself, on whatever master it is configured for
//! (YARN, Kubernetes, standalone, local). What Livy does that shapes this client:
//! - a batch's id is a small integer, which is all `status` needs;
//! - Livy forgets a finished batch after `livy.server.session.state-retain.sec`
//!   (600 s by default), and every batch on a restart unless recovery is on
//!   (`livy.server.recovery.mode = recovery`); then `GET` answers 404 → [`SparkError::NotFound`];
//! - `DELETE` both kills a batch and forgets it, so a killed batch answers 404
//!   afterwards, never `killed` (a poller may see `killed` only while the delete runs);
//! - Livy knows Spark's application id only on YARN (and Kubernetes in newer
//!   releases); elsewhere it is found in the driver output Livy keeps (the last
//!   `livy.cache-log.size` lines, 200 by default);
//! - session names must be unique among the batches Livy still holds, so the
//!   application's name goes to Spark as `spark.app.name`, not as Livy's `name`
//!   (a schedule firing twice within the retain time would otherwise be refused).

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use consort_kerberos::KerberosSettings;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::app_id::{find_app_id, find_ui_url};
use crate::driver_error::driver_error;
use crate::driver_python::launch_driver_python_with;
use crate::kerberos;
use crate::launcher::{AppState, AppStatus, BackendKind, Launcher, SparkError, Submission, error_chain};
use crate::spec::{AppResource, AppSpec};

/// How consort proves who it is to Livy. Secrets come from the environment and
/// are never printed (`Debug` shows only the kind).
#[derive(Clone, Default, PartialEq, Eq)]
pub enum LivyAuth {
    /// No credentials (Livy's default).
    #[default]
    None,
    /// HTTP basic auth (Livy with `livy.server.auth.type = ldap`, or a proxy in front).
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// A bearer token (a gateway or proxy in front of Livy).
    Bearer {
        /// The token.
        token: String,
    },
    /// SPNEGO (`livy.server.auth.type = kerberos`), as the Kerberos identity of these settings.
    Kerberos(KerberosSettings),
}

impl fmt::Debug for LivyAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LivyAuth::None => f.write_str("None"),
            LivyAuth::Basic { user, .. } => write!(f, "Basic({user}, <redacted>)"),
            LivyAuth::Bearer { .. } => f.write_str("Bearer(<redacted>)"),
            LivyAuth::Kerberos(settings) => write!(f, "Kerberos({:?})", settings.principal),
        }
    }
}

/// Where Livy is and how to talk to it.
#[derive(Clone, Debug)]
pub struct LivyConfig {
    /// Livy's base URL, e.g. `http://127.0.0.1:8998`.
    pub url: String,
    /// The `X-Requested-By` header on POST and DELETE; Livy with
    /// `livy.server.csrf-protection.enabled` refuses those without it.
    pub requested_by: Option<String>,
    /// Credentials.
    pub auth: LivyAuth,
    /// Timeout of each REST call.
    pub request_timeout: Duration,
    /// The user Livy runs batches as (`proxyUser`; Livy needs `livy.impersonation.enabled` and
    /// the Hadoop proxy-user rights for its own principal). `None`: the authenticated caller.
    pub proxy_user: Option<String>,
    /// Where consort's PySpark driver launcher ([`crate::PYSPARK_DRIVER_LAUNCHER`]) is on the
    /// host where Livy's drivers run; PySpark batches name it as `spark.pyspark.driver.python`
    /// so their Python dies with a killed driver JVM. `None`: Spark's own choice of Python,
    /// which outlives a kill in local and client mode.
    pub python_launcher: Option<String>,
}

/// The `livy` backend.
#[derive(Debug)]
pub struct LivyLauncher {
    config: LivyConfig,
    http: reqwest::Client,
    /// Application ids read from drivers' own UIs (they never change), by batch id.
    ui_app_ids: Mutex<HashMap<String, String>>,
}

/// Spark properties that a typed batch field also sets: when `spec.conf` has one,
/// the typed field is left out so that conf wins, as with every other backend
/// (Livy itself would let the typed field win).
const TYPED: [&str; 6] = [
    "spark.driver.memory",
    "spark.driver.cores",
    "spark.executor.memory",
    "spark.executor.cores",
    "spark.executor.instances",
    "spark.yarn.queue",
];

/// The body of `POST /batches` for `spec`.
///
/// Every field reaches Spark: Livy's typed fields where it has them (file,
/// className, args, jars, pyFiles, files, driver/executor memory and cores,
/// numExecutors, queue), Spark properties for the rest (`spark.app.name`,
/// `spark.jars.packages`, `spark.log.level`), then `spec.conf` on top.
pub fn batch_request(spec: &AppSpec) -> Value {
    let mut body = Map::new();
    let mut put = |key: &str, value: Value| {
        body.insert(key.to_string(), value);
    };
    put("file", json!(spec.resource.uri()));
    if let AppResource::Jar { main_class, .. } = &spec.resource {
        put("className", json!(main_class));
    }
    if !spec.args.is_empty() {
        put("args", json!(spec.args));
    }
    for (key, list) in [("jars", &spec.jars), ("pyFiles", &spec.py_files), ("files", &spec.files)] {
        if !list.is_empty() {
            put(key, json!(list));
        }
    }
    let free = |property: &str| !spec.conf.contains_key(property);
    if let Some(m) = spec.driver_memory.as_ref().filter(|_| free(TYPED[0])) {
        put("driverMemory", json!(m));
    }
    if let Some(n) = spec.driver_cores.filter(|_| free(TYPED[1])) {
        put("driverCores", json!(n));
    }
    if let Some(m) = spec.executor_memory.as_ref().filter(|_| free(TYPED[2])) {
        put("executorMemory", json!(m));
    }
    if let Some(n) = spec.executor_cores.filter(|_| free(TYPED[3])) {
        put("executorCores", json!(n));
    }
    if let Some(n) = spec.num_executors.filter(|_| free(TYPED[4])) {
        put("numExecutors", json!(n));
    }
    if let Some(q) = spec.queue.as_ref().filter(|_| free(TYPED[5])) {
        put("queue", json!(q));
    }
    let mut conf = Map::new();
    conf.insert("spark.app.name".into(), json!(spec.name));
    if !spec.packages.is_empty() {
        conf.insert("spark.jars.packages".into(), json!(spec.packages.join(",")));
    }
    if let Some(level) = &spec.log_level {
        conf.insert("spark.log.level".into(), json!(level.to_uppercase()));
    }
    for (k, v) in &spec.conf {
        conf.insert(k.clone(), json!(v));
    }
    put("conf", Value::Object(conf));
    // Livy refuses a second session of a name: the run's key makes the batch findable, and a
    // resent create is refused instead of starting a second application.
    if let Some(key) = &spec.key {
        put("name", json!(key));
    }
    Value::Object(body)
}

/// A batch as `GET /batches/{id}` and `POST /batches` answer it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Batch {
    id: i64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    app_id: Option<String>,
    #[serde(default)]
    app_info: Option<AppInfo>,
    #[serde(default)]
    log: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppInfo {
    #[serde(default)]
    driver_log_url: Option<String>,
    #[serde(default)]
    spark_ui_url: Option<String>,
}

/// `GET /batches/{id}/log`.
#[derive(Debug, Deserialize)]
struct LogPage {
    #[serde(default)]
    log: Vec<String>,
}

/// Livy's error body: `{"msg": "..."}`.
#[derive(Debug, Deserialize)]
struct Message {
    #[serde(default)]
    msg: Option<String>,
}

/// Livy's session states (`SessionState` in Livy's server) → ours.
fn batch_state(state: &str) -> AppState {
    match state {
        "not_started" | "starting" | "recovering" => AppState::Submitted,
        // `shutting_down` is on its way to a final state that is not known yet.
        "idle" | "running" | "busy" | "shutting_down" => AppState::Running,
        "success" => AppState::Succeeded,
        "dead" | "error" => AppState::Failed,
        "killed" => AppState::Killed,
        _ => AppState::Unknown,
    }
}

/// The most telling line of a failed driver's output: the last exception or error.
/// The driver's exception (see [`driver_error`]), else the last line naming one.
fn failure_line(log: &[String]) -> Option<String> {
    driver_error(&log.join("\n")).or_else(|| {
        log.iter()
            .rev()
            .map(|l| l.trim())
            .find(|l| (l.contains("Exception") || l.contains("Error")) && !l.starts_with("at "))
            .map(str::to_string)
    })
}

/// `GET /batches`: one page of batches.
#[derive(Debug, Deserialize)]
struct BatchPage {
    #[serde(default)]
    sessions: Vec<Batch>,
}

/// How many batches a look-up by key reads per page.
const FIND_PAGE: usize = 500;

/// The reason in a non-JSON error page (Jetty's answer to a request without the
/// CSRF header is HTML with the reason in `<pre>`), as one short line.
fn error_text(body: &str) -> String {
    let inner = match (body.find("<pre>"), body.find("</pre>")) {
        (Some(start), Some(end)) if start < end => &body[start + 5..end],
        _ => body,
    };
    let mut text = String::new();
    let mut in_tag = false;
    for c in inner.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(300).collect()
}

/// How many log lines to ask for: more than Livy keeps by default (200).
const LOG_LINES: usize = 10_000;

/// How long a driver's UI gets to answer.
const UI_TIMEOUT: Duration = Duration::from_secs(5);

/// An application in a driver UI's `/api/v1/applications`.
#[derive(Debug, Deserialize)]
struct UiApplication {
    id: String,
}

/// The driver UI's address as consort reaches it: a driver that logs a loopback address runs
/// on Livy's host, so that host replaces it (the same when Livy is local too).
fn ui_seen_from(ui: &str, livy_url: &str) -> String {
    let livy_host = reqwest::Url::parse(livy_url).ok().and_then(|u| u.host_str().map(str::to_string));
    match (reqwest::Url::parse(ui), livy_host) {
        (Ok(mut url), Some(host)) if matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")) => {
            let _ = url.set_host(Some(&host));
            url.as_str().trim_end_matches('/').to_string()
        }
        _ => ui.trim_end_matches('/').to_string(),
    }
}

impl LivyLauncher {
    /// A client for the Livy server in `config`.
    pub fn new(config: LivyConfig) -> Result<Self, SparkError> {
        let http = reqwest::Client::builder().timeout(config.request_timeout).build().map_err(|e| {
            SparkError::Unavailable {
                backend: BackendKind::Livy,
                address: config.url.clone(),
                message: error_chain(&e),
            }
        })?;
        Ok(LivyLauncher { config, http, ui_app_ids: Mutex::default() })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.config.url.trim_end_matches('/'))
    }

    fn unavailable(&self, message: String) -> SparkError {
        SparkError::Unavailable { backend: BackendKind::Livy, address: self.config.url.clone(), message }
    }

    /// A request with the configured CSRF header and credentials.
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method.clone(), self.url(path)).header("Accept", "application/json");
        if method != reqwest::Method::GET
            && let Some(by) = &self.config.requested_by
        {
            request = request.header("X-Requested-By", by);
        }
        match &self.config.auth {
            // SPNEGO headers are made per request, in `call`.
            LivyAuth::None | LivyAuth::Kerberos(_) => request,
            LivyAuth::Basic { user, password } => request.basic_auth(user, Some(password)),
            LivyAuth::Bearer { token } => request.bearer_auth(token),
        }
    }

    /// A fresh SPNEGO header for Livy when it uses Kerberos (a replayed token is refused).
    async fn negotiate(&self) -> Result<Option<String>, SparkError> {
        let LivyAuth::Kerberos(settings) = &self.config.auth else { return Ok(None) };
        let address = &self.config.url;
        let Some(id) = kerberos::identity(Some(settings), BackendKind::Livy, address).await? else { return Ok(None) };
        let header =
            kerberos::negotiate(&id, address).await.map_err(|e| kerberos::error(BackendKind::Livy, address, e))?;
        Ok(Some(header))
    }

    /// Sends `request`; 2xx bodies are parsed as `T`, 404 is `NotFound(id)`,
    /// other 4xx are `Rejected` with Livy's `msg`, 5xx and network errors `Unavailable`.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        id: Option<&str>,
    ) -> Result<T, SparkError> {
        let request = match self.negotiate().await? {
            Some(header) => request.header(reqwest::header::AUTHORIZATION, header),
            None => request,
        };
        let response = request.send().await.map_err(|e| self.unavailable(error_chain(&e)).unsent_if(e.is_connect()))?;
        let status = response.status();
        // Livy with `livy.server.auth.type = kerberos` answers 401 with `WWW-Authenticate: Negotiate`.
        let wants_spnego = response
            .headers()
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.trim_start().starts_with("Negotiate")));
        let body = response.text().await.map_err(|e| self.unavailable(error_chain(&e)))?;
        let excerpt = || body.chars().take(200).collect::<String>();
        if status.is_success() {
            return serde_json::from_str(&body).map_err(|e| {
                self.unavailable(format!("HTTP {status} with a body that is not a Livy response ({e}): {}", excerpt()))
            });
        }
        let msg = serde_json::from_str::<Message>(&body).ok().and_then(|m| m.msg).unwrap_or_else(|| error_text(&body));
        if status == reqwest::StatusCode::NOT_FOUND
            && let Some(id) = id
        {
            return Err(SparkError::NotFound { backend: BackendKind::Livy, id: id.to_string() });
        }
        if status.is_server_error() {
            return Err(self.unavailable(format!("HTTP {status}: {msg}")));
        }
        let hint = match status.as_u16() {
            401 | 403 if matches!(self.config.auth, LivyAuth::Kerberos(_)) => {
                "; check that Livy's HTTP principal matches kerberos.http_principal and that the principal may use Livy (and impersonate proxyUser)"
            }
            401 if wants_spnego => {
                "; Livy asks for Kerberos (SPNEGO): check the [kerberos] settings (a principal with a keytab or a ticket cache; Livy uses them when no CONSORT_LIVY_TOKEN or CONSORT_LIVY_USER is set)"
            }
            401 | 403 => "; check the credentials in CONSORT_LIVY_TOKEN or CONSORT_LIVY_USER/CONSORT_LIVY_PASSWORD",
            400 if msg.contains("CSRF") => "; set [spark] livy_requested_by",
            400 if msg.contains("cannot be added to user sessions") => {
                "; add the file's directory to livy.file.local-dir-whitelist in livy.conf, or use a URI Livy can read (hdfs://, s3a://)"
            }
            _ => "",
        };
        Err(SparkError::Rejected { backend: BackendKind::Livy, message: format!("HTTP {status}: {msg}{hint}") })
    }

    /// Livy ids are integers; anything else cannot name a batch.
    fn batch_id(id: &str) -> Result<u64, SparkError> {
        id.parse::<u64>().map_err(|_| SparkError::NotFound { backend: BackendKind::Livy, id: id.to_string() })
    }

    async fn batch(&self, id: &str) -> Result<Batch, SparkError> {
        let n = Self::batch_id(id)?;
        self.call(self.request(reqwest::Method::GET, &format!("batches/{n}")), Some(id)).await
    }

    /// Spark's application id from the driver's UI (`/api/v1/applications`), found through the
    /// address the driver logs when its UI starts; remembered per batch. `None` when the UI is
    /// off, gone, or not reachable from here. Livy's credentials are not sent to it.
    async fn app_id_from_ui(&self, id: &str, lines: &[String]) -> Option<String> {
        if let Some(known) = self.ui_app_ids.lock().ok().and_then(|ids| ids.get(id).cloned()) {
            return Some(known);
        }
        let ui = ui_seen_from(&find_ui_url(&lines.join("\n"))?, &self.config.url);
        let response = self.http.get(format!("{ui}/api/v1/applications")).timeout(UI_TIMEOUT).send().await.ok()?;
        let apps: Vec<UiApplication> = response.error_for_status().ok()?.json().await.ok()?;
        let app_id = apps.into_iter().map(|a| a.id).find(|a| find_app_id(a).as_deref() == Some(a.as_str()))?;
        if let Ok(mut ids) = self.ui_app_ids.lock() {
            ids.insert(id.to_string(), app_id.clone());
        }
        Some(app_id)
    }

    /// The driver output Livy still holds, oldest first.
    async fn log_lines(&self, id: &str) -> Result<Vec<String>, SparkError> {
        let n = Self::batch_id(id)?;
        let page: LogPage = self
            .call(self.request(reqwest::Method::GET, &format!("batches/{n}/log?size={LOG_LINES}")), Some(id))
            .await?;
        Ok(page.log)
    }
}

#[async_trait]
impl Launcher for LivyLauncher {
    fn kind(&self) -> BackendKind {
        BackendKind::Livy
    }

    fn address(&self) -> String {
        self.config.url.clone()
    }

    async fn health(&self) -> Result<(), SparkError> {
        self.call::<Value>(self.request(reqwest::Method::GET, "batches?from=0&size=1"), None).await.map(|_| ())
    }

    async fn submit(&self, spec: &AppSpec) -> Result<Submission, SparkError> {
        spec.validate()?;
        let mut spec = spec.clone();
        launch_driver_python_with(&mut spec, self.config.python_launcher.as_deref());
        let spec = &spec;
        let mut body = batch_request(spec);
        if let (Some(user), Some(map)) = (&self.config.proxy_user, body.as_object_mut()) {
            map.insert("proxyUser".into(), json!(user));
        }
        match self.call::<Batch>(self.request(reqwest::Method::POST, "batches").json(&body), None).await {
            Ok(batch) => Ok(Submission { backend: BackendKind::Livy, id: batch.id.to_string() }),
            // The key's batch exists: an earlier create of this run got there (its answer lost).
            Err(SparkError::Rejected { message, .. })
                if spec.key.is_some() && message.contains("Duplicate session name") =>
            {
                let key = spec.key.as_deref().unwrap_or_default();
                self.find(key).await?.ok_or_else(|| SparkError::Rejected {
                    backend: BackendKind::Livy,
                    message: format!("Livy holds a session named `{key}` that is not a batch ({message}); delete it"),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// The batch named `key`, read from `GET /batches` page by page (Livy has no look-up by name).
    async fn find(&self, key: &str) -> Result<Option<Submission>, SparkError> {
        let mut from = 0;
        loop {
            let path = format!("batches?from={from}&size={FIND_PAGE}");
            let page: BatchPage = self.call(self.request(reqwest::Method::GET, &path), None).await?;
            if let Some(batch) = page.sessions.iter().find(|b| b.name.as_deref() == Some(key)) {
                return Ok(Some(Submission { backend: BackendKind::Livy, id: batch.id.to_string() }));
            }
            if page.sessions.len() < FIND_PAGE {
                return Ok(None);
            }
            from += FIND_PAGE;
        }
    }

    async fn status(&self, id: &str) -> Result<AppStatus, SparkError> {
        let batch = self.batch(id).await?;
        let livy_state = batch.state.unwrap_or_default();
        let state = batch_state(&livy_state);
        let info = batch.app_info.unwrap_or_default();
        // The batch view carries only the last 10 lines; read what Livy keeps when they don't tell.
        let mut lines = batch.log;
        let mut app_id = batch.app_id.or_else(|| lines.iter().find_map(|l| find_app_id(l)));
        let wants_log = state == AppState::Failed || (app_id.is_none() && state != AppState::Submitted);
        if wants_log && let Ok(all) = self.log_lines(id).await {
            lines = all;
            app_id = app_id.or_else(|| lines.iter().find_map(|l| find_app_id(l)));
        }
        // In local and client mode neither Livy nor Spark's log names the application; the
        // driver's own UI does, while it runs.
        if app_id.is_none() && state == AppState::Running {
            app_id = self.app_id_from_ui(id, &lines).await;
        }
        let message = match state {
            AppState::Failed | AppState::Killed | AppState::Unknown => {
                let mut text = format!("Livy batch {id} is {livy_state}");
                if let Some(line) = failure_line(&lines) {
                    text.push_str(": ");
                    text.push_str(&line);
                }
                if let Some(url) = info.driver_log_url.as_ref().or(info.spark_ui_url.as_ref()) {
                    text.push_str(&format!(" (driver log: {url})"));
                }
                Some(text)
            }
            _ => None,
        };
        Ok(AppStatus { state, app_id, exit_code: None, message })
    }

    async fn logs(&self, id: &str, max_bytes: usize) -> Result<String, SparkError> {
        let text = self.log_lines(id).await?.join("\n");
        let mut start = text.len().saturating_sub(max_bytes);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        Ok(text[start..].to_string())
    }

    /// The Spark UI Livy reports for the batch (YARN's tracking URL), else Livy's own page of
    /// the batch's log.
    async fn ui_url(&self, id: &str) -> Result<Option<String>, SparkError> {
        let n = Self::batch_id(id)?;
        let reported = self.batch(id).await?.app_info.and_then(|i| i.spark_ui_url).filter(|u| u.starts_with("http"));
        Ok(Some(reported.unwrap_or_else(|| format!("{}/ui/batch/{n}/log", self.config.url.trim_end_matches('/')))))
    }

    async fn kill(&self, id: &str) -> Result<(), SparkError> {
        // A batch that has ended keeps its outcome readable until Livy forgets it; only a live one is deleted.
        if self.status(id).await?.state.is_final() {
            return Ok(());
        }
        let n = Self::batch_id(id)?;
        self.call::<Value>(self.request(reqwest::Method::DELETE, &format!("batches/{n}")), Some(id)).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_spec() -> AppSpec {
        let mut spec = AppSpec::jar("etl", "hdfs://ns1/jobs/etl.jar", "com.example.Etl");
        spec.args = vec!["--date".into(), "2026-01-01".into()];
        spec.jars = vec!["a.jar".into(), "b.jar".into()];
        spec.py_files = vec!["lib.zip".into()];
        spec.files = vec!["app.conf".into()];
        spec.packages = vec!["org.example:lib:1.0".into(), "org.example:other:2.0".into()];
        spec.driver_cores = Some(1);
        spec.driver_memory = Some("1g".into());
        spec.executor_cores = Some(2);
        spec.executor_memory = Some("2g".into());
        spec.num_executors = Some(3);
        spec.queue = Some("etl".into());
        spec.log_level = Some("warn".into());
        spec.conf.insert("spark.sql.shuffle.partitions".into(), "8".into());
        spec
    }

    #[test]
    fn every_field_reaches_the_batch() {
        let body = batch_request(&full_spec());
        assert_eq!(body["file"], "hdfs://ns1/jobs/etl.jar");
        assert_eq!(body["className"], "com.example.Etl");
        assert_eq!(body["args"], json!(["--date", "2026-01-01"]));
        assert_eq!(body["jars"], json!(["a.jar", "b.jar"]));
        assert_eq!(body["pyFiles"], json!(["lib.zip"]));
        assert_eq!(body["files"], json!(["app.conf"]));
        assert_eq!(body["driverCores"], 1);
        assert_eq!(body["driverMemory"], "1g");
        assert_eq!(body["executorCores"], 2);
        assert_eq!(body["executorMemory"], "2g");
        assert_eq!(body["numExecutors"], 3);
        assert_eq!(body["queue"], "etl");
        assert!(body.get("name").is_none(), "Livy session names must be unique; the name goes to spark.app.name");
        let conf = &body["conf"];
        assert_eq!(conf["spark.app.name"], "etl");
        assert_eq!(conf["spark.jars.packages"], "org.example:lib:1.0,org.example:other:2.0");
        assert_eq!(conf["spark.log.level"], "WARN");
        assert_eq!(conf["spark.sql.shuffle.partitions"], "8");
        assert_eq!(body.as_object().unwrap().len(), 13, "{body:#}");
        assert_eq!(conf.as_object().unwrap().len(), 4, "{conf:#}");
    }

    #[test]
    fn a_minimal_spec_sends_only_what_is_set() {
        let body = batch_request(&AppSpec::python("report", "/jobs/report.py"));
        assert_eq!(body, json!({"file": "/jobs/report.py", "conf": {"spark.app.name": "report"}}));
    }

    #[test]
    fn explicit_conf_wins_over_typed_fields() {
        let mut spec = full_spec();
        for key in TYPED {
            spec.conf.insert(key.into(), "from-conf".into());
        }
        spec.conf.insert("spark.app.name".into(), "renamed".into());
        let body = batch_request(&spec);
        for field in ["driverMemory", "driverCores", "executorMemory", "executorCores", "numExecutors", "queue"] {
            assert!(body.get(field).is_none(), "{field} must yield to conf: {body:#}");
        }
        for key in TYPED {
            assert_eq!(body["conf"][key], "from-conf");
        }
        assert_eq!(body["conf"]["spark.app.name"], "renamed");
    }

    #[test]
    fn livy_states_map_onto_ours() {
        for (livy, ours) in [
            ("not_started", AppState::Submitted),
            ("starting", AppState::Submitted),
            ("recovering", AppState::Submitted),
            ("idle", AppState::Running),
            ("running", AppState::Running),
            ("busy", AppState::Running),
            ("shutting_down", AppState::Running),
            ("success", AppState::Succeeded),
            ("dead", AppState::Failed),
            ("error", AppState::Failed),
            ("killed", AppState::Killed),
            ("something_new", AppState::Unknown),
        ] {
            assert_eq!(batch_state(livy), ours, "{livy}");
        }
    }

    fn launcher(requested_by: Option<&str>, auth: LivyAuth) -> LivyLauncher {
        LivyLauncher::new(LivyConfig {
            url: "http://127.0.0.1:8998/".into(),
            requested_by: requested_by.map(String::from),
            auth,
            request_timeout: Duration::from_secs(5),
            proxy_user: None,
            python_launcher: None,
        })
        .unwrap()
    }

    #[test]
    fn requests_carry_the_csrf_header_and_credentials() {
        let basic = LivyAuth::Basic { user: "etl".into(), password: "s3cret".into() };
        let l = launcher(Some("consort"), basic);
        let post = l.request(reqwest::Method::POST, "batches").build().unwrap();
        assert_eq!(post.url().as_str(), "http://127.0.0.1:8998/batches");
        assert_eq!(post.headers()["X-Requested-By"], "consort");
        // base64("etl:s3cret")
        assert_eq!(post.headers()["Authorization"], "Basic ZXRsOnMzY3JldA==");
        let get = l.request(reqwest::Method::GET, "batches/1").build().unwrap();
        assert!(get.headers().get("X-Requested-By").is_none(), "only state-changing calls need it");

        let l = launcher(None, LivyAuth::Bearer { token: "t0k3n".into() });
        let delete = l.request(reqwest::Method::DELETE, "batches/1").build().unwrap();
        assert_eq!(delete.headers()["Authorization"], "Bearer t0k3n");
        assert!(delete.headers().get("X-Requested-By").is_none());
        assert!(
            launcher(None, LivyAuth::None)
                .request(reqwest::Method::GET, "x")
                .build()
                .unwrap()
                .headers()
                .get("Authorization")
                .is_none()
        );
    }

    #[test]
    fn secrets_never_reach_debug_output() {
        let l = launcher(None, LivyAuth::Basic { user: "etl".into(), password: "s3cret".into() });
        let text = format!("{l:?}");
        assert!(text.contains("etl") && !text.contains("s3cret"), "{text}");
        let text = format!("{:?}", LivyAuth::Bearer { token: "t0k3n".into() });
        assert!(!text.contains("t0k3n"), "{text}");
    }

    #[test]
    fn the_failure_line_is_the_last_exception() {
        let log: Vec<String> = [
            "stdout: ",
            "COUNT=10",
            "Exception in thread \"main\" java.lang.IllegalStateException: failing on purpose (mode=fail)",
            "\tat consort.examples.CountRange.main(CountRange.java:27)",
            "\nstderr: ",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        assert!(failure_line(&log).unwrap().contains("failing on purpose"));
        assert_eq!(failure_line(&log[..2]), None);
    }

    #[test]
    fn error_pages_become_one_line() {
        let jetty = "<html>\n<head><title>Error 400 </title></head>\n<body><h2>HTTP ERROR: 400</h2>\n\
                     <p>Problem accessing /batches. Reason:\n<pre>    Missing Required Header for CSRF protection.</pre></p>\n\
                     <hr /><a href=\"http://eclipse.org/jetty\">Powered by Jetty://</a></body></html>";
        assert_eq!(error_text(jetty), "Missing Required Header for CSRF protection.");
        assert_eq!(error_text("<h1>Bad\n gateway</h1>"), "Bad gateway");
        assert_eq!(error_text("plain"), "plain");
    }

    #[test]
    fn a_loopback_driver_ui_is_reached_at_livys_host() {
        assert_eq!(
            ui_seen_from("http://127.0.0.1:4040", "http://livy.example.com:8998"),
            "http://livy.example.com:4040"
        );
        assert_eq!(ui_seen_from("http://localhost:4041", "http://127.0.0.1:8998/"), "http://127.0.0.1:4041");
        assert_eq!(ui_seen_from("http://10.0.0.7:4040", "http://livy.example.com:8998"), "http://10.0.0.7:4040");
    }

    #[test]
    fn ids_that_are_not_numbers_are_not_found() {
        assert!(matches!(LivyLauncher::batch_id("../x"), Err(SparkError::NotFound { .. })));
        assert_eq!(LivyLauncher::batch_id("42").unwrap(), 42);
    }
}
