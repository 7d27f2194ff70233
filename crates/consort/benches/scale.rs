//! `scripts/bench scale`: how consort's cost grows with the size of the store. Real release
//! `consort serve` processes (one on SQLite, three on one PostgreSQL), a store seeded with a
//! realistic trigger mix and run history, and for each size: fires per second, fire lateness,
//! store cycle time, commits per fire, database size, server memory, and the latency of the list
//! and get endpoints, measured while the triggers fire.
//!
//! The mix, per 100 triggers: 1 every second, 9 every minute, 30 hourly, 55 daily, 5 paused;
//! half in UTC, half in America/New_York; ten triggers per job (a job per provisioned
//! component with several schedules), jobs spread over 100 groups. Run history is written
//! straight into the store (COMPLETE, 3% FAILED, spread over the last 29 days, so the default
//! retention of 30 days and 1,000 runs per job keeps it), then the servers start.
//!
//! One line per size:
//! `scale: store=S instances=I triggers=T runs=R fires_per_s=X p50_late_ms=… p99_late_ms=Y cycle_ms=… commits_per_fire=… db_mb=… api_p99_ms=Z rss_mb=M cpu_us_per_fire=C`
//! and a line with each endpoint's p50/p99 before it. `rss_mb` is the largest resident set of
//! the instances at the end of the window; `cpu_us_per_fire` the instances' CPU time (user and
//! system) from the end of the API rounds to the end of the window, over the fires in it: the
//! cost of a fire, which the machine's other load changes far less than it changes wall times.
//! `cycle_ms` is the mean store cycle over every instance's `/metrics`; `metrics_p99_late_ms`
//! the p99 of their fire-lateness histograms merged (a bucket bound, as an alert reads it) and
//! `worst_instance_metrics_p99_late_ms` the worst single instance's. On PostgreSQL a line per
//! instance comes first: its fires, cycles, CPU use and the exact p99 of the runs it fired.
//!
//! Quartz 2.5.2's clustered JDBC store (three JVMs, `rigs/quartz-cluster`) then runs the same
//! trigger mix on its own database of the same PostgreSQL, once per trigger count (it keeps no
//! run history), with the same warm-up, catching up and window:
//! `scale: quartz store=postgres instances=3 triggers=T runs=- fires_per_s=X ... rss_mb=M cpu_us_per_fire=C doubled=D`.
//!
//! Sizes: CONSORT_BENCH_SIZES (`1000:0,10000:0,100000:0,100000:1000000,100000:10000000`,
//! triggers:runs), CONSORT_BENCH_STORES (`sqlite,postgres`), CONSORT_BENCH_SECS (30, the
//! measured window, opened after a 10 s warm-up once the store has caught up with its
//! schedule), CONSORT_BENCH_API_ROUNDS (100 per endpoint), CONSORT_BENCH_QUARTZ (1; 0 leaves
//! Quartz out), CONSORT_BENCH_SCHEDULER (extra `[scheduler]` settings of the servers,
//! `;`-separated, e.g. `store_connections = 0;max_running = 1024`; unset: the defaults),
//! CONSORT_BENCH_PG_PROFILE=1 (PostgreSQL's statement statistics over the window and its
//! sessions' wait events, sampled).

#[path = "../../store/tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{committed_transactions as commits, pg_client};
use consort_scheduler::{
    Job, JobKey, Kinds, MisfireInstruction, Schedule, Scheduler, SchedulerConfig, Selector, Trigger, TriggerKey,
    system_clock,
};

const TRIGGERS_PER_JOB: usize = 10;
const GROUPS: usize = 100;
const DAY_MS: i64 = 86_400_000;

/// CONSORT_BENCH_PG_PROFILE=1: PostgreSQL's statement statistics over the window, and what its
/// sessions were doing (sampled every 20 ms).
fn profiling() -> bool {
    std::env::var("CONSORT_BENCH_PG_PROFILE").is_ok_and(|v| v == "1")
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn job_key(job: usize) -> JobKey {
    JobKey::new(format!("team{:02}", job % GROUPS), format!("job{job:06}")).unwrap()
}

/// Trigger `i`'s group (the paused ones share one, paused once) and schedule.
fn trigger_for(i: usize, job: &JobKey, now: i64) -> Trigger {
    let zone = if i.is_multiple_of(2) { "UTC" } else { "America/New_York" };
    let (s, m, h) = (i % 60, (i / 60) % 60, (i / 3600) % 24);
    let (group, expression) = match i % 100 {
        0 => (job.group().to_string(), "* * * * * ?".to_string()),
        1..=9 => (job.group().to_string(), format!("{s} * * * * ?")),
        10..=39 => (job.group().to_string(), format!("{s} {m} * * * ?")),
        40..=94 => (job.group().to_string(), format!("{s} {m} {h} * * ?")),
        _ => ("paused".to_string(), format!("{s} {m} {h} * * ?")),
    };
    Trigger::new(
        TriggerKey::new(group, format!("t{i:06}")).unwrap(),
        job.clone(),
        Schedule::cron(&expression, zone).unwrap(),
        now,
    )
    .with_misfire(MisfireInstruction::Smart)
}

/// Jobs and triggers through the scheduler's own API (so every derived column is what the
/// server would write), a few jobs at a time.
async fn seed_triggers(url: &str, triggers: usize) {
    let store = consort_store::open(url).await.expect("store opens");
    let sched = Arc::new(Scheduler::new(store, Kinds::builtin(), SchedulerConfig::new("seed")));
    sched.pause(&Selector::TriggerGroup("paused".into())).await.unwrap();
    let jobs = triggers.div_ceil(TRIGGERS_PER_JOB);
    let now = system_clock()();
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let sched = sched.clone();
        tasks.push(tokio::spawn(async move {
            for j in (worker..jobs).step_by(4) {
                let key = job_key(j);
                let job = Job::new(key.clone(), "noop").with_durable(true);
                let set: Vec<Trigger> = (j * TRIGGERS_PER_JOB..((j + 1) * TRIGGERS_PER_JOB).min(triggers))
                    .map(|i| trigger_for(i, &key, now))
                    .collect();
                sched.create_job(&job, &set).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// `count` ended runs spread over the jobs and the last 29 days, oldest first.
fn seed_runs_sqlite(path: &Path, count: i64, jobs: i64, from: i64) {
    if count <= 0 {
        return;
    }
    let conn = rusqlite::Connection::open(path).unwrap();
    let start = system_clock()() - 29 * DAY_MS;
    let step = (29 * DAY_MS / (from + count).max(1)).max(1);
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;").unwrap();
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2) \
         INSERT INTO consort_runs (job_group, job_name, trigger_group, trigger_name, scheduled_ms, fired_ms, \
                                   instance_id, state, ended_ms, error, exit_code) \
         SELECT printf('team%02d', (i % ?3) % 100), printf('job%06d', i % ?3), printf('team%02d', (i % ?3) % 100), \
                printf('t%06d', (i % ?3) * 10 + (i / ?3) % 10), ?4 + i * ?5, ?4 + i * ?5 + 3, 'seed', \
                CASE WHEN i % 33 = 0 THEN 'FAILED' ELSE 'SUCCEEDED' END, ?4 + i * ?5 + 60000, \
                CASE WHEN i % 33 = 0 THEN 'exit status 1' END, CASE WHEN i % 33 = 0 THEN 1 ELSE 0 END \
         FROM n",
        rusqlite::params![from, from + count, jobs, start, step],
    )
    .unwrap();
}

async fn seed_runs_postgres(url: &str, count: i64, jobs: i64, from: i64) {
    if count <= 0 {
        return;
    }
    let client = pg_client(url).await;
    let start = system_clock()() - 29 * DAY_MS;
    let step = (29 * DAY_MS / (from + count).max(1)).max(1);
    client
        .execute(
            "INSERT INTO consort_runs (job_group, job_name, trigger_group, trigger_name, scheduled_ms, fired_ms, \
                                       instance_id, state, ended_ms, error, exit_code) \
             SELECT 'team' || lpad(((i % $3) % 100)::text, 2, '0'), 'job' || lpad((i % $3)::text, 6, '0'), \
                    'team' || lpad(((i % $3) % 100)::text, 2, '0'), \
                    't' || lpad(((i % $3) * 10 + (i / $3) % 10)::text, 6, '0'), $4 + i * $5, $4 + i * $5 + 3, 'seed', \
                    CASE WHEN i % 33 = 0 THEN 'FAILED' ELSE 'SUCCEEDED' END, $4 + i * $5 + 60000, \
                    CASE WHEN i % 33 = 0 THEN 'exit status 1' END, CASE WHEN i % 33 = 0 THEN 1 ELSE 0 END \
             FROM generate_series($1::bigint, $2::bigint - 1) AS i",
            &[&from, &(from + count), &jobs, &start, &step],
        )
        .await
        .unwrap();
    client.batch_execute("VACUUM ANALYZE consort_runs").await.unwrap();
}

/// One `consort serve` (release); SIGTERM, then SIGKILL, on drop.
struct Server {
    child: Child,
    url: String,
    token: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(store_url: &str, id: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("consort.toml");
        // Extra `[scheduler]` settings, `;`-separated (e.g. `store_connections = 0`).
        let extra: String = env_or("CONSORT_BENCH_SCHEDULER", "")
            .split(';')
            .filter(|s| !s.trim().is_empty())
            .map(|s| format!("{}\n", s.trim()))
            .collect();
        std::fs::write(
            &config,
            format!(
                "[auth]\nrate_per_sec = 1000000\nrate_burst = 1000000\n\n[scheduler]\nstore_url = \"{store_url}\"\n\
                 instance_id = \"{id}\"\n{extra}"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_consort"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env_remove("CONSORT_CONFIG")
            .env_remove("CONSORT_TOKEN")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("consort serve starts");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        let url = line.split_whitespace().find(|w| w.starts_with("http://")).expect("the address line").to_string();
        let token = std::fs::read_to_string(dir.path().join("data/admin.token")).unwrap().trim().to_string();
        Server { child, url, token, _dir: dir }
    }

    fn cpu_ms(&self) -> f64 {
        cpu_ms_of(self.child.id())
    }

    fn rss_mb(&self) -> f64 {
        rss_mb_of(self.child.id())
    }
}

/// CPU time (user and system, every thread) process `pid` has used so far, ms.
fn cpu_ms_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces:
    // utime and stime are the 14th and 15th fields of the line, in clock ticks.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: f64 = after_name.split_whitespace().skip(11).take(2).filter_map(|v| v.parse::<f64>().ok()).sum();
    ticks * 1e3 / clock_ticks_per_s()
}

/// Process `pid`'s resident set, MB.
fn rss_mb_of(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one scrape of an instance's `/metrics` says about its scheduler: the store-cycle
/// histogram's sum and count, and the fire-lateness histogram's cumulative buckets.
#[derive(Clone, Debug, Default)]
struct Scrape {
    cycle_sum_s: f64,
    cycles: f64,
    /// (upper bound in seconds, fires at or under it), in the exposition's order.
    lateness: Vec<(f64, f64)>,
}

impl Scrape {
    async fn of(http: &reqwest::Client, server: &Server) -> Scrape {
        let text = http
            .get(format!("{}/metrics", server.url))
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let value = |l: &str| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
        let total = |prefix: &str| -> f64 { text.lines().filter(|l| l.starts_with(prefix)).filter_map(value).sum() };
        let lateness = text
            .lines()
            .filter_map(|l| {
                let rest = l.strip_prefix("consort_scheduler_fire_lateness_seconds_bucket{le=\"")?;
                let (bound, _) = rest.split_once('"')?;
                let bound = if bound == "+Inf" { f64::INFINITY } else { bound.parse().ok()? };
                Some((bound, value(l)?))
            })
            .collect();
        Scrape {
            cycle_sum_s: total("consort_scheduler_cycle_seconds_sum"),
            cycles: total("consort_scheduler_cycle_seconds_count"),
            lateness,
        }
    }

    /// What happened between `before` and this scrape.
    fn since(&self, before: &Scrape) -> Scrape {
        let lateness = self
            .lateness
            .iter()
            .map(|(bound, n)| {
                let was = before.lateness.iter().find(|(b, _)| b == bound).map_or(0.0, |(_, n)| *n);
                (*bound, n - was)
            })
            .collect();
        Scrape { cycle_sum_s: self.cycle_sum_s - before.cycle_sum_s, cycles: self.cycles - before.cycles, lateness }
    }

    /// Several instances' histograms as one.
    fn merge(all: &[Scrape]) -> Scrape {
        let mut merged = all.first().cloned().unwrap_or_default();
        for s in all.iter().skip(1) {
            merged.cycle_sum_s += s.cycle_sum_s;
            merged.cycles += s.cycles;
            for ((_, n), (_, m)) in merged.lateness.iter_mut().zip(&s.lateness) {
                *n += m;
            }
        }
        merged
    }

    fn fires(&self) -> f64 {
        self.lateness.last().map_or(0.0, |(_, n)| *n)
    }

    fn cycle_ms(&self) -> f64 {
        self.cycle_sum_s / self.cycles.max(1.0) * 1e3
    }

    /// The lateness histogram's p99 as the bucket bound it falls under, ms: the metric an
    /// operator's alert would read.
    fn p99_late_ms(&self) -> f64 {
        let wanted = 0.99 * self.fires();
        self.lateness.iter().find(|(_, n)| *n >= wanted && *n > 0.0).map_or(f64::NAN, |(bound, _)| bound * 1e3)
    }
}

async fn scrape_all(http: &reqwest::Client, servers: &[Server]) -> Vec<Scrape> {
    let mut out = Vec::with_capacity(servers.len());
    for server in servers {
        out.push(Scrape::of(http, server).await);
    }
    out
}

/// One line per instance (PostgreSQL): its fires, cycles and lateness from its own
/// `/metrics`, the exact lateness of the runs it fired in the window, and its CPU use over the
/// quiet stretch, so a tail can be traced to the instance whose cycles start late.
async fn print_instances(
    client: &tokio_postgres::Client,
    servers: &[Server],
    scrapes: &[Scrape],
    cpu_ms: &[f64],
    quiet_ms: f64,
    from: i64,
    to: i64,
) {
    for (i, (scrape, cpu)) in scrapes.iter().zip(cpu_ms).enumerate() {
        let id = format!("scale-{i}");
        let row = client
            .query_one(
                "SELECT count(*), count(DISTINCT fired_ms), \
                 percentile_disc(0.99) WITHIN GROUP (ORDER BY fired_ms - scheduled_ms) \
                 FROM consort_all_runs WHERE instance_id = $1 AND fired_ms >= $2 AND fired_ms < $3",
                &[&id, &from, &to],
            )
            .await
            .unwrap();
        let (fires, firing_cycles, p99): (i64, i64, Option<i64>) = (row.get(0), row.get(1), row.get(2));
        println!(
            "scale: instance={id} pid={} fires={fires} firing_cycles={firing_cycles} runs_p99_late_ms={} \
             metrics_fires={:.0} metrics_p99_late_ms={:.1} cycles={:.0} cycle_ms={:.2} cpu_pct={:.0}",
            servers[i].child.id(),
            p99.map_or("-".to_string(), |v| v.to_string()),
            scrape.fires(),
            scrape.p99_late_ms(),
            scrape.cycles,
            scrape.cycle_ms(),
            cpu / quiet_ms.max(1.0) * 100.0,
        );
    }
}

/// The path of an endpoint's `k`-th request.
type PathOf = Box<dyn Fn(usize) -> String>;

/// p50 and p99 (ms) of each list and get endpoint, requests one after another on one
/// keep-alive connection while the triggers fire.
async fn api_latencies(
    http: &reqwest::Client,
    server: &Server,
    triggers: usize,
    rounds: usize,
) -> Vec<(String, f64, f64)> {
    let jobs = triggers.div_ceil(TRIGGERS_PER_JOB);
    let run_id: i64 = {
        let page: serde_json::Value = http
            .get(format!("{}/v1/scheduler/runs?limit=1", server.url))
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["items"][0]["id"].as_i64().unwrap_or(1)
    };
    let mut out = Vec::new();
    let endpoints: Vec<(&str, PathOf)> = vec![
        ("list_jobs", Box::new(|_| "/v1/scheduler/jobs?limit=100".into())),
        ("list_triggers", Box::new(|_| "/v1/scheduler/triggers?limit=100".into())),
        ("list_runs", Box::new(|_| "/v1/scheduler/runs?limit=100".into())),
        ("list_failed_runs", Box::new(|_| "/v1/scheduler/runs?limit=100&state=FAILED".into())),
        (
            "list_job_runs",
            Box::new(move |k| {
                let key = job_key(k * 7919 % jobs);
                format!("/v1/scheduler/runs?limit=100&job={}.{}", key.group(), key.name())
            }),
        ),
        (
            "get_job",
            Box::new(move |k| {
                let key = job_key(k * 7919 % jobs);
                format!("/v1/scheduler/jobs/{}/{}", key.group(), key.name())
            }),
        ),
        (
            "get_trigger",
            Box::new(move |k| {
                let i = (k * 104_729) % triggers;
                let j = i / TRIGGERS_PER_JOB;
                let group = if i % 100 >= 95 { "paused".to_string() } else { job_key(j).group().to_string() };
                format!("/v1/scheduler/triggers/{group}/t{i:06}")
            }),
        ),
        ("get_run", Box::new(move |k| format!("/v1/scheduler/runs/{}", (run_id - (k as i64 * 7919) % run_id).max(1)))),
    ];
    for (name, path) in endpoints {
        let mut samples = Vec::with_capacity(rounds);
        for k in 0..rounds {
            let began = Instant::now();
            let response =
                http.get(format!("{}{}", server.url, path(k))).bearer_auth(&server.token).send().await.unwrap();
            let status = response.status();
            let _ = response.bytes().await.unwrap();
            samples.push(began.elapsed().as_secs_f64() * 1e3);
            // A purged run answers 404; anything else is a failure of the benchmark.
            assert!(status.is_success() || (name == "get_run" && status == 404), "{name}: {status}");
        }
        samples.sort_by(f64::total_cmp);
        out.push((name.to_string(), percentile(&samples, 0.5), percentile(&samples, 0.99)));
    }
    out
}

/// What the store says about the fires in [from, to): count, lateness p50 and p99 (ms).
fn window_sql(store: &str) -> String {
    let p = if store == "postgres" { ("$1", "$2") } else { ("?1", "?2") };
    format!(
        "SELECT fired_ms - scheduled_ms, fired_ms FROM consort_all_runs WHERE instance_id <> 'seed' AND fired_ms >= {} AND fired_ms < {}",
        p.0, p.1
    )
}

struct Window {
    fires: usize,
    /// Fires at or after the end of the API rounds, the stretch the CPU time is taken over.
    quiet_fires: usize,
    p50: f64,
    p99: f64,
}

/// `fires` holds each fire's lateness and fire time (ms).
fn window_of(fires: Vec<(i64, i64)>, quiet_from: i64) -> Window {
    let quiet_fires = fires.iter().filter(|(_, fired)| *fired >= quiet_from).count();
    let mut late: Vec<f64> = fires.iter().map(|(late, _)| *late as f64).collect();
    late.sort_by(f64::total_cmp);
    Window { fires: late.len(), quiet_fires, p50: percentile(&late, 0.5), p99: percentile(&late, 0.99) }
}

/// How far behind the schedule the store is: now minus the oldest fire time of a trigger
/// waiting or acquired (ms; 0 when none is due).
const LAG_SQL: &str = "SELECT MIN(next_fire_ms) FROM consort_triggers WHERE state IN ('WAITING', 'ACQUIRED')";

/// Waits until the servers have fired what fell due while the store was seeded and they
/// started: the oldest waiting fire time within a second of now on three reads in a row, half
/// a second apart (at most five minutes). A window opened on the backlog measures the
/// catching up, not the steady state.
async fn caught_up(store: &str, url: &str, pg: Option<&tokio_postgres::Client>, lag_sql: &str) {
    let began = Instant::now();
    let sqlite = (store != "postgres")
        .then(|| rusqlite::Connection::open(PathBuf::from(url.trim_start_matches("sqlite://"))).unwrap());
    let (mut in_a_row, mut lag_ms) = (0, 0);
    while in_a_row < 3 && began.elapsed() < Duration::from_secs(300) {
        let oldest: Option<i64> = match (pg, &sqlite) {
            (Some(client), _) => client.query_one(lag_sql, &[]).await.unwrap().get(0),
            (None, Some(conn)) => conn.query_row(lag_sql, [], |r| r.get(0)).unwrap(),
            (None, None) => None,
        };
        lag_ms = oldest.map_or(0, |t| (system_clock()() - t).max(0));
        in_a_row = if lag_ms < 1000 { in_a_row + 1 } else { 0 };
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("scale: caught up in {:.1} s more (lag {lag_ms} ms)", began.elapsed().as_secs_f64());
}

async fn db_size_mb(client: &tokio_postgres::Client) -> f64 {
    let bytes: i64 = client.query_one("SELECT pg_database_size(current_database())", &[]).await.unwrap().get(0);
    bytes as f64 / 1_048_576.0
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 on Linux unless told otherwise).
fn clock_ticks_per_s() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        let out = Command::new("getconf").arg("CLK_TCK").output().ok();
        out.and_then(|o| String::from_utf8(o.stdout).ok()).and_then(|s| s.trim().parse().ok()).unwrap_or(100.0)
    })
}

struct Size {
    triggers: usize,
    runs: i64,
}

fn sizes() -> Vec<Size> {
    env_or("CONSORT_BENCH_SIZES", "1000:0,10000:0,100000:0,100000:1000000,100000:10000000")
        .split(',')
        .map(|s| {
            let (t, r) = s.split_once(':').expect("CONSORT_BENCH_SIZES is TRIGGERS:RUNS,...");
            Size { triggers: t.trim().parse().unwrap(), runs: r.trim().parse().unwrap() }
        })
        .collect()
}

fn dir_size_mb(path: &Path) -> f64 {
    let mut total = 0u64;
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        total += std::fs::metadata(PathBuf::from(p)).map(|m| m.len()).unwrap_or(0);
    }
    total as f64 / 1_048_576.0
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(bench());
}

async fn bench() {
    let secs: u64 = env_or("CONSORT_BENCH_SECS", "30").parse().unwrap();
    let rounds: usize = env_or("CONSORT_BENCH_API_ROUNDS", "100").parse().unwrap();
    let stores = env_or("CONSORT_BENCH_STORES", "sqlite,postgres");
    let http = reqwest::Client::new();
    let mut pg = stores.contains("postgres").then(|| common::Pg::start_with(true));
    if let Some(pg) = pg.as_mut()
        && profiling()
    {
        common::load_statement_stats(pg).await;
    }
    for store in stores.split(',').map(str::trim) {
        // A size with the trigger count of the one before tops its run history up instead of
        // seeding again.
        let mut seeded: Option<(usize, i64, String, Option<tempfile::TempDir>)> = None;
        for size in sizes() {
            let jobs = size.triggers.div_ceil(TRIGGERS_PER_JOB) as i64;
            let (url, dir, have_runs, fresh) = match seeded.take() {
                Some((t, r, url, dir)) if t == size.triggers && r <= size.runs => (url, dir, r, false),
                _ => {
                    let (url, dir) = if store == "postgres" {
                        (pg.as_ref().unwrap().fresh_db().await, None)
                    } else {
                        let dir = tempfile::tempdir().unwrap();
                        (format!("sqlite://{}", dir.path().join("scale.db").display()), Some(dir))
                    };
                    let began = Instant::now();
                    seed_triggers(&url, size.triggers).await;
                    if store == "postgres" {
                        // Statistics, as autovacuum gives a table within its naptime (a minute) of
                        // a bulk insert. Without them the planner's choices for the cycle's
                        // queries over 100,000 unanalysed triggers made cycles of 126-463 ms,
                        // in the runs where autovacuum had not visited the new database yet.
                        pg_client(&url).await.batch_execute("ANALYZE").await.unwrap();
                    }
                    eprintln!("scale: seeded {} triggers in {:.1} s", size.triggers, began.elapsed().as_secs_f64());
                    (url, dir, 0, true)
                }
            };
            let began = Instant::now();
            if store == "postgres" {
                seed_runs_postgres(&url, size.runs - have_runs, jobs, have_runs).await;
            } else {
                let path = PathBuf::from(url.trim_start_matches("sqlite://"));
                seed_runs_sqlite(&path, size.runs - have_runs, jobs, have_runs);
            }
            if size.runs > have_runs {
                eprintln!("scale: seeded {} runs in {:.1} s", size.runs - have_runs, began.elapsed().as_secs_f64());
            }
            measure(&http, store, &url, &size, secs, rounds).await;
            // Quartz keeps no run history, so it runs once per trigger count, on PostgreSQL.
            if store == "postgres" && fresh && env_or("CONSORT_BENCH_QUARTZ", "1") != "0" {
                quartz(pg.as_ref().unwrap(), size.triggers, secs).await;
            }
            seeded = Some((size.triggers, size.runs, url, dir));
        }
    }
    drop(pg);
}

async fn measure(http: &reqwest::Client, store: &str, url: &str, size: &Size, secs: u64, rounds: usize) {
    let instances = if store == "postgres" { 3 } else { 1 };
    let servers: Vec<Server> = (0..instances).map(|i| Server::start(url, &format!("scale-{i}"))).collect();
    tokio::time::sleep(Duration::from_secs(10)).await; // Misfires of the seeding time, start-up.
    let pg = if store == "postgres" { Some(pg_client(url).await) } else { None };
    caught_up(store, url, pg.as_ref(), LAG_SQL).await;
    let stop_sampling = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = match &pg {
        Some(client) if profiling() => {
            common::reset_statement_stats(client).await;
            let every = Duration::from_millis(20);
            Some(tokio::spawn(common::sample_activity(url.to_string(), every, stop_sampling.clone())))
        }
        _ => None,
    };
    let c0 = match &pg {
        Some(c) => Some(commits(c).await),
        None => None,
    };
    let scrapes0 = scrape_all(http, &servers).await;
    let from = system_clock()();
    let until = Instant::now() + Duration::from_secs(secs);
    let api = api_latencies(http, &servers[0], size.triggers, rounds).await;
    // The servers' CPU time per fire is taken after the API rounds, so that it is the firing's
    // alone (queries over ten million runs would otherwise count as the cost of fires).
    let (quiet_from, quiet_began) = (system_clock()(), Instant::now());
    let cpu0: Vec<f64> = servers.iter().map(Server::cpu_ms).collect();
    tokio::time::sleep(until.saturating_duration_since(Instant::now())).await;
    let to = system_clock()();
    let cpu: Vec<f64> = servers.iter().zip(&cpu0).map(|(s, c0)| s.cpu_ms() - c0).collect();
    let quiet_ms = quiet_began.elapsed().as_secs_f64() * 1e3;
    let cpu_ms: f64 = cpu.iter().sum();
    let scrapes: Vec<Scrape> =
        scrape_all(http, &servers).await.iter().zip(&scrapes0).map(|(s, s0)| s.since(s0)).collect();
    let rss = servers.iter().map(Server::rss_mb).fold(0.0, f64::max);
    stop_sampling.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(sampler) = sampler {
        sampler.await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await; // Statistics flushed, last fires recorded.
    let (window, commits_per_fire, db_mb) = match &pg {
        Some(client) => {
            let fires: Vec<(i64, i64)> = client
                .query(&window_sql(store), &[&from, &to])
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            let window = window_of(fires, quiet_from);
            print_instances(client, &servers, &scrapes, &cpu, quiet_ms, from, to).await;
            if profiling() {
                common::print_statement_stats(client, window.fires as i64).await;
            }
            let per_fire = (commits(client).await - c0.unwrap()) as f64 / window.fires.max(1) as f64;
            (window, format!("{per_fire:.3}"), db_size_mb(client).await)
        }
        None => {
            let path = PathBuf::from(url.trim_start_matches("sqlite://"));
            let conn = rusqlite::Connection::open(&path).unwrap();
            let mut stmt = conn.prepare(&window_sql(store)).unwrap();
            let fires: Vec<(i64, i64)> =
                stmt.query_map([from, to], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
            // The embedded store's commits are counted in its process; the server does not export them.
            (window_of(fires, quiet_from), "-".to_string(), dir_size_mb(&path))
        }
    };
    drop(servers);
    let merged = Scrape::merge(&scrapes);
    let cycle_ms = merged.cycle_ms();
    let worst_p99 = scrapes.iter().map(Scrape::p99_late_ms).fold(f64::NAN, f64::max);
    let api_p99 = api.iter().map(|(_, _, p99)| *p99).fold(0.0, f64::max);
    // None when the API rounds outlasted the window.
    let cpu_per_fire = match window.quiet_fires {
        0 => "-".to_string(),
        n => format!("{:.0}", cpu_ms * 1e3 / n as f64),
    };
    let detail: Vec<String> = api.iter().map(|(n, p50, p99)| format!("{n}={p50:.1}/{p99:.1}")).collect();
    println!("scale: store={store} triggers={} runs={} api_p50/p99_ms {}", size.triggers, size.runs, detail.join(" "));
    println!(
        "scale: store={store} instances={instances} triggers={} runs={} fires_per_s={:.0} p50_late_ms={:.0} \
         p99_late_ms={:.0} cycle_ms={cycle_ms:.2} commits_per_fire={commits_per_fire} db_mb={db_mb:.0} \
         api_p99_ms={api_p99:.1} rss_mb={rss:.0} cpu_us_per_fire={} metrics_p99_late_ms={:.1} \
         worst_instance_metrics_p99_late_ms={worst_p99:.1}",
        size.triggers,
        size.runs,
        window.fires as f64 / ((to - from) as f64 / 1000.0),
        window.p50,
        window.p99,
        cpu_per_fire,
        merged.p99_late_ms(),
    );
}

/// Quartz 2.5.2's clustered JDBC store (rigs/quartz-cluster) on its own database of the same
/// PostgreSQL: the same trigger mix, three JVMs, a no-op job that records each fire. The same
/// warm-up, catching up and window as consort's; Quartz has no store-cycle metric, no REST API
/// and no run history, so those columns are `-`. RSS and CPU are the JVMs' own.
async fn quartz(pg: &common::Pg, triggers: usize, secs: u64) {
    let url = pg.fresh_db().await;
    let jdbc = common::quartz_jdbc(pg, &url);
    let began = Instant::now();
    common::run_quartz_rig(&["schema", &jdbc]);
    common::run_quartz_rig(&["mix", &jdbc, &triggers.to_string()]);
    let client = pg_client(&url).await;
    client.batch_execute("ANALYZE").await.unwrap();
    eprintln!("scale: quartz seeded {triggers} triggers in {:.1} s", began.elapsed().as_secs_f64());
    let out = tempfile::tempdir().unwrap();
    let mut nodes: Vec<Child> = (0..3)
        .map(|i| {
            common::quartz_node(&jdbc, i, "0", out.path())
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .expect("java starts")
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let lag_sql = "SELECT MIN(next_fire_time) FROM qrtz_triggers WHERE trigger_state IN ('WAITING', 'ACQUIRED')";
    caught_up("postgres", &url, Some(&client), lag_sql).await;
    let c0 = commits(&client).await;
    let cpu0: Vec<f64> = nodes.iter().map(|n| cpu_ms_of(n.id())).collect();
    let from = system_clock()();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let to = system_clock()();
    let cpu_ms: f64 = nodes.iter().zip(&cpu0).map(|(n, c0)| cpu_ms_of(n.id()) - c0).sum();
    let rss = nodes.iter().map(|n| rss_mb_of(n.id())).fold(0.0, f64::max);
    let commits_in_window = commits(&client).await - c0;
    let db_mb = db_size_mb(&client).await;
    for node in &mut nodes {
        drop(node.stdin.take()); // Standard input ends: the node stops and flushes its fires.
    }
    for mut node in nodes {
        node.wait().unwrap();
    }
    let (fires, doubled) = common::quartz_fires(out.path(), 3);
    let in_window: Vec<(i64, i64)> = fires
        .into_iter()
        .filter(|(_, _, fired)| (from..to).contains(fired))
        .map(|(_, scheduled, fired)| (fired - scheduled, fired))
        .collect();
    let window = window_of(in_window, from);
    println!(
        "scale: quartz store=postgres instances=3 triggers={triggers} runs=- fires_per_s={:.0} p50_late_ms={:.0} \
         p99_late_ms={:.0} cycle_ms=- commits_per_fire={:.3} db_mb={db_mb:.0} api_p99_ms=- rss_mb={rss:.0} \
         cpu_us_per_fire={:.0} doubled={doubled}",
        window.fires as f64 / ((to - from) as f64 / 1000.0),
        window.p50,
        window.p99,
        commits_in_window as f64 / window.fires.max(1) as f64,
        cpu_ms * 1e3 / window.fires.max(1) as f64,
    );
}
