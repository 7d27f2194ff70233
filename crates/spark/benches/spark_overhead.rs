//! Control-plane cost of running Spark through consort, in one run:
//!
//! 1. fire → `spark-submit` started: one-shot triggers due a moment apart fire
//!    through the scheduler (SQLite) into the `spark` kind and the local backend.
//!    The `spark-submit` here is a probe that records the instant it starts (its
//!    first statement) and exits, so only consort's own path is timed.
//! 2. overhead over a bare `spark-submit`: the example job, run with the real
//!    Spark, directly and fired through the scheduler and the `spark` kind (fire
//!    → submit → follow → the run recorded as ended), alternately.
//!
//! `scripts/bench spark`; `CONSORT_BENCH_FIRES` and `CONSORT_BENCH_SPARK_RUNS` size it.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use consort_scheduler::{Job, JobKey, Kinds, RunFilter, Schedule, Scheduler, SchedulerConfig, Trigger, TriggerKey};
use consort_spark::{Launcher, LocalConfig, LocalLauncher, SparkKind, installed_pyspark, tool_cache};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn fire_to_submit(dir: &Path, fires: usize) -> Vec<f64> {
    let probe_home = dir.join("probe-spark");
    std::fs::create_dir_all(probe_home.join("bin")).unwrap();
    let probe = probe_home.join("bin/spark-submit");
    std::fs::write(&probe, "#!/bin/sh\ndate +%s%N > started_ns\n").unwrap();
    std::process::Command::new("chmod").arg("+x").arg(&probe).status().unwrap();

    let work = dir.join("runs");
    let local: Arc<dyn Launcher> = Arc::new(LocalLauncher::new(LocalConfig {
        spark_home: probe_home,
        python: None,
        work_dir: work.clone(),
        master: "local[1]".into(),
        hadoop_conf_dir: None,
        kerberos: None,
    }));
    let mut kinds = Kinds::builtin();
    kinds.register(Arc::new(SparkKind::new(vec![local], "local", Duration::from_millis(20))));
    let store = consort_store::open(&format!("sqlite://{}", dir.join("bench.db").display())).await.unwrap();
    let scheduler = Scheduler::new(store, kinds, SchedulerConfig::new("bench"));

    let start = now_ms() + 3_000;
    for i in 0..fires {
        let job = JobKey::new("bench", format!("job{i}")).unwrap();
        let data = serde_json::json!({"jar": "probe.jar", "className": "bench.Probe"}).as_object().unwrap().clone();
        let trigger = Trigger::new(
            TriggerKey::new("bench", format!("t{i}")).unwrap(),
            job.clone(),
            Schedule::once(),
            start + (i as i64) * 37,
        );
        scheduler.create_job(&Job::new(job, "spark").with_data(data), &[trigger]).await.unwrap();
    }
    scheduler.start().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let runs = loop {
        let runs = scheduler.list_runs(&RunFilter { limit: fires + 10, ..RunFilter::default() }).await.unwrap();
        if runs.len() >= fires && runs.iter().all(|r| r.state.is_final()) {
            break runs;
        }
        assert!(Instant::now() < deadline, "fires did not complete");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    scheduler.stop().await.unwrap();
    let mut lateness = Vec::new();
    for run in runs {
        let id = run.log_location.as_deref().unwrap().trim_start_matches("local:");
        let started_ns: i128 =
            std::fs::read_to_string(work.join(id).join("started_ns")).unwrap().trim().parse().unwrap();
        lateness.push((started_ns - i128::from(run.scheduled_ms) * 1_000_000) as f64 / 1e6);
    }
    lateness.sort_by(f64::total_cmp);
    lateness
}

/// Wall time of a bare `spark-submit` and of the same application fired through the
/// scheduler (`fire_now` → the run recorded as ended, by the `spark` kind on the local backend
/// with `consort serve`'s 1 s poll), alternated so machine noise hits both alike; also a bare
/// `spark-submit` with the event log the local backend adds (its cost, apart from the control
/// plane's). Returns the medians and the medians of the per-run overheads (%).
async fn spark_overhead(dir: &Path, runs: usize) -> (f64, f64, f64, f64) {
    let spark_home = installed_pyspark().expect("pyspark missing: run scripts/setup").spark_home;
    let jar = tool_cache().unwrap().join("examples/consort-examples.jar").display().to_string();
    let args = [
        "--master",
        "local[1]",
        "--deploy-mode",
        "client",
        "--name",
        "bench",
        "--class",
        "consort.examples.CountRange",
        &jar,
        "100000",
    ];
    let local: Arc<dyn Launcher> = Arc::new(LocalLauncher::new(LocalConfig {
        spark_home: spark_home.clone(),
        python: None,
        work_dir: dir.join("spark-runs"),
        master: "local[1]".into(),
        hadoop_conf_dir: None,
        kerberos: None,
    }));
    let mut kinds = Kinds::builtin();
    kinds.register(Arc::new(SparkKind::new(vec![local], "local", Duration::from_secs(1))));
    let store = consort_store::open(&format!("sqlite://{}", dir.join("overhead.db").display())).await.unwrap();
    let scheduler = Scheduler::new(store, kinds, SchedulerConfig::new("bench-overhead"));
    let job = JobKey::new("bench", "overhead").unwrap();
    let data = serde_json::json!({"jar": jar, "className": "consort.examples.CountRange", "args": ["100000"]});
    let data = data.as_object().unwrap().clone();
    scheduler.create_job(&Job::new(job.clone(), "spark").with_durable(true).with_data(data), &[]).await.unwrap();
    scheduler.start().await.unwrap();

    // The event log the local backend keeps (to learn the application id), for the third arm.
    let events = dir.join("bare-events");
    std::fs::create_dir_all(&events).unwrap();
    let event_log = [
        "--conf".to_string(),
        "spark.eventLog.enabled=true".into(),
        "--conf".into(),
        format!("spark.eventLog.dir=file://{}", events.display()),
        "--conf".into(),
        "spark.eventLog.rolling.enabled=false".into(),
        "--conf".into(),
        "spark.eventLog.compress=false".into(),
    ];
    let bare_run = |extra: &[String]| {
        let t = Instant::now();
        let status = std::process::Command::new(spark_home.join("bin/spark-submit"))
            .args(extra)
            .args(args)
            .env("SPARK_HOME", &spark_home)
            .env("SPARK_LOCAL_IP", "127.0.0.1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        t.elapsed().as_secs_f64()
    };

    let (mut bare, mut ours, mut overheads, mut with_log) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let bare_s = bare_run(&[]);
        let logged_s = bare_run(&event_log);
        with_log.push((logged_s - bare_s) / bare_s * 100.0);

        let fired_at = now_ms();
        let trigger = scheduler.fire_now(&job, Default::default()).await.unwrap();
        let filter = RunFilter { trigger: Some(trigger), ..RunFilter::default() };
        let run = loop {
            let run = scheduler.list_runs(&filter).await.unwrap().pop();
            if let Some(run) = run.filter(|r| r.state.is_final()) {
                break run;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(run.state, consort_scheduler::RunState::Succeeded, "{run:?}");
        let ours_s = (run.ended_ms.unwrap() - fired_at) as f64 / 1000.0;
        bare.push(bare_s);
        ours.push(ours_s);
        overheads.push((ours_s - bare_s) / bare_s * 100.0);
    }
    scheduler.stop().await.unwrap();
    for v in [&mut bare, &mut ours, &mut overheads, &mut with_log] {
        v.sort_by(f64::total_cmp);
    }
    let mid = |v: &[f64]| v[v.len() / 2];
    (mid(&bare), mid(&ours), mid(&overheads), mid(&with_log))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let fires = env_usize("CONSORT_BENCH_FIRES", 200);
    let spark_runs = env_usize("CONSORT_BENCH_SPARK_RUNS", 7);
    let dir = std::env::temp_dir().join(format!("consort-spark-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let late = fire_to_submit(&dir, fires).await;
    let (bare, ours, overhead, event_log) = spark_overhead(&dir, spark_runs).await;
    println!(
        "spark: fires={fires} fire_to_submit_p50_ms={:.1} p99_ms={:.1} max_ms={:.1} | runs={spark_runs} bare_spark_submit_s={bare:.2} fire_to_recorded_end_s={ours:.2} overhead_pct_median_of_pairs={overhead:.1} of_which_event_log_pct={event_log:.1}",
        percentile(&late, 0.5),
        percentile(&late, 0.99),
        late[late.len() - 1],
    );
    let _ = std::fs::remove_dir_all(&dir);
}
