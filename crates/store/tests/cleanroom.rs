//! The clean rooms' stores (`GovernanceStore`, `LedgerStore`), each scenario run against SQLite
//! (a file, so a second handle is a second connection) and a real PostgreSQL (a second handle
//! is a second pool, as a second instance has): creation, reads and paging, optimistic
//! concurrency that writes nothing on a refusal or a failure, ledger entries with contiguous
//! places and their leaf hashes, signed roots, and one order for concurrent appenders.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use consort_attest::{SealingKey, StaticKeyProvider};
use consort_governance::model::Action;
use consort_governance::{Commit, CommitError, GovError, Governance, Map, MemberRequest, Versioned, Write};
use consort_ledger::{Entry, EntryDraft, SignedRoot};
use consort_scheduler::StoreError;
use consort_store::Stores;

use common::Pg;

// 2026-01-01T00:00:00Z
const T0: i64 = 1_767_225_600_000;

static PG: OnceLock<Pg> = OnceLock::new();

/// One database of either backend, opened as often as a scenario needs.
struct Backend {
    url: String,
    sqlite: Option<(tempfile::TempDir, PathBuf)>,
}

impl Backend {
    async fn sqlite() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consort.db");
        Backend { url: format!("sqlite://{}", path.display()), sqlite: Some((dir, path)) }
    }

    async fn postgres() -> Backend {
        Backend { url: PG.get_or_init(Pg::start).fresh_db().await, sqlite: None }
    }

    /// A new handle on the database (for PostgreSQL its own pool, as another instance has).
    async fn open(&self) -> Stores {
        consort_store::open_all(&self.url).await.unwrap()
    }

    /// Runs SQL outside the store, as an operator or a damaged disk would.
    async fn sql(&self, sql: &str) {
        match &self.sqlite {
            Some((_, path)) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.busy_timeout(std::time::Duration::from_secs(30)).unwrap();
                conn.execute_batch(sql).unwrap();
            }
            None => {
                let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls).await.unwrap();
                let task = tokio::spawn(conn);
                client.batch_execute(sql).await.unwrap();
                drop(client);
                let _ = task.await;
            }
        }
    }

    /// Makes every insert of a ledger entry of kind `kind` fail, so a unit of work fails at
    /// its last step.
    async fn poison_entries(&self, kind: &str) {
        let sql = match &self.sqlite {
            Some(_) => format!(
                "CREATE TRIGGER test_poison BEFORE INSERT ON consort_ledger_entries WHEN NEW.kind = '{kind}' \
                 BEGIN SELECT RAISE(ABORT, 'poisoned entry'); END;"
            ),
            None => format!("ALTER TABLE consort_ledger_entries ADD CONSTRAINT test_poison CHECK (kind <> '{kind}')"),
        };
        self.sql(&sql).await;
    }
}

macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$scenario(super::Backend::sqlite().await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$scenario(super::Backend::postgres().await).await;
            }
        }
    )*};
}

on_both_backends!(
    create_once_then_refuse_the_name,
    a_refused_first_commit_creates_nothing,
    get_and_list_with_prefix_and_pages,
    commits_number_their_writes_and_delete,
    a_changed_read_conflicts_and_writes_nothing,
    a_read_that_must_be_absent_conflicts_when_present,
    an_unknown_clean_room_cannot_commit_or_append,
    a_failed_commit_writes_neither_values_nor_entries,
    entries_get_contiguous_places_and_their_leaf_hashes,
    signed_roots_keep_the_first_of_a_size,
    a_damaged_leaf_hash_is_reported_as_corrupt,
    two_instances_appending_get_one_order,
    appends_continue_after_other_instances_and_commits,
    of_concurrent_conflicting_commits_exactly_one_wins,
    delete_before_removes_a_key_range_of_one_map,
    seen_requests_expire_with_their_freshness,
);

fn draft(kind: &str, n: usize) -> EntryDraft {
    EntryDraft { kind: kind.into(), body: format!("{{\"n\":{n}}}"), at_ms: T0 + n as i64 }
}

fn put(map: Map, key: &str, value: &str) -> Write {
    Write::Put { map, key: key.into(), value: value.into() }
}

fn versioned(value: &str, version: i64) -> Versioned {
    Versioned { value: value.into(), version }
}

fn commit(reads: Vec<(Map, &str, i64)>, writes: Vec<Write>, ledger: Vec<EntryDraft>) -> Commit {
    Commit { reads: reads.into_iter().map(|(m, k, v)| (m, k.to_string(), v)).collect(), writes, ledger }
}

async fn create(s: &Stores, name: &str) {
    let first = commit(vec![], vec![put(Map::Config, "settings", "{}")], vec![draft("cleanroom.created", 0)]);
    assert!(s.governance.create_cleanroom(name, first, T0).await.unwrap(), "{name} is new");
}

async fn all_entries(s: &Stores, name: &str) -> Vec<Entry> {
    s.ledger.entries(name, 0, u64::MAX).await.unwrap()
}

async fn create_once_then_refuse_the_name(b: Backend) {
    let s = b.open().await;
    let first = commit(
        vec![(Map::Members, "m1", 0)],
        vec![put(Map::Config, "settings", "{\"v\":1}"), put(Map::Members, "m1", "{}")],
        vec![draft("cleanroom.created", 0), draft("member.added", 1)],
    );
    assert!(s.governance.create_cleanroom("beta", first, T0).await.unwrap());
    create(&s, "alpha").await;

    let again = commit(vec![], vec![put(Map::Config, "settings", "{\"v\":2}")], vec![draft("cleanroom.created", 9)]);
    assert!(!s.governance.create_cleanroom("beta", again, T0 + 1).await.unwrap(), "the name is taken");

    assert_eq!(s.governance.cleanrooms().await.unwrap(), ["alpha", "beta"]);
    // The refused creation wrote nothing: the first commit's value (version 1) and ledger stay.
    assert_eq!(s.governance.get("beta", Map::Config, "settings").await.unwrap(), Some(versioned("{\"v\":1}", 1)));
    assert_eq!(s.governance.get("beta", Map::Members, "m1").await.unwrap(), Some(versioned("{}", 1)));
    let entries = all_entries(&s, "beta").await;
    assert_eq!(
        entries.iter().map(|e| (e.seq, e.kind.as_str())).collect::<Vec<_>>(),
        [(0, "cleanroom.created"), (1, "member.added")]
    );
    assert_eq!(s.ledger.size("beta").await.unwrap(), 2);
    assert_eq!(s.ledger.size("alpha").await.unwrap(), 1);
    // Each clean room has its own ledger and values.
    assert_eq!(all_entries(&s, "alpha").await[0].cleanroom, "alpha");
    assert_eq!(s.governance.get("alpha", Map::Members, "m1").await.unwrap(), None);
}

async fn a_refused_first_commit_creates_nothing(b: Backend) {
    let s = b.open().await;
    let first =
        commit(vec![(Map::Config, "settings", 3)], vec![put(Map::Config, "settings", "{}")], vec![draft("x", 0)]);
    let err = s.governance.create_cleanroom("gamma", first, T0).await.unwrap_err().to_string();
    assert!(err.contains("gamma") && err.contains("version 0"), "{err}");
    assert!(s.governance.cleanrooms().await.unwrap().is_empty());
    assert_eq!(s.ledger.size("gamma").await.unwrap(), 0);
    assert_eq!(s.governance.get("gamma", Map::Config, "settings").await.unwrap(), None);
    // The name is still free.
    create(&s, "gamma").await;
}

async fn get_and_list_with_prefix_and_pages(b: Backend) {
    let s = b.open().await;
    create(&s, "alpha").await;
    create(&s, "other").await;
    let keys = ["b/1", "a/2", "a/10", "ab", "a/1", "a", "a/é", "a0"];
    let writes = keys.iter().map(|k| put(Map::Documents, k, &format!("\"{k}\""))).collect();
    s.governance.commit("alpha", commit(vec![], writes, vec![]), T0).await.unwrap();
    s.governance.commit("other", commit(vec![], vec![put(Map::Documents, "a/3", "\"x\"")], vec![]), T0).await.unwrap();
    let g = s.governance.as_ref();

    let list = |prefix: &'static str, after: Option<&'static str>, limit: u32| async move {
        let page = g.list("alpha", Map::Documents, prefix, after, limit).await.unwrap();
        page.into_iter().map(|(k, v)| (k, v.value)).collect::<Vec<_>>()
    };
    let keys_of = |page: Vec<(String, String)>| page.into_iter().map(|(k, _)| k).collect::<Vec<_>>();

    // Sorted bytewise, prefix as a range (not "a%": "a0" and "ab" are not under "a/").
    assert_eq!(keys_of(list("a/", None, 100).await), ["a/1", "a/10", "a/2", "a/é"]);
    assert_eq!(keys_of(list("", None, 100).await), ["a", "a/1", "a/10", "a/2", "a/é", "a0", "ab", "b/1"]);
    assert_eq!(keys_of(list("a", None, 100).await), ["a", "a/1", "a/10", "a/2", "a/é", "a0", "ab"]);
    assert_eq!(
        list("a/1", None, 100).await,
        [("a/1".to_string(), "\"a/1\"".to_string()), ("a/10".into(), "\"a/10\"".into())]
    );
    assert!(list("c", None, 100).await.is_empty());
    // Pages: `after` is exclusive, `limit` caps.
    assert_eq!(keys_of(list("a/", None, 2).await), ["a/1", "a/10"]);
    assert_eq!(keys_of(list("a/", Some("a/10"), 2).await), ["a/2", "a/é"]);
    assert!(list("a/", Some("a/é"), 2).await.is_empty());
    assert_eq!(keys_of(list("", Some("a0"), 100).await), ["ab", "b/1"]);
    assert!(list("", None, 0).await.is_empty());

    // Maps and clean rooms are separate; an unknown clean room reads as empty.
    assert!(g.list("alpha", Map::Members, "", None, 100).await.unwrap().is_empty());
    assert_eq!(g.get("alpha", Map::Documents, "a/2").await.unwrap(), Some(versioned("\"a/2\"", 2)));
    assert_eq!(g.get("alpha", Map::Users, "a/2").await.unwrap(), None);
    assert_eq!(g.get("other", Map::Documents, "a/2").await.unwrap(), None);
    assert_eq!(g.get("nowhere", Map::Documents, "a/2").await.unwrap(), None);
    assert!(g.list("nowhere", Map::Documents, "", None, 100).await.unwrap().is_empty());
}

async fn commits_number_their_writes_and_delete(b: Backend) {
    let s = b.open().await;
    create(&s, "alpha").await; // commit 1
    let g = s.governance.as_ref();
    g.commit("alpha", commit(vec![], vec![put(Map::Users, "u1", "1"), put(Map::Users, "u2", "2")], vec![]), T0)
        .await
        .unwrap(); // 2
    g.commit("alpha", commit(vec![(Map::Users, "u1", 2)], vec![put(Map::Users, "u1", "1b")], vec![]), T0)
        .await
        .unwrap(); // 3
    assert_eq!(g.get("alpha", Map::Users, "u1").await.unwrap(), Some(versioned("1b", 3)));
    assert_eq!(g.get("alpha", Map::Users, "u2").await.unwrap(), Some(versioned("2", 2)));
    let deleted = commit(
        vec![(Map::Users, "u2", 2)],
        vec![
            Write::Delete { map: Map::Users, key: "u2".into() },
            Write::Delete { map: Map::Users, key: "none".into() },
        ],
        vec![draft("user.removed", 1)],
    );
    let appended = g.commit("alpha", deleted, T0).await.unwrap(); // 4
    assert_eq!(appended.iter().map(|e| e.seq).collect::<Vec<_>>(), [1]);
    assert_eq!(g.get("alpha", Map::Users, "u2").await.unwrap(), None);
    // Deleted reads as absent (version 0) again, and a put then gets the next version.
    g.commit("alpha", commit(vec![(Map::Users, "u2", 0)], vec![put(Map::Users, "u2", "back")], vec![]), T0)
        .await
        .unwrap(); // 5
    assert_eq!(g.get("alpha", Map::Users, "u2").await.unwrap(), Some(versioned("back", 5)));
    // A clean room's versions are its own.
    create(&s, "beta").await;
    g.commit("beta", commit(vec![], vec![put(Map::Users, "u1", "x")], vec![]), T0).await.unwrap();
    assert_eq!(g.get("beta", Map::Users, "u1").await.unwrap(), Some(versioned("x", 2)));
}

/// What a refused or failed commit must leave untouched.
async fn snapshot(s: &Stores, name: &str) -> (Vec<(String, Versioned)>, Vec<Entry>, u64) {
    let mut values = Vec::new();
    for map in Map::ALL {
        for (k, v) in s.governance.list(name, map, "", None, 1000).await.unwrap() {
            values.push((format!("{}/{k}", map.as_str()), v));
        }
    }
    (values, all_entries(s, name).await, s.ledger.size(name).await.unwrap())
}

async fn a_changed_read_conflicts_and_writes_nothing(b: Backend) {
    let s = b.open().await;
    create(&s, "alpha").await;
    let g = s.governance.as_ref();
    g.commit("alpha", commit(vec![], vec![put(Map::Proposals, "p1", "open")], vec![draft("p", 1)]), T0).await.unwrap(); // version 2
    let before = snapshot(&s, "alpha").await;
    let stale = commit(
        vec![(Map::Users, "u9", 0), (Map::Proposals, "p1", 1)],
        vec![put(Map::Proposals, "p1", "accepted"), put(Map::Contracts, "c1", "{}")],
        vec![draft("proposal.accepted", 2)],
    );
    match g.commit("alpha", stale, T0).await {
        Err(CommitError::Conflict { map, key }) => assert_eq!((map, key.as_str()), (Map::Proposals, "p1")),
        other => panic!("expected a conflict on proposals p1, got {other:?}"),
    }
    assert_eq!(snapshot(&s, "alpha").await, before);
    // Nor did the refusal take a version: the next commit is 3.
    g.commit("alpha", commit(vec![(Map::Proposals, "p1", 2)], vec![put(Map::Proposals, "p1", "accepted")], vec![]), T0)
        .await
        .unwrap();
    assert_eq!(g.get("alpha", Map::Proposals, "p1").await.unwrap(), Some(versioned("accepted", 3)));
}

async fn a_read_that_must_be_absent_conflicts_when_present(b: Backend) {
    let s = b.open().await;
    create(&s, "alpha").await;
    let g = s.governance.as_ref();
    let add = || commit(vec![(Map::Seen, "req-1", 0)], vec![put(Map::Seen, "req-1", "1")], vec![draft("seen", 1)]);
    g.commit("alpha", add(), T0).await.unwrap();
    let before = snapshot(&s, "alpha").await;
    match g.commit("alpha", add(), T0).await {
        Err(CommitError::Conflict { map, key }) => assert_eq!((map, key.as_str()), (Map::Seen, "req-1")),
        other => panic!("expected a conflict on seen req-1, got {other:?}"),
    }
    assert_eq!(snapshot(&s, "alpha").await, before);
    let msg = g.commit("alpha", add(), T0).await.unwrap_err().to_string();
    assert!(msg.contains("req-1") && msg.contains("retry"), "{msg}");
}

async fn an_unknown_clean_room_cannot_commit_or_append(b: Backend) {
    let s = b.open().await;
    create(&s, "alpha").await;
    let c = commit(vec![], vec![put(Map::Config, "k", "v")], vec![draft("x", 1)]);
    match s.governance.commit("nowhere", c, T0).await {
        Err(CommitError::NoSuchCleanRoom(name)) => assert_eq!(name, "nowhere"),
        other => panic!("expected NoSuchCleanRoom, got {other:?}"),
    }
    let err = s.ledger.append("nowhere", &[draft("x", 1)]).await.unwrap_err();
    assert!(matches!(&err, StoreError::Database { transient: false, .. }), "{err:?}");
    assert!(err.to_string().contains("\"nowhere\""), "{err}");
    assert_eq!(s.ledger.size("nowhere").await.unwrap(), 0);
    assert!(s.ledger.entries("nowhere", 0, 10).await.unwrap().is_empty());
    assert_eq!(s.governance.get("nowhere", Map::Config, "k").await.unwrap(), None);
    assert_eq!(s.governance.cleanrooms().await.unwrap(), ["alpha"]);
}

async fn a_failed_commit_writes_neither_values_nor_entries(b: Backend) {
    let s = b.open().await;
    create(&s, "alpha").await;
    b.poison_entries("poison").await;
    let before = snapshot(&s, "alpha").await;
    // The writes and the first entry go in, then the last entry's insert fails.
    let doomed = commit(
        vec![],
        vec![put(Map::Config, "settings", "{\"changed\":true}"), put(Map::Secrets, "s1", "sealed")],
        vec![draft("ok", 1), draft("poison", 2)],
    );
    match s.governance.commit("alpha", doomed, T0).await {
        Err(CommitError::Store(StoreError::Database { .. })) => {}
        other => panic!("expected a database error, got {other:?}"),
    }
    assert_eq!(snapshot(&s, "alpha").await, before);
    assert!(s.ledger.append("alpha", &[draft("ok", 3), draft("poison", 4)]).await.is_err());
    assert_eq!(snapshot(&s, "alpha").await, before);
    // Neither took a version nor a place.
    let entries =
        s.governance.commit("alpha", commit(vec![], vec![put(Map::Config, "k", "v")], vec![draft("ok", 5)]), T0);
    assert_eq!(entries.await.unwrap()[0].seq, 1);
    assert_eq!(s.governance.get("alpha", Map::Config, "k").await.unwrap(), Some(versioned("v", 2)));
}

async fn entries_get_contiguous_places_and_their_leaf_hashes(b: Backend) {
    let s = b.open().await;
    create(&s, "alpha").await; // entry 0
    let l = s.ledger.as_ref();
    let first = l.append("alpha", &[draft("a", 1), draft("b", 2), draft("c", 3)]).await.unwrap();
    assert_eq!(first.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(l.append("alpha", &[]).await.unwrap().is_empty());
    let by_commit =
        s.governance.commit("alpha", commit(vec![], vec![], vec![draft("d", 4), draft("e", 5)]), T0).await.unwrap();
    assert_eq!(by_commit.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5]);
    let batch: Vec<EntryDraft> = (6..206).map(|n| draft("bulk", n)).collect();
    let bulk = l.append("alpha", &batch).await.unwrap();
    assert_eq!(bulk.first().map(|e| e.seq), Some(6));
    assert_eq!(bulk.last().map(|e| e.seq), Some(205));

    assert_eq!(l.size("alpha").await.unwrap(), 206);
    let stored = all_entries(&s, "alpha").await;
    assert_eq!(stored.len(), 206);
    assert!(stored.iter().enumerate().all(|(i, e)| e.seq == i as u64 && e.cleanroom == "alpha"));
    // What append returned is what is stored, field for field.
    assert_eq!(&stored[1..4], &first[..]);
    assert_eq!(&stored[4..6], &by_commit[..]);
    assert_eq!(&stored[6..], &bulk[..]);
    assert_eq!((stored[2].kind.as_str(), stored[2].body.as_str(), stored[2].at_ms), ("b", "{\"n\":2}", T0 + 2));

    // The stored leaf hash is the entry's.
    let hashes = l.leaf_hashes("alpha", 0, 206).await.unwrap();
    assert_eq!(hashes, stored.iter().map(Entry::leaf_hash).collect::<Vec<_>>());
    assert_eq!(l.leaf_hashes("alpha", 3, 5).await.unwrap(), [stored[3].leaf_hash(), stored[4].leaf_hash()]);
    assert!(l.leaf_hashes("alpha", 5, 5).await.unwrap().is_empty());
    assert_eq!(l.leaf_hashes("alpha", 200, 1000).await.unwrap().len(), 6, "only what exists");

    // Ranges.
    assert_eq!(l.entries("alpha", 10, 3).await.unwrap(), stored[10..13]);
    assert_eq!(l.entries("alpha", 205, 10).await.unwrap(), stored[205..]);
    assert!(l.entries("alpha", 206, 10).await.unwrap().is_empty());
    assert!(l.entries("alpha", 0, 0).await.unwrap().is_empty());

    // Reopened, the ledger goes on where it was.
    drop(s);
    let s = b.open().await;
    assert_eq!(s.ledger.append("alpha", &[draft("after", 9)]).await.unwrap()[0].seq, 206);
}

fn root(cleanroom: &str, size: u64, tag: &str) -> SignedRoot {
    SignedRoot {
        cleanroom: cleanroom.into(),
        size,
        root: format!("{tag}-root-{size}"),
        at_ms: T0 + size as i64,
        key_id: "k1".into(),
        signature: format!("{tag}-sig-{size}"),
    }
}

async fn signed_roots_keep_the_first_of_a_size(b: Backend) {
    let s = b.open().await;
    let l = s.ledger.as_ref();
    assert_eq!(l.latest_root("alpha").await.unwrap(), None);
    assert_eq!(l.root_covering("alpha", 0).await.unwrap(), None);
    for size in [10, 1, 25] {
        l.put_root(&root("alpha", size, "first")).await.unwrap();
    }
    l.put_root(&root("beta", 100, "first")).await.unwrap();
    // A second root of a size already signed is kept out, quietly.
    l.put_root(&root("alpha", 10, "second")).await.unwrap();

    assert_eq!(l.latest_root("alpha").await.unwrap(), Some(root("alpha", 25, "first")));
    let all = l.roots("alpha", 0, 100).await.unwrap();
    assert_eq!(all, [root("alpha", 1, "first"), root("alpha", 10, "first"), root("alpha", 25, "first")]);
    assert_eq!(l.roots("alpha", 10, 1).await.unwrap(), [root("alpha", 10, "first")]);
    assert_eq!(l.roots("alpha", 11, 100).await.unwrap(), [root("alpha", 25, "first")]);
    assert!(l.roots("alpha", 26, 100).await.unwrap().is_empty());

    // The first root whose tree holds entry `seq` (size > seq).
    assert_eq!(l.root_covering("alpha", 0).await.unwrap(), Some(root("alpha", 1, "first")));
    assert_eq!(l.root_covering("alpha", 1).await.unwrap(), Some(root("alpha", 10, "first")));
    assert_eq!(l.root_covering("alpha", 9).await.unwrap(), Some(root("alpha", 10, "first")));
    assert_eq!(l.root_covering("alpha", 10).await.unwrap(), Some(root("alpha", 25, "first")));
    assert_eq!(l.root_covering("alpha", 25).await.unwrap(), None, "not signed yet");
    assert_eq!(l.latest_root("beta").await.unwrap(), Some(root("beta", 100, "first")));
}

async fn a_damaged_leaf_hash_is_reported_as_corrupt(b: Backend) {
    let s = b.open().await;
    create(&s, "alpha").await;
    s.ledger.append("alpha", &[draft("a", 1), draft("b", 2)]).await.unwrap();
    b.sql("UPDATE consort_ledger_entries SET leaf_hash = 'not hex' WHERE seq = 1").await;
    let err = s.ledger.leaf_hashes("alpha", 0, 3).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { table: "consort_ledger_entries", .. }), "{err:?}");
    assert!(err.to_string().contains("entry 1"), "{err}");
    // A gap is damage too, not a shorter ledger.
    b.sql("DELETE FROM consort_ledger_entries WHERE seq = 1").await;
    let err = s.ledger.entries("alpha", 0, 10).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }) && err.to_string().contains("no entry 1"), "{err:?}");
}

async fn two_instances_appending_get_one_order(b: Backend) {
    const TASKS_PER_INSTANCE: usize = 4;
    const APPENDS_PER_TASK: usize = 25;
    let first = b.open().await;
    create(&first, "alpha").await; // entry 0
    let instances = [first.ledger.clone(), b.open().await.ledger];
    let start = Arc::new(tokio::sync::Barrier::new(2 * TASKS_PER_INSTANCE));
    let mut tasks = Vec::new();
    for (i, ledger) in instances.iter().enumerate() {
        for t in 0..TASKS_PER_INSTANCE {
            let (ledger, start) = (ledger.clone(), start.clone());
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                let mut appended = Vec::new();
                for a in 0..APPENDS_PER_TASK {
                    let batch: Vec<EntryDraft> = (0..1 + a % 4).map(|n| draft(&format!("i{i}.t{t}.a{a}"), n)).collect();
                    let entries = ledger.append("alpha", &batch).await.unwrap();
                    // One append's entries are contiguous and in the given order.
                    assert!(entries.windows(2).all(|w| w[1].seq == w[0].seq + 1), "{entries:?}");
                    assert!(entries.iter().zip(&batch).all(|(e, d)| e.kind == d.kind && e.body == d.body));
                    appended.extend(entries);
                }
                appended
            }));
        }
    }
    let mut returned = BTreeMap::new();
    for task in tasks {
        for e in task.await.unwrap() {
            assert!(returned.insert(e.seq, e).is_none(), "a place was handed out twice");
        }
    }
    let total = 1 + returned.len();
    assert_eq!(returned.len(), 2 * TASKS_PER_INSTANCE * (0..APPENDS_PER_TASK).map(|a| 1 + a % 4).sum::<usize>());
    let stored = all_entries(&first, "alpha").await;
    assert_eq!(stored.len(), total);
    assert_eq!(instances[1].size("alpha").await.unwrap(), total as u64);
    // No gaps, no duplicates, and what each appender was told is what everyone reads.
    for (i, e) in stored.iter().enumerate().skip(1) {
        assert_eq!(e.seq, i as u64);
        assert_eq!(returned.get(&e.seq), Some(e));
    }
    let hashes = instances[1].leaf_hashes("alpha", 0, total as u64).await.unwrap();
    assert_eq!(hashes, stored.iter().map(Entry::leaf_hash).collect::<Vec<_>>());
}

/// Each instance's next append finds the ledger longer than it left it (PostgreSQL's store
/// expects its own size and must notice): places still continue the one order, no gap.
async fn appends_continue_after_other_instances_and_commits(b: Backend) {
    let first = b.open().await;
    create(&first, "alpha").await; // entry 0
    let second = b.open().await;
    let mut next = 1;
    for round in 0..3 {
        for (who, s) in [&first, &second, &first].into_iter().enumerate() {
            let batch = [draft(&format!("r{round}.s{who}"), 0), draft(&format!("r{round}.s{who}"), 1)];
            let entries = s.ledger.append("alpha", &batch).await.unwrap();
            assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [next, next + 1], "round {round}, {who}");
            next += 2;
        }
        // A governance commit appends too.
        let c = commit(vec![], vec![put(Map::Config, "round", &round.to_string())], vec![draft("commit", round)]);
        assert_eq!(second.governance.commit("alpha", c, T0).await.unwrap()[0].seq, next);
        next += 1;
    }
    let stored = all_entries(&second, "alpha").await;
    assert_eq!(stored.len() as u64, next);
    assert!(stored.iter().enumerate().all(|(i, e)| e.seq == i as u64));
    assert_eq!(first.ledger.size("alpha").await.unwrap(), next);
    let hashes = first.ledger.leaf_hashes("alpha", 0, next).await.unwrap();
    assert_eq!(hashes, stored.iter().map(Entry::leaf_hash).collect::<Vec<_>>());
}

async fn of_concurrent_conflicting_commits_exactly_one_wins(b: Backend) {
    const CONTENDERS: usize = 8;
    let first = b.open().await;
    create(&first, "alpha").await;
    first
        .governance
        .commit("alpha", commit(vec![], vec![put(Map::Contracts, "c1", "draft")], vec![]), T0)
        .await
        .unwrap(); // version 2
    let instances = [first.governance.clone(), b.open().await.governance];
    let start = Arc::new(tokio::sync::Barrier::new(CONTENDERS));
    let mut tasks = Vec::new();
    for n in 0..CONTENDERS {
        let (g, start) = (instances[n % 2].clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            let value = format!("signed-by-{n}");
            let c = commit(
                vec![(Map::Contracts, "c1", 2)],
                vec![put(Map::Contracts, "c1", &value)],
                vec![draft(&format!("contract.signed.{n}"), n)],
            );
            start.wait().await;
            (n, g.commit("alpha", c, T0).await)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (n, Ok(entries)) => winners.push((n, entries)),
            (_, Err(CommitError::Conflict { map: Map::Contracts, key })) => assert_eq!(key, "c1"),
            (_, Err(e)) => panic!("expected a win or a conflict, got {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one commit wins");
    let (n, entries) = &winners[0];
    assert_eq!(
        first.governance.get("alpha", Map::Contracts, "c1").await.unwrap(),
        Some(versioned(&format!("signed-by-{n}"), 3))
    );
    let stored = all_entries(&first, "alpha").await;
    assert_eq!(stored.len(), 2, "only the winner's entry was appended");
    assert_eq!(&stored[1..], &entries[..]);
    assert_eq!(stored[1].kind, format!("contract.signed.{n}"));
}

async fn delete_before_removes_a_key_range_of_one_map(b: Backend) {
    let s = b.open().await;
    create(&s, "alpha").await;
    create(&s, "beta").await;
    let g = s.governance.as_ref();
    let keys = ["001/a", "002/b", "002/c", "003/d"];
    for room in ["alpha", "beta"] {
        let writes = keys.iter().map(|k| put(Map::Seen, k, "1")).chain([put(Map::Users, "001", "u")]).collect();
        g.commit(room, commit(vec![], writes, vec![]), T0).await.unwrap();
    }
    let expire = Write::DeleteBefore { map: Map::Seen, bound: "002/c".into() };
    g.commit("alpha", commit(vec![], vec![expire], vec![draft("expired", 1)]), T0).await.unwrap();
    let listed = |room: &'static str, map: Map| async move {
        g.list(room, map, "", None, 100).await.unwrap().into_iter().map(|(k, _)| k).collect::<Vec<_>>()
    };
    assert_eq!(listed("alpha", Map::Seen).await, ["002/c", "003/d"], "the bound itself is kept");
    assert_eq!(listed("alpha", Map::Users).await, ["001"], "other maps are untouched");
    assert_eq!(listed("beta", Map::Seen).await, keys, "other clean rooms are untouched");
}

/// The seen map holds one freshness window: a replay inside it is refused, and a request's
/// entry goes with the first request that arrives once it could no longer be fresh.
async fn seen_requests_expire_with_their_freshness(b: Backend) {
    const MAX_AGE_S: i64 = 300;
    let s = b.open().await;
    let sealing = StaticKeyProvider::new(vec![SealingKey::new("test", &[9; 32]).unwrap()]).unwrap();
    let governance = Governance::new(s.governance.clone(), Arc::new(sealing));
    let pem = "-----BEGIN PUBLIC KEY-----\ntest\n-----END PUBLIC KEY-----\n";
    governance.create_cleanroom("alpha", "alice", pem, None, T0).await.unwrap();
    let t0 = T0 / 1000;
    let propose = async |digest: &str, created_at_s: i64, now_s: i64| {
        let request = MemberRequest {
            member: "alice".into(),
            msg_type: "proposal".into(),
            digest: digest.into(),
            created_at_s,
            oldest_fresh_s: now_s - MAX_AGE_S,
        };
        let actions = vec![Action::AddUser { id: format!("u-{digest}"), principal: format!("p-{digest}") }];
        governance.propose("alpha", &request, actions, now_s * 1000).await
    };
    let seen = async || -> Vec<String> {
        let listed = s.governance.list("alpha", Map::Seen, "", None, 100).await.unwrap();
        listed.into_iter().map(|(k, _)| k.rsplit('/').next().unwrap().to_string()).collect()
    };
    propose("a", t0, t0).await.unwrap();
    assert!(matches!(propose("a", t0, t0 + 10).await, Err(GovError::Replayed)), "a replay in the window");
    propose("b", t0 + 200, t0 + 200).await.unwrap();
    assert_eq!(seen().await, ["a", "b"], "a is still fresh at t0 + 200");
    propose("c", t0 + MAX_AGE_S + 1, t0 + MAX_AGE_S + 1).await.unwrap();
    assert_eq!(seen().await, ["b", "c"], "a can no longer pass the freshness check, so its entry went");
    // An entry stored before the keys carried their time (the bare digest) still refuses.
    let legacy = put(Map::Seen, "legacy", &(t0 + 250).to_string());
    s.governance.commit("alpha", commit(vec![], vec![legacy], vec![]), T0).await.unwrap();
    assert!(matches!(propose("legacy", t0 + 250, t0 + 320).await, Err(GovError::Replayed)));
}
