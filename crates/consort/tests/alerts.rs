//! Alerts against the real `consort serve`, delivered to real receivers: a webhook receiver in
//! this test (axum) that checks every signature with an independent HMAC-SHA256 and refuses
//! the first deliveries of one channel, and an SMTP server (Python's aiosmtpd, installed by
//! `scripts/setup.d/50-smtp.sh`) that requires a login and keeps each message it receives.
//! Runs are `command` jobs fired through the CLI: a failure, then a recovery, a run longer than
//! its expected duration (told while it runs), a misfire, a retried delivery, and a job outside
//! every rule's scope that stays quiet. No secret reaches the server's log.
//!
//! One server, one SMTP server and one receiver for every scenario (one start per test binary).

mod serve;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::Value;
use serve::{Serve, consort};
use sha2::Sha256;

const WEBHOOK_SECRET: &str = "whsec-alerts-test-5c1e7a";
const SMTP_USER: &str = "consort";
const SMTP_PASSWORD: &str = "smtp-pw-alerts-test-91b3";
/// Deliveries the `flaky` channel refuses (HTTP 503) before it accepts one.
const FLAKY_REFUSALS: usize = 2;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// One request the webhook receiver got.
#[derive(Clone, Debug)]
struct Delivery {
    path: String,
    alert_id: String,
    /// Whether `Consort-Signature` is the HMAC-SHA256 of `t.body` under the shared secret.
    signature_ok: bool,
    body: Value,
    received_ms: i64,
    /// The status the receiver answered.
    status: u16,
}

#[derive(Clone, Default)]
struct Receiver {
    deliveries: Arc<Mutex<Vec<Delivery>>>,
}

/// Checks `t=T,v1=HEX` against the body with the hmac crate (not consort's own code).
fn signature_ok(header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value.to_string()),
            Some(("v1", value)) => v1 = Some(value.to_string()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else { return false };
    let fresh = t.parse::<i64>().is_ok_and(|t| (now_ms() / 1000 - t).abs() < 60);
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    fresh && expected == v1
}

impl Receiver {
    /// Serves `/hook` (always 200) and `/flaky` (503 for the first deliveries) on 127.0.0.1.
    fn start(runtime: &tokio::runtime::Runtime) -> (Receiver, u16) {
        use axum::body::Bytes;
        use axum::extract::State;
        use axum::http::{HeaderMap, StatusCode, Uri};
        let receiver = Receiver::default();
        let handler = |State(receiver): State<Receiver>, uri: Uri, headers: HeaderMap, body: Bytes| async move {
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            let mut deliveries = receiver.deliveries.lock().unwrap();
            let path = uri.path().to_string();
            let earlier = deliveries.iter().filter(|d| d.path == path).count();
            let status = if path == "/flaky" && earlier < FLAKY_REFUSALS {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            };
            deliveries.push(Delivery {
                path,
                alert_id: header("consort-alert-id"),
                signature_ok: signature_ok(&header("consort-signature"), &body),
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                received_ms: now_ms(),
                status: status.as_u16(),
            });
            status
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(handler))
            .route("/flaky", axum::routing::post(handler))
            .with_state(receiver.clone());
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        runtime.spawn(async move { axum::serve(listener, app).await });
        (receiver, port)
    }

    fn all(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }

    /// The accepted deliveries on `path` of `event` for job `alerts.NAME`.
    fn accepted(&self, path: &str, event: &str, job: &str) -> Vec<Delivery> {
        self.all()
            .into_iter()
            .filter(|d| d.path == path && d.status == 200 && d.body["event"] == event && d.body["job"]["name"] == job)
            .collect()
    }

    fn wait_for(&self, path: &str, event: &str, job: &str) -> Delivery {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(d) = self.accepted(path, event, job).into_iter().next() {
                return d;
            }
            assert!(Instant::now() < deadline, "no {event} alert for {job} on {path}: {:#?}", self.all());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// aiosmtpd on 127.0.0.1 requiring the login `SMTP_USER`/`SMTP_PASSWORD` (offered without TLS,
/// as on a local relay); each message is written to `dir` with its envelope.
struct SmtpServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

const SMTP_SCRIPT: &str = r#"
import logging, os, sys, warnings
warnings.simplefilter("ignore")  # AUTH without TLS is the point of a loopback test server
logging.disable(logging.CRITICAL)
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
port, out = int(sys.argv[1]), sys.argv[2]
user, password = os.environ["SMTP_USER"].encode(), os.environ["SMTP_PASSWORD"].encode()
class Keep:
    count = 0
    async def handle_DATA(self, server, session, envelope):
        Keep.count += 1
        path = os.path.join(out, "%04d.eml" % Keep.count)
        head = "X-Envelope-From: %s\nX-Envelope-To: %s\nX-Authenticated: %s\n" % (
            envelope.mail_from, ",".join(envelope.rcpt_tos), session.authenticated)
        with open(path + ".part", "wb") as f:
            f.write(head.encode() + envelope.content)
        os.rename(path + ".part", path)
        return "250 OK kept"
def login(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login == user and data.password == password
    return AuthResult(success=ok)
c = Controller(Keep(), hostname="127.0.0.1", port=port, authenticator=login,
               auth_required=True, auth_require_tls=False)
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
"#;

impl SmtpServer {
    fn start(dir: &Path) -> SmtpServer {
        let cache = std::env::var("CONSORT_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/consort"));
        let python = cache.join("venvs/smtp/bin/python");
        assert!(python.exists(), "{} is missing: run scripts/setup (50-smtp.sh)", python.display());
        std::fs::create_dir_all(dir).unwrap();
        let port = free_port();
        let mut child = Command::new(python)
            .args(["-c", SMTP_SCRIPT, &port.to_string()])
            .arg(dir)
            .env("SMTP_USER", SMTP_USER)
            .env("SMTP_PASSWORD", SMTP_PASSWORD)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "aiosmtpd did not start");
        SmtpServer { child, port, dir: dir.to_path_buf() }
    }

    /// Every message received so far, as text with its headers unfolded, in order.
    fn messages(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        // Long headers are folded (CRLF, then white space): unfolded, a subject is one line.
        names.iter().map(|p| std::fs::read_to_string(p).unwrap().replace("\r\n ", " ")).collect()
    }

    fn wait_for(&self, subject: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(m) = self.messages().into_iter().find(|m| m.contains(&format!("Subject: {subject}"))) {
                return m;
            }
            assert!(Instant::now() < deadline, "no mail with subject {subject:?}: {:#?}", self.messages());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Server(serve::Process);

impl Server {
    fn start(config: &Path, data: &Path) -> Server {
        Server(Serve::new(data).config(config).env("CONSORT_LOG", "info,consort_scheduler=debug").start())
    }

    fn cli(&self, args: &[&str]) -> String {
        self.0.cli_ok(args)
    }

    fn put_command(&self, job: &str, script: &str) {
        let data = serde_json::json!({"program": "/bin/sh", "args": ["-c", script]}).to_string();
        self.cli(&["jobs", "put", job, "--kind", "command", "--data", &data, "--durable"]);
    }

    /// Fires `job` and waits for the run's end: the run as the API shows it.
    fn fire_and_wait(&self, job: &str) -> Value {
        let before: Vec<i64> = self.runs(job).iter().map(|r| r["id"].as_i64().unwrap()).collect();
        self.cli(&["jobs", "fire", job]);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ended = self
                .runs(job)
                .into_iter()
                .find(|r| !before.contains(&r["id"].as_i64().unwrap()) && r["state"] != "EXECUTING");
            if let Some(run) = ended {
                return run;
            }
            assert!(Instant::now() < deadline, "{job}'s run never ended");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn runs(&self, job: &str) -> Vec<Value> {
        let out = self.cli(&["runs", "list", "--job", job, "--output", "json"]);
        let page: Value = serde_json::from_str(&out).unwrap();
        page["items"].as_array().unwrap().clone()
    }

    fn stop(&mut self) {
        assert!(self.0.stop().success());
    }
}

#[test]
fn failures_recoveries_long_runs_and_misfires_reach_webhooks_and_mail() {
    let root = std::env::temp_dir().join(format!("consort-alerts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (receiver, hook_port) = Receiver::start(&runtime);
    let smtp = SmtpServer::start(&root.join("mail"));
    std::fs::write(root.join("hook.secret"), format!("{WEBHOOK_SECRET}\n")).unwrap();
    std::fs::write(root.join("smtp.password"), SMTP_PASSWORD).unwrap();
    let config = root.join("consort.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[jobs]
command_kind = true

[scheduler]
misfire_threshold_ms = 1000

[alerts]
attempts = 4
first_retry_ms = 100

[[alerts.webhook]]
name = "hook"
url = "http://127.0.0.1:{hook_port}/hook"
secret_file = "{root}/hook.secret"

[[alerts.webhook]]
name = "flaky"
url = "http://127.0.0.1:{hook_port}/flaky"
secret_file = "{root}/hook.secret"

[[alerts.email]]
name = "ops-mail"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
tls = "none"
username = "{SMTP_USER}"
password_file = "{root}/smtp.password"
from = "consort@example.com"
to = ["ops@example.com", "etl@example.com"]

[[alerts.rule]]
scope = "group:alerts"
events = ["failure", "recovery", "misfire"]
channels = ["hook", "ops-mail"]

[[alerts.rule]]
scope = "job:alerts.fails"
events = ["failure"]
channels = ["flaky"]

[[alerts.rule]]
scope = "job:alerts.slow"
events = ["long_run"]
expected_duration_secs = 1
channels = ["hook", "ops-mail"]
"#,
            root = root.display(),
            smtp_port = smtp.port,
        ),
    )
    .unwrap();
    let mut server = Server::start(&config, &root.join("data"));

    // A failure: signed JSON on the webhook with the run and its reason, and a mail.
    server.put_command("alerts.fails", "echo disk full >&2; exit 3");
    let failed = server.fire_and_wait("alerts.fails");
    assert_eq!(failed["state"], "FAILED");
    let run_id = failed["id"].as_i64().unwrap();
    let alert = receiver.wait_for("/hook", "failure", "fails");
    assert!(alert.signature_ok, "{alert:?}");
    assert_eq!(alert.alert_id, format!("failure:run:{run_id}"));
    assert_eq!(alert.body["id"], alert.alert_id.as_str());
    assert_eq!(alert.body["run_id"], run_id);
    assert_eq!(alert.body["job"]["group"], "alerts");
    assert_eq!(alert.body["trigger"].as_str().map(|t| t.starts_with("MANUAL_TRIGGER.")), Some(true), "{alert:?}");
    assert_eq!(alert.body["state"], "FAILED");
    assert!(alert.body["error"].as_str().unwrap().contains("disk full"), "{alert:?}");
    assert!(alert.body["duration_ms"].as_i64().unwrap() >= 0);
    let mail = smtp.wait_for(&format!("[consort] failure: alerts.fails run {run_id} failed"));
    assert!(mail.contains("X-Authenticated: True"), "{mail}");
    assert!(mail.contains("X-Envelope-To: ops@example.com,etl@example.com"), "{mail}");
    assert!(mail.contains("From: consort@example.com"), "{mail}");
    assert!(mail.contains("error: \"/bin/sh\" exited with exit status: 3: disk full"), "{mail}");

    // The flaky channel refused twice; the third try, after back-off, was taken. Every try
    // carried the same alert id and a valid signature.
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.accepted("/flaky", "failure", "fails").is_empty() {
        assert!(Instant::now() < deadline, "the flaky channel never got its alert: {:#?}", receiver.all());
        std::thread::sleep(Duration::from_millis(50));
    }
    let tries: Vec<Delivery> = receiver.all().into_iter().filter(|d| d.path == "/flaky").collect();
    assert_eq!(tries.iter().map(|d| d.status).collect::<Vec<_>>(), [503, 503, 200], "{tries:#?}");
    assert!(tries.iter().all(|d| d.signature_ok && d.alert_id == alert.alert_id), "{tries:#?}");
    assert!(tries[2].received_ms - tries[0].received_ms >= 300, "backed off 100 ms then 200 ms: {tries:#?}");

    // A recovery: the next success of the job; the success after it is not one.
    server.put_command("alerts.fails", "exit 0");
    let recovered = server.fire_and_wait("alerts.fails");
    assert_eq!(recovered["state"], "SUCCEEDED");
    let recovered_id = recovered["id"].as_i64().unwrap();
    let alert = receiver.wait_for("/hook", "recovery", "fails");
    assert!(alert.signature_ok);
    assert_eq!(alert.body["run_id"], recovered_id);
    assert_eq!(alert.body["summary"], format!("alerts.fails run {recovered_id} succeeded after a failure"));
    smtp.wait_for(&format!("[consort] recovery: alerts.fails run {recovered_id} succeeded after a failure"));
    server.fire_and_wait("alerts.fails");

    // A long run: told while it runs, past its expected second; not a failure.
    server.put_command("alerts.slow", "sleep 3");
    server.cli(&["jobs", "fire", "alerts.slow"]);
    let alert = receiver.wait_for("/hook", "long_run", "slow");
    assert!(alert.signature_ok);
    assert_eq!(alert.body["state"], "EXECUTING");
    assert_eq!(alert.body["expected_duration_ms"], 1000);
    let slow_run = alert.body["run_id"].as_i64().unwrap();
    let runs = server.runs("alerts.slow");
    let run = runs.iter().find(|r| r["id"] == slow_run).unwrap();
    assert_eq!(run["state"], "EXECUTING", "the alert came before the run's end: {run}");
    assert!(alert.body["duration_ms"].as_i64().unwrap() >= 1000, "{alert:?}");
    smtp.wait_for(&format!("[consort] long_run: alerts.slow run {slow_run} has run"));

    // A job outside every rule's scope fails quietly.
    server.put_command("quiet.fails", "exit 1");
    assert_eq!(server.fire_and_wait("quiet.fails")["state"], "FAILED");

    // A misfire: a trigger firing every second, paused for longer than the threshold, resumed.
    server.cli(&["jobs", "put", "alerts.tick", "--kind", "noop", "--cron", "* * * * * ?"]);
    std::thread::sleep(Duration::from_millis(1500));
    server.cli(&["jobs", "pause", "alerts.tick"]);
    std::thread::sleep(Duration::from_millis(3000));
    server.cli(&["jobs", "resume", "alerts.tick"]);
    let alert = receiver.wait_for("/hook", "misfire", "tick");
    assert!(alert.signature_ok);
    assert_eq!(alert.body["trigger"], "alerts.tick");
    assert!(alert.body["run_id"].is_null());
    assert!(alert.body["missed_ms"].as_i64().unwrap() < now_ms() - 1000, "{alert:?}");
    smtp.wait_for("[consort] misfire: alerts.tick missed its schedule (trigger alerts.tick)");
    server.cli(&["jobs", "delete", "alerts.tick"]);

    // Wait for the slow run's end: still one long_run alert for it, and no failure.
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.runs("alerts.slow").iter().any(|r| r["state"] == "EXECUTING") {
        assert!(Instant::now() < deadline, "the slow run never ended");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1000));
    let all = receiver.all();
    let count = |event: &str, job: &str| {
        all.iter().filter(|d| d.path == "/hook" && d.body["event"] == event && d.body["job"]["name"] == job).count()
    };
    assert_eq!(count("failure", "fails"), 1, "one failure alert, sent once: {all:#?}");
    assert_eq!(count("recovery", "fails"), 1, "a success after a success is no recovery: {all:#?}");
    assert_eq!(count("long_run", "slow"), 1, "{all:#?}");
    assert_eq!(count("failure", "slow"), 0, "{all:#?}");
    assert!(all.iter().all(|d| d.body["job"]["group"] == "alerts"), "the quiet group is in no rule: {all:#?}");
    assert!(all.iter().all(|d| d.signature_ok), "{all:#?}");
    let mails = smtp.messages();
    assert!(!mails.iter().any(|m| m.contains("quiet.")), "{mails:#?}");

    server.stop();
    let log = server.0.log_text();
    assert!(log.contains("alerts on"), "{log}");
    assert!(log.contains("alert sent"), "{log}");
    assert!(log.contains("alert delivery failed; retrying"), "{log}");
    for secret in [WEBHOOK_SECRET, SMTP_PASSWORD] {
        assert!(!log.contains(secret), "a secret reached the server's log");
    }
    drop(smtp);
    let _ = std::fs::remove_dir_all(&root);
}

/// A channel whose secret file is missing stops the start with the option and the fix.
#[test]
fn a_missing_secret_file_stops_the_start() {
    let root = std::env::temp_dir().join(format!("consort-alerts-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let config = root.join("consort.toml");
    std::fs::write(
        &config,
        r#"
[[alerts.webhook]]
name = "hook"
url = "http://127.0.0.1:9/hook"
secret_file = "/nonexistent/hook.secret"

[[alerts.rule]]
events = ["failure"]
channels = ["hook"]
"#,
    )
    .unwrap();
    let out = consort()
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(root.join("data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("alerts.webhook.secret_file of webhook hook") && err.contains("/nonexistent/hook.secret"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&root);
}
