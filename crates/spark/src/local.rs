//! The `local` backend: `spark-submit --master local[N]` as a child process group.
//!
//! Each run gets a directory under the work directory holding the driver's
//! stdout/stderr, its process-group id and, once it ends, its exit code
//! (written by a small `sh` wrapper, so it is recorded even if consort is not
//! running at that moment). Status is read back from that directory, which is
//! how a restarted server re-attaches to runs it started before.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::process::Command;
use tokio::sync::watch;

use crate::app_id::find_app_id;
use crate::launcher::{AppState, AppStatus, BackendKind, Launcher, SparkError, Submission};
use crate::spec::{AppResource, AppSpec};
use crate::submit::spark_submit_args;

/// Runs the driver, then records its exit code atomically next to its logs.
const WRAPPER: &str = r#""$@" >stdout 2>stderr; code=$?; echo "$code" >exit_code.tmp && mv exit_code.tmp exit_code"#;

/// How long a killed driver gets to stop before SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(10);

/// The Spark property that tags a driver with its run id (seen in its UI's environment).
const RUN_TAG: &str = "spark.consort.run";

/// How often the driver's UI is asked for the application id until it answers.
const UI_POLL: Duration = Duration::from_millis(250);

/// Where Spark is and how to run it locally.
#[derive(Clone, Debug)]
pub struct LocalConfig {
    /// `SPARK_HOME` (a Spark distribution, or the `pyspark` package directory).
    pub spark_home: PathBuf,
    /// Python for PySpark drivers (one that can `import pyspark`).
    pub python: Option<PathBuf>,
    /// Where run directories are created.
    pub work_dir: PathBuf,
    /// The master, e.g. `local[2]`.
    pub master: String,
}

/// The `local` backend.
#[derive(Debug)]
pub struct LocalLauncher {
    config: LocalConfig,
    sequence: AtomicU64,
    /// Runs this launcher started: set to true when the wrapper exits, so a poller hears of
    /// the end at once (runs re-attached after a restart are polled from their directory).
    exits: Mutex<HashMap<String, watch::Receiver<bool>>>,
    /// Asks drivers' web UIs (on 127.0.0.1) for their application id; without one (no TLS
    /// backend to build a client on), drivers keep an event log instead.
    http: Option<reqwest::Client>,
}

impl LocalLauncher {
    /// A launcher for `config`; nothing is started until `submit`.
    pub fn new(config: LocalConfig) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .pool_max_idle_per_host(0)
            .build()
            .ok();
        LocalLauncher { config, sequence: AtomicU64::new(0), exits: Mutex::default(), http }
    }

    fn spark_submit(&self) -> PathBuf {
        self.config.spark_home.join("bin/spark-submit")
    }

    fn run_dir(&self, id: &str) -> Result<PathBuf, SparkError> {
        // Ids are ours (`run-…`); refuse anything that could leave the work directory.
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(SparkError::NotFound { backend: BackendKind::Local, id: id.to_string() });
        }
        let dir = self.config.work_dir.join(id);
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(SparkError::NotFound { backend: BackendKind::Local, id: id.to_string() })
        }
    }

    /// The application id from a running driver's UI, for a run whose launcher did not
    /// learn it (started by a previous process); recorded once found.
    async fn ask_ui(&self, dir: &Path, id: &str) -> Option<String> {
        let port = read_trimmed(&dir.join("ui_port"))?.parse::<u16>().ok()?;
        if dir.join("exit_code").exists() {
            return None;
        }
        let app_id = ui_app_id(self.http.as_ref()?, port, id).await?;
        let _ = write_atomically(&dir.join("app_id"), &app_id).await;
        Some(app_id)
    }

    fn new_id(&self) -> String {
        let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        format!("run-{ms}-{}-{n}", std::process::id())
    }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SparkError {
    let context = context.into();
    move |source| SparkError::Io { context, source }
}

/// Whether process `pid` exists and has not exited (Linux `/proc`).
fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name; `Z` is a zombie (exited).
        Ok(stat) => stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// The last `max_bytes` of a file (on a character boundary).
fn tail(path: &Path, max_bytes: usize) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let start = bytes.len().saturating_sub(max_bytes);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

#[async_trait]
impl Launcher for LocalLauncher {
    fn kind(&self) -> BackendKind {
        BackendKind::Local
    }

    fn address(&self) -> String {
        format!("{} ({})", self.config.master, self.config.spark_home.display())
    }

    async fn health(&self) -> Result<(), SparkError> {
        if self.spark_submit().is_file() {
            Ok(())
        } else {
            Err(SparkError::Unavailable {
                backend: BackendKind::Local,
                address: self.address(),
                message: format!(
                    "{} does not exist; set SPARK_HOME to a Spark installation",
                    self.spark_submit().display()
                ),
            })
        }
    }

    async fn submit(&self, spec: &AppSpec) -> Result<Submission, SparkError> {
        spec.validate()?;
        self.health().await?;
        let id = self.new_id();
        let dir = self.config.work_dir.join(&id);
        tokio::fs::create_dir_all(&dir).await.map_err(io(format!("creating run directory {}", dir.display())))?;

        // Spark's application id, whatever the job's log level: asked of the driver's
        // web UI, which runs anyway, on a port chosen here and tagged with the run id
        // (no extra work for Spark). A job without a UI gets an event log in the run
        // directory instead, which Spark names after the id (it costs ~0.2 s a run).
        let mut spec = spec.clone();
        let ui_enabled = spec.conf.get("spark.ui.enabled").is_none_or(|v| !v.eq_ignore_ascii_case("false"));
        let ui_port = if ui_enabled && self.http.is_some() {
            let port = match spec.conf.get("spark.ui.port").and_then(|p| p.parse::<u16>().ok()) {
                Some(port) if port != 0 => port,
                _ => free_port().map_err(io("choosing a port for the driver's web UI"))?,
            };
            spec.conf.insert("spark.ui.port".into(), port.to_string());
            spec.conf.insert(RUN_TAG.into(), id.clone());
            tokio::fs::write(dir.join("ui_port"), port.to_string()).await.map_err(io("recording the UI port"))?;
            Some(port)
        } else {
            if !spec.conf.contains_key("spark.eventLog.enabled") {
                let events = dir.join("events");
                tokio::fs::create_dir_all(&events).await.map_err(io("creating the event log directory"))?;
                spec.conf.insert("spark.eventLog.enabled".into(), "true".into());
                spec.conf.insert("spark.eventLog.dir".into(), format!("file://{}", events.display()));
            }
            None
        };
        let spec = &spec;
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(WRAPPER).arg("consort-spark").arg(self.spark_submit());
        cmd.args(spark_submit_args(spec, &self.config.master, "client"));
        cmd.current_dir(&dir).env("SPARK_HOME", &self.config.spark_home).process_group(0);
        cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        if std::env::var_os("SPARK_LOCAL_IP").is_none() {
            cmd.env("SPARK_LOCAL_IP", "127.0.0.1");
        }
        if let (AppResource::Python { .. }, Some(python)) = (&spec.resource, &self.config.python) {
            cmd.env("PYSPARK_PYTHON", python).env("PYSPARK_DRIVER_PYTHON", python);
        }
        let mut child = cmd.spawn().map_err(io("starting spark-submit"))?;
        let pid = child.id().unwrap_or_default();
        tokio::fs::write(dir.join("pid"), pid.to_string()).await.map_err(io("recording the driver's pid"))?;
        // Reap the wrapper when it exits (the exit code is on disk by then) and say so.
        let (exited, exit) = watch::channel(false);
        if let Ok(mut exits) = self.exits.lock() {
            exits.insert(id.clone(), exit);
        }
        let mut ended = exited.subscribe();
        tokio::spawn(async move {
            let _ = child.wait().await;
            exited.send_replace(true);
        });
        // Ask the UI for the application id while the driver lives (short jobs included).
        if let (Some(port), Some(http)) = (ui_port, self.http.clone()) {
            let (dir, run) = (dir.clone(), id.clone());
            tokio::spawn(async move {
                while !*ended.borrow() {
                    if let Some(app_id) = ui_app_id(&http, port, &run).await {
                        let _ = write_atomically(&dir.join("app_id"), &app_id).await;
                        return;
                    }
                    // Stop when the driver exits, or its reaper is gone (runtime shutting down).
                    if let Ok(Err(_)) = tokio::time::timeout(UI_POLL, ended.changed()).await {
                        return;
                    }
                }
            });
        }
        tracing::info!(run = %id, pid, app = %spec.name, "local Spark application started");
        Ok(Submission { backend: BackendKind::Local, id })
    }

    async fn status(&self, id: &str) -> Result<AppStatus, SparkError> {
        let dir = self.run_dir(id)?;
        let recorded = read_trimmed(&dir.join("app_id")).filter(|a| !a.is_empty());
        let recorded = match recorded {
            Some(app_id) => Some(app_id),
            None => self.ask_ui(&dir, id).await,
        };
        let app_id = recorded
            .or_else(|| event_log_app_id(&dir.join("events")))
            .or_else(|| find_app_id(&tail(&dir.join("stderr"), 4 << 20)))
            .or_else(|| find_app_id(&tail(&dir.join("stdout"), 1 << 20)));
        let killed = dir.join("killed").exists();
        if let Some(code) = read_trimmed(&dir.join("exit_code")) {
            let exit_code = code.parse::<i32>().ok();
            let (state, message) = match exit_code {
                Some(0) => (AppState::Succeeded, None),
                _ if killed => (AppState::Killed, Some("killed on request".to_string())),
                Some(code) => (AppState::Failed, Some(format!("spark-submit exited with code {code}"))),
                None => (AppState::Failed, Some(format!("unreadable exit code {code:?}"))),
            };
            return Ok(AppStatus { state, app_id, exit_code, message });
        }
        let pid = read_trimmed(&dir.join("pid")).and_then(|p| p.parse::<u32>().ok());
        match pid {
            Some(pid) if is_alive(pid) => {
                let state = if app_id.is_some() { AppState::Running } else { AppState::Submitted };
                Ok(AppStatus { state, app_id, exit_code: None, message: None })
            }
            _ if killed => Ok(AppStatus {
                state: AppState::Killed,
                app_id,
                exit_code: None,
                message: Some("killed on request".into()),
            }),
            // Read the exit code once more: the wrapper may have finished between the two reads.
            _ => match read_trimmed(&dir.join("exit_code")) {
                Some(_) => Box::pin(self.status(id)).await,
                None => Ok(AppStatus {
                    state: AppState::Failed,
                    app_id,
                    exit_code: None,
                    message: Some(
                        "the driver ended without recording an exit code (was the machine restarted?)".into(),
                    ),
                }),
            },
        }
    }

    async fn logs(&self, id: &str, max_bytes: usize) -> Result<String, SparkError> {
        let dir = self.run_dir(id)?;
        let half = max_bytes / 2;
        let out = tail(&dir.join("stdout"), half);
        let err = tail(&dir.join("stderr"), max_bytes - out.len().min(half));
        Ok(format!("{out}{err}"))
    }

    async fn wait_for_change(&self, id: &str, at_most: Duration) {
        let exit = self.exits.lock().ok().and_then(|exits| exits.get(id).cloned());
        let Some(mut exit) = exit else { return tokio::time::sleep(at_most).await };
        let heard = tokio::time::timeout(at_most, async { exit.wait_for(|exited| *exited).await.is_ok() }).await;
        if let Ok(ended) = heard {
            if let Ok(mut exits) = self.exits.lock() {
                exits.remove(id);
            }
            // The reaper is gone without a word (runtime shutting down): fall back to polling.
            if !ended {
                tokio::time::sleep(at_most).await;
            }
        }
    }

    async fn kill(&self, id: &str) -> Result<(), SparkError> {
        let dir = self.run_dir(id)?;
        if dir.join("exit_code").exists() {
            return Ok(());
        }
        let Some(pid) = read_trimmed(&dir.join("pid")).and_then(|p| p.parse::<u32>().ok()) else {
            return Err(SparkError::NotFound { backend: BackendKind::Local, id: id.to_string() });
        };
        tokio::fs::write(dir.join("killed"), b"").await.map_err(io("marking the run killed"))?;
        signal_group(pid, "TERM").await;
        let deadline = tokio::time::Instant::now() + KILL_GRACE;
        while is_alive(pid) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if is_alive(pid) {
            signal_group(pid, "KILL").await;
        }
        Ok(())
    }
}

/// The application id the driver's web UI on `port` reports, if that driver is run `run`'s
/// (the UI port might have been taken by another driver meanwhile, so the tag is checked).
async fn ui_app_id(http: &reqwest::Client, port: u16, run: &str) -> Option<String> {
    let base = format!("http://127.0.0.1:{port}/api/v1/applications");
    let apps: serde_json::Value = http.get(&base).send().await.ok()?.json().await.ok()?;
    let app_id = apps.get(0)?.get("id")?.as_str()?.to_string();
    let env: serde_json::Value =
        http.get(format!("{base}/{app_id}/environment")).send().await.ok()?.json().await.ok()?;
    let tagged = env.get("sparkProperties")?.as_array()?.iter().any(|pair| {
        pair.get(0).and_then(|k| k.as_str()) == Some(RUN_TAG) && pair.get(1).and_then(|v| v.as_str()) == Some(run)
    });
    tagged.then_some(app_id)
}

async fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    tokio::fs::write(&tmp, text).await?;
    tokio::fs::rename(&tmp, path).await
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The application id from the event log's file name (`local-…` or `local-….inprogress`).
fn event_log_app_id(events: &Path) -> Option<String> {
    let entry = std::fs::read_dir(events).ok()?.flatten().next()?;
    find_app_id(&entry.file_name().to_string_lossy())
}

/// Sends `signal` to the process group led by `pid` (the wrapper and the driver JVM).
async fn signal_group(pid: u32, signal: &str) {
    let _ = Command::new("kill").arg(format!("-{signal}")).arg("--").arg(format!("-{pid}")).status().await;
}
