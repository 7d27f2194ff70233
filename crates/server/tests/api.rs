//! The HTTP API, exercised through the router (no socket) and once over a real socket.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use consort_server::{AppState, router};
use http_body_util::BodyExt;
use jiff::Timestamp;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

fn app() -> axum::Router {
    let fixed: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    router(AppState { clock: Arc::new(move || fixed) })
}

async fn get(uri: &str) -> (StatusCode, Value) {
    let response = app().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
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
    for (path, item) in doc["paths"].as_object().unwrap() {
        assert!(item.get("get").is_some(), "{path}");
        let (status, _) = get(&format!("{path}?expr=0+0+12+*+*+%3F")).await;
        assert_eq!(status, StatusCode::OK, "{path}");
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
    let server = tokio::spawn(consort_server::serve(listener, app(), async {
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
