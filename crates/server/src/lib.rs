//! consort's HTTP API.
//!
//! [`router`] builds the whole application as an axum `Router`; [`serve`] runs it
//! on a listener until a shutdown signal. Handlers are thin: they turn requests
//! into calls on the domain crates and domain results into the JSON shapes
//! defined here (domain types are never serialised directly).
//!
//! Middleware, outermost first: request tracing (one span per request), then, on
//! every matched route, the security layer ([`auth::layer`]: body size, authentication,
//! rate, role, time-out, audit).

pub mod auth;
mod cron_api;
mod error;
mod listener;
pub mod openapi;
mod scheduler_api;
mod tokens_api;

use std::future::Future;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::{Json, Router};
use consort_scheduler::Scheduler;
use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::auth::Guard;

pub use cron_api::{MAX_COUNT, parse_instant};
pub use error::ApiError;
pub use listener::{ClientCertificate, ListenerSettings, TlsError, TlsSettings, load_tls};

/// Shared state handed to every handler.
#[derive(Clone)]
pub struct AppState {
    /// The current time. Injected so tests control it.
    pub clock: Arc<dyn Fn() -> Timestamp + Send + Sync>,
    /// The scheduler (its driver may or may not be running).
    pub scheduler: Arc<Scheduler>,
    /// Authentication, authorisation, rate limits and the audit trail.
    pub guard: Arc<Guard>,
    /// Whether jobs of the `command` kind may be created (`jobs.command_kind`).
    pub command_kind: bool,
}

impl AppState {
    /// State for a real server: the system clock, the `command` kind off.
    pub fn new(scheduler: Arc<Scheduler>, guard: Arc<Guard>) -> Self {
        AppState { clock: Arc::new(Timestamp::now), scheduler, guard, command_kind: false }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// The complete application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .route("/v1/cron/next", get(cron_api::next))
        .route("/v1/cron/explain", get(cron_api::explain))
        .route("/v1/scheduler/jobs", get(scheduler_api::list_jobs))
        .route(
            "/v1/scheduler/jobs/{group}/{name}",
            get(scheduler_api::get_job).put(scheduler_api::put_job).delete(scheduler_api::delete_job),
        )
        .route("/v1/scheduler/jobs/{group}/{name}/fire", post(scheduler_api::fire_job))
        .route("/v1/scheduler/jobs/{group}/{name}/pause", post(scheduler_api::pause_job))
        .route("/v1/scheduler/jobs/{group}/{name}/resume", post(scheduler_api::resume_job))
        .route("/v1/scheduler/job-groups/{group}/pause", post(scheduler_api::pause_job_group))
        .route("/v1/scheduler/job-groups/{group}/resume", post(scheduler_api::resume_job_group))
        .route("/v1/scheduler/triggers", get(scheduler_api::list_triggers))
        .route(
            "/v1/scheduler/triggers/{group}/{name}",
            get(scheduler_api::get_trigger).put(scheduler_api::put_trigger).delete(scheduler_api::delete_trigger),
        )
        .route("/v1/scheduler/triggers/{group}/{name}/pause", post(scheduler_api::pause_trigger))
        .route("/v1/scheduler/triggers/{group}/{name}/resume", post(scheduler_api::resume_trigger))
        .route("/v1/scheduler/trigger-groups/{group}/pause", post(scheduler_api::pause_trigger_group))
        .route("/v1/scheduler/trigger-groups/{group}/resume", post(scheduler_api::resume_trigger_group))
        .route("/v1/scheduler/runs", get(scheduler_api::list_runs))
        .route("/v1/scheduler/runs/{id}", get(scheduler_api::get_run))
        .route("/v1/scheduler/runs/{id}/log", get(scheduler_api::run_log))
        .route("/v1/scheduler/runs/{id}/kill", post(scheduler_api::kill_run))
        .route("/v1/scheduler/instances", get(scheduler_api::instances))
        .route("/v1/tokens", get(tokens_api::list).post(tokens_api::create))
        .route("/v1/tokens/{id}/revoke", post(tokens_api::revoke))
        .route("/v1/audit", get(tokens_api::audit))
        .route_layer(axum::middleware::from_fn_with_state(state.guard.clone(), auth::layer))
        .fallback(not_found)
        .with_state(state)
        .layer(TraceLayer::new_for_http())
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

async fn openapi() -> Json<Value> {
    Json(openapi::document())
}

async fn not_found(uri: axum::http::Uri) -> (axum::http::StatusCode, Json<Value>) {
    (
        axum::http::StatusCode::NOT_FOUND,
        Json(
            json!({"error": {"code": "not_found", "message": format!("no route for {}; /openapi.json lists every route", uri.path())}}),
        ),
    )
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting
/// and lets in-flight requests finish. Plain HTTP or TLS (optionally mutual) as
/// `settings` say; every request carries `ConnectInfo<SocketAddr>` and, for a
/// verified client certificate, [`ClientCertificate`]. See `listener.rs`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: ListenerSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener::serve(listener, router, settings, shutdown).await
}
