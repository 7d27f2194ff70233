//! The driver end to end: job kinds on SQLite, and clusters on a real PostgreSQL — three
//! instances firing one trigger set, `kill -9` of an instance mid-fire, PostgreSQL restarted
//! under load. Waits poll with generous deadlines; nothing asserts a duration.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use consort_scheduler::{
    DataMap, Job, JobKey, JobKind, Kinds, MisfireInstruction, Outcome, RunContext, RunFilter, RunState, Schedule,
    Scheduler, SchedulerConfig, SchedulerError, Selector, Store, Trigger, TriggerFilter, TriggerKey, TriggerState,
    system_clock,
};
use serde_json::json;

use common::{Pg, all_runs, lost_and_doubled};

static PG: OnceLock<Pg> = OnceLock::new();

fn now_ms() -> i64 {
    system_clock()()
}

fn config(id: &str) -> SchedulerConfig {
    let mut c = SchedulerConfig::new(id);
    c.checkin_interval_ms = 300;
    c.failure_grace_ms = 700;
    c.idle_wait_ms = 100;
    c.stop_timeout_ms = 10_000;
    c
}

fn data(v: serde_json::Value) -> DataMap {
    v.as_object().unwrap().clone()
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(90);
    while !check().await {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A stand-in for the `spark` kind: reports an application id and log location mid-run.
#[derive(Debug)]
struct ReportingKind;

#[async_trait]
impl JobKind for ReportingKind {
    fn name(&self) -> &str {
        "reporting"
    }

    async fn execute(&self, context: RunContext) -> Outcome {
        let id = format!("app-{}", context.run_id);
        if let Err(e) = context.reporter.report(Some(&id), Some("file:///tmp/log")).await {
            return Outcome::failed(e.to_string());
        }
        Outcome { exit_code: Some(0), ..Outcome::succeeded() }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_driver_runs_kinds_and_records_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let store = consort_store::open(&format!("sqlite://{}", dir.path().join("c.db").display())).await.unwrap();
    let mut kinds = Kinds::builtin();
    kinds.register(Arc::new(ReportingKind));
    let sched = Scheduler::new(store, kinds, config("solo"));

    let err = sched.create_job(&Job::new(JobKey::in_default_group("x").unwrap(), "spark"), &[]).await.unwrap_err();
    assert!(matches!(err, SchedulerError::UnknownKind { .. }), "{err}");
    let bad_data = Job::new(JobKey::in_default_group("x").unwrap(), "command").with_durable(true);
    let err = sched.create_job(&bad_data, &[]).await.unwrap_err();
    assert!(err.to_string().contains("program"), "{err}");

    let ok = Job::new(JobKey::in_default_group("ok").unwrap(), "command")
        .with_durable(true)
        .with_data(data(json!({"program": "/bin/sh", "args": ["-c", "test -n \"$CONSORT_RUN_ID\""]})));
    let bad = Job::new(JobKey::in_default_group("bad").unwrap(), "command")
        .with_durable(true)
        .with_data(data(json!({"program": "/bin/sh", "args": ["-c", "echo boom >&2; exit 3"]})));
    let rep = Job::new(JobKey::in_default_group("rep").unwrap(), "reporting").with_durable(true);
    for job in [&ok, &bad, &rep] {
        sched.create_job(job, &[]).await.unwrap();
    }
    sched.start().await.unwrap();
    assert!(matches!(sched.start().await, Err(SchedulerError::Driver(_))));
    for job in [&ok, &bad, &rep] {
        sched.fire_now(job.key(), DataMap::new()).await.unwrap();
    }
    let final_state = |key: JobKey| {
        let sched = sched.clone();
        async move {
            let status = sched.get_job(&key).await.unwrap().unwrap();
            status.last_run_state.is_some_and(RunState::is_final)
        }
    };
    for job in [&ok, &bad, &rep] {
        wait_until("a run to end", || final_state(job.key().clone())).await;
    }
    assert_eq!(sched.get_job(ok.key()).await.unwrap().unwrap().last_run_state, Some(RunState::Succeeded));
    assert_eq!(sched.get_job(bad.key()).await.unwrap().unwrap().last_run_state, Some(RunState::Failed));
    let runs = sched.list_runs(&RunFilter { job: Some(bad.key().clone()), ..Default::default() }).await.unwrap();
    assert_eq!(runs[0].exit_code, Some(3));
    assert!(runs[0].error.as_deref().unwrap().contains("boom"), "{:?}", runs[0].error);
    let runs = sched.list_runs(&RunFilter { job: Some(rep.key().clone()), ..Default::default() }).await.unwrap();
    assert_eq!(runs[0].application_id, Some(format!("app-{}", runs[0].id)));
    assert_eq!(runs[0].log_location.as_deref(), Some("file:///tmp/log"));
    assert_eq!(runs[0].trigger.group(), consort_scheduler::MANUAL_GROUP);

    // A job whose kind this instance does not know (stored by another build): its run fails
    // with the fix in the error and its trigger goes to ERROR, as Quartz does for a missing class.
    let ghost = Job::new(JobKey::in_default_group("ghost").unwrap(), "ghost-kind").with_durable(true);
    let ghost_trigger = Trigger::new(
        TriggerKey::in_default_group("ghost").unwrap(),
        ghost.key().clone(),
        Schedule::simple(None, 60_000).unwrap(),
        now_ms(),
    );
    sched.store().put_job(&ghost, std::slice::from_ref(&ghost_trigger), false, now_ms()).await.unwrap();
    wait_until("the ghost trigger to go to ERROR", || {
        let sched = sched.clone();
        let key = ghost_trigger.key().clone();
        async move { sched.get_trigger(&key).await.unwrap().unwrap().state == TriggerState::Error }
    })
    .await;
    let runs = sched.list_runs(&RunFilter { job: Some(ghost.key().clone()), ..Default::default() }).await.unwrap();
    assert_eq!(runs[0].state, RunState::Failed);
    assert!(runs[0].error.as_deref().unwrap().contains("register it"), "{:?}", runs[0].error);
    assert_eq!(sched.resume(&Selector::Trigger(ghost_trigger.key().clone())).await.unwrap(), 1, "resume clears ERROR");
    sched.delete_job(ghost.key()).await.unwrap();

    // A cron trigger every second fires repeatedly; pausing it stops it.
    let every = Trigger::new(
        TriggerKey::in_default_group("every-second").unwrap(),
        ok.key().clone(),
        Schedule::cron("* * * * * ?", "Europe/Rome").unwrap(),
        now_ms(),
    );
    sched.create_trigger(&every).await.unwrap();
    let runs_of = |key: TriggerKey| {
        let sched = sched.clone();
        async move { sched.list_runs(&RunFilter { trigger: Some(key), ..Default::default() }).await.unwrap().len() }
    };
    wait_until("two cron fires", || async { runs_of(every.key().clone()).await >= 2 }).await;
    sched.pause(&Selector::Trigger(every.key().clone())).await.unwrap();
    assert_eq!(sched.get_trigger(every.key()).await.unwrap().unwrap().state, TriggerState::Paused);
    assert_eq!(sched.instances().await.unwrap().len(), 1);
    sched.stop().await.unwrap();
    assert!(!sched.is_running().await);
    assert!(sched.instances().await.unwrap().is_empty(), "left the cluster");
}

/// One noop job with `count` simple triggers firing `repeats + 1` times, `interval_ms` apart,
/// from `start`; misfire policy ignore, so every scheduled fire must happen exactly once.
async fn trigger_set(
    sched: &Scheduler,
    count: usize,
    repeats: u32,
    interval_ms: i64,
    start: i64,
) -> HashMap<String, Vec<i64>> {
    let job = Job::new(JobKey::in_default_group("load").unwrap(), "noop").with_durable(true);
    let triggers: Vec<Trigger> = (0..count)
        .map(|i| {
            Trigger::new(
                TriggerKey::new("load", format!("t{i:05}")).unwrap(),
                job.key().clone(),
                Schedule::simple(Some(repeats), interval_ms).unwrap(),
                start + (i as i64 % 7),
            )
            .with_misfire(MisfireInstruction::Ignore)
        })
        .collect();
    sched.create_job(&job, &triggers).await.unwrap();
    triggers
        .iter()
        .map(|t| {
            let times = (0..=i64::from(repeats)).map(|k| t.start_ms() + k * interval_ms).collect();
            (t.key().name().to_string(), times)
        })
        .collect()
}

async fn settled(store: &dyn Store, expected: usize) -> bool {
    let runs = all_runs(store).await;
    runs.len() >= expected && runs.iter().all(|r| r.state.is_final())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_fire_each_trigger_exactly_once() {
    let url = PG.get_or_init(Pg::start).fresh_db().await;
    let mut scheds = vec![];
    for i in 0..3 {
        let store = consort_store::open(&url).await.unwrap();
        scheds.push(Scheduler::new(store, Kinds::builtin(), config(&format!("node-{i}"))));
    }
    let expected = trigger_set(&scheds[0], 300, 9, 250, now_ms() + 500).await;
    for s in &scheds {
        s.start().await.unwrap();
    }
    let store = scheds[0].store().clone();
    wait_until("3000 runs to end", || settled(store.as_ref(), 3000)).await;
    for s in &scheds {
        s.stop().await.unwrap();
    }
    let runs = all_runs(store.as_ref()).await;
    assert_eq!(lost_and_doubled(&expected, &runs), (0, 0));
    assert!(runs.iter().all(|r| r.state == RunState::Succeeded));
    let per_instance: HashSet<&str> = runs.iter().map(|r| r.instance.as_str()).collect();
    eprintln!("fires per instance: {:?}", scheds.iter().map(|s| s.stats().fired).collect::<Vec<_>>());
    assert!(!per_instance.is_empty());
}

/// Entry point of the child process killed by `kill_9_mid_fire_then_the_others_recover`;
/// does nothing in a normal test run.
#[test]
fn cluster_node_entry() {
    let Ok(url) = std::env::var("CONSORT_TEST_NODE_URL") else { return };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = consort_store::open(&url).await.unwrap();
        let mut cfg = config("doomed");
        cfg.acquire_ahead_ms = 30_000;
        let sched = Scheduler::new(store, Kinds::builtin(), cfg);
        sched.start().await.unwrap();
        std::future::pending::<()>().await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_fire_then_the_others_recover() {
    let url = PG.get_or_init(Pg::start).fresh_db().await;
    let store = consort_store::open(&url).await.unwrap();
    let admin = Scheduler::new(store.clone(), Kinds::builtin(), config("admin"));
    let slow = Job::new(JobKey::in_default_group("slow").unwrap(), "command")
        .with_requests_recovery(true)
        .with_data(data(json!({"program": "/bin/sleep", "args": ["2"]})));
    let quick = Job::new(JobKey::in_default_group("quick").unwrap(), "noop");
    let start = now_ms();
    let once = |group: &str, i: usize, job: &Job, at: i64| {
        Trigger::new(TriggerKey::new(group, format!("{group}{i}")).unwrap(), job.key().clone(), Schedule::once(), at)
    };
    let slow_triggers: Vec<Trigger> = (0..10).map(|i| once("slow", i, &slow, start + 300)).collect();
    let quick_triggers: Vec<Trigger> = (0..10).map(|i| once("quick", i, &quick, start + 10_000)).collect();
    admin.create_job(&slow, &slow_triggers).await.unwrap();
    admin.create_job(&quick, &quick_triggers).await.unwrap();

    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["cluster_node_entry", "--exact", "--nocapture", "--test-threads", "1"])
        .env("CONSORT_TEST_NODE_URL", &url)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let s = store.clone();
    wait_until("the doomed instance to run 10 slow jobs and hold 10 quick triggers", || {
        let s = s.clone();
        async move {
            let executing =
                s.list_runs(&RunFilter { state: Some(RunState::Executing), ..Default::default() }).await.unwrap();
            let acquired = s
                .list_triggers(&consort_scheduler::TriggerFilter { group: Some("quick".into()), ..Default::default() })
                .await
                .unwrap()
                .iter()
                .filter(|t| t.state == TriggerState::Acquired && t.instance.as_deref() == Some("doomed"))
                .count();
            executing.len() == 10 && acquired == 10
        }
    })
    .await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let others: Vec<Scheduler> =
        ["a", "b"].iter().map(|id| Scheduler::new(store.clone(), Kinds::builtin(), config(id))).collect();
    for o in &others {
        o.start().await.unwrap();
    }
    wait_until("recovery runs and the released triggers to finish", || settled(store.as_ref(), 30)).await;
    for o in &others {
        o.stop().await.unwrap();
    }

    let runs = all_runs(store.as_ref()).await;
    let abandoned: Vec<_> = runs.iter().filter(|r| r.state == RunState::Abandoned).collect();
    assert_eq!(abandoned.len(), 10);
    assert!(abandoned.iter().all(|r| r.instance == "doomed" && r.job.name() == "slow"));
    for a in &abandoned {
        let refires: Vec<_> = runs.iter().filter(|r| r.recovers_run == Some(a.id)).collect();
        assert_eq!(refires.len(), 1, "run {} re-fired {} times", a.id, refires.len());
        assert_eq!(refires[0].state, RunState::Succeeded);
        assert_ne!(refires[0].instance, "doomed");
        assert_eq!(refires[0].scheduled_ms, a.scheduled_ms);
    }
    let expected: HashMap<String, Vec<i64>> =
        quick_triggers.iter().chain(&slow_triggers).map(|t| (t.key().name().to_string(), vec![t.start_ms()])).collect();
    assert_eq!(lost_and_doubled(&expected, &runs), (0, 0));
    assert!(runs.iter().filter(|r| r.job.name() == "quick").all(|r| r.instance != "doomed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load() {
    let pg = Pg::start();
    let url = pg.fresh_db().await;
    let mut scheds = vec![];
    for i in 0..3 {
        let store = consort_store::open(&url).await.unwrap();
        scheds.push(Scheduler::new(store, Kinds::builtin(), config(&format!("node-{i}"))));
    }
    let expected = trigger_set(&scheds[0], 100, 39, 100, now_ms() + 500).await;
    for s in &scheds {
        s.start().await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pg = tokio::task::spawn_blocking(move || {
        let mut pg = pg;
        // Down long enough that some cycle meets the outage (firing is due every 100 ms): a
        // plain restart can fall between two cycles, and the pool reconnects unseen.
        pg.restart_after(Duration::from_millis(500));
        pg
    })
    .await
    .unwrap();
    let restarted_at = now_ms();
    let store = scheds[0].store().clone();
    wait_until("4000 runs to end", || settled(store.as_ref(), 4000)).await;
    for s in &scheds {
        s.stop().await.unwrap();
    }
    let runs = all_runs(store.as_ref()).await;
    assert_eq!(lost_and_doubled(&expected, &runs), (0, 0));
    let failed: u64 = scheds.iter().map(|s| s.stats().failed_cycles).sum();
    assert!(failed > 0, "the restart went unnoticed");
    assert!(runs.iter().any(|r| r.fired_ms > restarted_at), "the instances carried on");
    drop(pg);
}

/// Regression test for live instances failed over after a PostgreSQL outage (seen in
/// `scripts/bench chaos spark`): when the database came back, every instance's last check-in
/// was older than interval plus grace, so the first instance to check in again declared the
/// others failed and took their triggers and runs over while they lived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_fails_no_live_instance_over() {
    let pg = Pg::start();
    let url = pg.fresh_db().await;
    let mut scheds = vec![];
    for i in 0..3 {
        let store = consort_store::open(&url).await.unwrap();
        scheds.push(Scheduler::new(store, Kinds::builtin(), config(&format!("live-{i}"))));
    }
    trigger_set(&scheds[0], 20, 400, 100, now_ms() + 200).await;
    for s in &scheds {
        s.start().await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Down for three times the check-in interval plus grace (300 + 700 ms).
    let pg = tokio::task::spawn_blocking(move || {
        let mut pg = pg;
        pg.restart_after(Duration::from_secs(3));
        pg
    })
    .await
    .unwrap();
    let back = now_ms();
    let store = scheds[0].store().clone();
    wait_until("every instance to check in after the outage", || {
        let s = store.clone();
        async move {
            s.instances(None, None).await.is_ok_and(|i| i.len() == 3 && i.iter().all(|i| i.last_checkin_ms > back))
        }
    })
    .await;
    // Several check-ins of everyone after the outage: time for a wrong fail-over to happen.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let recoveries: Vec<u64> = scheds.iter().map(|s| s.stats().recoveries).collect();
    let runs = all_runs(store.as_ref()).await;
    assert!(runs.iter().any(|r| r.fired_ms > back), "the instances carried on after the outage");
    for s in &scheds {
        s.stop().await.unwrap();
    }
    assert_eq!(recoveries, [0, 0, 0], "a live instance was failed over after the outage");
    drop(pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_instance_recovers_what_its_previous_process_left() {
    let store = consort_store::open("sqlite::memory:").await.unwrap();
    let job = Job::new(JobKey::in_default_group("resumable").unwrap(), "noop").with_requests_recovery(true);
    let now = now_ms();
    let once = |name: &str, at: i64| {
        Trigger::new(TriggerKey::in_default_group(name).unwrap(), job.key().clone(), Schedule::once(), at)
    };
    store.put_job(&job, &[once("due", now - 1000), once("later", now + 600_000)], false, now).await.unwrap();
    // Its previous process fired one trigger, acquired the other, and died.
    store.check_in("solo", "boot-solo", now, 300, 700).await.unwrap();
    let request = consort_scheduler::CycleRequest {
        instance: "solo".into(),
        now_ms: now,
        max_fires: 10,
        acquire_ahead_ms: 3_600_000,
        misfire_threshold_ms: 60_000,
        max_misfires: 10,
        completions: vec![],
    };
    let lost = store.cycle(request).await.unwrap().fired[0].run_id;

    let sched = Scheduler::new(store.clone(), Kinds::builtin(), config("solo"));
    sched.start().await.unwrap();
    let s = store.clone();
    wait_until("the interrupted run to be re-fired", || {
        let s = s.clone();
        async move {
            let runs = all_runs(s.as_ref()).await;
            runs.iter().any(|r| r.recovers_run == Some(lost) && r.state == RunState::Succeeded)
        }
    })
    .await;
    sched.stop().await.unwrap();
    assert_eq!(store.get_run(lost).await.unwrap().unwrap().state, RunState::Abandoned);
    let later = store.get_trigger(&TriggerKey::in_default_group("later").unwrap()).await.unwrap().unwrap();
    assert_eq!((later.state, later.instance), (TriggerState::Waiting, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturated_instance_waits_for_a_free_slot_instead_of_spinning() {
    let store = consort_store::open("sqlite::memory:").await.unwrap();
    let mut cfg = config("busy");
    cfg.max_running = 1;
    let sched = Scheduler::new(store, Kinds::builtin(), cfg);
    let job = Job::new(JobKey::in_default_group("sleepy").unwrap(), "command")
        .with_data(data(json!({"program": "/bin/sleep", "args": ["0.3"]})));
    let now = now_ms();
    let triggers: Vec<Trigger> = (0..4)
        .map(|i| {
            Trigger::new(
                TriggerKey::in_default_group(format!("t{i}")).unwrap(),
                job.key().clone(),
                Schedule::once(),
                now,
            )
        })
        .collect();
    sched.create_job(&job, &triggers).await.unwrap();
    sched.start().await.unwrap();
    let store = sched.store().clone();
    wait_until("four runs one after another", || settled(store.as_ref(), 4)).await;
    sched.stop().await.unwrap();
    let runs = all_runs(store.as_ref()).await;
    assert!(runs.iter().all(|r| r.state == RunState::Succeeded));
    // About 1.2 s of saturation; a busy loop would run a cycle per millisecond.
    assert!(sched.stats().cycles < 400, "{} cycles: the driver spun while saturated", sched.stats().cycles);
}

/// Counts, per job, runs executing at the same moment across every instance in this process.
#[derive(Debug, Default)]
struct Overlap {
    running: std::sync::Mutex<HashMap<String, usize>>,
    worst: std::sync::Mutex<HashMap<String, usize>>,
    runs: std::sync::atomic::AtomicUsize,
}

#[derive(Debug)]
struct OverlapKind(Arc<Overlap>);

#[async_trait]
impl JobKind for OverlapKind {
    fn name(&self) -> &str {
        "overlap"
    }

    async fn execute(&self, context: RunContext) -> Outcome {
        let job = context.job.key().to_string();
        {
            let mut running = self.0.running.lock().unwrap();
            let n = running.entry(job.clone()).or_default();
            *n += 1;
            let mut worst = self.0.worst.lock().unwrap();
            let w = worst.entry(job.clone()).or_default();
            *w = (*w).max(*n);
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        *self.0.running.lock().unwrap().get_mut(&job).unwrap() -= 1;
        self.0.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Outcome::succeeded()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_concurrent_jobs_never_overlap_across_three_instances() {
    let url = PG.get_or_init(Pg::start).fresh_db().await;
    let overlap = Arc::new(Overlap::default());
    let mut scheds = vec![];
    for i in 0..3 {
        let store = consort_store::open(&url).await.unwrap();
        let mut kinds = Kinds::builtin();
        kinds.register(Arc::new(OverlapKind(overlap.clone())));
        scheds.push(Scheduler::new(store, kinds, config(&format!("node-{i}"))));
    }
    let now = now_ms();
    for j in 0..4 {
        let job = Job::new(JobKey::new("serial", format!("job{j}")).unwrap(), "overlap").with_non_concurrent(true);
        let key = |t: &str| TriggerKey::new("serial", format!("job{j}-{t}")).unwrap();
        let triggers = vec![
            Trigger::new(key("cron"), job.key().clone(), Schedule::cron("* * * * * ?", "UTC").unwrap(), now),
            Trigger::new(key("fast"), job.key().clone(), Schedule::simple(Some(20), 100).unwrap(), now + 200),
            // Long overdue when the cluster starts: misfired, fired once now (smart policy),
            // while the job's other triggers want it too.
            Trigger::new(key("late"), job.key().clone(), Schedule::once(), now - 600_000),
        ];
        scheds[0].create_job(&job, &triggers).await.unwrap();
    }
    for s in &scheds {
        s.start().await.unwrap();
    }
    let o = overlap.clone();
    let store = scheds[0].store().clone();
    wait_until("40 runs of the non-concurrent jobs, the misfired ones included", || {
        let (o, store) = (o.clone(), store.clone());
        async move {
            let late = all_runs(store.as_ref()).await.iter().filter(|r| r.trigger.name().ends_with("-late")).count();
            o.runs.load(std::sync::atomic::Ordering::Relaxed) >= 40 && late == 4
        }
    })
    .await;
    for s in &scheds {
        s.stop().await.unwrap();
    }
    let worst = overlap.worst.lock().unwrap().clone();
    assert_eq!(worst.len(), 4, "{worst:?}");
    assert!(worst.values().all(|n| *n == 1), "a non-concurrent job ran twice at once: {worst:?}");
    let runs = all_runs(scheds[0].store().as_ref()).await;
    for j in 0..4 {
        let late = runs.iter().filter(|r| r.trigger.name() == format!("job{j}-late")).count();
        assert_eq!(late, 1, "the misfired trigger of job{j} fired {late} times");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_history_past_its_retention_is_purged_at_check_in() {
    let store = consort_store::open("sqlite::memory:").await.unwrap();
    let mut cfg = config("keeper");
    cfg.run_retention_ms = Some(1);
    let sched = Scheduler::new(store, Kinds::builtin(), cfg);
    let job = Job::new(JobKey::in_default_group("brief").unwrap(), "noop").with_durable(true);
    sched.create_job(&job, &[]).await.unwrap();
    sched.start().await.unwrap();
    sched.fire_now(job.key(), DataMap::new()).await.unwrap();
    let s = sched.clone();
    wait_until("the first run to end", || {
        let s = s.clone();
        async move { s.list_runs(&RunFilter::default()).await.unwrap().iter().any(|r| r.state.is_final()) }
    })
    .await;
    sched.fire_now(job.key(), DataMap::new()).await.unwrap();
    let s = sched.clone();
    wait_until("the older run to be purged, the job's latest kept", || {
        let s = s.clone();
        async move {
            let runs = s.list_runs(&RunFilter::default()).await.unwrap();
            s.stats().fired == 2 && runs.len() == 1 && runs[0].trigger.name().ends_with("_1_brief")
        }
    })
    .await;
    sched.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_runs_per_job_and_removes_spent_triggers_by_itself() {
    retention_by_itself(vec![consort_store::open("sqlite::memory:").await.unwrap()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_itself_on_two_postgres_instances() {
    let url = PG.get_or_init(Pg::start).fresh_db().await;
    let stores = vec![consort_store::open(&url).await.unwrap(), consort_store::open(&url).await.unwrap()];
    retention_by_itself(stores).await;
}

/// Every instance sweeps: with several on one store, their sweeps meet and still keep exactly
/// the newest runs and the live trigger.
async fn retention_by_itself(stores: Vec<Arc<dyn Store>>) {
    let scheds: Vec<Scheduler> = stores
        .into_iter()
        .enumerate()
        .map(|(i, store)| {
            let mut cfg = config(&format!("tidy-{i}"));
            cfg.runs_per_job = Some(2);
            cfg.spent_trigger_retention_ms = Some(1);
            Scheduler::new(store, Kinds::builtin(), cfg)
        })
        .collect();
    let sched = scheds[0].clone();
    let job = Job::new(JobKey::in_default_group("often").unwrap(), "noop").with_durable(true);
    let cron = Trigger::new(
        TriggerKey::in_default_group("yearly").unwrap(),
        job.key().clone(),
        Schedule::cron("0 0 0 1 1 ?", "UTC").unwrap(),
        now_ms(),
    );
    sched.create_job(&job, std::slice::from_ref(&cron)).await.unwrap();
    for s in &scheds {
        s.start().await.unwrap();
    }
    // One at a time, so run ids follow the fire-now sequence.
    for _ in 0..5 {
        let fired = sched.fire_now(job.key(), DataMap::new()).await.unwrap();
        let s = sched.clone();
        wait_until("the fire-now's run to end", || {
            let (s, fired) = (s.clone(), fired.clone());
            async move {
                let filter = RunFilter { trigger: Some(fired), ..RunFilter::default() };
                s.list_runs(&filter).await.unwrap().iter().any(|r| r.state.is_final())
            }
        })
        .await;
    }
    let all = scheds.clone();
    wait_until("5 fires, 2 runs kept, the fire-now triggers gone", || {
        let all = all.clone();
        async move {
            let runs = all[0].list_runs(&RunFilter::default()).await.unwrap();
            let triggers = all[0].list_triggers(&TriggerFilter::default()).await.unwrap();
            all.iter().map(|s| s.stats().fired).sum::<u64>() == 5 && runs.len() == 2 && triggers.len() == 1
        }
    })
    .await;
    let all = sched.list_runs(&RunFilter::default()).await.unwrap();
    assert!(all.iter().all(|r| r.state == RunState::Succeeded), "{all:?}");
    let names: Vec<&str> = all.iter().map(|r| r.trigger.name()).collect();
    assert!(names[0].ends_with("_4_often") && names[1].ends_with("_3_often"), "the newest two: {names:?}");
    let left = sched.list_triggers(&TriggerFilter::default()).await.unwrap();
    assert_eq!(left[0].trigger.key(), cron.key(), "the cron trigger still fires");
    for s in &scheds {
        s.stop().await.unwrap();
    }
}

/// A stand-in for work that outlives its scheduler process, like a Spark application on a
/// cluster: a fire "submits" it by writing a file that says when it ends (the submissions
/// are counted by the files), reports that file as the run's log location, and follows it;
/// `resume` follows the same file without submitting again.
#[derive(Debug)]
struct ExternalKind {
    dir: std::path::PathBuf,
    millis: u64,
}

impl ExternalKind {
    fn submissions(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |d| d.count())
    }

    async fn follow(path: &str) -> Outcome {
        loop {
            let Ok(text) = std::fs::read_to_string(path) else { return Outcome::failed(format!("{path} is gone")) };
            if now_ms() >= text.trim().parse::<i64>().unwrap_or(0) {
                return Outcome::succeeded();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[async_trait]
impl JobKind for ExternalKind {
    fn name(&self) -> &str {
        "external"
    }

    async fn execute(&self, context: RunContext) -> Outcome {
        let path = self.dir.join(format!("app-{}", context.run_id));
        std::fs::write(&path, (now_ms() + self.millis as i64).to_string()).unwrap();
        let location = format!("ext:{}", path.display());
        if let Err(e) = context.reporter.report(Some(&format!("app-{}", context.run_id)), Some(&location)).await {
            return Outcome::failed(e.to_string());
        }
        Self::follow(&path.to_string_lossy()).await
    }

    fn can_resume(&self, run: &consort_scheduler::Run) -> bool {
        run.log_location.as_deref().is_some_and(|l| l.starts_with("ext:"))
    }

    async fn resume(&self, _context: RunContext, run: consort_scheduler::Run) -> Outcome {
        let location = run.log_location.unwrap_or_default();
        Self::follow(location.trim_start_matches("ext:")).await
    }
}

async fn run_has_log_location(store: &Arc<dyn Store>, job: &JobKey) -> bool {
    let filter = RunFilter { job: Some(job.clone()), ..Default::default() };
    store.list_runs(&filter).await.unwrap().first().is_some_and(|r| r.log_location.is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_instance_detaches_from_resumable_runs_and_its_restart_resumes_them() {
    let dir = tempfile::tempdir().unwrap();
    let apps = dir.path().join("apps");
    std::fs::create_dir(&apps).unwrap();
    let store = consort_store::open(&format!("sqlite://{}", dir.path().join("c.db").display())).await.unwrap();
    let scheduler = |millis| {
        let mut kinds = Kinds::builtin();
        kinds.register(Arc::new(ExternalKind { dir: apps.clone(), millis }));
        Scheduler::new(store.clone(), kinds, config("solo"))
    };
    // Stopping must not wait for this run: its stop timeout (10 s) is shorter than the run.
    let first = scheduler(12_000);
    let job =
        Job::new(JobKey::in_default_group("etl").unwrap(), "external").with_durable(true).with_non_concurrent(true);
    let blocked = Job::new(JobKey::in_default_group("sleeper").unwrap(), "command")
        .with_durable(true)
        .with_data(data(json!({"program": "/bin/sleep", "args": ["1"]})));
    first.create_job(&job, &[]).await.unwrap();
    first.create_job(&blocked, &[]).await.unwrap();
    first.start().await.unwrap();
    first.fire_now(job.key(), DataMap::new()).await.unwrap();
    first.fire_now(blocked.key(), DataMap::new()).await.unwrap();
    wait_until("the run to report where it is", || run_has_log_location(&store, job.key())).await;
    first.stop().await.unwrap();
    assert_eq!(first.stats().detached, 1, "only the resumable run is detached");
    let filter = RunFilter { job: Some(job.key().clone()), ..Default::default() };
    let run = store.list_runs(&filter).await.unwrap().remove(0);
    assert_eq!(run.state, RunState::Executing, "a detached run is not ended");
    let sleeper = RunFilter { job: Some(blocked.key().clone()), ..Default::default() };
    assert_eq!(store.list_runs(&sleeper).await.unwrap()[0].state, RunState::Succeeded, "the other run was awaited");

    let second = scheduler(0);
    second.start().await.unwrap();
    wait_until("the resumed run to end", || {
        let store = store.clone();
        async move { store.get_run(run.id).await.unwrap().unwrap().state == RunState::Succeeded }
    })
    .await;
    second.stop().await.unwrap();
    assert_eq!(second.stats().resumed, 1);
    assert_eq!(ExternalKind::submissions(&apps), 1, "resumed, not submitted again");
    let ended = store.get_run(run.id).await.unwrap().unwrap();
    assert_eq!((ended.instance.as_str(), ended.application_id), ("solo", Some(format!("app-{}", run.id))));
    assert!(ended.ended_ms.unwrap() >= run.fired_ms + 12_000, "it ended when the work did");
    assert_eq!(store.list_runs(&RunFilter::default()).await.unwrap().len(), 2, "nothing re-fired");
}

/// The instance that `kill_9_mid_run_then_another_instance_resumes_it` kills: a test that
/// does nothing unless that test starts this binary with its environment.
#[test]
fn external_node_entry() {
    let (Ok(url), Ok(apps)) = (std::env::var("CONSORT_TEST_NODE_URL"), std::env::var("CONSORT_TEST_APPS")) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = consort_store::open(&url).await.unwrap();
        let mut kinds = Kinds::builtin();
        kinds.register(Arc::new(ExternalKind { dir: apps.into(), millis: 5_000 }));
        Scheduler::new(store, kinds, config("doomed")).start().await.unwrap();
        std::future::pending::<()>().await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_run_then_another_instance_resumes_it() {
    let url = PG.get_or_init(Pg::start).fresh_db().await;
    let store = consort_store::open(&url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kinds = || {
        let mut kinds = Kinds::builtin();
        kinds.register(Arc::new(ExternalKind { dir: dir.path().to_path_buf(), millis: 5_000 }));
        kinds
    };
    let admin = Scheduler::new(store.clone(), kinds(), config("admin"));
    let job = Job::new(JobKey::in_default_group("etl").unwrap(), "external").with_requests_recovery(true);
    let trigger =
        Trigger::new(TriggerKey::in_default_group("now").unwrap(), job.key().clone(), Schedule::once(), now_ms());
    admin.create_job(&job, &[trigger]).await.unwrap();

    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["external_node_entry", "--exact", "--nocapture", "--test-threads", "1"])
        .env("CONSORT_TEST_NODE_URL", &url)
        .env("CONSORT_TEST_APPS", dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the doomed instance to start the run", || run_has_log_location(&store, job.key())).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let survivor = Scheduler::new(store.clone(), kinds(), config("survivor"));
    survivor.start().await.unwrap();
    let s = store.clone();
    wait_until("the run to end", || {
        let s = s.clone();
        async move { all_runs(s.as_ref()).await.iter().all(|r| r.state.is_final()) }
    })
    .await;
    survivor.stop().await.unwrap();
    let runs = all_runs(store.as_ref()).await;
    assert_eq!(runs.len(), 1, "no recovery re-fire for a run that was resumed: {runs:?}");
    assert_eq!((runs[0].state, runs[0].instance.as_str()), (RunState::Succeeded, "survivor"));
    assert_eq!(survivor.stats().resumed, 1);
    assert_eq!(ExternalKind::submissions(dir.path()), 1);
}

/// Two live processes configured with one instance id would recover each other's runs at
/// start; the second one now waits to see whether the id's check-in row is alive and refuses
/// to start if it is. A row left by a process that died goes stale, and the start proceeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_live_process_with_the_same_instance_id_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = consort_store::open(&format!("sqlite://{}", dir.path().join("c.db").display())).await.unwrap();
    let first = Scheduler::new(store.clone(), Kinds::builtin(), config("twin"));
    first.start().await.unwrap();
    let second = Scheduler::new(store.clone(), Kinds::builtin(), config("twin"));
    let err = second.start().await.unwrap_err();
    assert!(matches!(err, SchedulerError::InstanceIdInUse { .. }), "{err}");
    assert!(err.to_string().contains("CONSORT_INSTANCE_ID"), "{err}");
    assert!(!second.is_running().await);
    first.stop().await.unwrap();

    // A process that died (its row stays, and goes stale): the next start waits it out.
    store.check_in("twin", "a-dead-process", now_ms(), 300, 700).await.unwrap();
    let third = Scheduler::new(store.clone(), Kinds::builtin(), config("twin"));
    third.start().await.unwrap();
    let instances = third.instances().await.unwrap();
    assert_eq!(instances.len(), 1);
    assert_ne!(instances[0].boot_id.as_deref(), Some("a-dead-process"));
    // The row is this process's now: a check-in from the dead one's mark is refused.
    let refused = store.check_in("twin", "a-dead-process", now_ms(), 300, 700).await.unwrap_err();
    assert!(matches!(refused, consort_scheduler::StoreError::InstanceIdInUse { .. }), "{refused}");
    third.stop().await.unwrap();
}

/// While stopping, an instance waits for its runs; it must keep checking in meanwhile, or
/// the others fail it over and abandon (or re-fire) runs that are still executing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_instance_keeps_checking_in_while_its_runs_finish() {
    let store = consort_store::open("sqlite::memory:").await.unwrap();
    let sched = Scheduler::new(store.clone(), Kinds::builtin(), config("drainer"));
    let job = Job::new(JobKey::in_default_group("long").unwrap(), "command")
        .with_durable(true)
        .with_data(data(json!({"program": "/bin/sleep", "args": ["3"]})));
    sched.create_job(&job, &[]).await.unwrap();
    sched.start().await.unwrap();
    sched.fire_now(job.key(), DataMap::new()).await.unwrap();
    let s = store.clone();
    wait_until("the run to execute", || {
        let s = s.clone();
        async move {
            !s.list_runs(&RunFilter { state: Some(RunState::Executing), ..Default::default() })
                .await
                .unwrap()
                .is_empty()
        }
    })
    .await;
    let stopping = tokio::spawn({
        let sched = sched.clone();
        async move { sched.stop().await.unwrap() }
    });
    let first = store.instances(None, None).await.unwrap()[0].last_checkin_ms;
    wait_until("a check-in during the stop", || {
        let s = store.clone();
        async move { s.instances(None, None).await.unwrap().first().is_some_and(|i| i.last_checkin_ms > first) }
    })
    .await;
    stopping.await.unwrap();
    assert!(store.instances(None, None).await.unwrap().is_empty(), "left the cluster after its runs");
    let runs = all_runs(store.as_ref()).await;
    assert_eq!(runs.iter().map(|r| r.state).collect::<Vec<_>>(), [RunState::Succeeded]);
}

/// Regression test for a busy instance failed over while alive: adopting a failed instance's
/// run waited for a free run slot inside the loop that also checked in, so with every slot
/// taken the instance went silent and the others declared it failed. An observer checking
/// in beside it must never see it failed while it adopts a run behind a busy slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_instance_keeps_checking_in_while_it_adopts_runs() {
    let dir = tempfile::tempdir().unwrap();
    let apps = dir.path().join("apps");
    std::fs::create_dir(&apps).unwrap();
    let store = consort_store::open(&format!("sqlite://{}", dir.path().join("c.db").display())).await.unwrap();
    let now = now_ms();
    // A failed instance's run that the `external` kind can re-attach to.
    let ext = Job::new(JobKey::in_default_group("ext").unwrap(), "external");
    let once = Trigger::new(TriggerKey::in_default_group("ext").unwrap(), ext.key().clone(), Schedule::once(), now);
    store.put_job(&ext, &[once], false, now).await.unwrap();
    store.check_in("ghost", "boot-ghost", now, 300, 700).await.unwrap();
    let request = consort_scheduler::CycleRequest {
        instance: "ghost".into(),
        now_ms: now,
        max_fires: 1,
        acquire_ahead_ms: 0,
        misfire_threshold_ms: 60_000,
        max_misfires: 0,
        completions: vec![],
    };
    let run = store.cycle(request).await.unwrap().fired[0].run_id;
    let app = apps.join(format!("app-{run}"));
    std::fs::write(&app, (now + 500).to_string()).unwrap();
    store.report_run(run, Some("app"), Some(&format!("ext:{}", app.display()))).await.unwrap();

    // The only run slot is busy for 4 s when the ghost is found failed (1 s after its check-in).
    let mut kinds = Kinds::builtin();
    kinds.register(Arc::new(ExternalKind { dir: apps.clone(), millis: 0 }));
    let mut cfg = config("busy");
    cfg.max_running = 1;
    let busy = Scheduler::new(store.clone(), kinds, cfg);
    let hog = Job::new(JobKey::in_default_group("hog").unwrap(), "command")
        .with_durable(true)
        .with_data(data(json!({"program": "/bin/sleep", "args": ["4"]})));
    busy.create_job(&hog, &[]).await.unwrap();
    busy.start().await.unwrap();
    busy.fire_now(hog.key(), DataMap::new()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        assert!(Instant::now() < deadline, "the adopted run and the hog never ended");
        let failed = store.check_in("observer", "boot-observer", now_ms(), 300, 700).await.unwrap();
        assert!(!failed.contains(&"busy".to_string()), "the busy instance looked failed: {failed:?}");
        let ended = store.get_run(run).await.unwrap().unwrap().state.is_final();
        let hogged = store.list_runs(&RunFilter { job: Some(hog.key().clone()), ..Default::default() }).await.unwrap();
        if ended && hogged.first().is_some_and(|r| r.state.is_final()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    store.leave("observer").await.unwrap();
    busy.stop().await.unwrap();
    let adopted = store.get_run(run).await.unwrap().unwrap();
    assert_eq!((adopted.state, adopted.instance.as_str()), (RunState::Succeeded, "busy"));
}
