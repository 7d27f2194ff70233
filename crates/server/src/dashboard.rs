//! The web dashboard: its static assets, built into the binary, and the one aggregate it needs
//! that the rest of the API lacks (runs per hour by outcome, with lateness).
//!
//! The assets (`crates/server/assets/dashboard/`, plain HTML, CSS and ES modules, no build
//! step) are public: they hold no data. Every datum the page shows comes from the
//! authenticated API with the bearer token the user signs in with. They are answered with a
//! strict Content-Security-Policy (scripts only from this origin, no inline script or style,
//! no framing) and revalidated by `ETag` (`no-cache`), so a new binary's page is used at once.
//! See `docs/dashboard.md`.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use consort_scheduler::{RunHistoryBucket, RunState};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::{ApiError, ApiQuery, ErrorBody};
use crate::scheduler_api::time;

/// Where the dashboard is served.
pub const UI_PREFIX: &str = "/ui/";

/// The policy every asset is answered with: nothing but this origin's own files and API.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The most hours the run-history chart covers (one week).
pub const MAX_HISTORY_HOURS: u32 = 168;
/// One bucket of the chart.
const HOUR_MS: i64 = 3_600_000;

/// (file name, content type, bytes) of every asset.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("index.html", "text/html; charset=utf-8", include_bytes!("../assets/dashboard/index.html")),
    ("style.css", "text/css; charset=utf-8", include_bytes!("../assets/dashboard/style.css")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../assets/dashboard/app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_bytes!("../assets/dashboard/api.js")),
    ("dom.js", "text/javascript; charset=utf-8", include_bytes!("../assets/dashboard/dom.js")),
    ("jobs.js", "text/javascript; charset=utf-8", include_bytes!("../assets/dashboard/jobs.js")),
    ("runs.js", "text/javascript; charset=utf-8", include_bytes!("../assets/dashboard/runs.js")),
    ("cluster.js", "text/javascript; charset=utf-8", include_bytes!("../assets/dashboard/cluster.js")),
    ("chart.js", "text/javascript; charset=utf-8", include_bytes!("../assets/dashboard/chart.js")),
    ("rooms.js", "text/javascript; charset=utf-8", include_bytes!("../assets/dashboard/rooms.js")),
    ("receipt.js", "text/javascript; charset=utf-8", include_bytes!("../assets/dashboard/receipt.js")),
    ("favicon.svg", "image/svg+xml", include_bytes!("../assets/dashboard/favicon.svg")),
];

/// The public routes of the dashboard: `/` redirects to it, `/ui/` is its page, `/ui/{file}`
/// its assets. Merged outside the security layer (they carry no data).
pub(crate) fn assets() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to(UI_PREFIX) }))
        .route("/ui", get(|| async { Redirect::to(UI_PREFIX) }))
        .route("/ui/", get(|headers: HeaderMap| async move { asset("index.html", &headers) }))
        .route("/ui/{file}", get(|Path(file): Path<String>, headers: HeaderMap| async move { asset(&file, &headers) }))
}

/// An asset's `ETag`: a hash of its bytes, quoted.
fn etag(index: usize) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    &TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|(_, _, bytes)| {
                let mut h = DefaultHasher::new();
                bytes.hash(&mut h);
                format!("\"{:016x}\"", h.finish())
            })
            .collect()
    })[index]
}

fn asset(file: &str, headers: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|(name, _, _)| *name == file) else {
        return ApiError::NotFound {
            message: format!("no dashboard file {file:?}; the dashboard starts at {UI_PREFIX}"),
        }
        .into_response();
    };
    let (_, content_type, bytes) = ASSETS[index];
    let tag = etag(index);
    let fresh = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v == tag);
    let mut response =
        if fresh { StatusCode::NOT_MODIFIED.into_response() } else { (StatusCode::OK, bytes).into_response() };
    let h = response.headers_mut();
    if !fresh {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    h.insert(header::ETAG, HeaderValue::from_static(tag));
    // Revalidate every time: the file names carry no version, and a 304 costs a round trip only.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

// ---- run history ---------------------------------------------------------------

/// Query of `GET /v1/dashboard/run-history`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryQuery {
    /// How many hours back, ending with the current hour.
    #[param(minimum = 1, maximum = 168, default = 24)]
    hours: Option<u32>,
}

/// Runs fired in one hour.
#[derive(Debug, Serialize, ToSchema, PartialEq)]
pub(crate) struct HourOfRuns {
    /// The hour's start.
    #[schema(format = DateTime)]
    start: String,
    /// Runs that ended well.
    succeeded: i64,
    /// Runs that ended badly (killed ones included).
    failed: i64,
    /// Runs whose instance died.
    abandoned: i64,
    /// Runs still executing.
    executing: i64,
    /// Mean lateness (fired minus scheduled) of the hour's runs, ms; null without runs.
    lateness_mean_ms: Option<i64>,
    /// Largest lateness of the hour's runs, ms; null without runs.
    lateness_max_ms: Option<i64>,
}

/// Runs per hour by outcome, with lateness, oldest hour first (every hour present).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunHistory {
    /// Start of the first hour.
    #[schema(format = DateTime)]
    from: String,
    /// End of the last hour (exclusive).
    #[schema(format = DateTime)]
    to: String,
    /// The hours.
    hours: Vec<HourOfRuns>,
}

/// Runs per hour by outcome and their lateness (fired minus scheduled), for the dashboard's
/// chart: counted in the database, never by reading the runs.
#[utoipa::path(
    get,
    path = "/v1/dashboard/run-history",
    operation_id = "runHistory",
    tag = "scheduler",
    params(HistoryQuery),
    responses(
        (status = 200, description = "One entry per hour, oldest first.", body = RunHistory),
        (status = 400, description = "`hours` is out of range; the message gives the range.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry.", body = ErrorBody),
    )
)]
pub(crate) async fn run_history(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<RunHistory>, ApiError> {
    let hours = q.hours.unwrap_or(24);
    if !(1..=MAX_HISTORY_HOURS).contains(&hours) {
        return Err(ApiError::bad_request(
            "invalid_hours",
            "hours",
            format!("`hours` is {hours}: give 1 to {MAX_HISTORY_HOURS} (a week), e.g. hours=24"),
        ));
    }
    let now_ms = (s.clock)().as_millisecond();
    let to_ms = (now_ms.div_euclid(HOUR_MS) + 1) * HOUR_MS;
    let from_ms = to_ms - i64::from(hours) * HOUR_MS;
    let buckets = s.scheduler.run_history(from_ms, to_ms, HOUR_MS).await?;
    Ok(Json(RunHistory { from: time(from_ms), to: time(to_ms), hours: hours_of(&buckets, from_ms, hours) }))
}

/// Every hour of the window, zero where the store had no runs.
fn hours_of(buckets: &[RunHistoryBucket], from_ms: i64, hours: u32) -> Vec<HourOfRuns> {
    (0..i64::from(hours))
        .map(|index| {
            let of_hour = buckets.iter().filter(|b| b.index == index);
            let count = |state: RunState| of_hour.clone().filter(|b| b.state == state).map(|b| b.runs).sum::<i64>();
            let runs: i64 = of_hour.clone().map(|b| b.runs).sum();
            let lateness_sum: i64 = of_hour.clone().map(|b| b.lateness_sum_ms).sum();
            HourOfRuns {
                start: time(from_ms + index * HOUR_MS),
                succeeded: count(RunState::Succeeded),
                failed: count(RunState::Failed),
                abandoned: count(RunState::Abandoned),
                executing: count(RunState::Executing),
                lateness_mean_ms: (runs > 0).then(|| lateness_sum / runs),
                lateness_max_ms: of_hour.map(|b| b.lateness_max_ms).max(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(index: i64, state: RunState, runs: i64, sum: i64, max: i64) -> RunHistoryBucket {
        RunHistoryBucket { index, state, runs, lateness_sum_ms: sum, lateness_max_ms: max }
    }

    #[test]
    fn every_hour_is_present_and_states_are_added_up() {
        let buckets = [
            bucket(0, RunState::Succeeded, 3, 30, 20),
            bucket(0, RunState::Failed, 1, 50, 50),
            bucket(2, RunState::Executing, 2, 0, 0),
        ];
        let hours = hours_of(&buckets, 0, 3);
        assert_eq!(hours.len(), 3);
        assert_eq!((hours[0].succeeded, hours[0].failed, hours[0].executing), (3, 1, 0));
        assert_eq!(hours[0].lateness_mean_ms, Some(20));
        assert_eq!(hours[0].lateness_max_ms, Some(50));
        assert_eq!(hours[1].lateness_mean_ms, None);
        assert_eq!(hours[1].start, "1970-01-01T01:00:00Z");
        assert_eq!(hours[2].executing, 2);
    }

    #[test]
    fn assets_are_all_served_with_the_policy() {
        for (name, content_type, _) in ASSETS {
            let response = asset(name, &HeaderMap::new());
            assert_eq!(response.status(), StatusCode::OK, "{name}");
            assert_eq!(response.headers()[header::CONTENT_TYPE], *content_type);
            assert_eq!(response.headers()[header::CONTENT_SECURITY_POLICY], CONTENT_SECURITY_POLICY);
            let mut again = HeaderMap::new();
            again.insert(header::IF_NONE_MATCH, response.headers()[header::ETAG].clone());
            assert_eq!(asset(name, &again).status(), StatusCode::NOT_MODIFIED, "{name}");
        }
        assert_eq!(asset("../Cargo.toml", &HeaderMap::new()).status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn no_asset_holds_inline_script_or_style() {
        let (_, _, index) = ASSETS[0];
        let html = std::str::from_utf8(index).unwrap();
        assert!(!html.contains("<script>") && !html.contains(" style=") && !html.contains("<style"), "{html}");
        assert!(!html.contains("onclick") && !html.contains("onload"));
    }
}
