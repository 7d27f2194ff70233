//! The `standalone` backend: a Spark standalone master's REST submission server
//! (`/v1/submissions/create|status|kill`, usually port 6066), cluster deploy mode.
//!
//! The server answers most failures with HTTP 200 and `"success": false`; those
//! become [`SparkError::Rejected`] / [`SparkError::NotFound`] here, never a success.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::driver_error::driver_error_in;
use crate::driver_python::default_python_properties;
use crate::launcher::{AppState, AppStatus, BackendKind, Launcher, SparkError, Submission, error_chain};
use crate::spec::{AppResource, AppSpec};

/// Where the cluster is.
#[derive(Clone, Debug)]
pub struct StandaloneConfig {
    /// The REST server, e.g. `http://127.0.0.1:6066`.
    pub rest_url: String,
    /// The master URL drivers connect to, e.g. `spark://127.0.0.1:7077`.
    pub master_url: String,
    /// The Spark version we claim to be (`clientSparkVersion`).
    pub spark_version: String,
    /// Timeout of each REST call.
    pub request_timeout: Duration,
    /// The master's web UI, e.g. `http://127.0.0.1:8080`: through it (its `/json/` worker
    /// list, then the driver's worker's `/log`) the driver's log and Spark's application id
    /// are read. Without it, logs say where to look and the application id stays unknown.
    pub ui_url: Option<String>,
    /// Python for PySpark drivers and executors on the workers (`[spark] python`), as
    /// `spark.pyspark.python` unless the job sets it.
    pub python: Option<std::path::PathBuf>,
}

/// The `standalone` backend.
#[derive(Debug)]
pub struct StandaloneLauncher {
    config: StandaloneConfig,
    http: reqwest::Client,
    /// Application ids found in drivers' logs (they never change), or `None` for a driver whose
    /// log will never show one.
    app_ids: std::sync::Mutex<std::collections::HashMap<String, Option<String>>>,
}

/// The body of `POST /v1/submissions/create` for `spec`.
///
/// Every field reaches Spark as a property: the typed fields become their
/// `spark.*` names, then `spec.conf` is applied on top.
pub fn create_request(spec: &AppSpec, master_url: &str, spark_version: &str) -> Value {
    let mut props: BTreeMap<String, String> = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        props.insert(k.to_string(), v);
    };
    set("spark.app.name", spec.name.clone());
    set("spark.master", master_url.to_string());
    set("spark.submit.deployMode", "cluster".into());
    set("spark.driver.supervise", "false".into());
    let mut jars = vec![spec.resource.uri().to_string()];
    if let AppResource::Python { .. } = spec.resource {
        jars.clear();
    }
    jars.extend(spec.jars.iter().cloned());
    if !jars.is_empty() {
        set("spark.jars", jars.join(","));
    }
    if !spec.py_files.is_empty() {
        set("spark.submit.pyFiles", spec.py_files.join(","));
    }
    if !spec.files.is_empty() {
        set("spark.files", spec.files.join(","));
    }
    if !spec.packages.is_empty() {
        set("spark.jars.packages", spec.packages.join(","));
    }
    if let Some(n) = spec.driver_cores {
        set("spark.driver.cores", n.to_string());
    }
    if let Some(m) = &spec.driver_memory {
        set("spark.driver.memory", m.clone());
    }
    if let Some(n) = spec.executor_cores {
        set("spark.executor.cores", n.to_string());
    }
    if let Some(m) = &spec.executor_memory {
        set("spark.executor.memory", m.clone());
    }
    if let Some(n) = spec.num_executors {
        // Standalone has no executor count; cap the cores instead, as spark-submit does.
        let per_executor = spec.executor_cores.unwrap_or(1);
        set("spark.cores.max", (n * per_executor).to_string());
        set("spark.executor.instances", n.to_string());
    }
    if let Some(q) = &spec.queue {
        set("spark.yarn.queue", q.clone());
    }
    if let Some(level) = &spec.log_level {
        set("spark.log.level", level.to_uppercase());
    }
    for (k, v) in &spec.conf {
        set(k, v.clone());
    }
    // The REST server cannot be asked for it, but the property reaches the driver's launch
    // command, which the worker writes at the top of the driver's stderr: `find` reads it there.
    if let Some(key) = &spec.key {
        set(RUN_KEY_PROPERTY, key.clone());
    }
    // The worker runs the main class with `appArgs`. For Python that is Spark's PythonRunner,
    // whose arguments are the file, the comma-separated py-files, then the job's own (what
    // spark-submit passes it; spark-submit itself refuses Python in standalone cluster mode).
    let (main_class, args) = match &spec.resource {
        AppResource::Jar { main_class, .. } => (main_class.clone(), spec.args.clone()),
        AppResource::Python { uri } => {
            let runner_args = [uri.clone(), spec.py_files.join(",")].into_iter().chain(spec.args.iter().cloned());
            ("org.apache.spark.deploy.PythonRunner".to_string(), runner_args.collect())
        }
    };
    json!({
        "action": "CreateSubmissionRequest",
        "appResource": spec.resource.uri(),
        "mainClass": main_class,
        "appArgs": args,
        "clientSparkVersion": spark_version,
        "environmentVariables": {"SPARK_ENV_LOADED": "1"},
        "sparkProperties": props,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RestResponse {
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    submission_id: Option<String>,
    #[serde(default)]
    driver_state: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    worker_id: Option<String>,
}

/// The Spark property that carries a run's key to the driver (and its launch command).
const RUN_KEY_PROPERTY: &str = "spark.consort.runKey";

/// How much of a driver's stderr `find` reads: the worker's `Launch Command: …` line, first.
const LAUNCH_HEAD: usize = 64 << 10;

/// The master UI's `/json/`, as far as it is read here.
#[derive(Debug, Deserialize)]
struct MasterJson {
    #[serde(default)]
    workers: Vec<WorkerJson>,
    /// Drivers not ended yet, waiting ones included.
    #[serde(default)]
    activedrivers: Vec<DriverJson>,
    /// Ended drivers the master still retains (`spark.deploy.retainedDrivers`, 200 by default).
    #[serde(default)]
    completeddrivers: Vec<DriverJson>,
}

#[derive(Debug, Deserialize)]
struct DriverJson {
    id: String,
    /// The worker's id, or `"None"` while the driver waits for one.
    #[serde(default)]
    worker: Option<String>,
}

/// Whether a driver's stderr starts with the worker's launch command for run `key` (the
/// property is quoted whole, so key `…-1` never matches a driver of key `…-10`).
fn launched_for_key(stderr_head: &str, key: &str) -> bool {
    stderr_head.lines().next().is_some_and(|first| {
        first.starts_with("Launch Command:") && first.contains(&format!("\"-D{RUN_KEY_PROPERTY}={key}\""))
    })
}

#[derive(Debug, Deserialize)]
struct WorkerJson {
    id: String,
    webuiaddress: String,
}

/// Which part of a driver's log to read through the worker's `/log`.
enum LogRange {
    /// The first `n` bytes (where the application id is logged).
    Head(usize),
    /// The last `n` bytes.
    Tail(usize),
}

fn driver_state(state: &str) -> AppState {
    match state {
        "SUBMITTED" => AppState::Submitted,
        "RUNNING" | "RELAUNCHING" => AppState::Running,
        "FINISHED" => AppState::Succeeded,
        "FAILED" | "ERROR" => AppState::Failed,
        "KILLED" => AppState::Killed,
        _ => AppState::Unknown,
    }
}

impl StandaloneLauncher {
    /// A client for the cluster in `config`.
    pub fn new(config: StandaloneConfig) -> Result<Self, SparkError> {
        let http = reqwest::Client::builder().timeout(config.request_timeout).build().map_err(|e| {
            SparkError::Unavailable {
                backend: BackendKind::Standalone,
                address: config.rest_url.clone(),
                message: e.to_string(),
            }
        })?;
        Ok(StandaloneLauncher { config, http, app_ids: Default::default() })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1/submissions/{path}", self.config.rest_url.trim_end_matches('/'))
    }

    fn unavailable(&self, e: impl std::fmt::Display) -> SparkError {
        SparkError::Unavailable {
            backend: BackendKind::Standalone,
            address: self.config.rest_url.clone(),
            message: e.to_string(),
        }
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> Result<RestResponse, SparkError> {
        let response = request.send().await.map_err(|e| self.unavailable(error_chain(&e)).unsent_if(e.is_connect()))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| self.unavailable(error_chain(&e)))?;
        let parsed: RestResponse = serde_json::from_str(&body).map_err(|_| {
            self.unavailable(format!(
                "HTTP {status} with a body that is not a Spark REST response: {}",
                body.chars().take(200).collect::<String>()
            ))
        })?;
        if !status.is_success() {
            let message = parsed.message.unwrap_or_else(|| format!("HTTP {status}"));
            return Err(SparkError::Rejected { backend: BackendKind::Standalone, message: first_line(&message) });
        }
        Ok(parsed)
    }
}

impl StandaloneLauncher {
    /// `stream` (`stdout` or `stderr`) of driver `id`, which runs on `worker_id`, through the
    /// master's and then the worker's web UI. `None` without a UI URL.
    async fn driver_log(
        &self,
        id: &str,
        worker_id: &str,
        stream: &str,
        range: LogRange,
    ) -> Option<Result<String, SparkError>> {
        let ui = self.config.ui_url.as_deref()?;
        let read = async {
            let master = self.master_json(ui).await?;
            self.worker_log(&master, id, worker_id, stream, range).await
        };
        Some(read.await)
    }

    /// The master UI's `/json/` (workers and drivers).
    async fn master_json(&self, ui: &str) -> Result<MasterJson, SparkError> {
        let ui = ui.trim_end_matches('/');
        let text = self.get_ui_text(ui, format!("{ui}/json/")).await?;
        serde_json::from_str(&text)
            .map_err(|e| self.unavailable(format!("the master UI at {ui} answered /json/ with {e}")))
    }

    async fn get_ui_text(&self, ui: &str, url: String) -> Result<String, SparkError> {
        let ui_error = |e: reqwest::Error| SparkError::Unavailable {
            backend: BackendKind::Standalone,
            address: ui.to_string(),
            message: error_chain(&e),
        };
        let response = self.http.get(url).send().await.and_then(|r| r.error_for_status());
        response.map_err(ui_error)?.text().await.map_err(ui_error)
    }

    /// `stream` of driver `id` through the web UI of `worker_id` (found in `master`).
    async fn worker_log(
        &self,
        master: &MasterJson,
        id: &str,
        worker_id: &str,
        stream: &str,
        range: LogRange,
    ) -> Result<String, SparkError> {
        let worker = master.workers.iter().find(|w| w.id == worker_id).ok_or_else(|| SparkError::Rejected {
            backend: BackendKind::Standalone,
            message: format!("worker {worker_id} that ran driver {id} is no longer known to the master"),
        })?;
        let (offset, length) = match range {
            LogRange::Head(n) => ("&offset=0", n),
            LogRange::Tail(n) => ("", n),
        };
        let worker_ui = worker.webuiaddress.trim_end_matches('/');
        let url = format!("{worker_ui}/log?driverId={id}&logType={stream}&byteLength={length}{offset}");
        let text = self.get_ui_text(worker_ui, url).await?;
        // The worker puts a `==== Bytes a-b of n of PATH ====` line before the bytes.
        Ok(match text.split_once('\n') {
            Some((first, rest)) if first.starts_with("====") => rest.to_string(),
            _ => text,
        })
    }

    /// Spark's application id, from the start of the driver's log (where the driver logs
    /// `Connected to Spark cluster with app ID app-…`); remembered once found.
    /// A log without the line is remembered too, once it never will have it (the driver ended,
    /// or the head read is full), so a long job at WARN is not re-read on every poll.
    async fn app_id(&self, id: &str, worker_id: Option<&str>, state: AppState) -> Option<String> {
        if let Some(known) = self.app_ids.lock().ok().and_then(|ids| ids.get(id).cloned()) {
            return known;
        }
        const HEAD: usize = 256 << 10;
        let head = self.driver_log(id, worker_id?, "stderr", LogRange::Head(HEAD)).await?.ok()?;
        let found = head
            .lines()
            .find_map(|l| l.split("with app ID ").nth(1))
            .map(|rest| rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect::<String>());
        if (found.is_some() || state.is_final() || head.len() >= HEAD)
            && let Ok(mut ids) = self.app_ids.lock()
        {
            ids.insert(id.to_string(), found.clone());
        }
        found
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

#[async_trait]
impl Launcher for StandaloneLauncher {
    fn kind(&self) -> BackendKind {
        BackendKind::Standalone
    }

    fn address(&self) -> String {
        self.config.rest_url.clone()
    }

    async fn health(&self) -> Result<(), SparkError> {
        self.call(self.http.get(self.url("readyz"))).await.map(|_| ())
    }

    async fn submit(&self, spec: &AppSpec) -> Result<Submission, SparkError> {
        spec.validate()?;
        let mut spec = spec.clone();
        let python = self.config.python.as_ref().map(|p| p.display().to_string());
        default_python_properties(&mut spec, &["spark.pyspark.python"], python.as_deref());
        let body = create_request(&spec, &self.config.master_url, &self.config.spark_version);
        let r = self.call(self.http.post(self.url("create")).json(&body)).await?;
        match (r.success, r.submission_id) {
            (Some(true), Some(id)) => Ok(Submission { backend: BackendKind::Standalone, id }),
            _ => Err(SparkError::Rejected {
                backend: BackendKind::Standalone,
                message: r
                    .message
                    .map(|m| first_line(&m))
                    .unwrap_or_else(|| "submission refused without a message".into()),
            }),
        }
    }

    /// The REST server cannot be asked for a key, so every driver the master knows (running,
    /// waiting, and the ended ones it retains) is checked for the key in its launch command,
    /// read through the master's and workers' web UIs: one log read per driver, only on an
    /// ambiguous submission or a recovery. `Ok(None)` only when every driver was read; a driver
    /// still waiting for a worker, or whose worker is gone, leaves the answer open (a
    /// retryable error), so nothing is sent again on a guess.
    async fn find(&self, key: &str) -> Result<Option<Submission>, SparkError> {
        let Some(ui) = self.config.ui_url.as_deref() else {
            return Err(SparkError::Rejected {
                backend: BackendKind::Standalone,
                message: format!(
                    "cannot look up run key `{key}` without the master's web UI; set [spark] standalone_ui_url, or \
                     check the master's drivers by hand before running the job again"
                ),
            });
        };
        let master = self.master_json(ui).await?;
        let mut unread = None;
        let drivers =
            master.activedrivers.iter().map(|d| (d, true)).chain(master.completeddrivers.iter().map(|d| (d, false)));
        for (driver, active) in drivers {
            let head = match driver.worker.as_deref().filter(|w| *w != "None") {
                Some(worker) => self
                    .worker_log(&master, &driver.id, worker, "stderr", LogRange::Head(LAUNCH_HEAD))
                    .await
                    .map_err(|e| e.to_string()),
                None => Err("it waits for a worker".to_string()),
            };
            match head {
                Ok(head) if launched_for_key(&head, key) => {
                    return Ok(Some(Submission { backend: BackendKind::Standalone, id: driver.id.clone() }));
                }
                // Launched for another key.
                Ok(head) if head.starts_with("Launch Command:") => {}
                // An active driver whose worker has not launched it yet may still be the key's;
                // an ended one that never launched ran nothing.
                Ok(_) if active => unread = Some((driver.id.clone(), "its worker has not launched it yet".to_string())),
                Ok(_) => {}
                Err(e) => unread = Some((driver.id.clone(), e)),
            }
        }
        match unread {
            None => Ok(None),
            Some((id, why)) => Err(self.unavailable(format!(
                "cannot tell yet whether run key `{key}` was submitted: driver {id}'s launch command is unreadable ({why})"
            ))),
        }
    }

    async fn status(&self, id: &str) -> Result<AppStatus, SparkError> {
        let r = self.call(self.http.get(self.url(&format!("status/{id}")))).await?;
        match (r.success, r.driver_state) {
            (Some(true), Some(state)) => {
                let app_state = driver_state(&state);
                let app_id = match app_state {
                    AppState::Running | AppState::Succeeded | AppState::Failed | AppState::Killed => {
                        self.app_id(id, r.worker_id.as_deref(), app_state).await
                    }
                    AppState::Submitted | AppState::Unknown => None,
                };
                let mut message = r.message.map(|m| first_line(&m)).or_else(|| {
                    (app_state == AppState::Failed).then(|| {
                        format!(
                            "driver state {state}; the driver's stderr is in the worker's work directory under {id}"
                        )
                    })
                });
                // The driver's exception says why, where its log is reachable (the web UIs): the
                // JVM's in its stderr, a Python driver's traceback in its stdout.
                if app_state == AppState::Failed
                    && let Some(worker) = r.worker_id.as_deref()
                    && let Some(Ok(stderr)) = self.driver_log(id, worker, "stderr", LogRange::Tail(256 << 10)).await
                {
                    let stdout = match self.driver_log(id, worker, "stdout", LogRange::Tail(64 << 10)).await {
                        Some(Ok(stdout)) => stdout,
                        _ => String::new(),
                    };
                    if let Some(exception) = driver_error_in(&stderr, &stdout) {
                        message = Some(format!("{exception} (driver state {state})"));
                    }
                }
                Ok(AppStatus { state: app_state, app_id, exit_code: None, message })
            }
            _ => Err(SparkError::NotFound { backend: BackendKind::Standalone, id: id.to_string() }),
        }
    }

    async fn logs(&self, id: &str, max_bytes: usize) -> Result<String, SparkError> {
        let r = self.call(self.http.get(self.url(&format!("status/{id}")))).await?;
        if r.success != Some(true) {
            return Err(SparkError::NotFound { backend: BackendKind::Standalone, id: id.to_string() });
        }
        let Some(worker) = r.worker_id else {
            return Ok(format!("driver {id} has not been placed on a worker yet, so it has no log yet"));
        };
        let half = max_bytes / 2;
        match self.driver_log(id, &worker, "stdout", LogRange::Tail(half)).await {
            Some(stdout) => {
                let stdout = stdout?;
                let stderr = self.driver_log(id, &worker, "stderr", LogRange::Tail(max_bytes - stdout.len().min(half)));
                Ok(format!("{stdout}{}", stderr.await.transpose()?.unwrap_or_default()))
            }
            None => Ok(format!(
                "driver {id} ran on {worker}; set [spark] standalone_ui_url (the master's web UI) to read its log here, \
                 or read stdout/stderr in that worker's work directory under {id}/"
            )),
        }
    }

    /// The master's page of the application (`standalone_ui_url` set, the application id known).
    async fn ui_url(&self, id: &str) -> Result<Option<String>, SparkError> {
        let Some(ui) = self.config.ui_url.as_deref() else { return Ok(None) };
        let app_id = self.status(id).await?.app_id;
        Ok(app_id.map(|app| format!("{}/app/?appId={app}", ui.trim_end_matches('/'))))
    }

    async fn kill(&self, id: &str) -> Result<(), SparkError> {
        let r = self.call(self.http.post(self.url(&format!("kill/{id}")))).await?;
        if r.success == Some(true) {
            return Ok(());
        }
        // Killing a finished driver is not an error; an unknown one is.
        match self.status(id).await {
            Ok(status) if status.state.is_final() => Ok(()),
            Ok(_) => Err(SparkError::Rejected {
                backend: BackendKind::Standalone,
                message: r.message.unwrap_or_else(|| "kill refused".into()),
            }),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_becomes_a_spark_property() {
        let mut spec = AppSpec::jar("etl", "file:/jobs/etl.jar", "com.example.Etl");
        spec.args = vec!["10".into()];
        spec.jars = vec!["file:/lib/x.jar".into()];
        spec.driver_memory = Some("1g".into());
        spec.executor_cores = Some(2);
        spec.executor_memory = Some("2g".into());
        spec.num_executors = Some(3);
        spec.log_level = Some("warn".into());
        spec.conf.insert("spark.executor.memory".into(), "3g".into());
        let body = create_request(&spec, "spark://127.0.0.1:7077", "4.3.0");
        let props = &body["sparkProperties"];
        assert_eq!(body["mainClass"], "com.example.Etl");
        assert_eq!(body["appArgs"], json!(["10"]));
        assert_eq!(props["spark.jars"], "file:/jobs/etl.jar,file:/lib/x.jar");
        assert_eq!(props["spark.driver.memory"], "1g");
        assert_eq!(props["spark.cores.max"], "6");
        assert_eq!(props["spark.log.level"], "WARN");
        assert_eq!(props["spark.executor.memory"], "3g", "explicit conf wins");
        assert_eq!(props["spark.submit.deployMode"], "cluster");
    }

    #[test]
    fn a_python_driver_gets_pythonrunners_arguments() {
        let mut spec = AppSpec::python("report", "file:/jobs/report.py");
        spec.args = vec!["10".into(), "ok".into()];
        spec.py_files = vec!["file:/lib/a.py".into(), "file:/lib/b.zip".into()];
        let body = create_request(&spec, "spark://127.0.0.1:7077", "4.3.0");
        assert_eq!(body["mainClass"], "org.apache.spark.deploy.PythonRunner");
        assert_eq!(body["appArgs"], json!(["file:/jobs/report.py", "file:/lib/a.py,file:/lib/b.zip", "10", "ok"]));
        assert_eq!(body["sparkProperties"]["spark.submit.pyFiles"], "file:/lib/a.py,file:/lib/b.zip");
        assert!(body["sparkProperties"].get("spark.jars").is_none(), "{body}");
    }

    #[test]
    fn a_driver_is_matched_to_its_key_by_the_launch_command_only() {
        let head = "Launch Command: \"/usr/bin/java\" \"-Dspark.app.name=etl\" \"-Dspark.consort.runKey=consort-run-1-10\" \
                    \"org.apache.spark.deploy.worker.DriverWrapper\"\n========================================\n";
        assert!(launched_for_key(head, "consort-run-1-10"));
        assert!(!launched_for_key(head, "consort-run-1-1"), "a key that is a prefix of another is not it");
        // The driver's own output cannot claim a key: only the worker's first line counts.
        let printed = "Launch Command: \"/usr/bin/java\"\n\"-Dspark.consort.runKey=consort-run-2-5\"\n";
        assert!(!launched_for_key(printed, "consort-run-2-5"));
        assert!(!launched_for_key("", "consort-run-2-5"));
    }
}
