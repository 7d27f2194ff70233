//! How users come in: member-issued credentials (checked against the clean room's state at
//! every request; revocable by id) and invitations (an accepted proposal invites an identity,
//! which becomes a user only when it accepts, itself).

use serde_json::json;

use crate::credentials::{self, DEFAULT_MAX_TTL_S, MAX_TTL_SETTING};
use crate::error::GovError;
use crate::model::{
    Action, Invitation, InvitationState, Member, PartyStatus, Proposal, ProposalState, Revocation, User,
};
use crate::rules::{self, Identity};
use crate::service::{Caller, Governance, MemberRequest, member_list, not_found, seen, user_list};
use crate::store::Map;
use crate::tx::Tx;

/// A credential that verified: who vouched for whom, in which clean room, until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCredential {
    /// The clean room, the only one it reaches.
    pub cleanroom: String,
    /// The member who signed it (active now).
    pub member: String,
    /// The user it authenticates (active now).
    pub user: User,
    /// Its id.
    pub id: String,
    /// When it expires, seconds since the epoch.
    pub expires_at: i64,
}

impl Governance {
    /// Verifies a member-issued user credential (`ccu_…`) at `now_ms`: its shape, the member
    /// active now and its signature, its lifetime (the clean room's [`MAX_TTL_SETTING`] or
    /// 24 h), not revoked, and its user active now. A refusal inside an existing clean room is
    /// recorded in its ledger.
    pub async fn verify_credential(&self, text: &str, now_ms: i64) -> Result<VerifiedCredential, GovError> {
        let parsed = credentials::parse(text)?;
        let cleanroom = parsed.cleanroom().to_string();
        let decided = self.check_credential(&parsed, now_ms).await;
        if let Err(refused) = &decided
            && refused.is_refusal()
            && !matches!(refused, GovError::NoSuchCleanRoom(_))
        {
            let caller = Caller::User(format!("credential:{}", parsed.claims().id));
            self.record_refusal(&cleanroom, now_ms, "user credential", Some(&caller), refused).await;
        }
        decided
    }

    async fn check_credential(
        &self,
        parsed: &credentials::UnverifiedCredential,
        now_ms: i64,
    ) -> Result<VerifiedCredential, GovError> {
        let cleanroom = parsed.cleanroom();
        self.require_cleanroom(cleanroom).await?;
        let mut tx = Tx::new(self.store().as_ref(), cleanroom, now_ms);
        let member: Member = tx
            .get(Map::Members, parsed.member_id())
            .await?
            .ok_or_else(|| GovError::NotAMember { member: parsed.member_id().to_string() })?;
        if member.status != PartyStatus::Active {
            return Err(GovError::MemberInactive { member: member.id });
        }
        let key = consort_signing::MemberPublicKey::from_pem(&member.public_key_pem)
            .map_err(|e| GovError::Corrupt { what: "members", key: member.id.clone(), message: e.to_string() })?;
        parsed.verify(&key)?;
        let claims = parsed.claims();
        let max_ttl_s = tx
            .get::<serde_json::Value>(Map::Config, &format!("setting/{MAX_TTL_SETTING}"))
            .await?
            .and_then(|v| v.as_i64());
        credentials::check_lifetime(
            parsed.created_at(),
            claims.expires_at,
            now_ms.div_euclid(1000),
            max_ttl_s.unwrap_or(DEFAULT_MAX_TTL_S),
        )?;
        if let Some(revoked) = tx.get::<Revocation>(Map::Revocations, &claims.id).await?
            && credentials::revocation_covers(&revoked, claims.expires_at)
        {
            return Err(GovError::Credential {
                code: "credential_revoked",
                message: format!(
                    "user credential {:?} was revoked by member {:?}: ask a member for a new one",
                    claims.id, revoked.by
                ),
            });
        }
        let user = match tx.get::<User>(Map::Users, &claims.user).await? {
            Some(u) if u.status == PartyStatus::Active => u,
            _ => {
                return Err(GovError::Credential {
                    code: "user_inactive",
                    message: format!(
                        "{:?} is not an active user of clean room {cleanroom:?} (never added, or removed): its \
                         credentials no longer authenticate",
                        claims.user
                    ),
                });
            }
        };
        Ok(VerifiedCredential {
            cleanroom: cleanroom.to_string(),
            member: member.id,
            user,
            id: claims.id.clone(),
            expires_at: claims.expires_at,
        })
    }

    /// Revokes one user credential by id (an active member's signed `credential.revoke`
    /// request): from this commit on, it no longer authenticates. With `credential` (the
    /// `ccu_…` text, its signature checked with its issuer's registered key; never stored nor
    /// logged) the revocation records its expiry, covers the credentials with this id that
    /// expire no later, and is pruned once they all have expired; by id alone it covers every
    /// credential with the id for good. Revoking it again answers the first revocation, widened
    /// if the second covers more. The same unit of work prunes the revocations whose credentials
    /// expired over [`credentials::REVOCATION_PRUNE_MARGIN_S`] ago, in the same ledger entry.
    pub async fn revoke_credential(
        &self,
        cleanroom: &str,
        request: &MemberRequest,
        credential_id: &str,
        credential: Option<&str>,
        now_ms: i64,
    ) -> Result<Revocation, GovError> {
        rules::check_id("credential_id", credential_id)?;
        let presented = credential.map(|text| parse_presented(text, cleanroom, credential_id)).transpose()?;
        let caller = Caller::Member(request.clone());
        let now_s = now_ms.div_euclid(1000);
        let (revocation, _) = transact!(self, cleanroom, now_ms, "revoke credential", Some(&caller), |tx| {
            let members = member_list(tx).await?;
            seen(tx, request).await?;
            rules::require_active_member(&members, &request.member)?;
            let expires_at = match &presented {
                Some(parsed) => Some(verified_expiry(&members, parsed)?),
                None => None,
            };
            let pruned = prune_revocations(tx, now_s).await?;
            let earlier = match tx.get::<Revocation>(Map::Revocations, credential_id).await? {
                Some(earlier) if !pruned.iter().any(|id| id == credential_id) => Some(earlier),
                _ => None,
            };
            let revocation = match earlier {
                Some(earlier) => match credentials::widen_revocation(&earlier, expires_at) {
                    Some(widened) => widened,
                    None => return Ok(earlier),
                },
                None => Revocation {
                    credential_id: credential_id.to_string(),
                    by: request.member.clone(),
                    at_ms: now_ms,
                    expires_at,
                },
            };
            tx.put(Map::Revocations, credential_id, &revocation);
            tx.log(
                "credential.revoked",
                json!({"credential": credential_id, "by": request.member, "expires_at": revocation.expires_at}),
            );
            Ok(revocation)
        })?;
        Ok(revocation)
    }

    /// The revoked credentials, by id.
    pub async fn revocations(&self, cleanroom: &str) -> Result<Vec<Revocation>, GovError> {
        self.require_cleanroom(cleanroom).await?;
        let mut tx = Tx::new(self.store().as_ref(), cleanroom, 0);
        Ok(tx.all::<Revocation>(Map::Revocations, "").await?.into_iter().map(|(_, r)| r).collect())
    }

    /// The invitations, by id.
    pub async fn invitations(&self, cleanroom: &str) -> Result<Vec<Invitation>, GovError> {
        self.require_cleanroom(cleanroom).await?;
        let mut tx = Tx::new(self.store().as_ref(), cleanroom, 0);
        Ok(tx.all::<Invitation>(Map::Invitations, "").await?.into_iter().map(|(_, i)| i).collect())
    }

    /// The invited identity accepts its invitation and becomes an active user, in one unit of
    /// work. Refused for another identity, a second time, after expiry, or while the proposal
    /// that makes it is still open.
    pub async fn accept_invitation(
        &self,
        cleanroom: &str,
        identity: &Identity,
        invitation_id: &str,
        now_ms: i64,
    ) -> Result<User, GovError> {
        let caller = Caller::User(identity.principal.clone());
        let (user, _) = transact!(self, cleanroom, now_ms, "accept invitation", Some(&caller), |tx| {
            member_list(tx).await?;
            let Some(mut invitation) = tx.get::<Invitation>(Map::Invitations, invitation_id).await? else {
                return Err(match open_proposal_inviting(tx, invitation_id).await? {
                    Some(proposal) => GovError::Invitation {
                        code: "invitation_not_accepted",
                        message: format!(
                            "invitation {invitation_id:?} is in proposal {proposal}, which the members have not \
                             accepted yet: accept it once every active member voted for it"
                        ),
                    },
                    None => not_found("invitation", invitation_id),
                });
            };
            rules::check_invitation(&invitation, identity, now_ms)?;
            let users = user_list(tx).await?;
            if users.iter().any(|u| u.id == invitation.user_id) {
                return Err(GovError::invalid(
                    "invitation",
                    format!(
                        "user {:?} exists already (another invitation or proposal took the id)",
                        invitation.user_id
                    ),
                    "ask the members to invite you under another user id",
                ));
            }
            let user = User {
                id: invitation.user_id.clone(),
                principal: invitation.principal.clone(),
                status: PartyStatus::Active,
                added_by: Some(invitation.proposal_id.clone()),
            };
            invitation.state = InvitationState::Accepted;
            invitation.accepted_ms = Some(now_ms);
            tx.put(Map::Users, &user.id, &user);
            tx.put(Map::Invitations, invitation_id, &invitation);
            tx.log(
                "invitation.accepted",
                json!({"invitation": invitation_id, "user": user.id, "principal": user.principal, "issuer": invitation.issuer}),
            );
            Ok(user)
        })?;
        Ok(user)
    }
}

/// Removes the revocations that may be forgotten at `now_s` (their credentials expired long
/// enough ago, [`credentials::revocation_prunable`]) and says so in the unit of work's ledger
/// entry. Returns their ids.
async fn prune_revocations(tx: &mut Tx<'_>, now_s: i64) -> Result<Vec<String>, GovError> {
    let revocations: Vec<(String, Revocation)> = tx.all(Map::Revocations, "").await?;
    let pruned: Vec<String> =
        revocations.into_iter().filter(|(_, r)| credentials::revocation_prunable(r, now_s)).map(|(id, _)| id).collect();
    for id in &pruned {
        tx.delete(Map::Revocations, id);
    }
    if !pruned.is_empty() {
        tx.log(
            "credential.revocations_pruned",
            json!({"credentials": pruned, "expired_before_s": now_s - credentials::REVOCATION_PRUNE_MARGIN_S}),
        );
    }
    Ok(pruned)
}

/// How to mend a credential presented with its revocation that cannot be used.
const PRESENTED_CREDENTIAL_FIX: &str = "send the exact `ccu_…` credential whose id you revoke, or its id alone";

/// Reads a credential presented with its revocation; nothing of it is trusted yet.
fn parse_presented(
    text: &str,
    cleanroom: &str,
    credential_id: &str,
) -> Result<credentials::UnverifiedCredential, GovError> {
    let fix = PRESENTED_CREDENTIAL_FIX;
    let parsed = credentials::parse(text.trim()).map_err(|e| GovError::invalid("credential", e.to_string(), fix))?;
    if parsed.cleanroom() != cleanroom {
        return Err(GovError::invalid(
            "credential",
            format!("it is a credential of clean room {:?}, not {cleanroom:?}", parsed.cleanroom()),
            fix,
        ));
    }
    if parsed.claims().id != credential_id {
        return Err(GovError::invalid(
            "credential",
            format!("its id is {:?}, not the credential_id {credential_id:?}", parsed.claims().id),
            fix,
        ));
    }
    Ok(parsed)
}

/// The expiry of a presented credential, once its signature verifies with the registered key of
/// the member it names (active or not: a removed member's credentials may still be revoked).
fn verified_expiry(members: &[Member], parsed: &credentials::UnverifiedCredential) -> Result<i64, GovError> {
    let fix = PRESENTED_CREDENTIAL_FIX;
    let Some(member) = members.iter().find(|m| m.id == parsed.member_id()) else {
        return Err(GovError::invalid(
            "credential",
            format!("it names {:?}, who is no member of this clean room", parsed.member_id()),
            fix,
        ));
    };
    let key = consort_signing::MemberPublicKey::from_pem(&member.public_key_pem).map_err(|e| GovError::Corrupt {
        what: "members",
        key: member.id.clone(),
        message: e.to_string(),
    })?;
    parsed.verify(&key).map_err(|e| GovError::invalid("credential", e.to_string(), fix))?;
    Ok(parsed.claims().expires_at)
}

/// The open proposal that would make this invitation, if any.
async fn open_proposal_inviting(tx: &mut Tx<'_>, invitation_id: &str) -> Result<Option<String>, GovError> {
    let proposals: Vec<(String, Proposal)> = tx.all(Map::Proposals, "").await?;
    Ok(proposals.into_iter().find_map(|(id, p)| {
        let invites =
            p.actions.iter().any(|a| matches!(a, Action::InviteUser { invitation_id: i, .. } if i == invitation_id));
        (p.state == ProposalState::Open && invites).then_some(id)
    }))
}

/// Invitation ids are never reused: a proposal naming one that exists is refused.
pub(crate) async fn check_invitations_unused(tx: &mut Tx<'_>, actions: &[Action]) -> Result<(), GovError> {
    for (i, action) in actions.iter().enumerate() {
        if let Action::InviteUser { invitation_id, .. } = action
            && tx.get::<Invitation>(Map::Invitations, invitation_id).await?.is_some()
        {
            return Err(GovError::invalid(
                format!("actions[{i}].invitation_id"),
                format!("invitation {invitation_id:?} exists already (ids are never reused)"),
                "pick another invitation id",
            ));
        }
    }
    Ok(())
}
