//! How soon an alert leaves after its run ends: the time from a failing run's end (the
//! instant its job kind returns) to the alert's arrival at a webhook receiver (axum, on
//! 127.0.0.1) and at an SMTP server (Python's aiosmtpd, from `scripts/setup.d/50-smtp.sh`,
//! which prints a line per message received). Target: within 1 s.
//!
//! The real path end to end: the scheduler's driver on a SQLite store (in memory), the
//! `Alerter` installed as its observer exactly as `consort serve` does it, one `[alerts]` rule
//! sending `failure` to a webhook (signed) and to e-mail (SMTP login, no TLS on loopback).
//! Runs are fired one after the other with `fire_now`; each waits for both deliveries.
//! `CONSORT_BENCH_ALERTS` (200) sets how many.
//!
//! `scripts/bench alerts`. Ends with one `alerts: …` line.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use consort_config::{AlertSettings, EmailChannel, SmtpTls, WebhookChannel};
use consort_scheduler::{DataMap, Job, JobKey, JobKind, Kinds, Outcome, RunContext, Scheduler, SchedulerConfig};

/// When each run's kind returned, by run id.
type Ends = Arc<Mutex<HashMap<i64, Instant>>>;

/// A kind that fails at once and notes when.
#[derive(Debug)]
struct FailNow(Ends);

#[async_trait]
impl JobKind for FailNow {
    fn name(&self) -> &str {
        "fail-now"
    }

    async fn execute(&self, context: RunContext) -> Outcome {
        self.0.lock().unwrap().insert(context.run_id, Instant::now());
        Outcome::failed("failed on purpose")
    }
}

/// Arrivals by run id: (webhook, mail).
type Arrivals = Arc<Mutex<HashMap<i64, (Option<Instant>, Option<Instant>)>>>;

const SMTP_SCRIPT: &str = r#"
import logging, sys, warnings
warnings.simplefilter("ignore")  # AUTH without TLS is the point of a loopback test server
logging.disable(logging.CRITICAL)
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
class Tell:
    async def handle_DATA(self, server, session, envelope):
        subject = [l for l in envelope.content.decode().splitlines() if l.startswith("Subject: ")][0]
        print(subject, flush=True)
        return "250 OK"
def login(server, session, envelope, mechanism, data):
    return AuthResult(success=isinstance(data, LoginPassword) and data.password == b"bench-password")
c = Controller(Tell(), hostname="127.0.0.1", port=int(sys.argv[1]), authenticator=login,
               auth_required=True, auth_require_tls=False)
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
"#;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The run id in a subject `[consort] failure: bench.fails run N failed`.
fn run_in(text: &str) -> Option<i64> {
    text.split(" run ").nth(1)?.split_whitespace().next()?.parse().ok()
}

fn main() {
    let count: usize = std::env::var("CONSORT_BENCH_ALERTS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let dir = std::env::temp_dir().join(format!("consort-bench-alerts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("secret"), "bench-secret").unwrap();
    std::fs::write(dir.join("password"), "bench-password").unwrap();
    let (secret_file, password_file) = (dir.join("secret"), dir.join("password"));
    let arrivals: Arrivals = Arc::default();

    // The SMTP server, and a thread noting each message's arrival.
    let cache = std::env::var("CONSORT_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/consort"));
    let python = cache.join("venvs/smtp/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/setup (50-smtp.sh)", python.display());
    let smtp_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut smtp = Command::new(python)
        .args(["-c", SMTP_SCRIPT, &smtp_port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(smtp.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let mail_arrivals = arrivals.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let at = Instant::now();
            if let Some(run) = run_in(&line) {
                mail_arrivals.lock().unwrap().entry(run).or_default().1 = Some(at);
            }
        }
    });

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        // The webhook receiver.
        let hook_arrivals = arrivals.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: axum::body::Bytes| {
                let arrivals = hook_arrivals.clone();
                async move {
                    let at = Instant::now();
                    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    if let Some(run) = body["run_id"].as_i64() {
                        arrivals.lock().unwrap().entry(run).or_default().0 = Some(at);
                    }
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hook_port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });

        let ends: Ends = Arc::default();
        let mut kinds = Kinds::empty();
        kinds.register(Arc::new(FailNow(ends.clone())));
        let stores = consort_store::open_all("sqlite::memory:").await.unwrap();
        let scheduler = Arc::new(Scheduler::new(stores.scheduler.clone(), kinds, SchedulerConfig::new("bench")));
        let settings = AlertSettings {
            webhooks: vec![WebhookChannel {
                name: "hook".into(),
                url: format!("http://127.0.0.1:{hook_port}/hook"),
                secret_file,
                timeout_secs: 10,
            }],
            emails: vec![EmailChannel {
                name: "mail".into(),
                smtp_host: "127.0.0.1".into(),
                smtp_port: Some(smtp_port),
                tls: SmtpTls::None,
                username: Some("consort".into()),
                password_file: Some(password_file),
                from: "consort@example.com".into(),
                to: vec!["ops@example.com".into()],
                timeout_secs: 10,
            }],
            rules: vec![
                consort_alerts::Rule::new(
                    consort_alerts::Scope::Server,
                    vec![consort_alerts::Event::Failure],
                    vec!["hook".into(), "mail".into()],
                    None,
                )
                .unwrap(),
            ],
            backoff: consort_alerts::Backoff::default(),
        };
        let alerter = consort_runtime::alerts::Alerter::start(&settings, "bench", stores.scheduler.clone())
            .unwrap()
            .expect("a rule, so an alerter");
        scheduler.set_observer(alerter);
        let job = JobKey::new("bench", "fails").unwrap();
        scheduler.create_job(&Job::new(job.clone(), "fail-now").with_durable(true), &[]).await.unwrap();
        scheduler.start().await.unwrap();

        let (mut webhook_ms, mut mail_ms) = (Vec::with_capacity(count), Vec::with_capacity(count));
        let started = Instant::now();
        for _ in 0..count {
            let before = ends.lock().unwrap().len();
            scheduler.fire_now(&job, DataMap::new()).await.unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            let (run, end) = loop {
                let found = {
                    let ends = ends.lock().unwrap();
                    (ends.len() > before).then(|| ends.iter().max_by_key(|(id, _)| **id).map(|(id, at)| (*id, *at)))
                };
                if let Some(Some(found)) = found {
                    break found;
                }
                assert!(Instant::now() < deadline, "the run never executed");
                tokio::time::sleep(Duration::from_millis(1)).await;
            };
            let (hook, mail) = loop {
                let seen = arrivals.lock().unwrap().get(&run).copied();
                if let Some((Some(hook), Some(mail))) = seen {
                    break (hook, mail);
                }
                assert!(Instant::now() < deadline, "run {run}'s alerts never arrived: {seen:?}");
                tokio::time::sleep(Duration::from_millis(1)).await;
            };
            webhook_ms.push(hook.duration_since(end).as_secs_f64() * 1e3);
            mail_ms.push(mail.duration_since(end).as_secs_f64() * 1e3);
        }
        let elapsed = started.elapsed();
        let _ = scheduler.stop().await;
        webhook_ms.sort_by(f64::total_cmp);
        mail_ms.sort_by(f64::total_cmp);
        println!(
            "alerts: runs={count} webhook_p50_ms={:.2} webhook_p99_ms={:.2} webhook_max_ms={:.2} mail_p50_ms={:.2} mail_p99_ms={:.2} mail_max_ms={:.2} elapsed_s={:.1}",
            percentile(&webhook_ms, 0.5),
            percentile(&webhook_ms, 0.99),
            webhook_ms[webhook_ms.len() - 1],
            percentile(&mail_ms, 0.5),
            percentile(&mail_ms, 0.99),
            mail_ms[mail_ms.len() - 1],
            elapsed.as_secs_f64(),
        );
    });
    drop(smtp.stdin.take());
    let _ = smtp.kill();
    let _ = smtp.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
