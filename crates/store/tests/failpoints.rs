//! Fail points (the `failpoints` feature, on in this crate's tests) at every step between
//! acquiring a trigger and recording a run's end: whichever step fails, on SQLite and on
//! PostgreSQL, no fire is lost or doubled, no run executes twice, and every run ends.
//! One test runs the whole matrix: fail points are global to the process.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use consort_scheduler::{
    CycleRequest, Job, JobKey, JobKind, Kinds, MisfireInstruction, Outcome, RunContext, RunState, Schedule, Scheduler,
    SchedulerConfig, Store, Trigger, TriggerKey, system_clock,
};

use common::{Pg, all_runs, lost_and_doubled};

const POINTS: &[&str] = &[
    "none",
    "scheduler::check_in",
    "scheduler::recover",
    "scheduler::before_execute",
    "scheduler::after_execute",
    "store::check_in",
    "store::recover",
    "store::cycle::complete_runs",
    "store::cycle::acquire",
    "store::cycle::insert_runs",
    "store::cycle::end",
    "store::cycle::after_commit",
];

/// Counts executions per run id: a run executed twice is a doubled application.
#[derive(Debug, Default)]
struct CountingKind(Mutex<HashMap<i64, usize>>);

#[async_trait]
impl JobKind for CountingKind {
    fn name(&self) -> &str {
        "counting"
    }

    async fn execute(&self, context: RunContext) -> Outcome {
        *self.0.lock().unwrap().entry(context.run_id).or_default() += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
        Outcome::succeeded()
    }
}

fn now_ms() -> i64 {
    system_clock()()
}

fn config(id: &str) -> SchedulerConfig {
    let mut c = SchedulerConfig::new(id);
    c.checkin_interval_ms = 200;
    c.failure_grace_ms = 400;
    c.idle_wait_ms = 50;
    c.completion_flush_ms = 20;
    c.stop_timeout_ms = 10_000;
    c
}

async fn scenario(store: Arc<dyn Store>, point: &str) {
    let counting = Arc::new(CountingKind::default());
    let mut kinds = Kinds::builtin();
    kinds.register(counting.clone());
    let now = now_ms();
    let mut expected: HashMap<String, Vec<i64>> = HashMap::new();
    for (j, non_concurrent) in [("plain", false), ("serial", true)] {
        let job = Job::new(JobKey::in_default_group(j).unwrap(), "counting").with_non_concurrent(non_concurrent);
        let triggers: Vec<Trigger> = (0..3)
            .map(|i| {
                Trigger::new(
                    TriggerKey::new(j, format!("{j}{i}")).unwrap(),
                    job.key().clone(),
                    Schedule::simple(Some(3), 250).unwrap(),
                    now + 300 + i,
                )
                .with_misfire(MisfireInstruction::Ignore)
            })
            .collect();
        for t in &triggers {
            expected.insert(t.key().name().to_string(), (0..4).map(|k| t.start_ms() + k * 250).collect());
        }
        store.put_job(&job, &triggers, false, now).await.unwrap();
    }
    // A dead instance that was executing a run of a job requesting recovery: the recovery
    // steps run too.
    let ghost_job = Job::new(JobKey::in_default_group("ghostly").unwrap(), "counting").with_requests_recovery(true);
    let ghost_trigger =
        Trigger::new(TriggerKey::in_default_group("ghostly").unwrap(), ghost_job.key().clone(), Schedule::once(), now);
    expected.insert("ghostly".into(), vec![now]);
    store.put_job(&ghost_job, std::slice::from_ref(&ghost_trigger), false, now).await.unwrap();
    store.check_in("ghost", "boot-ghost", now - 10_000, 200, 400).await.unwrap();
    let request = CycleRequest {
        instance: "ghost".into(),
        now_ms: now,
        max_fires: 10,
        acquire_ahead_ms: 0,
        misfire_threshold_ms: 60_000,
        max_misfires: 0,
        completions: vec![],
    };
    let ghost_run = store.cycle(request).await.unwrap().fired[0].run_id;

    let before = consort_scheduler::failpoint::injected_count(point);
    if point != "none" {
        fail::cfg(point, "3*return").unwrap();
    }
    let sched = Scheduler::new(store.clone(), kinds, config("a"));
    sched.start().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let runs = all_runs(store.as_ref()).await;
        let refired = runs.iter().any(|r| r.recovers_run == Some(ghost_run) && r.state.is_final());
        if refired && lost_and_doubled(&expected, &runs).0 == 0 && runs.iter().all(|r| r.state.is_final()) {
            break;
        }
        assert!(Instant::now() < deadline, "{point}: the runs never all ended: {runs:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sched.stop().await.unwrap();
    fail::remove(point);
    if point != "none" {
        let injected = consort_scheduler::failpoint::injected_count(point);
        assert!(injected >= before + 3, "{point}: reached {} times, not 3", injected - before);
    }

    let runs = all_runs(store.as_ref()).await;
    assert_eq!(lost_and_doubled(&expected, &runs), (0, 0), "{point}: lost and doubled fires");
    let executions = counting.0.lock().unwrap().clone();
    for run in &runs {
        let n = executions.get(&run.id).copied().unwrap_or(0);
        assert!(run.state.is_final(), "{point}: run {} never ended: {run:?}", run.id);
        assert!(n <= 1, "{point}: run {} executed {n} times", run.id);
        if run.state == RunState::Succeeded {
            assert_eq!(n, 1, "{point}: run {} succeeded without executing here", run.id);
        }
    }
    let ghost = runs.iter().find(|r| r.id == ghost_run).unwrap();
    assert_eq!(ghost.state, RunState::Abandoned, "{point}");
    let refires = runs.iter().filter(|r| r.recovers_run == Some(ghost_run)).count();
    assert_eq!(refires, 1, "{point}: the abandoned run was re-fired {refires} times");
    assert!(store.instances(None, None).await.unwrap().is_empty(), "{point}: left the cluster");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_may_fail_without_losing_or_doubling_a_fire() {
    let pg = Pg::start();
    for point in POINTS {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = consort_store::open(&format!("sqlite://{}", dir.path().join("c.db").display())).await.unwrap();
        eprintln!("fail point {point}: sqlite");
        scenario(sqlite, point).await;
        eprintln!("fail point {point}: postgres");
        scenario(consort_store::open(&pg.fresh_db().await).await.unwrap(), point).await;
    }
}
