//! `/metrics`: Prometheus metrics in the OpenMetrics text format, encoded by
//! `prometheus-client` (the Prometheus project's Rust client), never by hand.
//!
//! [`Metrics`] owns the registry. The scheduler reports to it through
//! `consort_scheduler::SchedulerObserver` (fires, lateness, misfires, cycles, runs' ends), the
//! `spark` kind through `consort_spark::SubmitObserver` (wired by `consort serve`), and the
//! HTTP layer through [`layer`] (requests by matched route and status; clean-room governance
//! decisions by route and outcome). Ledger sizes are read from the store at scrape time. The
//! route reads like any other (role viewer or above; see `docs/observability.md`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use consort_scheduler::{RunState, SchedulerObserver};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use opentelemetry::trace::TraceContextExt;
use tracing::Instrument;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::AppState;
use crate::error::ApiError;
use crate::request_log::RequestSpan;

/// The exposition's content type (OpenMetrics 1.0, which Prometheus scrapes natively).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Most clean rooms whose ledger size a scrape reads; beyond it the rest are left out (and
/// `consort_ledger_cleanrooms_unreported` says how many), so a scrape stays fast.
pub const MAX_LEDGERS_PER_SCRAPE: usize = 1000;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    kind: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SubmitLabels {
    backend: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CycleLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    decision: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CleanRoomLabels {
    cleanroom: String,
}

/// Every metric consort exports, and the registry they are encoded from.
pub struct Metrics {
    registry: Registry,
    fires: Family<KindLabels, Counter>,
    fire_lateness: Histogram,
    misfires: Counter,
    runs: Family<RunLabels, Counter>,
    cycles: Family<CycleLabels, Histogram>,
    spark_submissions: Family<SubmitLabels, Histogram>,
    http_requests: Family<HttpLabels, Counter>,
    governance: Family<DecisionLabels, Counter>,
    ledger_entries: Family<CleanRoomLabels, Gauge>,
    ledgers_unreported: Gauge,
    /// One scrape at a time refreshes the ledger gauges.
    scrape: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn lateness_buckets() -> Histogram {
    // 1 ms … 60 s: a healthy scheduler fires within milliseconds; a minute is a misfire.
    Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0])
}

fn cycle_buckets() -> Histogram {
    // 0.25 ms … 4 s: a cycle is one transaction, SQLite in well under a millisecond.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.00025, 2.0, 15))
}

fn submit_buckets() -> Histogram {
    // 10 ms … 80 s: a REST submission takes milliseconds, `spark-submit` on YARN seconds.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.01, 2.0, 14))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("consort");
        let fires = Family::<KindLabels, Counter>::default();
        registry.register("scheduler_fires", "Runs fired by this instance, by job kind", fires.clone());
        let fire_lateness = lateness_buckets();
        registry.register_with_unit(
            "scheduler_fire_lateness",
            "How long after its scheduled time a run was fired",
            Unit::Seconds,
            fire_lateness.clone(),
        );
        let misfires = Counter::default();
        registry.register(
            "scheduler_misfires",
            "Triggers whose misfire instruction this instance applied",
            misfires.clone(),
        );
        let runs = Family::<RunLabels, Counter>::default();
        registry.register(
            "scheduler_runs",
            "Runs this instance executed that ended, by job kind and outcome (SUCCEEDED, FAILED)",
            runs.clone(),
        );
        let cycles = Family::<CycleLabels, Histogram>::new_with_constructor(cycle_buckets as fn() -> Histogram);
        registry.register_with_unit(
            "scheduler_cycle",
            "Store cycles of the driver (record ends, misfires, acquire, fire in one transaction), by outcome",
            Unit::Seconds,
            cycles.clone(),
        );
        let spark_submissions =
            Family::<SubmitLabels, Histogram>::new_with_constructor(submit_buckets as fn() -> Histogram);
        registry.register_with_unit(
            "spark_submission",
            "How long a Spark backend took to accept (or refuse) a submission, by backend and outcome",
            Unit::Seconds,
            spark_submissions.clone(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered on a route, by method, route template and status",
            http_requests.clone(),
        );
        let governance = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "governance_decisions",
            "Clean-room governance requests decided, by decision (proposal, vote, release, ...) and outcome \
             (granted, refused)",
            governance.clone(),
        );
        let ledger_entries = Family::<CleanRoomLabels, Gauge>::default();
        registry.register(
            "ledger_entries",
            "Entries in each clean room's ledger, read at scrape time",
            ledger_entries.clone(),
        );
        let ledgers_unreported = Gauge::default();
        registry.register(
            "ledger_cleanrooms_unreported",
            "Clean rooms past the per-scrape limit whose ledger size was not read",
            ledgers_unreported.clone(),
        );
        Metrics {
            registry,
            fires,
            fire_lateness,
            misfires,
            runs,
            cycles,
            spark_submissions,
            http_requests,
            governance,
            ledger_entries,
            ledgers_unreported,
            scrape: tokio::sync::Mutex::new(()),
        }
    }

    /// Records one Spark submission (`consort_spark::SubmitObserver`'s signature).
    pub fn spark_submitted(&self, backend: &str, elapsed: Duration, accepted: bool) {
        let outcome = if accepted { "accepted" } else { "refused" };
        self.spark_submissions
            .get_or_create(&SubmitLabels { backend: backend.to_string(), outcome: outcome.into() })
            .observe(elapsed.as_secs_f64());
    }

    fn request(&self, method: &Method, route: &str, status: u16) {
        self.http_requests
            .get_or_create(&HttpLabels { method: method.to_string(), route: route.to_string(), status })
            .inc();
        if let Some(decision) = governance_decision(method, route)
            && let Some(outcome) = decision_outcome(status)
        {
            self.governance.get_or_create(&DecisionLabels { decision: decision.into(), outcome: outcome.into() }).inc();
        }
    }

    /// The exposition: every metric, the ledger sizes read from `state`'s clean rooms first.
    pub async fn encode(&self, state: &AppState) -> Result<String, ApiError> {
        let _one = self.scrape.lock().await;
        if let Some(area) = &state.cleanrooms {
            let cleanrooms = area.governance.cleanrooms().await.map_err(|e| ApiError::Internal {
                cause: format!("listing clean rooms for the ledger metrics: {e}"),
            })?;
            self.ledger_entries.clear();
            for name in cleanrooms.iter().take(MAX_LEDGERS_PER_SCRAPE) {
                let size = area
                    .ledger_store
                    .size(name)
                    .await
                    .map_err(|e| ApiError::Internal { cause: format!("reading the ledger size of {name}: {e}") })?;
                self.ledger_entries
                    .get_or_create(&CleanRoomLabels { cleanroom: name.clone() })
                    .set(i64::try_from(size).unwrap_or(i64::MAX));
            }
            self.ledgers_unreported.set(cleanrooms.len().saturating_sub(MAX_LEDGERS_PER_SCRAPE) as i64);
        }
        let mut text = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .map_err(|e| ApiError::Internal { cause: format!("encoding the metrics: {e}") })?;
        Ok(text)
    }
}

impl SchedulerObserver for Metrics {
    fn fired(&self, kind: &str, late_ms: i64) {
        self.fires.get_or_create(&KindLabels { kind: kind.to_string() }).inc();
        self.fire_lateness.observe(late_ms.max(0) as f64 / 1000.0);
    }

    fn misfired(&self, count: usize) {
        self.misfires.inc_by(count as u64);
    }

    fn cycle(&self, elapsed: Duration, ok: bool) {
        let outcome = if ok { "ok" } else { "failed" };
        self.cycles.get_or_create(&CycleLabels { outcome: outcome.into() }).observe(elapsed.as_secs_f64());
    }

    fn run_ended(&self, kind: &str, state: RunState) {
        self.runs.get_or_create(&RunLabels { kind: kind.to_string(), outcome: state.as_str().to_string() }).inc();
    }
}

/// Which governance decision a clean-room write asks for, from its route template; `None` for
/// reads and for routes that decide nothing (documents written, secrets stored).
fn governance_decision(method: &Method, route: &str) -> Option<&'static str> {
    if matches!(*method, Method::GET | Method::HEAD) || !route.starts_with("/v1/cleanrooms/") {
        return None;
    }
    let table: &[(&str, &str)] = &[
        ("/proposals", "proposal"),
        ("/proposals/{id}/ballots", "vote"),
        ("/proposals/{id}/withdraw", "withdrawal"),
        ("/documents/{id}/propose", "document_proposal"),
        ("/documents/{id}/ballots", "document_vote"),
        ("/consent/{kind}/{id}/{option}", "consent"),
        ("/documents/{id}/approval", "approval"),
        ("/grants/secrets", "secret_grant"),
        ("/grants/tokens", "token_grant"),
        ("/secrets/{name}/release", "release"),
        ("/runs/{run}/runner/secrets/{name}", "release"),
        ("/runs/{run}/runner/attest", "attestation"),
        ("/queries/{id}/run", "run"),
        ("/oidc/token", "token"),
    ];
    table.iter().find(|(suffix, _)| route.ends_with(suffix)).map(|(_, decision)| *decision)
}

/// Granted (2xx) or refused by governance (400 a request it will not take, 403 a member or
/// user not allowed, 409 a stale or conflicting state); other statuses are no decision (the
/// security layer's 401/413/429, a missing clean room, a failure).
fn decision_outcome(status: u16) -> Option<&'static str> {
    match status {
        200..=299 => Some("granted"),
        400 | 403 | 409 | 422 => Some("refused"),
        _ => None,
    }
}

/// Counts every answered request on a matched route (installed with `route_layer` outside
/// the security layer, so its refusals are counted too).
pub async fn layer(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    // Only here is the route template known: the request's span (a trace's server span) is
    // named after it, never after the path with its ids.
    if let (Some(route), Some(RequestSpan(span))) = (&route, request.extensions().get::<RequestSpan>()) {
        span.record("http.route", route.as_str());
        // An exported span is started when first entered, so its name is changed on the span.
        span.context().span().update_name(format!("{method} {route}"));
    }
    let decision = route.as_deref().and_then(|route| governance_decision(&method, route));
    let response = match decision {
        Some(decision) => {
            let span = tracing::info_span!(
                "governance decision",
                decision,
                outcome = Empty,
                http.response.status_code = Empty
            );
            let response = next.run(request).instrument(span.clone()).await;
            let status = response.status().as_u16();
            span.record("http.response.status_code", i64::from(status));
            span.record("outcome", decision_outcome(status).unwrap_or("not decided"));
            response
        }
        None => next.run(request).await,
    };
    if let Some(route) = route {
        metrics.request(&method, &route, response.status().as_u16());
    }
    response
}

/// Prometheus metrics (OpenMetrics text): fires, fire lateness, misfires, runs by kind and
/// outcome, store cycle time, Spark submission latency, HTTP requests by route and status,
/// clean-room governance decisions, ledger sizes. Role viewer or above.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "meta",
    responses(
        (status = 200, description = "The metrics, in the OpenMetrics 1.0 text format (see docs/observability.md).",
            body = String, content_type = "application/openmetrics-text"),
    )
)]
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let started = Instant::now();
    let text = state.metrics.encode(&state).await?;
    tracing::debug!(bytes = text.len(), elapsed_us = started.elapsed().as_micros() as u64, "metrics scraped");
    let mut response = text.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn governance_routes_are_classified() {
        let post = Method::POST;
        assert_eq!(governance_decision(&post, "/v1/cleanrooms/{cleanroom}/proposals"), Some("proposal"));
        assert_eq!(governance_decision(&post, "/v1/cleanrooms/{cleanroom}/proposals/{id}/ballots"), Some("vote"));
        assert_eq!(governance_decision(&post, "/v1/cleanrooms/{cleanroom}/secrets/{name}/release"), Some("release"));
        assert_eq!(governance_decision(&Method::GET, "/v1/cleanrooms/{cleanroom}/proposals"), None);
        assert_eq!(governance_decision(&post, "/v1/scheduler/jobs/{group}/{name}/fire"), None);
        assert_eq!(decision_outcome(201), Some("granted"));
        assert_eq!(decision_outcome(403), Some("refused"));
        assert_eq!(decision_outcome(401), None);
    }

    #[tokio::test]
    async fn observed_events_move_their_metrics() {
        let m = Metrics::new();
        m.fired("noop", 12);
        m.run_ended("noop", RunState::Succeeded);
        m.misfired(3);
        m.cycle(Duration::from_micros(300), true);
        m.spark_submitted("local", Duration::from_millis(40), true);
        m.request(&Method::POST, "/v1/cleanrooms/{cleanroom}/proposals/{id}/ballots", 403);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &m.registry).unwrap();
        for line in [
            "consort_scheduler_fires_total{kind=\"noop\"} 1",
            "consort_scheduler_runs_total{kind=\"noop\",outcome=\"SUCCEEDED\"} 1",
            "consort_scheduler_misfires_total 3",
            "consort_scheduler_fire_lateness_seconds_count 1",
            "consort_spark_submission_seconds_count{backend=\"local\",outcome=\"accepted\"} 1",
            "consort_governance_decisions_total{decision=\"vote\",outcome=\"refused\"} 1",
            "# EOF",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
