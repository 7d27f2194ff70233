//! The governance rules, pure: who may do what, when a proposal resolves, who approves a
//! document, what the effective consent is. No I/O and no clock (`now_ms` is passed in).

use std::collections::{BTreeMap, BTreeSet};

use crate::error::GovError;
use crate::model::{
    Action, ConsentDecision, ConsentOption, Document, DocumentBody, DocumentState, Invitation, InvitationState, Member,
    PartyStatus, Proposal, ProposalState, User, Vote,
};

/// The longest id of a member, user, contract, document or secret.
pub const MAX_ID_LEN: usize = 64;

/// Checks an id: 1 to 64 of `a-z`, `0-9`, `-`, `_`, `.`, starting with a letter or digit.
pub fn check_id(field: &str, id: &str) -> Result<(), GovError> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.');
    let starts_ok = id.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if id.is_empty() || id.len() > MAX_ID_LEN || !starts_ok || !id.chars().all(ok_char) {
        return Err(GovError::invalid(
            field,
            format!("{id:?} is not a valid id"),
            "use 1 to 64 characters of a-z, 0-9, '-', '_' or '.', starting with a letter or a digit",
        ));
    }
    Ok(())
}

/// The ids of the active members, sorted.
pub fn active_members(members: &[Member]) -> BTreeSet<String> {
    members.iter().filter(|m| m.status == PartyStatus::Active).map(|m| m.id.clone()).collect()
}

/// Checks that `member_id` names an active member.
pub fn require_active_member<'a>(members: &'a [Member], member_id: &str) -> Result<&'a Member, GovError> {
    match members.iter().find(|m| m.id == member_id) {
        None => Err(GovError::NotAMember { member: member_id.to_string() }),
        Some(m) if m.status != PartyStatus::Active => Err(GovError::MemberInactive { member: member_id.to_string() }),
        Some(m) => Ok(m),
    }
}

/// The active user an authenticated principal is, if any.
pub fn user_for_principal<'a>(users: &'a [User], principal: &str) -> Option<&'a User> {
    users.iter().find(|u| u.principal == principal && u.status == PartyStatus::Active)
}

/// How long an invitation stays open when its proposal does not say: 7 days.
pub const DEFAULT_INVITATION_TTL_S: i64 = 7 * 86_400;
/// The longest an invitation may stay open: 30 days.
pub const MAX_INVITATION_TTL_S: i64 = 30 * 86_400;

/// Who an authenticated caller is, as an invitation names identities: a principal name and,
/// for an OIDC token, its issuer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The API token's name or the JWT's subject.
    pub principal: String,
    /// The JWT's issuer; `None` for an API token.
    pub issuer: Option<String>,
}

/// Whether `identity` may accept `invitation` at `now_ms`: it is pending, not expired, and
/// names exactly this identity (principal and issuer).
pub fn check_invitation(invitation: &Invitation, identity: &Identity, now_ms: i64) -> Result<(), GovError> {
    if invitation.principal != identity.principal || invitation.issuer != identity.issuer {
        let how = match &identity.issuer {
            Some(iss) => format!("the OIDC subject {:?} of {iss}", identity.principal),
            None => format!("the API token {:?}", identity.principal),
        };
        return Err(GovError::Invitation {
            code: "invitation_not_yours",
            message: format!(
                "invitation {:?} is for another identity, not {how}: only the invited identity accepts it",
                invitation.id
            ),
        });
    }
    if invitation.state == InvitationState::Accepted {
        return Err(GovError::Invitation {
            code: "invitation_used",
            message: format!(
                "invitation {:?} was accepted already (user {:?}): an invitation is accepted once",
                invitation.id, invitation.user_id
            ),
        });
    }
    if invitation.expires_ms <= now_ms {
        return Err(GovError::Invitation {
            code: "invitation_expired",
            message: format!(
                "invitation {:?} expired {} s ago: ask the members to propose a new one",
                invitation.id,
                (now_ms - invitation.expires_ms) / 1000
            ),
        });
    }
    Ok(())
}

/// Checks a proposal's actions against the clean room as it is: each must be applicable now,
/// and together they must leave at least one active member.
pub fn check_actions(actions: &[Action], members: &[Member], users: &[User]) -> Result<(), GovError> {
    if actions.is_empty() {
        return Err(GovError::invalid("actions", "the proposal has no actions", "add at least one action"));
    }
    let mut active = active_members(members);
    let mut known_members: BTreeSet<&str> = members.iter().map(|m| m.id.as_str()).collect();
    let mut active_users: BTreeSet<String> =
        users.iter().filter(|u| u.status == PartyStatus::Active).map(|u| u.id.clone()).collect();
    let mut known_users: BTreeSet<&str> = users.iter().map(|u| u.id.as_str()).collect();
    for (i, action) in actions.iter().enumerate() {
        let field = |name: &str| format!("actions[{i}].{name}");
        match action {
            Action::AddMember { id, public_key_pem } => {
                check_id(&field("id"), id)?;
                if !known_members.insert(id) {
                    return Err(GovError::invalid(
                        field("id"),
                        format!("member {id:?} exists already (ids are never reused)"),
                        "pick another member id",
                    ));
                }
                if !public_key_pem.contains("-----BEGIN") {
                    return Err(GovError::invalid(
                        field("public_key_pem"),
                        "not a PEM public key or certificate",
                        "pass the member's public key or certificate file made by `consort member keygen`",
                    ));
                }
                active.insert(id.clone());
            }
            Action::RemoveMember { id } => {
                if !active.remove(id) {
                    return Err(GovError::invalid(
                        field("id"),
                        format!("{id:?} is not an active member"),
                        "list the members and pick an active one",
                    ));
                }
            }
            Action::AddUser { id, principal } => {
                check_id(&field("id"), id)?;
                if principal.trim().is_empty() || principal.len() > 256 {
                    return Err(GovError::invalid(
                        field("principal"),
                        "the principal must be 1 to 256 characters",
                        "pass the user's API token name or OIDC subject",
                    ));
                }
                if !known_users.insert(id) {
                    return Err(GovError::invalid(
                        field("id"),
                        format!("user {id:?} exists already (ids are never reused)"),
                        "pick another user id",
                    ));
                }
                active_users.insert(id.clone());
            }
            Action::InviteUser { invitation_id, id, principal, issuer, expires_in_s } => {
                check_id(&field("invitation_id"), invitation_id)?;
                check_id(&field("id"), id)?;
                if principal.trim().is_empty() || principal.len() > 256 {
                    return Err(GovError::invalid(
                        field("principal"),
                        "the principal must be 1 to 256 characters",
                        "pass the invited API token's name or OIDC subject",
                    ));
                }
                if let Some(issuer) = issuer
                    && (!issuer.starts_with("https://") && !issuer.starts_with("http://") || issuer.len() > 512)
                {
                    return Err(GovError::invalid(
                        field("issuer"),
                        format!("{issuer:?} is not an OIDC issuer URL"),
                        "pass the `iss` of the invited identity's tokens, or leave it out for an API token",
                    ));
                }
                if let Some(ttl) = expires_in_s
                    && !(1..=MAX_INVITATION_TTL_S).contains(ttl)
                {
                    return Err(GovError::invalid(
                        field("expires_in_s"),
                        format!("{ttl} s is outside 1 to {MAX_INVITATION_TTL_S} s"),
                        "give the invitation between 1 s and 30 days, or leave it out for 7 days",
                    ));
                }
                if known_users.contains(id.as_str()) {
                    return Err(GovError::invalid(
                        field("id"),
                        format!("user {id:?} exists already (ids are never reused)"),
                        "pick another user id",
                    ));
                }
            }
            Action::RemoveUser { id } => {
                if !active_users.remove(id) {
                    return Err(GovError::invalid(
                        field("id"),
                        format!("{id:?} is not an active user"),
                        "list the users and pick an active one",
                    ));
                }
            }
            Action::SetContract { contract_id, version } => {
                check_id(&field("contract_id"), contract_id)?;
                if *version < 1 {
                    return Err(GovError::invalid(field("version"), "versions start at 1", "pass the draft's version"));
                }
            }
            Action::SetSetting { name, .. } => check_id(&field("name"), name)?,
        }
    }
    if active.is_empty() {
        return Err(GovError::LastMember);
    }
    Ok(())
}

/// Where a proposal stands given its ballots and the active members: one rejection by an
/// active member rejects; it is accepted when every active member accepted; otherwise open.
/// Ballots of members no longer active do not count.
pub fn tally(ballots: &BTreeMap<String, Vote>, active: &BTreeSet<String>) -> ProposalState {
    let counted = || ballots.iter().filter(|(m, _)| active.contains(*m));
    if counted().any(|(_, v)| *v == Vote::Reject) {
        ProposalState::Rejected
    } else if !active.is_empty() && active.iter().all(|m| ballots.get(m) == Some(&Vote::Accept)) {
        ProposalState::Accepted
    } else {
        ProposalState::Open
    }
}

/// Records `voter`'s ballot on an open proposal and says where it now stands. A second ballot
/// by the same member is refused (ballots are final), and so is any ballot after resolution.
pub fn cast_ballot(
    proposal: &mut Proposal,
    active: &BTreeSet<String>,
    voter: &str,
    vote: Vote,
    now_ms: i64,
) -> Result<ProposalState, GovError> {
    if proposal.state != ProposalState::Open {
        return Err(GovError::ProposalNotOpen { proposal: proposal.id.clone(), state: proposal.state.as_str() });
    }
    if !active.contains(voter) {
        return Err(GovError::MemberInactive { member: voter.to_string() });
    }
    if proposal.ballots.contains_key(voter) {
        return Err(GovError::AlreadyVoted { voter: voter.to_string(), on: proposal.id.clone() });
    }
    proposal.ballots.insert(voter.to_string(), vote);
    let state = tally(&proposal.ballots, active);
    if state != ProposalState::Open {
        proposal.state = state;
        proposal.resolved_ms = Some(now_ms);
    }
    Ok(state)
}

/// Withdraws an open proposal; only its proposer may.
pub fn withdraw(proposal: &mut Proposal, member: &str, now_ms: i64) -> Result<(), GovError> {
    if proposal.state != ProposalState::Open {
        return Err(GovError::ProposalNotOpen { proposal: proposal.id.clone(), state: proposal.state.as_str() });
    }
    if proposal.proposer != member {
        return Err(GovError::Forbidden {
            message: format!("only its proposer {:?} may withdraw proposal {}", proposal.proposer, proposal.id),
        });
    }
    proposal.state = ProposalState::Withdrawn;
    proposal.resolved_ms = Some(now_ms);
    Ok(())
}

/// The approvers of a document, computed here and never taken from the caller: a dataset's or
/// sink's owner; for a query, the owners of every input dataset **and** of the sink (and its
/// own owner), each once, sorted. Every referenced document must exist, be accepted and be of
/// the right kind.
pub fn approvers(
    document_owner: &str,
    body: &DocumentBody,
    lookup: impl Fn(&str) -> Option<Document>,
) -> Result<Vec<String>, GovError> {
    let mut approvers = BTreeSet::from([document_owner.to_string()]);
    if let DocumentBody::Query(query) = body {
        let mut referenced: Vec<(String, &str, &str)> = query
            .inputs
            .iter()
            .enumerate()
            .map(|(i, input)| (format!("inputs[{i}].dataset"), input.dataset.as_str(), "dataset"))
            .collect();
        referenced.push(("sink".to_string(), query.sink.as_str(), "sink"));
        for (field, id, kind) in referenced {
            let doc = lookup(id).ok_or_else(|| {
                GovError::invalid(
                    &field,
                    format!("no document {id:?}"),
                    format!("publish the {kind} first, or fix the id"),
                )
            })?;
            if doc.body.kind() != kind {
                return Err(GovError::invalid(
                    &field,
                    format!("document {id:?} is a {}, not a {kind}", doc.body.kind()),
                    format!("reference a {kind} document"),
                ));
            }
            if doc.state != DocumentState::Accepted {
                return Err(GovError::invalid(
                    &field,
                    format!("{kind} {id:?} is {:?}, not accepted", doc.state),
                    format!("have the {kind}'s owner propose it and its approvers accept it first"),
                ));
            }
            approvers.insert(doc.owner.clone());
        }
    }
    Ok(approvers.into_iter().collect())
}

/// Checks a document's content: ids, non-empty allowed fields within the schema, segments.
pub fn check_document(body: &DocumentBody) -> Result<(), GovError> {
    match body {
        DocumentBody::Dataset(d) => {
            check_location("body.location", &d.location)?;
            if d.schema.is_empty() {
                return Err(GovError::invalid(
                    "body.schema",
                    "the schema has no fields",
                    "declare the dataset's columns",
                ));
            }
            let names: BTreeSet<&str> = d.schema.iter().map(|f| f.name.as_str()).collect();
            check_allowed("body.allowed_fields", &d.allowed_fields, Some(&names))?;
        }
        DocumentBody::Sink(s) => {
            check_location("body.location", &s.location)?;
            check_allowed("body.allowed_fields", &s.allowed_fields, None)?;
        }
        DocumentBody::Query(q) => {
            if q.segments.is_empty() {
                return Err(GovError::invalid(
                    "body.segments",
                    "the query has no segments",
                    "add at least one SQL segment",
                ));
            }
            if q.inputs.is_empty() {
                return Err(GovError::invalid(
                    "body.inputs",
                    "the query reads no dataset",
                    "name at least one input dataset",
                ));
            }
            let last = q.segments.iter().map(|s| s.execution_order).max().unwrap_or_default();
            if q.segments.iter().filter(|s| s.execution_order == last).count() != 1 {
                return Err(GovError::invalid(
                    "body.segments",
                    format!(
                        "{} segments share the last execution order {last}",
                        q.segments.iter().filter(|s| s.execution_order == last).count()
                    ),
                    "the last execution order must hold exactly one segment: its result is the output",
                ));
            }
            for (i, s) in q.segments.iter().enumerate() {
                if s.sql.trim().is_empty() {
                    return Err(GovError::invalid(
                        format!("body.segments[{i}].sql"),
                        "empty SQL",
                        "write the segment's SQL",
                    ));
                }
            }
            let mut views = BTreeSet::new();
            for (i, input) in q.inputs.iter().enumerate() {
                check_id(&format!("body.inputs[{i}].dataset"), &input.dataset)?;
                if !views.insert(input.view.as_str()) || input.view.is_empty() {
                    return Err(GovError::invalid(
                        format!("body.inputs[{i}].view"),
                        format!("view {:?} is empty or used twice", input.view),
                        "give each input its own view name",
                    ));
                }
            }
            check_id("body.sink", &q.sink)?;
        }
    }
    Ok(())
}

fn check_location(field: &str, location: &str) -> Result<(), GovError> {
    let known = ["hdfs://", "webhdfs://", "s3://", "s3a://", "abfs://", "abfss://", "wasbs://", "file://"];
    if !known.iter().any(|p| location.starts_with(p)) || location.len() > 2048 {
        return Err(GovError::invalid(
            field,
            format!("{location:?} is not a storage URI consort reads"),
            "use an hdfs://, s3://, abfs(s)://, wasbs:// or file:// URI",
        ));
    }
    Ok(())
}

fn check_allowed(field: &str, allowed: &[String], schema: Option<&BTreeSet<&str>>) -> Result<(), GovError> {
    if allowed.is_empty() {
        return Err(GovError::invalid(field, "no allowed fields", "list the columns the clean room may use"));
    }
    if let Some(schema) = schema
        && let Some(unknown) = allowed.iter().find(|f| !schema.contains(f.as_str()))
    {
        return Err(GovError::invalid(
            field,
            format!("{unknown:?} is not a column of the schema"),
            "allow only columns declared in the schema",
        ));
    }
    Ok(())
}

/// The effective state of one consent option over a set of parties.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentStatus {
    /// On only when every party's decision (or default) is on.
    pub enabled: bool,
    /// The parties whose decision (or default) is off, sorted.
    pub off_by: Vec<String>,
}

/// The AND over `parties` of their decisions on `option`; a party with no decision counts as
/// the option's default (execution on, logging and telemetry off).
pub fn effective_consent(
    option: ConsentOption,
    parties: &BTreeSet<String>,
    decisions: &BTreeMap<String, ConsentDecision>,
) -> ConsentStatus {
    let off_by: Vec<String> =
        parties.iter().filter(|p| !decisions.get(*p).map_or(option.default_on(), |d| d.enabled)).cloned().collect();
    ConsentStatus { enabled: off_by.is_empty() && !parties.is_empty(), off_by }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DataFormat, DatasetSpec, Field, QueryInput, QuerySpec, Segment, SinkSpec};

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    fn member(id: &str, status: PartyStatus) -> Member {
        Member { id: id.into(), public_key_pem: "-----BEGIN PUBLIC KEY-----".into(), status, added_by: None }
    }

    fn proposal() -> Proposal {
        Proposal {
            id: "p".into(),
            proposer: "a".into(),
            actions: vec![Action::RemoveUser { id: "u".into() }],
            state: ProposalState::Open,
            ballots: BTreeMap::new(),
            created_ms: 0,
            resolved_ms: None,
        }
    }

    #[test]
    fn accepted_only_when_every_active_member_accepted() {
        let active = set(&["a", "b", "c"]);
        let mut p = proposal();
        assert_eq!(cast_ballot(&mut p, &active, "a", Vote::Accept, 1).unwrap(), ProposalState::Open);
        assert_eq!(cast_ballot(&mut p, &active, "b", Vote::Accept, 2).unwrap(), ProposalState::Open);
        assert_eq!(cast_ballot(&mut p, &active, "c", Vote::Accept, 3).unwrap(), ProposalState::Accepted);
        assert_eq!((p.state, p.resolved_ms), (ProposalState::Accepted, Some(3)));
    }

    #[test]
    fn one_rejection_rejects_and_resolution_takes_no_more_ballots() {
        let active = set(&["a", "b", "c"]);
        let mut p = proposal();
        cast_ballot(&mut p, &active, "a", Vote::Accept, 1).unwrap();
        assert_eq!(cast_ballot(&mut p, &active, "b", Vote::Reject, 2).unwrap(), ProposalState::Rejected);
        let late = cast_ballot(&mut p, &active, "c", Vote::Accept, 3).unwrap_err();
        assert_eq!(late.code(), "proposal_not_open", "{late}");
        assert_eq!(p.ballots.len(), 2);
    }

    #[test]
    fn a_double_vote_and_a_vote_of_a_removed_member_are_refused() {
        let active = set(&["a", "b"]);
        let mut p = proposal();
        cast_ballot(&mut p, &active, "a", Vote::Accept, 1).unwrap();
        assert_eq!(cast_ballot(&mut p, &active, "a", Vote::Reject, 2).unwrap_err().code(), "already_voted");
        assert_eq!(cast_ballot(&mut p, &active, "gone", Vote::Accept, 2).unwrap_err().code(), "member_inactive");
        assert_eq!(p.state, ProposalState::Open);
    }

    #[test]
    fn ballots_of_members_no_longer_active_do_not_count() {
        let ballots = BTreeMap::from([("gone".to_string(), Vote::Reject), ("a".to_string(), Vote::Accept)]);
        assert_eq!(tally(&ballots, &set(&["a"])), ProposalState::Accepted);
        assert_eq!(tally(&ballots, &set(&["a", "b"])), ProposalState::Open);
        assert_eq!(tally(&BTreeMap::new(), &set(&[])), ProposalState::Open, "no electorate accepts nothing");
    }

    #[test]
    fn only_the_proposer_withdraws_an_open_proposal() {
        let mut p = proposal();
        assert_eq!(withdraw(&mut p, "b", 1).unwrap_err().code(), "forbidden");
        withdraw(&mut p, "a", 2).unwrap();
        assert_eq!(p.state, ProposalState::Withdrawn);
        assert_eq!(withdraw(&mut p, "a", 3).unwrap_err().code(), "proposal_not_open");
    }

    #[test]
    fn actions_must_leave_an_active_member_and_apply_now() {
        let members = [member("a", PartyStatus::Active), member("b", PartyStatus::Removed)];
        let remove_a = [Action::RemoveMember { id: "a".into() }];
        assert_eq!(check_actions(&remove_a, &members, &[]).unwrap_err().code(), "last_member");
        let remove_b = [Action::RemoveMember { id: "b".into() }];
        assert!(check_actions(&remove_b, &members, &[]).unwrap_err().to_string().contains("actions[0].id"));
        let re_add = [Action::AddMember { id: "b".into(), public_key_pem: "-----BEGIN PUBLIC KEY-----".into() }];
        assert!(check_actions(&re_add, &members, &[]).unwrap_err().to_string().contains("never reused"));
        let swap = [
            Action::AddMember { id: "c".into(), public_key_pem: "-----BEGIN PUBLIC KEY-----".into() },
            Action::RemoveMember { id: "a".into() },
        ];
        check_actions(&swap, &members, &[]).unwrap();
        assert_eq!(check_actions(&[], &members, &[]).unwrap_err().code(), "invalid_request");
    }

    fn doc(id: &str, owner: &str, body: DocumentBody, state: DocumentState) -> Document {
        Document {
            id: id.into(),
            contract_id: "c".into(),
            owner: owner.into(),
            version: 1,
            state,
            body,
            approvers: vec![],
            ballots: BTreeMap::new(),
        }
    }

    fn dataset() -> DocumentBody {
        DocumentBody::Dataset(DatasetSpec {
            location: "file:///d".into(),
            format: DataFormat::Csv,
            schema: vec![Field { name: "x".into(), field_type: "integer".into() }],
            allowed_fields: vec!["x".into()],
            secrets: vec![],
        })
    }

    fn sink() -> DocumentBody {
        DocumentBody::Sink(SinkSpec {
            location: "file:///s".into(),
            format: DataFormat::Csv,
            allowed_fields: vec!["n".into()],
            secrets: vec![],
        })
    }

    fn query(inputs: &[&str], sink: &str) -> DocumentBody {
        DocumentBody::Query(QuerySpec {
            segments: vec![Segment {
                execution_order: 1,
                sql: "select count(*) n from a".into(),
                preconditions: vec![],
                post_filters: vec![],
            }],
            inputs: inputs
                .iter()
                .enumerate()
                .map(|(i, d)| QueryInput { dataset: d.to_string(), view: format!("v{i}") })
                .collect(),
            sink: sink.into(),
        })
    }

    #[test]
    fn a_querys_approvers_are_the_owners_of_its_inputs_and_its_sink() {
        let docs = [
            doc("d1", "alice", dataset(), DocumentState::Accepted),
            doc("d2", "bob", dataset(), DocumentState::Accepted),
            doc("s", "carol", sink(), DocumentState::Accepted),
            doc("draft", "dave", dataset(), DocumentState::Draft),
        ];
        let lookup = |id: &str| docs.iter().find(|d| d.id == id).cloned();
        let got = approvers("erin", &query(&["d1", "d2"], "s"), lookup).unwrap();
        assert_eq!(got, ["alice", "bob", "carol", "erin"]);
        let got = approvers("alice", &query(&["d1"], "s"), lookup).unwrap();
        assert_eq!(got, ["alice", "carol"], "the sink's owner approves too");
        assert!(approvers("x", &query(&["nope"], "s"), lookup).unwrap_err().to_string().contains("inputs[0].dataset"));
        assert!(approvers("x", &query(&["draft"], "s"), lookup).unwrap_err().to_string().contains("not accepted"));
        assert!(approvers("x", &query(&["d1"], "d2"), lookup).unwrap_err().to_string().contains("not a sink"));
        assert_eq!(approvers("alice", &dataset(), lookup).unwrap(), ["alice"]);
    }

    #[test]
    fn documents_are_checked() {
        check_document(&dataset()).unwrap();
        check_document(&query(&["d1"], "s")).unwrap();
        let DocumentBody::Dataset(mut d) = dataset() else { unreachable!() };
        d.allowed_fields = vec!["y".into()];
        assert!(check_document(&DocumentBody::Dataset(d.clone())).unwrap_err().to_string().contains("not a column"));
        d.location = "ftp://x".into();
        assert!(check_document(&DocumentBody::Dataset(d)).unwrap_err().to_string().contains("body.location"));
        let DocumentBody::Query(mut q) = query(&["d1"], "s") else { unreachable!() };
        q.segments.push(q.segments[0].clone());
        assert!(check_document(&DocumentBody::Query(q)).unwrap_err().to_string().contains("exactly one segment"));
    }

    #[test]
    fn consent_is_the_and_over_every_party() {
        let parties = set(&["user:a", "user:b"]);
        let on = ConsentDecision { enabled: true, at_ms: 1 };
        let off = ConsentDecision { enabled: false, at_ms: 1 };
        let none = BTreeMap::new();
        assert!(effective_consent(ConsentOption::Execution, &parties, &none).enabled);
        assert!(!effective_consent(ConsentOption::Logging, &parties, &none).enabled, "logging is off by default");
        let one_off = BTreeMap::from([("user:b".to_string(), off.clone())]);
        let status = effective_consent(ConsentOption::Execution, &parties, &one_off);
        assert_eq!((status.enabled, status.off_by), (false, vec!["user:b".to_string()]));
        let one_on = BTreeMap::from([("user:a".to_string(), on.clone())]);
        assert!(!effective_consent(ConsentOption::Telemetry, &parties, &one_on).enabled);
        let all_on = BTreeMap::from([("user:a".to_string(), on.clone()), ("user:b".to_string(), on)]);
        assert!(effective_consent(ConsentOption::Telemetry, &parties, &all_on).enabled);
        assert!(!effective_consent(ConsentOption::Execution, &set(&[]), &none).enabled, "nobody consents to nothing");
    }

    fn invitation(issuer: Option<&str>) -> Invitation {
        Invitation {
            id: "inv-1".into(),
            user_id: "dave".into(),
            principal: "dave".into(),
            issuer: issuer.map(str::to_string),
            state: InvitationState::Pending,
            proposal_id: "p".into(),
            created_ms: 1_000,
            expires_ms: 10_000,
            accepted_ms: None,
        }
    }

    #[test]
    fn only_the_invited_identity_accepts_once_before_expiry() {
        let token_dave = Identity { principal: "dave".into(), issuer: None };
        let oidc_dave = Identity { principal: "dave".into(), issuer: Some("https://idp.example".into()) };
        check_invitation(&invitation(None), &token_dave, 5_000).unwrap();
        check_invitation(&invitation(Some("https://idp.example")), &oidc_dave, 5_000).unwrap();
        let code = |inv: &Invitation, who: &Identity, now| check_invitation(inv, who, now).unwrap_err().code();
        // The same name from another kind of credential, or another issuer, is someone else.
        assert_eq!(code(&invitation(None), &oidc_dave, 5_000), "invitation_not_yours");
        assert_eq!(code(&invitation(Some("https://other.example")), &oidc_dave, 5_000), "invitation_not_yours");
        let erin = Identity { principal: "erin".into(), issuer: None };
        assert_eq!(code(&invitation(None), &erin, 5_000), "invitation_not_yours");
        assert_eq!(code(&invitation(None), &token_dave, 10_000), "invitation_expired");
        let used = Invitation { state: InvitationState::Accepted, ..invitation(None) };
        assert_eq!(code(&used, &token_dave, 5_000), "invitation_used");
    }

    #[test]
    fn invitations_are_checked_when_proposed() {
        let members = [member("a", PartyStatus::Active)];
        let users =
            [User { id: "carol".into(), principal: "carol".into(), status: PartyStatus::Active, added_by: None }];
        let invite = |id: &str, issuer: Option<&str>, ttl: Option<i64>| Action::InviteUser {
            invitation_id: "inv-1".into(),
            id: id.into(),
            principal: "dave".into(),
            issuer: issuer.map(str::to_string),
            expires_in_s: ttl,
        };
        check_actions(&[invite("dave", None, None)], &members, &users).unwrap();
        check_actions(&[invite("dave", Some("https://idp.example"), Some(60))], &members, &users).unwrap();
        let problem = |a: Action| check_actions(&[a], &members, &users).unwrap_err().to_string();
        assert!(problem(invite("carol", None, None)).contains("actions[0].id"), "a user id is never reused");
        assert!(problem(invite("dave", Some("idp"), None)).contains("actions[0].issuer"));
        assert!(problem(invite("dave", None, Some(0))).contains("actions[0].expires_in_s"));
        assert!(problem(invite("dave", None, Some(MAX_INVITATION_TTL_S + 1))).contains("expires_in_s"));
    }

    #[test]
    fn ids_are_checked() {
        for ok in ["a", "m-1", "x.y_z", "9"] {
            check_id("id", ok).unwrap();
        }
        for bad in ["", "-a", "A", "a/b", &"x".repeat(65)] {
            assert!(check_id("id", bad).is_err(), "{bad:?}");
        }
    }
}
