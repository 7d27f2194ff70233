//! The `kubernetes` backend against a real Kubernetes API server started by this test
//! ([`KubeApiServer`]: etcd and the standalone CRD API server, k8s.io/apiextensions-apiserver,
//! built by scripts/setup.d/35-kube-apiserver.sh), with the SparkApplication CRD from
//! rigs/kube-apiserver/crds installed through the API. No operator runs here: the test plays it by
//! writing the `status` subresource the way the Spark Operator does, and checks what the launcher
//! reads. The server serves only CRDs (no pods), which the log scenario relies on.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use consort_rigs::KubeApiServer;
use consort_spark::{
    AppSpec, AppState, KubernetesConfig, KubernetesLauncher, Launcher, SparkError, spark_application,
    spark_application_resource,
};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

#[cfg(feature = "failpoints")]
#[path = "support/once_scenarios.rs"]
mod once_scenarios;

/// The API server, for the fault-injection matrix; applications are the SparkApplications
/// it holds.
#[cfg(feature = "failpoints")]
struct Kubernetes {
    client: kube::Client,
    config: KubernetesConfig,
}

#[cfg(feature = "failpoints")]
impl once_scenarios::Backend for Kubernetes {
    fn launcher(&self) -> std::sync::Arc<dyn Launcher> {
        std::sync::Arc::new(KubernetesLauncher::new(self.config.clone()).unwrap())
    }
    fn job(&self) -> serde_json::Map<String, Value> {
        let data = json!({"jar": "local:///opt/spark/jobs/etl.jar", "className": "com.example.Etl"});
        data.as_object().unwrap().clone()
    }
    async fn applications(&self, key: &str) -> Vec<String> {
        let all: Api<DynamicObject> = Api::all_with(self.client.clone(), &spark_application_resource());
        let labelled = all.list(&ListParams::default().labels(&format!("consort/run-key={key}"))).await.unwrap();
        labelled
            .items
            .iter()
            .map(|o| format!("{}/{}", o.metadata.namespace.as_deref().unwrap(), o.metadata.name.as_deref().unwrap()))
            .collect()
    }
    async fn total(&self) -> usize {
        let all: Api<DynamicObject> = Api::all_with(self.client.clone(), &spark_application_resource());
        all.list(&ListParams::default()).await.unwrap().items.len()
    }
}

/// Plays the Spark Operator for the SparkApplications created from now on: each is moved to
/// RUNNING when seen, and to COMPLETED a second later (the ones already there are left alone).
#[cfg(feature = "failpoints")]
async fn play_operator(client: kube::Client) -> impl std::future::Future<Output = ()> {
    let all: Api<DynamicObject> = Api::all_with(client.clone(), &spark_application_resource());
    let id = |o: &DynamicObject| {
        format!("{}/{}", o.metadata.namespace.as_deref().unwrap(), o.metadata.name.as_deref().unwrap())
    };
    let existing: std::collections::HashSet<String> =
        all.list(&ListParams::default()).await.unwrap().items.iter().map(id).collect();
    async move {
        let mut running: std::collections::HashMap<String, Instant> = Default::default();
        loop {
            if let Ok(list) = all.list(&ListParams::default()).await {
                for object in &list.items {
                    let id = id(object);
                    if existing.contains(&id) {
                        continue;
                    }
                    let namespace = object.metadata.namespace.clone().unwrap();
                    let apps: Api<DynamicObject> =
                        Api::namespaced_with(client.clone(), &namespace, &spark_application_resource());
                    let state = object.data.pointer("/status/applicationState/state").and_then(Value::as_str);
                    match (state, running.get(&id)) {
                        (None, _) => {
                            let name = object.metadata.name.clone().unwrap();
                            let status = json!({"applicationState": {"state": "RUNNING"},
                                "sparkApplicationId": format!("spark-{name}"), "executionAttempts": 1});
                            operator_writes(&apps, &id, status).await;
                            running.insert(id, Instant::now());
                        }
                        (Some("RUNNING"), Some(since)) if since.elapsed() > Duration::from_secs(1) => {
                            operator_writes(&apps, &id, json!({"applicationState": {"state": "COMPLETED"}})).await;
                        }
                        _ => {}
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Writes `status` as the operator does (through the status subresource).
async fn operator_writes(apps: &Api<DynamicObject>, id: &str, status: Value) {
    let name = id.split_once('/').unwrap().1;
    apps.patch_status(name, &PatchParams::default(), &Patch::Merge(json!({ "status": status }))).await.unwrap();
}

fn full_spec() -> AppSpec {
    let mut spec = AppSpec::jar("Nightly ETL", "local:///opt/spark/jobs/etl.jar", "com.example.Etl");
    spec.args = vec!["--date".into(), "2026-01-01".into()];
    spec.conf.insert("spark.sql.shuffle.partitions".into(), "8".into());
    spec.jars = vec!["local:///opt/lib/a.jar".into(), "local:///opt/lib/b.jar".into()];
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
    spec.pods.annotations.insert("consort.dev/run-policy".into(), "ab12".into());
    spec.pods.labels.insert("consort.dev/cleanroom".into(), "overlap".into());
    spec.pods.sidecars = vec![json!({"name": "consort-secrets", "image": "consort-sidecar:1", "args": ["secrets"]})];
    spec
}

fn config(rig: &KubeApiServer) -> KubernetesConfig {
    let mut config = KubernetesConfig::new("registry.example/spark:4.3.0");
    config.kubeconfig = Some(rig.kubeconfig().to_path_buf());
    config.namespace = Some("spark-jobs".into());
    config.service_account = Some("spark".into());
    config.batch_scheduler = Some("volcano".into());
    config.request_timeout = Duration::from_secs(30);
    config
}

fn assert_rejected(result: Result<impl std::fmt::Debug, SparkError>, says: &str) {
    match result {
        Err(e @ SparkError::Rejected { .. }) => assert!(e.to_string().contains(says), "{e}"),
        other => panic!("expected a rejection saying `{says}`, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark_applications_on_a_real_api_server() {
    let mut rig = KubeApiServer::start().await;
    let client = rig.client().await;
    let config = config(&rig);
    let k8s = KubernetesLauncher::new(config.clone()).unwrap();
    assert_eq!(k8s.address(), rig.url(), "the address comes from the kubeconfig");

    // No CRD yet: health and submit say what to install.
    assert_rejected(k8s.health().await, "SparkApplication CRD missing: install the Spark Operator");
    assert_rejected(k8s.submit(&full_spec()).await, "SparkApplication CRD missing");
    let started = Instant::now();
    rig.install_spark_crd().await;
    eprintln!("CRD established after {:.1}s", started.elapsed().as_secs_f64());
    k8s.health().await.unwrap();

    // Submit: the object holds exactly the manifest, every field, after the server's pruning.
    let spec = full_spec();
    let submitted = k8s.submit(&spec).await.unwrap();
    let (namespace, name) = submitted.id.split_once('/').unwrap();
    assert_eq!(namespace, "spark-jobs");
    assert!(name.starts_with("nightly-etl-") && name.len() == "nightly-etl-".len() + 5, "{name}");
    let apps: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &spark_application_resource());
    let stored = serde_json::to_value(apps.get(name).await.unwrap()).unwrap();
    assert_eq!(stored["apiVersion"], "sparkoperator.k8s.io/v1beta2");
    assert_eq!(stored["kind"], "SparkApplication");
    assert_eq!(stored["metadata"]["labels"], json!({"app.kubernetes.io/managed-by": "consort"}));
    assert_eq!(stored["metadata"]["annotations"], json!({"consort/app-name": "Nightly ETL"}));
    assert_eq!(
        stored["spec"],
        json!({
            "type": "Java",
            "mode": "cluster",
            "sparkVersion": "4.3.0",
            "image": "registry.example/spark:4.3.0",
            "mainApplicationFile": "local:///opt/spark/jobs/etl.jar",
            "mainClass": "com.example.Etl",
            "arguments": ["--date", "2026-01-01"],
            "sparkConf": {
                "spark.app.name": "Nightly ETL",
                "spark.log.level": "WARN",
                "spark.sql.shuffle.partitions": "8"
            },
            "deps": {
                "jars": ["local:///opt/lib/a.jar", "local:///opt/lib/b.jar"],
                "files": ["s3a://bucket/app.conf"],
                "pyFiles": ["local:///opt/lib/helpers.zip"],
                "packages": ["org.example:lib:1.0"]
            },
            "driver": {"cores": 1, "memory": "1g", "serviceAccount": "spark",
                "annotations": {"consort.dev/run-policy": "ab12"}, "labels": {"consort.dev/cleanroom": "overlap"},
                "sidecars": [{"name": "consort-secrets", "image": "consort-sidecar:1", "args": ["secrets"]}]},
            "executor": {"cores": 2, "memory": "2g", "instances": 3,
                "annotations": {"consort.dev/run-policy": "ab12"}, "labels": {"consort.dev/cleanroom": "overlap"},
                "sidecars": [{"name": "consort-secrets", "image": "consort-sidecar:1", "args": ["secrets"]}]},
            "batchScheduler": "volcano",
            "batchSchedulerOptions": {"queue": "etl"},
            "restartPolicy": {"type": "Never"}
        })
    );
    assert_eq!(stored["spec"], spark_application(&spec, &config)["spec"], "the pure manifest is what is stored");

    // The operator's life of a successful run, read back by id alone.
    let status = k8s.status(&submitted.id).await.unwrap();
    assert_eq!((status.state, status.app_id.as_deref()), (AppState::Submitted, None), "{status:?}");
    assert_rejected(k8s.logs(&submitted.id, 4096).await, "has no driver pod yet");
    operator_writes(&apps, &submitted.id, json!({"applicationState": {"state": "SUBMITTED"}, "submissionAttempts": 1}))
        .await;
    assert_eq!(k8s.status(&submitted.id).await.unwrap().state, AppState::Submitted);
    // The scheduler's wait between polls returns as soon as the state changes (not after its
    // 10 minutes).
    let waiter = {
        let k8s = KubernetesLauncher::new(config.clone()).unwrap();
        let id = submitted.id.clone();
        tokio::spawn(async move { k8s.wait_for_change(&id, Duration::from_secs(600)).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let app_id = "spark-5f1c0a8e2b7d4c3f9e6a1b2c3d4e5f60";
    operator_writes(
        &apps,
        &submitted.id,
        json!({"applicationState": {"state": "RUNNING"}, "sparkApplicationId": app_id,
               "driverInfo": {"podName": format!("{name}-driver")}, "executionAttempts": 1}),
    )
    .await;
    tokio::time::timeout(Duration::from_secs(120), waiter).await.expect("the wait saw the change").unwrap();
    let running = k8s.status(&submitted.id).await.unwrap();
    assert_eq!((running.state, running.app_id.as_deref()), (AppState::Running, Some(app_id)), "{running:?}");
    // This server has no pods: the log call reaches the core API and says clearly it cannot read it.
    assert_rejected(k8s.logs(&submitted.id, 4096).await, &format!("pod spark-jobs/{name}-driver"));

    // A watch sees the end without polling.
    let watcher = {
        let k8s = KubernetesLauncher::new(config.clone()).unwrap();
        let id = submitted.id.clone();
        tokio::spawn(async move { k8s.watch_until_final(&id, Duration::from_secs(60)).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    operator_writes(&apps, &submitted.id, json!({"applicationState": {"state": "COMPLETED"}})).await;
    let watched = watcher.await.unwrap().unwrap();
    assert_eq!((watched.state, watched.app_id.as_deref()), (AppState::Succeeded, Some(app_id)), "{watched:?}");
    let done = k8s.status(&submitted.id).await.unwrap();
    assert_eq!((done.state, done.app_id.as_deref(), done.message), (AppState::Succeeded, Some(app_id), None));
    // Killing an application that has ended keeps its record.
    k8s.kill(&submitted.id).await.unwrap();
    assert_eq!(k8s.status(&submitted.id).await.unwrap().state, AppState::Succeeded);

    // A failing run: the operator's error message and the driver's exit code come through.
    let python = AppSpec::python("report", "local:///opt/jobs/report.py");
    let failing = k8s.submit(&python).await.unwrap();
    let stored = serde_json::to_value(apps.get(failing.id.split_once('/').unwrap().1).await.unwrap()).unwrap();
    assert_eq!(stored["spec"]["type"], "Python");
    assert_eq!(stored["spec"], spark_application(&python, &config)["spec"]);
    operator_writes(
        &apps,
        &failing.id,
        json!({"applicationState": {"state": "FAILED",
               "errorMessage": "driver container failed with ExitCode: 1, Reason: Error"}}),
    )
    .await;
    let failed = k8s.status(&failing.id).await.unwrap();
    assert_eq!((failed.state, failed.exit_code), (AppState::Failed, Some(1)), "{failed:?}");
    assert_eq!(failed.message.as_deref(), Some("driver container failed with ExitCode: 1, Reason: Error"));
    operator_writes(
        &apps,
        &failing.id,
        json!({"applicationState": {"state": "SUBMISSION_FAILED", "errorMessage": "x"}}),
    )
    .await;
    assert_eq!(k8s.status(&failing.id).await.unwrap().state, AppState::Failed);

    // Kill: the object is deleted; its id is then unknown.
    let long = k8s.submit(&AppSpec::jar("long", "local:///opt/jobs/etl.jar", "com.example.Etl")).await.unwrap();
    operator_writes(&apps, &long.id, json!({"applicationState": {"state": "RUNNING"}})).await;
    k8s.kill(&long.id).await.unwrap();
    assert!(apps.get_opt(long.id.split_once('/').unwrap().1).await.unwrap().is_none(), "the object is deleted");
    for result in [k8s.status(&long.id).await.map(|_| ()), k8s.kill(&long.id).await] {
        assert!(matches!(result, Err(SparkError::NotFound { .. })), "{result:?}");
    }
    for unknown in ["spark-jobs/never-submitted", "not-an-id", "a/b/c"] {
        let result = k8s.status(unknown).await;
        assert!(matches!(result, Err(SparkError::NotFound { .. })), "{unknown}: {result:?}");
    }

    // A run's key names its object: a create sent again (its answer lost) conflicts and adopts
    // the first, so the run has one application; an object of that name not made for the run
    // is refused, not adopted.
    let key = "consort-run-9-1764000000000";
    let mut keyed = AppSpec::jar("keyed", "local:///opt/jobs/etl.jar", "com.example.Etl");
    keyed.key = Some(key.into());
    assert_eq!(k8s.find(key).await.unwrap(), None, "never submitted");
    let first = k8s.submit(&keyed).await.unwrap();
    assert_eq!(first.id, format!("spark-jobs/{key}"));
    assert_eq!(k8s.submit(&keyed).await.unwrap(), first, "the resent create adopts the first");
    assert_eq!(k8s.find(key).await.unwrap(), Some(first.clone()));
    let labelled = apps.list(&ListParams::default().labels(&format!("consort/run-key={key}"))).await.unwrap();
    assert_eq!(labelled.items.len(), 1, "exactly one application for the run");
    let mut foreign = spark_application(&AppSpec::jar("x", "local:///x.jar", "x.Main"), &config);
    foreign["metadata"] = json!({"name": "consort-run-10-1"});
    apps.create(&PostParams::default(), &serde_json::from_value(foreign).unwrap()).await.unwrap();
    keyed.key = Some("consort-run-10-1".into());
    assert_rejected(k8s.submit(&keyed).await, "was not made by consort for run key");

    // A queue needs a batch scheduler, said before anything is created.
    let mut no_scheduler = config.clone();
    no_scheduler.batch_scheduler = None;
    let err = KubernetesLauncher::new(no_scheduler).unwrap().submit(&full_spec()).await.unwrap_err();
    assert!(err.to_string().contains("queue") && err.to_string().contains("kubernetes_batch_scheduler"), "{err}");

    // Without a configured namespace, the kubeconfig context's namespace is used.
    let mut from_context = config.clone();
    from_context.namespace = None;
    let inferred = KubernetesLauncher::new(from_context).unwrap().submit(&python).await.unwrap();
    assert!(inferred.id.starts_with("from-context/report-"), "{inferred:?}");

    // The fault-injection matrix (`--features failpoints`): a crash between submitting and
    // recording the handle, and a lost submit answer, each end with one SparkApplication
    // followed to the end, with this test playing the operator for the new ones.
    #[cfg(feature = "failpoints")]
    {
        let operator = tokio::spawn(play_operator(client.clone()).await);
        once_scenarios::exactly_one_application_per_run(&Kubernetes { client: client.clone(), config: config.clone() })
            .await;
        operator.abort();
    }

    // The API server is gone: a clear, retryable error naming it.
    rig.stop_apiserver();
    for err in [k8s.status(&submitted.id).await.unwrap_err(), k8s.health().await.unwrap_err()] {
        assert!(err.is_retryable(), "{err}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("kubernetes backend at {}", rig.url())) && message.contains("retry"),
            "{message}"
        );
    }
}

#[test]
fn a_missing_kubeconfig_fails_at_start() {
    let mut config = KubernetesConfig::new("spark:4.3.0");
    config.kubeconfig = Some(PathBuf::from("/nonexistent/kubeconfig"));
    let err = KubernetesLauncher::new(config).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/kubeconfig") && err.contains("kubernetes_kubeconfig"), "{err}");
}
