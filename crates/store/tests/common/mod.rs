//! Test helpers: the throwaway PostgreSQL of `consort-rigs` (initdb in a temp dir, 127.0.0.1, a
//! free port, a database per test), trigger-set bookkeeping to count lost and doubled fires, and
//! the Quartz rig (`rigs/quartz-cluster`) the import test and the benchmarks drive.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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

/// A client of the PostgreSQL at `url`, its connection driven by a spawned task.
pub async fn pg_client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

/// `consort.rigs.QuartzCluster ARGS` on the Quartz rig that `scripts/setup` builds.
pub fn quartz_rig(args: &[&str]) -> Command {
    let rig = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rigs/quartz-cluster/target");
    let jar = rig.join("quartz-cluster-rig-0.1.0.jar");
    assert!(jar.exists(), "{} is missing: run scripts/setup (it builds the Quartz rig with Maven)", jar.display());
    let mut command = Command::new("java");
    command.arg("-cp").arg(format!("{}:{}/lib/*", jar.display(), rig.display())).arg("consort.rigs.QuartzCluster");
    command.args(args);
    command
}

/// Runs the Quartz rig to completion; a failure fails the caller.
pub fn run_quartz_rig(args: &[&str]) {
    let status = quartz_rig(args).status();
    assert!(status.is_ok_and(|s| s.success()), "Quartz rig {args:?} failed");
}

/// The JDBC URL of the database `url` (a `postgres://` URL of `pg`), for the Quartz rig.
pub fn quartz_jdbc(pg: &Pg, url: &str) -> String {
    format!("jdbc:postgresql://127.0.0.1:{}/{}?user=postgres", pg.port, url.rsplit('/').next().unwrap())
}

/// Quartz rig node `i` (instance `quartz-{i}`) on `jdbc`, for `secs` seconds ("0": until its
/// standard input ends), writing its fires into `dir` for [`quartz_fires`].
pub fn quartz_node(jdbc: &str, i: usize, secs: &str, dir: &Path) -> Command {
    let file = dir.join(format!("q{i}.tsv"));
    quartz_rig(&["node", jdbc, &format!("quartz-{i}"), secs, file.to_str().unwrap()])
}

/// The fires `nodes` Quartz rig nodes ([`quartz_node`]) wrote into `dir`: trigger name,
/// scheduled and actual fire time (epoch ms); and how many of them repeat a trigger's
/// scheduled time another fire already had (doubled fires). A node that wrote nothing has none.
pub fn quartz_fires(dir: &Path, nodes: usize) -> (Vec<(String, i64, i64)>, i64) {
    let mut fires = Vec::new();
    for i in 0..nodes {
        let text = std::fs::read_to_string(dir.join(format!("q{i}.tsv"))).unwrap_or_default();
        fires.extend(text.lines().map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            (f[0].to_string(), f[1].parse::<i64>().unwrap(), f[2].parse::<i64>().unwrap())
        }));
    }
    let distinct: HashSet<(&str, i64)> = fires.iter().map(|(t, scheduled, _)| (t.as_str(), *scheduled)).collect();
    let doubled = (fires.len() - distinct.len()) as i64;
    (fires, doubled)
}

/// The transactions committed in the client's database so far (the benchmarks' commits per
/// fire).
pub async fn committed_transactions(client: &tokio_postgres::Client) -> i64 {
    client.query_one("SELECT pg_stat_clear_snapshot()", &[]).await.unwrap();
    client
        .query_one("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()", &[])
        .await
        .unwrap()
        .get(0)
}

/// Loads `pg_stat_statements` (it must be preloaded: a restart), for the benchmarks'
/// CONSORT_BENCH_PG_PROFILE=1.
pub async fn load_statement_stats(pg: &mut Pg) {
    let client = pg_client(&pg.url("postgres")).await;
    client.batch_execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'").await.unwrap();
    drop(client);
    pg.restart();
}

/// Creates `pg_stat_statements` in the connected database (once) and zeroes its counts.
pub async fn reset_statement_stats(client: &tokio_postgres::Client) {
    client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()")
        .await
        .unwrap();
}

/// Where the database's time went since the reset: per statement, calls, total and mean
/// time, rows, blocks, and time per fire.
pub async fn print_statement_stats(client: &tokio_postgres::Client, fires: i64) {
    let rows = client
        .query(
            "SELECT calls, total_exec_time, rows, shared_blks_hit + shared_blks_read, left(regexp_replace(query, '\\s+', ' ', 'g'), 110) \
             FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             ORDER BY total_exec_time DESC LIMIT 15",
            &[],
        )
        .await
        .unwrap();
    for r in rows {
        let (calls, total, n, blocks, query): (i64, f64, i64, i64, String) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        println!(
            "profile: calls={calls} total_ms={total:.0} mean_ms={:.2} rows={n} blocks={blocks} us_per_fire={:.1} {query}",
            total / calls.max(1) as f64,
            total * 1000.0 / fires.max(1) as f64
        );
    }
}

/// Samples what the database's other sessions are doing every `every` until `stop` is set,
/// then prints each (state, wait event, the statement's first 60 characters) seen, as the mean
/// number of sessions in it, most frequent first: a lock or I/O wait shows as its event, a
/// session on CPU as `cpu`.
pub async fn sample_activity(url: String, every: Duration, stop: Arc<AtomicBool>) {
    let client = pg_client(&url).await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut samples = 0;
    while !stop.load(Ordering::Relaxed) {
        let rows = client
            .query(
                "SELECT state || ' ' || COALESCE(wait_event_type || ':' || wait_event, 'cpu') || ' ' || \
                 left(regexp_replace(query, '\\s+', ' ', 'g'), 60) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'",
                &[],
            )
            .await
            .unwrap();
        for r in rows {
            *seen.entry(r.get(0)).or_default() += 1;
        }
        samples += 1;
        tokio::time::sleep(every).await;
    }
    let mut seen: Vec<(String, usize)> = seen.into_iter().collect();
    seen.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    for (what, n) in seen.iter().take(15) {
        println!("activity: {:.2} sessions {what}", *n as f64 / samples.max(1) as f64);
    }
}
