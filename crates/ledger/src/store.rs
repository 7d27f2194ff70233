//! Where the ledger lives: implemented by consort-store for SQLite and PostgreSQL.

use async_trait::async_trait;
use consort_scheduler::StoreError;

use crate::{Entry, EntryDraft, Hash, SignedRoot};

/// A clean room's ledger, durably stored.
#[async_trait]
pub trait LedgerStore: Send + Sync + std::fmt::Debug {
    /// Appends `entries`, in order, to the clean room's ledger in one transaction and returns
    /// them with their places (contiguous `seq`s). Durable when it returns. Several instances
    /// appending to one clean room get one order (the clean room's row is the lock).
    /// Appending to a clean room that does not exist is an error naming it.
    async fn append(&self, cleanroom: &str, entries: &[EntryDraft]) -> Result<Vec<Entry>, StoreError>;

    /// How many entries the clean room's ledger holds.
    async fn size(&self, cleanroom: &str) -> Result<u64, StoreError>;

    /// Entries `from..` (at most `limit`), in order.
    async fn entries(&self, cleanroom: &str, from: u64, limit: u64) -> Result<Vec<Entry>, StoreError>;

    /// The leaf hashes of entries `from..to`, in order (stored beside each entry at append).
    async fn leaf_hashes(&self, cleanroom: &str, from: u64, to: u64) -> Result<Vec<Hash>, StoreError>;

    /// Stores a signed root; a root of the same size already stored is kept (not an error).
    async fn put_root(&self, root: &SignedRoot) -> Result<(), StoreError>;

    /// The signed root with the largest size, if any.
    async fn latest_root(&self, cleanroom: &str) -> Result<Option<SignedRoot>, StoreError>;

    /// The first signed root that covers entry `seq` (its size > `seq`), if one was signed yet.
    async fn root_covering(&self, cleanroom: &str, seq: u64) -> Result<Option<SignedRoot>, StoreError>;

    /// Signed roots with size in `from_size..`, ascending, at most `limit`.
    async fn roots(&self, cleanroom: &str, from_size: u64, limit: u64) -> Result<Vec<SignedRoot>, StoreError>;
}
