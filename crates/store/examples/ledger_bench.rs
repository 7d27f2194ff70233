//! Durable ledger appends per second: `LedgerStore::append` on embedded SQLite (a file in a
//! temporary directory, the store's own pragmas; ledger transactions are synced) and on a
//! throwaway PostgreSQL with default durability, for batches of 1, 100 and 1 000 entries (the
//! ledger service's group commit hands a whole batch to one `append`). One appender, one clean
//! room, each append awaited before the next, so the figure is the store's, not a queue's.
//!
//! `cargo run --release -p consort-store --example ledger_bench`. Each size runs for
//! CONSORT_BENCH_SECS seconds (2); CONSORT_BENCH_ONLY=sqlite|postgres runs one backend. Prints
//!   ledger: store=sqlite batch=100 appends=N entries=E secs=S entries_per_s=X appends_per_s=Y

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use consort_governance::Commit;
use consort_ledger::EntryDraft;
use consort_store::Stores;

use common::Pg;

const BATCHES: [usize; 3] = [1, 100, 1000];

fn secs() -> f64 {
    std::env::var("CONSORT_BENCH_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(2.0)
}

/// A typical entry: a dotted kind and a few hundred bytes of canonical JSON.
fn draft(n: usize) -> EntryDraft {
    EntryDraft {
        kind: "governance.proposal.voted".into(),
        body: format!(
            "{{\"ballot\":\"accept\",\"member\":\"m-{:04}\",\"proposal\":\"p-{n:08}\",\"signature\":\"{}\"}}",
            n % 7,
            "A".repeat(172)
        ),
        at_ms: 1_767_225_600_000 + n as i64,
    }
}

async fn run(label: &str, stores: &Stores) {
    for (i, batch) in BATCHES.into_iter().enumerate() {
        let cleanroom = format!("bench-{i}");
        assert!(stores.governance.create_cleanroom(&cleanroom, Commit::default(), 0).await.expect("create"));
        let budget = Duration::from_secs_f64(secs());
        let (mut appends, mut entries) = (0u64, 0usize);
        let started = Instant::now();
        while started.elapsed() < budget {
            let drafts: Vec<EntryDraft> = (entries..entries + batch).map(draft).collect();
            let appended = stores.ledger.append(&cleanroom, &drafts).await.expect("append");
            assert_eq!(appended.first().map(|e| e.seq), Some(entries as u64), "contiguous places");
            appends += 1;
            entries += batch;
        }
        let elapsed = started.elapsed().as_secs_f64();
        assert_eq!(stores.ledger.size(&cleanroom).await.expect("size"), entries as u64);
        println!(
            "ledger: store={label} batch={batch} appends={appends} entries={entries} secs={elapsed:.2} \
             entries_per_s={:.0} appends_per_s={:.0}",
            entries as f64 / elapsed,
            appends as f64 / elapsed
        );
    }
}

#[tokio::main]
async fn main() {
    let only = std::env::var("CONSORT_BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "sqlite" {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("consort.db").display());
        let stores = consort_store::open_all(&url).await.expect("open SQLite");
        run("sqlite", &stores).await;
    }
    if only.is_empty() || only == "postgres" {
        let pg = Pg::start_with(true);
        let url = pg.fresh_db().await;
        let stores = consort_store::open_all(&url).await.expect("open PostgreSQL");
        run("postgres", &stores).await;
    }
}
