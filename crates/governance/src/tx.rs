//! A small optimistic transaction over a clean room's maps: reads are remembered with their
//! versions, writes and ledger entries are buffered, and the governance operations commit them
//! together, deciding again from fresh reads when a concurrent commit changed what was read.

use consort_ledger::{EntryDraft, canonical_json};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::GovError;
use crate::store::{Commit, GovernanceStore, Map, Write};

/// The key in [`Map::Config`] that every change of the member or user roster rewrites, so a
/// decision that read the whole roster conflicts with a concurrent addition (no phantom
/// voters).
const ROSTER: &str = "roster";

/// The page size when reading a whole map.
const PAGE: u32 = 500;

/// One attempt at a unit of work on one clean room.
#[derive(Debug)]
pub struct Tx<'a> {
    store: &'a dyn GovernanceStore,
    cleanroom: &'a str,
    now_ms: i64,
    commit: Commit,
}

impl<'a> Tx<'a> {
    pub(crate) fn new(store: &'a dyn GovernanceStore, cleanroom: &'a str, now_ms: i64) -> Self {
        Tx { store, cleanroom, now_ms, commit: Commit::default() }
    }

    pub(crate) fn into_commit(self) -> Commit {
        self.commit
    }

    /// The clean room.
    pub fn cleanroom(&self) -> &str {
        self.cleanroom
    }

    /// The time of the request, ms.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    fn remember(&mut self, map: Map, key: &str, version: i64) {
        if !self.commit.reads.iter().any(|(m, k, _)| *m == map && k == key) {
            self.commit.reads.push((map, key.to_string(), version));
        }
    }

    fn pending(&self, map: Map, key: &str) -> Option<Option<&str>> {
        self.commit.writes.iter().rev().find_map(|w| match w {
            Write::Put { map: m, key: k, value } if *m == map && k == key => Some(Some(value.as_str())),
            Write::Delete { map: m, key: k } if *m == map && k == key => Some(None),
            Write::DeleteBefore { map: m, bound } if *m == map && key < bound.as_str() => Some(None),
            _ => None,
        })
    }

    /// Reads one value (this attempt's own writes first).
    pub async fn get<T: DeserializeOwned>(&mut self, map: Map, key: &str) -> Result<Option<T>, GovError> {
        if let Some(pending) = self.pending(map, key) {
            return pending.map(|text| decode(map, key, text)).transpose();
        }
        let found = self.store.get(self.cleanroom, map, key).await?;
        self.remember(map, key, found.as_ref().map_or(0, |v| v.version));
        found.map(|v| decode(map, key, &v.value)).transpose()
    }

    /// Reads every value of a map whose key starts with `prefix`, in key order. Reading the
    /// members or users also reads the roster marker (see [`ROSTER`]).
    pub async fn all<T: DeserializeOwned>(&mut self, map: Map, prefix: &str) -> Result<Vec<(String, T)>, GovError> {
        if matches!(map, Map::Members | Map::Users) {
            let marker = self.store.get(self.cleanroom, Map::Config, ROSTER).await?;
            self.remember(Map::Config, ROSTER, marker.map_or(0, |v| v.version));
        }
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.store.list(self.cleanroom, map, prefix, after.as_deref(), PAGE).await?;
            let full = page.len() == PAGE as usize;
            for (key, v) in page {
                self.remember(map, &key, v.version);
                after = Some(key.clone());
                out.push((key, v.value));
            }
            if !full {
                break;
            }
        }
        // This attempt's own writes win over what is stored.
        let mut values: Vec<(String, String)> = out;
        for w in &self.commit.writes {
            match w {
                Write::Put { map: m, key, value } if *m == map && key.starts_with(prefix) => {
                    match values.iter_mut().find(|(k, _)| k == key) {
                        Some(slot) => slot.1 = value.clone(),
                        None => values.push((key.clone(), value.clone())),
                    }
                }
                Write::Delete { map: m, key } if *m == map => values.retain(|(k, _)| k != key),
                Write::DeleteBefore { map: m, bound } if *m == map => values.retain(|(k, _)| k >= bound),
                _ => {}
            }
        }
        values.sort_by(|a, b| a.0.cmp(&b.0));
        values.into_iter().map(|(k, text)| decode(map, &k, &text).map(|v| (k, v))).collect()
    }

    /// Writes a value.
    pub fn put<T: Serialize>(&mut self, map: Map, key: &str, value: &T) {
        let value = serde_json::to_value(value).map(|v| canonical_json(&v)).unwrap_or_else(|_| "null".into());
        if matches!(map, Map::Members | Map::Users) {
            self.commit.writes.push(Write::Put {
                map: Map::Config,
                key: ROSTER.into(),
                value: self.now_ms.to_string(),
            });
        }
        self.commit.writes.push(Write::Put { map, key: key.to_string(), value });
    }

    /// Removes a value.
    pub fn delete(&mut self, map: Map, key: &str) {
        self.commit.writes.push(Write::Delete { map, key: key.to_string() });
    }

    /// Removes every key of `map` before `bound` (see [`Write::DeleteBefore`]).
    pub fn delete_before(&mut self, map: Map, bound: &str) {
        self.commit.writes.push(Write::DeleteBefore { map, bound: bound.to_string() });
    }

    /// Appends a ledger entry with this unit of work.
    pub fn log(&mut self, kind: &str, body: serde_json::Value) {
        self.commit.ledger.push(EntryDraft { kind: kind.to_string(), body: canonical_json(&body), at_ms: self.now_ms });
    }
}

fn decode<T: DeserializeOwned>(map: Map, key: &str, text: &str) -> Result<T, GovError> {
    serde_json::from_str(text).map_err(|e| GovError::Corrupt {
        what: map.as_str(),
        key: key.to_string(),
        message: e.to_string(),
    })
}
