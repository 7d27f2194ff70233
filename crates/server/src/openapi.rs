//! The OpenAPI 3.1 document served at `/openapi.json`, generated from the code.
//!
//! Every handler carries `#[utoipa::path]` and every request and response shape derives
//! `ToSchema`; [`routes`] registers the handlers with `utoipa-axum`, so the router and the
//! document come from one list and cannot disagree. One [`Modify`] pass, [`Protection`],
//! decides what is public: operations on [`PUBLIC_PATHS`] need no credentials, every other one
//! requires the `bearerAuth` scheme and documents 401, 403, 413 and 429 (with `Retry-After`).
//! Every operation documents 500. The auth layer uses [`is_public`] to make the same choice.

use std::sync::OnceLock;

use axum::Json;
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Object, Ref, RefOr, ResponseBuilder, Type};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ErrorBody;
use crate::{
    AppState, access_api, cleanroom_api, cron_api, dashboard, docs_api, ledger_api, metrics_api, provisioner_api,
    release_api, run_api, scheduler_api, session_api, status_api, tokens_api,
};

/// Paths anyone may call without credentials; every other path needs a bearer token.
pub const PUBLIC_PATHS: &[&str] = &["/health", "/openapi.json", "/v1/cron/next", "/v1/cron/explain"];

/// Whether a request path is public ([`PUBLIC_PATHS`]), i.e. answered without credentials.
/// Exact match: `/health/x` is not public.
pub fn is_public(path: &str) -> bool {
    PUBLIC_PATHS.contains(&path)
        || crate::release_api::PUBLIC_ISSUER_ROUTES.contains(&path)
        || crate::docs_api::PUBLIC_DOCS_ROUTES.contains(&path)
}

/// Whether a route authenticates its callers itself rather than with an API token: the
/// governed runner's routes (its attestation evidence, then its run session).
pub fn is_self_authenticated(path: &str) -> bool {
    crate::run_api::RUNNER_ROUTES.contains(&path)
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "consort",
        description = "Governed Apache Spark jobs: Quartz-compatible scheduling, Spark backends, clean rooms. \
            Errors are `{\"error\": {\"code\", \"message\", \"param\"}}`. Lists are pages: `limit` and the \
            previous page's `next_cursor` as `cursor`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    tags(
        (name = "meta", description = "Liveness, this document, its browsable rendering (`/docs`) and the \
            Prometheus metrics (`/metrics`, role viewer)."),
        (name = "cron", description = "Quartz cron expressions: explain and preview."),
        (name = "scheduler", description = "Jobs, triggers, runs and instances of the scheduler."),
        (name = "status", description = "Job status: running jobs, triggers, a job's (or provisioned component's) \
            runs, and fire-now for operators and the component's access list."),
        (name = "auth", description = "API tokens and the audit trail (admins only); who the caller is."),
        (name = "provisioner", description = "The Witboost Specific Provisioner API (spec 2.2.0; role `provisioner`). \
            Its errors are the spec's `RequestValidationError` (400) and `SystemError` (500)."),
        (name = "cleanrooms", description = "Clean-room governance (role `cleanroom`): members sign their requests \
            (COSE_Sign1, `application/cose`); users of a clean room write documents, vote on them and give consent."),
        (name = "runner", description = "The governed runner's calls for its run: attest (evidence), then a session \
            (`runSession`); see docs/cleanroom-runs.md."),
    ),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    status: String,
    /// The server's version.
    version: String,
}

/// Liveness: answers 200 while the server runs.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health",
    tag = "meta",
    responses((status = 200, description = "Running.", body = Health))
)]
pub(crate) async fn health() -> Json<Health> {
    Json(Health { status: "ok".into(), version: env!("CARGO_PKG_VERSION").into() })
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document.", body = Object, content_type = "application/json"))
)]
pub(crate) async fn openapi_json() -> impl IntoResponse {
    Json(document().clone())
}

/// Every route, with its documentation.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    use scheduler_api as s;
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(openapi_json))
        .routes(routes!(docs_api::page))
        .merge(docs_api::assets())
        .routes(routes!(metrics_api::metrics))
        .routes(routes!(cron_api::next))
        .routes(routes!(cron_api::explain))
        .routes(routes!(s::list_jobs))
        .routes(routes!(s::get_job, s::put_job, s::delete_job))
        .routes(routes!(s::fire_job))
        .routes(routes!(s::pause_job))
        .routes(routes!(s::resume_job))
        .routes(routes!(s::pause_job_group))
        .routes(routes!(s::resume_job_group))
        .routes(routes!(s::list_triggers))
        .routes(routes!(s::get_trigger, s::put_trigger, s::delete_trigger))
        .routes(routes!(s::pause_trigger))
        .routes(routes!(s::resume_trigger))
        .routes(routes!(s::pause_trigger_group))
        .routes(routes!(s::resume_trigger_group))
        .routes(routes!(s::list_runs, s::purge_runs))
        .routes(routes!(s::get_run))
        .routes(routes!(s::run_log))
        .routes(routes!(s::kill_run))
        .routes(routes!(s::instances))
        .routes(routes!(status_api::running))
        .routes(routes!(status_api::trigger))
        .routes(routes!(status_api::job))
        .routes(routes!(status_api::component_status))
        .routes(routes!(status_api::fire_job))
        .routes(routes!(status_api::fire_component))
        .routes(routes!(cleanroom_api::create, cleanroom_api::list))
        .routes(routes!(cleanroom_api::members))
        .routes(routes!(cleanroom_api::users))
        .routes(routes!(cleanroom_api::propose, cleanroom_api::proposals))
        .routes(routes!(cleanroom_api::proposal))
        .routes(routes!(cleanroom_api::vote))
        .routes(routes!(cleanroom_api::withdraw))
        .routes(routes!(cleanroom_api::put_contract, cleanroom_api::contract))
        .routes(routes!(cleanroom_api::contracts))
        .routes(routes!(cleanroom_api::put_document, cleanroom_api::document))
        .routes(routes!(cleanroom_api::documents))
        .routes(routes!(cleanroom_api::propose_document))
        .routes(routes!(cleanroom_api::vote_document))
        .routes(routes!(cleanroom_api::set_consent))
        .routes(routes!(cleanroom_api::consent))
        .routes(routes!(access_api::revoke, access_api::revocations))
        .routes(routes!(access_api::invitations))
        .routes(routes!(access_api::accept_invitation))
        .routes(routes!(access_api::my_invitations))
        .routes(routes!(release_api::put_secret))
        .routes(routes!(release_api::grant_secret))
        .routes(routes!(release_api::grant_tokens))
        .routes(routes!(release_api::release_secret))
        .routes(routes!(release_api::issue_token))
        .routes(routes!(release_api::discovery))
        .routes(routes!(release_api::jwks))
        .routes(routes!(run_api::prepare))
        .routes(routes!(run_api::run_query))
        .routes(routes!(run_api::runs))
        .routes(routes!(run_api::run))
        .routes(routes!(run_api::run_log))
        .routes(routes!(run_api::set_approval, run_api::approvals))
        .routes(routes!(run_api::runner_attest))
        .routes(routes!(run_api::runner_consent))
        .routes(routes!(run_api::runner_secret))
        .routes(routes!(run_api::runner_event))
        .routes(routes!(ledger_api::entries))
        .routes(routes!(ledger_api::roots))
        .routes(routes!(ledger_api::receipt))
        .routes(routes!(ledger_api::consistency))
        .routes(routes!(ledger_api::export))
        .routes(routes!(ledger_api::public_key))
        .routes(routes!(tokens_api::list, tokens_api::create))
        .routes(routes!(tokens_api::revoke))
        .routes(routes!(tokens_api::audit))
        .routes(routes!(session_api::whoami))
        .routes(routes!(dashboard::run_history))
        .routes(routes!(provisioner_api::validate))
        .routes(routes!(provisioner_api::async_validate))
        .routes(routes!(provisioner_api::validation_status))
        .routes(routes!(provisioner_api::provision))
        .routes(routes!(provisioner_api::provision_status))
        .routes(routes!(provisioner_api::unprovision))
        .routes(routes!(provisioner_api::update_acl))
        .routes(routes!(provisioner_api::reverse_provisioning))
        .routes(routes!(provisioner_api::reverse_status))
}

/// Adds the bearer scheme, and the responses every operation can give before its handler
/// runs, to the document.
#[derive(Debug)]
pub struct Protection;

/// The shared responses: (status, component name, description).
const SHARED: &[(&str, &str, &str)] = &[
    ("401", "Unauthorized", "No bearer token, or one that is not valid; `WWW-Authenticate` says which scheme."),
    ("403", "Forbidden", "The token is valid but its roles do not allow this."),
    ("413", "PayloadTooLarge", "The request body is over the server's limit."),
    ("429", "TooManyRequests", "Too many requests; retry after `Retry-After` seconds."),
    ("500", "InternalError", "consort failed; the server log has the cause (the body never does)."),
];

impl Modify for Protection {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token (`consort tokens`) or a JWT from a configured issuer."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "runSession",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A governed runner's session, given (encrypted) by `runnerAttest` for one run; see docs/cleanroom-runs.md.",
                    ))
                    .build(),
            ),
        );
        for (status, name, description) in SHARED {
            let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build();
            let mut response = ResponseBuilder::new().description(*description).content("application/json", content);
            if *status == "429" {
                let seconds = Object::with_type(Type::Integer);
                response = response.header(
                    "Retry-After",
                    HeaderBuilder::new().schema(seconds).description(Some("Seconds to wait before retrying.")).build(),
                );
            }
            if *status == "401" {
                let text = Object::with_type(Type::String);
                response = response.header(
                    "WWW-Authenticate",
                    HeaderBuilder::new().schema(text).description(Some("`Bearer`.")).build(),
                );
            }
            components.responses.insert(name.to_string(), RefOr::T(response.build()));
        }
        for (path, item) in api.paths.paths.iter_mut() {
            let public = is_public(path);
            let runner = is_self_authenticated(path);
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                for (status, name, _) in SHARED {
                    if (public && *status != "500") || (runner && matches!(*status, "401" | "403")) {
                        continue;
                    }
                    operation
                        .responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(*name)));
                }
                if runner {
                    // The attestation itself carries its evidence in the body.
                    if !path.ends_with("/attest") {
                        operation.security = Some(vec![SecurityRequirement::new("runSession", Vec::<String>::new())]);
                    }
                } else if !public {
                    operation.security = Some(vec![SecurityRequirement::new("bearerAuth", Vec::<String>::new())]);
                }
            }
        }
    }
}

/// Rules JSON Schema can say but `utoipa`'s derive cannot: a trigger definition has exactly
/// one schedule (`cron`, `simple`, or `once: true`; the others absent or null), and
/// `timezone` only with `cron`.
fn one_schedule(schema: &mut Value) {
    let absent = serde_json::json!({"type": "null"});
    let not_once = serde_json::json!({"const": false});
    schema["oneOf"] = serde_json::json!([
        {"required": ["cron"], "properties": {"cron": {"type": "string"}, "simple": absent, "once": not_once}},
        {"required": ["simple"],
         "properties": {"simple": {"type": "object"}, "cron": absent, "timezone": absent, "once": not_once}},
        {"required": ["once"], "properties": {"once": {"const": true}, "cron": absent, "timezone": absent, "simple": absent}},
    ]);
}

/// A job given without triggers must be durable.
fn durable_or_triggered(schema: &mut Value) {
    schema["anyOf"] = serde_json::json!([
        {"required": ["durable"], "properties": {"durable": {"const": true}}},
        {"required": ["triggers"], "properties": {"triggers": {"minItems": 1}}},
    ]);
}

/// Links between operations (OpenAPI `links`): a page's `next_cursor` is the next page's
/// `cursor`, a listed run's id addresses the run. They tell clients, and schemathesis's
/// stateful phase, where an operation's inputs come from.
fn links(doc: &mut Value) {
    let next_page = |operation: &str| {
        serde_json::json!({"operationId": operation, "parameters": {"cursor": "$response.body#/next_cursor"},
            "description": "The next page."})
    };
    let run = |operation: &str, pointer: &str| serde_json::json!({"operationId": operation, "parameters": {"id": format!("$response.body#{pointer}")}});
    let table = [
        ("/v1/scheduler/jobs", "get", "200", vec![("nextPage", next_page("listJobs"))]),
        ("/v1/scheduler/triggers", "get", "200", vec![("nextPage", next_page("listTriggers"))]),
        ("/v1/scheduler/instances", "get", "200", vec![("nextPage", next_page("listInstances"))]),
        ("/v1/status/running", "get", "200", vec![("nextPage", next_page("statusRunning"))]),
        (
            "/v1/scheduler/runs",
            "get",
            "200",
            vec![
                ("nextPage", next_page("listRuns")),
                ("getRun", run("getRun", "/items/0/id")),
                ("runLog", run("runLog", "/items/0/id")),
                ("killRun", run("killRun", "/items/0/id")),
            ],
        ),
    ];
    for (path, method, status, entries) in table {
        let pointer = format!("/paths/{}/{method}/responses/{status}", path.replace('/', "~1"));
        if let Some(response) = doc.pointer_mut(&pointer) {
            for (name, link) in entries {
                response["links"][name] = link;
            }
        }
    }
}

/// The document as JSON (built once).
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let (_, mut api) = routes().split_for_parts();
        Protection.modify(&mut api);
        let mut doc = serde_json::to_value(&api).unwrap_or(Value::Null);
        for name in ["JobTrigger", "TriggerDefinition"] {
            if let Some(schema) = doc.pointer_mut(&format!("/components/schemas/{name}")) {
                one_schedule(schema);
            }
        }
        if let Some(schema) = doc.pointer_mut("/components/schemas/JobDefinition") {
            durable_or_triggered(schema);
        }
        links(&mut doc);
        doc
    })
}
