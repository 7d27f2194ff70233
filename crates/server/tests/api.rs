//! The HTTP API, exercised through the router (no socket) and once over a real socket.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use consort_scheduler::{Kinds, Scheduler, SchedulerConfig};
use consort_server::auth::{AuthSettings, Guard};
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
    let stores = consort_store::open_all("sqlite::memory:").await.unwrap();
    let config = SchedulerConfig::new("test-instance");
    let scheduler = Arc::new(Scheduler::new(stores.scheduler, Kinds::builtin(), config));
    // These tests are about the API's shapes; the security layer has its own (tests/auth.rs).
    let open = AuthSettings { required: false, ..AuthSettings::default() };
    let mut state = AppState::new(scheduler, Guard::new(open, stores.auth, None));
    state.clock = Arc::new(move || fixed);
    router(state)
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
    assert_eq!(doc["openapi"], "3.1.0");
    let app = app().await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys().filter(|k| *k != "parameters") {
            let concrete = path
                .replace("{group}", "DEFAULT")
                .replace("{name}", "nope")
                .replace("{id}", "1")
                .replace("{component_id}", "urn:dmb:cmp:nope");
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

/// Every operation has an id, documents 400 when it takes input, 500 always, and on every
/// path but the public ones requires the bearer scheme and documents 401, 403, 413 and 429.
/// Errors are in the API's shape, but for the Witboost spec's 400 and 500 on its operations.
#[tokio::test]
async fn every_operation_documents_its_errors_and_its_security() {
    let doc = consort_server::openapi::document();
    assert_eq!(doc["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");
    let retry_after = &doc["components"]["responses"]["TooManyRequests"]["headers"]["Retry-After"];
    assert!(retry_after.is_object(), "429 documents Retry-After");
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let label = format!("{method} {path}");
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{label}: no operationId"));
            assert!(ids.insert(id.to_string()), "{label}: operationId {id} is used twice");
            let responses = op["responses"].as_object().unwrap();
            let takes_input =
                op["parameters"].as_array().is_some_and(|p| !p.is_empty()) || op.get("requestBody").is_some();
            if takes_input {
                assert!(responses.contains_key("400"), "{label}: takes input but documents no 400");
            }
            assert!(responses.contains_key("500"), "{label}: no 500");
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = if let Some(r) = response["$ref"].as_str() {
                        let name = r.rsplit('/').next().unwrap();
                        doc["components"]["responses"][name]["content"]["application/json"]["schema"]["$ref"].clone()
                    } else {
                        response["content"]["application/json"]["schema"]["$ref"].clone()
                    };
                    let witboost = op["tags"][0] == "provisioner" && (status == "400" || status == "500");
                    let expected = match (witboost, status.as_str()) {
                        (true, "400") => "#/components/schemas/RequestValidationError",
                        (true, _) => "#/components/schemas/SystemError",
                        _ => "#/components/schemas/Error",
                    };
                    assert_eq!(schema, expected, "{label} {status}");
                }
            }
            if consort_server::openapi::is_self_authenticated(path) {
                // The governed runner's routes: its evidence, then its run session.
                let session = op["security"][0].get("runSession").is_some();
                assert_eq!(session, !path.ends_with("/attest"), "{label}: security");
                assert!(responses.contains_key("403") && responses.contains_key("429"), "{label}");
                continue;
            }
            let public = consort_server::openapi::is_public(path);
            assert_eq!(op.get("security").is_none(), public, "{label}: security");
            for status in ["401", "403", "413", "429"] {
                assert_eq!(responses.contains_key(status), !public, "{label}: {status}");
            }
        }
    }
    assert!(consort_server::openapi::is_public("/health") && !consort_server::openapi::is_public("/v1/scheduler/jobs"));
}

/// Axum's own rejections, unknown routes and wrong methods all answer in the error shape.
#[tokio::test]
async fn every_rejection_is_in_the_error_shape() {
    let app = app().await;
    let raw = |method: &str, uri: &str, content_type: Option<&str>, body: &str| {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        request.body(Body::from(body.to_string())).unwrap()
    };
    let deep = format!(
        "{{\"kind\": \"noop\", \"durable\": true, \"data\": {{\"a\": {}{}}}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    let cases = [
        (raw("PUT", "/v1/scheduler/jobs/g/j", None, "{}"), StatusCode::BAD_REQUEST, "content-type"),
        (raw("PUT", "/v1/scheduler/jobs/g/j", Some("text/plain"), "{}"), StatusCode::BAD_REQUEST, "content-type"),
        (
            raw("PUT", "/v1/scheduler/jobs/g/j", Some("application/json"), "{\"kind\": "),
            StatusCode::BAD_REQUEST,
            "body",
        ),
        (
            raw("PUT", "/v1/scheduler/jobs/g/j", Some("application/json"), "{\"kind\": 7}"),
            StatusCode::BAD_REQUEST,
            "kind",
        ),
        (
            raw(
                "PUT",
                "/v1/scheduler/jobs/g/j",
                Some("application/json"),
                r#"{"kind": "noop", "triggers": [{"name": "t", "once": true, "misfire": "later"}]}"#,
            ),
            StatusCode::BAD_REQUEST,
            "triggers[0].misfire",
        ),
        (raw("PUT", "/v1/scheduler/jobs/g/j", Some("application/json"), &deep), StatusCode::BAD_REQUEST, "body"),
        (raw("GET", "/v1/scheduler/runs/abc", None, ""), StatusCode::BAD_REQUEST, "id"),
        (raw("GET", "/v1/scheduler/runs?limit=ten", None, ""), StatusCode::BAD_REQUEST, "limit"),
        (raw("GET", "/v1/scheduler/runs?limit=1001", None, ""), StatusCode::BAD_REQUEST, "limit"),
        (raw("GET", "/v1/scheduler/runs?state=DONE", None, ""), StatusCode::BAD_REQUEST, "state"),
        (raw("GET", "/v1/scheduler/jobs?cursor=bm9wZQ", None, ""), StatusCode::BAD_REQUEST, "cursor"),
        (raw("GET", "/v1/scheduler/runs?fired_after=yesterday", None, ""), StatusCode::BAD_REQUEST, "fired_after"),
    ];
    for (request, status, param) in cases {
        let label = format!("{} {}", request.method(), request.uri());
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), status, "{label}");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("{label}: not JSON"));
        assert_eq!(body["error"]["param"], param, "{label}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().len() > 20, "{label}: {body}");
    }
    let response = app.clone().oneshot(raw("PATCH", "/v1/scheduler/jobs/g/j", None, "")).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(response.headers().contains_key("allow"));
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
    let big = format!("{{\"kind\": \"noop\", \"durable\": true, \"description\": \"{}\"}}", "x".repeat(2 << 20));
    let response =
        app.clone().oneshot(raw("PUT", "/v1/scheduler/jobs/g/j", Some("application/json"), &big)).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// Every bound is a 400 naming the field and the limit.
#[tokio::test]
async fn bounded_inputs_name_the_field_and_the_limit() {
    let app = app().await;
    let long = "n".repeat(191);
    let cases = [
        (format!("/v1/scheduler/jobs/g/{long}"), json!({"kind": "noop", "durable": true}), "path", "190"),
        (
            "/v1/scheduler/jobs/g/j".into(),
            json!({"kind": "noop", "durable": true, "description": "d".repeat(2001)}),
            "description",
            "2000",
        ),
        (
            "/v1/scheduler/jobs/g/j".into(),
            json!({"kind": "noop", "durable": true, "data": {"blob": "b".repeat(70_000)}}),
            "data",
            "65536",
        ),
        (
            "/v1/scheduler/jobs/g/j".into(),
            json!({"kind": "noop", "durable": true, "data": {"args": (0..20_000).map(|i| i.to_string()).collect::<Vec<_>>()}}),
            "data",
            "65536",
        ),
        ("/v1/scheduler/jobs/g/j".into(), json!({"kind": "no op", "durable": true}), "kind", "64"),
        (
            "/v1/scheduler/jobs/g/j".into(),
            json!({"kind": "noop", "triggers": [{"name": "t", "cron": format!("0 0 12 * * ?{}", " ".repeat(300))}]}),
            "triggers[0].cron",
            "256",
        ),
        (
            "/v1/scheduler/jobs/g/j".into(),
            json!({"kind": "noop", "triggers": (0..101).map(|i| json!({"name": format!("t{i}"), "once": true})).collect::<Vec<_>>()}),
            "triggers",
            "100",
        ),
    ];
    let mut deep = json!(1);
    for _ in 0..40 {
        deep = json!({"x": deep});
    }
    let cases = cases.into_iter().chain([(
        "/v1/scheduler/jobs/g/j".to_string(),
        json!({"kind": "noop", "durable": true, "data": {"deep": deep}}),
        "data",
        "32",
    )]);
    for (uri, body, param, limit) in cases {
        let (status, reply) = send(&app, "PUT", &uri, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{param}: {reply}");
        assert_eq!(reply["error"]["param"], param, "{reply}");
        assert!(reply["error"]["message"].as_str().unwrap().contains(limit), "{param}: {reply}");
    }
}

/// Lists are pages: `limit`, then `next_cursor` as `cursor`, until `next_cursor` is null.
#[tokio::test]
async fn lists_page_with_a_cursor() {
    let app = app().await;
    for name in ["a", "b", "c", "d", "e"] {
        let (status, body) =
            send(&app, "PUT", &format!("/v1/scheduler/jobs/g/{name}"), Some(json!({"kind": "noop", "durable": true})))
                .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let mut seen = Vec::new();
    let mut uri = "/v1/scheduler/jobs?limit=2&kind=noop".to_string();
    loop {
        let (status, page) = send(&app, "GET", &uri, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|j| j["name"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/v1/scheduler/jobs?limit=2&kind=noop&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    let (_, page) = send(&app, "GET", "/v1/scheduler/jobs?kind=spark", None).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
    let (status, page) = send(&app, "GET", "/v1/scheduler/instances?limit=1", None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["this_instance"], "test-instance");
}

#[tokio::test]
async fn serves_over_a_real_socket_and_shuts_down() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let settings = consort_server::ListenerSettings::default();
    let server = tokio::spawn(consort_server::serve(listener, app().await, settings, async {
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

/// The purge cutoff, without which the handler refuses, is documented as required (a client
/// reading the document must not be invited to leave it out), though its schema is hand-built.
#[test]
fn the_purge_cutoff_is_documented_as_required() {
    let doc = consort_server::openapi::document();
    let params = doc.pointer("/paths/~1v1~1scheduler~1runs/delete/parameters").and_then(Value::as_array).unwrap();
    let cutoff = params.iter().find(|p| p["name"] == "fired_before").expect("fired_before is documented");
    assert_eq!(cutoff["in"], "query");
    assert_eq!(cutoff["required"], true, "{cutoff}");
    assert!(cutoff["description"].as_str().is_some_and(|d| d.contains("RFC 3339")), "{cutoff}");
    assert!(cutoff["schema"]["anyOf"].is_array(), "{cutoff}");
}
