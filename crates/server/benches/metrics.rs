//! What a Prometheus scrape costs: p50/p99 latency of `GET /metrics` with 1,000 triggers in
//! the store, beside `GET /health` (the floor: the same socket, layers and token check
//! minus the encoding) in the same run.
//!
//! One SQLite store (in memory) with 1,000 noop jobs, each with a cron trigger firing once a
//! minute at its own second (about 17 fires a second), the scheduler's driver running and
//! reporting to the metrics, so the scrape encodes populated families (fires, lateness,
//! cycles, runs) while the driver works beside it. Before timing, requests to every
//! scheduler route shape fill the HTTP family with a realistic number of series. Then
//! `CONSORT_BENCH_SCRAPES` (1000) scrapes and as many `/health` calls, interleaved, on one
//! keep-alive HTTP/1.1 connection to `consort_server::serve` on 127.0.0.1, with a viewer
//! token (the role a Prometheus token gets). Latency is request sent → body read.
//!
//! `scripts/bench metrics`. Ends with one `metrics: …` line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use consort_auth::{NewToken, Role, RoleSet, token};
use consort_scheduler::{Job, JobKey, Kinds, Schedule, Scheduler, SchedulerConfig, Trigger, TriggerKey};
use consort_server::auth::{AuthSettings, Guard};
use consort_server::metrics_api::Metrics;
use consort_server::{AppState, ListenerSettings, router};
use http_body_util::BodyExt;

const TRIGGERS: usize = 1000;

type Sender = hyper::client::conn::http1::SendRequest<Body>;

async fn get(sender: &mut Sender, uri: &str, authorization: &HeaderValue) -> (u64, usize) {
    let started = Instant::now();
    let request = Request::get(uri)
        .header(header::HOST, "127.0.0.1")
        .header(header::AUTHORIZATION, authorization.clone())
        .body(Body::empty())
        .unwrap();
    sender.ready().await.unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let ns = started.elapsed().as_nanos() as u64;
    assert!(status == StatusCode::OK || status == StatusCode::NOT_FOUND, "{uri}: {status}");
    (ns, body.len())
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1e6
}

fn main() {
    let scrapes: usize = std::env::var("CONSORT_BENCH_SCRAPES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        let stores = consort_store::open_all("sqlite::memory:").await.unwrap();
        let scheduler =
            Arc::new(Scheduler::new(stores.scheduler.clone(), Kinds::builtin(), SchedulerConfig::new("bench")));
        let metrics = Arc::new(Metrics::new());
        scheduler.set_observer(metrics.clone());
        let now_ms = jiff::Timestamp::now().as_millisecond();
        for i in 0..TRIGGERS {
            let job_key = JobKey::new("bench", format!("job-{i:04}")).unwrap();
            let schedule = Schedule::cron(&format!("{} * * * * ?", i % 60), "UTC").unwrap();
            let trigger =
                Trigger::new(TriggerKey::new("bench", format!("t-{i:04}")).unwrap(), job_key.clone(), schedule, now_ms);
            scheduler.create_job(&Job::new(job_key, "noop"), &[trigger]).await.unwrap();
        }
        scheduler.start().await.unwrap();

        let g = token::generate().unwrap();
        stores
            .auth
            .create_token(NewToken {
                id: g.id,
                hash: g.hash,
                name: "prometheus".into(),
                roles: RoleSet::of(Role::Viewer),
                created_ms: now_ms,
                expires_ms: None,
            })
            .await
            .unwrap();
        let authorization = HeaderValue::from_str(&format!("Bearer {}", g.secret)).unwrap();
        let settings = AuthSettings { rate_per_sec: u32::MAX, rate_burst: u32::MAX, ..AuthSettings::default() };
        let guard = Guard::new(settings, stores.auth.clone(), None);
        let mut state = AppState::new(scheduler.clone(), guard);
        state.metrics = metrics;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(consort_server::serve(
            listener,
            router(state),
            ListenerSettings::default(),
            std::future::pending(),
        ));
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
        tokio::spawn(connection);

        // Series for the HTTP family: reads on every scheduler route shape, some of them 404s.
        for uri in [
            "/v1/scheduler/jobs",
            "/v1/scheduler/triggers",
            "/v1/scheduler/runs?limit=10",
            "/v1/scheduler/instances",
            "/v1/scheduler/jobs/bench/job-0001",
            "/v1/scheduler/jobs/bench/missing",
            "/v1/scheduler/triggers/bench/t-0001",
            "/v1/status/running",
            "/v1/status/jobs/bench/job-0001",
            "/health",
            "/openapi.json",
        ] {
            for _ in 0..5 {
                get(&mut sender, uri, &authorization).await;
            }
        }
        // Let fires happen so their families hold samples.
        tokio::time::sleep(Duration::from_secs(3)).await;
        for _ in 0..20 {
            get(&mut sender, "/metrics", &authorization).await;
            get(&mut sender, "/health", &authorization).await;
        }

        let (mut scrape_ns, mut health_ns) = (Vec::with_capacity(scrapes), Vec::with_capacity(scrapes));
        let mut bytes = 0;
        for _ in 0..scrapes {
            let (ns, len) = get(&mut sender, "/metrics", &authorization).await;
            scrape_ns.push(ns);
            bytes = len;
            health_ns.push(get(&mut sender, "/health", &authorization).await.0);
        }
        let fired = scheduler.stats().fired;
        scheduler.stop().await.unwrap();
        scrape_ns.sort_unstable();
        health_ns.sort_unstable();
        let (p50, p99) = (percentile(&scrape_ns, 0.50), percentile(&scrape_ns, 0.99));
        let (h50, h99) = (percentile(&health_ns, 0.50), percentile(&health_ns, 0.99));
        println!(
            "GET /metrics  ({bytes} bytes): p50 {p50:.3} ms, p99 {p99:.3} ms, max {:.3} ms",
            percentile(&scrape_ns, 1.0)
        );
        println!("GET /health   (the floor):  p50 {h50:.3} ms, p99 {h99:.3} ms");
        println!(
            "metrics: triggers={TRIGGERS} scrapes={scrapes} fired_during={fired} bytes={bytes} scrape_p50_ms={p50:.3} \
             scrape_p99_ms={p99:.3} health_p50_ms={h50:.3} health_p99_ms={h99:.3} ratio_p50={:.1}",
            p50 / h50
        );
    });
}
