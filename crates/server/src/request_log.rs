//! A request id for every request, and a span that carries it.
//!
//! The outermost layer: it takes the caller's `x-request-id` when it is sane (1–128 visible
//! characters of `A-Z a-z 0-9 . _ : -`, and not shaped like a credential, so a token pasted
//! there never reaches a log), else makes one (128 random bits, hex). Everything the request
//! logs happens inside the `request` span holding `request_id` (in JSON logs, under `spans`),
//! and the response carries the id back in `x-request-id`.
//!
//! The span is also the request's OpenTelemetry server span when traces are exported
//! (`[telemetry]`): a W3C `traceparent` (and `tracestate`) from the caller becomes its parent,
//! the metrics layer names it after the route template (and sets `http.route`) where the
//! route is known, and its status is recorded here. Without an exporter the propagator is
//! OpenTelemetry's no-op one and the parent is empty.

use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::propagation::Extractor;
use tracing::Instrument;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header a request id travels in, both ways.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id taken from a caller.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// The caller's request id if it is one we may log, else `None`.
fn accepted(value: &HeaderValue) -> Option<&str> {
    let id = value.to_str().ok()?;
    let sane = !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    // An API token (`cst_…`) or a JWT (`eyJ…`) sent here by mistake must not be logged.
    let credential =
        id.get(..4).is_some_and(|p| p.eq_ignore_ascii_case(consort_auth::token::PREFIX)) || id.starts_with("eyJ");
    (sane && !credential).then_some(id)
}

fn generated() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: an id unique in this process is still useful.
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        bytes[..8].copy_from_slice(&n.to_be_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The request's span, in the request's extensions for the inner layers to name.
#[derive(Clone, Debug)]
pub struct RequestSpan(pub tracing::Span);

/// Headers as OpenTelemetry's propagators read them.
struct Headers<'a>(&'a axum::http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The middleware (outermost, see `lib.rs`).
pub async fn layer(mut request: Request, next: Next) -> Response {
    let id = match request.headers().get(&REQUEST_ID_HEADER).and_then(accepted) {
        Some(id) => id.to_string(),
        None => generated(),
    };
    // Handlers and inner layers read the id the response will carry.
    let header = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    request.headers_mut().insert(REQUEST_ID_HEADER, header.clone());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        otel.kind = "server",
        otel.status_code = Empty,
        http.route = Empty,
        http.response.status_code = Empty,
    );
    let caller = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(request.headers())));
    // No parent to set (no exporter, or no traceparent) is the usual case, not an error.
    let _ = span.set_parent(caller);
    request.extensions_mut().insert(RequestSpan(span.clone()));
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    // As i64: the OpenTelemetry layer exports unsigned fields as strings.
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
    span.in_scope(|| {
        tracing::debug!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request answered"
        )
    });
    response.headers_mut().insert(REQUEST_ID_HEADER, header);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_kept_and_others_replaced() {
        for ok in ["abc", "0f3a-11:x.y_z", &"a".repeat(128)] {
            assert_eq!(accepted(&HeaderValue::from_str(ok).unwrap()), Some(ok), "{ok}");
        }
        for bad in ["", "a b", "x/y", &"a".repeat(129), "cst_0123456789abcdef", "CST_x", "eyJhbGciOi.x.y"] {
            assert_eq!(accepted(&HeaderValue::from_str(bad).unwrap()), None, "{bad}");
        }
        let id = generated();
        assert_eq!(id.len(), 32);
        assert_ne!(id, generated());
    }
}
