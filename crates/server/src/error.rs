//! The one error type every handler returns, its JSON shape, and the extractors that turn
//! every malformed request into it.
//!
//! Client errors (4xx) explain themselves: which parameter, what is wrong, how to fix it.
//! Server errors (5xx) say only that something failed; the cause is logged, never sent to
//! the client. Axum's own rejections (a body that is not JSON, a path or query parameter of
//! the wrong type) never reach the client as plain text: [`ApiJson`], [`ApiPath`] and
//! [`ApiQuery`] answer them as [`ApiError::BadRequest`] naming the field, and
//! [`error_shape`] rewrites whatever else leaves the router as a bare status (405, 413 from a
//! limit layer) into the same shape.

use std::borrow::Cow;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An error answered to an API client.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is wrong; the message says how to fix it.
    BadRequest {
        /// A stable machine-readable code, e.g. `invalid_cron_expression`.
        code: &'static str,
        /// The query parameter, path parameter or body field at fault (`triggers[0].cron`).
        param: Cow<'static, str>,
        /// What is wrong and the fix.
        message: String,
    },
    /// 401: no credentials, or credentials that are not valid (answered with
    /// `WWW-Authenticate: Bearer`).
    Unauthorized {
        /// A stable machine-readable code, e.g. `missing_token`.
        code: &'static str,
        /// What is missing or wrong and how to authenticate.
        message: String,
    },
    /// 403: the caller is known but may not do this.
    Forbidden {
        /// A stable machine-readable code, e.g. `role_required`.
        code: &'static str,
        /// What is refused and which role would allow it.
        message: String,
    },
    /// 404: the addressed resource does not exist.
    NotFound {
        /// What was not found, and where to look.
        message: String,
    },
    /// 409: the resource exists already, or is in a state that forbids the request.
    Conflict {
        /// What clashes and what to do instead.
        message: String,
    },
    /// 409 with its own code: a step of a flow refused the request (a clean-room run's
    /// checklist: `approval_missing`, `prepare_stale`, …).
    Refused {
        /// The step's stable code.
        code: &'static str,
        /// What is missing and how to get it.
        message: String,
    },
    /// 413: the request body is larger than the server accepts.
    PayloadTooLarge {
        /// The limit and how to stay under it.
        message: String,
    },
    /// 429: the caller sent too many requests; answered with `Retry-After`.
    TooManyRequests {
        /// Which limit was hit.
        message: String,
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// 503: a dependency (the database) is down; the client should retry.
    Unavailable {
        /// What is unavailable.
        message: String,
    },
    /// 500: something failed on our side; `cause` is logged, not returned.
    Internal {
        /// The cause, for the log.
        cause: String,
    },
}

/// The body of every error response: `{"error": {"code", "message", "param"}}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The details of an error.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable code, e.g. `invalid_parameter`.
    pub code: String,
    /// What is wrong and how to fix it.
    pub message: String,
    /// The request parameter or body field at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
}

impl ApiError {
    /// A 400 for the parameter or field `param`.
    pub fn bad_request(code: &'static str, param: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        ApiError::BadRequest { code, param: param.into(), message: message.into() }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } | ApiError::Refused { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

fn body(code: &str, message: &str, param: Option<&str>) -> Json<ErrorBody> {
    Json(ErrorBody {
        error: ErrorDetail { code: code.to_string(), message: message.to_string(), param: param.map(str::to_string) },
    })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match self {
            ApiError::BadRequest { code, param, message } => {
                (status, body(code, &message, Some(&param))).into_response()
            }
            ApiError::Unauthorized { code, message } => {
                let mut response = (status, body(code, &message, None)).into_response();
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            ApiError::Forbidden { code, message } => (status, body(code, &message, None)).into_response(),
            ApiError::NotFound { message } => (status, body("not_found", &message, None)).into_response(),
            ApiError::Conflict { message } => (status, body("conflict", &message, None)).into_response(),
            ApiError::Refused { code, message } => (status, body(code, &message, None)).into_response(),
            ApiError::PayloadTooLarge { message } => {
                (status, body("payload_too_large", &message, None)).into_response()
            }
            ApiError::TooManyRequests { message, retry_after_secs } => {
                let mut response = (status, body("too_many_requests", &message, None)).into_response();
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                response
            }
            ApiError::Unavailable { message } => (status, body("unavailable", &message, None)).into_response(),
            ApiError::Internal { cause } => {
                tracing::error!(%cause, "request failed");
                let message = "consort failed to handle this request; the server log has the cause";
                (status, body("internal", message, None)).into_response()
            }
        }
    }
}

/// The largest request body the API reads (a job definition with its data maps fits many
/// times over); larger bodies are refused with 413.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// A JSON request body. Unlike `axum::Json`, every way it can be wrong is a 400 in the API's
/// error shape naming the field (`triggers[0].misfire`), or a 413 for a body over
/// [`MAX_BODY_BYTES`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        check_json_content_type(req.headers())?;
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON body that may be left out: an empty body, or JSON `null`, reads as `None`. A body
/// that is sent must be JSON, as for [`ApiJson`].
#[derive(Debug, Clone, Default)]
pub struct OptionalApiJson<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let headers = req.headers().clone();
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalApiJson(None));
        }
        check_json_content_type(&headers)?;
        parse_json::<Option<T>>(&bytes).map(OptionalApiJson)
    }
}

fn check_json_content_type(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let is_json = essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"));
    if is_json {
        return Ok(());
    }
    let given = if content_type.is_empty() { "no content type".to_string() } else { format!("`{content_type}`") };
    Err(ApiError::bad_request(
        "unsupported_content_type",
        "content-type",
        format!("the body must be JSON, but the request has {given}: send `Content-Type: application/json`"),
    ))
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection: BytesRejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge {
                message: format!("the body is larger than {MAX_BODY_BYTES} bytes: send a smaller definition"),
            }
        } else {
            ApiError::bad_request(
                "invalid_body",
                "body",
                format!("the body could not be read: {}", rejection.body_text()),
            )
        }
    })
}

/// Parses a JSON body into `T`, naming the field at fault in the error.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        json_error(&path, &inner)
    })?;
    deserializer.end().map_err(|e| json_error(".", &e))?;
    Ok(value)
}

fn json_error(path: &str, e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let text = e.to_string();
    // serde names a missing field in its message, not in the path: name it as the param.
    let missing = text.strip_prefix("missing field `").and_then(|rest| rest.split('`').next());
    let param: Cow<'static, str> = match (path, missing) {
        ("" | ".", Some(field)) => field.to_string().into(),
        (_, Some(field)) => format!("{path}.{field}").into(),
        ("" | ".", None) => "body".into(),
        (_, None) => path.to_string().into(),
    };
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io if text.contains("recursion limit") => ApiError::bad_request(
            "invalid_body",
            "body",
            "the JSON body is nested too deeply (more than 128 levels): flatten it",
        ),
        Category::Syntax | Category::Eof | Category::Io => ApiError::bad_request(
            "invalid_json",
            "body",
            format!("the body is not valid JSON ({text}): send one JSON object"),
        ),
        Category::Data => ApiError::bad_request(
            "invalid_field",
            param.clone(),
            format!("`{param}`: {text}; /openapi.json describes every field"),
        ),
    }
}

/// Path parameters. A parameter that does not parse (a run id that is not a number) is a 400
/// naming it, not axum's plain-text answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        use axum::extract::path::ErrorKind;
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                let kind = e.into_kind();
                let (param, message) = match &kind {
                    ErrorKind::ParseErrorAtKey { key, value, expected_type } => (
                        key.clone(),
                        format!("path parameter `{key}` is `{value}`, not a {}", type_name(expected_type)),
                    ),
                    ErrorKind::InvalidUtf8InPathParam { key } => {
                        (key.clone(), format!("path parameter `{key}` is not valid UTF-8 once percent-decoded"))
                    }
                    ErrorKind::DeserializeError { key, value, message } => {
                        (key.clone(), format!("path parameter `{key}` is `{value}`: {message}"))
                    }
                    other => ("path".to_string(), other.to_string()),
                };
                Err(ApiError::bad_request(
                    "invalid_path_parameter",
                    param,
                    format!("{message}; /openapi.json describes the path"),
                ))
            }
            Err(other) => Err(ApiError::Internal { cause: format!("path extraction: {}", other.body_text()) }),
        }
    }
}

fn type_name(rust: &str) -> &'static str {
    match rust {
        "i64" | "i32" | "u64" | "u32" | "usize" => "whole number",
        _ => "valid value",
    }
}

/// Query parameters. A parameter of the wrong type, or given twice, is a 400 naming it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer).map(ApiQuery).map_err(|e| {
            let param = e.path().to_string();
            let param = if param.is_empty() || param == "." { "query".to_string() } else { param };
            let message = format!("query parameter `{param}`: {}; /openapi.json describes every parameter", e.inner());
            ApiError::bad_request("invalid_parameter", param, message)
        })
    }
}

/// Middleware: a 4xx or 5xx response that is not JSON (axum's 405 for a method a path does not
/// accept, a 413 from a limit layer) gets the API's error body; its status and headers (`Allow`,
/// `Retry-After`) stay.
pub async fn error_shape(request: Request, next: axum::middleware::Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = parts.headers.get(header::ALLOW).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            ("method_not_allowed", format!("{path} does not accept {method}; it accepts {allowed} (see /openapi.json)"))
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            ("payload_too_large", format!("the body is larger than {MAX_BODY_BYTES} bytes: send a smaller one"))
        }
        other => ("error", format!("{method} {path}: {}", other.canonical_reason().unwrap_or("error"))),
    };
    let body = ErrorBody { error: ErrorDetail { code: code.to_string(), message, param: None } };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(bytes))
}
