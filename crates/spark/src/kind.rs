//! The scheduler's `spark` job kind: a fire submits the application to its
//! backend, records the backend id and Spark's application id on the run, polls
//! until the application ends, and the outcome becomes the run's (SUCCEEDED →
//! success, FAILED / KILLED → failure).
//!
//! The application outlives the server: the run's log location is its handle
//! (`backend:id`), so a server that stops detaches from it, and the instance
//! that recovers the run (the same one restarted, or another in the cluster)
//! re-attaches through the same backend instead of submitting it again.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use consort_scheduler::{DataMap, JobKind, Outcome, Run, RunActionError, RunContext, RunState};
use serde_json::Value;

use crate::launcher::{AppState, Launcher, SparkError, Submission};
use crate::spec::{AppResource, AppSpec};

/// The `spark` kind, with the backends it may submit to.
pub struct SparkKind {
    launchers: HashMap<String, Arc<dyn Launcher>>,
    default_backend: String,
    poll: Duration,
    on_submit: Option<SubmitObserver>,
}

impl std::fmt::Debug for SparkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SparkKind")
            .field("backends", &self.launchers.keys().collect::<Vec<_>>())
            .field("default_backend", &self.default_backend)
            .field("poll", &self.poll)
            .field("observed", &self.on_submit.is_some())
            .finish()
    }
}

/// Told of every submission a run makes: the backend's name, how long the backend took to
/// accept (or refuse) it, and whether it did. Metrics plug in here without this crate knowing
/// any exporter; it must not block.
pub type SubmitObserver = Arc<dyn Fn(&str, Duration, bool) + Send + Sync>;

impl SparkKind {
    /// A kind that submits to `launchers` (by backend name), `default_backend` when a job names none.
    pub fn new(launchers: Vec<Arc<dyn Launcher>>, default_backend: impl Into<String>, poll: Duration) -> Self {
        let launchers = launchers.into_iter().map(|l| (l.kind().as_str().to_string(), l)).collect();
        SparkKind { launchers, default_backend: default_backend.into(), poll, on_submit: None }
    }

    /// This kind, telling `observer` of every submission (see [`SubmitObserver`]).
    pub fn with_submit_observer(mut self, observer: SubmitObserver) -> Self {
        self.on_submit = Some(observer);
        self
    }

    fn launcher(&self, data: &DataMap) -> Result<&Arc<dyn Launcher>, String> {
        let name = data.get("backend").and_then(Value::as_str).unwrap_or(&self.default_backend);
        self.launchers.get(name).ok_or_else(|| {
            let mut known: Vec<&str> = self.launchers.keys().map(String::as_str).collect();
            known.sort_unstable();
            format!("backend: `{name}` is not configured on this server; use one of {}", known.join(", "))
        })
    }
}

/// How a run treats its application beyond submitting it: job data `submitTimeoutSecs`,
/// `timeoutSecs`, `retries`, `retryDelaySecs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunPolicy {
    /// The application must leave SUBMITTED (start running) this long after the fire, or it
    /// is killed and the run fails: a cluster without room for it fails the run visibly.
    pub submit_timeout: Option<Duration>,
    /// The application is killed and the run fails once it has run this long after the fire.
    pub timeout: Option<Duration>,
    /// Submissions retried when the backend is unavailable (after looking the run's key up, so
    /// a request that did arrive is adopted rather than sent twice).
    pub retries: u32,
    /// Delay before the first retry; it doubles with each further one.
    pub retry_delay: Duration,
}

impl Default for RunPolicy {
    fn default() -> Self {
        RunPolicy { submit_timeout: None, timeout: None, retries: 3, retry_delay: Duration::from_secs(10) }
    }
}

/// Reads a job's [`RunPolicy`] fields; absent ones take the defaults (no timeouts, 3 retries
/// 10 s apart, doubling).
pub fn policy_from_data(data: &DataMap) -> Result<RunPolicy, String> {
    let secs = |key: &str| -> Result<Option<u64>, String> {
        match data.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|n| *n <= 366 * 86_400)
                .map(Some)
                .ok_or(format!("{key}: expected whole seconds between 0 and 31622400 (a year), got {v}")),
        }
    };
    let defaults = RunPolicy::default();
    let positive = |key: &str| -> Result<Option<Duration>, String> {
        match secs(key)? {
            Some(0) => Err(format!("{key}: 0 would stop every run at once; leave it out for no limit")),
            other => Ok(other.map(Duration::from_secs)),
        }
    };
    let retries = match secs("retries")? {
        None => defaults.retries,
        Some(n) if n <= 100 => n as u32,
        Some(n) => return Err(format!("retries: {n} is too many; use 0 to 100")),
    };
    Ok(RunPolicy {
        submit_timeout: positive("submitTimeoutSecs")?,
        timeout: positive("timeoutSecs")?,
        retries,
        retry_delay: secs("retryDelaySecs")?.map_or(defaults.retry_delay, Duration::from_secs),
    })
}

/// Reads a job's data map (the descriptor's `jobConfig` shape, camelCase) into an [`AppSpec`].
///
/// `{"jar": URI, "className": C}` or `{"file": URI.py}`, plus optional `name`,
/// `args`, `conf`, `jars`, `pyFiles`, `files`, `packages`, `driverCores`,
/// `driverMemory`, `executorCores`, `executorMemory`, `numExecutors`, `queue`,
/// `logLevel`, and `backend` (and the [`RunPolicy`] fields, read by [`policy_from_data`]).
pub fn spec_from_data(data: &DataMap, default_name: &str) -> Result<AppSpec, String> {
    const KNOWN: [&str; 24] = [
        "podAnnotations",
        "podLabels",
        "sidecars",
        "backend",
        "submitTimeoutSecs",
        "timeoutSecs",
        "retries",
        "retryDelaySecs",
        "name",
        "jar",
        "className",
        "file",
        "args",
        "conf",
        "jars",
        "pyFiles",
        "files",
        "packages",
        "driverCores",
        "driverMemory",
        "executorCores",
        "executorMemory",
        "numExecutors",
        "queue",
    ];
    if let Some(unknown) = data.keys().find(|k| !KNOWN.contains(&k.as_str()) && k.as_str() != "logLevel") {
        return Err(format!("`{unknown}` is not a Spark job field; known fields: {}, logLevel", KNOWN.join(", ")));
    }
    let text = |key: &str| -> Result<Option<String>, String> {
        match data.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!("{key}: expected a string, got {other}")),
        }
    };
    let list = |key: &str| -> Result<Vec<String>, String> {
        match data.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(format!("{key}: expected strings, got {other}")),
                })
                .collect(),
            Some(other) => Err(format!("{key}: expected a list of strings, got {other}")),
        }
    };
    let count = |key: &str| -> Result<Option<u32>, String> {
        match data.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or(format!("{key}: expected a positive whole number, got {v}")),
        }
    };
    let name = text("name")?.unwrap_or_else(|| default_name.to_string());
    let resource = match (text("jar")?, text("className")?, text("file")?) {
        (Some(uri), Some(main_class), None) => AppResource::Jar { uri, main_class },
        (None, None, Some(uri)) => AppResource::Python { uri },
        (Some(_), None, _) => {
            return Err("className: a jar job needs its main class, e.g. \"className\": \"com.example.Etl\"".into());
        }
        _ => return Err("give either \"jar\" with \"className\", or a Python \"file\"".into()),
    };
    let mut spec = match resource {
        AppResource::Jar { uri, main_class } => AppSpec::jar(name, uri, main_class),
        AppResource::Python { uri } => AppSpec::python(name, uri),
    };
    spec.args = list("args")?;
    spec.jars = list("jars")?;
    spec.py_files = list("pyFiles")?;
    spec.files = list("files")?;
    spec.packages = list("packages")?;
    spec.driver_cores = count("driverCores")?;
    spec.executor_cores = count("executorCores")?;
    spec.num_executors = count("numExecutors")?;
    spec.driver_memory = text("driverMemory")?;
    spec.executor_memory = text("executorMemory")?;
    spec.queue = text("queue")?;
    spec.log_level = text("logLevel")?;
    let strings = |key: &str| -> Result<BTreeMap<String, String>, String> {
        match data.get(key) {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    other => Err(format!("{key}.{k}: expected a string, got {other}")),
                })
                .collect(),
            Some(other) => Err(format!("{key}: expected an object of strings, got {other}")),
        }
    };
    spec.pods.annotations = strings("podAnnotations")?;
    spec.pods.labels = strings("podLabels")?;
    spec.pods.sidecars = match data.get("sidecars") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) if items.iter().all(|c| c.get("name").and_then(Value::as_str).is_some()) => {
            items.clone()
        }
        Some(other) => {
            return Err(format!("sidecars: expected a list of Kubernetes containers, each with a name, got {other}"));
        }
    };
    spec.conf = match data.get("conf") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(_) | Value::Bool(_) => Ok((k.clone(), v.to_string())),
                other => Err(format!("conf.{k}: expected a string, number or boolean, got {other}")),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("conf: expected an object of Spark properties, got {other}")),
    };
    spec.validate().map_err(|e| e.to_string())?;
    Ok(spec)
}

#[async_trait]
impl JobKind for SparkKind {
    fn name(&self) -> &str {
        "spark"
    }

    fn validate(&self, data: &DataMap) -> Result<(), String> {
        self.launcher(data)?;
        policy_from_data(data)?;
        spec_from_data(data, "consort").map(|_| ())
    }

    async fn execute(&self, context: RunContext) -> Outcome {
        self.submit_and_follow(context, false).await
    }

    /// A run can be re-attached to once its handle (`backend:id`) is recorded and that
    /// backend is configured here; a run that has not recorded one yet (its instance died or
    /// stopped while submitting) is resumed by its key: found and adopted, or submitted if it
    /// provably never was.
    fn can_resume(&self, run: &Run) -> bool {
        match run.log_location.as_deref() {
            Some(location) => self.resumable(location).is_some(),
            None => !run.state.is_final() && !self.launchers.is_empty(),
        }
    }

    async fn log_tail(&self, run: &Run, max_bytes: usize) -> Result<String, RunActionError> {
        let (launcher, id) = self.launcher_of(run)?;
        launcher.logs(&id, max_bytes).await.map_err(action_error)
    }

    async fn kill(&self, run: &Run) -> Result<(), RunActionError> {
        let (launcher, id) = self.launcher_of(run)?;
        launcher.kill(&id).await.map_err(action_error)
    }

    async fn ui_url(&self, run: &Run) -> Result<Option<String>, RunActionError> {
        let (launcher, id) = self.launcher_of(run)?;
        launcher.ui_url(&id).await.map_err(action_error)
    }

    async fn resume(&self, context: RunContext, run: Run) -> Outcome {
        let Some(location) = run.log_location else {
            // Submitted, perhaps, but the handle never recorded: look the run's key up first.
            return self.submit_and_follow(context, true).await;
        };
        let Some((launcher, id)) = self.resumable(&location) else {
            return Outcome::failed(format!("run {}: `{location}` names no backend configured here", run.id));
        };
        let launcher = launcher.clone();
        let policy = policy_from_data(&context.data).unwrap_or_default();
        self.follow(&context, launcher.as_ref(), &id, location, run.application_id.is_some(), policy).await
    }
}

/// Submits `spec` under `key` exactly once. An error after which the request may have reached
/// the backend (`Unavailable`: a time-out after sending, an answer that could not be read) is
/// not retried blindly: the key is looked up, the application adopted if it is there, and sent
/// again only when the backend says it provably is not.
async fn submit_once(
    launcher: &dyn Launcher,
    spec: &AppSpec,
    key: &str,
    policy: RunPolicy,
    mut may_exist: bool,
    run: i64,
    on_submit: Option<&SubmitObserver>,
) -> Result<Submission, String> {
    let mut attempt = 0u32;
    loop {
        let e = if may_exist {
            match launcher.find(key).await {
                Ok(Some(found)) => {
                    tracing::info!(run, %key, id = %found.id, "adopted the application already submitted for the run");
                    return Ok(found);
                }
                Ok(None) => {
                    may_exist = false;
                    continue;
                }
                Err(e) => e,
            }
        } else {
            let started = std::time::Instant::now();
            // A span per submission (a child of the run's), with its outcome: in a trace, the
            // time Spark took to accept the application.
            let span = tracing::info_span!(
                "spark submit",
                run,
                backend = launcher.kind().as_str(),
                attempt = i64::from(attempt),
                application_id = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
            );
            let submitted = tracing::Instrument::instrument(launcher.submit(spec), span.clone()).await;
            match &submitted {
                Ok(submission) => {
                    span.record("application_id", submission.id.as_str());
                }
                Err(_) => {
                    span.record("otel.status_code", "error");
                }
            }
            drop(span);
            if let Some(observe) = on_submit {
                observe(launcher.kind().as_str(), started.elapsed(), submitted.is_ok());
            }
            #[cfg(feature = "failpoints")]
            let submitted = match submitted {
                // The backend took the request, its answer never arrived.
                Ok(_) if consort_scheduler::failpoint::injected("spark::lose-submit-answer").is_some() => {
                    Err(SparkError::Unavailable {
                        backend: launcher.kind(),
                        address: launcher.address(),
                        message: "the answer to the submission was lost (fail point)".into(),
                    })
                }
                other => other,
            };
            match submitted {
                Ok(submission) => return Ok(submission),
                Err(e) => {
                    // Unavailable may come after the request was sent: look before resending.
                    may_exist = e.is_retryable() && !e.was_not_sent();
                    e
                }
            }
        };
        if !e.is_retryable() || attempt >= policy.retries {
            let unsure = if may_exist {
                format!(
                    "; the application may have been submitted under key {key}: look for it on the backend \
                     before running the job again"
                )
            } else {
                String::new()
            };
            return Err(match attempt {
                0 => format!("{e}{unsure}"),
                n => format!("{e} (gave up after {} submission attempts){unsure}", n + 1),
            });
        }
        let delay = policy.retry_delay.saturating_mul(1 << attempt.min(16));
        attempt += 1;
        tracing::warn!(error = %e, run, attempt, ?delay, "submission failed; retrying");
        tokio::time::sleep(delay).await;
    }
}

/// Records a run's handle, retrying a failing store a few times: a lost handle costs a
/// look-up by key after a crash, never a second application.
async fn record_handle(context: &RunContext, location: &str) {
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=REPORT_ATTEMPTS {
        match context.reporter.report(None, Some(location)).await {
            Ok(()) => return,
            Err(e) if attempt < REPORT_ATTEMPTS => {
                tracing::warn!(error = %e, run_id = context.run_id, attempt, "recording the run's handle failed; retrying");
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
            Err(e) => tracing::error!(
                error = %e, run_id = context.run_id, handle = location,
                "recording the run's handle failed; the run is followed, and found by its key after a restart"
            ),
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn action_error(e: SparkError) -> RunActionError {
    if e.is_retryable() { RunActionError::Unavailable(e.to_string()) } else { RunActionError::Failed(e.to_string()) }
}

/// How a run records its application: `backend:id`, e.g. `standalone:driver-2026…`.
fn handle(submission: &Submission) -> String {
    format!("{}:{}", submission.backend, submission.id)
}

/// Attempts at recording a run's handle before giving up on recording it (the run is still
/// followed; after a crash it is found again by its key).
const REPORT_ATTEMPTS: u32 = 5;

impl SparkKind {
    /// Submits the run's application under the run's key (see [`crate::run_key`]), records its
    /// handle and follows it. `may_exist`: an earlier attempt may have reached the backend
    /// (a resumed run without a handle), so the key is looked up before anything is sent.
    async fn submit_and_follow(&self, context: RunContext, may_exist: bool) -> Outcome {
        let launcher = match self.launcher(&context.data) {
            Ok(l) => l.clone(),
            Err(e) => return Outcome::failed(e),
        };
        let key = crate::spec::run_key(context.run_id, context.fired_ms);
        let checked = spec_from_data(&context.data, &context.job.key().to_string())
            .and_then(|spec| Ok((spec, policy_from_data(&context.data)?)));
        let (mut spec, policy) = match checked {
            Ok(checked) => checked,
            Err(e) => {
                // The job changed under a resumed run: it fails, and takes its application along.
                if may_exist
                    && let Ok(Some(found)) = launcher.find(&key).await
                    && let Err(kill) = launcher.kill(&found.id).await
                {
                    tracing::warn!(error = %kill, run_id = context.run_id, "killing the failed run's application failed");
                }
                return Outcome::failed(e);
            }
        };
        spec.key = Some(key.clone());
        let submission = match submit_once(
            launcher.as_ref(),
            &spec,
            &key,
            policy,
            may_exist,
            context.run_id,
            self.on_submit.as_ref(),
        )
        .await
        {
            Ok(submission) => submission,
            Err(e) => return Outcome::failed(e),
        };
        #[cfg(feature = "failpoints")]
        if consort_scheduler::failpoint::injected("spark::before-recording-handle").is_some() {
            // A crash here: the application runs, its handle is not recorded. The task waits
            // to be aborted (a stopping scheduler detaches from it).
            std::future::pending::<()>().await;
        }
        // Recorded at once: from here on anyone can follow the application by its handle.
        let location = handle(&submission);
        record_handle(&context, &location).await;
        self.follow(&context, launcher.as_ref(), &submission.id, location, false, policy).await
    }

    /// The backend and id of a run's application, or why they are not known.
    fn launcher_of(&self, run: &Run) -> Result<(&Arc<dyn Launcher>, String), RunActionError> {
        let Some(location) = run.log_location.as_deref() else {
            return Err(if run.state.is_final() {
                RunActionError::Failed("it ended before its application was submitted (see its error)".into())
            } else {
                RunActionError::Unavailable("its application is being submitted; retry in a moment".into())
            });
        };
        self.resumable(location).ok_or_else(|| {
            RunActionError::Failed(format!("its application `{location}` is on a backend not configured here"))
        })
    }

    fn resumable(&self, location: &str) -> Option<(&Arc<dyn Launcher>, String)> {
        let (backend, id) = location.split_once(':').filter(|(_, id)| !id.is_empty())?;
        Some((self.launchers.get(backend)?, id.to_string()))
    }

    /// Polls the application until it ends, recording Spark's application id once it is known,
    /// and kills it when it breaks the policy's time limits (counted from the fire, so a
    /// resumed run keeps its limits).
    async fn follow(
        &self,
        context: &RunContext,
        launcher: &dyn Launcher,
        id: &str,
        location: String,
        mut reported_app_id: bool,
        policy: RunPolicy,
    ) -> Outcome {
        let deadline = |limit: Option<Duration>| limit.map(|d| context.fired_ms.saturating_add(d.as_millis() as i64));
        let (start_by, end_by) = (deadline(policy.submit_timeout), deadline(policy.timeout));
        let mut last_seen = None;
        loop {
            match launcher.status(id).await {
                Ok(status) => {
                    last_seen = Some(status.state);
                    if let (false, Some(app_id)) = (reported_app_id, &status.app_id) {
                        let _ = context.reporter.report(Some(app_id), Some(&location)).await;
                        reported_app_id = true;
                    }
                    let now = now_ms();
                    let waiting = matches!(status.state, AppState::Submitted | AppState::Unknown);
                    let broken = match (start_by, end_by) {
                        (Some(t), _) if waiting && now > t => Some(format!(
                            "the application was still {} {}s after the fire, so it was killed (submitTimeoutSecs); \
                             the cluster may lack room for it: check its queue, or raise submitTimeoutSecs",
                            status.state,
                            (now - context.fired_ms) / 1000
                        )),
                        (_, Some(t)) if !status.state.is_final() && now > t => Some(format!(
                            "the application ran longer than timeoutSecs ({}s), so it was killed; \
                             raise timeoutSecs if it needs longer",
                            policy.timeout.unwrap_or_default().as_secs()
                        )),
                        _ => None,
                    };
                    if let Some(error) = broken {
                        if let Err(e) = launcher.kill(id).await {
                            tracing::warn!(error = %e, run_id = context.run_id, "killing the application failed");
                        }
                        let mut outcome = Outcome::failed(error);
                        outcome.application_id = status.app_id;
                        outcome.log_location = Some(location);
                        return outcome;
                    }
                    if status.state.is_final() {
                        let succeeded = status.state == AppState::Succeeded;
                        return Outcome {
                            state: if succeeded { RunState::Succeeded } else { RunState::Failed },
                            error: (!succeeded).then(|| {
                                status
                                    .message
                                    .clone()
                                    .unwrap_or_else(|| format!("Spark application ended {}", status.state))
                            }),
                            exit_code: status.exit_code,
                            application_id: status.app_id,
                            log_location: Some(location),
                        };
                    }
                }
                // A backend that is briefly unreachable is polled again; anything else ends the run.
                Err(e @ (SparkError::Unavailable { .. } | SparkError::NotSent { .. })) => {
                    tracing::warn!(error = %e, run_id = context.run_id, "Spark status unavailable; retrying")
                }
                // Livy deletes a killed batch and forgets ended ones; a Kubernetes kill deletes the object.
                Err(SparkError::NotFound { backend, .. }) if last_seen.is_some() => {
                    let mut outcome = Outcome::failed(format!(
                        "the {backend} backend no longer knows application `{id}` (last seen {}): it was killed, \
                         or the backend dropped it",
                        last_seen.map_or("", AppState::as_str)
                    ));
                    outcome.log_location = Some(location);
                    return outcome;
                }
                Err(e) => {
                    let mut outcome = Outcome::failed(e.to_string());
                    outcome.log_location = Some(location);
                    return outcome;
                }
            }
            launcher.wait_for_change(id, self.poll).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(v: Value) -> DataMap {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn descriptor_fields_map_onto_the_spec() {
        let spec = spec_from_data(
            &data(json!({
                "jar": "hdfs://ns1/jobs/etl.jar", "className": "com.example.Etl", "args": ["a", 1],
                "conf": {"spark.sql.shuffle.partitions": 8, "spark.dynamicAllocation.enabled": false},
                "driverMemory": "1g", "executorCores": 2, "numExecutors": 3, "queue": "etl", "logLevel": "WARN"
            })),
            "etl.nightly",
        )
        .unwrap();
        assert_eq!(spec.name, "etl.nightly");
        assert_eq!(spec.args, ["a", "1"]);
        assert_eq!(spec.conf["spark.sql.shuffle.partitions"], "8");
        assert_eq!(spec.conf["spark.dynamicAllocation.enabled"], "false");
        assert_eq!((spec.executor_cores, spec.num_executors), (Some(2), Some(3)));
    }

    #[test]
    fn run_policy_has_defaults_and_names_bad_fields() {
        assert_eq!(policy_from_data(&data(json!({"file": "x.py"}))).unwrap(), RunPolicy::default());
        let policy = policy_from_data(&data(
            json!({"submitTimeoutSecs": 600, "timeoutSecs": 7200, "retries": 0, "retryDelaySecs": 1}),
        ))
        .unwrap();
        assert_eq!(policy.submit_timeout, Some(Duration::from_secs(600)));
        assert_eq!((policy.timeout, policy.retries), (Some(Duration::from_secs(7200)), 0));
        for (v, says) in [
            (json!({"timeoutSecs": 0}), "timeoutSecs: 0"),
            (json!({"submitTimeoutSecs": "1h"}), "submitTimeoutSecs"),
            (json!({"retries": 1000}), "retries"),
            (json!({"retryDelaySecs": -5}), "retryDelaySecs"),
        ] {
            let err = policy_from_data(&data(v.clone())).unwrap_err();
            assert!(err.contains(says), "{v}: {err}");
        }
        // The policy fields are not Spark fields, and not refused as unknown either.
        assert!(spec_from_data(&data(json!({"file": "x.py", "timeoutSecs": 60})), "j").is_ok());
    }

    #[test]
    fn bad_data_names_the_field() {
        for (v, says) in [
            (json!({"jar": "x.jar"}), "className"),
            (json!({"file": "x.py", "numExecutors": -1}), "numExecutors"),
            (json!({"file": "x.py", "conf": {"k": [1]}}), "conf.k"),
            (json!({"file": "x.py", "driverMemory": "lots"}), "driverMemory"),
            (json!({"file": "x.py", "jarz": 1}), "jarz"),
            (json!({}), "either"),
        ] {
            let err = spec_from_data(&data(v.clone()), "j").unwrap_err();
            assert!(err.contains(says), "{v}: {err}");
        }
    }
}
