//! The Witboost provisioner endpoints through the router, with the security layer on: the
//! spec's shapes and status codes, every problem of a descriptor at once, provision twice,
//! unprovision, the access list, reverse provisioning, and asynchronous tokens kept in the
//! store.
//!
//! The store is the real SQL one (SQLite in memory). The effectful checks (the jar on its
//! storage, the backend answering) are a test double here: which jars exist is the test's
//! choice; the real checks run end to end in `crates/consort/tests/provisioner.rs` against
//! HDFS and local Spark.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use consort_auth::{AuthStore, NewToken, Role, RoleSet, token};
use consort_provisioner::{CheckFailure, Checks, ProvisionerStore, Settings};
use consort_scheduler::{JobKey, Kinds, Scheduler, SchedulerConfig, TriggerFilter};
use consort_server::auth::{AuthSettings, Guard};
use consort_server::{AppState, ProvisionerArea, router};
use http_body_util::BodyExt;
use jiff::Timestamp;
use serde_json::{Value, json};
use tower::ServiceExt;

const NOW: &str = "2026-01-01T00:00:00Z";
const DESCRIPTOR: &str = include_str!("../../provisioner/tests/data/component.yaml");
const COMPONENT: &str = "urn:dmb:cmp:finance:cashflow:0:spark-etl";
const PRODUCT: &str = "urn:dmb:dp:finance:cashflow:0";
const JOB_NAME: &str = "finance-cashflow-0-spark-etl-development";

/// Jars and Python files "exist" unless listed as missing; every backend answers.
#[derive(Debug, Default)]
struct Artifacts {
    missing: Mutex<BTreeSet<String>>,
}

#[async_trait]
impl Checks for Artifacts {
    async fn backend(&self, _name: &str) -> Result<(), CheckFailure> {
        Ok(())
    }

    async fn jar(&self, uri: &str, _class_name: &str) -> Result<(), CheckFailure> {
        if self.missing.lock().unwrap().contains(uri) {
            return Err(CheckFailure { problem: format!("{uri} does not exist"), fix: "upload the jar".into() });
        }
        Ok(())
    }

    async fn python_file(&self, uri: &str) -> Result<(), CheckFailure> {
        self.jar(uri, "").await
    }
}

struct App {
    router: axum::Router,
    scheduler: Arc<Scheduler>,
    store: Arc<dyn ProvisionerStore>,
    artifacts: Arc<Artifacts>,
    provisioner: String,
    viewer: String,
}

async fn app(asynchronous: bool) -> App {
    let fixed: Timestamp = NOW.parse().unwrap();
    let stores = consort_store::open_all("sqlite::memory:").await.unwrap();
    let scheduler =
        Arc::new(Scheduler::new(stores.scheduler.clone(), Kinds::builtin(), SchedulerConfig::new("test-instance")));
    let guard = Guard::with_clock(AuthSettings::default(), stores.auth.clone(), None, Arc::new(move || fixed));
    let artifacts = Arc::new(Artifacts::default());
    let mut state = AppState::new(scheduler.clone(), guard);
    state.clock = Arc::new(move || fixed);
    state.components = Some(stores.provisioner.clone());
    state.provisioner = Some(Arc::new(ProvisionerArea {
        store: stores.provisioner.clone(),
        checks: artifacts.clone(),
        settings: Settings {
            default_timezone: "UTC".into(),
            default_backend: "local".into(),
            backends: vec!["local".into(), "yarn".into()],
            next_fire_count: 3,
            job_name_rule: true,
        },
        asynchronous,
        kill_running_on_unprovision: false,
        public_url: Some("https://consort.example.com".into()),
        instance: "test-instance".into(),
    }));
    let provisioner = token_for(&stores.auth, "witboost", Role::Provisioner).await;
    let viewer = token_for(&stores.auth, "viewer", Role::Viewer).await;
    App { router: router(state), scheduler, store: stores.provisioner, artifacts, provisioner, viewer }
}

async fn token_for(auth: &Arc<dyn AuthStore>, name: &str, role: Role) -> String {
    let g = token::generate().unwrap();
    let created_ms = NOW.parse::<Timestamp>().unwrap().as_millisecond();
    let new =
        NewToken { id: g.id, hash: g.hash, name: name.into(), roles: RoleSet::of(role), created_ms, expires_ms: None };
    auth.create_token(new).await.unwrap();
    format!("Bearer {}", g.secret)
}

async fn call(app: &App, method: &str, uri: &str, auth: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(a) = auth {
        request = request.header("authorization", a);
    }
    let body = match body {
        Some(b) => {
            request = request.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let response = app.router.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn request(descriptor: &str) -> Value {
    json!({"descriptorKind": "COMPONENT_DESCRIPTOR", "descriptor": descriptor, "removeData": false})
}

async fn post(app: &App, path: &str, body: Value) -> (StatusCode, Value) {
    call(app, "POST", path, Some(&app.provisioner), Some(body)).await
}

fn job_key() -> JobKey {
    JobKey::new(PRODUCT, JOB_NAME).unwrap()
}

/// A 400 `RequestValidationError` whose field is `field`, with a problem and a fix.
#[track_caller]
fn invalid(got: &(StatusCode, Value), field: &str) {
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    assert_eq!(got.1["inputErrorField"], field, "{}", got.1);
    assert!(got.1["errors"].as_array().is_some_and(|e| !e.is_empty()), "{}", got.1);
    let more = &got.1["moreInfo"];
    assert!(more["problems"].as_array().is_some_and(|p| !p.is_empty()), "{}", got.1);
    assert_eq!(more["problems"].as_array().map(Vec::len), more["solutions"].as_array().map(Vec::len), "{}", got.1);
}

const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/validate"),
    ("POST", "/v2/validate"),
    ("GET", "/v2/validate/abc/status"),
    ("POST", "/v1/provision"),
    ("GET", "/v1/provision/abc/status"),
    ("POST", "/v1/unprovision"),
    ("POST", "/v1/updateacl"),
    ("POST", "/v1/reverse-provisioning"),
    ("GET", "/v1/reverse-provisioning/abc/status"),
];

#[tokio::test]
async fn every_spec_endpoint_needs_the_provisioner_role() {
    let app = app(false).await;
    for (method, uri) in ROUTES {
        let body = (*method == "POST").then(|| request(DESCRIPTOR));
        let anonymous = call(&app, method, uri, None, body.clone()).await;
        assert_eq!(anonymous.0, StatusCode::UNAUTHORIZED, "{method} {uri}: {}", anonymous.1);
        let viewer = call(&app, method, uri, Some(&app.viewer), body).await;
        assert_eq!(viewer.0, StatusCode::FORBIDDEN, "{method} {uri}: {}", viewer.1);
        assert_eq!(viewer.1["error"]["code"], "forbidden", "{}", viewer.1);
    }
    assert!(app.scheduler.get_job(&job_key()).await.unwrap().is_none(), "nothing was provisioned by a refused call");
}

#[tokio::test]
async fn validate_answers_the_schedule_or_every_problem() {
    let app = app(false).await;
    let (status, body) = post(&app, "/v1/validate", request(DESCRIPTOR)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["valid"], true, "{body}");
    assert_eq!(body["schedule"]["cronExpression"], "0 0 2 * * ?");
    assert!(body["schedule"]["explanation"].as_str().is_some_and(|e| e.contains("02:00")), "{body}");
    assert_eq!(body["schedule"]["nextFireTimes"].as_array().map(Vec::len), Some(3), "{body}");

    let broken = DESCRIPTOR
        .replace("driverMemory: 2g", "driverMemory: two gigs")
        .replace("cronExpression: \"0 0 2 * * ?\"", "cronExpression: \"0 0 2 * *\"")
        .replace("jobName: finance-cashflow-0-spark-etl-development", "jobName: etl");
    let (status, body) = post(&app, "/v1/validate", request(&broken)).await;
    assert_eq!(status, StatusCode::OK, "/v1/validate reports problems with 200, as the spec says: {body}");
    assert_eq!(body["valid"], false, "{body}");
    let fields: Vec<&str> =
        body["error"]["details"].as_array().unwrap().iter().map(|d| d["inputErrorField"].as_str().unwrap()).collect();
    for wanted in ["jobName", "driverMemory", "cronExpression"] {
        assert!(fields.iter().any(|f| f.ends_with(wanted)), "{wanted} missing from {fields:?}");
    }
    assert_eq!(body["error"]["errors"].as_array().map(Vec::len), Some(fields.len()), "{body}");

    app.artifacts.missing.lock().unwrap().insert("/opt/consort/examples/consort-examples.jar".into());
    let (_, body) = post(&app, "/v1/validate", request(DESCRIPTOR)).await;
    assert_eq!(body["valid"], false, "{body}");
    assert!(body["error"]["details"][0]["inputErrorField"].as_str().unwrap().ends_with("specific.jar"), "{body}");

    let mut whole_product = request(DESCRIPTOR);
    whole_product["descriptorKind"] = json!("DATAPRODUCT_DESCRIPTOR");
    let (_, body) = post(&app, "/v1/validate", whole_product).await;
    assert_eq!(body["valid"], false, "{body}");
    assert_eq!(body["error"]["details"][0]["inputErrorField"], "descriptorKind", "{body}");
}

#[tokio::test]
async fn malformed_requests_are_request_validation_errors_naming_the_field() {
    let app = app(false).await;
    for path in ["/v1/validate", "/v1/provision", "/v1/unprovision", "/v2/validate"] {
        let (status, body) =
            post(&app, path, json!({"descriptorKind": "COMPONENT_DESCRIPTOR", "descriptor": DESCRIPTOR})).await;
        invalid(&(status, body), "removeData");
        let got = post(&app, path, json!({"descriptorKind": "SOMETHING", "descriptor": "", "removeData": false})).await;
        invalid(&got, "descriptorKind");
    }
    let got = call(&app, "POST", "/v1/provision", Some(&app.provisioner), None).await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    assert!(got.1["errors"].is_array() && got.1["inputErrorField"].is_string(), "{}", got.1);
    let got = post(&app, "/v1/updateacl", json!({"refs": ["user:alice"]})).await;
    invalid(&got, "provisionInfo");
}

/// Found by schemathesis against the Witboost spec: the optional fields are typed without
/// `nullable`, so `null` is a malformed request, not the field left out.
#[tokio::test]
async fn a_null_optional_field_is_a_request_validation_error() {
    let app = app(false).await;
    let mut body = request(DESCRIPTOR);
    body["latestEnrichedDescriptor"] = Value::Null;
    for path in ["/v1/validate", "/v2/validate", "/v1/provision", "/v1/unprovision"] {
        invalid(&post(&app, path, body.clone()).await, "latestEnrichedDescriptor");
    }
    for field in ["params", "catalogInfo"] {
        let mut body = json!({"useCaseTemplateId": "urn:dmb:utm:t:0.0.0", "environment": "development"});
        body[field] = Value::Null;
        invalid(&post(&app, "/v1/reverse-provisioning", body).await, field);
    }
    assert!(app.scheduler.get_job(&job_key()).await.unwrap().is_none(), "nothing was provisioned");
}

#[tokio::test]
async fn provision_stores_the_job_and_answers_what_witboost_shows() {
    let app = app(false).await;
    let (status, body) = post(&app, "/v1/provision", request(DESCRIPTOR)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "COMPLETED", "{body}");
    assert!(body["result"].as_str().is_some_and(|r| r.contains(COMPONENT)), "{body}");
    let public = &body["info"]["publicInfo"];
    assert_eq!(public["jobKey"]["value"], format!("{PRODUCT}.{JOB_NAME}"), "{body}");
    for entry in public.as_object().unwrap().values() {
        assert_eq!(entry["type"], "string", "{body}");
        assert!(entry["label"].is_string() && entry["value"].is_string(), "{body}");
    }
    let link = public.as_object().unwrap().values().find_map(|e| e["href"].as_str()).expect("a link to the job");
    assert!(link.starts_with("https://consort.example.com/v1/status/jobs/"), "{link}");
    assert_eq!(body["info"]["privateInfo"]["jobName"], JOB_NAME, "{body}");

    let job = app.scheduler.get_job(&job_key()).await.unwrap().expect("the job is stored");
    assert_eq!(job.job.kind(), "spark");
    assert_eq!(job.job.data()["className"], "consort.examples.CountRange");
    assert_eq!(job.job.data()["conf"]["spark.sql.shuffle.partitions"], "200", "conf reaches the job");
    let filter = TriggerFilter { job: Some(job_key()), ..Default::default() };
    let triggers = app.scheduler.list_triggers(&filter).await.unwrap();
    assert_eq!(triggers.len(), 1);
    let next = triggers[0].next_fire_ms;
    assert!(app.store.component(COMPONENT).await.unwrap().is_some());

    // Twice: nothing changes but the definition; the schedule keeps its next fire time.
    let changed = DESCRIPTOR.replace("args: [\"1000\"]", "args: [\"2000\"]");
    let (status, body) = post(&app, "/v1/provision", request(&changed)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let job = app.scheduler.get_job(&job_key()).await.unwrap().unwrap();
    assert_eq!(job.job.data()["args"], json!(["2000"]));
    let triggers = app.scheduler.list_triggers(&filter).await.unwrap();
    assert_eq!(triggers.len(), 1);
    assert_eq!(triggers[0].next_fire_ms, next, "an unchanged schedule is not restarted");

    // An invalid descriptor changes nothing and says why.
    let broken = DESCRIPTOR.replace("numExecutors: 4", "numExecutors: 0");
    let got = post(&app, "/v1/provision", request(&broken)).await;
    assert!(got.1["inputErrorField"].as_str().is_some_and(|f| f.ends_with("numExecutors")), "{}", got.1);
    invalid(&got, got.1["inputErrorField"].as_str().unwrap());
    let job = app.scheduler.get_job(&job_key()).await.unwrap().unwrap();
    assert_eq!(job.job.data()["numExecutors"], 4);
}

#[tokio::test]
async fn unprovision_removes_the_job_even_when_the_jar_is_gone_and_is_idempotent() {
    let app = app(false).await;
    assert_eq!(post(&app, "/v1/provision", request(DESCRIPTOR)).await.0, StatusCode::OK);
    app.artifacts.missing.lock().unwrap().insert("/opt/consort/examples/consort-examples.jar".into());
    let mut body = request(DESCRIPTOR);
    body["removeData"] = json!(true);
    let (status, answer) = post(&app, "/v1/unprovision", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "COMPLETED", "{answer}");
    let logs = answer["logs"].to_string();
    assert!(logs.contains("removeData is not applicable"), "{answer}");
    assert!(app.scheduler.get_job(&job_key()).await.unwrap().is_none(), "the job is gone");
    assert!(app.store.component(COMPONENT).await.unwrap().is_none());
    let (status, answer) = post(&app, "/v1/unprovision", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer["result"].as_str().unwrap().contains("was not provisioned"), "{answer}");
}

#[tokio::test]
async fn the_access_list_is_stored_for_a_provisioned_component_only() {
    let app = app(false).await;
    let acl = |refs: Value| json!({"refs": refs, "provisionInfo": {"request": DESCRIPTOR, "result": ""}});
    invalid(&post(&app, "/v1/updateacl", acl(json!(["user:alice"]))).await, "provisionInfo.request");
    assert_eq!(post(&app, "/v1/provision", request(DESCRIPTOR)).await.0, StatusCode::OK);
    invalid(&post(&app, "/v1/updateacl", acl(json!(["user:alice", "alice"]))).await, "refs[1]");
    let (status, body) = post(&app, "/v1/updateacl", acl(json!(["group:finance", "user:alice", "user:alice"]))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "COMPLETED");
    let stored = app.store.component(COMPONENT).await.unwrap().unwrap();
    assert_eq!(stored.acl, ["group:finance", "user:alice"]);
    // A re-provision keeps the list.
    assert_eq!(post(&app, "/v1/provision", request(DESCRIPTOR)).await.0, StatusCode::OK);
    assert_eq!(app.store.component(COMPONENT).await.unwrap().unwrap().acl, ["group:finance", "user:alice"]);
}

#[tokio::test]
async fn reverse_provisioning_describes_an_existing_job() {
    let app = app(false).await;
    assert_eq!(post(&app, "/v1/provision", request(DESCRIPTOR)).await.0, StatusCode::OK);
    let body = json!({
        "useCaseTemplateId": "urn:dmb:utm:cdp-private-spark-workload-template:0.0.0",
        "environment": "development",
        "params": {"jobGroup": PRODUCT, "jobName": JOB_NAME},
    });
    let (status, answer) = post(&app, "/v1/reverse-provisioning", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "COMPLETED");
    let updates = &answer["updates"];
    assert_eq!(updates["spec.mesh.specific.className"], "consort.examples.CountRange", "{answer}");
    assert_eq!(updates["spec.mesh.specific.jobConfig.schedule.cronExpression"], "0 0 2 * * ?", "{answer}");

    let mut unknown = body;
    unknown["params"]["jobName"] = json!("nope");
    invalid(&post(&app, "/v1/reverse-provisioning", unknown).await, "params.jobName");
}

#[tokio::test]
async fn a_job_described_by_reverse_provisioning_is_adopted_by_the_provision() {
    let app = app(false).await;
    // A Spark job created outside the provisioner (as `consort import quartz` would).
    let old = JobKey::new("quartz", "nightly").unwrap();
    let mut data = serde_json::Map::new();
    data.insert("jar".into(), json!("/opt/consort/examples/consort-examples.jar"));
    data.insert("className".into(), json!("consort.examples.CountRange"));
    let job = consort_scheduler::Job::new(old.clone(), "spark").with_data(data);
    let schedule = consort_scheduler::Schedule::cron("0 0 2 * * ?", "UTC").unwrap();
    let trigger = consort_scheduler::Trigger::new(
        consort_scheduler::TriggerKey::new("quartz", "nightly").unwrap(),
        old.clone(),
        schedule,
        0,
    );
    // Straight into the store: this test server registers no `spark` kind.
    app.scheduler.store().put_job(&job, &[trigger], true, 0).await.unwrap();

    let reverse = json!({"useCaseTemplateId": "t", "environment": "development", "params": {"jobGroup": "quartz", "jobName": "nightly"}});
    let (status, answer) = post(&app, "/v1/reverse-provisioning", reverse).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["updates"]["spec.mesh.specific.adoptJob"], json!({"jobGroup": "quartz", "jobName": "nightly"}));

    let adopting = DESCRIPTOR.replace(
        "        queue: root.finance\n",
        "        queue: root.finance\n        adoptJob: {jobGroup: quartz, jobName: nightly}\n",
    );
    let (status, answer) = post(&app, "/v1/provision", request(&adopting)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer["logs"].to_string().contains("quartz.nightly is adopted"), "{answer}");
    assert!(app.scheduler.get_job(&old).await.unwrap().is_none(), "the adopted job no longer fires");
    assert!(app.scheduler.get_job(&job_key()).await.unwrap().is_some());
}

/// Polls a status path until it is no longer RUNNING.
async fn settle(app: &App, path: &str) -> Value {
    for _ in 0..500 {
        let (status, body) = call(app, "GET", path, Some(&app.provisioner), None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        if body["status"] != "RUNNING" {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{path} still RUNNING after 5 s");
}

#[tokio::test]
async fn asynchronous_operations_answer_tokens_kept_in_the_store() {
    let app = app(true).await;
    let (status, token) = post(&app, "/v1/provision", request(DESCRIPTOR)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{token}");
    let token = token.as_str().expect("the token is a bare JSON string").to_string();
    let done = settle(&app, &format!("/v1/provision/{token}/status")).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["info"]["publicInfo"]["jobKey"]["value"], format!("{PRODUCT}.{JOB_NAME}"), "{done}");
    let task = app.store.task(&token).await.unwrap().expect("the token is stored");
    assert!(task.result.is_some() && task.instance.is_none());

    // A failure is a FAILED status with the problems in the logs.
    let broken = DESCRIPTOR.replace("driverCores: 1", "driverCores: -1");
    let (_, token) = post(&app, "/v1/provision", request(&broken)).await;
    let failed = settle(&app, &format!("/v1/provision/{}/status", token.as_str().unwrap())).await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert!(failed["logs"].to_string().contains("driverCores"), "{failed}");

    let (status, token) = post(&app, "/v2/validate", request(DESCRIPTOR)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{token}");
    let token = token.as_str().unwrap().to_string();
    let validated = settle(&app, &format!("/v2/validate/{token}/status")).await;
    assert_eq!(validated["status"], "COMPLETED", "{validated}");
    assert_eq!(validated["info"]["publicInfo"]["valid"], true, "{validated}");
    // A validation token is not a provisioning one, and unknown tokens are refused.
    invalid(&call(&app, "GET", &format!("/v1/provision/{token}/status"), Some(&app.provisioner), None).await, "token");
    invalid(&call(&app, "GET", "/v1/provision/nope/status", Some(&app.provisioner), None).await, "token");
    invalid(&call(&app, "GET", "/v1/reverse-provisioning/nope/status", Some(&app.provisioner), None).await, "token");

    let (status, token) = post(&app, "/v1/unprovision", request(DESCRIPTOR)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let done = settle(&app, &format!("/v1/provision/{}/status", token.as_str().unwrap())).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert!(app.scheduler.get_job(&job_key()).await.unwrap().is_none());
}

#[tokio::test]
async fn the_document_carries_every_spec_operation_with_its_shapes() {
    let doc = consort_server::openapi::document();
    let operations = [
        ("/v1/validate", "post", "validate"),
        ("/v2/validate", "post", "asyncValidate"),
        ("/v2/validate/{token}/status", "get", "getValidationStatus"),
        ("/v1/provision", "post", "provision"),
        ("/v1/provision/{token}/status", "get", "getStatus"),
        ("/v1/unprovision", "post", "unprovision"),
        ("/v1/updateacl", "post", "updateacl"),
        ("/v1/reverse-provisioning", "post", "runReverseProvisioning"),
        ("/v1/reverse-provisioning/{token}/status", "get", "getReverseProvisioningStatus"),
    ];
    for (path, method, id) in operations {
        let op = &doc["paths"][path][method];
        assert_eq!(op["operationId"], id, "{path}");
        assert!(op["security"].is_array(), "{path} needs a credential");
        assert!(
            op["responses"]["500"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .is_some_and(|r| r.ends_with("/SystemError")),
            "{path}: 500 is a SystemError"
        );
    }
    let schemas = &doc["components"]["schemas"];
    for (schema, required) in [
        ("ProvisioningRequest", vec!["descriptorKind", "descriptor", "removeData"]),
        ("ProvisioningStatus", vec!["status", "result"]),
        ("RequestValidationError", vec!["errors"]),
        ("SystemError", vec!["error"]),
        ("ValidationResult", vec!["valid"]),
        ("UpdateAclRequest", vec!["refs", "provisionInfo"]),
        ("ReverseProvisioningRequest", vec!["useCaseTemplateId", "environment"]),
        ("ReverseProvisioningStatus", vec!["status", "updates"]),
    ] {
        let got: BTreeSet<&str> =
            schemas[schema]["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(got, required.into_iter().collect(), "{schema}");
    }
}
