//! What an operator watches, against the real `consort serve`: `/metrics` scraped and parsed
//! by Prometheus' own OpenMetrics parser (the Python client, installed by
//! `scripts/setup.d/47-prometheus-parser.sh`), `/docs` and its embedded assets, request ids,
//! and JSON logs carrying the request id and the run id with no token in them, and OpenTelemetry
//! traces exported over OTLP to a real OpenTelemetry Collector (`rigs/otel-collector`, built by
//! `scripts/setup.d/51-otel-collector.sh`) whose file exporter the test reads back.
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
    fn start(env: &[(&str, &str)]) -> Server {
        let data = std::env::temp_dir().join(format!("consort-observability-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        let process = Serve::new(data)
            .env("CONSORT_LOG_FORMAT", "json")
            // The scheduler's per-run lines and the per-request line are at debug.
            .env("CONSORT_LOG", "info,consort_scheduler=debug,consort_server=debug")
            .envs(env.iter().copied())
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

/// The OpenTelemetry Collector rig: an OTLP/HTTP receiver on a free loopback port, every
/// batch it receives written by its file exporter as one OTLP JSON line.
struct Collector {
    child: std::process::Child,
    endpoint: String,
    dir: PathBuf,
}

impl Collector {
    fn start() -> Collector {
        let cache = std::env::var("CONSORT_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/consort"));
        let binary = cache.join("otel-collector/otelcol");
        assert!(binary.exists(), "{} is missing: run scripts/setup (51-otel-collector.sh)", binary.display());
        let dir = std::env::temp_dir().join(format!("consort-otelcol-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = format!(
            "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:{port}\n\
             exporters:\n  file:\n    path: {spans}\n    flush_interval: 100ms\n\
             service:\n  telemetry:\n    metrics:\n      level: none\n\
             \x20 pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [file]\n",
            spans = dir.join("spans.json").display()
        );
        std::fs::write(dir.join("config.yaml"), config).unwrap();
        let child = Command::new(binary)
            .arg(format!("--config=file:{}", dir.join("config.yaml").display()))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("collector.log")).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the collector never listened: {}", Self::log(&dir));
            std::thread::sleep(Duration::from_millis(50));
        }
        Collector { child, endpoint: format!("http://127.0.0.1:{port}"), dir }
    }

    fn log(dir: &std::path::Path) -> String {
        std::fs::read_to_string(dir.join("collector.log")).unwrap_or_default()
    }

    /// Every span the file exporter wrote, each with its resource's `service.name` added.
    fn spans(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.dir.join("spans.json")).unwrap_or_default();
        let mut spans = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let batch: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not OTLP JSON ({e}): {line}"));
            for resource in batch["resourceSpans"].as_array().unwrap() {
                let service = attribute(&resource["resource"], "service.name");
                for scope in resource["scopeSpans"].as_array().unwrap() {
                    for span in scope["spans"].as_array().unwrap() {
                        let mut span = span.clone();
                        span["service"] = service.clone();
                        spans.push(span);
                    }
                }
            }
        }
        spans
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An OTLP JSON attribute's value as plain JSON (integers arrive as strings), or null.
fn attribute(item: &Value, key: &str) -> Value {
    let Some(found) = item["attributes"].as_array().and_then(|a| a.iter().find(|kv| kv["key"] == key)) else {
        return Value::Null;
    };
    let value = &found["value"];
    if let Some(s) = value["stringValue"].as_str() {
        Value::from(s)
    } else if let Some(i) = value["intValue"].as_str().and_then(|i| i.parse::<i64>().ok()) {
        Value::from(i)
    } else if let Some(b) = value["boolValue"].as_bool() {
        Value::from(b)
    } else {
        value.clone()
    }
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
fn metrics_docs_request_ids_json_logs_and_traces() {
    let collector = Collector::start();
    let mut server = Server::start(&[("CONSORT_OTLP_ENDPOINT", collector.endpoint.as_str())]);
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

    // A caller's W3C trace context: the request's span joins the caller's trace.
    let (trace_id, caller_span) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let traceparent = format!("00-{trace_id}-{caller_span}-01");
    let (status, _, _) = server
        .get("/v1/scheduler/jobs/obs/ping", &[("authorization", &bearer(&viewer)), ("traceparent", &traceparent)]);
    assert_eq!(status, 200);

    server.stop();

    // The server flushed its spans on the way out; the collector writes them within 100 ms.
    let deadline = Instant::now() + Duration::from_secs(15);
    let spans = loop {
        let spans = collector.spans();
        if (spans.iter().any(|s| s["traceId"] == trace_id) && spans.iter().any(|s| s["name"] == "run"))
            || Instant::now() > deadline
        {
            break spans;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let all = || format!("{spans:#?}\ncollector: {}", Collector::log(&collector.dir));
    assert!(spans.iter().all(|s| s["service"] == "consort"), "service.name: {}", all());
    let joined = spans
        .iter()
        .find(|s| s["traceId"] == trace_id)
        .unwrap_or_else(|| panic!("no span of the caller's trace: {}", all()));
    assert_eq!(joined["parentSpanId"], caller_span, "{joined:#}");
    assert_eq!(joined["name"], "GET /v1/scheduler/jobs/{group}/{name}", "named by route template: {joined:#}");
    assert_eq!(joined["kind"], 2, "a server span: {joined:#}");
    assert_eq!(attribute(joined, "http.route"), "/v1/scheduler/jobs/{group}/{name}", "{joined:#}");
    assert_eq!(attribute(joined, "http.response.status_code"), 200, "an integer: {joined:#}");
    // A refused request is a span too, with its status; an unsampled or foreign trace is not ours.
    let refused = spans
        .iter()
        .find(|s| s["name"] == "GET /metrics" && attribute(s, "http.response.status_code") == 403)
        .unwrap_or_else(|| panic!("no span of the refused scrape: {}", all()));
    assert_ne!(refused["traceId"], trace_id);
    // The run: its id, job and kind, its outcome, inside the firing cycle that fired it.
    let run = spans
        .iter()
        .find(|s| s["name"] == "run" && attribute(s, "run_id") == run_id)
        .unwrap_or_else(|| panic!("no span of run {run_id}: {}", all()));
    assert_eq!(attribute(run, "kind"), "noop", "{run:#}");
    assert!(attribute(run, "job").as_str().is_some_and(|j| j.contains("obs.ping")), "{run:#}");
    assert_eq!(attribute(run, "state"), "SUCCEEDED", "{run:#}");
    let cycle = spans
        .iter()
        .find(|s| s["spanId"] == run["parentSpanId"])
        .unwrap_or_else(|| panic!("the run's parent span was not exported: {}", all()));
    assert_eq!(cycle["name"], "firing cycle", "{cycle:#}");
    assert_eq!(cycle["traceId"], run["traceId"]);
    assert!(attribute(cycle, "fired").as_i64().is_some_and(|n| n >= 1), "{cycle:#}");
    let exported = serde_json::to_string(&spans).unwrap();
    for secret in [&admin, &viewer, &provisioner] {
        assert!(!exported.contains(secret.as_str()), "a token reached an exported span");
    }

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
