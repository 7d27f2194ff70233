//! `/v1/cron/*`: validate, explain and preview Quartz cron expressions.

use axum::Json;
use axum::extract::{Query, State};
use consort_cron::{Cron, Zone};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::ApiError;

/// The most fire times one request may ask for.
pub const MAX_COUNT: usize = 1000;

#[derive(Debug, Deserialize)]
pub(crate) struct NextQuery {
    expr: Option<String>,
    tz: Option<String>,
    after: Option<String>,
    count: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct NextResponse {
    expression: String,
    timezone: String,
    after: String,
    explanation: String,
    fire_times: Vec<FireTime>,
}

#[derive(Debug, Serialize)]
pub(crate) struct FireTime {
    epoch_s: i64,
    utc: String,
    local: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ExplainQuery {
    expr: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ExplainResponse {
    expression: String,
    explanation: String,
}

fn parse_expr(expr: Option<String>) -> Result<Cron, ApiError> {
    let expr = expr.ok_or_else(|| {
        ApiError::bad_request(
            "missing_parameter",
            "expr",
            "`expr` is required: a Quartz cron expression such as `0 15 10 ? * MON-FRI`",
        )
    })?;
    Cron::parse(&expr).map_err(|e| ApiError::bad_request("invalid_cron_expression", "expr", e.to_string()))
}

/// Reads an instant given as RFC 3339 (`2026-01-01T00:00:00Z`) or epoch seconds.
pub fn parse_instant(text: &str) -> Option<Timestamp> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Timestamp::from_second(seconds).ok();
    }
    text.parse::<Timestamp>().ok()
}

pub(crate) async fn next(
    State(state): State<AppState>,
    Query(q): Query<NextQuery>,
) -> Result<Json<NextResponse>, ApiError> {
    let cron = parse_expr(q.expr)?;
    let tz = q.tz.unwrap_or_else(|| "UTC".to_string());
    let zone = Zone::get(&tz).map_err(|e| ApiError::bad_request("unknown_time_zone", "tz", e.to_string()))?;
    let after = match q.after {
        None => (state.clock)(),
        Some(text) => parse_instant(&text).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_instant",
                "after",
                format!("`{text}` is not an instant; give RFC 3339 (2026-01-01T00:00:00Z) or Unix epoch seconds"),
            )
        })?,
    };
    let count = match q.count {
        None => 5,
        Some(text) => text.parse::<usize>().ok().filter(|n| (1..=MAX_COUNT).contains(n)).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_count",
                "count",
                format!("`{text}` is not a count; give a whole number from 1 to {MAX_COUNT}"),
            )
        })?,
    };
    let fire_times = cron
        .upcoming(after, &zone)
        .take(count)
        .map(|t| FireTime {
            epoch_s: t.as_second(),
            utc: t.to_string(),
            local: t.to_zoned_datetime(zone.time_zone().clone()).to_string(),
        })
        .collect();
    Ok(Json(NextResponse {
        expression: cron.as_str().to_string(),
        timezone: zone.name().to_string(),
        after: after.to_string(),
        explanation: cron.explain(),
        fire_times,
    }))
}

pub(crate) async fn explain(Query(q): Query<ExplainQuery>) -> Result<Json<ExplainResponse>, ApiError> {
    let cron = parse_expr(q.expr)?;
    Ok(Json(ExplainResponse { expression: cron.as_str().to_string(), explanation: cron.explain() }))
}
