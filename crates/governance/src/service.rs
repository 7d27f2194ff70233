//! The governance operations: each reads what it needs through a [`Tx`], decides with the pure
//! [`rules`](crate::rules), and commits its writes with their ledger entries, deciding again if
//! a concurrent request changed what it read. Refusals are recorded in the ledger too.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use consort_ledger::{Entry, EntryDraft, canonical_json};
use serde_json::json;

use crate::access::check_invitations_unused;
use crate::error::GovError;
use crate::model::{
    Action, ConsentDecision, ConsentOption, Contract, ContractState, Document, DocumentBody, DocumentState, Invitation,
    InvitationState, Member, PartyStatus, Proposal, ProposalState, User, Vote,
};
use crate::rules::{self, ConsentStatus};
use crate::store::{Commit, CommitError, GovernanceStore, Map};
use crate::tx::Tx;

/// How many times a unit of work is decided again after conflicting with a concurrent one.
pub(crate) const MAX_ATTEMPTS: u32 = 16;

/// How one attempt of a unit of work ended.
pub(crate) enum Settled<T> {
    /// Committed: the value and the ledger entries appended.
    Done((T, Vec<Entry>)),
    /// A concurrent commit changed what it read: decide again.
    Retry,
    /// Refused (recorded in the ledger) or failed.
    Failed(GovError),
}

/// Runs the block on fresh reads through `tx` (a `&mut Tx`) and commits what it wrote with its
/// ledger entries, deciding again while a concurrent commit changed what it read; a refusal is
/// recorded in the ledger and returned. A macro rather than a method taking an async closure:
/// the block's future must be `Send` for the server, which a higher-ranked closure cannot
/// promise today.
macro_rules! transact {
    ($self:ident, $cleanroom:expr, $now_ms:expr, $what:expr, $caller:expr, |$tx:ident| $body:block) => {{
        let mut attempts = 0;
        loop {
            let mut attempt = $crate::tx::Tx::new($self.store().as_ref(), $cleanroom, $now_ms);
            let decided = async {
                let $tx = &mut attempt;
                $body
            }
            .await;
            match $self.settle($cleanroom, $now_ms, $what, $caller, attempt, decided).await {
                $crate::service::Settled::Done(done) => break Ok::<_, $crate::GovError>(done),
                $crate::service::Settled::Retry if attempts + 1 < $crate::service::MAX_ATTEMPTS => attempts += 1,
                $crate::service::Settled::Retry => break Err($crate::GovError::Busy($crate::service::MAX_ATTEMPTS)),
                $crate::service::Settled::Failed(e) => break Err(e),
            }
        }
    }};
}

/// A member's governance request whose signature, freshness and member were checked by the
/// caller (the server, from the COSE envelope).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRequest {
    /// The signing member.
    pub member: String,
    /// The request's message type.
    pub msg_type: String,
    /// SHA-256 of the signed request, hex: the replay key.
    pub digest: String,
    /// Its creation time, seconds since the epoch.
    pub created_at_s: i64,
    /// The oldest creation time the caller's freshness check still accepts, seconds since the
    /// epoch: requests created before it are refused as stale, so their seen entries, which
    /// only guard against replays, are removed.
    pub oldest_fresh_s: i64,
}

/// Who acts: a member through a signed request, or a user through the server's authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A member.
    Member(MemberRequest),
    /// A user, by the authenticated principal's name.
    User(String),
    /// An attested runner, by the run it says it serves (its evidence decides the rest).
    Runner(String),
}

/// What consent is given on.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum ConsentSubject {
    /// A contract: its parties are every active member and user.
    Contract(String),
    /// A document: its parties are its approvers.
    Document(String),
}

impl ConsentSubject {
    fn key_prefix(&self) -> String {
        match self {
            ConsentSubject::Contract(id) => format!("contract/{id}/"),
            ConsentSubject::Document(id) => format!("document/{id}/"),
        }
    }
}

/// The effective consent on a subject, per option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentView {
    /// The parties whose decisions count.
    pub parties: Vec<String>,
    /// Per option, the AND over the parties.
    pub options: BTreeMap<ConsentOption, ConsentStatus>,
}

/// A document draft as its owner writes it.
#[derive(Clone, Debug, PartialEq)]
pub struct DocumentDraft {
    /// The document's id.
    pub id: String,
    /// The accepted contract it belongs to.
    pub contract_id: String,
    /// The draft version the change is based on: `None` to create it.
    pub version: Option<i64>,
    /// What it describes.
    pub body: DocumentBody,
}

/// The clean rooms' governance over a store.
#[derive(Clone, Debug)]
pub struct Governance {
    store: Arc<dyn GovernanceStore>,
    sealing: Arc<dyn consort_attest::KeyProvider>,
}

impl Governance {
    /// Governance over `store`, sealing secrets and keys with `sealing`.
    pub fn new(store: Arc<dyn GovernanceStore>, sealing: Arc<dyn consort_attest::KeyProvider>) -> Self {
        Governance { store, sealing }
    }

    /// The key provider that seals secrets.
    pub fn sealing(&self) -> Arc<dyn consort_attest::KeyProvider> {
        self.sealing.clone()
    }

    /// The store (for the areas built on governance).
    pub fn store(&self) -> &Arc<dyn GovernanceStore> {
        &self.store
    }

    /// Commits what a decision wrote, or records its refusal: the end of one attempt of
    /// [`transact!`].
    pub(crate) async fn settle<T>(
        &self,
        cleanroom: &str,
        now_ms: i64,
        what: &str,
        caller: Option<&Caller>,
        tx: Tx<'_>,
        decided: Result<T, GovError>,
    ) -> Settled<T> {
        match decided {
            Ok(value) => match self.store.commit(cleanroom, tx.into_commit(), now_ms).await {
                Ok(entries) => Settled::Done((value, entries)),
                Err(CommitError::Conflict { .. }) => Settled::Retry,
                Err(e) => Settled::Failed(e.into()),
            },
            Err(refused) => {
                if refused.is_refusal() && !matches!(refused, GovError::NoSuchCleanRoom(_)) {
                    self.record_refusal(cleanroom, now_ms, what, caller, &refused).await;
                }
                Settled::Failed(refused)
            }
        }
    }

    /// Appends a refusal to the ledger. A failure to record it is logged, not returned: the
    /// caller's answer is the refusal either way.
    pub async fn record_refusal(
        &self,
        cleanroom: &str,
        now_ms: i64,
        what: &str,
        caller: Option<&Caller>,
        refused: &GovError,
    ) {
        let body = json!({
            "request": what,
            "caller": caller.map(caller_json),
            "code": refused.code(),
            "reason": refused.to_string(),
        });
        if let Err(e) = self.append_entry(cleanroom, "refused", body, now_ms).await {
            tracing::warn!(cleanroom, request = what, code = refused.code(), error = %e, "could not record a refusal in the ledger");
        }
    }

    /// Appends one entry to the clean room's ledger on its own (a decision that writes no state:
    /// a refusal, a release).
    pub(crate) async fn append_entry(
        &self,
        cleanroom: &str,
        kind: &str,
        body: serde_json::Value,
        now_ms: i64,
    ) -> Result<(), GovError> {
        let commit = Commit { ledger: vec![json_entry(kind, body, now_ms)], ..Commit::default() };
        self.store.commit(cleanroom, commit, now_ms).await?;
        Ok(())
    }

    // ---- clean rooms ----

    /// Creates a clean room with its initial member and, optionally, its initial user: the
    /// creation phase's "propose and accept the initial user" is recorded as an accepted
    /// proposal of the initial member.
    pub async fn create_cleanroom(
        &self,
        name: &str,
        initial_member: &str,
        member_public_key_pem: &str,
        initial_user: Option<(&str, &str)>,
        now_ms: i64,
    ) -> Result<(), GovError> {
        rules::check_id("name", name)?;
        rules::check_id("member", initial_member)?;
        let member = Member {
            id: initial_member.to_string(),
            public_key_pem: member_public_key_pem.to_string(),
            status: PartyStatus::Active,
            added_by: None,
        };
        let mut first = Commit::default();
        let mut writes = Vec::new();
        let put = |writes: &mut Vec<crate::store::Write>, map: Map, key: &str, value: serde_json::Value| {
            writes.push(crate::store::Write::Put { map, key: key.to_string(), value: canonical_json(&value) });
        };
        put(&mut writes, Map::Members, &member.id, serde_json::to_value(&member).unwrap_or_default());
        put(&mut writes, Map::Config, "roster", json!(now_ms));
        let mut ledger = vec![json_entry(
            "cleanroom.created",
            json!({"cleanroom": name, "member": initial_member, "member_public_key_pem": member_public_key_pem}),
            now_ms,
        )];
        if let Some((user_id, principal)) = initial_user {
            rules::check_id("user", user_id)?;
            let proposal_id = format!("initial-user-{user_id}");
            let user = User {
                id: user_id.to_string(),
                principal: principal.to_string(),
                status: PartyStatus::Active,
                added_by: Some(proposal_id.clone()),
            };
            let proposal = Proposal {
                id: proposal_id.clone(),
                proposer: initial_member.to_string(),
                actions: vec![Action::AddUser { id: user_id.to_string(), principal: principal.to_string() }],
                state: ProposalState::Accepted,
                ballots: BTreeMap::from([(initial_member.to_string(), Vote::Accept)]),
                created_ms: now_ms,
                resolved_ms: Some(now_ms),
            };
            put(&mut writes, Map::Users, user_id, serde_json::to_value(&user).unwrap_or_default());
            put(&mut writes, Map::Proposals, &proposal_id, serde_json::to_value(&proposal).unwrap_or_default());
            ledger.push(json_entry("proposal.created", json!({"proposal": proposal}), now_ms));
            ledger.push(json_entry(
                "proposal.accepted",
                json!({"proposal": proposal_id, "applied": proposal.actions}),
                now_ms,
            ));
        }
        first.writes = writes;
        first.ledger = ledger;
        if self.store.create_cleanroom(name, first, now_ms).await? {
            Ok(())
        } else {
            Err(GovError::CleanRoomExists(name.to_string()))
        }
    }

    /// The clean rooms' names.
    pub async fn cleanrooms(&self) -> Result<Vec<String>, GovError> {
        Ok(self.store.cleanrooms().await?)
    }

    pub(crate) async fn require_cleanroom(&self, cleanroom: &str) -> Result<(), GovError> {
        // Every clean room has at least its initial member.
        if self.store.list(cleanroom, Map::Members, "", None, 1).await?.is_empty() {
            return Err(GovError::NoSuchCleanRoom(cleanroom.to_string()));
        }
        Ok(())
    }

    // ---- reads ----

    /// Every member, by id.
    pub async fn members(&self, cleanroom: &str) -> Result<Vec<Member>, GovError> {
        self.read_all(cleanroom, Map::Members, "").await
    }

    /// Every user, by id.
    pub async fn users(&self, cleanroom: &str) -> Result<Vec<User>, GovError> {
        self.read_all(cleanroom, Map::Users, "").await
    }

    /// Every proposal, by id.
    pub async fn proposals(&self, cleanroom: &str) -> Result<Vec<Proposal>, GovError> {
        self.read_all(cleanroom, Map::Proposals, "").await
    }

    /// Every contract, by id.
    pub async fn contracts(&self, cleanroom: &str) -> Result<Vec<Contract>, GovError> {
        self.read_all(cleanroom, Map::Contracts, "").await
    }

    /// Every document, by id.
    pub async fn documents(&self, cleanroom: &str) -> Result<Vec<Document>, GovError> {
        self.read_all(cleanroom, Map::Documents, "").await
    }

    /// One proposal.
    pub async fn proposal(&self, cleanroom: &str, id: &str) -> Result<Proposal, GovError> {
        self.read_one(cleanroom, Map::Proposals, id, "proposal").await
    }

    /// One contract.
    pub async fn contract(&self, cleanroom: &str, id: &str) -> Result<Contract, GovError> {
        self.read_one(cleanroom, Map::Contracts, id, "contract").await
    }

    /// One document.
    pub async fn document(&self, cleanroom: &str, id: &str) -> Result<Document, GovError> {
        self.read_one(cleanroom, Map::Documents, id, "document").await
    }

    /// One member.
    pub async fn member(&self, cleanroom: &str, id: &str) -> Result<Member, GovError> {
        self.read_one(cleanroom, Map::Members, id, "member").await
    }

    async fn read_all<T: serde::de::DeserializeOwned>(
        &self,
        cleanroom: &str,
        map: Map,
        prefix: &str,
    ) -> Result<Vec<T>, GovError> {
        self.require_cleanroom(cleanroom).await?;
        let mut tx = Tx::new(self.store.as_ref(), cleanroom, 0);
        Ok(tx.all::<T>(map, prefix).await?.into_iter().map(|(_, v)| v).collect())
    }

    async fn read_one<T: serde::de::DeserializeOwned>(
        &self,
        cleanroom: &str,
        map: Map,
        id: &str,
        what: &'static str,
    ) -> Result<T, GovError> {
        self.require_cleanroom(cleanroom).await?;
        let mut tx = Tx::new(self.store.as_ref(), cleanroom, 0);
        tx.get::<T>(map, id).await?.ok_or_else(|| not_found(what, id))
    }

    /// The active user an authenticated principal is in this clean room.
    pub async fn user_for(&self, cleanroom: &str, principal: &str) -> Result<User, GovError> {
        let users = self.users(cleanroom).await?;
        rules::user_for_principal(&users, principal)
            .cloned()
            .ok_or_else(|| GovError::NotAUser { principal: principal.to_string() })
    }

    // ---- member plane: proposals and ballots ----

    /// Makes a proposal. Its id is the signed request's digest, so a replay cannot make a
    /// second one; the request is also marked seen.
    pub async fn propose(
        &self,
        cleanroom: &str,
        request: &MemberRequest,
        actions: Vec<Action>,
        now_ms: i64,
    ) -> Result<Proposal, GovError> {
        let caller = Caller::Member(request.clone());
        let (proposal, _) = transact!(self, cleanroom, now_ms, "propose", Some(&caller), |tx| {
            let members = member_list(tx).await?;
            seen(tx, request).await?;
            rules::require_active_member(&members, &request.member)?;
            let users = user_list(tx).await?;
            rules::check_actions(&actions, &members, &users)?;
            check_invitations_unused(tx, &actions).await?;
            for action in &actions {
                if let Action::SetContract { contract_id, version } = action {
                    let mut contract: Contract =
                        tx.get(Map::Contracts, contract_id).await?.ok_or_else(|| not_found("contract", contract_id))?;
                    if contract.version != *version {
                        return Err(GovError::VersionMismatch {
                            what: "contract",
                            id: contract_id.clone(),
                            given: *version,
                            current: contract.version,
                        });
                    }
                    if !matches!(contract.state, ContractState::Draft | ContractState::Rejected) {
                        return Err(GovError::Immutable {
                            what: "contract",
                            id: contract_id.clone(),
                            state: format!("{:?}", contract.state),
                            fix: "only a draft can be proposed; an accepted contract is final (write a new one)",
                        });
                    }
                    contract.state = ContractState::Proposed;
                    contract.proposal_id = Some(request.digest.clone());
                    tx.put(Map::Contracts, contract_id, &contract);
                }
            }
            let proposal = Proposal {
                id: request.digest.clone(),
                proposer: request.member.clone(),
                actions: actions.clone(),
                state: ProposalState::Open,
                ballots: BTreeMap::new(),
                created_ms: now_ms,
                resolved_ms: None,
            };
            tx.put(Map::Proposals, &proposal.id, &proposal);
            tx.log("proposal.created", json!({"by": request.member, "proposal": proposal}));
            Ok(proposal)
        })?;
        Ok(proposal)
    }

    /// Casts a member's ballot. When it resolves the proposal, an acceptance applies its
    /// actions in the same unit of work.
    pub async fn vote(
        &self,
        cleanroom: &str,
        request: &MemberRequest,
        proposal_id: &str,
        vote: Vote,
        now_ms: i64,
    ) -> Result<Proposal, GovError> {
        let caller = Caller::Member(request.clone());
        let (proposal, _) = transact!(self, cleanroom, now_ms, "vote", Some(&caller), |tx| {
            let members = member_list(tx).await?;
            seen(tx, request).await?;
            rules::require_active_member(&members, &request.member)?;
            let mut proposal: Proposal =
                tx.get(Map::Proposals, proposal_id).await?.ok_or_else(|| not_found("proposal", proposal_id))?;
            let active = rules::active_members(&members);
            let state = rules::cast_ballot(&mut proposal, &active, &request.member, vote, now_ms)?;
            tx.log("ballot", json!({"by": request.member, "proposal": proposal_id, "vote": vote}));
            match state {
                ProposalState::Accepted => self.apply(tx, &mut proposal, &members).await?,
                ProposalState::Rejected => {
                    release_contracts(tx, &proposal, ContractState::Rejected).await?;
                    tx.log("proposal.rejected", json!({"proposal": proposal_id, "by": request.member}));
                }
                _ => {}
            }
            tx.put(Map::Proposals, proposal_id, &proposal);
            Ok(proposal)
        })?;
        Ok(proposal)
    }

    /// Withdraws a proposal (its proposer only, while open).
    pub async fn withdraw(
        &self,
        cleanroom: &str,
        request: &MemberRequest,
        proposal_id: &str,
        now_ms: i64,
    ) -> Result<Proposal, GovError> {
        let caller = Caller::Member(request.clone());
        let (proposal, _) = transact!(self, cleanroom, now_ms, "withdraw", Some(&caller), |tx| {
            let members = member_list(tx).await?;
            seen(tx, request).await?;
            rules::require_active_member(&members, &request.member)?;
            let mut proposal: Proposal =
                tx.get(Map::Proposals, proposal_id).await?.ok_or_else(|| not_found("proposal", proposal_id))?;
            rules::withdraw(&mut proposal, &request.member, now_ms)?;
            release_contracts(tx, &proposal, ContractState::Draft).await?;
            tx.put(Map::Proposals, proposal_id, &proposal);
            tx.log("proposal.withdrawn", json!({"proposal": proposal_id, "by": request.member}));
            Ok(proposal)
        })?;
        Ok(proposal)
    }

    /// Applies an accepted proposal's actions; when the electorate changes, every other open
    /// proposal is dropped (its ballots were cast by another set of members).
    async fn apply(&self, tx: &mut Tx<'_>, proposal: &mut Proposal, members: &[Member]) -> Result<(), GovError> {
        let users = user_list(tx).await?;
        // Re-checked at acceptance: the clean room may have changed since it was proposed.
        rules::check_actions(&proposal.actions, members, &users)?;
        check_invitations_unused(tx, &proposal.actions).await?;
        for action in &proposal.actions {
            match action {
                Action::AddMember { id, public_key_pem } => {
                    let member = Member {
                        id: id.clone(),
                        public_key_pem: public_key_pem.clone(),
                        status: PartyStatus::Active,
                        added_by: Some(proposal.id.clone()),
                    };
                    tx.put(Map::Members, id, &member);
                }
                Action::RemoveMember { id } => {
                    if let Some(mut member) = tx.get::<Member>(Map::Members, id).await? {
                        member.status = PartyStatus::Removed;
                        tx.put(Map::Members, id, &member);
                    }
                }
                Action::AddUser { id, principal } => {
                    let user = User {
                        id: id.clone(),
                        principal: principal.clone(),
                        status: PartyStatus::Active,
                        added_by: Some(proposal.id.clone()),
                    };
                    tx.put(Map::Users, id, &user);
                }
                Action::InviteUser { invitation_id, id, principal, issuer, expires_in_s } => {
                    let now = tx.now_ms();
                    let invitation = Invitation {
                        id: invitation_id.clone(),
                        user_id: id.clone(),
                        principal: principal.clone(),
                        issuer: issuer.clone(),
                        state: InvitationState::Pending,
                        proposal_id: proposal.id.clone(),
                        created_ms: now,
                        expires_ms: now.saturating_add(
                            expires_in_s.unwrap_or(rules::DEFAULT_INVITATION_TTL_S).saturating_mul(1000),
                        ),
                        accepted_ms: None,
                    };
                    tx.put(Map::Invitations, invitation_id, &invitation);
                }
                Action::RemoveUser { id } => {
                    if let Some(mut user) = tx.get::<User>(Map::Users, id).await? {
                        user.status = PartyStatus::Removed;
                        tx.put(Map::Users, id, &user);
                    }
                }
                Action::SetContract { contract_id, .. } => {
                    if let Some(mut contract) = tx.get::<Contract>(Map::Contracts, contract_id).await? {
                        contract.state = ContractState::Accepted;
                        tx.put(Map::Contracts, contract_id, &contract);
                    }
                }
                Action::SetSetting { name, value } => {
                    let key = format!("setting/{name}");
                    if value.is_null() {
                        tx.delete(Map::Config, &key);
                    } else {
                        tx.put(Map::Config, &key, value);
                    }
                }
            }
        }
        tx.log("proposal.accepted", json!({"proposal": proposal.id, "applied": proposal.actions}));
        if proposal.actions.iter().any(Action::changes_electorate) {
            let open: Vec<(String, Proposal)> = tx.all(Map::Proposals, "").await?;
            for (id, mut other) in open {
                if id != proposal.id && other.state == ProposalState::Open {
                    other.state = ProposalState::Dropped;
                    other.resolved_ms = Some(tx.now_ms());
                    release_contracts(tx, &other, ContractState::Draft).await?;
                    tx.put(Map::Proposals, &id, &other);
                    tx.log("proposal.dropped", json!({"proposal": id, "because": proposal.id}));
                }
            }
        }
        Ok(())
    }

    /// A clean-room setting set by an accepted proposal.
    pub async fn setting(&self, cleanroom: &str, name: &str) -> Result<Option<serde_json::Value>, GovError> {
        let mut tx = Tx::new(self.store.as_ref(), cleanroom, 0);
        tx.get(Map::Config, &format!("setting/{name}")).await
    }

    // ---- contracts ----

    /// Writes a contract draft (a member's signed request). `version` is the draft version the
    /// change is based on: `None` to create it, the current version to change it.
    pub async fn put_contract(
        &self,
        cleanroom: &str,
        request: &MemberRequest,
        id: &str,
        version: Option<i64>,
        data: serde_json::Value,
        now_ms: i64,
    ) -> Result<Contract, GovError> {
        rules::check_id("contract_id", id)?;
        let caller = Caller::Member(request.clone());
        let (contract, _) = transact!(self, cleanroom, now_ms, "put contract", Some(&caller), |tx| {
            let members = member_list(tx).await?;
            seen(tx, request).await?;
            rules::require_active_member(&members, &request.member)?;
            let existing: Option<Contract> = tx.get(Map::Contracts, id).await?;
            let next = match (&existing, version) {
                (None, None) => 1,
                (None, Some(_)) => return Err(not_found("contract", id)),
                (Some(c), None) => {
                    return Err(GovError::invalid(
                        "version",
                        format!("contract {id:?} exists (version {})", c.version),
                        format!("pass \"version\": {} to change it", c.version),
                    ));
                }
                (Some(c), Some(v)) if c.version != v => {
                    return Err(GovError::VersionMismatch {
                        what: "contract",
                        id: id.into(),
                        given: v,
                        current: c.version,
                    });
                }
                (Some(c), Some(_)) if matches!(c.state, ContractState::Proposed | ContractState::Accepted) => {
                    return Err(GovError::Immutable {
                        what: "contract",
                        id: id.into(),
                        state: format!("{:?}", c.state),
                        fix: "an accepted contract never changes and a proposed one waits for its ballots: write a new contract",
                    });
                }
                (Some(c), Some(_)) => c.version + 1,
            };
            let contract = Contract {
                id: id.into(),
                version: next,
                state: ContractState::Draft,
                data: data.clone(),
                proposal_id: None,
            };
            tx.put(Map::Contracts, id, &contract);
            tx.log("contract.draft", json!({"by": request.member, "contract": contract}));
            Ok(contract)
        })?;
        Ok(contract)
    }

    // ---- user plane: documents ----

    /// Writes a document draft (its owner, a user). `version` as for contracts.
    pub async fn put_document(
        &self,
        cleanroom: &str,
        principal: &str,
        draft: DocumentDraft,
        now_ms: i64,
    ) -> Result<Document, GovError> {
        let DocumentDraft { id, contract_id, version, body } = draft;
        let (id, contract_id) = (id.as_str(), contract_id.as_str());
        rules::check_id("document_id", id)?;
        rules::check_document(&body)?;
        let caller = Caller::User(principal.to_string());
        let (doc, _) = transact!(self, cleanroom, now_ms, "put document", Some(&caller), |tx| {
            let user = user_of(tx, principal).await?;
            let contract: Contract =
                tx.get(Map::Contracts, contract_id).await?.ok_or_else(|| not_found("contract", contract_id))?;
            if contract.state != ContractState::Accepted {
                return Err(GovError::invalid(
                    "contract_id",
                    format!("contract {contract_id:?} is {:?}, not accepted", contract.state),
                    "publish documents under a contract every member accepted",
                ));
            }
            let existing: Option<Document> = tx.get(Map::Documents, id).await?;
            let next = match (&existing, version) {
                (None, None) => 1,
                (None, Some(_)) => return Err(not_found("document", id)),
                (Some(d), _) if d.owner != user.id => {
                    return Err(GovError::Forbidden {
                        message: format!("document {id:?} belongs to {:?}: only its owner changes it", d.owner),
                    });
                }
                (Some(d), None) => {
                    return Err(GovError::invalid(
                        "version",
                        format!("document {id:?} exists (version {})", d.version),
                        format!("pass \"version\": {} to change it", d.version),
                    ));
                }
                (Some(d), Some(_)) if matches!(d.state, DocumentState::Proposed | DocumentState::Accepted) => {
                    return Err(GovError::Immutable {
                        what: "document",
                        id: id.into(),
                        state: format!("{:?}", d.state),
                        fix: "an accepted document never changes (publish a new document for a new version); a proposed one waits for its approvers",
                    });
                }
                (Some(d), Some(v)) if d.version != v => {
                    return Err(GovError::VersionMismatch {
                        what: "document",
                        id: id.into(),
                        given: v,
                        current: d.version,
                    });
                }
                (Some(d), Some(_)) => d.version + 1,
            };
            let doc = Document {
                id: id.into(),
                contract_id: contract_id.into(),
                owner: user.id.clone(),
                version: next,
                state: DocumentState::Draft,
                body: body.clone(),
                approvers: Vec::new(),
                ballots: BTreeMap::new(),
            };
            tx.put(Map::Documents, id, &doc);
            tx.log("document.draft", json!({"by": user.id, "document": doc}));
            Ok(doc)
        })?;
        Ok(doc)
    }

    /// Proposes a document to its approvers, computed here from the owners of everything it
    /// references. Proposing is its owner's acceptance; a document its owner alone approves
    /// (a dataset, a sink, a query over the owner's own data) is accepted at once.
    pub async fn propose_document(
        &self,
        cleanroom: &str,
        principal: &str,
        id: &str,
        now_ms: i64,
    ) -> Result<Document, GovError> {
        let caller = Caller::User(principal.to_string());
        let (doc, _) = transact!(self, cleanroom, now_ms, "propose document", Some(&caller), |tx| {
            let user = user_of(tx, principal).await?;
            let mut doc: Document = tx.get(Map::Documents, id).await?.ok_or_else(|| not_found("document", id))?;
            if doc.owner != user.id {
                return Err(GovError::Forbidden {
                    message: format!("document {id:?} belongs to {:?}: only its owner proposes it", doc.owner),
                });
            }
            if !matches!(doc.state, DocumentState::Draft | DocumentState::Rejected) {
                return Err(GovError::Immutable {
                    what: "document",
                    id: id.into(),
                    state: format!("{:?}", doc.state),
                    fix: "only a draft is proposed",
                });
            }
            let mut referenced = BTreeMap::new();
            if let DocumentBody::Query(q) = &doc.body {
                for rid in q.inputs.iter().map(|i| i.dataset.as_str()).chain([q.sink.as_str()]) {
                    if let Some(d) = tx.get::<Document>(Map::Documents, rid).await? {
                        referenced.insert(rid.to_string(), d);
                    }
                }
            }
            doc.approvers = rules::approvers(&doc.owner, &doc.body, |rid| referenced.get(rid).cloned())?;
            doc.ballots = BTreeMap::from([(doc.owner.clone(), Vote::Accept)]);
            doc.state = document_state(&doc);
            tx.put(Map::Documents, id, &doc);
            tx.log(
                "document.proposed",
                json!({"by": user.id, "document": id, "version": doc.version, "approvers": doc.approvers}),
            );
            if doc.state == DocumentState::Accepted {
                tx.log("document.accepted", json!({"document": id, "version": doc.version, "ballots": doc.ballots}));
            }
            Ok(doc)
        })?;
        Ok(doc)
    }

    /// An approver's ballot on a proposed document.
    pub async fn vote_document(
        &self,
        cleanroom: &str,
        principal: &str,
        id: &str,
        vote: Vote,
        now_ms: i64,
    ) -> Result<Document, GovError> {
        let caller = Caller::User(principal.to_string());
        let (doc, _) = transact!(self, cleanroom, now_ms, "vote on document", Some(&caller), |tx| {
            let user = user_of(tx, principal).await?;
            let mut doc: Document = tx.get(Map::Documents, id).await?.ok_or_else(|| not_found("document", id))?;
            if doc.state != DocumentState::Proposed {
                return Err(GovError::ProposalNotOpen {
                    proposal: format!("document {id}"),
                    state: doc_state_name(doc.state),
                });
            }
            if !doc.approvers.contains(&user.id) {
                return Err(GovError::Forbidden {
                    message: format!(
                        "{:?} is not an approver of document {id:?} (its approvers: {})",
                        user.id,
                        doc.approvers.join(", ")
                    ),
                });
            }
            if doc.ballots.contains_key(&user.id) {
                return Err(GovError::AlreadyVoted { voter: user.id.clone(), on: format!("document {id}") });
            }
            doc.ballots.insert(user.id.clone(), vote);
            doc.state = document_state(&doc);
            tx.put(Map::Documents, id, &doc);
            tx.log("document.ballot", json!({"by": user.id, "document": id, "vote": vote}));
            match doc.state {
                DocumentState::Accepted => {
                    tx.log("document.accepted", json!({"document": id, "version": doc.version, "ballots": doc.ballots}))
                }
                DocumentState::Rejected => tx.log("document.rejected", json!({"document": id, "by": user.id})),
                _ => {}
            }
            Ok(doc)
        })?;
        Ok(doc)
    }

    // ---- consent ----

    /// A party's consent decision on a subject. Members and users decide for themselves only;
    /// withdrawing is immediate and needs nobody else.
    pub async fn set_consent(
        &self,
        cleanroom: &str,
        caller: &Caller,
        subject: &ConsentSubject,
        option: ConsentOption,
        enabled: bool,
        now_ms: i64,
    ) -> Result<ConsentView, GovError> {
        let (view, _) = transact!(self, cleanroom, now_ms, "consent", Some(caller), |tx| {
            let party = party_of(tx, caller).await?;
            let parties = consent_parties(tx, subject).await?;
            if !parties.contains(&party) {
                return Err(GovError::Forbidden {
                    message: format!(
                        "{party} is not a party to {subject:?}: its parties are {}",
                        parties.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                });
            }
            let key = format!("{}{}/{}", subject.key_prefix(), option.as_str(), party);
            tx.put(Map::Consent, &key, &ConsentDecision { enabled, at_ms: now_ms });
            tx.log("consent", json!({"party": party, "subject": subject_json(subject), "option": option.as_str(), "enabled": enabled}));
            consent_view(tx, subject).await
        })?;
        Ok(view)
    }

    /// The effective consent on a subject now.
    pub async fn consent(&self, cleanroom: &str, subject: &ConsentSubject) -> Result<ConsentView, GovError> {
        self.require_cleanroom(cleanroom).await?;
        let mut tx = Tx::new(self.store.as_ref(), cleanroom, 0);
        consent_view(&mut tx, subject).await
    }
}

fn json_entry(kind: &str, body: serde_json::Value, at_ms: i64) -> EntryDraft {
    EntryDraft { kind: kind.to_string(), body: canonical_json(&body), at_ms }
}

fn caller_json(caller: &Caller) -> serde_json::Value {
    match caller {
        Caller::Member(r) => json!({"member": r.member, "request": r.digest}),
        Caller::User(principal) => json!({"principal": principal}),
        Caller::Runner(run) => json!({"runner_of_run": run}),
    }
}

fn subject_json(subject: &ConsentSubject) -> serde_json::Value {
    match subject {
        ConsentSubject::Contract(id) => json!({"contract": id}),
        ConsentSubject::Document(id) => json!({"document": id}),
    }
}

pub(crate) fn not_found(what: &'static str, id: &str) -> GovError {
    let hint = match what {
        "proposal" => ": list the proposals to see their ids",
        "contract" => ": list the contracts, or write the draft first",
        "document" => ": list the documents, or write the draft first",
        "query" | "dataset" | "sink" => ": list the documents to see their ids",
        "invitation" => ": list the invitations to see their ids",
        _ => "",
    };
    GovError::NotFound { what, id: id.to_string(), hint }
}

fn doc_state_name(state: DocumentState) -> &'static str {
    match state {
        DocumentState::Draft => "Draft",
        DocumentState::Proposed => "Proposed",
        DocumentState::Accepted => "Accepted",
        DocumentState::Rejected => "Rejected",
    }
}

/// Accepted when every approver accepted; rejected on any rejection; else proposed.
fn document_state(doc: &Document) -> DocumentState {
    let approvers: BTreeSet<String> = doc.approvers.iter().cloned().collect();
    match rules::tally(&doc.ballots, &approvers) {
        ProposalState::Accepted => DocumentState::Accepted,
        ProposalState::Rejected => DocumentState::Rejected,
        _ => DocumentState::Proposed,
    }
}

pub(crate) async fn member_list(tx: &mut Tx<'_>) -> Result<Vec<Member>, GovError> {
    let members: Vec<Member> = tx.all(Map::Members, "").await?.into_iter().map(|(_, m)| m).collect();
    if members.is_empty() {
        return Err(GovError::NoSuchCleanRoom(tx.cleanroom().to_string()));
    }
    Ok(members)
}

pub(crate) async fn user_list(tx: &mut Tx<'_>) -> Result<Vec<User>, GovError> {
    Ok(tx.all(Map::Users, "").await?.into_iter().map(|(_, u)| u).collect())
}

async fn user_of(tx: &mut Tx<'_>, principal: &str) -> Result<User, GovError> {
    member_list(tx).await?;
    let users = user_list(tx).await?;
    rules::user_for_principal(&users, principal)
        .cloned()
        .ok_or_else(|| GovError::NotAUser { principal: principal.to_string() })
}

/// Marks a member's signed request as seen in this unit of work; a second commit of the same
/// request conflicts (or finds it) and is refused as a replay. Entries of requests too old
/// to be fresh go in the same unit of work, so the map holds one freshness window.
pub(crate) async fn seen(tx: &mut Tx<'_>, request: &MemberRequest) -> Result<(), GovError> {
    let key = seen_key(request.created_at_s, &request.digest);
    // Entries written before the keys began with their time are keyed by the bare digest.
    if tx.get::<i64>(Map::Seen, &key).await?.is_some() || tx.get::<i64>(Map::Seen, &request.digest).await?.is_some() {
        return Err(GovError::Replayed);
    }
    tx.put(Map::Seen, &key, &request.created_at_s);
    tx.delete_before(Map::Seen, &seen_key(request.oldest_fresh_s, ""));
    Ok(())
}

/// A seen request's key: its creation time, fixed-width so keys sort by time, then its digest.
/// A time before the epoch sorts first (fresh requests are never that old).
fn seen_key(created_at_s: i64, digest: &str) -> String {
    format!("{:020}/{digest}", created_at_s.max(0))
}

/// Contracts a resolved proposal had put in `Proposed` go to `state`.
async fn release_contracts(tx: &mut Tx<'_>, proposal: &Proposal, state: ContractState) -> Result<(), GovError> {
    for action in &proposal.actions {
        if let Action::SetContract { contract_id, .. } = action
            && let Some(mut contract) = tx.get::<Contract>(Map::Contracts, contract_id).await?
            && contract.state == ContractState::Proposed
        {
            contract.state = state;
            tx.put(Map::Contracts, contract_id, &contract);
        }
    }
    Ok(())
}

async fn consent_parties(tx: &mut Tx<'_>, subject: &ConsentSubject) -> Result<BTreeSet<String>, GovError> {
    match subject {
        ConsentSubject::Contract(id) => {
            let contract: Contract = tx.get(Map::Contracts, id).await?.ok_or_else(|| not_found("contract", id))?;
            if contract.state != ContractState::Accepted {
                return Err(GovError::invalid(
                    "subject",
                    format!("contract {id:?} is {:?}", contract.state),
                    "consent is given on accepted contracts",
                ));
            }
            let members = member_list(tx).await?;
            let users = user_list(tx).await?;
            Ok(members
                .iter()
                .filter(|m| m.status == PartyStatus::Active)
                .map(|m| format!("member:{}", m.id))
                .chain(users.iter().filter(|u| u.status == PartyStatus::Active).map(|u| format!("user:{}", u.id)))
                .collect())
        }
        ConsentSubject::Document(id) => {
            let doc: Document = tx.get(Map::Documents, id).await?.ok_or_else(|| not_found("document", id))?;
            if doc.state != DocumentState::Accepted {
                return Err(GovError::invalid(
                    "subject",
                    format!("document {id:?} is {:?}", doc.state),
                    "consent is given on accepted documents",
                ));
            }
            Ok(doc.approvers.iter().map(|a| format!("user:{a}")).collect())
        }
    }
}

pub(crate) async fn consent_view(tx: &mut Tx<'_>, subject: &ConsentSubject) -> Result<ConsentView, GovError> {
    let parties = consent_parties(tx, subject).await?;
    let decisions: Vec<(String, ConsentDecision)> = tx.all(Map::Consent, &subject.key_prefix()).await?;
    let mut options = BTreeMap::new();
    for option in ConsentOption::ALL {
        let prefix = format!("{}{}/", subject.key_prefix(), option.as_str());
        let by_party: BTreeMap<String, ConsentDecision> =
            decisions.iter().filter_map(|(k, d)| k.strip_prefix(&prefix).map(|p| (p.to_string(), d.clone()))).collect();
        options.insert(option, rules::effective_consent(option, &parties, &by_party));
    }
    Ok(ConsentView { parties: parties.into_iter().collect(), options })
}

/// The party a caller is (`member:ID` after checking its signed request, which is marked seen,
/// or `user:ID`).
pub(crate) async fn party_of(tx: &mut Tx<'_>, caller: &Caller) -> Result<String, GovError> {
    match caller {
        Caller::Member(request) => {
            let members = member_list(tx).await?;
            seen(tx, request).await?;
            rules::require_active_member(&members, &request.member)?;
            Ok(format!("member:{}", request.member))
        }
        Caller::User(principal) => Ok(format!("user:{}", user_of(tx, principal).await?.id)),
        Caller::Runner(run) => Err(GovError::Forbidden {
            message: format!(
                "the runner of run {run:?} is no party: it receives secrets and tokens, and decides nothing"
            ),
        }),
    }
}
