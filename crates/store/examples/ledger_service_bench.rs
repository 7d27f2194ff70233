//! The ledger target, end to end: the ledger service (group commit, a signed root at least
//! every 1 000 entries or 100 ms) over the real durable stores — embedded SQLite (a file; ledger
//! transactions synced) and PostgreSQL — with many concurrent appenders; then receipt
//! verification time on that ledger, and COSE governance requests verified per second (ES256,
//! one core). Ends with one line per store:
//!
//!   ledger: store=S appends=N appends_per_s=X max_entries_per_root=K receipt_verify_us=Y cose_verify_per_s=Z
//!
//! `cargo run --release -p consort-store --example ledger_service_bench`; CONSORT_BENCH_APPENDS
//! (200000), CONSORT_BENCH_APPENDERS (256), CONSORT_BENCH_ONLY=sqlite|postgres.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use consort_governance::Commit;
use consort_ledger::{DerivedServiceKeys, Entry, EntryDraft, Hash, Ledger, LedgerConfig, LedgerStore, SignedRoot};
use consort_scheduler::StoreError;
use consort_signing::{KeyAlgorithm, MemberKeyPair, RequestHeader, parse_request, sign_request};
use consort_store::Stores;

use common::Pg;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Parse + verify of signed governance requests per second, on one core.
fn cose_verify_per_s() -> f64 {
    let key = MemberKeyPair::generate(KeyAlgorithm::EcdsaP256).expect("key");
    let requests: Vec<Vec<u8>> = (0..2_000)
        .map(|i| {
            let header = RequestHeader {
                member_id: "alice".into(),
                msg_type: "ballot".into(),
                cleanroom: "bench".into(),
                created_at: 1_767_225_600 + i,
                proposal_id: Some(format!("p-{i}")),
                subject: None,
            };
            sign_request(&key, &header, b"{\"vote\":\"accept\"}").expect("sign")
        })
        .collect();
    let start = Instant::now();
    for r in &requests {
        parse_request(r).expect("parse").verify(key.public_key()).expect("verify");
    }
    requests.len() as f64 / start.elapsed().as_secs_f64()
}

/// The store under the service, counting its appends: the service's group-commit batches.
#[derive(Debug)]
struct Counted {
    inner: Arc<dyn LedgerStore>,
    batches: AtomicU64,
}

#[async_trait]
impl LedgerStore for Counted {
    async fn append(&self, cleanroom: &str, entries: &[EntryDraft]) -> Result<Vec<Entry>, StoreError> {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.inner.append(cleanroom, entries).await
    }
    async fn size(&self, cleanroom: &str) -> Result<u64, StoreError> {
        self.inner.size(cleanroom).await
    }
    async fn entries(&self, cleanroom: &str, from: u64, limit: u64) -> Result<Vec<Entry>, StoreError> {
        self.inner.entries(cleanroom, from, limit).await
    }
    async fn leaf_hashes(&self, cleanroom: &str, from: u64, to: u64) -> Result<Vec<Hash>, StoreError> {
        self.inner.leaf_hashes(cleanroom, from, to).await
    }
    async fn put_root(&self, root: &SignedRoot) -> Result<(), StoreError> {
        self.inner.put_root(root).await
    }
    async fn latest_root(&self, cleanroom: &str) -> Result<Option<SignedRoot>, StoreError> {
        self.inner.latest_root(cleanroom).await
    }
    async fn root_covering(&self, cleanroom: &str, seq: u64) -> Result<Option<SignedRoot>, StoreError> {
        self.inner.root_covering(cleanroom, seq).await
    }
    async fn roots(&self, cleanroom: &str, from_size: u64, limit: u64) -> Result<Vec<SignedRoot>, StoreError> {
        self.inner.roots(cleanroom, from_size, limit).await
    }
}

async fn run(label: &str, stores: &Stores, cose: f64) {
    let (appends, appenders) = (env("CONSORT_BENCH_APPENDS", 200_000), env("CONSORT_BENCH_APPENDERS", 256).max(1));
    assert!(stores.governance.create_cleanroom("bench", Commit::default(), 0).await.expect("create"));
    let keys = Arc::new(DerivedServiceKeys::new([7; 32]));
    let signing = keys.clone();
    let counted = Arc::new(Counted { inner: stores.ledger.clone(), batches: AtomicU64::new(0) });
    let ledger = Ledger::new(counted.clone(), move |c: &str| Ok(signing.key(c)), LedgerConfig::default());
    let per_task = appends / appenders;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..appenders {
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_task {
                let body = format!("{{\"decision\":\"granted\",\"i\":{i},\"run\":\"r{t}\",\"secret\":\"s\"}}");
                let draft = EntryDraft { kind: "secret.released".into(), body, at_ms: 1_767_225_600_000 };
                ledger.append("bench", draft).await.expect("append");
            }
        }));
    }
    for t in tasks {
        t.await.expect("appender");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let total = per_task * appenders;
    ledger.sign_now("bench").await.expect("final root");
    let roots = stores.ledger.roots("bench", 0, u64::MAX).await.expect("roots");
    let max_gap =
        roots.windows(2).map(|w| w[1].size - w[0].size).chain(roots.first().map(|r| r.size)).max().unwrap_or(0);
    // Receipts of entries spread over the ledger, verified offline with the public key.
    let public = *keys.key("bench").public_key();
    let mut times = Vec::new();
    for i in 0..200 {
        let receipt = ledger.receipt("bench", (i * 7919) % total).await.expect("receipt");
        let t = Instant::now();
        receipt.verify(&public).expect("receipt verifies");
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    let batches = counted.batches.load(Ordering::Relaxed).max(1);
    eprintln!(
        "{label}: {total} appends in {elapsed:.2}s by {appenders} appenders, {} roots, {batches} store appends \
         ({:.0} entries each on average)",
        roots.len(),
        total as f64 / batches as f64
    );
    println!(
        "ledger: store={label} appends={total} appends_per_s={:.0} max_entries_per_root={max_gap} \
         receipt_verify_us={:.1} cose_verify_per_s={cose:.0}",
        total as f64 / elapsed,
        times[times.len() / 2]
    );
}

#[tokio::main]
async fn main() {
    let cose = cose_verify_per_s();
    let only = std::env::var("CONSORT_BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "sqlite" {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("consort.db").display());
        run("sqlite", &consort_store::open_all(&url).await.expect("open SQLite"), cose).await;
    }
    if only.is_empty() || only == "postgres" {
        let pg = Pg::start_with(true);
        let url = pg.fresh_db().await;
        run("postgres", &consort_store::open_all(&url).await.expect("open PostgreSQL"), cose).await;
    }
}
