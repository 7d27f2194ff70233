//! `/docs`: the API reference, Swagger UI rendering `/openapi.json`.
//!
//! The page and its assets are compiled into the binary (`include_bytes!` of
//! `crates/server/assets/`: Swagger UI 5.35.0, Apache-2.0, vendored unchanged; see its
//! README), so the page needs no network. Public like `/openapi.json`: it holds no data, and
//! "Try it out" sends the token the reader gives it ([`PUBLIC_DOCS_ROUTES`]).
//!
//! `/docs` is in the OpenAPI document; its three assets are routes of [`assets`] only: they
//! are files, not API (and schemathesis need not download 1.7 MB per generated case).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

/// The routes of the reference page, answered without credentials.
pub const PUBLIC_DOCS_ROUTES: &[&str] =
    &["/docs", "/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/docs-init.js"];

const PAGE: &[u8] = include_bytes!("../assets/docs.html");
const INIT_JS: &[u8] = include_bytes!("../assets/docs-init.js");
const BUNDLE_JS: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui-bundle.js");
const CSS: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui.css");

/// An embedded file with its content type; the bytes change only with the binary, so
/// browsers may keep them for an hour.
fn asset(bytes: &'static [u8], content_type: &'static str) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// The API reference: this API's OpenAPI document rendered by Swagger UI (its assets are in
/// the binary).
#[utoipa::path(
    get,
    path = "/docs",
    operation_id = "docs",
    tag = "meta",
    responses((status = 200, description = "The reference page.", body = String, content_type = "text/html"))
)]
pub(crate) async fn page() -> Response {
    asset(PAGE, "text/html; charset=utf-8")
}

/// Swagger UI's script (5.35.0, Apache-2.0), for `/docs`.
pub(crate) async fn bundle() -> Response {
    asset(BUNDLE_JS, "text/javascript; charset=utf-8")
}

/// Swagger UI's style sheet, for `/docs`.
pub(crate) async fn css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

/// The page's start-up script (points Swagger UI at `/openapi.json`).
pub(crate) async fn init() -> Response {
    asset(INIT_JS, "text/javascript; charset=utf-8")
}

/// The page's assets, routed but not documented (see the module's comment).
pub(crate) fn assets() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/docs/swagger-ui-bundle.js", get(bundle))
        .route("/docs/swagger-ui.css", get(css))
        .route("/docs/docs-init.js", get(init))
}
