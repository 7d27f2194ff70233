//! The HTTP API, exercised through the router (no socket) and once over a real socket.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use consort_scheduler::{Kinds, Scheduler, SchedulerConfig};
use consort_server::{AppState, router};
use http_body_util::BodyExt;
use jiff::Timestamp;
use serde_json::Value;
use serde_json::json;
use std::sync::Arc;
use tower::ServiceExt;

/// An app on a private in-memory SQLite scheduler (its driver not started) and a fixed clock.
async fn app() -> axum::Router {
    let fixed: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let store = consort_store::open("sqlite::memory:").await.unwrap();
    let config = SchedulerConfig::new("test-instance");
    let scheduler = Arc::new(Scheduler::new(store, Kinds::builtin(), config));
    router(AppState { clock: Arc::new(move || fixed), scheduler })
}

async fn send(app: &axum::Router, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    let request = Request::builder().method(method).uri(uri).header("content-type", "application/json");
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let response = app.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn get(uri: &str) -> (StatusCode, Value) {
    send(&app().await, "GET", uri, None).await
}

#[tokio::test]
async fn health_answers() {
    let (status, body) = get("/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn next_fire_times_in_a_zone() {
    let (status, body) =
        get("/v1/cron/next?expr=0+15+10+%3F+*+6L&tz=America/New_York&after=2026-01-01T00:00:00Z&count=3").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let times: Vec<&str> = body["fire_times"].as_array().unwrap().iter().map(|t| t["utc"].as_str().unwrap()).collect();
    assert_eq!(times, ["2026-01-30T15:15:00Z", "2026-02-27T15:15:00Z", "2026-03-27T14:15:00Z"]);
    assert_eq!(body["fire_times"][2]["local"], "2026-03-27T10:15:00-04:00[America/New_York]");
    assert_eq!(body["explanation"], "at 10:15 on the last Friday of every month");
}

#[tokio::test]
async fn after_defaults_to_the_injected_clock_and_accepts_epoch_seconds() {
    let (_, by_default) = get("/v1/cron/next?expr=0+0+12+*+*+%3F&count=1").await;
    assert_eq!(by_default["fire_times"][0]["utc"], "2026-01-01T12:00:00Z");
    let (_, by_epoch) = get("/v1/cron/next?expr=0+0+12+*+*+%3F&count=1&after=0").await;
    assert_eq!(by_epoch["fire_times"][0]["epoch_s"], 43200);
}

#[tokio::test]
async fn bad_input_names_the_parameter_and_the_fix() {
    let cases = [
        ("/v1/cron/next", "expr", "missing_parameter"),
        ("/v1/cron/next?expr=0+0+12+%3F+*+MON%236", "expr", "invalid_cron_expression"),
        ("/v1/cron/next?expr=0+0+12+*+*+%3F&tz=Mars/Base", "tz", "unknown_time_zone"),
        ("/v1/cron/next?expr=0+0+12+*+*+%3F&after=tomorrow", "after", "invalid_instant"),
        ("/v1/cron/next?expr=0+0+12+*+*+%3F&count=0", "count", "invalid_count"),
        ("/v1/cron/next?expr=0+0+12+*+*+%3F&count=1001", "count", "invalid_count"),
        ("/v1/cron/explain?expr=0+0+12+*+*", "expr", "invalid_cron_expression"),
    ];
    for (uri, param, code) in cases {
        let (status, body) = get(uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(body["error"]["param"], param, "{uri}");
        assert_eq!(body["error"]["code"], code, "{uri}");
        assert!(body["error"]["message"].as_str().unwrap().len() > 20, "{uri}: {body}");
    }
    let (_, body) = get("/v1/cron/next?expr=0+0+12+%3F+*+MON%236").await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("day-of-week") && message.contains("1-5"), "{message}");
}

#[tokio::test]
async fn explain_reads_naturally() {
    let (status, body) = get("/v1/cron/explain?expr=0+0+12+LW+*+%3F").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["explanation"], "at 12:00 on the last weekday of every month");
}

#[tokio::test]
async fn every_documented_path_is_routed() {
    let doc = consort_server::openapi::document();
    let app = app().await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys().filter(|k| *k != "parameters") {
            let concrete = path.replace("{group}", "DEFAULT").replace("{name}", "nope").replace("{id}", "1");
            let (status, _) =
                send(&app, &method.to_uppercase(), &format!("{concrete}?expr=0+0+12+*+*+%3F"), None).await;
            // Routed: anything but the fallback's 404 for an unknown path or a 405.
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            if status == StatusCode::NOT_FOUND {
                let (_, body) = send(&app, &method.to_uppercase(), &concrete, None).await;
                assert!(
                    !body["error"]["message"].as_str().unwrap_or("").contains("no route"),
                    "{method} {path} is not routed"
                );
            }
        }
    }
    let (status, body) = get("/v1/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"]["message"].as_str().unwrap().contains("/openapi.json"));
}

#[tokio::test]
async fn serves_over_a_real_socket_and_shuts_down() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(consort_server::serve(listener, app().await, async {
        let _ = stopped.await;
    }));
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("\"status\":\"ok\""), "{reply}");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn jobs_triggers_runs_round_trip() {
    let app = app().await;
    let job = json!({
        "kind": "noop",
        "description": "nightly ETL",
        "data": {"table": "sales"},
        "non_concurrent": true,
        "triggers": [{"name": "nightly", "cron": "0 0 2 * * ?", "timezone": "Europe/Rome", "misfire": "do-nothing"}]
    });
    let (status, body) = send(&app, "PUT", "/v1/scheduler/jobs/etl/sales", Some(job.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["kind"], "noop");
    assert_eq!(body["non_concurrent"], true);
    let trigger = &body["triggers"][0];
    assert_eq!(trigger["state"], "WAITING");
    assert_eq!(trigger["misfire"], "do-nothing");
    // 02:00 in Rome on 2026-01-01 is 01:00Z; the clock says 2026-01-01T00:00Z.
    assert_eq!(trigger["next_fire_time"], "2026-01-01T01:00:00Z");
    assert_eq!(trigger["schedule"]["explanation"], "at 02:00 every day");

    // Replacing is idempotent.
    let (status, _) = send(&app, "PUT", "/v1/scheduler/jobs/etl/sales", Some(job)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = send(&app, "GET", "/v1/scheduler/jobs?group=etl", None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["next_cursor"], Value::Null);

    let (status, body) = send(&app, "POST", "/v1/scheduler/jobs/etl/sales/pause", None).await;
    assert_eq!((status, body["triggers_changed"].as_u64()), (StatusCode::OK, Some(1)));
    let (_, t) = send(&app, "GET", "/v1/scheduler/triggers/etl/nightly", None).await;
    assert_eq!(t["state"], "PAUSED");
    let (_, _) = send(&app, "POST", "/v1/scheduler/trigger-groups/etl/resume", None).await;
    let (_, t) = send(&app, "GET", "/v1/scheduler/triggers/etl/nightly", None).await;
    assert_eq!(t["state"], "WAITING");

    let (status, fired) =
        send(&app, "POST", "/v1/scheduler/jobs/etl/sales/fire", Some(json!({"data": {"why": "test"}}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{fired}");
    let (_, triggers) = send(&app, "GET", "/v1/scheduler/triggers?job=etl.sales", None).await;
    assert_eq!(triggers["items"].as_array().unwrap().len(), 2, "the one-shot trigger is listed");

    let (status, _) = send(&app, "GET", "/v1/scheduler/runs?job=etl.sales&state=SUCCEEDED", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(&app, "DELETE", "/v1/scheduler/jobs/etl/sales", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send(&app, "GET", "/v1/scheduler/jobs/etl/sales", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"]["message"].as_str().unwrap().contains("etl.sales"));
}

#[tokio::test]
async fn bad_definitions_are_400_with_the_reason() {
    let app = app().await;
    let cases = [
        (json!({"kind": "noop", "triggers": [{"name": "t", "cron": "0 0 12 * * *"}]}), "day-of-month"),
        (
            json!({"kind": "noop", "triggers": [{"name": "t", "cron": "0 0 12 * * ?", "timezone": "Mars/Base"}]}),
            "Mars/Base",
        ),
        (json!({"kind": "noop", "triggers": [{"name": "t"}]}), "exactly one schedule"),
        (json!({"kind": "noop", "triggers": [{"name": "t", "once": true, "misfire": "later"}]}), "misfire"),
        (json!({"kind": "teleport", "durable": true}), "teleport"),
        (json!({"kind": "noop"}), "durable"),
    ];
    for (body, says) in cases {
        let (status, reply) = send(&app, "PUT", "/v1/scheduler/jobs/g/j", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
    }
    let (status, body) = send(&app, "PUT", "/v1/scheduler/jobs/g/j", Some(json!({"kind": "noop", "extra": 1}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unknown fields are refused: {body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("extra"), "{body}");
    let (status, body) = send(&app, "POST", "/v1/scheduler/jobs/g/missing/fire", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}
