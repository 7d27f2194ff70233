//! Clean-room runs on Spark: the governed runner package the binary ships, the `cleanroom` job
//! kind that submits it through the `spark` kind, the probe of datasets and sinks, and the
//! [`RunExecutor`] the server's run routes use.
//!
//! A run decided by governance becomes a one-shot scheduler job of kind `cleanroom` (data
//! `{"cleanroom", "run"}`), so it is submitted exactly once, followed, resumed after a restart
//! and killed like any Spark run. A job of kind `cleanroom` with `{"cleanroom", "query",
//! "runAs"}` instead runs the whole checklist at every fire: a scheduled clean-room query.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use async_trait::async_trait;
use consort_governance::Caller;
use consort_governance::Governance;
use consort_governance::model::{DatasetSpec, SinkSpec};
use consort_governance::runs::{CleanRoomRun, LocationProbe, RunExecutor, RunnerIdentity};
use consort_scheduler::{
    DataMap, Job, JobKey, JobKind, Outcome, Run, RunActionError, RunContext, RunState, Schedule, Scheduler,
    SchedulerError, StoreError, Trigger, TriggerKey,
};
use consort_spark::SparkKind;
use consort_storage::{StorageConfig, StorageUri};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/runner_files.rs"));
}

/// The job kind's name.
pub const KIND: &str = "cleanroom";

/// The governed runner as installed in the data directory.
#[derive(Clone, Debug)]
pub struct RunnerPackage {
    /// The entry script spark-submit runs (the package sits next to it).
    pub entry: PathBuf,
    /// SHA-256 of the package's files (docs/cleanroom-runs.md).
    pub measurement: String,
}

/// SHA-256 over each `(path, content)` in path order: `path ‖ 0x00 ‖ len(content) as 8 bytes
/// big-endian ‖ content` (the runner measures itself the same way).
pub fn measure(files: &[(&str, &[u8])]) -> String {
    let mut sorted: Vec<&(&str, &[u8])> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut hash = Sha256::new();
    for (path, content) in sorted {
        hash.update(path.as_bytes());
        hash.update([0u8]);
        hash.update((content.len() as u64).to_be_bytes());
        hash.update(content);
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl RunnerPackage {
    /// Writes the embedded runner to `{data_dir}/runner/{measurement}/` (once per version).
    pub fn install(data_dir: &Path) -> anyhow::Result<RunnerPackage> {
        let Some(entry_script) = embedded::ENTRY_SCRIPT else {
            anyhow::bail!("this consort was built without the governed runner (runner/ was missing at build time)");
        };
        anyhow::ensure!(!embedded::PACKAGE_FILES.is_empty(), "this consort was built without the runner package");
        let measurement = measure(embedded::PACKAGE_FILES);
        let dir = data_dir.join("runner").join(&measurement[..16]);
        for (path, content) in embedded::PACKAGE_FILES {
            let target = dir.join(path);
            if std::fs::read(&target).ok().as_deref() != Some(*content) {
                std::fs::create_dir_all(target.parent().expect("a package file has a parent"))
                    .with_context(|| format!("creating {}", dir.display()))?;
                std::fs::write(&target, content).with_context(|| format!("writing {}", target.display()))?;
            }
        }
        let entry = dir.join("consort_runner_main.py");
        if std::fs::read(&entry).ok().as_deref() != Some(entry_script) {
            std::fs::write(&entry, entry_script).with_context(|| format!("writing {}", entry.display()))?;
        }
        Ok(RunnerPackage { entry, measurement })
    }
}

/// How runners are launched.
#[derive(Clone, Debug)]
pub struct RunnerSettings {
    /// The installed package.
    pub package: RunnerPackage,
    /// The URL runners call back (this server, as the driver reaches it).
    pub callback_url: String,
    /// The simulated TEE's private key file given to runners (PKCS#8 v1 DER; development and
    /// tests only).
    pub simulated_tee_key: Option<PathBuf>,
    /// The backend runs go to when the caller names none.
    pub default_backend: String,
    /// The backends configured.
    pub backends: Vec<String>,
    /// How runs go to the `kubernetes` backend, when it is configured.
    pub kubernetes: Option<KubernetesRunner>,
}

/// What a run's driver and executor pods carry on Kubernetes: the runner inside the Spark
/// image, and beside it the sidecars that hold its secrets, identity and telemetry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubernetesRunner {
    /// The Spark image (`[spark] kubernetes_image`).
    pub image: String,
    /// The entry script's URI in that image.
    pub runner_file: String,
    /// The sidecars' image.
    pub sidecar_image: String,
}

/// The sidecars' roles, in order.
const SIDECARS: [&str; 3] = ["secrets", "identity", "telemetry"];

impl KubernetesRunner {
    /// SHA-256 of what the pods run besides the package: a changed image, runner path or
    /// sidecar needs a new prepare.
    pub fn platform(&self) -> String {
        let pods = json!({"image": self.image, "runnerFile": self.runner_file, "sidecarImage": self.sidecar_image,
            "sidecars": SIDECARS});
        Sha256::digest(pods.to_string().as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The sidecar containers of one run.
    fn sidecars(&self, callback_url: &str, cleanroom: &str, run: &str) -> Vec<Value> {
        SIDECARS
            .iter()
            .map(|role| {
                json!({"name": format!("consort-{role}"), "image": self.sidecar_image, "args": [role],
                    "env": [{"name": "CONSORT_SERVER", "value": callback_url},
                            {"name": "CONSORT_CLEANROOM", "value": cleanroom},
                            {"name": "CONSORT_RUN", "value": run}]})
            })
            .collect()
    }
}

/// The `cleanroom` job kind.
#[derive(Debug)]
pub struct CleanRoomKind {
    governance: Governance,
    spark: Arc<SparkKind>,
    settings: RunnerSettings,
}

impl CleanRoomKind {
    /// The kind over `governance`, submitting the runner through `spark`.
    pub fn new(governance: Governance, spark: Arc<SparkKind>, settings: RunnerSettings) -> Self {
        CleanRoomKind { governance, spark, settings }
    }

    fn spark_data(&self, cleanroom: &str, run: &CleanRoomRun, job_config: &[u8]) -> DataMap {
        spark_data_for(&self.settings, cleanroom, run, job_config)
    }

    async fn resolve(&self, context: &RunContext) -> Result<(String, CleanRoomRun, Vec<u8>), String> {
        // The job's own data, never a trigger's overlay: who a query runs as is the job's.
        let text = |k: &str| context.job.data().get(k).and_then(Value::as_str).map(str::to_string);
        let cleanroom = text("cleanroom").ok_or("cleanroom: missing")?;
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let (run, config) = match (text("run"), text("query")) {
            (Some(run), _) => {
                let (run, config) =
                    self.governance.run_with_config(&cleanroom, &run).await.map_err(|e| e.to_string())?;
                if run.state.is_final() {
                    return Err(format!(
                        "run {} is {:?} before it started: {}",
                        run.id,
                        run.state,
                        run.failure.as_deref().unwrap_or("nothing to do")
                    ));
                }
                (run, config)
            }
            (None, Some(query)) => {
                let principal = text("runAs").ok_or("runAs: a scheduled clean-room query runs as a user")?;
                let runner = runner_identity(&self.settings, None)?;
                let key = format!("scheduler-{}-{}", context.run_id, context.fired_ms);
                let started = self
                    .governance
                    .start_run(&cleanroom, &Caller::User(principal), &query, Some(&key), &runner, &StorageProbe, now_ms)
                    .await
                    .map_err(|e| format!("{}: {e}", e.code()))?;
                (started.run, started.job_config)
            }
            (None, None) => return Err("give \"run\" (a started run) or \"query\" with \"runAs\"".into()),
        };
        self.governance
            .set_scheduler_run(&cleanroom, &run.id, context.run_id, now_ms)
            .await
            .map_err(|e| e.to_string())?;
        Ok((cleanroom, run, config))
    }

    async fn finish(&self, cleanroom: &str, run: &str, outcome: &Outcome) {
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let succeeded = outcome.state == RunState::Succeeded;
        if let Err(e) = self.governance.finish_run(cleanroom, run, succeeded, outcome.error.clone(), now_ms).await {
            tracing::warn!(cleanroom, run, error = %e, "could not record the end of a clean-room run");
        }
    }
}

/// The `spark` kind's job data for a run's governed runner: the entry script with the run's
/// arguments, on its backend; on Kubernetes with the run policy and sidecars on the pods.
fn spark_data_for(settings: &RunnerSettings, cleanroom: &str, run: &CleanRoomRun, job_config: &[u8]) -> DataMap {
    use base64::Engine;

    let mut args = vec![
        "--server".to_string(),
        settings.callback_url.clone(),
        "--cleanroom".into(),
        cleanroom.to_string(),
        "--run".into(),
        run.id.clone(),
        "--config".into(),
        base64::engine::general_purpose::STANDARD.encode(job_config),
    ];
    if let Some(key) = &settings.simulated_tee_key {
        args.extend(["--tee-key".to_string(), key.display().to_string()]);
    }
    let mut data = DataMap::new();
    data.insert("name".into(), json!(format!("consort-cleanroom-{cleanroom}-{}", run.id)));
    data.insert("file".into(), json!(settings.package.entry.display().to_string()));
    if let (Some(k8s), "kubernetes") = (&settings.kubernetes, run.backend.as_str()) {
        // The pods carry the run policy (admission and audit read it there) and the sidecars.
        data.insert("file".into(), json!(k8s.runner_file));
        data.insert(
            "podAnnotations".into(),
            json!({"consort.dev/cleanroom": cleanroom, "consort.dev/run": run.id,
                "consort.dev/run-policy": run.run_policy, "consort.dev/job-config": run.job_config_hash,
                "consort.dev/runner-measurement": run.policy.measurements.first(),
                "consort.dev/platform": k8s.platform()}),
        );
        data.insert("podLabels".into(), json!({"consort.dev/cleanroom-run": run.id}));
        data.insert("sidecars".into(), json!(k8s.sidecars(&settings.callback_url, cleanroom, &run.id)));
    }
    data.insert("args".into(), json!(args));
    data.insert("backend".into(), json!(run.backend));
    // The runner stops itself on withdrawn consent and reports its end; a retried
    // submission would be a second run of the same grants.
    data.insert("retries".into(), json!(0));
    data
}

fn runner_identity(settings: &RunnerSettings, backend: Option<&str>) -> Result<RunnerIdentity, String> {
    let backend = backend.unwrap_or(&settings.default_backend);
    if !settings.backends.iter().any(|b| b == backend) {
        return Err(format!(
            "backend: {backend:?} is not configured here; use one of {}",
            settings.backends.join(", ")
        ));
    }
    let platform = match (&settings.kubernetes, backend) {
        (Some(k8s), "kubernetes") => Some(k8s.platform()),
        _ => None,
    };
    Ok(RunnerIdentity { measurement: settings.package.measurement.clone(), backend: backend.to_string(), platform })
}

#[async_trait]
impl JobKind for CleanRoomKind {
    fn name(&self) -> &str {
        KIND
    }

    fn validate(&self, data: &DataMap) -> Result<(), String> {
        let has = |k: &str| data.get(k).and_then(Value::as_str).is_some_and(|s| !s.is_empty());
        if !has("cleanroom") {
            return Err("cleanroom: the clean room's name is required".into());
        }
        match (has("run"), has("query"), has("runAs")) {
            (true, false, false) | (false, true, true) => Ok(()),
            _ => {
                Err("give either \"run\" (a run started through the API) or \"query\" and \"runAs\" (a user principal)"
                    .into())
            }
        }
    }

    async fn execute(&self, context: RunContext) -> Outcome {
        let (cleanroom, run, config) = match self.resolve(&context).await {
            Ok(resolved) => resolved,
            Err(e) => return Outcome::failed(e),
        };
        let data = self.spark_data(&cleanroom, &run, &config);
        let outcome = self.spark.execute(RunContext { data, ..context }).await;
        self.finish(&cleanroom, &run.id, &outcome).await;
        outcome
    }

    fn can_resume(&self, run: &Run) -> bool {
        self.spark.can_resume(run)
    }

    async fn resume(&self, context: RunContext, run: Run) -> Outcome {
        let text = |k: &str| context.data.get(k).and_then(Value::as_str).map(str::to_string);
        let (cleanroom, cr_run) = (text("cleanroom"), text("run"));
        let outcome = self.spark.resume(context, run).await;
        if let (Some(cleanroom), Some(cr_run)) = (cleanroom, cr_run) {
            self.finish(&cleanroom, &cr_run, &outcome).await;
        }
        outcome
    }

    async fn log_tail(&self, run: &Run, max_bytes: usize) -> Result<String, RunActionError> {
        self.spark.log_tail(run, max_bytes).await
    }

    async fn kill(&self, run: &Run) -> Result<(), RunActionError> {
        self.spark.kill(run).await
    }
}

/// Checks datasets and sinks with the landed storage: a dataset's location must list at least
/// one object, a sink's location (or, for a new directory, its parent) must be reachable.
#[derive(Debug, Default, Clone, Copy)]
pub struct StorageProbe;

impl StorageProbe {
    fn config(credentials: &[Vec<u8>]) -> StorageConfig {
        let mut config = StorageConfig::default();
        for value in credentials {
            let Ok(Value::Object(c)) = serde_json::from_slice::<Value>(value) else { continue };
            let s = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
            if let Some(key) = s("secretAccessKey") {
                config.s3.endpoint = s("endpoint");
                config.s3.region = s("region");
                config.s3.access_key_id = s("accessKeyId");
                config.s3.secret_access_key = Some(consort_storage::config::Secret::new(key));
            }
            if let Some(key) = s("accountKey") {
                config.azure.endpoint = s("endpoint");
                config.azure.account_name = s("account");
                config.azure.account_key = Some(consort_storage::config::Secret::new(key));
            }
        }
        config
    }

    async fn listable(location: &str, credentials: &[Vec<u8>], need_objects: bool) -> Result<(), String> {
        let uri = StorageUri::parse(location).map_err(|e| e.to_string())?;
        let storage =
            consort_storage::Storage::connect(&uri, &Self::config(credentials)).await.map_err(|e| e.to_string())?;
        match storage.list(location).await {
            Ok(entries) if need_objects && entries.iter().all(|e| e.is_dir) => {
                Err("holds no files: nothing to read".into())
            }
            Ok(_) => Ok(()),
            Err(consort_storage::StorageError::NotFound { .. }) if !need_objects => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}

#[async_trait]
impl LocationProbe for StorageProbe {
    async fn readable(&self, dataset: &DatasetSpec, credentials: &[Vec<u8>]) -> Result<(), String> {
        Self::listable(&dataset.location, credentials, true).await
    }

    async fn writable(&self, sink: &SinkSpec, credentials: &[Vec<u8>]) -> Result<(), String> {
        Self::listable(&sink.location, credentials, false).await
    }
}

/// The server's [`RunExecutor`]: runs become one-shot `cleanroom` jobs on the scheduler.
#[derive(Debug)]
pub struct SparkRunExecutor {
    scheduler: OnceLock<Arc<Scheduler>>,
    settings: RunnerSettings,
}

impl SparkRunExecutor {
    /// An executor for runs launched with `settings`; [`SparkRunExecutor::attach`] gives it the
    /// scheduler once that runs.
    pub fn new(settings: RunnerSettings) -> Self {
        SparkRunExecutor { scheduler: OnceLock::new(), settings }
    }

    /// The scheduler runs are submitted through.
    pub fn attach(&self, scheduler: Arc<Scheduler>) {
        let _ = self.scheduler.set(scheduler);
    }

    fn scheduler(&self) -> Result<&Arc<Scheduler>, String> {
        self.scheduler.get().ok_or_else(|| "the scheduler is not running".to_string())
    }
}

/// The scheduler job of a clean-room run.
pub fn run_job_key(cleanroom: &str, run: &str) -> Result<JobKey, String> {
    JobKey::new(KIND, format!("{cleanroom}.{run}")).map_err(|e| e.to_string())
}

#[async_trait]
impl RunExecutor for SparkRunExecutor {
    fn runner(&self, backend: Option<&str>) -> Result<RunnerIdentity, String> {
        runner_identity(&self.settings, backend)
    }

    fn probe(&self) -> &dyn LocationProbe {
        &StorageProbe
    }

    async fn submit(&self, cleanroom: &str, run: &CleanRoomRun) -> Result<(), String> {
        let scheduler = self.scheduler()?;
        let key = run_job_key(cleanroom, &run.id)?;
        let data: DataMap =
            BTreeMap::from([("cleanroom".to_string(), json!(cleanroom)), ("run".to_string(), json!(run.id))])
                .into_iter()
                .collect();
        let job = Job::new(key.clone(), KIND).with_data(data).with_requests_recovery(true);
        let trigger_key = TriggerKey::new(KIND, format!("{cleanroom}.{}", run.id)).map_err(|e| e.to_string())?;
        let trigger = Trigger::new(trigger_key, key, Schedule::once(), jiff::Timestamp::now().as_millisecond());
        match scheduler.create_job(&job, &[trigger]).await {
            // A retried call of the same run finds its job: submitted once.
            Ok(()) | Err(SchedulerError::Store(StoreError::JobExists(_))) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn kill(&self, run: &CleanRoomRun) -> Result<(), String> {
        let Some(id) = run.scheduler_run else {
            return Ok(());
        };
        self.scheduler()?.kill_run(id).await.map_err(|e| e.to_string())
    }
}

/// The clean rooms' governance over `stores`, sealing with the key file (`[cleanroom]
/// key_file`, default `cleanroom.key` in the data directory, created on first start), and the
/// ledgers' service keys derived from it.
pub fn governance(
    config: &consort_config::Config,
    data_dir: &Path,
    stores: &consort_store::Stores,
) -> anyhow::Result<(Governance, Arc<consort_ledger::DerivedServiceKeys>)> {
    let key_path = config.cleanroom.key_file.clone().unwrap_or_else(|| data_dir.join("cleanroom.key"));
    let key_file = consort_attest::LocalKeyFile::open_or_create(&key_path)
        .with_context(|| format!("opening the clean rooms' key file {} (cleanroom.key_file)", key_path.display()))?;
    let service_keys =
        Arc::new(consort_ledger::DerivedServiceKeys::new(*key_file.derive_secret("ledger-service-keys/1")));
    Ok((Governance::new(stores.governance.clone(), Arc::new(key_file)), service_keys))
}

/// The simulated TEE of `[cleanroom] simulated_tee_key_file`, its key file created (mode 0600)
/// when absent: its path for runners and its public key for the verifier.
pub fn simulated_tee(config: &consort_config::Config) -> anyhow::Result<Option<(PathBuf, [u8; 32])>> {
    let Some(path) = config.cleanroom.simulated_tee_key_file.clone() else {
        return Ok(None);
    };
    let context = || format!("the simulated TEE key {} (cleanroom.simulated_tee_key_file)", path.display());
    let tee = match std::fs::read(&path) {
        Ok(pkcs8) => consort_attest::SimulatedTee::new(&pkcs8).with_context(context)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (tee, pkcs8) = consort_attest::SimulatedTee::generate().with_context(context)?;
            write_private(&path, &ed25519_pkcs8_v1(&pkcs8).with_context(context)?).with_context(context)?;
            tee
        }
        Err(e) => return Err(e).with_context(context),
    };
    Ok(Some((path, tee.public_key())))
}

/// The PKCS#8 v1 form (RFC 8410, the seed alone) of ring's Ed25519 PKCS#8 v2 document: ring
/// tags the public key in a way other readers (Python's `cryptography`, which the runner uses)
/// refuse, and the seed is all a signer needs.
fn ed25519_pkcs8_v1(v2: &[u8]) -> anyhow::Result<Vec<u8>> {
    const V2_PREFIX: [u8; 16] =
        [0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    const V1_PREFIX: [u8; 16] =
        [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    anyhow::ensure!(v2.len() >= 48 && v2[..16] == V2_PREFIX, "not an Ed25519 PKCS#8 v2 document");
    Ok([&V1_PREFIX[..], &v2[16..48]].concat())
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(bytes)
}

/// How this server launches governed runners, or `None` (with a warning) when this build has
/// no runner package.
pub fn runner_settings(
    config: &consort_config::Config,
    data_dir: &Path,
    listening: &str,
    backends: &[Arc<dyn consort_spark::Launcher>],
    simulated_tee_key: Option<PathBuf>,
) -> anyhow::Result<Option<RunnerSettings>> {
    let package = match RunnerPackage::install(data_dir) {
        Ok(package) => package,
        Err(e) => {
            tracing::warn!(error = %e, "clean-room queries cannot run on this server");
            return Ok(None);
        }
    };
    Ok(Some(RunnerSettings {
        package,
        callback_url: config.cleanroom.runner_callback_url.clone().unwrap_or_else(|| listening.to_string()),
        simulated_tee_key,
        default_backend: config.spark.default_backend.clone(),
        backends: backends.iter().map(|b| b.kind().as_str().to_string()).collect(),
        kubernetes: config.spark.kubernetes_image.clone().map(|image| KubernetesRunner {
            image,
            runner_file: config
                .cleanroom
                .kubernetes_runner_file
                .clone()
                .unwrap_or_else(|| "local:///opt/consort/runner/consort_runner_main.py".into()),
            sidecar_image: config
                .cleanroom
                .kubernetes_sidecar_image
                .clone()
                .unwrap_or_else(|| format!("consort-sidecar:{}", env!("CARGO_PKG_VERSION"))),
        }),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(backend: &str) -> CleanRoomRun {
        let policy = consort_attest::Policy { measurements: vec!["aa".repeat(32)], ..Default::default() };
        serde_json::from_value(json!({
            "id": "0123456789abcdef", "query": "q", "query_version": 1, "requested_by": "user:carol",
            "idempotency_key": null, "state": "STARTING", "job_config_hash": "cc".repeat(32),
            "run_policy": "dd".repeat(32), "prepared": "p", "policy": policy, "secrets": [], "consent": [],
            "approvers": [], "backend": backend, "scheduler_run": null, "session_hash": null, "one_off_key": null,
            "created_ms": 0, "started_ms": null, "ended_ms": null, "segments": [], "rows_read": 0,
            "rows_written": 0, "output": null, "failure": null, "end_seq": null}))
        .unwrap()
    }

    fn settings(sidecar_image: &str) -> RunnerSettings {
        RunnerSettings {
            package: RunnerPackage { entry: "/srv/runner/consort_runner_main.py".into(), measurement: "aa".repeat(32) },
            callback_url: "https://consort.internal:8443".into(),
            simulated_tee_key: None,
            default_backend: "local".into(),
            backends: vec!["local".into(), "kubernetes".into()],
            kubernetes: Some(KubernetesRunner {
                image: "spark:4.3.0".into(),
                runner_file: "local:///opt/consort/runner/consort_runner_main.py".into(),
                sidecar_image: sidecar_image.into(),
            }),
        }
    }

    /// On Kubernetes the SparkApplication's driver and executors carry the run policy and the
    /// sidecars; a changed sidecar is another platform, so the prepared policy goes stale.
    #[test]
    fn kubernetes_runs_put_the_run_policy_and_the_sidecars_on_their_pods() {
        let settings = settings("consort-sidecar:1");
        let identity = runner_identity(&settings, Some("kubernetes")).unwrap();
        assert_eq!(identity.platform.as_deref(), Some(settings.kubernetes.as_ref().unwrap().platform().as_str()));
        assert_ne!(identity, runner_identity(&self::settings("consort-sidecar:2"), Some("kubernetes")).unwrap());
        assert_eq!(runner_identity(&settings, None).unwrap().platform, None, "local runs the package as it is");

        let data = spark_data_for(&settings, "overlap", &run("kubernetes"), b"{}");
        let spec = consort_spark::spec_from_data(&data, "x").unwrap();
        assert_eq!(spec.resource.uri(), "local:///opt/consort/runner/consort_runner_main.py");
        assert_eq!(spec.pods.annotations["consort.dev/run-policy"], "dd".repeat(32));
        assert_eq!(spec.pods.labels["consort.dev/cleanroom-run"], "0123456789abcdef");
        let names: Vec<&str> = spec.pods.sidecars.iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["consort-secrets", "consort-identity", "consort-telemetry"]);
        let manifest = consort_spark::spark_application(&spec, &consort_spark::KubernetesConfig::new("spark:4.3.0"));
        for pod in ["driver", "executor"] {
            assert_eq!(manifest["spec"][pod]["annotations"]["consort.dev/run-policy"], "dd".repeat(32), "{manifest}");
            assert_eq!(manifest["spec"][pod]["sidecars"].as_array().unwrap().len(), 3, "{manifest}");
        }
        // Locally the runner is the installed package, with no pod extras.
        let local =
            consort_spark::spec_from_data(&spark_data_for(&settings, "overlap", &run("local"), b"{}"), "x").unwrap();
        assert_eq!(local.resource.uri(), "/srv/runner/consort_runner_main.py");
        assert_eq!(local.pods, consort_spark::PodExtras::default());
    }

    #[test]
    fn the_simulated_tee_key_file_is_pkcs8_v1_and_signs_as_the_generated_key() {
        let (tee, v2) = consort_attest::SimulatedTee::generate().unwrap();
        let v1 = ed25519_pkcs8_v1(&v2).unwrap();
        assert_eq!(v1.len(), 48);
        assert_eq!(consort_attest::SimulatedTee::new(&v1).unwrap().public_key(), tee.public_key());
        assert!(ed25519_pkcs8_v1(&v1).is_err(), "only a v2 document is converted");
    }

    #[test]
    fn the_measurement_is_over_sorted_paths_lengths_and_contents() {
        let a = measure(&[("consort_runner/b.py", b"x"), ("consort_runner/a.py", b"")]);
        let b = measure(&[("consort_runner/a.py", b""), ("consort_runner/b.py", b"x")]);
        assert_eq!(a, b, "order of listing does not matter");
        assert_ne!(
            a,
            measure(&[("consort_runner/a.py", b"x"), ("consort_runner/b.py", b"")]),
            "content moved between files"
        );
        // path ‖ 0 ‖ len (8 bytes BE) ‖ content, as the runner computes it.
        let mut bytes = b"consort_runner/a.py\0".to_vec();
        bytes.extend(1u64.to_be_bytes());
        bytes.push(b'z');
        let expected: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(measure(&[("consort_runner/a.py", b"z")]), expected);
    }
}
