//! Receipts (pure): one entry, its inclusion proof and the signed root it leads to; verifiable
//! offline with only the service's public key.

use serde::{Deserialize, Serialize};

use crate::signing::{PublicKey, RootError, parse_hash};
use crate::tree::{VerifyError, root_from_inclusion};
use crate::{Entry, Hash, SignedRoot};

/// The `format` of a receipt file.
pub const RECEIPT_FORMAT: &str = "consort-ledger-receipt/1";

/// Proof that an entry is in a clean room's ledger: the entry, its RFC 6962 audit path (hex,
/// deepest sibling first) in the tree of `root.size` entries, and that root signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// Always [`RECEIPT_FORMAT`].
    pub format: String,
    /// The entry.
    pub entry: Entry,
    /// Its leaf hash, hex (informative: the verifier recomputes it from `entry`).
    pub leaf_hash: String,
    /// The audit path, hex hashes.
    pub proof: Vec<String>,
    /// The signed root the path leads to.
    pub root: SignedRoot,
}

/// Why a receipt does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Not JSON of the receipt's shape.
    #[error("not a ledger receipt: {0}")]
    Parse(String),
    /// Another format or version.
    #[error("unknown receipt format {0:?}: this verifier reads {RECEIPT_FORMAT:?}")]
    Format(String),
    /// The entry belongs to another clean room than the root.
    #[error("the entry is from clean room {entry:?} but the signed root is clean room {root:?}'s")]
    CleanroomMismatch {
        /// The entry's clean room.
        entry: String,
        /// The root's clean room.
        root: String,
    },
    /// The root does not cover the entry.
    #[error("entry {seq} is not covered by the signed root of size {size} (it covers entries 0..{size})")]
    NotCovered {
        /// The entry's seq.
        seq: u64,
        /// The root's size.
        size: u64,
    },
    /// The signed root is not valid.
    #[error("signed root: {0}")]
    Root(#[from] RootError),
    /// A proof element is not 64 hex digits.
    #[error("proof element {index} is not a hash (64 hex digits)")]
    ProofEncoding {
        /// Its position in the proof.
        index: usize,
    },
    /// The entry's content does not hash to the receipt's leaf hash.
    #[error("entry {seq} was changed: its content hashes to {actual}, the receipt's leaf hash is {recorded}")]
    EntryMismatch {
        /// The entry's seq.
        seq: u64,
        /// Hex leaf hash in the receipt.
        recorded: String,
        /// Hex leaf hash of the entry as it is.
        actual: String,
    },
    /// The proof does not lead from the entry to the signed root.
    #[error("the proof does not lead from entry {seq} to the signed root of size {size}: {source}")]
    Proof {
        /// The entry's seq.
        seq: u64,
        /// The root's size.
        size: u64,
        /// What failed.
        source: VerifyError,
    },
}

impl Receipt {
    /// Builds a receipt (the service does this; `proof` from [`crate::tree::Tree::inclusion_proof`]).
    pub fn new(entry: Entry, proof: &[Hash], root: SignedRoot) -> Self {
        Receipt {
            format: RECEIPT_FORMAT.to_owned(),
            leaf_hash: hex::encode(entry.leaf_hash()),
            entry,
            proof: proof.iter().map(hex::encode).collect(),
            root,
        }
    }

    /// Reads a receipt file (JSON). Never panics.
    pub fn parse(bytes: &[u8]) -> Result<Self, ReceiptError> {
        let r: Receipt = serde_json::from_slice(bytes).map_err(|e| ReceiptError::Parse(e.to_string()))?;
        if r.format != RECEIPT_FORMAT {
            return Err(ReceiptError::Format(r.format));
        }
        Ok(r)
    }

    /// The receipt file's bytes (pretty JSON).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a receipt serialises")
    }

    /// Checks everything with only the service's public key: the format, the clean room, the
    /// root's signature, the entry's leaf hash, and the audit path to the signed root.
    pub fn verify(&self, key: &PublicKey) -> Result<(), ReceiptError> {
        if self.format != RECEIPT_FORMAT {
            return Err(ReceiptError::Format(self.format.clone()));
        }
        if self.entry.cleanroom != self.root.cleanroom {
            return Err(ReceiptError::CleanroomMismatch {
                entry: self.entry.cleanroom.clone(),
                root: self.root.cleanroom.clone(),
            });
        }
        if self.entry.seq >= self.root.size {
            return Err(ReceiptError::NotCovered { seq: self.entry.seq, size: self.root.size });
        }
        let root = self.root.verify(key)?;
        let leaf = self.entry.leaf_hash();
        if parse_hash(&self.leaf_hash) != Some(leaf) {
            return Err(ReceiptError::EntryMismatch {
                seq: self.entry.seq,
                recorded: self.leaf_hash.clone(),
                actual: hex::encode(leaf),
            });
        }
        let mut proof = Vec::with_capacity(self.proof.len());
        for (index, p) in self.proof.iter().enumerate() {
            proof.push(parse_hash(p).ok_or(ReceiptError::ProofEncoding { index })?);
        }
        let proof_err = |source| ReceiptError::Proof { seq: self.entry.seq, size: self.root.size, source };
        let computed = root_from_inclusion(&leaf, self.entry.seq, self.root.size, &proof).map_err(proof_err)?;
        if computed != root {
            return Err(proof_err(VerifyError::RootMismatch {
                computed: hex::encode(computed),
                expected: self.root.root.clone(),
            }));
        }
        Ok(())
    }
}

impl std::fmt::Display for Receipt {
    /// One line for the CLI after a successful verification.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "entry {} ({}, at_ms {}) of clean room {:?} is in the ledger: proof of {} hashes to the root of size {} ({}) signed at_ms {} by key {}",
            self.entry.seq,
            self.entry.kind,
            self.entry.at_ms,
            self.entry.cleanroom,
            self.proof.len(),
            self.root.size,
            self.root.root,
            self.root.at_ms,
            self.root.key_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::ServiceKey;
    use crate::tree::Tree;

    fn entries(n: u64) -> Vec<Entry> {
        (0..n)
            .map(|seq| Entry {
                cleanroom: "room".into(),
                seq,
                at_ms: 1000 + seq as i64,
                kind: "test.event".into(),
                body: format!("{{\"n\":{seq}}}"),
            })
            .collect()
    }

    fn receipt(seq: u64, size: u64) -> (ServiceKey, Receipt) {
        let (key, _) = ServiceKey::generate().unwrap();
        let es = entries(size);
        let t = Tree::from_leaves(es.iter().map(Entry::leaf_hash));
        let root = SignedRoot::sign(&key, "room", size, &t.root(), 5);
        let r = Receipt::new(es[seq as usize].clone(), &t.inclusion_proof(seq, size).unwrap(), root);
        (key, r)
    }

    #[test]
    fn valid_receipt_round_trips_and_verifies() {
        for (seq, size) in [(0, 1), (0, 7), (6, 7), (41, 1000), (999, 1000)] {
            let (key, r) = receipt(seq, size);
            r.verify(key.public_key()).unwrap();
            let again = Receipt::parse(r.to_json().as_bytes()).unwrap();
            assert_eq!(again, r);
            again.verify(key.public_key()).unwrap();
            assert!(r.to_string().contains(&format!("entry {seq} ")));
        }
    }

    #[test]
    fn each_failure_says_what() {
        let (key, r) = receipt(41, 100);
        let pk = key.public_key();

        let mut bad = r.clone();
        bad.entry.body = "{\"n\":0}".into();
        assert!(matches!(bad.verify(pk), Err(ReceiptError::EntryMismatch { seq: 41, .. })));

        let mut bad = r.clone();
        bad.entry.body = "{\"n\":0}".into();
        bad.leaf_hash = hex::encode(bad.entry.leaf_hash());
        assert!(matches!(bad.verify(pk), Err(ReceiptError::Proof { seq: 41, size: 100, .. })));

        let mut bad = r.clone();
        bad.proof[2] = hex::encode([0u8; 32]);
        assert!(matches!(bad.verify(pk), Err(ReceiptError::Proof { .. })));

        let mut bad = r.clone();
        bad.proof.pop();
        assert!(matches!(bad.verify(pk), Err(ReceiptError::Proof { .. })));

        let mut bad = r.clone();
        bad.proof[0] = "xyz".into();
        assert_eq!(bad.verify(pk), Err(ReceiptError::ProofEncoding { index: 0 }));

        let mut bad = r.clone();
        bad.root.root = hex::encode([1u8; 32]);
        assert!(matches!(bad.verify(pk), Err(ReceiptError::Root(RootError::BadSignature { .. }))));

        let mut bad = r.clone();
        bad.entry.cleanroom = "other".into();
        assert!(matches!(bad.verify(pk), Err(ReceiptError::CleanroomMismatch { .. })));

        let mut bad = r.clone();
        bad.entry.seq = 100;
        assert!(matches!(bad.verify(pk), Err(ReceiptError::NotCovered { .. })));

        let (other, _) = ServiceKey::generate().unwrap();
        assert!(matches!(r.verify(other.public_key()), Err(ReceiptError::Root(RootError::WrongKey { .. }))));

        assert!(matches!(Receipt::parse(b"{}"), Err(ReceiptError::Parse(_))));
        let mut v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        v["format"] = "consort-ledger-receipt/9".into();
        assert!(matches!(Receipt::parse(v.to_string().as_bytes()), Err(ReceiptError::Format(_))));
    }
}
