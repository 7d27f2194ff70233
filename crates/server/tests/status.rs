//! `/v1/status/*` through the router, with the security layer on: what readers see (running
//! jobs, a trigger, a job's and a component's status with its run history and log tail), and
//! who may fire (operators, and readers on the component's access list by name or group).
//!
//! Runs are real: the scheduler's driver fires them on the in-memory SQLite store, through a
//! test kind that ends each run as a Spark application would be recorded by the `spark` kind
//! (the outcome comes from the fire's data). The component comes from the provisioner area's
//! SQL store, on the same database.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use consort_auth::{AuthError, AuthStore, Method, NewToken, Principal, Role, RoleSet, token};
use consort_provisioner::ComponentRecord;
use consort_scheduler::{
    DataMap, Job, JobKey, JobKind, Kinds, MisfireInstruction, Outcome, Run, RunActionError, RunContext, RunState,
    Schedule, Scheduler, SchedulerConfig, Trigger, TriggerKey,
};
use consort_server::auth::{AuthSettings, Guard, JwtVerifier};
use consort_server::{AppState, router};
use http_body_util::BodyExt;
use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tower::ServiceExt;

const NOW: &str = "2026-01-01T00:00:00Z";
const COMPONENT: &str = "urn:dmb:cmp:finance:cashflow:0:spark-etl";
const PRODUCT: &str = "urn:dmb:dp:finance:cashflow:0";

// ---- a kind that ends runs as the spark kind records them ----------------------

/// Registered as the `spark` kind. `data.outcome`: `succeed`, `kill` (the error the `spark` kind writes for an application that
/// ended KILLED without a message), `fail`, `hold` (runs until released), or `queue` (like
/// `hold`, but no Spark application id is reported: the cluster has not started it).
#[derive(Debug)]
struct FakeSpark {
    release: Semaphore,
}

#[async_trait]
impl JobKind for FakeSpark {
    fn name(&self) -> &str {
        "spark"
    }

    async fn execute(&self, context: RunContext) -> Outcome {
        let app_id = format!("app-{}", context.run_id);
        let location = format!("fake:{}", context.run_id);
        let outcome = context.data.get("outcome").and_then(Value::as_str).unwrap_or("succeed").to_string();
        if outcome == "queue" {
            let _ = self.release.acquire().await;
            return Outcome::failed("killed on request");
        }
        let _ = context.reporter.report(Some(&app_id), Some(&location)).await;
        let mut result = match outcome.as_str() {
            "succeed" => Outcome {
                state: RunState::Succeeded,
                error: None,
                exit_code: None,
                application_id: None,
                log_location: None,
            },
            "kill" => Outcome::failed("Spark application ended KILLED"),
            "hold" => {
                let _ = self.release.acquire().await;
                Outcome::failed("killed on request")
            }
            _ => Outcome::failed("spark-submit exited with code 1"),
        };
        result.application_id = Some(app_id);
        result.log_location = Some(location);
        result
    }

    async fn log_tail(&self, run: &Run, max_bytes: usize) -> Result<String, RunActionError> {
        let log = format!("starting\nrun {} done\n", run.id);
        Ok(log[log.len().saturating_sub(max_bytes)..].to_string())
    }
}

// ---- JWTs whose principal the test chooses ---------------------------------------

/// Stands in for the OpenID verifier (tested against a real provider in consort-auth): the
/// bearer `jwt-NAME` is the JWT principal NAME with the viewer role and the group `finance`.
#[derive(Debug)]
struct GroupJwts;

#[async_trait]
impl JwtVerifier for GroupJwts {
    async fn verify(&self, jwt: &str, _now_unix_secs: i64) -> Result<Principal, AuthError> {
        let name = jwt.strip_prefix("jwt-").ok_or_else(|| AuthError::InvalidJwt("not a test JWT".into()))?;
        Ok(Principal {
            name: name.into(),
            roles: RoleSet::of(Role::Viewer),
            method: Method::Jwt { issuer: "https://login.example.com".into() },
            groups: vec!["finance".into()],
        })
    }
}

// ---- the app ---------------------------------------------------------------------

struct App {
    router: axum::Router,
    auth: Arc<dyn AuthStore>,
    scheduler: Arc<Scheduler>,
    kind: Arc<FakeSpark>,
    viewer: String,
    operator: String,
    /// A viewer named `alice`, who is on the component's access list.
    alice: String,
}

fn key(group: &str, name: &str) -> JobKey {
    JobKey::new(group, name).unwrap()
}

/// The component's job (provisioned, cron at 02:00 in Rome) and a plain job, not started.
async fn app() -> App {
    let fixed: Timestamp = NOW.parse().unwrap();
    let stores = consort_store::open_all("sqlite::memory:").await.unwrap();
    let kind = Arc::new(FakeSpark { release: Semaphore::new(0) });
    let mut kinds = Kinds::builtin();
    kinds.register(kind.clone());
    let mut config = SchedulerConfig::new("test-instance");
    config.idle_wait_ms = 20;
    config.completion_flush_ms = 0;
    config.stop_timeout_ms = 1000;
    let scheduler = Arc::new(Scheduler::new(stores.scheduler.clone(), kinds, config));
    let guard = Guard::with_clock(AuthSettings::default(), stores.auth.clone(), Some(Arc::new(GroupJwts)), {
        Arc::new(move || fixed)
    });
    let components = stores.provisioner.clone();
    let mut state = AppState::new(scheduler.clone(), guard);
    state.clock = Arc::new(move || fixed);
    state.components = Some(components.clone());

    let now_ms = fixed.as_millisecond();
    let job_key = key(PRODUCT, "spark-etl");
    let job = Job::new(job_key.clone(), "spark");
    let nightly = TriggerKey::new(PRODUCT, "spark-etl-cron").unwrap();
    // The driver runs on the real clock, long past NOW: the missed fire is skipped.
    let trigger = Trigger::new(nightly, job_key.clone(), Schedule::cron("0 0 2 * * ?", "Europe/Rome").unwrap(), now_ms)
        .with_misfire(MisfireInstruction::parse("do-nothing").unwrap());
    let plain = Job::new(key("etl", "plain"), "spark").with_durable(true);
    scheduler.replace_job(&plain, &[]).await.unwrap();
    let record = ComponentRecord {
        component_id: COMPONENT.into(),
        data_product_id: PRODUCT.into(),
        environment: "development".into(),
        job: job_key,
        descriptor: String::new(),
        acl: vec!["user:alice".into(), "group:finance".into()],
        created_ms: now_ms,
        updated_ms: now_ms,
    };
    components.provision(&record, &job, &[trigger], None, now_ms).await.unwrap();

    let mut app = App {
        router: router(state),
        auth: stores.auth,
        scheduler,
        kind,
        viewer: String::new(),
        operator: String::new(),
        alice: String::new(),
    };
    app.viewer = token_for(&app, "viewer", Role::Viewer).await;
    app.operator = token_for(&app, "operator", Role::Operator).await;
    app.alice = token_for(&app, "alice", Role::Viewer).await;
    app
}

async fn token_for(app: &App, name: &str, role: Role) -> String {
    let g = token::generate().unwrap();
    let created_ms = NOW.parse::<Timestamp>().unwrap().as_millisecond();
    let roles = RoleSet::of(role);
    app.auth
        .create_token(NewToken { id: g.id, hash: g.hash, name: name.into(), roles, created_ms, expires_ms: None })
        .await
        .unwrap();
    format!("Bearer {}", g.secret)
}

/// Status, body, and the `Location` header.
async fn call(app: &App, method: &str, uri: &str, auth: Option<&str>) -> (StatusCode, Value, Option<String>) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(a) = auth {
        request = request.header("authorization", a);
    }
    let response = app.router.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_string());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), location)
}

#[track_caller]
fn error(got: &(StatusCode, Value, Option<String>), status: StatusCode, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
    assert!(got.1["error"]["message"].as_str().is_some_and(|m| m.len() > 20), "{}", got.1);
}

/// Fires the component's job with `outcome` and waits until its run has ended (or, for
/// `hold`, has its application id).
async fn run(app: &App, outcome: &str) -> i64 {
    let mut data = DataMap::new();
    data.insert("outcome".into(), json!(outcome));
    let trigger = app.scheduler.fire_now(&key(PRODUCT, "spark-etl"), data).await.unwrap();
    for _ in 0..3000 {
        let filter = consort_scheduler::RunFilter { trigger: Some(trigger.clone()), ..Default::default() };
        if let Some(r) = app.scheduler.list_runs(&filter).await.unwrap().first() {
            let done = match outcome {
                "hold" => r.application_id.is_some(),
                "queue" => true,
                _ => r.state.is_final(),
            };
            if done {
                return r.id;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the run of {trigger} did not get there within 30 s");
}

const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/status/running"),
    ("GET", "/v1/status/triggers/g/t"),
    ("GET", "/v1/status/jobs/etl/plain"),
    ("GET", "/v1/status/components/urn:dmb:cmp:x"),
    ("POST", "/v1/status/jobs/etl/plain/fire"),
    ("POST", "/v1/status/components/urn:dmb:cmp:x/fire"),
];

#[tokio::test]
async fn every_status_route_needs_a_credential() {
    let app = app().await;
    for (method, uri) in ROUTES {
        error(&call(&app, method, uri, None).await, StatusCode::UNAUTHORIZED, "unauthenticated");
    }
}

#[tokio::test]
async fn a_viewer_reads_a_component_before_any_run() {
    let app = app().await;
    let viewer = Some(app.viewer.as_str());
    let encoded = COMPONENT.replace(':', "%3A");
    let (status, by_id, _) = call(&app, "GET", &format!("/v1/status/components/{COMPONENT}"), viewer).await;
    assert_eq!(status, StatusCode::OK, "{by_id}");
    let (_, by_encoded_id, _) = call(&app, "GET", &format!("/v1/status/components/{encoded}"), viewer).await;
    let job_uri = format!("/v1/status/jobs/{PRODUCT}/spark-etl");
    let (_, by_job, _) = call(&app, "GET", &job_uri, viewer).await;
    assert_eq!(by_id, by_encoded_id, "`:` and `%3A` address the same component");
    assert_eq!(by_id, by_job);
    assert_eq!(by_id["job"], json!({"group": PRODUCT, "name": "spark-etl"}));
    assert_eq!(by_id["component_id"], COMPONENT);
    assert_eq!(by_id["state"], "NEVER_RUN");
    assert_eq!(by_id["latest_run_id"], Value::Null);
    assert_eq!(by_id["runs"], json!({"items": [], "next_cursor": null}));
    assert_eq!(by_id["log_tail"], Value::Null, "no run, no log");
    let trigger = &by_id["triggers"][0];
    assert_eq!(trigger["next_fire_time"], "2026-01-01T01:00:00Z", "02:00 in Rome");
    assert_eq!(trigger["state"], "WAITING");

    let uri = format!("/v1/status/triggers/{PRODUCT}/spark-etl-cron");
    let (status, trigger, _) = call(&app, "GET", &uri, viewer).await;
    assert_eq!(status, StatusCode::OK, "{trigger}");
    assert_eq!(trigger["component_id"], COMPONENT);
    assert_eq!(trigger["previous_fire_time"], Value::Null);
    assert_eq!(trigger["times_triggered"], 0);
    assert_eq!(
        trigger["schedule"],
        json!({"cron": "0 0 2 * * ?", "timezone": "Europe/Rome", "explanation": "at 02:00 every day"})
    );

    let (status, plain, _) = call(&app, "GET", "/v1/status/jobs/etl/plain", viewer).await;
    assert_eq!(status, StatusCode::OK, "{plain}");
    assert_eq!((&plain["component_id"], &plain["triggers"]), (&Value::Null, &json!([])));
    let (status, running, _) = call(&app, "GET", "/v1/status/running", viewer).await;
    assert_eq!((status, running), (StatusCode::OK, json!({"items": [], "next_cursor": null})));
}

#[tokio::test]
async fn the_job_state_mirrors_its_latest_run_and_the_history_pages() {
    let app = app().await;
    app.scheduler.start().await.unwrap();
    let viewer = Some(app.viewer.as_str());
    let status_of = |query: &'static str| {
        let app = &app;
        async move {
            let (status, body, _) =
                call(app, "GET", &format!("/v1/status/components/{COMPONENT}{query}"), viewer).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        }
    };

    let succeeded = run(&app, "succeed").await;
    assert_eq!(status_of("").await["state"], "SUCCEEDED");
    let killed = run(&app, "kill").await;
    let body = status_of("").await;
    assert_eq!((&body["state"], &body["latest_run_id"]), (&json!("KILLED"), &json!(killed)));
    assert_eq!(body["runs"]["items"][0]["failure_reason"], "Spark application ended KILLED");
    let failed = run(&app, "fail").await;
    assert_eq!(status_of("").await["state"], "FAILED");
    let held = run(&app, "hold").await;
    let body = status_of("?log_tail_bytes=9").await;
    assert_eq!(body["state"], "RUNNING");
    let log = format!("starting\nrun {held} done\n");
    let tail = &log[log.len() - 9..];
    assert_eq!(body["log_tail"], json!({"run_id": held, "max_bytes": 9, "text": tail, "unavailable": null}));

    // The history, newest first, two at a time.
    let first = status_of("?limit=2").await;
    let ids: Vec<&Value> = first["runs"]["items"].as_array().unwrap().iter().map(|r| &r["id"]).collect();
    assert_eq!(ids, [&json!(held), &json!(failed)]);
    let run0 = &first["runs"]["items"][0];
    assert_eq!(run0["state"], "RUNNING");
    assert_eq!(run0["application_id"], format!("app-{held}"));
    assert_eq!((&run0["end_time"], &run0["duration_ms"]), (&Value::Null, &Value::Null));
    let run1 = &first["runs"]["items"][1];
    assert_eq!(
        (&run1["state"], &run1["failure_reason"]),
        (&json!("FAILED"), &json!("spark-submit exited with code 1"))
    );
    assert!(run1["duration_ms"].as_i64().unwrap() >= 0 && run1["end_time"].is_string(), "{run1}");
    let cursor = first["runs"]["next_cursor"].as_str().unwrap();
    let second =
        call(&app, "GET", &format!("/v1/status/components/{COMPONENT}?limit=2&cursor={cursor}"), viewer).await.1;
    let ids: Vec<&Value> = second["runs"]["items"].as_array().unwrap().iter().map(|r| &r["id"]).collect();
    assert_eq!(ids, [&json!(killed), &json!(succeeded)], "{cursor} {first} {second}");
    assert_eq!(second["runs"]["items"][0]["state"], "KILLED");
    assert_eq!(second["runs"]["next_cursor"], Value::Null);
    assert_eq!(second["state"], "RUNNING", "the job's state is its latest run's on every page");

    // Running now: the held run, with its component and application id, and a run the cluster
    // has not started (no application id yet), newest first.
    let queued = run(&app, "queue").await;
    let (status, running, _) = call(&app, "GET", "/v1/status/running", viewer).await;
    assert_eq!(status, StatusCode::OK, "{running}");
    assert_eq!(running["items"].as_array().unwrap().len(), 2, "{running}");
    let item = &running["items"][0];
    assert_eq!(item["run_id"], queued);
    assert_eq!((&item["application_id"], &item["backend_state"]), (&Value::Null, &json!("SUBMITTED")));
    let item = &running["items"][1];
    assert_eq!(item["run_id"], held);
    assert_eq!(item["component_id"], COMPONENT);
    assert_eq!((&item["job"], &item["kind"]), (&json!({"group": PRODUCT, "name": "spark-etl"}), &json!("spark")));
    assert_eq!((&item["application_id"], &item["backend_state"]), (&json!(format!("app-{held}")), &json!("RUNNING")));
    assert!(item["fired_time"].is_string() && item["trigger"]["group"] == "MANUAL_TRIGGER", "{item}");

    // The job's triggers: the cron one; the spent fire-now triggers are left out.
    let triggers = &second["triggers"];
    assert_eq!(triggers.as_array().unwrap().len(), 1, "{triggers}");
    assert_eq!(triggers[0]["trigger"]["name"], "spark-etl-cron");

    app.kind.release.add_permits(2);
    app.scheduler.stop().await.unwrap();
}

#[tokio::test]
async fn bad_queries_and_unknown_keys_answer_in_the_error_shape() {
    let app = app().await;
    let viewer = Some(app.viewer.as_str());
    for (uri, param) in [
        (format!("/v1/status/components/{COMPONENT}?log_tail_bytes=0"), "log_tail_bytes"),
        (format!("/v1/status/components/{COMPONENT}?log_tail_bytes=1048577"), "log_tail_bytes"),
        ("/v1/status/jobs/etl/plain?limit=0".into(), "limit"),
        ("/v1/status/jobs/etl/plain?cursor=nope".into(), "cursor"),
        ("/v1/status/running?cursor=bnVucw".into(), "cursor"),
        ("/v1/status/running?state=RUNNING".into(), "state"),
        (format!("/v1/status/components/{}", "x".repeat(1025)), "component_id"),
    ] {
        let got = call(&app, "GET", &uri, viewer).await;
        error(&got, StatusCode::BAD_REQUEST, got.1["error"]["code"].as_str().unwrap_or("?"));
        assert_eq!(got.1["error"]["param"], param, "{uri}: {}", got.1);
    }
    for (method, uri) in [
        ("GET", "/v1/status/jobs/etl/nope"),
        ("GET", "/v1/status/triggers/etl/nope"),
        ("GET", "/v1/status/components/urn:dmb:cmp:nope"),
        ("POST", "/v1/status/jobs/etl/nope/fire"),
        ("POST", "/v1/status/components/urn%3Admb%3Acmp%3Anope/fire"),
    ] {
        for who in [&app.viewer, &app.operator] {
            error(&call(&app, method, uri, Some(who)).await, StatusCode::NOT_FOUND, "not_found");
        }
    }
}

#[tokio::test]
async fn operators_and_the_access_list_may_fire_other_readers_may_not() {
    let app = app().await;
    let component_fire = format!("/v1/status/components/{COMPONENT}/fire");
    let job_fire = format!("/v1/status/jobs/{PRODUCT}/spark-etl/fire");
    let status_link = format!("/v1/status/jobs/{PRODUCT}/spark-etl");

    // A viewer not on the list: refused on both routes, and on a job no component owns.
    for uri in [&component_fire, &job_fire, &"/v1/status/jobs/etl/plain/fire".to_string()] {
        let got = call(&app, "POST", uri, Some(&app.viewer)).await;
        error(&got, StatusCode::FORBIDDEN, "forbidden");
    }
    let refusal = call(&app, "POST", &component_fire, Some(&app.viewer)).await.1;
    let message = refusal["error"]["message"].as_str().unwrap();
    assert!(message.contains("access list") && message.contains("user:viewer"), "{message}");

    // On the list by name (an API token named alice), by group (a JWT in `finance`), or an
    // operator: accepted, each with its own one-shot trigger.
    let by_group = "Bearer jwt-bob".to_string();
    let mut triggers = Vec::new();
    for (who, uri) in [
        (&app.alice, &component_fire),
        (&app.alice, &job_fire),
        (&by_group, &component_fire),
        (&by_group, &job_fire),
        (&app.operator, &component_fire),
        (&app.operator, &job_fire),
    ] {
        let (status, body, location) = call(&app, "POST", uri, Some(who)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{who} {uri}: {body}");
        assert_eq!(body["job"], json!({"group": PRODUCT, "name": "spark-etl"}));
        assert_eq!(body["component_id"], COMPONENT);
        assert_eq!(body["status"], status_link);
        assert_eq!(location.as_deref(), Some(status_link.as_str()));
        let trigger =
            TriggerKey::new(body["trigger"]["group"].as_str().unwrap(), body["trigger"]["name"].as_str().unwrap())
                .unwrap();
        assert!(app.scheduler.get_trigger(&trigger).await.unwrap().is_some(), "{trigger} exists");
        triggers.push(trigger);
    }
    triggers.dedup();
    assert_eq!(triggers.len(), 6, "every fire has its own trigger");

    // An operator fires a job no component owns; a JWT in the group is not enough there.
    let (status, body, _) = call(&app, "POST", "/v1/status/jobs/etl/plain/fire", Some(&app.operator)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!((&body["component_id"], &body["status"]), (&Value::Null, &json!("/v1/status/jobs/etl/plain")));
    error(
        &call(&app, "POST", "/v1/status/jobs/etl/plain/fire", Some(&by_group)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    // The operator-only scheduler route stays closed to readers on the list.
    let scheduler_fire = format!("/v1/scheduler/jobs/{PRODUCT}/spark-etl/fire");
    error(&call(&app, "POST", &scheduler_fire, Some(&app.alice)).await, StatusCode::FORBIDDEN, "forbidden");
}

#[test]
fn the_document_says_who_may_fire_and_where_the_status_is() {
    let doc = consort_server::openapi::document();
    for path in consort_server::status_api::ACL_FIRE_ROUTES {
        let op = &doc["paths"][*path]["post"];
        assert!(op["responses"]["403"]["description"].as_str().unwrap().contains("access list"), "{path}");
        assert!(op["responses"]["202"]["headers"]["Location"].is_object(), "{path}");
    }
    let component = &doc["paths"]["/v1/status/components/{component_id}"]["get"]["parameters"][0];
    assert_eq!(component["name"], "component_id");
    assert!(component["description"].as_str().unwrap().contains("%3A"), "{component}");
}
