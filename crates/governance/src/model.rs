//! The clean room's objects as stored (JSON values of the key-value maps). The API has its
//! own mirror types; these are the store's and the rules' shape.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A consortium member: holds a key, signs governance requests, votes on proposals.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The member's id, unique in the clean room (`[a-z0-9-]`, from 1 to 64 characters).
    pub id: String,
    /// The member's public key or certificate, PEM.
    pub public_key_pem: String,
    /// Active members propose and vote; removed ones are kept for the record.
    pub status: PartyStatus,
    /// The proposal that added it (`None` for the initial member).
    pub added_by: Option<String>,
}

/// A user: publishes documents, votes on queries, gives consent. Authenticated by the server's
/// own layer (an API token or an OIDC token) whose principal name is `principal`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The user's id, unique in the clean room.
    pub id: String,
    /// The authenticated principal's name this user is (the API token's name, the JWT's
    /// subject).
    pub principal: String,
    /// Active or removed.
    pub status: PartyStatus,
    /// The proposal that added it.
    pub added_by: Option<String>,
}

/// Whether a member or user takes part.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyStatus {
    /// Takes part.
    Active,
    /// Removed by an accepted proposal.
    Removed,
}

/// What an accepted proposal does, all or nothing.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Adds a member.
    AddMember {
        /// Its id.
        id: String,
        /// Its public key or certificate, PEM.
        public_key_pem: String,
    },
    /// Removes a member (never the last active one).
    RemoveMember {
        /// Its id.
        id: String,
    },
    /// Adds a user.
    AddUser {
        /// Its id.
        id: String,
        /// The authenticated principal's name.
        principal: String,
    },
    /// Invites a user: once the proposal is accepted, the invited identity accepts the
    /// invitation itself (authenticated as that identity) and only then becomes an active
    /// user. [`Action::AddUser`] without the identity's own word.
    InviteUser {
        /// The invitation's id, unique in the clean room.
        invitation_id: String,
        /// The user id it becomes.
        id: String,
        /// The identity invited: an API token's name, or with `issuer` an OIDC subject.
        principal: String,
        /// The OIDC issuer (`iss`) whose token must name `principal` as its subject; absent,
        /// the invitation is accepted with an API token named `principal`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        issuer: Option<String>,
        /// Seconds from the proposal's acceptance until the invitation expires (1 to
        /// 2 592 000, 30 days; 7 days when left out).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_in_s: Option<i64>,
    },
    /// Removes a user.
    RemoveUser {
        /// Its id.
        id: String,
    },
    /// Accepts a contract at the version proposed (it is `Proposed` while the proposal is open).
    SetContract {
        /// The contract.
        contract_id: String,
        /// The draft version the members vote on.
        version: i64,
    },
    /// Sets a clean-room setting or policy (a JSON value; `null` removes it).
    SetSetting {
        /// The setting's name (`[a-z0-9._-]`).
        name: String,
        /// Its value.
        #[cfg_attr(feature = "openapi", schema(value_type = Object))]
        value: serde_json::Value,
    },
}

impl Action {
    /// Whether accepting it changes who votes (other open proposals are then dropped: their
    /// ballots were cast by another electorate).
    pub fn changes_electorate(&self) -> bool {
        matches!(self, Action::AddMember { .. } | Action::RemoveMember { .. })
    }
}

/// Where an invitation stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub enum InvitationState {
    /// Waits for the invited identity (until it expires).
    Pending,
    /// The invited identity accepted it: it is a user.
    Accepted,
}

/// An invitation made by an accepted `invite_user` proposal.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    /// Its id.
    pub id: String,
    /// The user id the invited identity becomes.
    pub user_id: String,
    /// The identity invited (an API token's name, or an OIDC subject with `issuer`).
    pub principal: String,
    /// The OIDC issuer the identity's token must come from; `None`: an API token.
    pub issuer: Option<String>,
    /// Its state.
    pub state: InvitationState,
    /// The proposal that made it.
    pub proposal_id: String,
    /// When the proposal was accepted, ms.
    pub created_ms: i64,
    /// When it expires, ms.
    pub expires_ms: i64,
    /// When it was accepted, ms.
    pub accepted_ms: Option<i64>,
}

/// A revoked user credential.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The credential's id (its `jti`).
    pub credential_id: String,
    /// The member who revoked it.
    pub by: String,
    /// When, ms.
    pub at_ms: i64,
    /// When the revoked credential expires, seconds since the epoch: known when the revocation
    /// came with the credential itself (its signature checked), and then the revocation covers
    /// the credentials with this id that expire no later and is forgotten an hour after. Absent
    /// (revoked by id alone): every credential with this id, for good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// A proposal's state.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub enum ProposalState {
    /// Takes ballots.
    Open,
    /// Every active member accepted; its actions were applied.
    Accepted,
    /// A member rejected it.
    Rejected,
    /// Its proposer withdrew it while open.
    Withdrawn,
    /// Still open when the electorate changed, or its subject changed under it.
    Dropped,
}

impl ProposalState {
    /// The state's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalState::Open => "Open",
            ProposalState::Accepted => "Accepted",
            ProposalState::Rejected => "Rejected",
            ProposalState::Withdrawn => "Withdrawn",
            ProposalState::Dropped => "Dropped",
        }
    }
}

/// A vote.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Vote {
    /// For.
    Accept,
    /// Against: one rejection rejects.
    Reject,
}

/// A governance proposal of the members.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Its id (derived from the signed request, so a replay cannot make a second one).
    pub id: String,
    /// The member who proposed it.
    pub proposer: String,
    /// What it does.
    pub actions: Vec<Action>,
    /// Its state.
    pub state: ProposalState,
    /// Ballots by member id.
    pub ballots: BTreeMap<String, Vote>,
    /// When it was made, ms.
    pub created_ms: i64,
    /// When it left `Open`, ms.
    pub resolved_ms: Option<i64>,
}

/// A contract's state.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub enum ContractState {
    /// Editable by members, with optimistic concurrency.
    Draft,
    /// An open proposal would accept it; not editable.
    Proposed,
    /// Immutable.
    Accepted,
    /// Its proposal was rejected; a new draft version may be written.
    Rejected,
}

/// A contract: what the parties agree to do together (free JSON data).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contract {
    /// Its id.
    pub id: String,
    /// Its draft version: 1 for the first draft, +1 for each change.
    pub version: i64,
    /// Its state.
    pub state: ContractState,
    /// The agreed content.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Value,
    /// The proposal that accepts (or accepted, or rejected) it.
    pub proposal_id: Option<String>,
}

/// A document's state.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub enum DocumentState {
    /// Editable by its owner, with optimistic concurrency.
    Draft,
    /// Proposed to its approvers; not editable.
    Proposed,
    /// Every approver accepted: immutable (a change is a new document).
    Accepted,
    /// An approver rejected it; its owner may edit and propose it again.
    Rejected,
}

/// A data format the runner reads and writes.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    /// CSV without a header, read with the declared schema.
    Csv,
    /// Parquet.
    Parquet,
    /// JSON lines.
    Json,
}

/// A column of a declared schema.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// The column's name.
    pub name: String,
    /// Its type: `string`, `integer`, `long`, `number`, `boolean`, `date`, `timestamp`.
    #[serde(rename = "type")]
    pub field_type: String,
}

/// A dataset: a party's data the clean room may read.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetSpec {
    /// Where it is: a URI on the landed storage (`hdfs://`, `s3://`, `abfs://`, `file://`).
    pub location: String,
    /// Its format.
    pub format: DataFormat,
    /// Its columns.
    pub schema: Vec<Field>,
    /// The only columns the runner loads.
    pub allowed_fields: Vec<String>,
    /// Names of the clean room's secrets the runner needs to read it (storage keys).
    #[serde(default)]
    pub secrets: Vec<String>,
}

/// A data sink: where a query's result goes.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkSpec {
    /// Where: a URI on the landed storage; results go to `{location}/{date}/{run id}`.
    pub location: String,
    /// The format written.
    pub format: DataFormat,
    /// The only columns written.
    pub allowed_fields: Vec<String>,
    /// Secrets the runner needs to write it.
    #[serde(default)]
    pub secrets: Vec<String>,
}

/// One SQL step of a query.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Segments run in ascending order; equal numbers may run in parallel. The last group holds
    /// exactly one segment: the result.
    pub execution_order: u32,
    /// The SQL.
    pub sql: String,
    /// Views that must hold at least so many rows before the segment runs.
    #[serde(default)]
    pub preconditions: Vec<Precondition>,
    /// Rows of the result kept only where `column >= value`.
    #[serde(default)]
    pub post_filters: Vec<PostFilter>,
}

/// A minimum row count.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Precondition {
    /// The view.
    pub view: String,
    /// Its minimum rows.
    pub min_rows: u64,
}

/// A minimum value of a result column.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PostFilter {
    /// The column.
    pub column: String,
    /// Its minimum.
    pub min: f64,
}

/// An input of a query: a dataset document seen as a view.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryInput {
    /// The dataset document's id.
    pub dataset: String,
    /// The view name the SQL uses.
    pub view: String,
}

/// A query: SQL segments over accepted datasets into one sink.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuerySpec {
    /// Its segments.
    pub segments: Vec<Segment>,
    /// Its inputs.
    pub inputs: Vec<QueryInput>,
    /// The sink document's id.
    pub sink: String,
}

/// What a document describes.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DocumentBody {
    /// A dataset.
    Dataset(DatasetSpec),
    /// A data sink.
    Sink(SinkSpec),
    /// A query.
    Query(QuerySpec),
}

impl DocumentBody {
    /// The kind's name.
    pub fn kind(&self) -> &'static str {
        match self {
            DocumentBody::Dataset(_) => "dataset",
            DocumentBody::Sink(_) => "sink",
            DocumentBody::Query(_) => "query",
        }
    }
}

/// A user document: a dataset, a sink or a query, under a contract.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// Its id.
    pub id: String,
    /// The accepted contract it belongs to.
    pub contract_id: String,
    /// The user who wrote it: its owner.
    pub owner: String,
    /// Its draft version.
    pub version: i64,
    /// Its state.
    pub state: DocumentState,
    /// What it describes.
    pub body: DocumentBody,
    /// Who must accept it: computed by the server when proposed, never taken from the caller.
    pub approvers: Vec<String>,
    /// Ballots of the approvers.
    pub ballots: BTreeMap<String, Vote>,
}

/// What a consent decision is about.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ConsentOption {
    /// Running anything on it (default on once accepted; any party's "off" stops it).
    Execution,
    /// Logs leaving the runner (default off; on only when every party turned it on).
    Logging,
    /// Telemetry leaving the runner (default off; on only when every party turned it on).
    Telemetry,
}

impl ConsentOption {
    /// Every option.
    pub const ALL: [ConsentOption; 3] = [ConsentOption::Execution, ConsentOption::Logging, ConsentOption::Telemetry];

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentOption::Execution => "execution",
            ConsentOption::Logging => "logging",
            ConsentOption::Telemetry => "telemetry",
        }
    }

    /// The option with this name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == name)
    }

    /// Whether the option is on for a party that never said anything.
    pub fn default_on(self) -> bool {
        matches!(self, ConsentOption::Execution)
    }
}

/// One party's consent decision.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentDecision {
    /// On or off.
    pub enabled: bool,
    /// When decided, ms.
    pub at_ms: i64,
}
