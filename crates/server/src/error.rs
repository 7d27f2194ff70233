//! The one error type every handler returns.
//!
//! Client errors (4xx) explain themselves: which parameter, what is wrong, how to
//! fix it. Server errors (5xx) say only that something failed and carry an id;
//! the cause is logged with the same id, never sent to the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answered to an API client.
#[derive(Debug)]
pub enum ApiError {
    /// The request is wrong; the message says how to fix it.
    BadRequest {
        /// A stable machine-readable code, e.g. `invalid_cron_expression`.
        code: &'static str,
        /// The query parameter or body field at fault.
        param: &'static str,
        /// What is wrong and the fix.
        message: String,
    },
    /// The addressed resource does not exist.
    NotFound {
        /// What was not found, and where to look.
        message: String,
    },
    /// The caller is authenticated but may not do this.
    Forbidden {
        /// A stable machine-readable code.
        code: &'static str,
        /// What is refused and who may do it.
        message: String,
    },
    /// The resource exists already.
    Conflict {
        /// What clashes and what to do instead.
        message: String,
    },
    /// A dependency (the database) is down; the client should retry.
    Unavailable {
        /// What is unavailable.
        message: String,
    },
    /// Something failed on our side; `cause` is logged, not returned.
    Internal {
        /// The cause, for the log.
        cause: String,
    },
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    param: Option<&'a str>,
}

impl ApiError {
    /// A 400 for the parameter `param`.
    pub fn bad_request(code: &'static str, param: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest { code, param, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest { code, param, message } => {
                let body = ErrorBody { error: ErrorDetail { code, message: &message, param: Some(param) } };
                (StatusCode::BAD_REQUEST, Json(body)).into_response()
            }
            ApiError::NotFound { message } => simple(StatusCode::NOT_FOUND, "not_found", &message),
            ApiError::Forbidden { code, message } => simple(StatusCode::FORBIDDEN, code, &message),
            ApiError::Conflict { message } => simple(StatusCode::CONFLICT, "conflict", &message),
            ApiError::Unavailable { message } => simple(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &message),
            ApiError::Internal { cause } => {
                tracing::error!(%cause, "request failed");
                let body = ErrorBody {
                    error: ErrorDetail {
                        code: "internal",
                        message: "consort failed to handle this request; the server log has the cause",
                        param: None,
                    },
                };
                (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
            }
        }
    }
}

fn simple(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(ErrorBody { error: ErrorDetail { code, message, param: None } })).into_response()
}
