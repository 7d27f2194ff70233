//! How users come into a clean room, beyond an API token or OIDC principal an accepted proposal
//! mapped: member-issued **user credentials** (verified by the security layer through
//! [`AreaCredentials`]; revoked by id with a member's signed `credential.revoke` request) and
//! **invitations** (an accepted `invite_user` proposal; the invited identity accepts it).

use std::sync::Arc;

use async_trait::async_trait;
use axum::Json;
use axum::extract::State;
use consort_auth::{AuthError, Method as AuthMethod, Principal, Role, RoleSet};
use consort_governance::Governance;
use consort_governance::model::{Invitation, Revocation, User};
use consort_governance::rules::Identity;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::CredentialVerifier;
use crate::cleanroom_api::{CoseBody, Names, RoomPath, area, gov_error, member_request, now_ms, require_reader};
use crate::error::{ApiError, ApiPath, ErrorBody};

/// The message type of a member's signed revocation of a user credential.
pub const REVOKE_MSG_TYPE: &str = "credential.revoke";

/// Verifies user credentials against the clean rooms' state: the principal it yields is the
/// user's (its registered principal name, so the user routes find the user as they would for
/// its API token) with the `cleanroom` role only, and the security layer confines it to its
/// clean room's user routes (`auth::credential_reaches`).
#[derive(Debug)]
pub struct AreaCredentials(pub Governance);

#[async_trait]
impl CredentialVerifier for AreaCredentials {
    async fn verify(&self, credential: &str, now_ms: i64) -> Result<Principal, AuthError> {
        match self.0.verify_credential(credential, now_ms).await {
            Ok(v) => Ok(Principal {
                name: v.user.principal.clone(),
                roles: RoleSet::of(Role::CleanRoom),
                method: AuthMethod::UserCredential {
                    cleanroom: v.cleanroom,
                    user: v.user.id,
                    member: v.member,
                    id: v.id,
                },
                groups: Vec::new(),
            }),
            Err(e) if e.is_refusal() => Err(AuthError::Credential { code: e.code(), message: e.to_string() }),
            Err(_) => Err(AuthError::Unavailable("the clean rooms' store is unavailable".into())),
        }
    }
}

/// Makes the guard accept user credentials when the server runs clean rooms.
pub(crate) fn install(state: &AppState) {
    if let Some(area) = &state.cleanrooms {
        state.guard.set_credentials(Arc::new(AreaCredentials(area.governance.clone())));
    }
}

/// The payload of a `credential.revoke` request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeCredential {
    /// The credential's id (`consort member issue-credential` prints it).
    credential_id: String,
}

/// The revoked credentials.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RevocationList {
    /// By credential id.
    items: Vec<Revocation>,
}

/// The invitations.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InvitationList {
    /// By id.
    items: Vec<Invitation>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct InvitationPath {
    /// The clean room.
    cleanroom: String,
    /// The invitation's id.
    id: String,
}

/// Revoke one user credential by id (an active member's signed `credential.revoke` request
/// whose payload is a RevokeCredential). It stops authenticating at once.
#[utoipa::path(
    post,
    path = "/v1/cleanrooms/{cleanroom}/credentials/revocations",
    operation_id = "revokeCredential",
    tag = "cleanrooms",
    params(RoomPath),
    request_body(content = Vec<u8>, content_type = "application/cose",
        description = "A COSE_Sign1 `credential.revoke` request whose payload is a RevokeCredential."),
    responses(
        (status = 200, description = "Revoked (or revoked before: the first revocation).", body = Revocation),
        (status = 400, description = "A malformed credential id or body.", body = ErrorBody),
        (status = 403, description = "Unsigned, wrong key, stale, replayed, or not an active member.", body = ErrorBody),
        (status = 404, description = "No such clean room.", body = ErrorBody),
    )
)]
pub(crate) async fn revoke(
    State(s): State<AppState>,
    ApiPath(p): ApiPath<RoomPath>,
    body: CoseBody,
) -> Result<Json<Revocation>, ApiError> {
    let (request, bytes) = member_request(&s, &p.cleanroom, REVOKE_MSG_TYPE, Names::Nothing, &body).await?;
    let revoke: RevokeCredential = crate::error::parse_json(&bytes)?;
    let governance = &area(&s)?.governance;
    let revocation = governance
        .revoke_credential(&p.cleanroom, &request, &revoke.credential_id, now_ms(&s))
        .await
        .map_err(gov_error)?;
    Ok(Json(revocation))
}

/// The revoked user credentials.
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/credentials/revocations",
    operation_id = "listRevocations",
    tag = "cleanrooms",
    params(RoomPath),
    responses(
        (status = 400, description = "A malformed path parameter.", body = ErrorBody),
        (status = 200, description = "The revocations.", body = RevocationList),
        (status = 403, description = "Not a party to the clean room.", body = ErrorBody),
        (status = 404, description = "No such clean room.", body = ErrorBody),
    )
)]
pub(crate) async fn revocations(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<RoomPath>,
) -> Result<Json<RevocationList>, ApiError> {
    require_reader(&s, &p.cleanroom, &principal).await?;
    Ok(Json(RevocationList { items: area(&s)?.governance.revocations(&p.cleanroom).await.map_err(gov_error)? }))
}

/// The invitations (made by accepted `invite_user` proposals).
#[utoipa::path(
    get,
    path = "/v1/cleanrooms/{cleanroom}/invitations",
    operation_id = "listInvitations",
    tag = "cleanrooms",
    params(RoomPath),
    responses(
        (status = 400, description = "A malformed path parameter.", body = ErrorBody),
        (status = 200, description = "The invitations.", body = InvitationList),
        (status = 403, description = "Not a party to the clean room.", body = ErrorBody),
        (status = 404, description = "No such clean room.", body = ErrorBody),
    )
)]
pub(crate) async fn invitations(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<RoomPath>,
) -> Result<Json<InvitationList>, ApiError> {
    require_reader(&s, &p.cleanroom, &principal).await?;
    Ok(Json(InvitationList { items: area(&s)?.governance.invitations(&p.cleanroom).await.map_err(gov_error)? }))
}

/// Accept an invitation, as the invited identity (its API token, or its OIDC token from the
/// invitation's issuer): it becomes an active user of the clean room.
#[utoipa::path(
    post,
    path = "/v1/cleanrooms/{cleanroom}/invitations/{id}/accept",
    operation_id = "acceptInvitation",
    tag = "cleanrooms",
    params(InvitationPath),
    responses(
        (status = 200, description = "The user the identity now is.", body = User),
        (status = 400, description = "A malformed path parameter, or the user id was taken.", body = ErrorBody),
        (status = 403, description = "The invitation is for another identity (`invitation_not_yours`).", body = ErrorBody),
        (status = 404, description = "No such clean room or invitation.", body = ErrorBody),
        (status = 409, description = "Accepted already (`invitation_used`), expired (`invitation_expired`), or its proposal is still open (`invitation_not_accepted`).", body = ErrorBody),
    )
)]
pub(crate) async fn accept_invitation(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(p): ApiPath<InvitationPath>,
) -> Result<Json<User>, ApiError> {
    let identity = identity(&principal)?;
    let governance = &area(&s)?.governance;
    let user = governance.accept_invitation(&p.cleanroom, &identity, &p.id, now_ms(&s)).await.map_err(gov_error)?;
    Ok(Json(user))
}

/// The identity an invitation is matched against: an API token's name, or a JWT's subject
/// with its issuer. A user credential or a client certificate is no invited identity.
fn identity(principal: &Option<axum::Extension<Principal>>) -> Result<Identity, ApiError> {
    let refused = |how: &str| ApiError::Forbidden {
        code: "invitation_not_yours",
        message: format!(
            "an invitation is accepted by the invited identity with its own API token or OIDC token, not {how}"
        ),
    };
    let Some(axum::Extension(p)) = principal else {
        return Err(refused("without authentication"));
    };
    match &p.method {
        AuthMethod::ApiToken { .. } => Ok(Identity { principal: p.name.clone(), issuer: None }),
        AuthMethod::Jwt { issuer } => Ok(Identity { principal: p.name.clone(), issuer: Some(issuer.clone()) }),
        AuthMethod::UserCredential { .. } => Err(refused("a user credential")),
        AuthMethod::ClientCertificate => Err(refused("a client certificate")),
        AuthMethod::Unauthenticated => Err(refused("without authentication")),
    }
}
