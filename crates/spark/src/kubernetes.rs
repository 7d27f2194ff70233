//! The `kubernetes` backend: a `SparkApplication` (`sparkoperator.k8s.io/v1beta2`) for the
//! Kubernetes Spark Operator, created, read and deleted through the Kubernetes API.
//!
//! The operator does the rest: it runs `spark-submit` for the object, watches the driver pod and
//! writes `status.applicationState`, which is what [`Launcher::status`] reads. The id is
//! `NAMESPACE/NAME`, so a restarted server finds the application again by id alone.
//!
//! Kill deletes the object, the operator's one way to stop an application (its driver and executor
//! pods go with it through owner references), and waits until the API server no longer has it.
//! From then on `status` of that id is [`SparkError::NotFound`], as after `kubectl delete`; an
//! object whose deletion is still pending (behind a finalizer) reads as [`AppState::Killed`].
//! Killing an application that has already ended keeps its record and does nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, LogParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Map, Value, json};

use crate::launcher::{AppState, AppStatus, BackendKind, Launcher, SparkError, Submission, error_chain};
use crate::spec::{AppResource, AppSpec, SpecError};

/// The operator's API group.
pub const SPARK_OPERATOR_GROUP: &str = "sparkoperator.k8s.io";
/// The API version consort writes.
pub const SPARK_APPLICATION_API_VERSION: &str = "sparkoperator.k8s.io/v1beta2";
/// The container Spark names its driver container (`spark.kubernetes.driver.container.name`'s default).
const DRIVER_CONTAINER: &str = "spark-kubernetes-driver";
/// Label on every object consort creates, so they can be listed.
pub const MANAGED_BY_LABEL: (&str, &str) = ("app.kubernetes.io/managed-by", "consort");
/// Annotation with the application's name as given (the object's name is a DNS-safe form of it).
pub const APP_NAME_ANNOTATION: &str = "consort/app-name";
/// The label holding the run's key on a `SparkApplication` named by it.
pub const RUN_KEY_LABEL: &str = "consort/run-key";

/// Where the cluster is and how its applications are made.
#[derive(Clone, Debug)]
pub struct KubernetesConfig {
    /// A kubeconfig file; `None` infers one as kubectl does: `$KUBECONFIG`, `~/.kube/config`, then
    /// the pod's service account when running in a cluster.
    pub kubeconfig: Option<PathBuf>,
    /// Namespace of the applications; `None` takes the kubeconfig context's (else `default`).
    pub namespace: Option<String>,
    /// Container image of the driver and executors (`spec.image`), with Spark in it.
    pub image: String,
    /// Service account of the driver pod (it creates the executor pods, so it needs pod rights).
    pub service_account: Option<String>,
    /// Batch scheduler (`spec.batchScheduler`: `volcano`, `yunikorn`, …); needed for a `queue`.
    pub batch_scheduler: Option<String>,
    /// `spec.sparkVersion`: the Spark version in the image.
    pub spark_version: String,
    /// Timeout of each API call (watches excepted).
    pub request_timeout: Duration,
}

impl KubernetesConfig {
    /// A configuration with consort's defaults for everything but the image.
    pub fn new(image: impl Into<String>) -> Self {
        KubernetesConfig {
            kubeconfig: None,
            namespace: None,
            image: image.into(),
            service_account: None,
            batch_scheduler: None,
            spark_version: "4.3.0".into(),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Puts the pods' annotations, labels and sidecars on a driver or executor spec.
fn pod_extras(pod: &mut Map<String, Value>, extras: &crate::spec::PodExtras) {
    if !extras.annotations.is_empty() {
        pod.insert("annotations".into(), json!(extras.annotations));
    }
    if !extras.labels.is_empty() {
        pod.insert("labels".into(), json!(extras.labels));
    }
    if !extras.sidecars.is_empty() {
        pod.insert("sidecars".into(), json!(extras.sidecars));
    }
}

/// The `SparkApplication` resource, for dynamic API calls.
pub fn spark_application_resource() -> ApiResource {
    ApiResource {
        group: SPARK_OPERATOR_GROUP.into(),
        version: "v1beta2".into(),
        api_version: SPARK_APPLICATION_API_VERSION.into(),
        kind: "SparkApplication".into(),
        plural: "sparkapplications".into(),
    }
}

/// The `SparkApplication` for `spec`: every field reaches the manifest.
///
/// With a run key ([`AppSpec::key`]) the object is named by it (and labelled with it), so a
/// create sent twice conflicts instead of making a second application; without one it gets
/// `metadata.generateName` (a DNS-1123 form of the name, then a unique suffix from the API
/// server). The name as given goes to `spark.app.name` and an annotation. The typed
/// fields go to their operator fields, the log level to `spark.log.level`, then `spec.conf` on top
/// of `sparkConf`. The restart policy is `Never`: consort's scheduler decides about retries.
pub fn spark_application(spec: &AppSpec, config: &KubernetesConfig) -> Value {
    let mut conf: BTreeMap<String, String> = BTreeMap::new();
    conf.insert("spark.app.name".into(), spec.name.clone());
    if let Some(level) = &spec.log_level {
        conf.insert("spark.log.level".into(), level.to_uppercase());
    }
    conf.extend(spec.conf.iter().map(|(k, v)| (k.clone(), v.clone())));

    let mut app = Map::new();
    let (kind, main_class) = match &spec.resource {
        AppResource::Jar { main_class, .. } => ("Java", Some(main_class)),
        AppResource::Python { .. } => ("Python", None),
    };
    app.insert("type".into(), kind.into());
    app.insert("mode".into(), "cluster".into());
    app.insert("sparkVersion".into(), config.spark_version.clone().into());
    app.insert("image".into(), config.image.clone().into());
    app.insert("mainApplicationFile".into(), spec.resource.uri().into());
    if let Some(class) = main_class {
        app.insert("mainClass".into(), class.clone().into());
    }
    if !spec.args.is_empty() {
        app.insert("arguments".into(), json!(spec.args));
    }
    app.insert("sparkConf".into(), json!(conf));

    let mut deps = Map::new();
    for (field, list) in
        [("jars", &spec.jars), ("files", &spec.files), ("pyFiles", &spec.py_files), ("packages", &spec.packages)]
    {
        if !list.is_empty() {
            deps.insert(field.into(), json!(list));
        }
    }
    if !deps.is_empty() {
        app.insert("deps".into(), deps.into());
    }

    let mut driver = Map::new();
    if let Some(n) = spec.driver_cores {
        driver.insert("cores".into(), n.into());
    }
    if let Some(m) = &spec.driver_memory {
        driver.insert("memory".into(), m.clone().into());
    }
    if let Some(account) = &config.service_account {
        driver.insert("serviceAccount".into(), account.clone().into());
    }
    pod_extras(&mut driver, &spec.pods);
    app.insert("driver".into(), driver.into());
    let mut executor = Map::new();
    if let Some(n) = spec.executor_cores {
        executor.insert("cores".into(), n.into());
    }
    if let Some(m) = &spec.executor_memory {
        executor.insert("memory".into(), m.clone().into());
    }
    if let Some(n) = spec.num_executors {
        executor.insert("instances".into(), n.into());
    }
    pod_extras(&mut executor, &spec.pods);
    app.insert("executor".into(), executor.into());

    if let Some(scheduler) = &config.batch_scheduler {
        app.insert("batchScheduler".into(), scheduler.clone().into());
    }
    if let Some(queue) = &spec.queue {
        app.insert("batchSchedulerOptions".into(), json!({ "queue": queue }));
    }
    app.insert("restartPolicy".into(), json!({ "type": "Never" }));

    let mut metadata = json!({
        "labels": { MANAGED_BY_LABEL.0: MANAGED_BY_LABEL.1 },
        "annotations": { APP_NAME_ANNOTATION: spec.name },
    });
    match &spec.key {
        Some(key) => {
            metadata["name"] = key.clone().into();
            metadata["labels"][RUN_KEY_LABEL] = key.clone().into();
        }
        None => metadata["generateName"] = format!("{}-", name_prefix(&spec.name)).into(),
    }
    json!({
        "apiVersion": SPARK_APPLICATION_API_VERSION,
        "kind": "SparkApplication",
        "metadata": metadata,
        "spec": app,
    })
}

/// A DNS-1123 label prefix from an application name: lower case, `-` for anything else, at most 40
/// characters (the suffix and the operator's `-driver` must still fit in 63), starting with a letter
/// because Spark also names a Service after it.
fn name_prefix(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out = out.trim_matches('-').to_string();
    if !out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out.insert_str(0, "app-");
    }
    out.truncate(40);
    out.trim_end_matches('-').to_string()
}

/// The operator's `status.applicationState.state` as consort's state.
///
/// The operator's states (its v1beta2 API types): "" (new, not seen by the operator yet),
/// SUBMITTED, RUNNING, COMPLETED, FAILED, SUBMISSION_FAILED, PENDING_RERUN, INVALIDATING,
/// SUCCEEDING, FAILING, UNKNOWN. SUCCEEDING and FAILING are the moments between the driver's end
/// and the operator's verdict, so they are not final yet.
pub fn operator_state(state: &str) -> AppState {
    match state {
        "" | "SUBMITTED" | "PENDING_RERUN" | "INVALIDATING" => AppState::Submitted,
        "RUNNING" | "SUCCEEDING" | "FAILING" => AppState::Running,
        "COMPLETED" => AppState::Succeeded,
        "FAILED" | "SUBMISSION_FAILED" => AppState::Failed,
        _ => AppState::Unknown,
    }
}

/// The status of a `SparkApplication` object (as JSON).
pub fn application_status(object: &Value) -> AppStatus {
    let status = &object["status"];
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let raw_state = status["applicationState"]["state"].as_str().unwrap_or("");
    let error = text(&status["applicationState"]["errorMessage"]);
    let app_id = text(&status["sparkApplicationId"]);
    if object["metadata"]["deletionTimestamp"].is_string() {
        return AppStatus {
            state: AppState::Killed,
            app_id,
            exit_code: None,
            message: Some("deleted: the SparkApplication is being removed with its pods".into()),
        };
    }
    let state = operator_state(raw_state);
    let message = match (state, error) {
        (AppState::Unknown, error) => {
            Some(format!("operator state `{raw_state}`{}", error.map(|e| format!(": {e}")).unwrap_or_default()))
        }
        (AppState::Failed, None) => Some(format!("operator state {raw_state} without an error message")),
        (_, error) => error,
    };
    let exit_code = message.as_deref().and_then(exit_code);
    AppStatus { state, app_id, exit_code, message }
}

/// The exit code in the operator's "driver container failed with ExitCode: N, Reason: …".
fn exit_code(message: &str) -> Option<i32> {
    let rest = &message[message.find("ExitCode: ")? + "ExitCode: ".len()..];
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '-')).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// `NAMESPACE/NAME` → its parts.
fn split_id(id: &str) -> Option<(&str, &str)> {
    let (namespace, name) = id.split_once('/')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains('/')).then_some((namespace, name))
}

/// The API client, made on first use (loading a kubeconfig is async in kube).
struct Connected {
    client: kube::Client,
    url: String,
    namespace: String,
}

/// The `kubernetes` backend.
///
/// Its API client is made on the first call and lives on that call's Tokio runtime (kube spawns
/// its connection tasks there): use a launcher from one runtime, as `consort serve` does.
pub struct KubernetesLauncher {
    config: KubernetesConfig,
    kubeconfig: Option<Kubeconfig>,
    /// Where the API server is, as far as known before connecting.
    planned_address: String,
    connected: tokio::sync::OnceCell<Connected>,
    address: OnceLock<String>,
}

impl std::fmt::Debug for KubernetesLauncher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesLauncher")
            .field("address", &self.address())
            .field("namespace", &self.config.namespace)
            .field("image", &self.config.image)
            .finish_non_exhaustive()
    }
}

impl KubernetesLauncher {
    /// A launcher for `config`. A configured kubeconfig is read now, so a wrong path fails at start;
    /// the connection is made on first use.
    pub fn new(config: KubernetesConfig) -> Result<Self, SparkError> {
        let kubeconfig = match &config.kubeconfig {
            Some(path) => Some(Kubeconfig::read_from(path).map_err(|e| SparkError::Io {
                context: format!(
                    "reading the kubeconfig {} ([spark] kubernetes_kubeconfig); point it at a readable kubeconfig",
                    path.display()
                ),
                source: std::io::Error::other(e.to_string()),
            })?),
            None => None,
        };
        let planned_address = match &kubeconfig {
            Some(k) => server_of(k).unwrap_or_else(|| format!("the kubeconfig {}", path_text(&config.kubeconfig))),
            None => "the inferred kubeconfig ($KUBECONFIG, ~/.kube/config or the pod's service account)".into(),
        };
        Ok(KubernetesLauncher {
            config,
            kubeconfig,
            planned_address,
            connected: tokio::sync::OnceCell::new(),
            address: OnceLock::new(),
        })
    }

    async fn connect(&self) -> Result<&Connected, SparkError> {
        self.connected
            .get_or_try_init(|| async {
                let loaded = match &self.kubeconfig {
                    Some(k) => kube::Config::from_custom_kubeconfig(k.clone(), &KubeConfigOptions::default())
                        .await
                        .map_err(|e| e.to_string()),
                    None => kube::Config::infer().await.map_err(|e| e.to_string()),
                };
                let config = loaded.map_err(|e| SparkError::Unavailable {
                    backend: BackendKind::Kubernetes,
                    address: self.planned_address.clone(),
                    message: format!(
                        "cannot load the Kubernetes client configuration: {e}; set [spark] kubernetes_kubeconfig"
                    ),
                })?;
                let url = config.cluster_url.to_string().trim_end_matches('/').to_string();
                let namespace = self.config.namespace.clone().unwrap_or_else(|| config.default_namespace.clone());
                let client = kube::Client::try_from(config).map_err(|e| SparkError::Unavailable {
                    backend: BackendKind::Kubernetes,
                    address: url.clone(),
                    message: format!("cannot build the Kubernetes client: {e}"),
                })?;
                let _ = self.address.set(url.clone());
                Ok(Connected { client, url, namespace })
            })
            .await
    }

    fn apps(&self, connected: &Connected, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(connected.client.clone(), namespace, &spark_application_resource())
    }

    /// Runs one API call with the request timeout; a hung API server is unavailable.
    async fn call<T>(
        &self,
        connected: &Connected,
        what: &str,
        call: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<Result<T, kube::Error>, SparkError> {
        tokio::time::timeout(self.config.request_timeout, call).await.map_err(|_| SparkError::Unavailable {
            backend: BackendKind::Kubernetes,
            address: connected.url.clone(),
            message: format!("no answer to {what} within {:?}", self.config.request_timeout),
        })
    }

    /// Maps a failed API call; `what` says what was being done. 404s are the caller's to read first.
    fn error(&self, connected: &Connected, what: &str, namespace: &str, error: kube::Error) -> SparkError {
        let rejected = |message: String| SparkError::Rejected { backend: BackendKind::Kubernetes, message };
        match error {
            kube::Error::Api(status) => match status.code {
                404 if status.details.as_ref().is_some_and(|d| d.kind == "namespaces") => rejected(format!(
                    "{what}: namespace `{namespace}` does not exist; create it or set [spark] kubernetes_namespace"
                )),
                404 => rejected(crd_missing(&status.message)),
                401 | 403 => rejected(format!(
                    "{what}: the API server at {} refused the credentials: {}; check the kubeconfig's user and its \
                     RBAC rights on sparkapplications.{SPARK_OPERATOR_GROUP} in namespace `{namespace}`",
                    connected.url, status.message
                )),
                429 | 500..=599 => SparkError::Unavailable {
                    backend: BackendKind::Kubernetes,
                    address: connected.url.clone(),
                    message: format!("{what}: HTTP {}: {}", status.code, status.message),
                },
                code => rejected(format!("{what}: HTTP {code} {}: {}", status.reason, status.message)),
            },
            other => SparkError::Unavailable {
                backend: BackendKind::Kubernetes,
                address: connected.url.clone(),
                message: format!("{what}: {}", error_chain(&other)),
            },
        }
    }

    /// The object for `id`, or NotFound.
    async fn get(&self, id: &str) -> Result<(DynamicObject, &Connected), SparkError> {
        let not_found = || SparkError::NotFound { backend: BackendKind::Kubernetes, id: id.to_string() };
        let (namespace, name) = split_id(id).ok_or_else(not_found)?;
        let connected = self.connect().await?;
        let api = self.apps(connected, namespace);
        match self.call(connected, "reading the SparkApplication", api.get(name)).await? {
            Ok(object) => Ok((object, connected)),
            Err(kube::Error::Api(status))
                if status.code == 404 && status.details.as_ref().is_some_and(|d| d.kind == "sparkapplications") =>
            {
                Err(not_found())
            }
            Err(e) => Err(self.error(connected, "reading the SparkApplication", namespace, e)),
        }
    }

    /// Waits with a watch (no polling) until the application ends or its object is deleted.
    ///
    /// Returns the final status; a deleted object gives [`SparkError::NotFound`], a watch that
    /// breaks [`SparkError::Unavailable`] (poll with [`Launcher::status`] then), and `timeout`
    /// passing [`SparkError::Timeout`].
    pub async fn watch_until_final(&self, id: &str, timeout: Duration) -> Result<AppStatus, SparkError> {
        let (object, connected) = self.get(id).await?;
        let first = application_status(&serde_json::to_value(&object).unwrap_or_default());
        if first.state.is_final() {
            return Ok(first);
        }
        let (namespace, name) = split_id(id)
            .ok_or_else(|| SparkError::NotFound { backend: BackendKind::Kubernetes, id: id.to_string() })?;
        let api = self.apps(connected, namespace);
        let condition = |object: Option<&DynamicObject>| match object {
            None => true,
            Some(o) => application_status(&serde_json::to_value(o).unwrap_or_default()).state.is_final(),
        };
        match tokio::time::timeout(timeout, kube::runtime::wait::await_condition(api, name, condition)).await {
            Err(_) => {
                Err(SparkError::Timeout { backend: BackendKind::Kubernetes, id: id.to_string(), waited: timeout })
            }
            Ok(Err(e)) => Err(SparkError::Unavailable {
                backend: BackendKind::Kubernetes,
                address: connected.url.clone(),
                message: format!("watching {id}: {}", error_chain(&e)),
            }),
            Ok(Ok(None)) => Err(SparkError::NotFound { backend: BackendKind::Kubernetes, id: id.to_string() }),
            Ok(Ok(Some(object))) => Ok(application_status(&serde_json::to_value(&object).unwrap_or_default())),
        }
    }
}

fn crd_missing(detail: &str) -> String {
    format!(
        "SparkApplication CRD missing: install the Spark Operator (the API server does not serve \
         sparkapplications.{SPARK_OPERATOR_GROUP}/v1beta2: {detail})"
    )
}

fn server_of(kubeconfig: &Kubeconfig) -> Option<String> {
    let context_name = kubeconfig.current_context.as_ref()?;
    let context = kubeconfig.contexts.iter().find(|c| &c.name == context_name)?.context.as_ref()?;
    let cluster = kubeconfig.clusters.iter().find(|c| c.name == context.cluster)?.cluster.as_ref()?;
    cluster.server.as_ref().map(|s| s.trim_end_matches('/').to_string())
}

fn path_text(path: &Option<PathBuf>) -> String {
    path.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
}

/// The last `max_bytes` of `text`, cut on a character boundary.
fn tail(text: &str, max_bytes: usize) -> &str {
    let mut start = text.len().saturating_sub(max_bytes);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[async_trait]
impl Launcher for KubernetesLauncher {
    fn kind(&self) -> BackendKind {
        BackendKind::Kubernetes
    }

    fn address(&self) -> String {
        self.address.get().cloned().unwrap_or_else(|| self.planned_address.clone())
    }

    async fn health(&self) -> Result<(), SparkError> {
        let connected = self.connect().await?;
        let what = "discovering the Spark Operator's API";
        let resources = self
            .call(connected, what, connected.client.list_api_group_resources(SPARK_APPLICATION_API_VERSION))
            .await?;
        let namespace = connected.namespace.as_str();
        match resources {
            Ok(list) if list.resources.iter().any(|r| r.name == "sparkapplications") => {}
            Ok(_) => {
                return Err(SparkError::Rejected {
                    backend: BackendKind::Kubernetes,
                    message: crd_missing("the group is served without sparkapplications"),
                });
            }
            Err(kube::Error::Api(status)) if status.code == 404 => {
                return Err(SparkError::Rejected {
                    backend: BackendKind::Kubernetes,
                    message: crd_missing(&status.message),
                });
            }
            Err(e) => return Err(self.error(connected, what, namespace, e)),
        }
        // Listing in the namespace checks the namespace and this user's rights there.
        let api = self.apps(connected, namespace);
        match self.call(connected, "listing SparkApplications", api.list(&ListParams::default().limit(1))).await? {
            Ok(_) => Ok(()),
            Err(e) => Err(self.error(connected, "listing SparkApplications", namespace, e)),
        }
    }

    async fn submit(&self, spec: &AppSpec) -> Result<Submission, SparkError> {
        spec.validate()?;
        if let (Some(queue), None) = (&spec.queue, &self.config.batch_scheduler) {
            return Err(SparkError::Spec(SpecError {
                field: "queue",
                problem: format!(
                    "`{queue}` needs a batch scheduler on Kubernetes; set [spark] kubernetes_batch_scheduler \
                     (e.g. \"volcano\" or \"yunikorn\"), or drop the queue"
                ),
            }));
        }
        let connected = self.connect().await?;
        let namespace = connected.namespace.clone();
        let manifest = spark_application(spec, &self.config);
        let object: DynamicObject = serde_json::from_value(manifest).map_err(|e| SparkError::Rejected {
            backend: BackendKind::Kubernetes,
            message: format!("building the SparkApplication: {e}"),
        })?;
        let api = self.apps(connected, &namespace);
        let params = PostParams { dry_run: false, field_manager: Some("consort".into()) };
        let what = "creating the SparkApplication";
        let created = match self.call(connected, what, api.create(&params, &object)).await? {
            Ok(created) => created,
            // The key's object exists: an earlier create of this run got there (its answer lost).
            Err(kube::Error::Api(status)) if status.code == 409 && spec.key.is_some() => {
                let key = spec.key.as_deref().unwrap_or_default();
                return match self.find(key).await? {
                    Some(found) => Ok(found),
                    None => Err(SparkError::Unavailable {
                        backend: BackendKind::Kubernetes,
                        address: connected.url.clone(),
                        message: format!("{what}: `{key}` conflicted, then was gone (being deleted?)"),
                    }),
                };
            }
            Err(e) => return Err(self.error(connected, what, &namespace, e)),
        };
        let name = created.metadata.name.ok_or_else(|| SparkError::Rejected {
            backend: BackendKind::Kubernetes,
            message: "the API server created the SparkApplication but returned no name".into(),
        })?;
        Ok(Submission { backend: BackendKind::Kubernetes, id: format!("{namespace}/{name}") })
    }

    /// The `SparkApplication` named `key` in the configured namespace, if it carries the key's label
    /// (an object of that name that consort did not make for this run is an error, not adopted).
    async fn find(&self, key: &str) -> Result<Option<Submission>, SparkError> {
        let connected = self.connect().await?;
        let id = format!("{}/{key}", connected.namespace);
        let object = match self.get(&id).await {
            Ok((object, _)) => object,
            Err(SparkError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        match object.metadata.labels.as_ref().and_then(|l| l.get(RUN_KEY_LABEL)) {
            Some(label) if label == key => Ok(Some(Submission { backend: BackendKind::Kubernetes, id })),
            _ => Err(SparkError::Rejected {
                backend: BackendKind::Kubernetes,
                message: format!(
                    "SparkApplication {id} exists but was not made by consort for run key `{key}` (no `{RUN_KEY_LABEL}` \
                     label); rename or delete it"
                ),
            }),
        }
    }

    async fn status(&self, id: &str) -> Result<AppStatus, SparkError> {
        let (object, _) = self.get(id).await?;
        let value = serde_json::to_value(&object).map_err(|e| SparkError::Rejected {
            backend: BackendKind::Kubernetes,
            message: format!("reading {id}: {e}"),
        })?;
        Ok(application_status(&value))
    }

    async fn logs(&self, id: &str, max_bytes: usize) -> Result<String, SparkError> {
        let (object, connected) = self.get(id).await?;
        let (namespace, _) = split_id(id).unwrap_or_default();
        let value = serde_json::to_value(&object).unwrap_or_default();
        let Some(pod) = value["status"]["driverInfo"]["podName"].as_str().filter(|p| !p.is_empty()) else {
            let state = match value["status"]["applicationState"]["state"].as_str().unwrap_or("") {
                "" => "the operator has not picked it up yet".to_string(),
                state => format!("operator state {state}"),
            };
            return Err(SparkError::Rejected {
                backend: BackendKind::Kubernetes,
                message: format!(
                    "{id} has no driver pod yet ({state}); its log is readable once the operator has started the driver"
                ),
            });
        };
        let pods: Api<Pod> = Api::namespaced(connected.client.clone(), namespace);
        let params = LogParams {
            container: Some(DRIVER_CONTAINER.into()),
            // The API can tail lines, not bytes: ask for enough lines, then cut to max_bytes.
            tail_lines: Some((max_bytes / 40).clamp(100, 100_000) as i64),
            ..LogParams::default()
        };
        let what = format!("reading the log of driver pod {namespace}/{pod}");
        match self.call(connected, &what, pods.logs(pod, &params)).await? {
            Ok(text) => Ok(tail(&text, max_bytes).to_string()),
            Err(kube::Error::Api(status)) if matches!(status.code, 400 | 404) => Err(SparkError::Rejected {
                backend: BackendKind::Kubernetes,
                message: format!(
                    "driver log of {id} is unavailable: pod {namespace}/{pod} (container {DRIVER_CONTAINER}) cannot \
                     be read: {} (HTTP {}); the pod may be deleted or not started yet",
                    status.message, status.code
                ),
            }),
            Err(e) => Err(self.error(connected, &what, namespace, e)),
        }
    }

    /// Watches the object until its state differs from the one seen now (or it is deleted),
    /// so the scheduler hears of an end at once; a watch that cannot start sleeps instead.
    async fn wait_for_change(&self, id: &str, at_most: Duration) {
        let started = tokio::time::Instant::now();
        let watch = async {
            let (object, connected) = self.get(id).await.ok()?;
            let seen = application_status(&serde_json::to_value(&object).unwrap_or_default()).state;
            let (namespace, name) = split_id(id)?;
            let changed = move |object: Option<&DynamicObject>| {
                object.is_none_or(|o| application_status(&serde_json::to_value(o).unwrap_or_default()).state != seen)
            };
            kube::runtime::wait::await_condition(self.apps(connected, namespace), name, changed).await.ok()
        };
        if let Ok(None) = tokio::time::timeout(at_most, watch).await {
            tokio::time::sleep(at_most.saturating_sub(started.elapsed())).await;
        }
    }

    async fn kill(&self, id: &str) -> Result<(), SparkError> {
        let (object, connected) = self.get(id).await?;
        let value = serde_json::to_value(&object).unwrap_or_default();
        if application_status(&value).state.is_final() {
            return Ok(());
        }
        let (namespace, name) = split_id(id).unwrap_or_default();
        let api = self.apps(connected, namespace);
        let what = "deleting the SparkApplication";
        match self.call(connected, what, api.delete(name, &DeleteParams::background())).await? {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
            Err(e) => return Err(self.error(connected, what, namespace, e)),
        }
        let uid = object.metadata.uid.unwrap_or_default();
        let gone = kube::runtime::wait::await_condition(api, name, kube::runtime::wait::conditions::is_deleted(&uid));
        match tokio::time::timeout(self.config.request_timeout, gone).await {
            Ok(Ok(_)) => Ok(()),
            // Deletion was accepted; a finalizer may hold the object for a while (status: KILLED).
            Err(_) => Ok(()),
            Ok(Err(e)) => Err(SparkError::Unavailable {
                backend: BackendKind::Kubernetes,
                address: connected.url.clone(),
                message: format!("{id} is being deleted, but watching for its removal failed: {}", error_chain(&e)),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> KubernetesConfig {
        let mut config = KubernetesConfig::new("registry.example/spark:4.3.0");
        config.service_account = Some("spark".into());
        config.batch_scheduler = Some("volcano".into());
        config
    }

    #[test]
    fn every_field_reaches_the_manifest() {
        let mut spec = AppSpec::jar("ETL nightly.v2", "local:///opt/jobs/etl.jar", "com.example.Etl");
        spec.args = vec!["--date".into(), "2026-01-01".into()];
        spec.conf.insert("spark.sql.shuffle.partitions".into(), "8".into());
        spec.conf.insert("spark.log.level".into(), "ERROR".into());
        spec.jars = vec!["local:///opt/lib/a.jar".into()];
        spec.files = vec!["s3a://bucket/app.conf".into()];
        spec.py_files = vec!["local:///opt/lib/helpers.zip".into()];
        spec.packages = vec!["org.example:lib:1.0".into()];
        spec.driver_cores = Some(1);
        spec.driver_memory = Some("1g".into());
        spec.executor_cores = Some(2);
        spec.executor_memory = Some("2g".into());
        spec.num_executors = Some(3);
        spec.queue = Some("etl".into());
        spec.log_level = Some("warn".into());
        let m = spark_application(&spec, &config());
        assert_eq!(m["apiVersion"], "sparkoperator.k8s.io/v1beta2");
        assert_eq!(m["kind"], "SparkApplication");
        assert_eq!(m["metadata"]["generateName"], "etl-nightly-v2-");
        assert_eq!(m["metadata"]["annotations"]["consort/app-name"], "ETL nightly.v2");
        assert_eq!(m["metadata"]["labels"]["app.kubernetes.io/managed-by"], "consort");
        let mut keyed = spec.clone();
        keyed.key = Some("consort-run-7-1764000000000".into());
        let k = spark_application(&keyed, &config());
        assert_eq!(k["metadata"]["name"], "consort-run-7-1764000000000", "named by the run: a resent create conflicts");
        assert_eq!(k["metadata"]["labels"]["consort/run-key"], "consort-run-7-1764000000000");
        assert!(k["metadata"].get("generateName").is_none());
        let s = &m["spec"];
        assert_eq!(s["type"], "Java");
        assert_eq!(s["mode"], "cluster");
        assert_eq!(s["sparkVersion"], "4.3.0");
        assert_eq!(s["image"], "registry.example/spark:4.3.0");
        assert_eq!(s["mainApplicationFile"], "local:///opt/jobs/etl.jar");
        assert_eq!(s["mainClass"], "com.example.Etl");
        assert_eq!(s["arguments"], json!(["--date", "2026-01-01"]));
        assert_eq!(
            s["sparkConf"],
            json!({"spark.app.name": "ETL nightly.v2", "spark.log.level": "ERROR", "spark.sql.shuffle.partitions": "8"}),
            "explicit conf wins over the log level"
        );
        assert_eq!(
            s["deps"],
            json!({"jars": ["local:///opt/lib/a.jar"], "files": ["s3a://bucket/app.conf"],
                   "pyFiles": ["local:///opt/lib/helpers.zip"], "packages": ["org.example:lib:1.0"]})
        );
        assert_eq!(s["driver"], json!({"cores": 1, "memory": "1g", "serviceAccount": "spark"}));
        assert_eq!(s["executor"], json!({"cores": 2, "memory": "2g", "instances": 3}));
        assert_eq!(s["batchScheduler"], "volcano");
        assert_eq!(s["batchSchedulerOptions"], json!({"queue": "etl"}));
        assert_eq!(s["restartPolicy"], json!({"type": "Never"}));

        spec.conf.remove("spark.log.level");
        assert_eq!(spark_application(&spec, &config())["spec"]["sparkConf"]["spark.log.level"], "WARN");
    }

    #[test]
    fn minimal_python_app_has_only_what_is_set() {
        let spec = AppSpec::python("report", "local:///opt/jobs/report.py");
        let m = spark_application(&spec, &KubernetesConfig::new("spark:4.3.0"));
        let s = m["spec"].as_object().unwrap();
        assert_eq!(s["type"], "Python");
        assert_eq!(s["mainApplicationFile"], "local:///opt/jobs/report.py");
        for absent in ["mainClass", "arguments", "deps", "batchScheduler", "batchSchedulerOptions"] {
            assert!(!s.contains_key(absent), "{absent} should be absent: {s:?}");
        }
        assert_eq!(s["driver"], json!({}));
        assert_eq!(s["executor"], json!({}));
        assert_eq!(s["sparkConf"], json!({"spark.app.name": "report"}));
    }

    #[test]
    fn names_are_dns_labels() {
        assert_eq!(name_prefix("etl.nightly"), "etl-nightly");
        assert_eq!(name_prefix("__Daily  Report__"), "daily-report");
        assert_eq!(name_prefix("2026 backfill"), "app-2026-backfill");
        assert_eq!(name_prefix("###"), "app");
        assert_eq!(name_prefix("Ünïcode"), "n-code");
        let long = name_prefix(&"a-".repeat(100));
        assert!(long.len() <= 40 && !long.ends_with('-'), "{long}");
    }

    #[test]
    fn operator_states_map_to_app_states() {
        let status = |state: &str, extra: Value| {
            let mut object = json!({"status": {"applicationState": {"state": state}}});
            if let (Some(o), Some(extra)) = (object["status"].as_object_mut(), extra.as_object()) {
                o.extend(extra.clone());
            }
            application_status(&object)
        };
        assert_eq!(application_status(&json!({})).state, AppState::Submitted, "a new object");
        for (state, expected) in [
            ("SUBMITTED", AppState::Submitted),
            ("PENDING_RERUN", AppState::Submitted),
            ("INVALIDATING", AppState::Submitted),
            ("RUNNING", AppState::Running),
            ("SUCCEEDING", AppState::Running),
            ("FAILING", AppState::Running),
            ("COMPLETED", AppState::Succeeded),
            ("FAILED", AppState::Failed),
            ("SUBMISSION_FAILED", AppState::Failed),
            ("UNKNOWN", AppState::Unknown),
            ("SOMETHING_NEW", AppState::Unknown),
        ] {
            assert_eq!(status(state, json!({})).state, expected, "{state}");
        }
        let running = status("RUNNING", json!({"sparkApplicationId": "spark-0123"}));
        assert_eq!(running.app_id.as_deref(), Some("spark-0123"));
        assert_eq!(running.message, None);
        let failed = status(
            "FAILED",
            json!({"applicationState": {"state": "FAILED",
                   "errorMessage": "driver container failed with ExitCode: 137, Reason: OOMKilled"}}),
        );
        assert_eq!(failed.exit_code, Some(137));
        assert!(failed.message.unwrap().contains("OOMKilled"));
        assert!(status("FAILED", json!({})).message.unwrap().contains("without an error message"));
        assert!(status("SOMETHING_NEW", json!({})).message.unwrap().contains("SOMETHING_NEW"));
        let deleting = application_status(&json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"},
                                                   "status": {"applicationState": {"state": "RUNNING"}}}));
        assert_eq!(deleting.state, AppState::Killed);
    }

    #[test]
    fn ids_are_namespace_and_name() {
        assert_eq!(split_id("spark-jobs/etl-x7k2p"), Some(("spark-jobs", "etl-x7k2p")));
        for bad in ["etl", "/etl", "ns/", "a/b/c", ""] {
            assert_eq!(split_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn log_tail_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(tail("abc", 10), "abc");
        assert_eq!(tail("aé", 1), "");
        assert_eq!(tail("aéb", 2), "b");
    }
}
