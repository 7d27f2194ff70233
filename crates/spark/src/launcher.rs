//! The lifecycle every backend implements: submit → id, status, logs, kill.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::spec::{AppSpec, SpecError};

/// Which engine runs the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// `spark-submit --master local[N]` on this machine.
    Local,
    /// A standalone cluster's REST submission server (port 6066).
    Standalone,
    /// Hadoop YARN.
    Yarn,
    /// Apache Livy's `/batches`.
    Livy,
    /// A `SparkApplication` for the Kubernetes Spark Operator.
    Kubernetes,
}

impl BackendKind {
    /// The name used in configuration and descriptors.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Local => "local",
            BackendKind::Standalone => "standalone",
            BackendKind::Yarn => "yarn",
            BackendKind::Livy => "livy",
            BackendKind::Kubernetes => "kubernetes",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an application is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AppState {
    /// Accepted, not running yet.
    Submitted,
    /// Running.
    Running,
    /// Ended successfully.
    Succeeded,
    /// Ended with an error.
    Failed,
    /// Stopped by a kill.
    Killed,
    /// The backend cannot tell.
    Unknown,
}

impl AppState {
    /// Whether the application has ended (no further change will come).
    pub fn is_final(self) -> bool {
        matches!(self, AppState::Succeeded | AppState::Failed | AppState::Killed)
    }

    /// Upper-case name, as in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AppState::Submitted => "SUBMITTED",
            AppState::Running => "RUNNING",
            AppState::Succeeded => "SUCCEEDED",
            AppState::Failed => "FAILED",
            AppState::Killed => "KILLED",
            AppState::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A submitted application, as the backend knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submission {
    /// The backend that runs it.
    pub backend: BackendKind,
    /// The backend's id for it (driver id, batch id, …); what `status`, `logs` and `kill` take.
    pub id: String,
}

/// An application's state as last seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppStatus {
    /// The state.
    pub state: AppState,
    /// Spark's own application id (`local-…`, `app-…`, `application_…`), once known.
    pub app_id: Option<String>,
    /// The driver's exit code, where the backend reports one.
    pub exit_code: Option<i32>,
    /// Why it failed, or other detail from the backend.
    pub message: Option<String>,
}

/// Why a backend could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum SparkError {
    /// The application description is invalid.
    #[error("invalid Spark application: {0}")]
    Spec(#[from] SpecError),
    /// The backend cannot be reached; retrying later may work.
    #[error(
        "{backend} backend at {address} is unavailable: {message}; check that it is running and reachable, then retry"
    )]
    Unavailable {
        /// Which backend.
        backend: BackendKind,
        /// Where we tried to reach it.
        address: String,
        /// The underlying error.
        message: String,
    },
    /// The backend could not be reached, so the request was never sent (the connection was
    /// refused, the name did not resolve, the backend's own pre-flight check failed): retrying
    /// cannot double anything. [`SparkError::Unavailable`] makes no such promise.
    #[error(
        "{backend} backend at {address} is unavailable: {message}; check that it is running and reachable, then retry"
    )]
    NotSent {
        /// Which backend.
        backend: BackendKind,
        /// Where we tried to reach it.
        address: String,
        /// The underlying error.
        message: String,
    },
    /// The backend refused the request.
    #[error("{backend} backend refused the request: {message}")]
    Rejected {
        /// Which backend.
        backend: BackendKind,
        /// The backend's explanation.
        message: String,
    },
    /// No application with this id.
    #[error("{backend} backend has no application `{id}`; list runs to find the right id")]
    NotFound {
        /// Which backend.
        backend: BackendKind,
        /// The id asked for.
        id: String,
    },
    /// The application did not finish in time.
    #[error("{backend} application `{id}` did not finish within {waited:?}")]
    Timeout {
        /// Which backend.
        backend: BackendKind,
        /// The application.
        id: String,
        /// How long we waited.
        waited: Duration,
    },
    /// A local file or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// An error and its causes on one line: HTTP and Kubernetes clients' top-level messages alone
/// hide the useful part ("connection refused", the API server's reason). A cause already
/// quoted by its parent is not repeated.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl SparkError {
    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SparkError::Unavailable { .. } | SparkError::NotSent { .. })
    }

    /// Whether the failed request provably never reached the backend (see [`SparkError::NotSent`]).
    pub fn was_not_sent(&self) -> bool {
        matches!(self, SparkError::NotSent { .. })
    }

    /// This error, or [`SparkError::NotSent`] when `nothing_sent` (a connection that was never
    /// made, a pre-flight check that failed).
    pub(crate) fn unsent_if(self, nothing_sent: bool) -> SparkError {
        match self {
            SparkError::Unavailable { backend, address, message } if nothing_sent => {
                SparkError::NotSent { backend, address, message }
            }
            other => other,
        }
    }
}

/// One Spark engine. Each backend is one implementation.
#[async_trait]
pub trait Launcher: Send + Sync + fmt::Debug {
    /// Which engine this is.
    fn kind(&self) -> BackendKind;

    /// Where it is (for messages): a URL, a master string.
    fn address(&self) -> String;

    /// Whether the backend can take work now.
    async fn health(&self) -> Result<(), SparkError>;

    /// Starts the application; returns once the backend has accepted it. With a key
    /// ([`AppSpec::key`]) the submission is made under it: submitting the same key again
    /// returns the application already there instead of starting a second one wherever the
    /// backend can tell.
    async fn submit(&self, spec: &AppSpec) -> Result<Submission, SparkError>;

    /// The application submitted under `key`, if there is one. `Ok(None)` means provably
    /// none: only then may a submission whose answer was lost be sent again. A backend that
    /// cannot look keys up says so with an error, and the caller must not guess.
    async fn find(&self, key: &str) -> Result<Option<Submission>, SparkError> {
        Err(SparkError::Rejected {
            backend: self.kind(),
            message: format!(
                "cannot look up applications by run key (`{key}`); check the backend by hand before running it again"
            ),
        })
    }

    /// The application's current state.
    async fn status(&self, id: &str) -> Result<AppStatus, SparkError>;

    /// The end of the driver's log, at most `max_bytes`.
    async fn logs(&self, id: &str, max_bytes: usize) -> Result<String, SparkError>;

    /// Stops the application.
    async fn kill(&self, id: &str) -> Result<(), SparkError>;

    /// Where Spark's web UI for the application is, when this backend has one: YARN's tracking
    /// URL, the standalone master's application page, Livy's (or the Spark UI Livy reports),
    /// the local driver's own UI while it runs. `Ok(None)` when there is none (yet, or any
    /// more); the default.
    async fn ui_url(&self, _id: &str) -> Result<Option<String>, SparkError> {
        Ok(None)
    }

    /// Returns once the application's state may have changed, and after `at_most` at the
    /// latest: what a poller sleeps on between `status` calls. A backend that hears of changes
    /// (a child process exiting, a watch) returns at once, so an ended run is recorded when it
    /// ends rather up to a poll interval later; the default just sleeps.
    async fn wait_for_change(&self, _id: &str, at_most: Duration) {
        tokio::time::sleep(at_most).await;
    }
}

/// Polls `status` (at least every `every`) until the application ends, or `timeout` passes.
pub async fn wait_until_final(
    launcher: &dyn Launcher,
    id: &str,
    every: Duration,
    timeout: Duration,
) -> Result<AppStatus, SparkError> {
    wait_until_final_observed(launcher, id, every, timeout, |_| {}).await
}

/// [`wait_until_final`], showing every status read to `observe` (a CLI's progress line).
pub async fn wait_until_final_observed(
    launcher: &dyn Launcher,
    id: &str,
    every: Duration,
    timeout: Duration,
    mut observe: impl FnMut(&AppStatus),
) -> Result<AppStatus, SparkError> {
    let started = tokio::time::Instant::now();
    loop {
        let status = launcher.status(id).await?;
        observe(&status);
        if status.state.is_final() {
            return Ok(status);
        }
        if started.elapsed() >= timeout {
            return Err(SparkError::Timeout { backend: launcher.kind(), id: id.to_string(), waited: timeout });
        }
        launcher.wait_for_change(id, every).await;
    }
}
