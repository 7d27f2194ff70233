//! The clean rooms' statements (consort-governance's key-value maps, consort-ledger's entries
//! and signed roots), written once over [`Sql`]; each function runs inside one transaction of
//! its backend. Inserting a batch of ledger entries is the one backend-specific statement
//! ([`LedgerTx`]): a reused prepared statement on SQLite, one `unnest` insert on PostgreSQL
//! (whose plain appends usually skip this path for one predicted statement, see
//! `PgStore::append_predicted`).
//!
//! Order: every commit and every append first updates the clean room's row (its commit
//! `version` and `ledger_size`), which locks it until the transaction ends, so appends from
//! several instances to one clean room queue on that row and get contiguous `seq`s.

use consort_governance::{Commit, CommitError, Map, Versioned, Write};
use consort_ledger::{Entry, EntryDraft, Hash, SignedRoot};
use consort_scheduler::StoreError;

use crate::sql::{Cols, Sql, Value};

pub(crate) const CLEANROOMS: &str = "consort_cleanrooms";
pub(crate) const KV: &str = "consort_cleanroom_kv";
pub(crate) const ENTRIES: &str = "consort_ledger_entries";
pub(crate) const ROOTS: &str = "consort_ledger_roots";

const ROOT_COLUMNS: &str = "cleanroom, size, root, at_ms, key_id, signature";

/// A ledger entry as inserted: the entry and its leaf hash (hex).
#[derive(Debug)]
pub(crate) struct EntryRow {
    pub entry: Entry,
    pub seq: i64,
    pub leaf_hash: String,
}

/// The backend-specific batch insert of ledger entries (the append hot path).
pub(crate) trait LedgerTx: Sql {
    /// Inserts `rows` (all of clean room `cleanroom`) into [`ENTRIES`].
    async fn insert_entries(&mut self, cleanroom: &str, rows: &[EntryRow]) -> Result<(), StoreError>;
}

/// Why a commit was refused before anything was written.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A read's version changed (0: the key was expected absent).
    Conflict { map: Map, key: String },
    /// No clean room has this name.
    NoSuchCleanRoom,
}

fn corrupt(table: &'static str, message: impl Into<String>) -> StoreError {
    StoreError::Corrupt { table, message: message.into() }
}

/// A count or position from the traits' `u64` as a BIGINT; beyond `i64::MAX` means "all",
/// which no ledger reaches.
fn big(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Lower-case hex of a digest.
pub(crate) fn hex(hash: &Hash) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in hash {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The digest a stored hex leaf hash spells, `None` if it is not 64 hex digits.
fn unhex(text: &str) -> Option<Hash> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let digit = |c: u8| char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// The smallest string greater than every string starting with `prefix` (bytewise, which is
/// code point order in UTF-8), `None` when there is none (empty prefix, or only `char::MAX`).
/// Turns a prefix into an index range instead of a `LIKE` (whose wildcards and case rules
/// differ between the backends).
pub(crate) fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match u32::from(last) + 1 {
            0xD800 => Some('\u{E000}'), // skip the surrogates, which are not chars
            n => char::from_u32(n),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Adds a clean room with no commits and an empty ledger; false if the name is taken.
async fn insert_cleanroom<S: Sql>(db: &mut S, name: &str, now_ms: i64) -> Result<bool, StoreError> {
    let n = db
        .exec(
            &format!(
                "INSERT INTO {CLEANROOMS} (name, created_ms, version, ledger_size) VALUES ($1, $2, 0, 0) \
                 ON CONFLICT (name) DO NOTHING"
            ),
            &[name.into(), now_ms.into()],
        )
        .await?;
    Ok(n > 0)
}

/// Adds `commits` to the clean room's commit version and `entries` to its ledger size, which
/// locks its row until the transaction ends; returns the new `(version, ledger_size)`, `None`
/// for an unknown clean room.
async fn advance<S: Sql>(db: &mut S, name: &str, commits: i64, entries: i64) -> Result<Option<(i64, i64)>, StoreError> {
    let rows = db
        .rows(
            &format!(
                "UPDATE {CLEANROOMS} SET version = version + $2, ledger_size = ledger_size + $3 WHERE name = $1 \
                 RETURNING version, ledger_size"
            ),
            &[name.into(), commits.into(), entries.into()],
        )
        .await?;
    rows.first()
        .map(|r| {
            let mut c = Cols::new(CLEANROOMS, r);
            Ok((c.int()?, c.int()?))
        })
        .transpose()
}

/// `drafts` as entries `first_seq..` of the clean room's ledger, each with its leaf hash.
pub(crate) fn entry_rows(cleanroom: &str, first_seq: i64, drafts: &[EntryDraft]) -> Result<Vec<EntryRow>, StoreError> {
    let mut rows = Vec::with_capacity(drafts.len());
    for (seq, d) in (first_seq..).zip(drafts) {
        let place = u64::try_from(seq).map_err(|_| {
            corrupt(CLEANROOMS, format!("the ledger size of clean room {cleanroom:?} is negative; repair the row"))
        })?;
        let entry = Entry {
            cleanroom: cleanroom.to_string(),
            seq: place,
            at_ms: d.at_ms,
            kind: d.kind.clone(),
            body: d.body.clone(),
        };
        let leaf_hash = hex(&entry.leaf_hash());
        rows.push(EntryRow { entry, seq, leaf_hash });
    }
    Ok(rows)
}

/// Inserts `drafts` as entries `first_seq..` of the clean room's ledger, each with its leaf
/// hash; the one append path of commits and plain appends (PostgreSQL's predicted append
/// aside, see `PgStore::append_predicted`).
async fn insert_entries<S: LedgerTx>(
    db: &mut S,
    cleanroom: &str,
    first_seq: i64,
    drafts: &[EntryDraft],
) -> Result<Vec<Entry>, StoreError> {
    let rows = entry_rows(cleanroom, first_seq, drafts)?;
    if !rows.is_empty() {
        db.insert_entries(cleanroom, &rows).await?;
    }
    Ok(rows.into_iter().map(|r| r.entry).collect())
}

pub(crate) fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Appends `drafts` to the clean room's ledger; an unknown clean room is an error naming it.
pub(crate) async fn append<S: LedgerTx>(
    db: &mut S,
    cleanroom: &str,
    drafts: &[EntryDraft],
) -> Result<Vec<Entry>, StoreError> {
    let Some((_, size)) = advance(db, cleanroom, 0, count(drafts.len())).await? else {
        return Err(StoreError::Database {
            context: format!("appending {} entries to the ledger of clean room {cleanroom:?}", drafts.len()),
            message: format!(
                "no clean room named {cleanroom:?}: create it first (list them with `consort cleanroom list`)"
            ),
            transient: false,
        });
    };
    insert_entries(db, cleanroom, size - count(drafts.len()), drafts).await
}

/// The version of one key, 0 when absent.
async fn version_of<S: Sql>(db: &mut S, cleanroom: &str, map: Map, key: &str) -> Result<i64, StoreError> {
    Ok(get(db, cleanroom, map, key).await?.map_or(0, |v| v.version))
}

/// Checks the reads, applies the writes with the next version and appends the ledger entries.
/// A refusal is returned before anything was written.
pub(crate) async fn commit<S: LedgerTx>(
    db: &mut S,
    cleanroom: &str,
    commit: &Commit,
) -> Result<Result<Vec<Entry>, Refusal>, StoreError> {
    // Lock first, so no commit of another instance changes a read between check and write.
    let locked =
        db.rows(&format!("SELECT version FROM {CLEANROOMS} WHERE name = $1{{lock}}"), &[cleanroom.into()]).await?;
    if locked.is_empty() {
        return Ok(Err(Refusal::NoSuchCleanRoom));
    }
    for (map, key, version) in &commit.reads {
        if version_of(db, cleanroom, *map, key).await? != *version {
            return Ok(Err(Refusal::Conflict { map: *map, key: key.clone() }));
        }
    }
    let entries = count(commit.ledger.len());
    let Some((version, size)) = advance(db, cleanroom, 1, entries).await? else {
        return Ok(Err(Refusal::NoSuchCleanRoom));
    };
    for write in &commit.writes {
        match write {
            Write::Put { map, key, value } => {
                db.exec(
                    &format!(
                        "INSERT INTO {KV} (cleanroom, map, key, value, version) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (cleanroom, map, key) DO UPDATE SET value = excluded.value, \
                         version = excluded.version"
                    ),
                    &[cleanroom.into(), map.as_str().into(), key.into(), value.into(), version.into()],
                )
                .await?;
            }
            Write::Delete { map, key } => {
                db.exec(
                    &format!("DELETE FROM {KV} WHERE cleanroom = $1 AND map = $2 AND key = $3"),
                    &[cleanroom.into(), map.as_str().into(), key.into()],
                )
                .await?;
            }
            Write::DeleteBefore { map, bound } => {
                db.exec(
                    &format!("DELETE FROM {KV} WHERE cleanroom = $1 AND map = $2 AND key < $3"),
                    &[cleanroom.into(), map.as_str().into(), bound.into()],
                )
                .await?;
            }
        }
    }
    Ok(Ok(insert_entries(db, cleanroom, size - entries, &commit.ledger).await?))
}

/// Creates the clean room and applies its first commit; `Ok(None)` if the name is taken,
/// `Ok(Some(Err))` if the first commit was refused (the caller rolls back).
pub(crate) async fn create<S: LedgerTx>(
    db: &mut S,
    cleanroom: &str,
    first: &Commit,
    now_ms: i64,
) -> Result<Option<Result<Vec<Entry>, Refusal>>, StoreError> {
    if !insert_cleanroom(db, cleanroom, now_ms).await? {
        return Ok(None);
    }
    Ok(Some(commit(db, cleanroom, first).await?))
}

pub(crate) async fn cleanrooms<S: Sql>(db: &mut S) -> Result<Vec<String>, StoreError> {
    let rows = db.rows(&format!("SELECT name FROM {CLEANROOMS} ORDER BY name"), &[]).await?;
    rows.iter().map(|r| Cols::new(CLEANROOMS, r).text()).collect()
}

pub(crate) async fn get<S: Sql>(
    db: &mut S,
    cleanroom: &str,
    map: Map,
    key: &str,
) -> Result<Option<Versioned>, StoreError> {
    let rows = db
        .rows(
            &format!("SELECT value, version FROM {KV} WHERE cleanroom = $1 AND map = $2 AND key = $3"),
            &[cleanroom.into(), map.as_str().into(), key.into()],
        )
        .await?;
    rows.first()
        .map(|r| {
            let mut c = Cols::new(KV, r);
            Ok(Versioned { value: c.text()?, version: c.int()? })
        })
        .transpose()
}

pub(crate) async fn list<S: Sql>(
    db: &mut S,
    cleanroom: &str,
    map: Map,
    prefix: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<(String, Versioned)>, StoreError> {
    // The prefix as a key range, so the primary key's index answers it.
    let rows = db
        .rows(
            &format!(
                "SELECT key, value, version FROM {KV} WHERE cleanroom = $1 AND map = $2 AND key >= $3 \
                 AND (CAST($4 AS TEXT) IS NULL OR key < $4) AND (CAST($5 AS TEXT) IS NULL OR key > $5) \
                 ORDER BY key LIMIT $6"
            ),
            &[
                cleanroom.into(),
                map.as_str().into(),
                prefix.into(),
                prefix_end(prefix).into(),
                after.into(),
                i64::from(limit).into(),
            ],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let mut c = Cols::new(KV, r);
            Ok((c.text()?, Versioned { value: c.text()?, version: c.int()? }))
        })
        .collect()
}

pub(crate) async fn size<S: Sql>(db: &mut S, cleanroom: &str) -> Result<u64, StoreError> {
    let rows = db.rows(&format!("SELECT ledger_size FROM {CLEANROOMS} WHERE name = $1"), &[cleanroom.into()]).await?;
    let Some(row) = rows.first() else { return Ok(0) };
    let size = Cols::new(CLEANROOMS, row).int()?;
    u64::try_from(size).map_err(|_| {
        corrupt(CLEANROOMS, format!("the ledger size of clean room {cleanroom:?} is negative ({size}); repair the row"))
    })
}

fn seq_of(cleanroom: &str, seq: i64) -> Result<u64, StoreError> {
    u64::try_from(seq)
        .map_err(|_| corrupt(ENTRIES, format!("clean room {cleanroom:?} has an entry with negative seq {seq}")))
}

/// Fails unless the stored `seq`s are exactly `from, from + 1, …` (a gap is a damaged ledger,
/// and a tree built over it would be wrong without saying so).
fn check_contiguous(cleanroom: &str, from: u64, seqs: impl Iterator<Item = u64>) -> Result<(), StoreError> {
    for (want, got) in (from..).zip(seqs) {
        if want != got {
            return Err(corrupt(
                ENTRIES,
                format!(
                    "the ledger of clean room {cleanroom:?} has no entry {want} (the next is {got}): \
                     restore the database from a backup"
                ),
            ));
        }
    }
    Ok(())
}

pub(crate) async fn entries<S: Sql>(
    db: &mut S,
    cleanroom: &str,
    from: u64,
    limit: u64,
) -> Result<Vec<Entry>, StoreError> {
    let rows = db
        .rows(
            &format!(
                "SELECT seq, at_ms, kind, body FROM {ENTRIES} WHERE cleanroom = $1 AND seq >= $2 ORDER BY seq LIMIT $3"
            ),
            &[cleanroom.into(), big(from).into(), big(limit).into()],
        )
        .await?;
    let entries = rows
        .iter()
        .map(|r| {
            let mut c = Cols::new(ENTRIES, r);
            Ok(Entry {
                cleanroom: cleanroom.to_string(),
                seq: seq_of(cleanroom, c.int()?)?,
                at_ms: c.int()?,
                kind: c.text()?,
                body: c.text()?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    check_contiguous(cleanroom, from, entries.iter().map(|e| e.seq))?;
    Ok(entries)
}

pub(crate) async fn leaf_hashes<S: Sql>(
    db: &mut S,
    cleanroom: &str,
    from: u64,
    to: u64,
) -> Result<Vec<Hash>, StoreError> {
    if to <= from {
        return Ok(Vec::new());
    }
    let rows = db
        .rows(
            &format!(
                "SELECT seq, leaf_hash FROM {ENTRIES} WHERE cleanroom = $1 AND seq >= $2 AND seq < $3 ORDER BY seq"
            ),
            &[cleanroom.into(), big(from).into(), big(to).into()],
        )
        .await?;
    let mut seqs = Vec::with_capacity(rows.len());
    let mut hashes = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut c = Cols::new(ENTRIES, r);
        let seq = seq_of(cleanroom, c.int()?)?;
        let text = c.text()?;
        let hash = unhex(&text).ok_or_else(|| {
            corrupt(
                ENTRIES,
                format!(
                    "the leaf hash of entry {seq} of clean room {cleanroom:?} is not 64 hex digits: \
                     restore the database from a backup"
                ),
            )
        })?;
        seqs.push(seq);
        hashes.push(hash);
    }
    check_contiguous(cleanroom, from, seqs.into_iter())?;
    Ok(hashes)
}

pub(crate) async fn put_root<S: Sql>(db: &mut S, root: &SignedRoot) -> Result<(), StoreError> {
    db.exec(
        &format!(
            "INSERT INTO {ROOTS} ({ROOT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (cleanroom, size) DO NOTHING"
        ),
        &[
            (&root.cleanroom).into(),
            big(root.size).into(),
            (&root.root).into(),
            root.at_ms.into(),
            (&root.key_id).into(),
            (&root.signature).into(),
        ],
    )
    .await?;
    Ok(())
}

fn signed_root(row: &[Value]) -> Result<SignedRoot, StoreError> {
    let mut c = Cols::new(ROOTS, row);
    let cleanroom = c.text()?;
    let size = c.int()?;
    let size = u64::try_from(size)
        .map_err(|_| corrupt(ROOTS, format!("clean room {cleanroom:?} has a signed root of negative size {size}")))?;
    Ok(SignedRoot { cleanroom, size, root: c.text()?, at_ms: c.int()?, key_id: c.text()?, signature: c.text()? })
}

async fn roots_where<S: Sql>(db: &mut S, clause: &str, params: &[Value]) -> Result<Vec<SignedRoot>, StoreError> {
    let sql = format!("SELECT {ROOT_COLUMNS} FROM {ROOTS} WHERE {clause}");
    db.rows(&sql, params).await?.iter().map(|r| signed_root(r)).collect()
}

pub(crate) async fn latest_root<S: Sql>(db: &mut S, cleanroom: &str) -> Result<Option<SignedRoot>, StoreError> {
    Ok(roots_where(db, "cleanroom = $1 ORDER BY size DESC LIMIT 1", &[cleanroom.into()]).await?.pop())
}

pub(crate) async fn root_covering<S: Sql>(
    db: &mut S,
    cleanroom: &str,
    seq: u64,
) -> Result<Option<SignedRoot>, StoreError> {
    Ok(roots_where(db, "cleanroom = $1 AND size > $2 ORDER BY size LIMIT 1", &[cleanroom.into(), big(seq).into()])
        .await?
        .pop())
}

pub(crate) async fn roots<S: Sql>(
    db: &mut S,
    cleanroom: &str,
    from_size: u64,
    limit: u64,
) -> Result<Vec<SignedRoot>, StoreError> {
    roots_where(
        db,
        "cleanroom = $1 AND size >= $2 ORDER BY size LIMIT $3",
        &[cleanroom.into(), big(from_size).into(), big(limit).into()],
    )
    .await
}

/// Turns a refused first commit into the error `create_cleanroom` reports (its transaction
/// rolls back, so the clean room is not created).
pub(crate) fn refused_first_commit(cleanroom: &str, refusal: Refusal) -> StoreError {
    let message = match refusal {
        Refusal::Conflict { map, key } => format!(
            "the first commit reads {} {key:?} as present, but a new clean room has no values: \
             give reads of a new clean room version 0",
            map.as_str()
        ),
        Refusal::NoSuchCleanRoom => "the clean room vanished while it was created: retry".to_string(),
    };
    StoreError::Database { context: format!("creating clean room {cleanroom:?}"), message, transient: false }
}

impl Refusal {
    /// The refusal as the governance trait's error.
    pub(crate) fn into_commit_error(self, cleanroom: &str) -> CommitError {
        match self {
            Refusal::Conflict { map, key } => CommitError::Conflict { map, key },
            Refusal::NoSuchCleanRoom => CommitError::NoSuchCleanRoom(cleanroom.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_what_is_not_a_digest() {
        let hash: Hash = std::array::from_fn(|i| u8::try_from(i * 8).unwrap());
        let text = hex(&hash);
        assert_eq!(&text[..6], "000810");
        assert_eq!(unhex(&text), Some(hash));
        assert_eq!(unhex(&text.to_uppercase()), Some(hash));
        assert_eq!(unhex(&text[..62]), None);
        assert_eq!(unhex(&format!("{}zz", &text[..62])), None);
    }

    #[test]
    fn prefix_end_bounds_exactly_the_keys_with_the_prefix() {
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_end("a/").as_deref(), Some("a0"));
        assert_eq!(prefix_end("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{10FFFF}"), None);
        let end = prefix_end("user/é").unwrap();
        for key in ["user/é", "user/é/x", "user/é\u{10FFFF}"] {
            assert!(key.starts_with("user/é") && key < end.as_str(), "{key}");
        }
        assert!("user/ê" >= end.as_str());
    }
}
