//! `/v1/cron/*`: validate, explain and preview Quartz cron expressions.

use axum::Json;
use axum::extract::State;
use consort_cron::{Cron, Zone};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::{ApiError, ApiQuery, ErrorBody};

/// The most fire times one request may ask for.
pub const MAX_COUNT: usize = 1000;

/// The longest cron expression accepted, in characters (Quartz's longest sensible ones are
/// well under 100).
pub const MAX_CRON_LEN: usize = 256;

/// The longest time zone name accepted, in characters (IANA names are at most 32).
pub const MAX_ZONE_LEN: usize = 64;

/// Query of `GET /v1/cron/next`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct NextQuery {
    /// Quartz cron expression: seconds minutes hours day-of-month month day-of-week [year].
    #[param(required = true, min_length = 1, max_length = 256, format = "quartz-cron", example = "0 15 10 ? * 6L")]
    expr: Option<String>,
    /// IANA time zone the expression is read in.
    #[param(min_length = 1, max_length = 64, format = "iana-time-zone", default = "UTC", example = "Europe/Rome")]
    tz: Option<String>,
    /// Start instant (RFC 3339; Unix seconds are accepted too); fire times are strictly after
    /// it. Default: now.
    #[param(required = false, schema_with = instant_schema, example = "2026-01-01T00:00:00Z")]
    after: Option<String>,
    /// How many fire times to list.
    #[param(required = false, value_type = u32, minimum = 1, maximum = 1000, default = 5)]
    count: Option<String>,
}

/// The next fire times of an expression.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CronNext {
    /// The expression, as given.
    expression: String,
    /// The zone it was read in.
    timezone: String,
    /// The start instant.
    #[schema(format = DateTime)]
    after: String,
    /// The expression in English.
    explanation: String,
    /// Fire times, fewer than asked if the expression stops firing.
    fire_times: Vec<FireTime>,
}

/// One fire time.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FireTime {
    /// Unix seconds.
    epoch_s: i64,
    /// The instant in UTC.
    #[schema(format = DateTime)]
    utc: String,
    /// RFC 9557 zoned date-time, e.g. 2026-01-30T10:15:00-05:00[America/New_York].
    local: String,
}

/// Query of `GET /v1/cron/explain`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ExplainQuery {
    /// Quartz cron expression.
    #[param(required = true, min_length = 1, max_length = 256, format = "quartz-cron", example = "0 0 12 LW * ?")]
    expr: Option<String>,
}

/// An expression explained.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CronExplain {
    /// The expression, as given.
    expression: String,
    /// The expression in English.
    explanation: String,
}

/// Parses a cron expression given as `param`, within [`MAX_CRON_LEN`].
pub(crate) fn parse_cron(param: &str, expr: &str) -> Result<Cron, ApiError> {
    let param = param.to_string();
    let length = expr.chars().count();
    if length > MAX_CRON_LEN {
        return Err(ApiError::bad_request(
            "invalid_cron_expression",
            param,
            format!("the cron expression has {length} characters; the limit is {MAX_CRON_LEN}: shorten it"),
        ));
    }
    Cron::parse(expr).map_err(|e| ApiError::bad_request("invalid_cron_expression", param, e.to_string()))
}

fn parse_expr(expr: Option<String>) -> Result<Cron, ApiError> {
    let expr = expr.ok_or_else(|| {
        ApiError::bad_request(
            "missing_parameter",
            "expr",
            "`expr` is required: a Quartz cron expression such as `0 15 10 ? * MON-FRI`",
        )
    })?;
    parse_cron("expr", &expr)
}

/// The schema of an instant parameter: RFC 3339, or Unix seconds as digits.
pub(crate) fn instant_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    utoipa::openapi::RefOr::T(utoipa::openapi::Schema::AnyOf(instant_any_of()))
}

fn instant_any_of() -> utoipa::openapi::schema::AnyOf {
    use utoipa::openapi::schema::{AnyOfBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
    AnyOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        )
        .item(ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"^-?[0-9]{1,11}$")))
        .description(Some("An instant: RFC 3339 (2026-01-01T00:00:00Z), or Unix seconds."))
        .build()
}

/// [`instant_schema`], or null (an optional body field).
pub(crate) fn nullable_instant_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let mut schema = instant_any_of();
    schema.items.push(ObjectBuilder::new().schema_type(Type::Null).into());
    utoipa::openapi::RefOr::T(utoipa::openapi::Schema::AnyOf(schema))
}

/// Reads an instant given as RFC 3339 (`2026-01-01T00:00:00Z`) or epoch seconds.
pub fn parse_instant(text: &str) -> Option<Timestamp> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Timestamp::from_second(seconds).ok();
    }
    text.parse::<Timestamp>().ok()
}

/// The next fire times of a Quartz cron expression in a time zone.
#[utoipa::path(
    get,
    path = "/v1/cron/next",
    operation_id = "cronNext",
    tag = "cron",
    params(NextQuery),
    responses(
        (status = 200, description = "Fire times, fewer than `count` if the expression stops firing.", body = CronNext),
        (status = 400, description = "Invalid expression, zone, instant or count; the message names the field and the fix.", body = ErrorBody),
    )
)]
pub(crate) async fn next(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<NextQuery>,
) -> Result<Json<CronNext>, ApiError> {
    let cron = parse_expr(q.expr)?;
    let tz = q.tz.unwrap_or_else(|| "UTC".to_string());
    if tz.chars().count() > MAX_ZONE_LEN {
        return Err(ApiError::bad_request(
            "unknown_time_zone",
            "tz",
            format!("a time zone name has at most {MAX_ZONE_LEN} characters: give an IANA name such as Europe/Rome"),
        ));
    }
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
    Ok(Json(CronNext {
        expression: cron.as_str().to_string(),
        timezone: zone.name().to_string(),
        after: after.to_string(),
        explanation: cron.explain(),
        fire_times,
    }))
}

/// A plain-English description of a Quartz cron expression.
#[utoipa::path(
    get,
    path = "/v1/cron/explain",
    operation_id = "cronExplain",
    tag = "cron",
    params(ExplainQuery),
    responses(
        (status = 200, description = "The explanation.", body = CronExplain),
        (status = 400, description = "Invalid expression; the message names the field and the fix.", body = ErrorBody),
    )
)]
pub(crate) async fn explain(ApiQuery(q): ApiQuery<ExplainQuery>) -> Result<Json<CronExplain>, ApiError> {
    let cron = parse_expr(q.expr)?;
    Ok(Json(CronExplain { expression: cron.as_str().to_string(), explanation: cron.explain() }))
}
