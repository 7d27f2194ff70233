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
}

impl LocalLauncher {
    /// A launcher for `config`; nothing is started until `submit`.
    pub fn new(config: LocalConfig) -> Self {
        LocalLauncher { config, sequence: AtomicU64::new(0), exits: Mutex::default() }
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

        // Spark names its event log after the application id: the one reliable
        // place to learn the id whatever the job's log level (no driver log line
        // carries it in local mode, and asking the driver's UI REST API costs the
        // driver more CPU than this). Unless the job keeps its own event log, a
        // plain one (not rolled, not compressed) goes into the run directory.
        let mut spec = spec.clone();
        if !spec.conf.contains_key("spark.eventLog.enabled") {
            let events = dir.join("events");
            tokio::fs::create_dir_all(&events).await.map_err(io("creating the event log directory"))?;
            for (key, value) in [
                ("spark.eventLog.enabled", "true".to_string()),
                ("spark.eventLog.dir", format!("file://{}", events.display())),
                ("spark.eventLog.rolling.enabled", "false".into()),
                ("spark.eventLog.compress", "false".into()),
            ] {
                spec.conf.insert(key.into(), value);
            }
        }
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
        tokio::spawn(async move {
            let _ = child.wait().await;
            exited.send_replace(true);
        });
        tracing::info!(run = %id, pid, app = %spec.name, "local Spark application started");
        Ok(Submission { backend: BackendKind::Local, id })
    }

    async fn status(&self, id: &str) -> Result<AppStatus, SparkError> {
        let dir = self.run_dir(id)?;
        let app_id = event_log_app_id(&dir.join("events"))
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

/// The application id from the event log's file name (`local-…` or `local-….inprogress`).
fn event_log_app_id(events: &Path) -> Option<String> {
    let entry = std::fs::read_dir(events).ok()?.flatten().next()?;
    find_app_id(&entry.file_name().to_string_lossy())
}

/// Sends `signal` to the process group led by `pid` (the wrapper and the driver JVM).
async fn signal_group(pid: u32, signal: &str) {
    let _ = Command::new("kill").arg(format!("-{signal}")).arg("--").arg(format!("-{pid}")).status().await;
}
