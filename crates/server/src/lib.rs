//! consort's HTTP API.
//!
//! [`router`] builds the whole application as an axum `Router`; [`serve`] runs it
//! on a listener until a shutdown signal. Handlers are thin: they turn requests
//! into calls on the domain crates and domain results into the JSON shapes
//! defined here (domain types are never serialised directly).
//!
//! Middleware, outermost first: the request id and its span ([`request_log`]), request
//! tracing, then
//! [`error::error_shape`] (a bare error status from axum itself, such as 405, gets the API's
//! JSON error body), then the request body limit, then, on every matched route, the security
//! layer ([`auth::layer`]: body size, authentication, rate, role, time-out, audit), with
//! [`metrics_api::layer`] just outside it counting every answer by route and status. The
//! dashboard's static files ([`dashboard`]) are merged outside both: they hold no data.

mod access_api;
pub mod auth;
mod cleanroom_api;
mod cron_api;
pub mod dashboard;
mod docs_api;
pub mod error;
mod ledger_api;
mod listener;
pub mod metrics_api;
pub mod openapi;
mod provisioner_api;
mod release_api;
pub mod request_log;
mod run_api;
mod scheduler_api;
mod session_api;
pub mod status_api;
mod tokens_api;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use consort_provisioner::ProvisionerStore;
use consort_scheduler::Scheduler;
use jiff::Timestamp;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::auth::Guard;

pub use cleanroom_api::{COSE_CONTENT_TYPE, CleanRoomArea};
pub use cron_api::{MAX_COUNT, MAX_CRON_LEN, MAX_ZONE_LEN, parse_instant};
pub use error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody, ErrorDetail, MAX_BODY_BYTES, OptionalApiJson};
pub use listener::{ClientCertificate, ListenerSettings, TlsError, TlsSettings, load_tls};
pub use provisioner_api::{ProvisionerArea, fail_orphaned_tasks};
pub use scheduler_api::{
    DEFAULT_PAGE, MAX_DATA_BYTES, MAX_DATA_DEPTH, MAX_DESCRIPTION_LEN, MAX_INTERVAL_MS, MAX_KIND_LEN, MAX_LOG_BYTES,
    MAX_PAGE, MAX_TRIGGERS_PER_JOB,
};

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
    /// Provisioned components (which job each became, its access list); `None` on a server
    /// without the provisioner area.
    pub components: Option<Arc<dyn ProvisionerStore>>,
    /// The Witboost provisioner endpoints' dependencies; `None` answers them with a
    /// `SystemError` saying the area is not wired.
    pub provisioner: Option<Arc<ProvisionerArea>>,
    /// The clean rooms' governance; `None` answers its endpoints 404.
    pub cleanrooms: Option<Arc<CleanRoomArea>>,
    /// The Prometheus registry `/metrics` encodes (the scheduler and Spark report to it too).
    pub metrics: Arc<metrics_api::Metrics>,
}

impl AppState {
    /// State for a real server: the system clock, the `command` kind off.
    pub fn new(scheduler: Arc<Scheduler>, guard: Arc<Guard>) -> Self {
        AppState {
            clock: Arc::new(Timestamp::now),
            scheduler,
            guard,
            command_kind: false,
            components: None,
            provisioner: None,
            cleanrooms: None,
            metrics: Arc::new(metrics_api::Metrics::new()),
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// The complete application: the documented routes ([`openapi::routes`]), a 404 in the error
/// shape for any other path, and the middleware above.
pub fn router(state: AppState) -> Router {
    let (routes, _) = openapi::routes().split_for_parts();
    access_api::install(&state);
    let body_limit = state.guard.max_body_bytes();
    routes
        .route_layer(axum::middleware::from_fn_with_state(state.guard.clone(), auth::layer))
        .route_layer(axum::middleware::from_fn_with_state(state.metrics.clone(), metrics_api::layer))
        .merge(dashboard::assets())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
        .layer(axum::middleware::from_fn(error::error_shape))
        .layer(TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn(request_log::layer))
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound { message: format!("no route for {}; /openapi.json lists every route", uri.path()) }
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
