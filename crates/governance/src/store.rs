//! The governance area's store: per clean room key-value maps, committed with ledger entries.
//! Implemented by consort-store for SQLite and PostgreSQL.

use async_trait::async_trait;
use consort_ledger::{Entry, EntryDraft};
use consort_scheduler::StoreError;

/// The maps of a clean room's state. Keys and values are text; values are JSON documents of
/// the domain's types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Map {
    /// The clean room's own settings, keys and policies (`settings`, `service-key`, …).
    Config,
    /// Members by member id.
    Members,
    /// Users by user id.
    Users,
    /// Proposals by proposal id.
    Proposals,
    /// Contracts by contract id.
    Contracts,
    /// Documents (datasets, sinks, queries) by document id.
    Documents,
    /// Consent: `{subject kind}/{subject id}/{option}/{principal}` → decision.
    Consent,
    /// Sealed secrets by secret name.
    Secrets,
    /// Governance requests already seen (replay protection): `{created at, 20 digits}/{digest}`
    /// → created at. Time-ordered keys, so entries too old to pass the freshness check are
    /// removed as a key range.
    Seen,
    /// Grants, policies and other run-time bindings (the run flow's; opaque here).
    Bindings,
    /// Invitations by invitation id: made by an accepted `invite_user` proposal, accepted by
    /// the invited identity.
    Invitations,
    /// Revoked user credentials by credential id → who revoked it and when.
    Revocations,
}

impl Map {
    /// Every map, for listing and export.
    pub const ALL: [Map; 12] = [
        Map::Config,
        Map::Members,
        Map::Users,
        Map::Proposals,
        Map::Contracts,
        Map::Documents,
        Map::Consent,
        Map::Secrets,
        Map::Seen,
        Map::Bindings,
        Map::Invitations,
        Map::Revocations,
    ];

    /// The map's stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Map::Config => "config",
            Map::Members => "members",
            Map::Users => "users",
            Map::Proposals => "proposals",
            Map::Contracts => "contracts",
            Map::Documents => "documents",
            Map::Consent => "consent",
            Map::Secrets => "secrets",
            Map::Seen => "seen",
            Map::Bindings => "bindings",
            Map::Invitations => "invitations",
            Map::Revocations => "revocations",
        }
    }

    /// The map with this stored name.
    pub fn parse(name: &str) -> Option<Map> {
        Map::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

/// A stored value and the clean room's commit version that last wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned {
    /// The value (JSON text).
    pub value: String,
    /// The version of the commit that wrote it (a clean room's commits are numbered from 1).
    pub version: i64,
}

/// One change of a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Sets `key` in `map` to `value`.
    Put {
        /// The map.
        map: Map,
        /// The key.
        key: String,
        /// The new value (JSON text).
        value: String,
    },
    /// Removes `key` from `map` (absent is not an error).
    Delete {
        /// The map.
        map: Map,
        /// The key.
        key: String,
    },
    /// Removes every key of `map` that sorts (bytewise) before `bound`: expiry of a map whose
    /// keys begin with a fixed-width time (the seen requests), a range the key index serves.
    DeleteBefore {
        /// The map.
        map: Map,
        /// The first key kept.
        bound: String,
    },
}

/// A unit of work on one clean room: the reads it depends on, its writes and its ledger
/// entries, all or nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Commit {
    /// What the decision read: `(map, key, version)`, version 0 for "was absent". The commit
    /// fails with [`CommitError::Conflict`] if any of them changed since.
    pub reads: Vec<(Map, String, i64)>,
    /// The changes.
    pub writes: Vec<Write>,
    /// Appended to the clean room's ledger in the same transaction.
    pub ledger: Vec<EntryDraft>,
}

/// Why a commit did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// Something the decision read changed meanwhile: read again and decide again.
    #[error("{map:?} {key:?} changed while the request was decided: retry it")]
    Conflict {
        /// The map.
        map: Map,
        /// The key.
        key: String,
    },
    /// No clean room has this name.
    #[error("no clean room named {0:?}: list them with `consort cleanroom list`")]
    NoSuchCleanRoom(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The governance area's store.
#[async_trait]
pub trait GovernanceStore: Send + Sync + std::fmt::Debug {
    /// Creates a clean room with its first commit (its ledger starts with `first.ledger`).
    /// `Ok(false)` if one with this name exists already (nothing is written).
    async fn create_cleanroom(&self, name: &str, first: Commit, now_ms: i64) -> Result<bool, StoreError>;

    /// The clean rooms' names, sorted.
    async fn cleanrooms(&self) -> Result<Vec<String>, StoreError>;

    /// One value; `None` if absent. An unknown clean room reads as empty.
    async fn get(&self, cleanroom: &str, map: Map, key: &str) -> Result<Option<Versioned>, StoreError>;

    /// Values of `map` whose keys start with `prefix`, keys after `after` (exclusive), sorted by
    /// key, at most `limit`.
    async fn list(
        &self,
        cleanroom: &str,
        map: Map,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(String, Versioned)>, StoreError>;

    /// Commits a unit of work: checks the reads, applies the writes with the clean room's next
    /// version, appends the ledger entries; one transaction. Returns the appended entries.
    async fn commit(&self, cleanroom: &str, commit: Commit, now_ms: i64) -> Result<Vec<Entry>, CommitError>;
}
