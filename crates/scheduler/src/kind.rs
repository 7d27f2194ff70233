//! Job kinds: what a fire does. `noop` and `command` ship here; a `spark` kind plugs in
//! through the same [`JobKind`] trait.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncReadExt;

use crate::error::StoreError;
use crate::model::{DataMap, Job, Outcome, Run, TriggerKey};
use crate::store::Store;

/// Everything a kind needs to execute one run.
#[derive(Debug)]
pub struct RunContext {
    /// The run's id.
    pub run_id: i64,
    /// The job.
    pub job: Job,
    /// The trigger that fired.
    pub trigger: TriggerKey,
    /// Job data overlaid by trigger data.
    pub data: DataMap,
    /// Scheduled fire time (epoch ms).
    pub scheduled_ms: i64,
    /// Actual fire time (epoch ms).
    pub fired_ms: i64,
    /// Records progress (application id, log location) while the run executes.
    pub reporter: RunReporter,
}

/// Lets a running job record its external application id and log location at once, so the
/// run history shows them before the run ends.
#[derive(Clone)]
pub struct RunReporter {
    run_id: i64,
    store: Arc<dyn Store>,
}

impl fmt::Debug for RunReporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunReporter").field("run_id", &self.run_id).finish()
    }
}

impl RunReporter {
    pub(crate) fn new(run_id: i64, store: Arc<dyn Store>) -> Self {
        RunReporter { run_id, store }
    }

    /// Records the external application id and/or log location.
    pub async fn report(&self, application_id: Option<&str>, log_location: Option<&str>) -> Result<(), StoreError> {
        self.store.report_run(self.run_id, application_id, log_location).await
    }
}

/// One kind of job. Implementations must not panic; failures are [`Outcome::failed`].
#[async_trait]
pub trait JobKind: Send + Sync + fmt::Debug {
    /// The name jobs use in their `kind` field.
    fn name(&self) -> &str;

    /// Checks a job's data map when the job is stored; the message says what to fix.
    fn validate(&self, _data: &DataMap) -> Result<(), String> {
        Ok(())
    }

    /// Executes one run and says how it ended.
    async fn execute(&self, context: RunContext) -> Outcome;

    /// Whether [`JobKind::resume`] can re-attach to `run` from what it recorded (its
    /// application id, log location). Such runs outlive the process that fired them: a
    /// stopping scheduler detaches from them instead of waiting, and the instance that
    /// recovers them (the same one restarted, or another in the cluster) resumes them instead
    /// of abandoning them. The default, `false`, is right for work that dies with its process.
    fn can_resume(&self, _run: &Run) -> bool {
        false
    }

    /// Follows a run started by another process (see [`JobKind::can_resume`]) to its end and
    /// says how it ended. It must not start the work again.
    async fn resume(&self, _context: RunContext, run: Run) -> Outcome {
        Outcome::failed(format!("run {} cannot be resumed by kind {}", run.id, self.name()))
    }

    /// The end of a run's log (at most `max_bytes`), for kinds whose work keeps one where it
    /// runs (e.g. the Spark driver's log). Works from any instance, for ended runs too.
    async fn log_tail(&self, _run: &Run, _max_bytes: usize) -> Result<String, RunActionError> {
        Err(RunActionError::NotSupported)
    }

    /// Stops an executing run's work where it runs (e.g. kills the Spark application); the run
    /// then ends as the instance following it observes (FAILED, the application KILLED).
    async fn kill(&self, _run: &Run) -> Result<(), RunActionError> {
        Err(RunActionError::NotSupported)
    }

    /// Where the run's work shows itself on the web (e.g. Spark's UI), if anywhere now.
    async fn ui_url(&self, _run: &Run) -> Result<Option<String>, RunActionError> {
        Ok(None)
    }
}

/// Why a kind could not act on a run (read its log, kill it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunActionError {
    /// This kind has no such action.
    #[error("not supported by this job kind")]
    NotSupported,
    /// Where the work runs cannot be reached now; retrying later may work.
    #[error("{0}")]
    Unavailable(String),
    /// The action failed; the message says why and what to do.
    #[error("{0}")]
    Failed(String),
}

/// Succeeds at once: benchmarks and tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopKind;

#[async_trait]
impl JobKind for NoopKind {
    fn name(&self) -> &str {
        "noop"
    }

    async fn execute(&self, _context: RunContext) -> Outcome {
        Outcome::succeeded()
    }
}

/// Runs a program: data `{"program": "/bin/sh", "args": ["-c", "..."], "timeout_secs": 60}`.
/// Exit code 0 succeeds; otherwise the run fails with the exit code and the end of stderr.
/// The run id and keys are passed as `CONSORT_RUN_ID`, `CONSORT_JOB`, `CONSORT_TRIGGER`.
#[derive(Debug, Default, Clone, Copy)]
pub struct CommandKind;

impl CommandKind {
    fn parse(data: &DataMap) -> Result<(String, Vec<String>, Option<u64>), String> {
        let program = data
            .get("program")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .ok_or("`program` must be a non-empty string, e.g. \"/bin/sh\"")?
            .to_string();
        let args = match data.get("args") {
            None => vec![],
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or("`args` must be an array of strings"))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("`args` must be an array of strings".into()),
        };
        let timeout = match data.get("timeout_secs") {
            None => None,
            Some(v) => Some(v.as_u64().ok_or("`timeout_secs` must be a positive integer")?),
        };
        Ok((program, args, timeout))
    }
}

#[async_trait]
impl JobKind for CommandKind {
    fn name(&self) -> &str {
        "command"
    }

    fn validate(&self, data: &DataMap) -> Result<(), String> {
        Self::parse(data).map(|_| ())
    }

    async fn execute(&self, context: RunContext) -> Outcome {
        let (program, args, timeout) = match Self::parse(&context.data) {
            Ok(parsed) => parsed,
            Err(message) => return Outcome::failed(message),
        };
        let mut command = tokio::process::Command::new(&program);
        command
            .args(&args)
            .env("CONSORT_RUN_ID", context.run_id.to_string())
            .env("CONSORT_JOB", context.job.key().to_string())
            .env("CONSORT_TRIGGER", context.trigger.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => return Outcome::failed(format!("cannot start {program:?}: {e}; check the path and permissions")),
        };
        let mut stderr = child.stderr.take();
        let wait = async {
            let mut buf = Vec::new();
            if let Some(err) = stderr.as_mut() {
                let _ = err.read_to_end(&mut buf).await;
            }
            (child.wait().await, buf)
        };
        let (status, err) = match timeout {
            Some(secs) => match tokio::time::timeout(Duration::from_secs(secs), wait).await {
                Ok(done) => done,
                Err(_) => return Outcome::failed(format!("{program:?} timed out after {secs} s and was killed")),
            },
            None => wait.await,
        };
        match status {
            Ok(status) if status.success() => Outcome { exit_code: Some(0), ..Outcome::succeeded() },
            Ok(status) => {
                let text = String::from_utf8_lossy(&err);
                let tail: String = text.chars().rev().take(2000).collect::<Vec<_>>().into_iter().rev().collect();
                Outcome {
                    exit_code: status.code(),
                    ..Outcome::failed(format!("{program:?} exited with {status}: {}", tail.trim()))
                }
            }
            Err(e) => Outcome::failed(format!("waiting for {program:?} failed: {e}")),
        }
    }
}

/// The registered job kinds, by name.
#[derive(Clone, Debug, Default)]
pub struct Kinds {
    kinds: BTreeMap<String, Arc<dyn JobKind>>,
}

impl Kinds {
    /// No kinds.
    pub fn empty() -> Self {
        Kinds::default()
    }

    /// `noop` and `command`.
    pub fn builtin() -> Self {
        let mut kinds = Kinds::empty();
        kinds.register(Arc::new(NoopKind));
        kinds.register(Arc::new(CommandKind));
        kinds
    }

    /// Adds (or replaces) a kind.
    pub fn register(&mut self, kind: Arc<dyn JobKind>) {
        self.kinds.insert(kind.name().to_string(), kind);
    }

    /// The kind with this name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn JobKind>> {
        self.kinds.get(name)
    }

    /// Registered names, comma separated.
    pub fn names(&self) -> String {
        self.kinds.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn command_data_is_validated_with_a_fix() {
        let kind = CommandKind;
        let data = |v: serde_json::Value| v.as_object().unwrap().clone();
        assert!(kind.validate(&data(json!({"program": "/bin/true"}))).is_ok());
        assert!(kind.validate(&data(json!({}))).unwrap_err().contains("program"));
        assert!(kind.validate(&data(json!({"program": "x", "args": [1]}))).unwrap_err().contains("args"));
        assert!(kind.validate(&data(json!({"program": "x", "timeout_secs": -1}))).unwrap_err().contains("timeout"));
    }

    #[test]
    fn builtin_kinds_are_listed() {
        assert_eq!(Kinds::builtin().names(), "command, noop");
    }
}
