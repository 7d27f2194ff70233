//! An in-memory [`LedgerStore`] for tests and the benchmark (not durable: the SQL stores in
//! consort-store are the real ones). It keeps the trait's semantics: one order per clean room,
//! contiguous seqs, appending to an unknown clean room is an error, `put_root` keeps the first
//! root of a size.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use consort_scheduler::StoreError;

use crate::{Entry, EntryDraft, Hash, LedgerStore, SignedRoot};

#[derive(Debug, Default)]
struct Room {
    entries: Vec<Entry>,
    leaves: Vec<Hash>,
    roots: BTreeMap<u64, SignedRoot>,
}

/// The in-memory store.
#[derive(Debug, Default)]
pub struct MemoryLedgerStore {
    rooms: Mutex<HashMap<String, Room>>,
    /// Simulated commit latency per `append` call (to show group commit; zero by default).
    commit_delay: Duration,
    appends: std::sync::atomic::AtomicU64,
}

fn missing(cleanroom: &str) -> StoreError {
    StoreError::Database {
        context: "ledger".into(),
        message: format!("clean room {cleanroom:?} does not exist: create it first"),
        transient: false,
    }
}

impl MemoryLedgerStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose every `append` call takes `delay` (a stand-in for an fsync).
    pub fn with_commit_delay(delay: Duration) -> Self {
        Self { commit_delay: delay, ..Self::default() }
    }

    /// Creates a clean room's (empty) ledger; nothing happens if it exists.
    pub fn create_cleanroom(&self, cleanroom: &str) {
        self.rooms.lock().expect("not poisoned").entry(cleanroom.to_owned()).or_default();
    }

    /// How many `append` calls (transactions) were made.
    pub fn append_calls(&self) -> u64 {
        self.appends.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Test hook: replaces a stored entry's content without touching its stored leaf hash (what
    /// an attacker with database access would do).
    pub fn tamper_entry(&self, cleanroom: &str, seq: u64, body: &str) {
        let mut rooms = self.rooms.lock().expect("not poisoned");
        if let Some(e) = rooms.get_mut(cleanroom).and_then(|r| r.entries.get_mut(seq as usize)) {
            e.body = body.to_owned();
        }
    }

    fn with<T>(&self, cleanroom: &str, f: impl FnOnce(&mut Room) -> T) -> Result<T, StoreError> {
        let mut rooms = self.rooms.lock().expect("not poisoned");
        let room = rooms.get_mut(cleanroom).ok_or_else(|| missing(cleanroom))?;
        Ok(f(room))
    }
}

fn window(len: usize, from: u64, limit: u64) -> std::ops::Range<usize> {
    let start = usize::try_from(from).unwrap_or(usize::MAX).min(len);
    let end = start.saturating_add(usize::try_from(limit).unwrap_or(usize::MAX)).min(len);
    start..end
}

#[async_trait]
impl LedgerStore for MemoryLedgerStore {
    async fn append(&self, cleanroom: &str, entries: &[EntryDraft]) -> Result<Vec<Entry>, StoreError> {
        if !self.commit_delay.is_zero() {
            tokio::time::sleep(self.commit_delay).await;
        }
        self.appends.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.with(cleanroom, |room| {
            let mut out = Vec::with_capacity(entries.len());
            for d in entries {
                let e = Entry {
                    cleanroom: cleanroom.to_owned(),
                    seq: room.entries.len() as u64,
                    at_ms: d.at_ms,
                    kind: d.kind.clone(),
                    body: d.body.clone(),
                };
                room.leaves.push(e.leaf_hash());
                room.entries.push(e.clone());
                out.push(e);
            }
            out
        })
    }

    async fn size(&self, cleanroom: &str) -> Result<u64, StoreError> {
        self.with(cleanroom, |r| r.entries.len() as u64)
    }

    async fn entries(&self, cleanroom: &str, from: u64, limit: u64) -> Result<Vec<Entry>, StoreError> {
        self.with(cleanroom, |r| r.entries[window(r.entries.len(), from, limit)].to_vec())
    }

    async fn leaf_hashes(&self, cleanroom: &str, from: u64, to: u64) -> Result<Vec<Hash>, StoreError> {
        self.with(cleanroom, |r| r.leaves[window(r.leaves.len(), from, to.saturating_sub(from))].to_vec())
    }

    async fn put_root(&self, root: &SignedRoot) -> Result<(), StoreError> {
        self.with(&root.cleanroom, |r| {
            r.roots.entry(root.size).or_insert_with(|| root.clone());
        })
    }

    async fn latest_root(&self, cleanroom: &str) -> Result<Option<SignedRoot>, StoreError> {
        self.with(cleanroom, |r| r.roots.values().next_back().cloned())
    }

    async fn root_covering(&self, cleanroom: &str, seq: u64) -> Result<Option<SignedRoot>, StoreError> {
        self.with(cleanroom, |r| r.roots.range(seq.saturating_add(1)..).next().map(|(_, v)| v.clone()))
    }

    async fn roots(&self, cleanroom: &str, from_size: u64, limit: u64) -> Result<Vec<SignedRoot>, StoreError> {
        self.with(cleanroom, |r| {
            r.roots
                .range(from_size..)
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .map(|(_, v)| v.clone())
                .collect()
        })
    }
}
