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
use consort_governance::model::{Action, Invitation, InvitationState, Proposal, ProposalState, Revocation, User};
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
    /// The credential itself (`ccu_…`), optional. Its signature is checked with its issuer's
    /// registered key and its expiry recorded: the revocation then covers the credentials with
    /// this id that expire no later, and is forgotten an hour after that. Without it, the id is
    /// revoked for good. Neither stored nor logged.
    #[serde(default)]
    credential: Option<String>,
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
/// whose payload is a RevokeCredential). It stops authenticating at once. Revocations whose
/// credentials expired over an hour ago are pruned in the same write.
#[utoipa::path(
    post,
    path = "/v1/cleanrooms/{cleanroom}/credentials/revocations",
    operation_id = "revokeCredential",
    tag = "cleanrooms",
    params(RoomPath),
    request_body(content = Vec<u8>, content_type = "application/cose",
        description = "A COSE_Sign1 `credential.revoke` request whose payload is a RevokeCredential."),
    responses(
        (status = 200, description = "Revoked (or revoked before: the first revocation, widened if this one covers more).", body = Revocation),
        (status = 400, description = "A malformed credential id or body, or a credential that is not this id's or does not verify.", body = ErrorBody),
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
        .revoke_credential(&p.cleanroom, &request, &revoke.credential_id, revoke.credential.as_deref(), now_ms(&s))
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

/// Where an invitation addressed to the caller stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub(crate) enum InvitationStanding {
    /// In a proposal the members have not accepted yet: it cannot be accepted yet.
    Proposed,
    /// Waits for the invited identity, until it expires.
    Pending,
    /// Not accepted in time; a member may invite again under a new id.
    Expired,
    /// The invited identity accepted it: it is a user.
    Accepted,
}

/// An invitation addressed to the caller, in one clean room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct AddressedInvitation {
    /// The clean room.
    cleanroom: String,
    /// The invitation's id (what `…/invitations/{id}/accept` names).
    id: String,
    /// The user id the caller becomes.
    user_id: String,
    /// Where it stands now.
    standing: InvitationStanding,
    /// The proposal that makes it.
    proposal_id: String,
    /// The member who proposed it.
    proposed_by: String,
    /// When it expires, ms; `null` while its proposal is open (the lifetime starts at acceptance).
    expires_ms: Option<i64>,
    /// When the caller accepted it, ms.
    accepted_ms: Option<i64>,
}

/// The invitations addressed to the caller.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AddressedInvitationList {
    /// By clean room, then id.
    items: Vec<AddressedInvitation>,
}

/// The invitations of one clean room addressed to `identity` at `now_ms`: the made ones (from
/// accepted proposals) and those still in an open proposal. Matching is exact, as accepting is:
/// the principal and the issuer (an API token's name is not an OIDC subject of the same name).
fn addressed_to(
    identity: &Identity,
    cleanroom: &str,
    invitations: &[Invitation],
    proposals: &[Proposal],
    now_ms: i64,
) -> Vec<AddressedInvitation> {
    let proposer = |id: &str| proposals.iter().find(|p| p.id == id).map(|p| p.proposer.clone()).unwrap_or_default();
    let made =
        invitations.iter().filter(|i| i.principal == identity.principal && i.issuer == identity.issuer).map(|i| {
            let standing = match i.state {
                InvitationState::Accepted => InvitationStanding::Accepted,
                InvitationState::Pending if i.expires_ms <= now_ms => InvitationStanding::Expired,
                InvitationState::Pending => InvitationStanding::Pending,
            };
            AddressedInvitation {
                cleanroom: cleanroom.to_string(),
                id: i.id.clone(),
                user_id: i.user_id.clone(),
                standing,
                proposal_id: i.proposal_id.clone(),
                proposed_by: proposer(&i.proposal_id),
                expires_ms: Some(i.expires_ms),
                accepted_ms: i.accepted_ms,
            }
        });
    let proposed = proposals.iter().filter(|p| p.state == ProposalState::Open).flat_map(|p| {
        p.actions.iter().filter_map(move |a| match a {
            Action::InviteUser { invitation_id, id, principal, issuer, .. }
                if *principal == identity.principal && *issuer == identity.issuer =>
            {
                Some(AddressedInvitation {
                    cleanroom: cleanroom.to_string(),
                    id: invitation_id.clone(),
                    user_id: id.clone(),
                    standing: InvitationStanding::Proposed,
                    proposal_id: p.id.clone(),
                    proposed_by: p.proposer.clone(),
                    expires_ms: None,
                    accepted_ms: None,
                })
            }
            _ => None,
        })
    });
    let mut all: Vec<AddressedInvitation> = made.chain(proposed).collect();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    all
}

/// The invitations addressed to the caller in every clean room (its API token's name, or its
/// OIDC subject and issuer): pending, expired, accepted, and those in a proposal the members
/// have not accepted yet. The caller need not be a party of the clean room yet.
#[utoipa::path(
    get,
    path = "/v1/invitations",
    operation_id = "listMyInvitations",
    tag = "cleanrooms",
    responses(
        (status = 200, description = "The invitations addressed to the caller.", body = AddressedInvitationList),
        (status = 403, description = "No `cleanroom` role, a user credential (`credential_scope`), or a caller that is no invitable identity (`invitation_not_yours`: a client certificate).", body = ErrorBody),
        (status = 404, description = "This server does not run the clean-room area.", body = ErrorBody),
    )
)]
pub(crate) async fn my_invitations(
    State(s): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
) -> Result<Json<AddressedInvitationList>, ApiError> {
    let identity = identity(&principal)?;
    let governance = &area(&s)?.governance;
    let now = now_ms(&s);
    let mut items = Vec::new();
    for cleanroom in governance.cleanrooms().await.map_err(gov_error)? {
        let invitations = governance.invitations(&cleanroom).await.map_err(gov_error)?;
        let proposals = governance.proposals(&cleanroom).await.map_err(gov_error)?;
        items.extend(addressed_to(&identity, &cleanroom, &invitations, &proposals, now));
    }
    Ok(Json(AddressedInvitationList { items }))
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn invitation(id: &str, principal: &str, issuer: Option<&str>, state: InvitationState) -> Invitation {
        Invitation {
            id: id.into(),
            user_id: format!("u-{id}"),
            principal: principal.into(),
            issuer: issuer.map(str::to_string),
            state,
            proposal_id: "p1".into(),
            created_ms: 1_000,
            expires_ms: 5_000,
            accepted_ms: (state == InvitationState::Accepted).then_some(2_000),
        }
    }

    fn proposal(id: &str, state: ProposalState, actions: Vec<Action>) -> Proposal {
        Proposal {
            id: id.into(),
            proposer: format!("m-{id}"),
            actions,
            state,
            ballots: BTreeMap::new(),
            created_ms: 0,
            resolved_ms: None,
        }
    }

    fn invite(invitation_id: &str, principal: &str) -> Action {
        Action::InviteUser {
            invitation_id: invitation_id.into(),
            id: format!("u-{invitation_id}"),
            principal: principal.into(),
            issuer: None,
            expires_in_s: None,
        }
    }

    #[test]
    fn an_identity_sees_its_own_invitations_with_where_they_stand() {
        let dave = Identity { principal: "dave".into(), issuer: None };
        let invitations = [
            invitation("a-pending", "dave", None, InvitationState::Pending),
            invitation("b-accepted", "dave", None, InvitationState::Accepted),
            invitation("c-erin", "erin", None, InvitationState::Pending),
            invitation("d-oidc-dave", "dave", Some("https://idp"), InvitationState::Pending),
        ];
        let proposals = [
            proposal("p1", ProposalState::Accepted, vec![]),
            proposal("p2", ProposalState::Open, vec![invite("e-open", "dave"), invite("f-open-erin", "erin")]),
            proposal("p3", ProposalState::Rejected, vec![invite("g-rejected", "dave")]),
        ];
        let seen = |now| {
            addressed_to(&dave, "lab", &invitations, &proposals, now)
                .into_iter()
                .map(|i| (i.id, i.standing, i.proposed_by))
                .collect::<Vec<_>>()
        };
        let m = |s: &str| s.to_string();
        assert_eq!(
            seen(4_999),
            [
                (m("a-pending"), InvitationStanding::Pending, m("m-p1")),
                (m("b-accepted"), InvitationStanding::Accepted, m("m-p1")),
                (m("e-open"), InvitationStanding::Proposed, m("m-p2")),
            ]
        );
        // At its expiry a pending invitation has expired; an accepted one stays accepted.
        assert_eq!(seen(5_000)[0].1, InvitationStanding::Expired);
        assert_eq!(seen(5_000)[1].1, InvitationStanding::Accepted);
        // The same subject from an issuer is someone else.
        let oidc = Identity { principal: "dave".into(), issuer: Some("https://idp".into()) };
        let theirs = addressed_to(&oidc, "lab", &invitations, &proposals, 0);
        assert_eq!(theirs.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["d-oidc-dave"]);
        assert_eq!(theirs[0].expires_ms, Some(5_000));
    }
}
