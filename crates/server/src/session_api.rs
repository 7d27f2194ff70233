//! `GET /v1/auth/whoami`: who the caller is and what its roles let it do, so a client (the
//! dashboard) shows only the actions the server would accept. The actions come from the same
//! table the security layer enforces (`consort_auth::Role::permits`).

use axum::Json;
use axum::extract::Extension;
use axum::http::{HeaderMap, header};
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

/// What a member-issued user credential is confined to, and until when.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CredentialScope {
    /// The only clean room it reaches.
    cleanroom: String,
    /// The user of that clean room it authenticates.
    user: String,
    /// The member who issued it.
    member: String,
    /// Its id (what a member's revocation names).
    id: String,
    /// When it expires, ms since the epoch (from the verified credential's claims).
    expires_ms: Option<i64>,
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
    /// For a user credential (`method` = `user_credential`): the clean room and user it is
    /// confined to; `null` otherwise.
    credential: Option<CredentialScope>,
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
pub(crate) async fn whoami(
    headers: HeaderMap,
    principal: Option<Extension<Principal>>,
) -> Result<Json<WhoAmI>, ApiError> {
    // The security layer always leaves the principal on an authenticated route.
    let Some(Extension(p)) = principal else {
        return Err(ApiError::Unauthorized {
            code: "unauthenticated",
            message: "no principal on this request; send `Authorization: Bearer TOKEN`".into(),
        });
    };
    let credential = match &p.method {
        Method::UserCredential { cleanroom, user, member, id } => Some(CredentialScope {
            cleanroom: cleanroom.clone(),
            user: user.clone(),
            member: member.clone(),
            id: id.clone(),
            expires_ms: credential_expiry_ms(&headers),
        }),
        _ => None,
    };
    Ok(Json(WhoAmI {
        credential,
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

/// The expiry the caller's credential claims. The security layer verified this very header's
/// credential (signature, expiry, revocation) before the handler ran, so its claims are trusted.
fn credential_expiry_ms(headers: &HeaderMap) -> Option<i64> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (_, bearer) = value.split_once(' ')?;
    let parsed = consort_governance::credentials::parse(bearer).ok()?;
    Some(parsed.claims().expires_at.saturating_mul(1000))
}
