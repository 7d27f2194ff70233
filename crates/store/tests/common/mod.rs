//! Test helpers: the throwaway PostgreSQL of `consort-rigs` (initdb in a temp dir, 127.0.0.1, a
//! free port, a database per test), and trigger-set bookkeeping to count lost and doubled fires.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};

pub use consort_rigs::Pg;
use consort_scheduler::{Run, Store};

/// Counts lost and doubled fires: `expected` maps a trigger name to its scheduled instants.
pub fn lost_and_doubled(expected: &HashMap<String, Vec<i64>>, runs: &[Run]) -> (usize, usize) {
    let mut seen: HashMap<(String, i64), usize> = HashMap::new();
    for r in runs.iter().filter(|r| r.recovers_run.is_none()) {
        *seen.entry((r.trigger.name().to_string(), r.scheduled_ms)).or_default() += 1;
    }
    let mut lost = 0;
    let mut wanted = HashSet::new();
    for (name, times) in expected {
        for t in times {
            wanted.insert((name.clone(), *t));
            if !seen.contains_key(&(name.clone(), *t)) {
                lost += 1;
            }
        }
    }
    let doubled = seen.iter().map(|(k, n)| if wanted.contains(k) { n - 1 } else { *n }).sum();
    (lost, doubled)
}

/// All runs in the store (paged).
pub async fn all_runs(store: &dyn Store) -> Vec<Run> {
    let mut out = Vec::new();
    let mut before = None;
    loop {
        let filter = consort_scheduler::RunFilter { before_id: before, limit: 10_000, ..Default::default() };
        let page = store.list_runs(&filter).await.unwrap();
        if page.is_empty() {
            return out;
        }
        before = page.last().map(|r| r.id);
        out.extend(page);
    }
}
