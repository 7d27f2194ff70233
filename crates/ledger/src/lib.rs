//! consort-ledger: each clean room's append-only ledger.
//!
//! Every governance write and every release decision becomes an [`Entry`]. Entries are the
//! leaves of an RFC 6962 Merkle tree (leaf hash `SHA-256(0x00 ‖ leaf bytes)`, node hash
//! `SHA-256(0x01 ‖ left ‖ right)`); the tree's root is signed by the clean room's service
//! key at an interval ([`SignedRoot`]). A [`Receipt`] (inclusion proof + signed root) proves
//! one entry; an export proves the whole ledger; both verify offline with only the service's
//! public key.
//!
//! The store behind it is a [`LedgerStore`]: appends are durable before they are acknowledged
//! and get one order per clean room even with several instances sharing PostgreSQL.

//! Modules: [`tree`], [`signing`], [`receipt`] and [`export`] are pure (no I/O, no clock);
//! [`service`] is the async part over a [`LedgerStore`]; [`memory`] is an in-memory store for
//! tests and the benchmark.

mod derived;
pub mod export;
pub mod memory;
pub mod receipt;
pub mod service;
pub mod signing;
mod store;
pub mod tree;

pub use derived::DerivedServiceKeys;
pub use export::{
    EXPORT_FORMAT, Export, ExportError, ExportReport, Finding, Tampering, verify_export, verify_export_bytes,
    write_export,
};
pub use receipt::{RECEIPT_FORMAT, Receipt, ReceiptError};
pub use service::{KeyProvider, Ledger, LedgerConfig, LedgerError};
pub use signing::{PublicKey, RootError, ServiceKey};
pub use store::LedgerStore;

use serde::{Deserialize, Serialize};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// An entry to append: what happened. The store gives it its place ([`Entry::seq`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryDraft {
    /// What kind of event, dotted: `governance.proposal.created`, `secret.release.refused`, …
    pub kind: String,
    /// The event's details as canonical JSON text (keys sorted, no insignificant space); see
    /// [`canonical_json`].
    pub body: String,
    /// When it happened, milliseconds since the epoch.
    pub at_ms: i64,
}

/// An appended entry: a leaf of the clean room's tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The clean room whose ledger holds it (part of the leaf, so an entry cannot be moved
    /// to another clean room's ledger unnoticed).
    pub cleanroom: String,
    /// Its index in the ledger, from 0, without gaps.
    pub seq: u64,
    /// When it happened, milliseconds since the epoch.
    pub at_ms: i64,
    /// What kind of event.
    pub kind: String,
    /// Canonical JSON text of its details.
    pub body: String,
}

/// A tree root signed by the clean room's service key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRoot {
    /// The clean room.
    pub cleanroom: String,
    /// How many entries the tree had (the root covers entries `0..size`).
    pub size: u64,
    /// The Merkle tree hash of those entries, hex.
    pub root: String,
    /// When it was signed, milliseconds since the epoch.
    pub at_ms: i64,
    /// The signing key's id (hex SHA-256 of its public key).
    pub key_id: String,
    /// The signature over the root's signed bytes, base64.
    pub signature: String,
}

/// Serializes a JSON value canonically: object keys sorted, no insignificant white space, so the
/// same value always hashes the same.
pub fn canonical_json(value: &serde_json::Value) -> String {
    // serde_json's Map is a BTreeMap (no `preserve_order` feature in this workspace): keys
    // come out sorted.
    value.to_string()
}

/// RFC 6962 leaf hash: `SHA-256(0x00 ‖ data)`.
pub fn hash_leaf(data: &[u8]) -> Hash {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// RFC 6962 interior node hash: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn hash_children(left: &Hash, right: &Hash) -> Hash {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

impl Entry {
    /// The bytes the leaf hash covers: the canonical JSON object of every field (`at_ms`,
    /// `body` as a string, `cleanroom`, `kind`, `seq`), so a verifier in any language can
    /// rebuild it.
    pub fn leaf_bytes(&self) -> Vec<u8> {
        // Written directly (keys in sorted order, strings escaped by serde_json): the same bytes
        // as `canonical_json` of the object, without building a map (see the test below).
        use std::io::Write;
        let mut out = Vec::with_capacity(64 + self.body.len() + self.cleanroom.len() + self.kind.len());
        let string = |out: &mut Vec<u8>, s: &str| serde_json::to_writer(out, s).expect("writing to a Vec");
        let _ = write!(out, "{{\"at_ms\":{},\"body\":", self.at_ms);
        string(&mut out, &self.body);
        out.extend_from_slice(b",\"cleanroom\":");
        string(&mut out, &self.cleanroom);
        out.extend_from_slice(b",\"kind\":");
        string(&mut out, &self.kind);
        let _ = write!(out, ",\"seq\":{}}}", self.seq);
        out
    }

    /// This entry's leaf hash in the tree.
    pub fn leaf_hash(&self) -> Hash {
        hash_leaf(&self.leaf_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn leaf_bytes_are_the_canonical_json_object(
            cleanroom in ".{0,12}", seq in proptest::prelude::any::<u64>(), at_ms in proptest::prelude::any::<i64>(),
            kind in ".{0,12}", body in ".{0,40}",
        ) {
            let e = Entry { cleanroom, seq, at_ms, kind, body };
            let want = canonical_json(&serde_json::json!({
                "at_ms": e.at_ms, "body": e.body, "cleanroom": e.cleanroom, "kind": e.kind, "seq": e.seq,
            }));
            proptest::prop_assert_eq!(String::from_utf8(e.leaf_bytes()).unwrap(), want);
        }
    }

    #[test]
    fn leaf_bytes_example() {
        let e =
            Entry { cleanroom: "r".into(), seq: 3, at_ms: -5, kind: "k.x".into(), body: "{\"a\":\"\\u0000\"}".into() };
        assert_eq!(
            String::from_utf8(e.leaf_bytes()).unwrap(),
            r#"{"at_ms":-5,"body":"{\"a\":\"\\u0000\"}","cleanroom":"r","kind":"k.x","seq":3}"#
        );
    }
}
