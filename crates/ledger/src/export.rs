//! The ledger export (pure): a JSON-lines file holding a clean room's entries in order and its
//! signed roots, its parser (which never panics), and [`verify_export`], which checks the
//! whole ledger with only the service's public key and says where it was tampered with.
//!
//! ```text
//! {"format":"consort-ledger-export/1","cleanroom":"…","key_id":"…"}
//! {"entry":{"at_ms":…,"body":"…","cleanroom":"…","kind":"…","seq":0},"leaf_hash":"…"}
//! {"root":{"at_ms":…,"cleanroom":"…","key_id":"…","root":"…","signature":"…","size":1}}
//! …
//! ```
//!
//! Each root follows the entry that completes it (a root of size `k` after entry `k - 1`);
//! `leaf_hash` is the hash stored when the entry was appended, so an entry changed later
//! (in the database or in the file) is located exactly unless its stored hash was changed too,
//! in which case the signed roots bound it to the entries between the last root that matches
//! and the first that does not.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::signing::{PublicKey, RootError, parse_hash};
use crate::tree::Tree;
use crate::{Entry, Hash, SignedRoot};

/// The `format` of an export's header line.
pub const EXPORT_FORMAT: &str = "consort-ledger-export/1";

/// The first line of an export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportHeader {
    /// Always [`EXPORT_FORMAT`].
    pub format: String,
    /// The clean room.
    pub cleanroom: String,
    /// The id of the service key that signs its roots.
    pub key_id: String,
}

/// One exported entry with the leaf hash stored at append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportedEntry {
    /// The entry.
    pub entry: Entry,
    /// Its leaf hash as stored when it was appended.
    pub leaf_hash: Hash,
    /// Its line in the file (1-based).
    pub line: usize,
}

/// A parsed export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    /// The header.
    pub header: ExportHeader,
    /// Entries in file order.
    pub entries: Vec<ExportedEntry>,
    /// Signed roots in file order, with their line.
    pub roots: Vec<(SignedRoot, usize)>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryLine {
    entry: Entry,
    leaf_hash: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RootLine {
    root: SignedRoot,
}

/// A line that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("export line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Writes an export: `entries` in order with their stored leaf hashes, and `roots` (any order;
/// written ascending by size, each after the entry that completes it).
pub fn write_export(cleanroom: &str, key_id: &str, entries: &[(Entry, Hash)], roots: &[SignedRoot]) -> Vec<u8> {
    let mut roots: Vec<&SignedRoot> = roots.iter().collect();
    roots.sort_by_key(|r| r.size);
    let mut out = String::new();
    let header = ExportHeader { format: EXPORT_FORMAT.into(), cleanroom: cleanroom.into(), key_id: key_id.into() };
    out.push_str(&serde_json::to_string(&header).expect("header serialises"));
    out.push('\n');
    let mut r = roots.iter().peekable();
    let mut put_roots = |out: &mut String, upto: u64| {
        while let Some(root) = r.next_if(|root| root.size <= upto) {
            out.push_str(&serde_json::to_string(&RootLine { root: (*root).clone() }).expect("root serialises"));
            out.push('\n');
        }
    };
    put_roots(&mut out, 0);
    for (i, (entry, leaf)) in entries.iter().enumerate() {
        let line = EntryLine { entry: entry.clone(), leaf_hash: hex::encode(leaf) };
        out.push_str(&serde_json::to_string(&line).expect("entry serialises"));
        out.push('\n');
        put_roots(&mut out, i as u64 + 1);
    }
    put_roots(&mut out, u64::MAX);
    out.into_bytes()
}

impl Export {
    /// Parses an export file. Never panics; the error names the line.
    pub fn parse(bytes: &[u8]) -> Result<Export, ParseError> {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let line = 1 + bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count();
            ParseError { line, message: "not UTF-8 text".into() }
        })?;
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l)).filter(|(_, l)| !l.trim().is_empty());
        let Some((hl, first)) = lines.next() else {
            return Err(ParseError { line: 1, message: "empty file: an export starts with its header line".into() });
        };
        let header: ExportHeader = serde_json::from_str(first).map_err(|e| ParseError {
            line: hl,
            message: format!("not an export header ({{\"format\",\"cleanroom\",\"key_id\"}}): {e}"),
        })?;
        if header.format != EXPORT_FORMAT {
            return Err(ParseError {
                line: hl,
                message: format!("unknown export format {:?}: this verifier reads {EXPORT_FORMAT:?}", header.format),
            });
        }
        let mut export = Export { header, entries: Vec::new(), roots: Vec::new() };
        for (line, text) in lines {
            let err = |message: String| ParseError { line, message };
            let value: serde_json::Value = serde_json::from_str(text).map_err(|e| err(format!("not JSON: {e}")))?;
            if value.get("entry").is_some() {
                let l: EntryLine = serde_json::from_value(value).map_err(|e| err(format!("bad entry line: {e}")))?;
                let leaf_hash = parse_hash(&l.leaf_hash).ok_or_else(|| err("leaf_hash is not 64 hex digits".into()))?;
                export.entries.push(ExportedEntry { entry: l.entry, leaf_hash, line });
            } else if value.get("root").is_some() {
                let l: RootLine = serde_json::from_value(value).map_err(|e| err(format!("bad root line: {e}")))?;
                export.roots.push((l.root, line));
            } else {
                return Err(err(
                    "neither an entry line ({\"entry\",\"leaf_hash\"}) nor a root line ({\"root\"})".into()
                ));
            }
        }
        Ok(export)
    }
}

/// One thing found wrong with an export, located as exactly as the data allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The header names another key than the one given.
    WrongKey {
        /// Key id in the header.
        header: String,
        /// Key id of the key given.
        given: String,
    },
    /// A root that is not validly signed for this clean room.
    ForgedRoot {
        /// The size it claims.
        size: u64,
        /// Its line.
        line: usize,
        /// Why.
        reason: String,
    },
    /// Roots not in ascending size order, or two different roots of one size.
    RootOrder {
        /// The root's size.
        size: u64,
        /// Its line.
        line: usize,
    },
    /// An entry of another clean room.
    ForeignEntry {
        /// Position in the file (0-based entry index).
        position: u64,
        /// Its seq.
        seq: u64,
        /// The clean room it names.
        cleanroom: String,
    },
    /// Entries missing: seqs `from..to` are absent.
    Removed {
        /// First missing seq.
        from: u64,
        /// One past the last missing seq.
        to: u64,
    },
    /// A second entry with a seq already present.
    Inserted {
        /// Position of the extra entry.
        position: u64,
        /// Its seq.
        seq: u64,
        /// Its line.
        line: usize,
    },
    /// An entry at the wrong place.
    Reordered {
        /// Position in the file.
        position: u64,
        /// The seq found there.
        seq: u64,
        /// Its line.
        line: usize,
    },
    /// An entry whose content does not match the leaf hash stored when it was appended.
    Edited {
        /// Its seq.
        seq: u64,
        /// Its line.
        line: usize,
    },
    /// The entries do not hash to a validly signed root.
    RootMismatch {
        /// The first root that fails.
        size: u64,
        /// Its line.
        line: usize,
        /// The largest root below it that matches (0 when none).
        last_good: u64,
    },
    /// A signed root covers more entries than the export holds.
    Truncated {
        /// The root's size.
        size: u64,
        /// How many entries the export holds.
        present: u64,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::WrongKey { header, given } => write!(
                f,
                "the export names service key {header} but the key given is {given}: verify with the clean room's service key"
            ),
            Finding::ForgedRoot { size, line, reason } => {
                write!(f, "the signed root of size {size} (line {line}) is not valid: {reason}")
            }
            Finding::RootOrder { size, line } => write!(
                f,
                "the signed root of size {size} (line {line}) is out of order or conflicts with another root of that size: roots were reordered or replaced"
            ),
            Finding::ForeignEntry { position, seq, cleanroom } => write!(
                f,
                "entry {seq} at position {position} belongs to clean room {cleanroom:?}: it was moved or copied from another ledger"
            ),
            Finding::Removed { from, to } if to - from == 1 => write!(f, "entry {from} was removed"),
            Finding::Removed { from, to } => write!(f, "entries {from}..{to} were removed ({} entries)", to - from),
            Finding::Inserted { position, seq, line } => {
                write!(f, "an entry was inserted at position {position} (line {line}): it repeats seq {seq}")
            }
            Finding::Reordered { position, seq, line } => {
                write!(f, "entries were reordered: position {position} (line {line}) holds entry {seq}")
            }
            Finding::Edited { seq, line } => write!(
                f,
                "entry {seq} (line {line}) was edited: its content does not match the leaf hash stored when it was appended"
            ),
            Finding::RootMismatch { size, line, last_good } => write!(
                f,
                "the entries do not match the root signed at size {size} (line {line}); the last root that matches covers 0..{last_good}, so entries {last_good}..{size} were edited, removed, inserted or reordered"
            ),
            Finding::Truncated { size, present } => write!(
                f,
                "the root signed at size {size} covers entries 0..{size} but the export holds only {present}: entries {present}..{size} were removed"
            ),
        }
    }
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    /// The clean room.
    pub cleanroom: String,
    /// The service key's id.
    pub key_id: String,
    /// Entries in the export.
    pub entries: u64,
    /// Signed roots verified.
    pub roots: usize,
    /// The largest signed root's size (entries `0..covered` are proven).
    pub covered: u64,
}

impl ExportReport {
    /// Entries after the last signed root: present but not yet covered by a signature.
    pub fn uncovered(&self) -> std::ops::Range<u64> {
        self.covered..self.entries
    }
}

impl fmt::Display for ExportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ledger of clean room {:?} verified: {} entries, {} signed roots (key {}), entries 0..{} covered by signed roots",
            self.cleanroom, self.entries, self.roots, self.key_id, self.covered
        )?;
        if self.covered < self.entries {
            write!(f, "; entries {}..{} are not covered by a signed root yet", self.covered, self.entries)?;
        }
        Ok(())
    }
}

/// An export that does not verify: every finding, most precise first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Tampering {
    /// The clean room the header names.
    pub cleanroom: String,
    /// What was found.
    pub findings: Vec<Finding>,
}

impl fmt::Display for Tampering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the ledger export of clean room {:?} does not verify:", self.cleanroom)?;
        for finding in &self.findings {
            write!(f, "\n  - {finding}")?;
        }
        Ok(())
    }
}

/// An export that cannot be read, or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// Unreadable.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Readable but tampered with.
    #[error(transparent)]
    Tampered(#[from] Tampering),
}

/// Parses and verifies an export file's bytes.
pub fn verify_export_bytes(bytes: &[u8], key: &PublicKey) -> Result<ExportReport, ExportError> {
    let export = Export::parse(bytes)?;
    Ok(verify_export(&export, key)?)
}

/// Verifies a whole export with only the service's public key: every root's signature, every
/// entry's place (seq), clean room and stored leaf hash, and the tree of the entries as they
/// are against every signed root. Entries after the last signed root are reported as not
/// covered yet (not an error); a signed root that claims more entries than present is.
pub fn verify_export(export: &Export, key: &PublicKey) -> Result<ExportReport, Tampering> {
    let cleanroom = &export.header.cleanroom;
    let mut findings = Vec::new();
    let given = key.key_id();
    if !export.header.key_id.eq_ignore_ascii_case(&given) {
        findings.push(Finding::WrongKey { header: export.header.key_id.clone(), given });
        return Err(Tampering { cleanroom: cleanroom.clone(), findings });
    }

    // Roots: valid signature, this clean room, ascending.
    let mut roots: Vec<(u64, Hash, usize)> = Vec::new();
    for (root, line) in &export.roots {
        let line = *line;
        if &root.cleanroom != cleanroom {
            findings.push(Finding::ForgedRoot {
                size: root.size,
                line,
                reason: format!("it is clean room {:?}'s", root.cleanroom),
            });
            continue;
        }
        match root.verify(key) {
            Ok(hash) => {
                if let Some(&(prev_size, prev_hash, _)) = roots.last()
                    && (root.size < prev_size || (root.size == prev_size && hash != prev_hash))
                {
                    findings.push(Finding::RootOrder { size: root.size, line });
                    continue;
                }
                if roots.last().is_some_and(|r| r.0 == root.size) {
                    continue;
                }
                roots.push((root.size, hash, line));
            }
            Err(
                e @ (RootError::BadSignature { .. }
                | RootError::BadHash { .. }
                | RootError::BadSignatureEncoding { .. }),
            ) => {
                findings.push(Finding::ForgedRoot { size: root.size, line, reason: e.to_string() });
            }
            Err(e @ RootError::WrongKey { .. }) => {
                findings.push(Finding::ForgedRoot { size: root.size, line, reason: e.to_string() });
            }
        }
    }

    // Entries: clean room, stored leaf hash, seq order.
    let n = export.entries.len() as u64;
    let mut seen = std::collections::HashSet::with_capacity(export.entries.len());
    let mut order_broken = false;
    let mut prev = None::<u64>;
    for (pos, e) in export.entries.iter().enumerate() {
        let (position, seq) = (pos as u64, e.entry.seq);
        if &e.entry.cleanroom != cleanroom {
            findings.push(Finding::ForeignEntry { position, seq, cleanroom: e.entry.cleanroom.clone() });
        }
        if e.entry.leaf_hash() != e.leaf_hash {
            findings.push(Finding::Edited { seq, line: e.line });
        }
        if !seen.insert(seq) {
            findings.push(Finding::Inserted { position, seq, line: e.line });
            continue;
        }
        if prev.is_some_and(|p| seq < p) {
            order_broken = true;
        }
        prev = Some(seq);
    }
    // Missing seqs below the largest one present: removed (exactly located). From the sorted
    // seqs, not by counting up to the largest (which the file chooses).
    let mut sorted: Vec<u64> = seen.iter().copied().collect();
    sorted.sort_unstable();
    let mut expected = 0u64;
    for s in sorted {
        if s > expected {
            findings.push(Finding::Removed { from: expected, to: s });
        }
        expected = s.saturating_add(1);
    }
    if order_broken {
        // Each entry seen before a smaller seq: the ones out of place.
        let mut first_seen = std::collections::HashSet::new();
        let mut kept: Vec<(u64, &ExportedEntry)> = Vec::new();
        for (pos, e) in export.entries.iter().enumerate() {
            if first_seen.insert(e.entry.seq) {
                kept.push((pos as u64, e));
            }
        }
        // Out of place: not part of a longest increasing run is costly; report the entries whose
        // seq is larger than a later one's (the minimal evidence of the swap).
        let mut min_after = u64::MAX;
        let mut out_of_place = Vec::new();
        for (pos, e) in kept.iter().rev() {
            if e.entry.seq > min_after {
                out_of_place.push(Finding::Reordered { position: *pos, seq: e.entry.seq, line: e.line });
            }
            min_after = min_after.min(e.entry.seq);
        }
        out_of_place.reverse();
        findings.extend(out_of_place);
    }

    // The tree of the entries as they are, against every valid root.
    let mut covered = 0;
    if let Some(&(largest, _, _)) = roots.last() {
        let upto = largest.min(n);
        let tree = Tree::from_leaves(export.entries[..upto as usize].iter().map(|e| e.entry.leaf_hash()));
        let mut last_good = 0;
        for &(size, hash, line) in &roots {
            if size > n {
                findings.push(Finding::Truncated { size, present: n });
                break;
            }
            let computed = tree.root_at(size).expect("size within the tree");
            if computed != hash {
                findings.push(Finding::RootMismatch { size, line, last_good });
                break;
            }
            last_good = size;
            covered = size;
        }
    }

    if findings.is_empty() {
        Ok(ExportReport {
            cleanroom: cleanroom.clone(),
            key_id: export.header.key_id.clone(),
            entries: n,
            roots: roots.len(),
            covered,
        })
    } else {
        Err(Tampering { cleanroom: cleanroom.clone(), findings })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::ServiceKey;

    const ROOM: &str = "room";

    fn entry(seq: u64) -> Entry {
        Entry {
            cleanroom: ROOM.into(),
            seq,
            at_ms: 1_000 + seq as i64,
            kind: "governance.test".into(),
            body: format!("{{\"n\":{seq}}}"),
        }
    }

    /// An export of `n` entries with roots every `every` entries (and none at the tail).
    fn export(n: u64, every: u64) -> (ServiceKey, Vec<u8>) {
        let (key, _) = ServiceKey::generate().unwrap();
        let entries: Vec<(Entry, Hash)> = (0..n).map(entry).map(|e| (e.clone(), e.leaf_hash())).collect();
        let tree = Tree::from_leaves(entries.iter().map(|e| e.1));
        let roots: Vec<SignedRoot> = (1..=n / every)
            .map(|i| i * every)
            .map(|s| SignedRoot::sign(&key, ROOM, s, &tree.root_at(s).unwrap(), s as i64))
            .collect();
        let bytes = write_export(ROOM, &key.public_key().key_id(), &entries, &roots);
        (key, bytes)
    }

    fn lines(bytes: &[u8]) -> Vec<String> {
        String::from_utf8(bytes.to_vec()).unwrap().lines().map(str::to_owned).collect()
    }

    fn join(lines: &[String]) -> Vec<u8> {
        let mut s = lines.join("\n");
        s.push('\n');
        s.into_bytes()
    }

    /// The line index of entry `seq`.
    fn entry_line(lines: &[String], seq: u64) -> usize {
        lines.iter().position(|l| l.starts_with("{\"entry\"") && l.contains(&format!("\"seq\":{seq},"))).unwrap()
    }

    fn findings(bytes: &[u8], key: &ServiceKey) -> Vec<Finding> {
        match verify_export_bytes(bytes, key.public_key()) {
            Err(ExportError::Tampered(t)) => {
                // Prints well.
                assert!(t.to_string().contains("does not verify"));
                t.findings
            }
            other => panic!("expected tampering, got {other:?}"),
        }
    }

    #[test]
    fn intact_export_verifies() {
        let (key, bytes) = export(95, 10);
        let report = verify_export_bytes(&bytes, key.public_key()).unwrap();
        assert_eq!(report.entries, 95);
        assert_eq!(report.roots, 9);
        assert_eq!(report.covered, 90);
        assert_eq!(report.uncovered(), 90..95);
        assert!(report.to_string().contains("entries 90..95 are not covered"), "{report}");
    }

    #[test]
    fn edited_entry_is_located_exactly() {
        let (key, bytes) = export(50, 10);
        let mut ls = lines(&bytes);
        let i = entry_line(&ls, 23);
        ls[i] = ls[i].replace("{\\\"n\\\":23}", "{\\\"n\\\":999}");
        let f = findings(&join(&ls), &key);
        assert!(f.contains(&Finding::Edited { seq: 23, line: i + 1 }), "{f:?}");
        assert!(f.contains(&Finding::RootMismatch { size: 30, line: f_line(&ls, 30), last_good: 20 }), "{f:?}");
    }

    fn f_line(ls: &[String], size: u64) -> usize {
        1 + ls.iter().position(|l| l.starts_with("{\"root\"") && l.contains(&format!("\"size\":{size},"))).unwrap()
    }

    #[test]
    fn edited_entry_with_its_leaf_hash_is_bounded_by_roots() {
        let (key, bytes) = export(50, 10);
        let mut ls = lines(&bytes);
        let i = entry_line(&ls, 23);
        let mut e = entry(23);
        e.body = "{\"n\":999}".into();
        ls[i] = serde_json::to_string(&EntryLine { leaf_hash: hex::encode(e.leaf_hash()), entry: e }).unwrap();
        let f = findings(&join(&ls), &key);
        assert_eq!(f, vec![Finding::RootMismatch { size: 30, line: f_line(&ls, 30), last_good: 20 }]);
        assert!(f[0].to_string().contains("entries 20..30"));
    }

    #[test]
    fn removed_entry_is_located() {
        let (key, bytes) = export(50, 10);
        let mut ls = lines(&bytes);
        let i = entry_line(&ls, 17);
        ls.remove(i);
        let f = findings(&join(&ls), &key);
        assert_eq!(f[0], Finding::Removed { from: 17, to: 18 });
        assert!(matches!(f[1], Finding::RootMismatch { size: 20, last_good: 10, .. }), "{f:?}");
        assert_eq!(f[0].to_string(), "entry 17 was removed");
    }

    #[test]
    fn inserted_entry_is_located() {
        let (key, bytes) = export(50, 10);
        let mut ls = lines(&bytes);
        let i = entry_line(&ls, 33);
        let copy = ls[entry_line(&ls, 12)].clone();
        ls.insert(i, copy);
        let f = findings(&join(&ls), &key);
        assert_eq!(f[0], Finding::Inserted { position: 33, seq: 12, line: i + 1 });
        assert!(matches!(f[1], Finding::RootMismatch { size: 40, last_good: 30, .. }), "{f:?}");
    }

    #[test]
    fn reordered_entries_are_located() {
        let (key, bytes) = export(50, 10);
        let mut ls = lines(&bytes);
        let (a, b) = (entry_line(&ls, 5), entry_line(&ls, 6));
        ls.swap(a, b);
        let f = findings(&join(&ls), &key);
        assert_eq!(f[0], Finding::Reordered { position: 5, seq: 6, line: a + 1 });
        assert!(matches!(f[1], Finding::RootMismatch { size: 10, last_good: 0, .. }), "{f:?}");
    }

    #[test]
    fn forged_root_is_located() {
        let (key, bytes) = export(50, 10);
        let mut ls = lines(&bytes);
        let i = f_line(&ls, 20) - 1;
        let mut v: serde_json::Value = serde_json::from_str(&ls[i]).unwrap();
        v["root"]["root"] = hex::encode([9u8; 32]).into();
        ls[i] = v.to_string();
        let f = findings(&join(&ls), &key);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(matches!(&f[0], Finding::ForgedRoot { size: 20, line, .. } if *line == i + 1));
    }

    #[test]
    fn root_from_another_key_is_forged() {
        let (key, bytes) = export(30, 10);
        let (other, _) = ServiceKey::generate().unwrap();
        let mut ls = lines(&bytes);
        let i = f_line(&ls, 20) - 1;
        let tree = Tree::from_leaves((0..30).map(|s| entry(s).leaf_hash()));
        let forged = SignedRoot::sign(&other, ROOM, 20, &tree.root_at(20).unwrap(), 1);
        ls[i] = serde_json::to_string(&RootLine { root: forged }).unwrap();
        let f = findings(&join(&ls), &key);
        assert!(matches!(&f[0], Finding::ForgedRoot { size: 20, .. }), "{f:?}");
    }

    #[test]
    fn truncated_tail_is_uncovered_not_an_error() {
        let (key, bytes) = export(50, 10);
        let mut ls = lines(&bytes);
        // Drop the last root (size 50) and the entries after 40 up to 45: the tail 40..45 stays.
        ls.truncate(entry_line(&ls, 45));
        let report = verify_export_bytes(&join(&ls), key.public_key()).unwrap();
        assert_eq!((report.entries, report.covered), (45, 40));
    }

    #[test]
    fn truncated_tail_claimed_by_a_root_is_an_error() {
        let (key, bytes) = export(50, 10);
        let mut ls = lines(&bytes);
        let last_root = ls.pop().unwrap();
        ls.truncate(entry_line(&ls, 45));
        ls.push(last_root);
        let f = findings(&join(&ls), &key);
        assert_eq!(f, vec![Finding::Truncated { size: 50, present: 45 }]);
    }

    #[test]
    fn wrong_key_and_foreign_entry() {
        let (key, bytes) = export(20, 10);
        let (other, _) = ServiceKey::generate().unwrap();
        assert!(matches!(findings(&bytes, &other)[0], Finding::WrongKey { .. }));
        let mut ls = lines(&bytes);
        let i = entry_line(&ls, 3);
        ls[i] = ls[i].replace("\"cleanroom\":\"room\"", "\"cleanroom\":\"other\"");
        let f = findings(&join(&ls), &key);
        assert!(matches!(f[0], Finding::ForeignEntry { position: 3, seq: 3, .. }), "{f:?}");
    }

    #[test]
    fn a_huge_seq_is_a_removal_found_at_once() {
        let (key, bytes) = export(3, 10);
        let mut ls = lines(&bytes);
        let i = entry_line(&ls, 2);
        ls[i] = ls[i].replace("\"seq\":2,", &format!("\"seq\":{},", u64::MAX));
        let f = findings(&join(&ls), &key);
        assert!(f.contains(&Finding::Removed { from: 2, to: u64::MAX }), "{f:?}");
    }

    #[test]
    fn parser_errors_name_the_line() {
        assert_eq!(Export::parse(b"").unwrap_err().line, 1);
        assert!(Export::parse(b"{\"format\":\"x\",\"cleanroom\":\"r\",\"key_id\":\"k\"}").is_err());
        let (_, bytes) = export(3, 1);
        let mut ls = lines(&bytes);
        ls.insert(2, "{\"nope\":1}".into());
        assert_eq!(Export::parse(&join(&ls)).unwrap_err().line, 3);
        assert!(Export::parse(&[0xff, 0xfe]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let (key, _) = ServiceKey::generate().unwrap();
            let _ = verify_export_bytes(&bytes, key.public_key());
        }
    }
}
