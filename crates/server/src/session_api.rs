//! `GET /v1/auth/whoami`: who the caller is and what its roles let it do, so a client (the
//! dashboard) shows only the actions the server would accept. The actions come from the same
//! table the security layer enforces (`consort_auth::Role::permits`).

use axum::Json;
use axum::extract::Extension;
use consort_auth::{Action, Method, Principal};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::tokens_api::RoleName;

/// What a role may do (the authorisation model's actions).
#[derive(Clone, Copy, Debug, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ActionName {
    /// Read jobs, triggers, runs, instances.
    Read,
    /// Create, change, fire, pause, resume and kill.
    Operate,
    /// The Witboost provisioner endpoints.
    Provision,
    /// Tokens, the audit trail, deleting run history.
    Administer,
    /// The clean-room endpoints.
    Govern,
}

impl ActionName {
    fn of(a: Action) -> Self {
        match a {
            Action::Read => ActionName::Read,
            Action::Operate => ActionName::Operate,
            Action::Provision => ActionName::Provision,
            Action::Administer => ActionName::Administer,
            Action::Govern => ActionName::Govern,
        }
    }
}

/// How the caller authenticated.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MethodName {
    /// An API token (`cst_…`).
    ApiToken,
    /// A JWT from a configured OpenID issuer.
    Jwt,
    /// A TLS client certificate.
    ClientCertificate,
    /// A member-issued clean-room user credential (`ccu_…`).
    UserCredential,
    /// Authentication is off (`auth.mode = "none"`).
    Unauthenticated,
}

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WhoAmI {
    /// Its name: the token's name, the JWT's subject, the certificate's subject.
    name: String,
    /// How the audit trail names it (`token:NAME`, `jwt:SUB`, `cert:SUBJECT`).
    display_name: String,
    /// How it authenticated.
    method: MethodName,
    /// Its roles, most powerful first.
    roles: Vec<RoleName>,
    /// What those roles permit; a route needing another action answers 403. Per-resource
    /// access lists (a component's `updateacl`) may allow more on single resources.
    actions: Vec<ActionName>,
}

/// Who the caller is, its roles, and the actions they permit.
#[utoipa::path(
    get,
    path = "/v1/auth/whoami",
    operation_id = "whoAmI",
    tag = "auth",
    responses(
        (status = 200, description = "The caller.", body = WhoAmI),
    )
)]
pub(crate) async fn whoami(principal: Option<Extension<Principal>>) -> Result<Json<WhoAmI>, ApiError> {
    // The security layer always leaves the principal on an authenticated route.
    let Some(Extension(p)) = principal else {
        return Err(ApiError::Unauthorized {
            code: "unauthenticated",
            message: "no principal on this request; send `Authorization: Bearer TOKEN`".into(),
        });
    };
    Ok(Json(WhoAmI {
        display_name: p.display_name(),
        method: match p.method {
            Method::ApiToken { .. } => MethodName::ApiToken,
            Method::Jwt { .. } => MethodName::Jwt,
            Method::ClientCertificate => MethodName::ClientCertificate,
            Method::UserCredential { .. } => MethodName::UserCredential,
            Method::Unauthenticated => MethodName::Unauthenticated,
        },
        roles: p.roles.iter().map(RoleName::from).collect(),
        actions: Action::ALL.into_iter().filter(|a| p.may(*a)).map(ActionName::of).collect(),
        name: p.name,
    }))
}
