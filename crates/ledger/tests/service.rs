//! The ledger service over a store. `new_store` is the one place to swap the in-memory store for
//! consort-store's SQLite/PostgreSQL implementations (each clean room must exist first).

use std::sync::Arc;
use std::time::Duration;

use consort_ledger::memory::MemoryLedgerStore;
use consort_ledger::tree::verify_consistency;
use consort_ledger::{EntryDraft, Ledger, LedgerConfig, LedgerError, LedgerStore, ServiceKey, verify_export_bytes};

fn new_store(cleanrooms: &[&str]) -> Arc<MemoryLedgerStore> {
    let s = MemoryLedgerStore::new();
    for c in cleanrooms {
        s.create_cleanroom(c);
    }
    Arc::new(s)
}

fn key() -> Arc<ServiceKey> {
    Arc::new(ServiceKey::generate().unwrap().0)
}

fn ledger(store: Arc<dyn LedgerStore>, key: Arc<ServiceKey>, config: LedgerConfig) -> Ledger {
    Ledger::new(store, move |_: &str| Ok(key.clone()), config)
}

fn draft(i: u64) -> EntryDraft {
    EntryDraft { kind: "test.event".into(), body: format!("{{\"i\":{i}}}"), at_ms: 1_000 + i as i64 }
}

fn slow_roots() -> LedgerConfig {
    LedgerConfig { root_every: Duration::from_secs(3600), ..LedgerConfig::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_are_group_committed_in_one_order() {
    // A 1 ms commit (like a disk's) so that callers queue while a batch is being written.
    let store = Arc::new(MemoryLedgerStore::with_commit_delay(Duration::from_millis(1)));
    store.create_cleanroom("r");
    let l = ledger(store.clone(), key(), slow_roots());
    let mut tasks = Vec::new();
    for t in 0..50u64 {
        let l = l.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..40 {
                seqs.push(l.append("r", draft(t * 1000 + i)).await.unwrap().seq);
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let seqs = t.await.unwrap();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "one caller's appends keep their order");
        all.extend(seqs);
    }
    all.sort();
    assert_eq!(all, (0..2000).collect::<Vec<_>>());
    assert_eq!(store.size("r").await.unwrap(), 2000);
    assert!(store.append_calls() < 2000, "appends were batched: {} store calls", store.append_calls());
}

#[tokio::test]
async fn roots_every_n_entries_without_gaps_larger_than_n() {
    let store = new_store(&["r"]);
    let config = LedgerConfig { root_every_entries: 100, ..slow_roots() };
    let l = ledger(store.clone(), key(), config);
    let mut tasks = Vec::new();
    for t in 0..10u64 {
        let l = l.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..105 {
                l.append("r", draft(t * 1000 + i)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    l.sign_now("r").await.unwrap();
    let roots = store.roots("r", 0, 1000).await.unwrap();
    let mut prev = 0;
    for r in &roots {
        assert!(r.size - prev <= 100, "root gap {prev}..{}", r.size);
        prev = r.size;
    }
    assert_eq!(prev, 1050);
}

#[tokio::test]
async fn roots_on_the_interval_when_anything_is_new() {
    let store = new_store(&["r"]);
    let config = LedgerConfig { root_every: Duration::from_millis(20), ..LedgerConfig::default() };
    let l = ledger(store.clone(), key(), config);
    l.append("r", draft(1)).await.unwrap();
    let mut waited = 0;
    while store.latest_root("r").await.unwrap().is_none() {
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
        assert!(waited < 500, "no root signed within 5 s");
    }
    assert_eq!(store.latest_root("r").await.unwrap().unwrap().size, 1);
}

#[tokio::test]
async fn receipts_verify_offline_and_force_a_root() {
    let store = new_store(&["r"]);
    let k = key();
    let pk = *k.public_key();
    let config = LedgerConfig { root_every_entries: 7, ..slow_roots() };
    let l = ledger(store.clone(), k, config);
    for i in 0..30 {
        l.append("r", draft(i)).await.unwrap();
    }
    for seq in [0, 6, 7, 13, 29] {
        let r = l.receipt("r", seq).await.unwrap();
        r.verify(&pk).unwrap();
        assert_eq!(r.entry.seq, seq);
        assert!(r.root.size > seq);
    }
    match l.receipt("r", 30).await {
        Err(LedgerError::NoSuchEntry { seq: 30, size: 30, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn consistency_proofs_between_signed_roots() {
    let store = new_store(&["r"]);
    let config = LedgerConfig { root_every_entries: 10, ..slow_roots() };
    let k = key();
    let pk = *k.public_key();
    let l = ledger(store.clone(), k, config);
    for i in 0..55 {
        l.append("r", draft(i)).await.unwrap();
    }
    l.sign_now("r").await.unwrap();
    let roots = store.roots("r", 0, 100).await.unwrap();
    for a in &roots {
        for b in roots.iter().filter(|b| b.size >= a.size) {
            let proof = l.consistency("r", a.size, b.size).await.unwrap();
            verify_consistency(a.size, b.size, &proof, &a.verify(&pk).unwrap(), &b.verify(&pk).unwrap()).unwrap();
        }
    }
    assert!(l.consistency("r", 10, 56).await.is_err());
}

#[tokio::test]
async fn export_verifies_and_locates_a_database_edit() {
    let store = new_store(&["r", "other"]);
    let k = key();
    let pk = *k.public_key();
    let config = LedgerConfig { root_every_entries: 10, ..slow_roots() };
    let l = ledger(store.clone(), k, config);
    for i in 0..42 {
        l.append("r", draft(i)).await.unwrap();
        l.append("other", draft(i)).await.unwrap();
    }
    let bytes = l.export("r").await.unwrap();
    let report = verify_export_bytes(&bytes, &pk).unwrap();
    assert_eq!((report.entries, report.covered), (42, 42));

    store.tamper_entry("r", 17, "{\"i\":-1}");
    let err = verify_export_bytes(&l.export("r").await.unwrap(), &pk).unwrap_err().to_string();
    assert!(err.contains("entry 17 (line"), "{err}");
    assert!(err.contains("entries 10..20"), "{err}");
    assert!(matches!(l.receipt("r", 17).await, Err(LedgerError::Corrupt { .. })));
}

#[tokio::test]
async fn entries_appended_behind_the_service_are_signed_too() {
    // Governance commits append through the store directly; another instance may too.
    let store = new_store(&["r"]);
    let k = key();
    let pk = *k.public_key();
    let l = ledger(store.clone(), k.clone(), slow_roots());
    l.append("r", draft(0)).await.unwrap();
    store.append("r", &[draft(1), draft(2)]).await.unwrap();
    let second = ledger(store.clone(), k, slow_roots());
    second.append("r", draft(3)).await.unwrap();
    l.append("r", draft(4)).await.unwrap();
    let root = l.sign_now("r").await.unwrap().unwrap();
    assert_eq!(root.size, 5);
    second.sign_now("r").await.unwrap();
    for seq in 0..5 {
        l.receipt("r", seq).await.unwrap().verify(&pk).unwrap();
        second.receipt("r", seq).await.unwrap().verify(&pk).unwrap();
    }
    verify_export_bytes(&second.export("r").await.unwrap(), &pk).unwrap();
}

#[tokio::test]
async fn a_restarted_service_rebuilds_its_tree() {
    let store = new_store(&["r"]);
    let k = key();
    let pk = *k.public_key();
    {
        let l = ledger(store.clone(), k.clone(), slow_roots());
        for i in 0..20 {
            l.append("r", draft(i)).await.unwrap();
        }
        l.sign_now("r").await.unwrap();
    }
    let l = ledger(store.clone(), k, slow_roots());
    l.append("r", draft(20)).await.unwrap();
    l.receipt("r", 20).await.unwrap().verify(&pk).unwrap();
    l.receipt("r", 3).await.unwrap().verify(&pk).unwrap();
}

#[tokio::test]
async fn errors_name_the_problem() {
    let store = new_store(&["r"]);
    let l = ledger(store.clone(), key(), slow_roots());
    let e = l.append("missing", draft(0)).await.unwrap_err().to_string();
    assert!(e.contains("\"missing\" does not exist"), "{e}");
    let e = l
        .append("r", EntryDraft { kind: "k".into(), body: "{ \"b\": 1, \"a\": 2 }".into(), at_ms: 0 })
        .await
        .unwrap_err();
    assert!(matches!(e, LedgerError::NotCanonical { .. }), "{e}");
    let nokey = Ledger::new(store, |c: &str| Err(format!("{c} has no key yet")), slow_roots());
    nokey.append("r", draft(0)).await.unwrap();
    let e = nokey.sign_now("r").await.unwrap_err().to_string();
    assert!(e.contains("no service key for clean room \"r\""), "{e}");
}
