//! The `local` backend: `spark-submit --master local[N]` as a child process group.
//!
//! Each run gets a directory under the work directory, named by the run's key
//! ([`AppSpec::key`]), holding the driver's stdout/stderr, its process-group
//! id with the process's start time and the boot it started in, and once it
//! ends, its exit code (all written by a small `sh` wrapper, so they are
//! recorded even if consort is not running at that moment). Status is read
//! back from that directory, which is how a restarted server re-attaches to
//! runs it started before, and how [`Launcher::find`] knows a key was used. A
//! process is taken for the run's only if its pid, start time and boot id all
//! match, so a pid reused after a reboot is neither followed nor signalled.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use consort_kerberos::KerberosSettings;
use tokio::process::Command;
use tokio::sync::watch;

use crate::app_id::{find_app_id, find_ui_url};
use crate::driver_error::driver_error_in;
use crate::kerberos;
use crate::launcher::{AppState, AppStatus, BackendKind, Launcher, SparkError, Submission};
use crate::spec::{AppResource, AppSpec};
use crate::submit::spark_submit_args;

/// Records who it is (pid, start time in clock ticks since boot: field 22 of `/proc/PID/stat`,
/// whose command name `sh` holds no space; the boot id), runs the driver, then records its exit
/// code atomically next to its logs.
const WRAPPER: &str = r#"echo "$$ $(cut -d' ' -f22 /proc/$$/stat) $(cat /proc/sys/kernel/random/boot_id)" >pid.tmp && mv pid.tmp pid || exit 125; "$@" >stdout 2>stderr; code=$?; echo "$code" >exit_code.tmp && mv exit_code.tmp exit_code"#;

/// How long a submission waits for the wrapper to record its identity, and a look-up by key
/// for a half-made run directory to get one, before taking the run for never started.
const START_WAIT: Duration = Duration::from_secs(10);

/// How much of the driver's stderr (and for its exception, stdout) is searched.
const SCAN_BYTES: u64 = 4 << 20;

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
    /// The Hadoop client configuration (`HADOOP_CONF_DIR`) for jobs that read HDFS; `None`
    /// keeps the process's own environment.
    pub hadoop_conf_dir: Option<PathBuf>,
    /// Kerberos, for jobs on a kerberized HDFS: spark-submit logs in as consort's identity.
    pub kerberos: Option<KerberosSettings>,
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

/// The wrapper process a run directory names: its pid (also its process group), and when the
/// wrapper recorded them, its start time and the boot it ran in.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Driver {
    pid: u32,
    started: Option<(u64, String)>,
}

impl Driver {
    /// Reads `pid` (`PID START BOOT_ID`, or a bare pid from older run directories).
    fn read(dir: &Path) -> Option<Driver> {
        let text = read_trimmed(&dir.join("pid"))?;
        let mut parts = text.split_whitespace();
        let pid = parts.next()?.parse().ok()?;
        let started = match (parts.next().and_then(|s| s.parse().ok()), parts.next()) {
            (Some(start), Some(boot)) => Some((start, boot.to_string())),
            _ => None,
        };
        Some(Driver { pid, started })
    }

    /// Whether this very process is still running: the pid exists, is not a zombie, and (when
    /// recorded) started at the same tick of the same boot, so a reused pid does not count.
    fn is_running(&self) -> bool {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) else { return false };
        // Fields after the parenthesised command name start at field 3 (the state).
        let Some((_, rest)) = stat.rsplit_once(')') else { return false };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.first().is_none_or(|state| *state == "Z") {
            return false;
        }
        match &self.started {
            None => true,
            Some((start, boot)) => {
                fields.get(22 - 3).and_then(|f| f.parse::<u64>().ok()) == Some(*start)
                    && read_trimmed(Path::new("/proc/sys/kernel/random/boot_id")).as_deref() == Some(boot.as_str())
            }
        }
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// The last `max_bytes` of a file (read from there on, never the whole file).
fn tail(path: &Path, max_bytes: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else { return String::new() };
    let len = file.metadata().map_or(0, |m| m.len());
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(len.saturating_sub(max_bytes))).is_ok() {
        let _ = file.take(max_bytes).read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The first `max_bytes` of a file.
fn head(path: &Path, max_bytes: u64) -> String {
    use std::io::Read;
    let Ok(file) = std::fs::File::open(path) else { return String::new() };
    let mut bytes = Vec::new();
    let _ = file.take(max_bytes).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// How far into the driver's log the UI's address is looked for: Spark logs it while starting.
const UI_SCAN_BYTES: u64 = 1 << 20;

/// Runs blocking file work (log reads, `/proc`) off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, SparkError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| SparkError::Io {
        context: "reading a local run's files".into(),
        source: std::io::Error::other(e.to_string()),
    })
}

/// A run's state read from its directory.
fn status_of(dir: &Path) -> AppStatus {
    let stderr = tail(&dir.join("stderr"), SCAN_BYTES);
    let app_id = event_log_app_id(&dir.join("events"))
        .or_else(|| find_app_id(&stderr))
        .or_else(|| find_app_id(&tail(&dir.join("stdout"), 1 << 20)));
    let killed = dir.join("killed").exists();
    let ended = |code: String, app_id: Option<String>| {
        let exit_code = code.parse::<i32>().ok();
        let (state, message) = match exit_code {
            Some(0) => (AppState::Succeeded, None),
            _ if killed => (AppState::Killed, Some("killed on request".to_string())),
            Some(code) => (
                AppState::Failed,
                Some(match driver_error_in(&stderr, &tail(&dir.join("stdout"), SCAN_BYTES)) {
                    Some(exception) => format!("{exception} (spark-submit exited with code {code})"),
                    None => format!("spark-submit exited with code {code}"),
                }),
            ),
            None => (AppState::Failed, Some(format!("unreadable exit code {code:?}"))),
        };
        AppStatus { state, app_id, exit_code, message }
    };
    if let Some(code) = read_trimmed(&dir.join("exit_code")) {
        return ended(code, app_id);
    }
    if Driver::read(dir).is_some_and(|d| d.is_running()) {
        let state = if app_id.is_some() { AppState::Running } else { AppState::Submitted };
        return AppStatus { state, app_id, exit_code: None, message: None };
    }
    // Read the exit code once more: the wrapper may have finished between the two reads.
    if let Some(code) = read_trimmed(&dir.join("exit_code")) {
        return ended(code, app_id);
    }
    let message = if killed {
        "killed on request"
    } else {
        "the driver ended without recording an exit code (was the machine restarted?)"
    };
    AppStatus {
        state: if killed { AppState::Killed } else { AppState::Failed },
        app_id,
        exit_code: None,
        message: Some(message.into()),
    }
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
        // A failed pre-flight check sent nothing: retrying it cannot double anything.
        self.health().await.map_err(|e| e.unsent_if(true))?;
        let id = spec.key.clone().unwrap_or_else(|| self.new_id());
        let dir = self.config.work_dir.join(&id);
        tokio::fs::create_dir_all(&self.config.work_dir)
            .await
            .map_err(io(format!("creating the work directory {}", self.config.work_dir.display())))?;
        // The directory is the key's claim: a second submission under the key adopts the first.
        if let Err(e) = tokio::fs::create_dir(&dir).await {
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                return Err(io(format!("creating run directory {}", dir.display()))(e));
            }
            if let Some(found) = self.find(&id).await? {
                return Ok(found);
            }
            tokio::fs::create_dir(&dir).await.map_err(io(format!("creating run directory {}", dir.display())))?;
        }

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
        let identity = kerberos::identity(self.config.kerberos.as_ref(), BackendKind::Local, "local").await?;
        let kerberos_env = kerberos::prepare_submit(&mut spec, identity.as_deref());
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
        if let Some(dir) = &self.config.hadoop_conf_dir {
            cmd.env("HADOOP_CONF_DIR", dir);
        }
        cmd.envs(kerberos_env);
        let mut child = cmd.spawn().map_err(io("starting spark-submit"))?;
        let pid = child.id().unwrap_or_default();
        // Reap the wrapper when it exits (the exit code is on disk by then) and say so.
        let (exited, exit) = watch::channel(false);
        if let Ok(mut exits) = self.exits.lock() {
            exits.insert(id.clone(), exit.clone());
        }
        tokio::spawn(async move {
            let _ = child.wait().await;
            exited.send_replace(true);
        });
        // The run counts as submitted once the wrapper has said who it is.
        let pid_file = dir.join("pid");
        let deadline = tokio::time::Instant::now() + START_WAIT;
        while !pid_file.exists() {
            if *exit.borrow() || tokio::time::Instant::now() >= deadline {
                return Err(SparkError::Rejected {
                    backend: BackendKind::Local,
                    message: format!(
                        "the run wrapper (sh) did not record its process in {}; check that sh, cut and /proc are available",
                        dir.display()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tracing::info!(run = %id, pid, app = %spec.name, "local Spark application started");
        Ok(Submission { backend: BackendKind::Local, id })
    }

    async fn find(&self, key: &str) -> Result<Option<Submission>, SparkError> {
        let dir = match self.run_dir(key) {
            Ok(dir) => dir,
            Err(SparkError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let found = Some(Submission { backend: BackendKind::Local, id: key.to_string() });
        // A directory without a process: a submission under way, or one that died before
        // starting the wrapper. Wait for it, then set a dead one aside so the key is free.
        let deadline = tokio::time::Instant::now() + START_WAIT;
        while tokio::time::Instant::now() < deadline {
            if dir.join("pid").exists() || dir.join("exit_code").exists() {
                return Ok(found);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let aside = self.config.work_dir.join(format!("{key}.never-started-{ms}"));
        tokio::fs::rename(&dir, &aside).await.map_err(io(format!("setting aside {}", dir.display())))?;
        tracing::warn!(%key, dir = %aside.display(), "a run directory whose driver never started was set aside");
        Ok(None)
    }

    async fn status(&self, id: &str) -> Result<AppStatus, SparkError> {
        let dir = self.run_dir(id)?;
        blocking(move || status_of(&dir)).await
    }

    async fn logs(&self, id: &str, max_bytes: usize) -> Result<String, SparkError> {
        let dir = self.run_dir(id)?;
        let half = (max_bytes / 2) as u64;
        blocking(move || {
            let out = tail(&dir.join("stdout"), half);
            let err = tail(&dir.join("stderr"), max_bytes as u64 - (out.len() as u64).min(half));
            format!("{out}{err}")
        })
        .await
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

    /// The driver's own UI, only while the driver runs (it goes away with the driver).
    async fn ui_url(&self, id: &str) -> Result<Option<String>, SparkError> {
        let dir = self.run_dir(id)?;
        blocking(move || {
            let running = !dir.join("exit_code").exists() && Driver::read(&dir).is_some_and(|d| d.is_running());
            running.then(|| find_ui_url(&head(&dir.join("stderr"), UI_SCAN_BYTES))).flatten()
        })
        .await
    }

    async fn kill(&self, id: &str) -> Result<(), SparkError> {
        let dir = self.run_dir(id)?;
        if dir.join("exit_code").exists() {
            return Ok(());
        }
        let Some(driver) = Driver::read(&dir) else {
            return Err(SparkError::NotFound { backend: BackendKind::Local, id: id.to_string() });
        };
        tokio::fs::write(dir.join("killed"), b"").await.map_err(io("marking the run killed"))?;
        // Only the run's own process group: a pid that now names another process is left alone.
        let running = |driver: &Driver| {
            let driver = driver.clone();
            blocking(move || driver.is_running())
        };
        if !running(&driver).await? {
            return Ok(());
        }
        signal_group(driver.pid, "TERM").await;
        let deadline = tokio::time::Instant::now() + KILL_GRACE;
        while running(&driver).await? && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if running(&driver).await? {
            signal_group(driver.pid, "KILL").await;
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
