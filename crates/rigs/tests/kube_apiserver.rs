//! The Kubernetes API server rig on its own: the SparkApplication CRD, objects and their status
//! subresource, and an API server restart that keeps what etcd holds.

use std::time::Duration;

use consort_rigs::KubeApiServer;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use serde_json::json;

fn spark_applications() -> ApiResource {
    let gvk = GroupVersionKind::gvk("sparkoperator.k8s.io", "v1beta2", "SparkApplication");
    ApiResource::from_gvk_with_plural(&gvk, "sparkapplications")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_survive_an_api_server_restart() {
    let mut rig = KubeApiServer::start().await;
    rig.install_spark_crd().await;
    let client = rig.client().await;
    let apps: Api<DynamicObject> = Api::namespaced_with(client.clone(), "spark-jobs", &spark_applications());
    let app: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
        "metadata": {"name": "pi", "labels": {"consort/run-key": "consort-run-1-1"}},
        "spec": {"type": "Scala", "mode": "cluster", "sparkVersion": "4.0.1", "image": "spark:4.0.1",
                 "mainApplicationFile": "local:///opt/pi.jar", "mainClass": "Pi", "driver": {}, "executor": {}}
    }))
    .unwrap();
    apps.create(&PostParams::default(), &app).await.unwrap();
    let status = Patch::Merge(json!({"status": {"applicationState": {"state": "RUNNING"}}}));
    apps.patch_status("pi", &PatchParams::default(), &status).await.unwrap();

    rig.stop_apiserver();
    let down = tokio::time::timeout(Duration::from_secs(30), apps.get("pi")).await.expect("an answer, not a hang");
    assert!(down.is_err(), "the API server is stopped: {down:?}");

    rig.restart_apiserver().await;
    let kept = serde_json::to_value(apps.get("pi").await.unwrap()).unwrap();
    assert_eq!(kept["status"]["applicationState"]["state"], "RUNNING", "{kept}");
    assert_eq!(kept["metadata"]["labels"]["consort/run-key"], "consort-run-1-1");
    let dir = rig.dir().to_path_buf();
    drop(rig);
    assert!(!dir.exists(), "the scratch directory goes with the rig");
}
