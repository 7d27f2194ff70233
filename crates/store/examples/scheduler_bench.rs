//! `scripts/bench scheduler`: consort's scheduler against Quartz's own clustered JDBC store,
//! same PostgreSQL (a throwaway cluster with default durability), same trigger set, no-op job,
//! in one run; plus the embedded SQLite figure, fire lateness and database commits per fire.
//!
//! Phases: (1) embedded SQLite, one instance; (2) PostgreSQL, three consort processes draining
//! the trigger set as fast as they can; (3) PostgreSQL, three processes, 1 000 triggers firing
//! every second, lateness measured; (4) Quartz 2.5.2, three JVMs, clustered, same trigger set,
//! for a fixed time. Sizes: CONSORT_BENCH_TRIGGERS (1000), CONSORT_BENCH_REPEATS (49),
//! CONSORT_BENCH_QUARTZ_SECS (30; 0 skips Quartz); CONSORT_BENCH_ONLY=sqlite|throughput|lateness runs that phase only;
//! CONSORT_BENCH_AHEAD_MS sets how far ahead instances acquire (50); CONSORT_BENCH_PG_PROFILE=1
//! loads `pg_stat_statements` and prints where the throughput phase's database time went.
//! `scheduler_bench node URL ID` is one consort instance.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use consort_scheduler::{
    Job, JobKey, Kinds, MisfireInstruction, Schedule, Scheduler, SchedulerConfig, Store, Trigger, TriggerKey,
    system_clock,
};

use common::{Pg, pg_client};

fn env_num(name: &str, default: i64) -> i64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn config(id: &str) -> SchedulerConfig {
    let mut c = SchedulerConfig::new(id);
    c.batch_size = 1000;
    c.max_running = 4096;
    c.acquire_ahead_ms = env_num("CONSORT_BENCH_AHEAD_MS", 50);
    c
}

fn trigger_set(
    count: i64,
    repeats: u32,
    interval_ms: i64,
    start: i64,
    spread_ms: i64,
    misfire: MisfireInstruction,
) -> (Job, Vec<Trigger>) {
    let job = Job::new(JobKey::in_default_group("load").unwrap(), "noop").with_durable(true);
    let triggers = (0..count)
        .map(|i| {
            Trigger::new(
                TriggerKey::new("load", format!("t{i:05}")).unwrap(),
                job.key().clone(),
                Schedule::simple(Some(repeats), interval_ms).unwrap(),
                start + i * spread_ms / count.max(1),
            )
            .with_misfire(misfire)
        })
        .collect();
    (job, triggers)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    if args.get(1).map(String::as_str) == Some("node") {
        runtime.block_on(node(args[2].clone(), args[3].clone()));
    } else {
        runtime.block_on(bench());
    }
}

async fn node(url: String, id: String) {
    let store = consort_store::open(&url).await.expect("store opens");
    let sched = Scheduler::new(store, Kinds::builtin(), config(&id));
    sched.start().await.unwrap();
    std::future::pending::<()>().await;
}

struct Nodes(Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn_nodes(url: &str, n: usize) -> Nodes {
    let exe = std::env::current_exe().unwrap();
    Nodes(
        (0..n)
            .map(|i| {
                Command::new(&exe).args(["node", url, &format!("node-{i}")]).stdout(Stdio::null()).spawn().unwrap()
            })
            .collect(),
    )
}

async fn commits(client: &tokio_postgres::Client) -> i64 {
    tokio::time::sleep(Duration::from_millis(1500)).await; // Let backends flush their statistics.
    common::committed_transactions(client).await
}

struct Drained {
    fires: i64,
    lost: i64,
    doubled: i64,
    fires_per_s: f64,
    p99_late_ms: f64,
    p50_late_ms: f64,
}

async fn wait_drained(client: &tokio_postgres::Client, expected: i64) -> Drained {
    // The poll must cost the same at the last fire as at the first: the highest run id (one
    // descent of each table's primary key) until every fire has a row, then the runs still
    // executing (a small table of their own). Only when both say done does the exact count (a
    // scan of the table) run, to stop on it. A rolled-back cycle uses up ids, so the highest
    // id can run ahead of the rows: hence the exact count before stopping.
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut done = 0;
    loop {
        let ids: Option<i64> = client.query_one("SELECT max(id) FROM consort_all_runs", &[]).await.unwrap().get(0);
        if ids.unwrap_or(0) >= expected {
            let executing: i64 = client
                .query_one("SELECT count(*) FROM consort_recent_runs WHERE state = 'EXECUTING'", &[])
                .await
                .unwrap()
                .get(0);
            if executing == 0 {
                done = client.query_one("SELECT count(*) FROM consort_all_runs", &[]).await.unwrap().get(0);
                if done >= expected {
                    break;
                }
            }
        }
        assert!(Instant::now() < deadline, "only {done} of {expected} fires after 10 minutes");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT (trigger_name, scheduled_ms)), min(fired_ms), max(fired_ms), \
             percentile_cont(0.99) WITHIN GROUP (ORDER BY fired_ms - scheduled_ms), \
             percentile_cont(0.5) WITHIN GROUP (ORDER BY fired_ms - scheduled_ms) FROM consort_all_runs",
            &[],
        )
        .await
        .unwrap();
    let (count, distinct, first, last): (i64, i64, i64, i64) = (row.get(0), row.get(1), row.get(2), row.get(3));
    Drained {
        fires: count,
        lost: expected - distinct,
        doubled: count - distinct,
        fires_per_s: count as f64 / ((last - first).max(1) as f64 / 1000.0),
        p99_late_ms: row.get(4),
        p50_late_ms: row.get(5),
    }
}

async fn bench() {
    let triggers = env_num("CONSORT_BENCH_TRIGGERS", 1000);
    let repeats = env_num("CONSORT_BENCH_REPEATS", 49) as u32;
    let quartz_secs = env_num("CONSORT_BENCH_QUARTZ_SECS", 30);
    let fires = triggers * (i64::from(repeats) + 1);
    let now = system_clock();
    if std::env::var("CONSORT_BENCH_ONLY").is_ok_and(|v| v == "lateness") {
        lateness(&Pg::start_with(true)).await;
        return;
    }

    let only = std::env::var("CONSORT_BENCH_ONLY").unwrap_or_default();
    if only != "throughput" {
        embedded(triggers, repeats, fires).await;
        if only == "sqlite" {
            return;
        }
    }

    // (2) PostgreSQL, three consort instances, drain as fast as possible.
    let mut pg = Pg::start_with(true);
    let profile = std::env::var("CONSORT_BENCH_PG_PROFILE").is_ok_and(|v| v == "1");
    if profile {
        common::load_statement_stats(&mut pg).await;
    }
    let url = pg.fresh_db().await;
    let admin_store = consort_store::open(&url).await.unwrap();
    let admin = Scheduler::new(admin_store, Kinds::builtin(), config("admin"));
    let (job, set) = trigger_set(triggers, repeats, 1, now() + 2000, 0, MisfireInstruction::Ignore);
    admin.create_job(&job, &set).await.unwrap();
    let client = pg_client(&url).await;
    if profile {
        common::reset_statement_stats(&client).await;
    }
    let x0 = commits(&client).await;
    let nodes = spawn_nodes(&url, 3);
    let drained = wait_drained(&client, fires).await;
    drop(nodes);
    let pg_commits = commits(&client).await - x0;
    println!(
        "scheduler: store=postgres instances=3 phase=throughput triggers={triggers} fires={} lost={} doubled={} \
         fires_per_s={:.0} commits_per_fire={:.4}",
        drained.fires,
        drained.lost,
        drained.doubled,
        drained.fires_per_s,
        pg_commits as f64 / drained.fires as f64
    );
    print_table_stats(&client, drained.fires).await;
    if profile {
        common::print_statement_stats(&client, drained.fires).await;
    }
    if only == "throughput" {
        return;
    }

    // (3) PostgreSQL, three instances, 1 000 triggers every second for 10 s: lateness.
    let late = lateness(&pg).await;

    // (4) Quartz 2.5.2, clustered JDBC store, three JVMs, same trigger set, fixed time
    // (CONSORT_BENCH_QUARTZ_SECS=0 skips it).
    let quartz_fps = if quartz_secs > 0 { quartz(&pg, triggers, repeats, fires, quartz_secs).await } else { 0.0 };

    println!(
        "scheduler: store=postgres instances=3 triggers={triggers} fires={} lost={} doubled={} fires_per_s={:.0} \
         quartz_fires_per_s={:.0} p99_late_ms={:.1}",
        drained.fires,
        drained.lost + late.lost,
        drained.doubled + late.doubled,
        drained.fires_per_s,
        quartz_fps,
        late.p99_late_ms
    );
    drop(pg);
}

async fn quartz(pg: &Pg, triggers: i64, repeats: u32, fires: i64, quartz_secs: i64) -> f64 {
    let now = system_clock();
    let quartz_url = pg.fresh_db().await;
    let jdbc = common::quartz_jdbc(pg, &quartz_url);
    common::run_quartz_rig(&["schema", &jdbc]);
    let start = now() + 8000;
    common::run_quartz_rig(&["populate", &jdbc, &triggers.to_string(), &repeats.to_string(), "1", &start.to_string()]);
    let quartz_client = pg_client(&quartz_url).await;
    let q0 = commits(&quartz_client).await;
    let out = tempfile::tempdir().unwrap();
    // Populating 10,000 triggers takes longer than the 8 s head start: never a negative wait.
    let secs = ((start - now()).max(0) / 1000 + quartz_secs).to_string();
    let jvms: Vec<Child> = (0..3)
        .map(|i| common::quartz_node(&jdbc, i, &secs, out.path()).stdout(Stdio::null()).spawn().unwrap())
        .collect();
    for mut j in jvms {
        j.wait().unwrap();
    }
    let quartz_commits = commits(&quartz_client).await - q0;
    let (fired, quartz_doubled) = common::quartz_fires(out.path(), 3);
    let first = fired.iter().map(|f| f.2).min().unwrap_or(0);
    let last = fired.iter().map(|f| f.2).max().unwrap_or(0);
    let quartz_fires = fired.len() as i64;
    let quartz_fps = quartz_fires as f64 / ((last - first).max(1) as f64 / 1000.0);
    println!(
        "scheduler: quartz store=postgres instances=3 triggers={triggers} fires={quartz_fires} (of {fires}, \
         {quartz_secs} s) doubled={quartz_doubled} fires_per_s={quartz_fps:.0} commits_per_fire={:.4}",
        quartz_commits as f64 / quartz_fires.max(1) as f64
    );
    quartz_fps
}

async fn lateness(pg: &Pg) -> Drained {
    let now = system_clock();
    let late_url = pg.fresh_db().await;
    let late_store = consort_store::open(&late_url).await.unwrap();
    let late_admin = Scheduler::new(late_store, Kinds::builtin(), config("admin"));
    let (job, set) = trigger_set(1000, 9, 1000, now() + 3000, 1000, MisfireInstruction::Smart);
    late_admin.create_job(&job, &set).await.unwrap();
    let late_client = pg_client(&late_url).await;
    let nodes = spawn_nodes(&late_url, 3);
    let late = wait_drained(&late_client, 10_000).await;
    drop(nodes);
    println!(
        "scheduler: store=postgres instances=3 phase=lateness active_triggers=1000 fires={} lost={} doubled={} \
         p50_late_ms={:.1} p99_late_ms={:.1}",
        late.fires, late.lost, late.doubled, late.p50_late_ms, late.p99_late_ms
    );
    late
}

/// (1) Embedded SQLite: one instance drains the trigger set as fast as it can.
async fn embedded(triggers: i64, repeats: u32, fires: i64) {
    let now = system_clock();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let store: Arc<dyn Store> = consort_store::open(&format!("sqlite://{}", path.display())).await.unwrap();
    let sched = Scheduler::new(store.clone(), Kinds::builtin(), config("embedded"));
    let (job, set) = trigger_set(triggers, repeats, 1, now() + 500, 0, MisfireInstruction::Ignore);
    sched.create_job(&job, &set).await.unwrap();
    let c0 = store.commits();
    sched.start().await.unwrap();
    while sched.stats().fired < fires as u64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sched.stop().await.unwrap();
    let embedded_commits = store.commits() - c0;
    drop(sched);
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (count, distinct, first, last): (i64, i64, i64, i64) = conn
        .query_row(
            "SELECT count(*), count(DISTINCT trigger_name || '/' || scheduled_ms), min(fired_ms), max(fired_ms) \
             FROM consort_all_runs",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    let embedded_fps = count as f64 / ((last - first).max(1) as f64 / 1000.0);
    println!(
        "scheduler: store=sqlite instances=1 triggers={triggers} fires={count} lost={} doubled={} fires_per_s={:.0} \
         commits_per_fire={:.4}",
        fires - distinct,
        count - distinct,
        embedded_fps,
        embedded_commits as f64 / count as f64
    );
}

/// The row versions the throughput phase wrote to the scheduler's tables: inserts, updates
/// (and how many were HOT: no new index entry), dead versions left, autovacuum runs and size.
async fn print_table_stats(client: &tokio_postgres::Client, fires: i64) {
    let rows = client
        .query(
            "SELECT relname::text, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_live_tup, n_dead_tup, autovacuum_count, \
             pg_relation_size(relid) / 8192, pg_indexes_size(relid) / 8192 FROM pg_stat_user_tables \
             WHERE relname IN ('consort_jobs', 'consort_triggers', 'consort_runs', 'consort_recent_runs') ORDER BY relname",
            &[],
        )
        .await
        .unwrap();
    for r in rows {
        let (table, ins, upd, hot, live, dead, autovacuums, pages, index_pages): (
            String,
            i64,
            i64,
            i64,
            i64,
            i64,
            i64,
            i64,
            i64,
        ) = (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6), r.get(7), r.get(8));
        println!(
            "tables: {table} inserts={ins} updates={upd} hot_updates={hot} updates_per_fire={:.2} live={live} \
             dead={dead} autovacuums={autovacuums} heap_pages={pages} index_pages={index_pages}",
            upd as f64 / fires.max(1) as f64
        );
    }
}
