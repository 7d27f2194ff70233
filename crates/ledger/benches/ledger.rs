//! `scripts/bench ledger`: the ledger's costs, then one summary line per store:
//!
//! ```text
//! ledger: store=S appends=N appends_per_s=X max_entries_per_root=K receipt_verify_us=Y cose_verify_per_s=Z
//! ```
//!
//! Measures (release build, one process): leaf hashing, tree append (full tree and compact
//! frontier), root signing, receipt creation and verification at 1M entries, and the service's
//! appends/s with group commit (`CONSORT_BENCH_APPENDERS` concurrent callers, default 256, each
//! appending in a loop; `CONSORT_BENCH_APPENDS` in all, default 500,000) with the default
//! signing policy (a root every 1,000 entries or 100 ms). `max_entries_per_root` is the largest
//! gap between consecutive signed roots (from 0) over the run. The in-memory store is not
//! durable: the SQL stores (consort-store) are measured by adding them to `stores()`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use consort_ledger::memory::MemoryLedgerStore;
use consort_ledger::tree::{Frontier, Tree};
use consort_ledger::{Entry, EntryDraft, Ledger, LedgerConfig, LedgerStore, Receipt, ServiceKey, SignedRoot};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// HOOK(cose): the COSE_Sign1 verification rate (governance requests), measured by the
/// governance helper's benchmark. Until it is integrated the summary prints `n/a`.
fn cose_verify_per_s() -> Option<f64> {
    None
}

fn entry(seq: u64) -> Entry {
    Entry {
        cleanroom: "bench".into(),
        seq,
        at_ms: 1_764_000_000_000 + seq as i64,
        kind: "governance.proposal.ballot".into(),
        body: format!("{{\"ballot\":\"accept\",\"member\":\"m{}\",\"proposal\":\"p{}\"}}", seq % 7, seq / 10),
    }
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// (label, store) pairs measured by the service benchmark.
fn stores() -> Vec<(&'static str, Arc<MemoryLedgerStore>)> {
    vec![("memory", Arc::new(MemoryLedgerStore::new()))]
}

struct ServiceFigures {
    appends: u64,
    per_s: f64,
    max_gap: u64,
    store_calls: Option<u64>,
}

async fn service_bench(
    store: Arc<dyn LedgerStore>,
    key: Arc<ServiceKey>,
    appends: u64,
    appenders: u64,
) -> ServiceFigures {
    let ledger = Ledger::new(store.clone(), move |_: &str| Ok(key.clone()), LedgerConfig::default());
    let per_task = appends / appenders;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..appenders {
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_task {
                let draft = EntryDraft {
                    kind: "secret.release.granted".into(),
                    body: format!("{{\"i\":{i},\"run\":\"r{t}\"}}"),
                    at_ms: 1_764_000_000_000,
                };
                ledger.append("bench", draft).await.expect("append");
            }
        }));
    }
    for t in tasks {
        t.await.expect("appender");
    }
    let elapsed = start.elapsed();
    ledger.sign_now("bench").await.expect("final root");
    let roots = store.roots("bench", 0, u64::MAX).await.expect("roots");
    let mut prev = 0;
    let mut max_gap = 0;
    for r in &roots {
        max_gap = max_gap.max(r.size - prev);
        prev = r.size;
    }
    ServiceFigures {
        appends: per_task * appenders,
        per_s: rate(per_task * appenders, elapsed),
        max_gap,
        store_calls: None,
    }
}

fn main() {
    let n: u64 = env("CONSORT_BENCH_TREE", 1_000_000);
    let appends = env("CONSORT_BENCH_APPENDS", 500_000);
    let appenders = env("CONSORT_BENCH_APPENDERS", 256).max(1);

    // Leaf hashing (canonical JSON of the entry + SHA-256).
    let entries: Vec<Entry> = (0..100_000).map(entry).collect();
    let t = Instant::now();
    let leaves: Vec<_> = entries.iter().map(Entry::leaf_hash).collect();
    eprintln!("leaf hash (leaf bytes + SHA-256): {:.0}/s", rate(leaves.len() as u64, t.elapsed()));

    // Tree append.
    let hashes: Vec<_> = (0..n).map(|i| leaves[(i % leaves.len() as u64) as usize]).collect();
    let t = Instant::now();
    let tree = Tree::from_leaves(hashes.iter().copied());
    eprintln!("tree append (all levels kept): {:.0}/s over {n} leaves", rate(n, t.elapsed()));
    let t = Instant::now();
    let mut f = Frontier::new();
    for h in &hashes {
        f.push(*h);
    }
    eprintln!("frontier append (compact): {:.0}/s", rate(n, t.elapsed()));
    assert_eq!(f.root(), tree.root());

    // Root signing.
    let (key, _) = ServiceKey::generate().expect("key");
    let key = Arc::new(key);
    let pk = *key.public_key();
    let signs = 5_000;
    let t = Instant::now();
    let mut roots = Vec::with_capacity(signs);
    for i in 0..signs as u64 {
        let size = n - i;
        roots.push(SignedRoot::sign(&key, "bench", size, &tree.root_at(size).expect("size"), 0));
    }
    eprintln!("root (tree hash at a size + Ed25519 sign): {:.0}/s", rate(signs as u64, t.elapsed()));
    let t = Instant::now();
    for r in &roots {
        r.verify(&pk).expect("valid");
    }
    eprintln!("root verification: {:.0}/s", rate(signs as u64, t.elapsed()));

    // Receipts at size n.
    let root = roots[0].clone();
    let k = 2_000u64;
    let t = Instant::now();
    let receipts: Vec<Receipt> = (0..k)
        .map(|i| {
            let seq = (i * 7919) % n;
            let mut e = entry(seq % leaves.len() as u64);
            e.seq = seq;
            // The bench tree repeats 100,000 leaves; give the receipt the leaf it proves.
            let proof = tree.inclusion_proof(seq, n).expect("proof");
            let mut r = Receipt::new(e, &proof, root.clone());
            r.entry.seq = seq;
            r
        })
        .collect();
    eprintln!("receipt creation (proof at {n}): {:.1} us each", t.elapsed().as_secs_f64() * 1e6 / k as f64);
    // Verification of receipts whose entry matches its leaf (entries 0..100,000 are exact).
    let exact: Vec<&Receipt> = receipts.iter().filter(|r| r.entry.seq < leaves.len() as u64).collect();
    let mut times = Vec::new();
    for r in exact.iter().cycle().take(2_000) {
        let t = Instant::now();
        r.verify(&pk).expect("receipt verifies");
        times.push(t.elapsed());
    }
    times.sort();
    let p50 = times[times.len() / 2].as_secs_f64() * 1e6;
    let p99 = times[times.len() * 99 / 100].as_secs_f64() * 1e6;
    eprintln!(
        "receipt verification: p50 {p50:.1} us, p99 {p99:.1} us ({} proofs of {} hashes)",
        times.len(),
        receipts[0].proof.len()
    );

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    // Group commit against a simulated 1 ms commit (what batching buys on a real disk).
    {
        let store = Arc::new(MemoryLedgerStore::with_commit_delay(Duration::from_millis(1)));
        store.create_cleanroom("bench");
        let fig = rt.block_on(service_bench(store.clone(), key.clone(), appends.min(200_000), appenders));
        eprintln!(
            "service, in-memory store with a 1 ms commit: {:.0} appends/s, {} store calls for {} appends, max {} entries per root",
            fig.per_s,
            store.append_calls(),
            fig.appends,
            fig.max_gap
        );
    }
    let cose = cose_verify_per_s().map_or("n/a".to_owned(), |v| format!("{v:.0}"));
    for (label, store) in stores() {
        store.create_cleanroom("bench");
        let mut fig = rt.block_on(service_bench(store.clone(), key.clone(), appends, appenders));
        fig.store_calls = Some(store.append_calls());
        eprintln!("service, {label}: {} store calls for {} appends", fig.store_calls.unwrap_or(0), fig.appends);
        println!(
            "ledger: store={label} appends={} appends_per_s={:.0} max_entries_per_root={} receipt_verify_us={p50:.1} cose_verify_per_s={cose}",
            fig.appends, fig.per_s, fig.max_gap
        );
    }
}
