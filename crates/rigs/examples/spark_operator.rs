//! Plays the Kubernetes Spark Operator on a [`KubeApiServer`] rig, for `scripts/bench chaos spark`.
//!
//! `spark_operator serve [RUN_MS]`: starts the rig, installs the SparkApplication CRD, prints
//! `kubeconfig PATH` on stdout once clients can connect, then moves every new SparkApplication
//! to RUNNING (with a Spark application id) and, RUN_MS (default 1000) later, to COMPLETED, by
//! writing its `status` subresource as the operator does. Runs until SIGTERM or SIGINT, then
//! stops the rig.
//!
//! `spark_operator count KUBECONFIG`: one line per SparkApplication, `RUN_ID<TAB>STATE`, where
//! RUN_ID is the consort run of the application's run key (`consort-run-<run id>-<fire ms>`, in
//! the `consort/run-key` label), 0 when it has none; STATE is the operator's state, or NEW.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use consort_rigs::KubeApiServer;
use futures_util::TryStreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};
use tokio::signal::unix::{SignalKind, signal};

/// The label consort puts the run key in (`consort_spark::RUN_KEY_LABEL`).
const RUN_KEY_LABEL: &str = "consort/run-key";

/// The operator's pause between seeing an application and starting its driver.
const STARTUP: Duration = Duration::from_millis(200);

fn spark_applications() -> ApiResource {
    let gvk = GroupVersionKind::gvk("sparkoperator.k8s.io", "v1beta2", "SparkApplication");
    ApiResource::from_gvk_with_plural(&gvk, "sparkapplications")
}

fn state_of(object: &DynamicObject) -> Option<&str> {
    object.data.pointer("/status/applicationState/state").and_then(Value::as_str)
}

/// The run id in a run key `consort-run-<run id>-<fire ms>`.
fn run_id_of(key: &str) -> Option<i64> {
    let (id, _fired) = key.strip_prefix("consort-run-")?.split_once('-')?;
    id.parse().ok()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["serve"] => serve(Duration::from_millis(1000)).await,
        ["serve", run_ms] => match run_ms.parse() {
            Ok(ms) => serve(Duration::from_millis(ms)).await,
            Err(_) => usage(&format!("RUN_MS: expected milliseconds, got `{run_ms}`")),
        },
        ["count", kubeconfig] => count(Path::new(kubeconfig)).await,
        _ => usage("expected `serve [RUN_MS]` or `count KUBECONFIG`"),
    }
}

fn usage(problem: &str) {
    eprintln!("spark_operator: {problem}");
    std::process::exit(2);
}

async fn serve(run_time: Duration) {
    let mut rig = KubeApiServer::start().await;
    rig.install_spark_crd().await;
    println!("kubeconfig {}", rig.kubeconfig().display());
    let client = rig.client().await;
    let (mut term, mut int) = (signal(SignalKind::terminate()).unwrap(), signal(SignalKind::interrupt()).unwrap());
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        () = play_operator(client, run_time) => {}
    }
    drop(rig);
}

/// Starts and completes every application that has no state yet, each once.
async fn play_operator(client: kube::Client, run_time: Duration) {
    let all: Api<DynamicObject> = Api::all_with(client.clone(), &spark_applications());
    let mut seen = HashSet::new();
    let events = watcher(all, watcher::Config::default()).default_backoff().applied_objects();
    let mut events = std::pin::pin!(events);
    loop {
        let object = match events.try_next().await {
            Ok(Some(object)) => object,
            Ok(None) => return,
            Err(e) => {
                eprintln!("spark_operator: watch: {e}");
                continue;
            }
        };
        let (Some(namespace), Some(name)) = (object.metadata.namespace.clone(), object.metadata.name.clone()) else {
            continue;
        };
        if state_of(&object).is_some() || !seen.insert(format!("{namespace}/{name}")) {
            continue;
        }
        let apps: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, &spark_applications());
        tokio::spawn(async move {
            tokio::time::sleep(STARTUP).await;
            let running = json!({"applicationState": {"state": "RUNNING"}, "sparkApplicationId": format!("spark-{name}"),
                "driverInfo": {"podName": format!("{name}-driver")}, "executionAttempts": 1});
            write_status(&apps, &name, running).await;
            tokio::time::sleep(run_time).await;
            write_status(&apps, &name, json!({"applicationState": {"state": "COMPLETED"}})).await;
        });
    }
}

/// Writes `status` through the status subresource, retrying while the server is busy.
async fn write_status(apps: &Api<DynamicObject>, name: &str, status: Value) {
    let patch = Patch::Merge(json!({ "status": status }));
    for attempt in 1..=5 {
        match apps.patch_status(name, &PatchParams::default(), &patch).await {
            Ok(_) => return,
            // Deleted meanwhile (consort kills by deleting): nothing left to move on.
            Err(kube::Error::Api(e)) if e.code == 404 => return,
            Err(e) if attempt < 5 => {
                eprintln!("spark_operator: status of {name} (attempt {attempt}): {e}");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => eprintln!("spark_operator: gave up writing the status of {name}: {e}"),
        }
    }
}

async fn count(kubeconfig: &Path) {
    let config = match kube::config::Kubeconfig::read_from(kubeconfig) {
        Ok(config) => config,
        Err(e) => return usage(&format!("{}: {e}", kubeconfig.display())),
    };
    let config = kube::Config::from_custom_kubeconfig(config, &Default::default()).await.expect("a usable kubeconfig");
    let client = kube::Client::try_from(config).expect("a client from the kubeconfig");
    let all: Api<DynamicObject> = Api::all_with(client, &spark_applications());
    let list = all.list(&ListParams::default()).await.expect("listing SparkApplications");
    for object in &list.items {
        let key = object.metadata.labels.as_ref().and_then(|labels| labels.get(RUN_KEY_LABEL));
        let run = key.and_then(|k| run_id_of(k)).unwrap_or(0);
        println!("{run}\t{}", state_of(object).unwrap_or("NEW"));
    }
}
