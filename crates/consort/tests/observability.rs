//! What an operator watches, against the real `consort serve`: `/metrics` scraped and parsed
//! by Prometheus' own OpenMetrics parser (the Python client, installed by
//! `scripts/setup.d/47-prometheus-parser.sh`), `/docs` and its embedded assets, request ids,
//! and JSON logs carrying the request id and the run id with no token in them.
//!
//! One server for every scenario (one start per test binary keeps CI short).

mod serve;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use serve::Serve;

struct Server {
    process: serve::Process,
    addr: String,
}

impl Server {
    fn start() -> Server {
        let data = std::env::temp_dir().join(format!("consort-observability-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        let process = Serve::new(data)
            .env("CONSORT_LOG_FORMAT", "json")
            // The scheduler's per-run lines and the per-request line are at debug.
            .env("CONSORT_LOG", "info,consort_scheduler=debug,consort_server=debug")
            .start();
        Server { addr: process.addr.clone(), process }
    }

    fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.process.cli_as(args, None);
        (out.code, out.stdout, out.stderr)
    }

    /// One GET on a fresh connection: status, headers (lower-case names), body.
    fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, BTreeMap<String, String>, Vec<u8>) {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.addr);
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete response head");
        let head = String::from_utf8(raw[..end].to_vec()).unwrap();
        let body = raw[end + 4..].to_vec();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers: BTreeMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        assert!(!headers.get("transfer-encoding").is_some_and(|t| t.contains("chunked")), "{path}: chunked body");
        (status, headers, body)
    }

    fn stop(&mut self) {
        assert!(self.process.stop().success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.process.terminate();
        let _ = std::fs::remove_dir_all(&self.process.data);
        let _ = std::fs::remove_file(&self.process.log);
    }
}

/// The exposition parsed by `prometheus_client.openmetrics.parser`: every sample as
/// `name{label="value",...}` (labels sorted) → value. A parse error fails the test.
fn parse_openmetrics(text: &[u8]) -> BTreeMap<String, f64> {
    let cache = std::env::var("CONSORT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/consort"));
    let python = cache.join("venvs/prometheus/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/setup (47-prometheus-parser.sh)", python.display());
    let script = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        out[f"{s.name}{{{labels}}}"] = s.value
print(json.dumps(out))
"#;
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused the exposition: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn sample(samples: &BTreeMap<String, f64>, key: &str) -> f64 {
    samples.get(key).copied().unwrap_or(0.0)
}

fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}")))
        .collect()
}

/// Whether a JSON log line was logged inside a span carrying `field` = `value`.
fn in_span_with(line: &Value, field: &str, value: &Value) -> bool {
    line["spans"].as_array().is_some_and(|spans| spans.iter().any(|s| &s[field] == value))
}

#[test]
fn metrics_docs_request_ids_and_json_logs() {
    let mut server = Server::start();
    let admin = server.process.admin_token();
    let (code, out, err) = server.cli(&["tokens", "create", "--name", "prometheus", "--role", "viewer"]);
    assert_eq!(code, 0, "{err}");
    let viewer = out.trim().to_string();
    let (code, out, err) = server.cli(&["tokens", "create", "--name", "witboost", "--role", "provisioner"]);
    assert_eq!(code, 0, "{err}");
    let provisioner = out.trim().to_string();
    let bearer = |token: &str| format!("Bearer {token}");

    // /metrics is refused without a token, with an unknown one, and to a role that may not read.
    let (status, headers, body) = server.get("/metrics", &[]);
    assert_eq!(status, 401, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers.get("www-authenticate").map(String::as_str), Some("Bearer"));
    let unknown = format!("cst_{}", "A".repeat(43));
    assert_eq!(server.get("/metrics", &[("authorization", &bearer(&unknown))]).0, 401);
    let (status, _, body) = server.get("/metrics", &[("authorization", &bearer(&provisioner))]);
    assert_eq!(status, 403);
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert!(error["error"]["message"].as_str().unwrap().contains("viewer"), "{error}");

    // A viewer scrapes it; the parser takes it.
    let (status, headers, before) = server.get("/metrics", &[("authorization", &bearer(&viewer))]);
    assert_eq!(status, 200);
    assert!(headers["content-type"].starts_with("application/openmetrics-text"), "{headers:?}");
    let before = parse_openmetrics(&before);
    assert_eq!(sample(&before, r#"consort_scheduler_fires_total{kind="noop"}"#), 0.0, "{before:?}");

    // A fire and its run move their counters.
    let (code, _, err) = server.cli(&["jobs", "put", "obs.ping", "--kind", "noop", "--durable"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = server.cli(&["jobs", "fire", "obs.ping"]);
    assert_eq!(code, 0, "{out}{err}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let run_id = loop {
        let (_, out, _) = server.cli(&["runs", "list", "--json"]);
        let runs: Value = serde_json::from_str(&out).unwrap();
        if let Some(run) = runs["items"].as_array().unwrap().iter().find(|r| r["state"] == "SUCCEEDED") {
            break run["id"].clone();
        }
        assert!(Instant::now() < deadline, "the run never ended: {runs}");
        std::thread::sleep(Duration::from_millis(100));
    };
    // The run's end reaches the metrics when the driver has recorded it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let (status, _, text) = server.get("/metrics", &[("authorization", &bearer(&admin))]);
        assert_eq!(status, 200);
        let after = parse_openmetrics(&text);
        if sample(&after, r#"consort_scheduler_runs_total{kind="noop",outcome="SUCCEEDED"}"#) >= 1.0
            || Instant::now() > deadline
        {
            break after;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(sample(&after, r#"consort_scheduler_fires_total{kind="noop"}"#), 1.0, "{after:?}");
    assert_eq!(sample(&after, r#"consort_scheduler_runs_total{kind="noop",outcome="SUCCEEDED"}"#), 1.0, "{after:?}");
    assert_eq!(sample(&after, "consort_scheduler_fire_lateness_seconds_count{}"), 1.0, "{after:?}");
    assert!(sample(&after, r#"consort_scheduler_cycle_seconds_count{outcome="ok"}"#) >= 1.0, "{after:?}");
    let refused = r#"consort_http_requests_total{method="GET",route="/metrics",status="401"}"#;
    assert_eq!(sample(&after, refused), 2.0, "{after:?}");
    let forbidden = r#"consort_http_requests_total{method="GET",route="/metrics",status="403"}"#;
    assert_eq!(sample(&after, forbidden), 1.0, "{after:?}");
    let fired =
        r#"consort_http_requests_total{method="POST",route="/v1/scheduler/jobs/{group}/{name}/fire",status="202"}"#;
    assert_eq!(sample(&after, fired), 1.0, "by route template, not the raw path: {after:?}");

    // /docs: public, HTML that loads /openapi.json, and every asset it references is served.
    let (status, headers, page) = server.get("/docs", &[]);
    assert_eq!(status, 200);
    assert!(headers["content-type"].starts_with("text/html"), "{headers:?}");
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("\"/openapi.json\""), "{page}");
    let assets: Vec<&str> = page
        .split(['"', '\''])
        .filter(|s| s.starts_with("/docs/") && (s.ends_with(".js") || s.ends_with(".css")))
        .collect();
    assert_eq!(assets.len(), 3, "{page}");
    for asset in assets {
        let (status, headers, body) = server.get(asset, &[]);
        assert_eq!(status, 200, "{asset}");
        let expected = if asset.ends_with(".css") { "text/css" } else { "text/javascript" };
        assert!(headers["content-type"].starts_with(expected), "{asset}: {headers:?}");
        assert!(!body.is_empty(), "{asset}");
    }
    let (_, _, init) = server.get("/docs/docs-init.js", &[]);
    assert!(String::from_utf8(init).unwrap().contains("SwaggerUIBundle"));
    assert_eq!(server.get("/docs/other.js", &[]).0, 404, "only the embedded assets are served");
    assert_eq!(server.get("/openapi.json", &[]).0, 200);

    // Request ids: a sane one is kept, a credential-shaped one replaced, none generated.
    let (_, headers, _) =
        server.get("/v1/scheduler/jobs", &[("authorization", &bearer(&viewer)), ("x-request-id", "obs-req-42")]);
    assert_eq!(headers["x-request-id"], "obs-req-42");
    let (_, headers, _) = server.get("/health", &[("x-request-id", &viewer)]);
    let replaced = &headers["x-request-id"];
    assert!(replaced.len() == 32 && replaced.bytes().all(|b| b.is_ascii_hexdigit()), "{replaced}");
    let (_, headers, _) = server.get("/health", &[]);
    assert_eq!(headers["x-request-id"].len(), 32);

    server.stop();
    let log = server.process.log_text();
    let lines = json_lines(&log);
    let request_id = Value::from("obs-req-42");
    assert!(
        lines
            .iter()
            .any(|l| in_span_with(l, "request_id", &request_id) && l["fields"]["message"] == "request answered"),
        "no JSON log line of the request carries its id: {log}"
    );
    assert!(
        lines.iter().any(|l| l["fields"]["message"] == "RunEnded" && l["fields"]["run_id"] == run_id),
        "no log line of run {run_id} carries its run_id: {log}"
    );
    for secret in [&admin, &viewer, &provisioner, &unknown] {
        assert!(!log.contains(secret.as_str()), "a token reached the server's log");
    }
    assert!(!log.contains("cst_") && !log.contains("eyJ"), "a token-shaped string reached the log: {log}");
}
