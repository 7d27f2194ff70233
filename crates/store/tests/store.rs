//! Store-level scenarios with injected time, each run against SQLite and a real PostgreSQL:
//! firing, misfires after downtime, pause/resume, non-concurrency across instances, recovery
//! of a dead instance, migrations.

mod common;

use std::sync::{Arc, OnceLock};

use consort_scheduler::{
    Adoption, Completion, CycleOutcome, CycleRequest, Job, JobFilter, JobKey, MisfireInstruction, MoveCursor, Outcome,
    RECOVERING_GROUP, Run, RunFilter, RunHistoryBucket, RunMove, RunState, Schedule, Selector, Store, StoreError,
    Trigger, TriggerFilter, TriggerKey, TriggerState,
};

use common::Pg;

// 2026-01-01T00:00:00Z
const T0: i64 = 1_767_225_600_000;
const MIN: i64 = 60_000;

static PG: OnceLock<Pg> = OnceLock::new();

async fn sqlite() -> Arc<dyn Store> {
    consort_store::open("sqlite::memory:").await.unwrap()
}

async fn postgres() -> Arc<dyn Store> {
    let url = PG.get_or_init(Pg::start).fresh_db().await;
    consort_store::open(&url).await.unwrap()
}

macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test]
            async fn sqlite() {
                super::$scenario(super::sqlite().await).await;
            }
            #[tokio::test]
            async fn postgres() {
                super::$scenario(super::postgres().await).await;
            }
        }
    )*};
}

on_both_backends!(
    fires_and_keeps_history,
    misfires_after_downtime,
    pause_and_resume_by_key_and_group,
    misfired_non_concurrent_job_never_starts_on_a_second_instance,
    dead_instance_is_recovered,
    resumable_runs_are_adopted_not_abandoned,
    lists_are_pages_in_key_order_filtered_in_the_query,
    count_retention_keeps_each_jobs_newest_ended_runs_in_bounded_batches,
    age_retention_keeps_latest_and_executing_runs_in_bounded_batches,
    spent_simple_triggers_are_removed_after_their_grace_and_active_ones_stay,
    run_history_is_counted_per_bucket_and_state_in_the_query,
    a_cycle_holds_only_what_its_slots_leave_after_its_fires,
    ended_runs_move_to_the_history_in_job_order_and_read_the_same,
);

fn jk(name: &str) -> JobKey {
    JobKey::in_default_group(name).unwrap()
}

fn tk(group: &str, name: &str) -> TriggerKey {
    TriggerKey::new(group, name).unwrap()
}

fn every_minute(key: TriggerKey, job: &JobKey) -> Trigger {
    Trigger::new(key, job.clone(), Schedule::cron("0 * * * * ?", "UTC").unwrap(), T0)
}

fn request(instance: &str, now: i64, completions: Vec<Completion>) -> CycleRequest {
    CycleRequest {
        instance: instance.into(),
        now_ms: now,
        max_fires: 1000,
        acquire_ahead_ms: 0,
        misfire_threshold_ms: MIN,
        max_misfires: 100,
        completions,
    }
}

async fn cycle(store: &dyn Store, instance: &str, now: i64) -> CycleOutcome {
    store.cycle(request(instance, now, vec![])).await.unwrap()
}

fn done(outcome: &CycleOutcome, ended: i64) -> Vec<Completion> {
    outcome
        .fired
        .iter()
        .map(|f| Completion {
            run_id: f.run_id,
            job: f.job.key().clone(),
            non_concurrent: f.job.non_concurrent(),
            ended_ms: ended,
            outcome: Outcome::succeeded(),
            error_trigger: None,
        })
        .collect()
}

async fn state(store: &dyn Store, key: &TriggerKey) -> TriggerState {
    store.get_trigger(key).await.unwrap().unwrap().state
}

async fn fires_and_keeps_history(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let job = Job::new(jk("report"), "noop").with_description("nightly report");
    let err = s.put_job(&job, &[], false, T0).await.unwrap_err();
    assert!(matches!(err, StoreError::NotDurable(_)), "{err}");

    let cron = every_minute(tk("g", "cron"), job.key());
    let simple = Trigger::new(tk("g", "simple"), jk("report"), Schedule::simple(Some(2), 1000).unwrap(), T0 + 500);
    s.put_job(&job, &[cron.clone(), simple.clone()], false, T0).await.unwrap();
    assert!(matches!(s.put_job(&job, &[], false, T0).await, Err(StoreError::JobExists(_))));
    assert!(matches!(s.put_trigger(&cron, false, T0).await, Err(StoreError::TriggerExists(_))));
    let t = s.get_trigger(cron.key()).await.unwrap().unwrap();
    assert_eq!((t.state, t.next_fire_ms), (TriggerState::Waiting, Some(T0)));
    assert_eq!(t.trigger, cron);

    let out = cycle(s, "a", T0 - 1).await;
    assert!(out.fired.is_empty());
    assert_eq!(out.next_fire_ms, Some(T0));
    let first = cycle(s, "a", T0).await;
    assert_eq!(first.fired.len(), 1);
    assert_eq!((first.fired[0].scheduled_ms, first.fired[0].trigger.name()), (T0, "cron"));
    assert_eq!(state(s, cron.key()).await, TriggerState::Executing);
    assert_eq!(listed(s, TriggerState::Executing).await, ["g.cron"]);
    assert_eq!(listed(s, TriggerState::Waiting).await, ["g.simple"]);
    let second = s.cycle(request("a", T0 + 600, done(&first, T0 + 550))).await.unwrap();
    assert_eq!(second.fired.len(), 1);
    assert_eq!(second.fired[0].scheduled_ms, T0 + 500);
    let t = s.get_trigger(cron.key()).await.unwrap().unwrap();
    assert_eq!(
        (t.state, t.prev_fire_ms, t.next_fire_ms, t.times_triggered),
        (TriggerState::Waiting, Some(T0), Some(T0 + MIN), 1)
    );

    let status = s.get_job(job.key()).await.unwrap().unwrap();
    assert_eq!(status.last_run_state, Some(RunState::Executing), "the latest run is the simple trigger's");
    s.cycle(request("a", T0 + 700, done(&second, T0 + 650))).await.unwrap();
    let status = s.get_job(job.key()).await.unwrap().unwrap();
    assert_eq!(status.last_run_state, Some(RunState::Succeeded));
    assert_eq!(status.job, job);

    let runs = s.list_runs(&RunFilter { job: Some(jk("report")), ..Default::default() }).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs[0].id > runs[1].id, "newest first");
    let run = s.get_run(runs[1].id).await.unwrap().unwrap();
    assert_eq!((run.scheduled_ms, run.fired_ms, run.ended_ms, run.instance.as_str()), (T0, T0, Some(T0 + 550), "a"));
    assert_eq!(run.duration_ms(), Some(550));
    s.report_run(runs[0].id, Some("app-1"), Some("file:///log")).await.unwrap();
    let run = s.get_run(runs[0].id).await.unwrap().unwrap();
    assert_eq!((run.application_id.as_deref(), run.log_location.as_deref()), (Some("app-1"), Some("file:///log")));

    // The simple trigger completes after its third fire.
    let mut now = T0 + 1500;
    for _ in 0..2 {
        let out = cycle(s, "a", now).await;
        assert_eq!(out.fired.len(), 1);
        now += 1000;
    }
    assert_eq!(state(s, simple.key()).await, TriggerState::Complete);

    let in_group = TriggerFilter { group: Some("g".into()), ..Default::default() };
    assert_eq!(s.list_triggers(&in_group).await.unwrap().len(), 2);
    let of_other = TriggerFilter { job: Some(jk("other")), ..Default::default() };
    assert_eq!(s.list_triggers(&of_other).await.unwrap().len(), 0);
    assert!(s.delete_trigger(cron.key()).await.unwrap());
    assert!(s.get_job(job.key()).await.unwrap().is_some(), "still has a trigger");
    assert!(s.delete_trigger(simple.key()).await.unwrap());
    assert!(s.get_job(job.key()).await.unwrap().is_none(), "non-durable job goes with its last trigger");
    assert!(!s.delete_trigger(simple.key()).await.unwrap());
    assert_eq!(s.list_runs(&RunFilter::default()).await.unwrap().len(), 4, "history stays");
}

async fn misfires_after_downtime(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let instructions = [
        ("smart", MisfireInstruction::Smart),
        ("once", MisfireInstruction::FireOnceNow),
        ("nothing", MisfireInstruction::DoNothing),
        ("ignore", MisfireInstruction::Ignore),
    ];
    for (name, m) in instructions {
        let job = Job::new(jk(name), "noop");
        s.put_job(&job, &[every_minute(tk("m", name), job.key()).with_misfire(m)], false, T0).await.unwrap();
    }
    let job = Job::new(jk("simple"), "noop");
    let simple = Trigger::new(tk("m", "simple"), jk("simple"), Schedule::simple(None, 10_000).unwrap(), T0);
    s.put_job(&job, &[simple], false, T0).await.unwrap();

    // Down for an hour: the first cycle comes at T0 + 1 h + 5 s.
    let now = T0 + 60 * MIN + 5000;
    let mut fired = vec![];
    let mut misfired = vec![];
    let mut at = now;
    loop {
        let out = cycle(s, "a", at).await;
        if out.fired.is_empty() && out.misfires_handled == 0 {
            break;
        }
        fired.extend(out.fired.into_iter().map(|f| (f.trigger.name().to_string(), f.scheduled_ms)));
        misfired.extend(out.misfired);
        at += 1;
    }
    // Each misfire applied is reported once, with the fire time it missed (alerts say so).
    let mut reported: Vec<(&str, &str, i64)> =
        misfired.iter().map(|m| (m.trigger.name(), m.job.name(), m.missed_ms)).collect();
    reported.sort();
    assert_eq!(
        reported,
        [("nothing", "nothing", T0), ("once", "once", T0), ("simple", "simple", T0), ("smart", "smart", T0)]
    );
    let nothing = misfired.iter().find(|m| m.trigger.name() == "nothing").unwrap();
    assert_eq!(nothing.next_fire_ms, Some(T0 + 61 * MIN));
    let of = |n: &str| fired.iter().filter(|(t, _)| t == n).map(|(_, s)| *s).collect::<Vec<_>>();
    assert_eq!(of("smart"), [now], "smart = fire once now for cron");
    assert_eq!(of("once"), [now]);
    assert!(of("nothing").is_empty());
    assert_eq!(of("ignore"), (0..=60).map(|k| T0 + k * MIN).collect::<Vec<_>>(), "ignore fires every missed time");
    assert!(of("simple").is_empty(), "forever-repeating simple skips to its next slot");
    let next = |n: &'static str| async move { s.get_trigger(&tk("m", n)).await.unwrap().unwrap().next_fire_ms };
    assert_eq!(next("smart").await, Some(T0 + 61 * MIN));
    assert_eq!(next("nothing").await, Some(T0 + 61 * MIN));
    assert_eq!(next("ignore").await, Some(T0 + 61 * MIN));
    assert_eq!(next("simple").await, Some(T0 + 3_610_000));
    let t = s.get_trigger(&tk("m", "simple")).await.unwrap().unwrap();
    assert_eq!(t.times_triggered, 361, "missed fires count as used");
}

async fn pause_and_resume_by_key_and_group(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let job = Job::new(jk("p"), "noop").with_durable(true);
    let t1 = every_minute(tk("g1", "t1"), job.key());
    let t2 = every_minute(tk("g1", "t2"), job.key());
    let t3 = every_minute(tk("g2", "t3"), job.key());
    s.put_job(&job, &[t1.clone(), t2.clone(), t3.clone()], false, T0).await.unwrap();

    assert_eq!(s.pause(&Selector::Trigger(t1.key().clone())).await.unwrap(), 1);
    assert_eq!(state(s, t1.key()).await, TriggerState::Paused);
    let out = cycle(s, "a", T0).await;
    let mut names: Vec<_> = out.fired.iter().map(|f| f.trigger.name().to_string()).collect();
    names.sort();
    assert_eq!(names, ["t2", "t3"]);
    s.cycle(request("a", T0 + 1, done(&out, T0 + 1))).await.unwrap();

    assert_eq!(s.pause(&Selector::TriggerGroup("g2".into())).await.unwrap(), 1);
    let t4 = every_minute(tk("g2", "t4"), job.key());
    assert_eq!(s.put_trigger(&t4, false, T0).await.unwrap().state, TriggerState::Paused, "paused group");
    assert_eq!(s.resume(&Selector::TriggerGroup("g2".into())).await.unwrap(), 2);
    assert_eq!(state(s, t4.key()).await, TriggerState::Waiting);

    assert_eq!(s.pause(&Selector::Job(job.key().clone())).await.unwrap(), 3, "t1 was paused already");
    assert!(cycle(s, "a", T0 + MIN).await.fired.is_empty());
    assert_eq!(s.pause(&Selector::JobGroup("DEFAULT".into())).await.unwrap(), 0);
    // Resumed 10 minutes late: each trigger is handled by its (smart) misfire instruction.
    assert_eq!(s.resume(&Selector::Job(job.key().clone())).await.unwrap(), 4);
    let late = T0 + 10 * MIN + 7;
    let out = cycle(s, "a", late).await;
    assert_eq!(out.fired.len(), 4);
    assert!(out.fired.iter().all(|f| f.scheduled_ms == late), "fired once, now");
    assert!(matches!(s.pause(&Selector::Trigger(tk("g9", "none"))).await, Err(StoreError::TriggerNotFound(_))));
    assert!(matches!(s.resume(&Selector::Job(jk("none"))).await, Err(StoreError::JobNotFound(_))));
}

/// The keys of the triggers listed with state filter `state`.
async fn listed(s: &dyn Store, state: TriggerState) -> Vec<String> {
    let filter = TriggerFilter { state: Some(state), ..Default::default() };
    s.list_triggers(&filter).await.unwrap().iter().map(|t| t.trigger.key().to_string()).collect()
}

async fn misfired_non_concurrent_job_never_starts_on_a_second_instance(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let job = Job::new(jk("nc"), "noop").with_non_concurrent(true);
    let a = every_minute(tk("g", "a"), job.key());
    let b = Trigger::new(tk("g", "b"), jk("nc"), Schedule::once(), T0 + 30_000);
    s.put_job(&job, &[a.clone(), b.clone()], false, T0).await.unwrap();

    // Instance one starts a long run at T0.
    let first = cycle(s, "one", T0).await;
    assert_eq!(first.fired.len(), 1);
    assert_eq!(state(s, b.key()).await, TriggerState::Blocked);
    // The state filter lists the derived state (stored WAITING or ACQUIRED, job executing).
    assert_eq!(listed(s, TriggerState::Blocked).await, ["g.a", "g.b"]);
    assert!(listed(s, TriggerState::Waiting).await.is_empty());
    assert_eq!(s.get_job(job.key()).await.unwrap().unwrap().executing_run, Some(first.fired[0].run_id));

    // Minutes later `b` has misfired (smart: fire now) and `a` is due; instance two must
    // start neither while the run executes on instance one.
    for k in 2..6 {
        let out = cycle(s, "two", T0 + k * MIN).await;
        assert!(out.fired.is_empty(), "fired {:?} while the job runs elsewhere", out.fired);
    }
    assert_eq!(state(s, b.key()).await, TriggerState::Blocked);

    // Run ends; from then on exactly one run at a time, alternating instances (each reports
    // its own runs' completions in its next cycle).
    let mut pending: std::collections::HashMap<&str, Vec<Completion>> = Default::default();
    pending.insert("one", done(&first, T0 + 6 * MIN));
    let mut fired = vec![];
    let mut now = T0 + 6 * MIN;
    for step in 0..8 {
        let instance = if step % 2 == 0 { "one" } else { "two" };
        let completions = pending.remove(instance).unwrap_or_default();
        let out = s.cycle(request(instance, now, completions)).await.unwrap();
        assert!(out.fired.len() <= 1, "two runs of a non-concurrent job in one batch");
        let executing = s
            .list_runs(&RunFilter { job: Some(jk("nc")), state: Some(RunState::Executing), ..Default::default() })
            .await
            .unwrap();
        assert!(executing.len() <= 1, "{executing:?}");
        fired.extend(out.fired.iter().map(|f| f.trigger.name().to_string()));
        pending.insert(instance, done(&out, now + 1));
        now += 1000;
    }
    assert!(fired.contains(&"b".to_string()), "b fired once the job was free: {fired:?}");
    assert_eq!(fired.iter().filter(|n| *n == "b").count(), 1);
}

/// Triggers held ahead of their time (ACQUIRED) can only be fired by their holder: a cycle
/// holds no more than the run slots its own fires leave, and what it holds it fires at their
/// time while another instance finds nothing to take.
async fn a_cycle_holds_only_what_its_slots_leave_after_its_fires(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let job = Job::new(jk("j"), "noop");
    let at = |name: &str, ms: i64| Trigger::new(tk("g", name), jk("j"), Schedule::once(), ms);
    let set = [at("now-1", T0), at("now-2", T0), at("soon-1", T0 + 30), at("soon-2", T0 + 40)];
    s.put_job(&job, &set, false, T0 - MIN).await.unwrap();

    // Two slots, both used by the triggers due now: nothing is held.
    let mut req = request("a", T0, vec![]);
    req.max_fires = 2;
    req.acquire_ahead_ms = 100;
    let out = s.cycle(req).await.unwrap();
    let mut fired: Vec<String> = out.fired.iter().map(|f| f.trigger.name().to_string()).collect();
    fired.sort();
    assert_eq!(fired, ["now-1", "now-2"]);
    for name in ["soon-1", "soon-2"] {
        assert_eq!(state(s, &tk("g", name)).await, TriggerState::Waiting, "{name} held without a slot");
    }
    assert_eq!(out.next_fire_ms, Some(T0), "a full cycle is followed at once: its next fire time is not read");

    // One slot and nothing due: one of the two is held, the earlier, for its time.
    let mut req = request("a", T0 + 1, vec![]);
    req.max_fires = 1;
    req.acquire_ahead_ms = 100;
    let out = s.cycle(req).await.unwrap();
    assert!(out.fired.is_empty());
    assert_eq!(state(s, &tk("g", "soon-1")).await, TriggerState::Acquired);
    assert_eq!(state(s, &tk("g", "soon-2")).await, TriggerState::Waiting);
    assert_eq!(out.next_fire_ms, Some(T0 + 30));

    // At its time another instance cannot take it; its holder fires it, then the other one.
    assert!(cycle(s, "b", T0 + 30).await.fired.is_empty(), "a trigger held by a fired elsewhere");
    let out = cycle(s, "a", T0 + 30).await;
    assert_eq!(out.fired.iter().map(|f| f.trigger.name()).collect::<Vec<_>>(), ["soon-1"]);
    assert_eq!(out.fired[0].fired_ms - out.fired[0].scheduled_ms, 0);
    let out = cycle(s, "b", T0 + 40).await;
    assert_eq!(out.fired.iter().map(|f| f.trigger.name()).collect::<Vec<_>>(), ["soon-2"]);
}

async fn dead_instance_is_recovered(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let slow = Job::new(jk("slow"), "noop").with_requests_recovery(true);
    let plain = Job::new(jk("plain"), "noop");
    let soon = Trigger::new(tk("g", "soon"), jk("slow"), Schedule::once(), T0);
    let plain_now = Trigger::new(tk("g", "plain-now"), jk("plain"), Schedule::once(), T0);
    let later = Trigger::new(tk("g", "later"), jk("plain"), Schedule::once(), T0 + 5000);
    s.put_job(&slow, std::slice::from_ref(&soon), false, T0).await.unwrap();
    s.put_job(&plain, &[plain_now, later.clone()], false, T0).await.unwrap();

    s.check_in("x", "boot-x", T0, 1000, 1000).await.unwrap();
    let mut req = request("x", T0, vec![]);
    req.acquire_ahead_ms = 10_000;
    let out = s.cycle(req).await.unwrap();
    assert_eq!(out.fired.len(), 2);
    assert_eq!(state(s, later.key()).await, TriggerState::Acquired);
    let slow_run = out.fired.iter().find(|f| f.job.key() == slow.key()).unwrap().run_id;

    // x dies. y checks in 3 s later and finds it failed.
    let failed = s.check_in("y", "boot-y", T0 + 3000, 1000, 1000).await.unwrap();
    assert_eq!(failed, ["x"]);
    let none = Adoption::default();
    let r = s.recover("x", &none, T0 + 3000, 1000).await.unwrap();
    assert_eq!((r.released_triggers, r.abandoned_runs, r.recovery_triggers), (1, 2, 1));
    assert_eq!(s.recover("x", &none, T0 + 3000, 1000).await.unwrap().abandoned_runs, 0, "idempotent");
    assert_eq!(state(s, later.key()).await, TriggerState::Waiting);
    let abandoned = s.get_run(slow_run).await.unwrap().unwrap();
    assert_eq!(abandoned.state, RunState::Abandoned);
    assert!(abandoned.error.unwrap().contains("re-fires"));
    assert_eq!(s.instances(None, None).await.unwrap().iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["y"]);

    // y re-fires the slow job's run at its original scheduled time, then the released trigger.
    let out = cycle(s, "y", T0 + 3001).await;
    assert_eq!(out.fired.len(), 1);
    let refire = s.get_run(out.fired[0].run_id).await.unwrap().unwrap();
    assert_eq!((refire.recovers_run, refire.scheduled_ms, refire.job.name()), (Some(slow_run), T0, "slow"));
    assert_eq!(out.fired[0].data["QRTZ_FAILED_JOB_ORIG_TRIGGER_NAME"], "soon");
    let out = cycle(s, "y", T0 + 5000).await;
    assert_eq!(out.fired.iter().map(|f| f.trigger.name()).collect::<Vec<_>>(), ["later"]);

    // x's late completion changes nothing; an orphan (no check-in row) counts as failed.
    let late = Completion {
        run_id: slow_run,
        job: slow.key().clone(),
        non_concurrent: false,
        ended_ms: T0 + 6000,
        outcome: Outcome::succeeded(),
        error_trigger: None,
    };
    s.cycle(request("x", T0 + 6000, vec![late])).await.unwrap();
    assert_eq!(s.get_run(slow_run).await.unwrap().unwrap().state, RunState::Abandoned);
    s.leave("x").await.unwrap();
    assert_eq!(s.check_in("y", "boot-y", T0 + 7000, 1000, 1000).await.unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn sqlite_migrations_are_checksummed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let url = format!("sqlite://{}", path.display());
    let store = consort_store::open(&url).await.unwrap();
    store.put_job(&Job::new(jk("keep"), "noop").with_durable(true), &[], false, T0).await.unwrap();
    drop(store);
    let store = consort_store::open(&url).await.unwrap();
    assert!(store.get_job(&jk("keep")).await.unwrap().is_some(), "reopened with its data");
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE consort_migrations SET checksum = 'edited'", []).unwrap();
    drop(conn);
    let err = consort_store::open(&url).await.unwrap_err().to_string();
    assert!(err.contains("never edit an applied migration"), "{err}");
    let err = consort_store::open("mysql://x").await.unwrap_err().to_string();
    assert!(err.contains("sqlite://"), "{err}");
}

/// A file database reads on its own connections: lists and gets answer while another
/// connection holds the write lock (as a firing cycle does), from the last committed state, and
/// see every commit made before they start.
#[tokio::test]
async fn sqlite_file_reads_answer_beside_a_held_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let url = format!("sqlite://{}", path.display());
    let store = consort_store::open(&url).await.unwrap();
    // The scenarios on the read connections: each read right after the write it checks.
    fires_and_keeps_history(store.clone()).await;
    lists_are_pages_in_key_order_filtered_in_the_query(store.clone()).await;

    let writer = rusqlite::Connection::open(&path).unwrap();
    writer.execute_batch("BEGIN IMMEDIATE; DELETE FROM consort_triggers; DELETE FROM consort_jobs;").unwrap();
    let jobs = store.list_jobs(&JobFilter::default()).await.unwrap();
    assert_eq!(jobs.len(), 5, "the committed jobs, not the held transaction's deletes");
    assert!(store.get_job(&JobKey::new("a", "1").unwrap()).await.unwrap().is_some());
    assert_eq!(store.list_triggers(&TriggerFilter::default()).await.unwrap().len(), 4);
    assert!(!store.list_runs(&RunFilter::default()).await.unwrap().is_empty());
    writer.execute_batch("ROLLBACK").unwrap();

    // With no read connections, reads share the writer and still see everything.
    drop(store);
    let stores = consort_store::open_all_with(&url, Some(0)).await.unwrap();
    assert_eq!(stores.scheduler.list_jobs(&JobFilter::default()).await.unwrap().len(), 5);
}

#[tokio::test]
async fn postgres_migrations_are_checksummed() {
    let url = PG.get_or_init(Pg::start).fresh_db().await;
    let store = consort_store::open(&url).await.unwrap();
    drop(store);
    let client = common::pg_client(&url).await;
    // Migration 10: the tables a fire writes leave room on each page for new row versions
    // (not the run history, whose rows are appended) and are vacuumed at 2% dead; migration 11
    // gives the executing runs' table the same, and migration 12 room for their updates in place.
    let tables = [
        ("consort_triggers", Some("80")),
        ("consort_jobs", Some("80")),
        ("consort_runs", None),
        ("consort_recent_runs", Some("70")),
    ];
    for (table, fillfactor) in tables {
        let options: Vec<String> = client
            .query_one("SELECT reloptions FROM pg_class WHERE relname = $1", &[&table])
            .await
            .unwrap()
            .get::<_, Option<Vec<String>>>(0)
            .unwrap_or_default();
        let found = options.iter().find_map(|o| o.strip_prefix("fillfactor="));
        assert_eq!(found, fillfactor, "{table}: {options:?}");
        assert!(options.iter().any(|o| o.starts_with("autovacuum_vacuum_scale_factor=")), "{table}: {options:?}");
    }
    client.batch_execute("INSERT INTO consort_migrations VALUES (99, 'future', 'x', 0)").await.unwrap();
    let err = consort_store::open(&url).await.unwrap_err().to_string();
    assert!(err.contains("upgrade consort"), "{err}");
}

mod model_based {
    //! Random interleavings of two instances' cycles, clock steps and run completions over
    //! random simple triggers (misfire: ignore) on one store: every scheduled fire happens
    //! exactly once and a non-concurrent job never has two runs executing.

    use std::collections::HashMap;

    use consort_scheduler::fire::{FireStatus, after_fire, first_fire};
    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Step {
        Cycle { instance: usize, advance_ms: i64, batch: usize },
        Finish { instance: usize },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (0..2usize, 0..400i64, 1..6usize).prop_map(|(instance, advance_ms, batch)| Step::Cycle { instance, advance_ms, batch }),
            1 => (0..2usize).prop_map(|instance| Step::Finish { instance }),
        ]
    }

    fn expected(trigger: &Trigger) -> Vec<i64> {
        let mut out = vec![];
        let mut status = FireStatus { next_fire_ms: first_fire(trigger), times_triggered: 0 };
        while let Some(at) = status.next_fire_ms {
            out.push(at);
            status = after_fire(trigger, at, status);
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn every_fire_exactly_once_and_never_concurrently(
            specs in proptest::collection::vec((0..3u32, 50..500i64, 0..300i64, any::<bool>()), 1..6),
            steps in proptest::collection::vec(step(), 1..60),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let store = sqlite().await;
                let s = store.as_ref();
                let mut want: HashMap<String, Vec<i64>> = HashMap::new();
                for (i, (repeats, interval, offset, non_concurrent)) in specs.iter().enumerate() {
                    let job = Job::new(jk(&format!("j{i}")), "noop").with_non_concurrent(*non_concurrent);
                    let t = Trigger::new(tk("m", &format!("t{i}")), job.key().clone(),
                        Schedule::simple(Some(*repeats), *interval).unwrap(), T0 + offset)
                        .with_misfire(MisfireInstruction::Ignore);
                    want.insert(format!("t{i}"), expected(&t));
                    s.put_job(&job, &[t], false, T0).await.unwrap();
                }
                let ids = ["a", "b"];
                let mut now = T0;
                let mut running: [Vec<Completion>; 2] = [vec![], vec![]];
                let mut finished: [Vec<Completion>; 2] = [vec![], vec![]];
                let drain = steps.iter().cloned().chain((0..400).map(|k| {
                    if k % 3 == 2 { Step::Finish { instance: k % 2 } } else { Step::Cycle { instance: k % 2, advance_ms: 50, batch: 10 } }
                }));
                for step in drain {
                    match step {
                        Step::Finish { instance } => {
                            let done = std::mem::take(&mut running[instance]);
                            finished[instance].extend(done);
                        }
                        Step::Cycle { instance, advance_ms, batch } => {
                            now += advance_ms;
                            let mut req = request(ids[instance], now, std::mem::take(&mut finished[instance]));
                            req.max_fires = batch;
                            req.acquire_ahead_ms = 100;
                            let out = s.cycle(req).await.unwrap();
                            running[instance].extend(done(&out, now));
                            let executing = s.list_runs(&RunFilter { state: Some(RunState::Executing), limit: 10_000, ..Default::default() }).await.unwrap();
                            for (i, (_, _, _, nc)) in specs.iter().enumerate() {
                                if *nc {
                                    let n = executing.iter().filter(|r| r.job.name() == format!("j{i}")).count();
                                    assert!(n <= 1, "job j{i} has {n} runs executing");
                                }
                            }
                        }
                    }
                }
                let runs = common::all_runs(s).await;
                assert_eq!(common::lost_and_doubled(&want, &runs), (0, 0));
            });
        }
    }
}

/// Regression test for two survivors recovering one failed instance at once (PostgreSQL):
/// the abandon statement did not check the run's owner, so a survivor could abandon a run
/// the other had just adopted, unblock its non-concurrent job and insert a recovery
/// trigger — a second application. Now one survivor claims the instance; every run ends
/// exactly once adopted or abandoned, whether the failed instance left a check-in row or
/// only its runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_survivors_racing_recovery_end_each_run_exactly_once() {
    let url = PG.get_or_init(Pg::start).fresh_db().await;
    let a = consort_store::open(&url).await.unwrap();
    let b = consort_store::open(&url).await.unwrap();
    for round in 0..40 {
        let dead = format!("dead{round}");
        let mut jobs = vec![];
        for i in 0..6 {
            let job =
                Job::new(jk(&format!("r{round}j{i}")), "noop").with_non_concurrent(true).with_requests_recovery(true);
            let t = Trigger::new(tk(&format!("r{round}"), &format!("t{i}")), job.key().clone(), Schedule::once(), T0);
            a.put_job(&job, &[t], false, T0).await.unwrap();
            jobs.push(job);
        }
        a.check_in(&dead, "boot-dead", T0, 1000, 1000).await.unwrap();
        let fired = a.cycle(request(&dead, T0, vec![])).await.unwrap().fired;
        assert_eq!(fired.len(), 6, "round {round}");
        if round % 2 == 1 {
            // Known only by the runs it owns (its row is gone): every survivor sees it failed.
            a.leave(&dead).await.unwrap();
        }
        let ids: Vec<i64> = fired.iter().map(|f| f.run_id).collect();
        // Each survivor can re-attach to half of the runs, and would abandon the other half.
        let by_a = Adoption { by: "a".into(), runs: ids.iter().copied().filter(|id| id % 2 == 0).collect() };
        let by_b = Adoption { by: "b".into(), runs: ids.iter().copied().filter(|id| id % 2 == 1).collect() };
        let (sa, sb, da, db) = (a.clone(), b.clone(), dead.clone(), dead.clone());
        let ra = tokio::spawn(async move { sa.recover(&da, &by_a, T0 + 5000, 1000).await.unwrap() });
        let rb = tokio::spawn(async move { sb.recover(&db, &by_b, T0 + 5000, 1000).await.unwrap() });
        let (ra, rb) = (ra.await.unwrap(), rb.await.unwrap());
        let ended = ra.adopted_runs.len() + ra.abandoned_runs + rb.adopted_runs.len() + rb.abandoned_runs;
        assert_eq!(ended, 6, "round {round}: each run ends exactly once: {ra:?} {rb:?}");
        let triggers = a
            .list_triggers(&TriggerFilter {
                group: Some(consort_scheduler::RECOVERING_GROUP.into()),
                ..Default::default()
            })
            .await
            .unwrap();
        for id in &ids {
            let run = a.get_run(*id).await.unwrap().unwrap();
            let refires = triggers.iter().filter(|t| t.trigger.key().name().ends_with(&format!("_{id}"))).count();
            let executing = a.get_job(&run.job).await.unwrap().unwrap().executing_run;
            let adopted = ra.adopted_runs.contains(id) || rb.adopted_runs.contains(id);
            match run.state {
                RunState::Executing => {
                    assert!(adopted, "round {round}: run {id} executing but not adopted");
                    assert!(run.instance == "a" || run.instance == "b", "round {round}: {run:?}");
                    assert_eq!(refires, 0, "round {round}: an adopted run {id} got a recovery trigger");
                    assert_eq!(executing, Some(*id), "round {round}: adopted run {id}'s job was unblocked");
                }
                RunState::Abandoned => {
                    assert!(!adopted, "round {round}: run {id} adopted and abandoned");
                    assert_eq!(refires, 1, "round {round}: abandoned run {id} has {refires} recovery triggers");
                    assert_eq!(executing, None, "round {round}");
                }
                other => panic!("round {round}: run {id} is {other:?}"),
            }
        }
        // The next round's dead instance fires its own triggers only (recovery ones go too).
        for job in &jobs {
            a.delete_job(job.key()).await.unwrap();
        }
    }
}

/// Three instances moving ended runs at once (PostgreSQL; SQLite has one writer): each run
/// moves exactly once, and none is left behind.
#[tokio::test]
async fn concurrent_moves_take_each_ended_run_once() {
    let url = PG.get_or_init(Pg::start).fresh_db().await;
    let stores = [
        consort_store::open(&url).await.unwrap(),
        consort_store::open(&url).await.unwrap(),
        consort_store::open(&url).await.unwrap(),
    ];
    // Runs abandoned by recovery end in place (the cycle moves its own completions at once).
    let mut fired = 0;
    for j in 0..12 {
        let job = format!("j{j:02}");
        fired += fire_runs(stores[0].as_ref(), &job, 25, &(0..25).collect::<Vec<_>>()).await.len();
        stores[0].recover(&job, &Adoption::default(), T0 + MIN, 1000).await.unwrap();
    }
    let movers = stores.iter().map(|s| {
        let s = s.clone();
        tokio::spawn(async move { move_all(s.as_ref()).await })
    });
    let mut moved = 0;
    for m in movers.collect::<Vec<_>>() {
        moved += m.await.unwrap();
    }
    assert_eq!(moved, fired, "every ended run moved once");
    assert_eq!(move_all(stores[1].as_ref()).await, 0, "none left behind");
    let runs = stores[2].list_runs(&RunFilter { limit: 1000, ..Default::default() }).await.unwrap();
    let ids: std::collections::HashSet<i64> = runs.iter().map(|r| r.id).collect();
    assert_eq!((runs.len(), ids.len()), (fired, fired));
}

/// Triggers for the poison-row scenario: one good, and three that are corrupted with SQL
/// after they are stored (their job's data, their cron expression, their key).
async fn put_poison_candidates(s: &dyn Store) {
    for (job, trigger) in [("good", "good"), ("badjob", "of-bad-job"), ("j2", "bad-cron"), ("j3", "bad-key")] {
        let job = Job::new(jk(job), "noop");
        s.put_job(&job, &[every_minute(tk("g", trigger), job.key())], false, T0).await.unwrap();
    }
}

/// The SQL that corrupts them, the same on both backends.
const CORRUPTIONS: [&str; 3] = [
    "UPDATE consort_jobs SET data = 'not json' WHERE job_name = 'badjob'",
    "UPDATE consort_triggers SET cron_expression = 'not a cron' WHERE trigger_name = 'bad-cron'",
    "UPDATE consort_triggers SET trigger_name = 'bad' || char(9) || 'key' WHERE trigger_name = 'bad-key'",
];

/// Regression test for one undecodable row stopping an instance's firing: every cycle failed
/// on it, forever. Each poison row now goes to ERROR with its reason and the others fire.
async fn poison_rows_go_to_error_and_the_rest_fires(s: &dyn Store) {
    let out = cycle(s, "a", T0).await;
    assert_eq!(out.fired.iter().map(|f| f.trigger.name()).collect::<Vec<_>>(), ["good"]);
    let of_bad_job = s.get_trigger(&tk("g", "of-bad-job")).await.unwrap().unwrap();
    assert_eq!(of_bad_job.state, TriggerState::Error);
    let reason = of_bad_job.error.unwrap();
    assert!(reason.contains("consort_jobs") && reason.contains("JSON"), "{reason}");
    let out = cycle(s, "a", T0 + MIN).await;
    assert_eq!(out.fired.iter().map(|f| f.trigger.name()).collect::<Vec<_>>(), ["good"], "firing carries on");
    assert_eq!(s.resume(&Selector::Trigger(tk("g", "of-bad-job"))).await.unwrap(), 1);
    assert_eq!(s.get_trigger(&tk("g", "of-bad-job")).await.unwrap().unwrap().error, None, "resume clears the reason");
}

fn check_poisoned(states: &[(String, String, Option<String>)]) {
    let find = |name: &str| {
        states.iter().find(|(n, _, _)| n.starts_with(name)).unwrap_or_else(|| panic!("{name}: {states:?}"))
    };
    let (_, state, reason) = find("bad-cron");
    assert_eq!(state, "ERROR");
    assert!(reason.as_deref().unwrap_or_default().contains("cron"), "{reason:?}");
    let (_, state, reason) = find("bad\tkey");
    assert_eq!(state, "ERROR");
    assert!(reason.as_deref().unwrap_or_default().contains("control"), "{reason:?}");
}

#[tokio::test]
async fn sqlite_poison_rows_go_to_error_and_the_rest_fires() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let store = consort_store::open(&format!("sqlite://{}", path.display())).await.unwrap();
    put_poison_candidates(store.as_ref()).await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    for sql in CORRUPTIONS {
        assert_eq!(conn.execute(sql, []).unwrap(), 1, "{sql}");
    }
    poison_rows_go_to_error_and_the_rest_fires(store.as_ref()).await;
    let mut stmt = conn.prepare("SELECT trigger_name, state, error FROM consort_triggers").unwrap();
    let states: Vec<(String, String, Option<String>)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect();
    check_poisoned(&states);
}

#[tokio::test]
async fn postgres_poison_rows_go_to_error_and_the_rest_fires() {
    let url = PG.get_or_init(Pg::start).fresh_db().await;
    let store = consort_store::open(&url).await.unwrap();
    put_poison_candidates(store.as_ref()).await;
    let client = common::pg_client(&url).await;
    for sql in CORRUPTIONS {
        let sql = sql.replace("char(9)", "chr(9)");
        assert_eq!(client.execute(sql.as_str(), &[]).await.unwrap(), 1, "{sql}");
    }
    poison_rows_go_to_error_and_the_rest_fires(store.as_ref()).await;
    let states: Vec<(String, String, Option<String>)> = client
        .query("SELECT trigger_name, state, error FROM consort_triggers", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    check_poisoned(&states);
}

#[tokio::test]
async fn an_unreadable_trigger_goes_to_error_and_the_others_keep_firing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let store = consort_store::open(&format!("sqlite://{}", path.display())).await.unwrap();
    let s = store.as_ref();
    let job = Job::new(jk("j"), "noop");
    s.put_job(&job, &[every_minute(tk("g", "good"), job.key()), every_minute(tk("g", "bad"), job.key())], false, T0)
        .await
        .unwrap();
    // As if a newer consort had written an instruction this one does not know.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE consort_triggers SET misfire = 'someday' WHERE trigger_name = 'bad'", []).unwrap();
    drop(conn);
    let out = cycle(s, "a", T0).await;
    assert_eq!(out.fired.iter().map(|f| f.trigger.name()).collect::<Vec<_>>(), ["good"]);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let state: String =
        conn.query_row("SELECT state FROM consort_triggers WHERE trigger_name = 'bad'", [], |r| r.get(0)).unwrap();
    assert_eq!(state, "ERROR");
    assert!(cycle(s, "a", T0 + MIN).await.fired.iter().all(|f| f.trigger.name() == "good"));
}

/// A failed instance's run that its kind can re-attach to moves to the recovering instance and
/// stays EXECUTING (its non-concurrent job stays blocked, nothing re-fires); the others are
/// abandoned as before; the failed instance's late completion of the adopted run is ignored.
async fn resumable_runs_are_adopted_not_abandoned(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let spark = Job::new(jk("spark"), "noop").with_requests_recovery(true).with_non_concurrent(true);
    let plain = Job::new(jk("plain"), "noop");
    let next = every_minute(tk("g", "spark-every-minute"), spark.key());
    s.put_job(
        &spark,
        &[Trigger::new(tk("g", "spark-now"), jk("spark"), Schedule::once(), T0), next.clone()],
        false,
        T0,
    )
    .await
    .unwrap();
    s.put_job(&plain, &[Trigger::new(tk("g", "plain-now"), jk("plain"), Schedule::once(), T0)], false, T0)
        .await
        .unwrap();
    s.check_in("x", "boot-x", T0, 1000, 1000).await.unwrap();
    let out = cycle(s, "x", T0).await;
    let run_of = |name: &str| out.fired.iter().find(|f| f.job.key().name() == name).unwrap().run_id;
    let (spark_run, plain_run) = (run_of("spark"), run_of("plain"));
    s.report_run(spark_run, Some("app-1"), Some("local:run-1")).await.unwrap();

    assert_eq!(s.check_in("y", "boot-y", T0 + 3000, 1000, 1000).await.unwrap(), ["x"]);
    let adoption = Adoption { by: "y".into(), runs: vec![spark_run, 999_999] };
    let r = s.recover("x", &adoption, T0 + 3000, 1000).await.unwrap();
    assert_eq!((r.adopted_runs.clone(), r.abandoned_runs, r.recovery_triggers), (vec![spark_run], 1, 0));
    let adopted = s.get_run(spark_run).await.unwrap().unwrap();
    assert_eq!((adopted.state, adopted.instance.as_str()), (RunState::Executing, "y"));
    assert_eq!(adopted.log_location.as_deref(), Some("local:run-1"));
    assert_eq!(s.get_run(plain_run).await.unwrap().unwrap().state, RunState::Abandoned);

    // The job is still running: its next minute's fire waits (BLOCKED), nothing re-fires it.
    let out = cycle(s, "y", T0 + MIN).await;
    assert!(out.fired.is_empty(), "{:?}", out.fired);
    assert_eq!(state(s, next.key()).await, TriggerState::Blocked);

    // x's late word on the run is ignored; y's completion is recorded and unblocks the job.
    let completion = |ended, outcome| Completion {
        run_id: spark_run,
        job: spark.key().clone(),
        non_concurrent: true,
        ended_ms: ended,
        outcome,
        error_trigger: None,
    };
    s.cycle(request("x", T0 + MIN + 1, vec![completion(T0 + MIN, Outcome::failed("x is gone"))])).await.unwrap();
    assert_eq!(s.get_run(spark_run).await.unwrap().unwrap().state, RunState::Executing);
    let out = s.cycle(request("y", T0 + MIN + 2, vec![completion(T0 + MIN + 1, Outcome::succeeded())])).await.unwrap();
    let ended = s.get_run(spark_run).await.unwrap().unwrap();
    assert_eq!((ended.state, ended.application_id.as_deref()), (RunState::Succeeded, Some("app-1")));
    let fired: Vec<&str> = out.fired.iter().map(|f| f.trigger.name()).collect();
    assert_eq!(fired, ["spark-every-minute"], "the job is free again: its late minute fires at once");
}

// ---- The auth area: tokens and the audit trail, on both backends. ----

mod auth_area {
    use consort_auth::{AuditQuery, AuditRecord, AuthStore, AuthStoreError, NewToken, Role, RoleSet};
    use std::sync::Arc;

    async fn sqlite() -> Arc<dyn AuthStore> {
        consort_store::open_all("sqlite::memory:").await.unwrap().auth
    }

    async fn postgres() -> Arc<dyn AuthStore> {
        let url = super::PG.get_or_init(super::Pg::start).fresh_db().await;
        consort_store::open_all(&url).await.unwrap().auth
    }

    fn new_token(id: &str, name: &str, roles: RoleSet) -> NewToken {
        NewToken {
            id: id.into(),
            hash: format!("hash-of-{id}"),
            name: name.into(),
            roles,
            created_ms: super::T0,
            expires_ms: Some(super::T0 + super::MIN),
        }
    }

    async fn tokens_are_stored_by_hash_named_once_and_revoked(store: Arc<dyn AuthStore>) {
        let roles = RoleSet::of(Role::Operator).with(Role::Viewer);
        let created = store.create_token(new_token("tok_a", "ci", roles)).await.unwrap();
        assert_eq!(created.roles, roles);
        let dup = store.create_token(new_token("tok_b", "ci", roles)).await.unwrap_err();
        assert_eq!(dup, AuthStoreError::NameTaken("ci".into()));

        let found = store.token_by_hash("hash-of-tok_a").await.unwrap().expect("found by hash");
        assert_eq!((found.id.as_str(), found.name.as_str(), found.roles), ("tok_a", "ci", roles));
        assert_eq!(found.expires_ms, Some(super::T0 + super::MIN));
        assert!(store.token_by_hash("hash-of-nothing").await.unwrap().is_none());

        store.touch_tokens(&["tok_a".into()], super::T0 + 5).await.unwrap();
        store.touch_tokens(&["tok_a".into()], super::T0 + 1).await.unwrap(); // never moves back
        assert_eq!(store.token_by_hash("hash-of-tok_a").await.unwrap().unwrap().last_used_ms, Some(super::T0 + 5));

        // Revoked by name; the name is then free again, and the old token stays listed.
        let revoked = store.revoke_token("ci", super::T0 + 10).await.unwrap();
        assert_eq!(revoked.revoked_ms, Some(super::T0 + 10));
        store.create_token(new_token("tok_c", "ci", RoleSet::of(Role::Admin))).await.unwrap();
        let listed = store.list_tokens().await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().any(|t| t.id == "tok_a" && t.revoked_ms.is_some()));
        // By id, and unknown keys.
        assert!(store.revoke_token("tok_c", super::T0 + 20).await.unwrap().revoked_ms.is_some());
        assert_eq!(store.revoke_token("nope", 0).await.unwrap_err(), AuthStoreError::NotFound("nope".into()));
    }

    async fn audit_trail_pages_newest_first_with_filters(store: Arc<dyn AuthStore>) {
        let records: Vec<AuditRecord> = (0..25)
            .map(|i| AuditRecord {
                id: 0,
                at_ms: super::T0 + i,
                principal: if i % 2 == 0 { "token:ci".into() } else { "anonymous".into() },
                remote: "127.0.0.1:5000".into(),
                method: "PUT".into(),
                path: format!("/v1/scheduler/jobs/g/j{i}"),
                status: if i % 2 == 0 { 200 } else { 401 },
                outcome: if i % 2 == 0 { "ok".into() } else { "refused:unauthenticated".into() },
            })
            .collect();
        store.append_audit(&records).await.unwrap();
        let first = store.list_audit(&AuditQuery { limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(first.len(), 10);
        assert_eq!(first[0].path, "/v1/scheduler/jobs/g/j24");
        assert!(first.windows(2).all(|w| w[0].id > w[1].id));
        let next = store
            .list_audit(&AuditQuery { limit: 100, before_id: Some(first[9].id), ..Default::default() })
            .await
            .unwrap();
        assert_eq!(next.len(), 15);
        let refused =
            store.list_audit(&AuditQuery { limit: 100, refused_only: true, ..Default::default() }).await.unwrap();
        assert_eq!(refused.len(), 12);
        assert!(refused.iter().all(|r| r.status == 401 && r.principal == "anonymous"));
        let by_ci = store
            .list_audit(&AuditQuery { limit: 100, principal: Some("token:ci".into()), ..Default::default() })
            .await
            .unwrap();
        assert_eq!(by_ci.len(), 13);
    }

    macro_rules! on_both {
        ($($scenario:ident),*) => {$(
            mod $scenario {
                #[tokio::test]
                async fn sqlite() { super::$scenario(super::sqlite().await).await; }
                #[tokio::test]
                async fn postgres() { super::$scenario(super::postgres().await).await; }
            }
        )*};
    }
    on_both!(tokens_are_stored_by_hash_named_once_and_revoked, audit_trail_pages_newest_first_with_filters);
}

/// Pages start after the last key (or id) of the previous page, so a page is stable while rows
/// before it are added or deleted; filters and limits are applied by the query.
async fn lists_are_pages_in_key_order_filtered_in_the_query(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let key = |g: &str, n: &str| JobKey::new(g, n).unwrap();
    for (g, n, kind) in [("b", "2", "noop"), ("a", "1", "noop"), ("b", "1", "command"), ("a", "2", "noop")] {
        let job = Job::new(key(g, n), kind);
        let trigger = Trigger::new(TriggerKey::new(g, n).unwrap(), key(g, n), Schedule::simple(None, MIN).unwrap(), T0);
        s.put_job(&job, &[trigger], false, T0).await.unwrap();
    }
    let names =
        |jobs: &[consort_scheduler::JobStatus]| jobs.iter().map(|j| j.job.key().to_string()).collect::<Vec<_>>();
    let page = |after: Option<JobKey>| JobFilter { after, limit: Some(2), ..Default::default() };
    let first = s.list_jobs(&page(None)).await.unwrap();
    assert_eq!(names(&first), ["a.1", "a.2"]);
    // A job inserted before the cursor does not shift the next page.
    s.put_job(&Job::new(key("a", "0"), "noop").with_durable(true), &[], false, T0).await.unwrap();
    let second = s.list_jobs(&page(Some(first[1].job.key().clone()))).await.unwrap();
    assert_eq!(names(&second), ["b.1", "b.2"]);
    assert!(s.list_jobs(&page(Some(key("b", "2")))).await.unwrap().is_empty());
    let noop_in_b = JobFilter { group: Some("b".into()), kind: Some("noop".into()), ..Default::default() };
    assert_eq!(names(&s.list_jobs(&noop_in_b).await.unwrap()), ["b.2"]);

    s.pause(&Selector::Job(key("b", "1"))).await.unwrap();
    let paused = TriggerFilter { state: Some(TriggerState::Paused), ..Default::default() };
    let found: Vec<String> =
        s.list_triggers(&paused).await.unwrap().iter().map(|t| t.trigger.key().to_string()).collect();
    assert_eq!(found, ["b.1"]);
    let after = TriggerFilter { after: Some(TriggerKey::new("a", "2").unwrap()), limit: Some(1), ..Default::default() };
    let found: Vec<String> =
        s.list_triggers(&after).await.unwrap().iter().map(|t| t.trigger.key().to_string()).collect();
    assert_eq!(found, ["b.1"]);

    // Three runs of a.1, fired at T0, T0 + MIN and T0 + 2 MIN.
    let mut now = T0;
    let mut completions = Vec::new();
    for _ in 0..3 {
        let out = s.cycle(request("a", now, completions)).await.unwrap();
        completions = done(&out, now + 1);
        now += MIN;
    }
    let of_a1 = |f: RunFilter| RunFilter { job: Some(key("a", "1")), ..f };
    let all = s.list_runs(&of_a1(RunFilter::default())).await.unwrap();
    assert_eq!(all.len(), 3);
    let window =
        of_a1(RunFilter { fired_after_ms: Some(T0), fired_before_ms: Some(T0 + 2 * MIN), ..Default::default() });
    let fired: Vec<i64> = s.list_runs(&window).await.unwrap().iter().map(|r| r.fired_ms).collect();
    assert_eq!(fired, [T0 + MIN]);
    let next = of_a1(RunFilter { before_id: Some(all[0].id), limit: 1, ..Default::default() });
    assert_eq!(s.list_runs(&next).await.unwrap()[0].id, all[1].id);
}

async fn runs_of(s: &dyn Store, job: &str) -> Vec<Run> {
    s.list_runs(&RunFilter { job: Some(jk(job)), limit: 1000, ..Default::default() }).await.unwrap()
}

/// Fires `job`'s simple trigger `fires` times a second apart from T0, ending every run but
/// those whose fire number (from 0) is in `left_executing`; returns the run ids, oldest first.
async fn fire_runs(s: &dyn Store, job: &str, fires: u32, left_executing: &[usize]) -> Vec<i64> {
    let every_second = Schedule::simple(Some(fires - 1), 1000).unwrap();
    let trigger = Trigger::new(tk("g", job), jk(job), every_second, T0).with_misfire(MisfireInstruction::Ignore);
    s.put_job(&Job::new(jk(job), "noop"), &[trigger], false, T0).await.unwrap();
    let mut ids = Vec::new();
    let mut ended = Vec::new();
    for i in 0..fires as i64 {
        let out = s.cycle(request(job, T0 + i * 1000, std::mem::take(&mut ended))).await.unwrap();
        assert_eq!(out.fired.len(), 1);
        if !left_executing.contains(&(i as usize)) {
            ended = done(&out, T0 + i * 1000 + 10);
        }
        ids.push(out.fired[0].run_id);
    }
    s.cycle(request(job, T0 + fires as i64 * 1000, ended)).await.unwrap();
    ids
}

/// Moves every ended run to the history, as the check-in task does before retention; returns
/// how many.
async fn move_all(s: &dyn Store) -> usize {
    let (mut after, mut moved) = (None, 0);
    loop {
        let step = s.move_ended_runs(after.as_ref(), 2).await.unwrap();
        moved += step.moved;
        after = step.next_after;
        if after.is_none() {
            return moved;
        }
    }
}

/// Runs that recovery abandoned: ended in place on both backends, until a pass moves them.
async fn ended_runs_move_to_the_history_in_job_order_and_read_the_same(store: Arc<dyn Store>) {
    let s = store.as_ref();
    // b fires first, so job order is not fire order. Each job's runs execute on an instance
    // of its name, which then fails: a's runs are abandoned, b's but one, adopted by b2.
    let b = fire_runs(s, "b", 3, &[0, 1, 2]).await;
    let a = fire_runs(s, "a", 2, &[0, 1]).await;
    s.recover("a", &Adoption::default(), T0 + 5000, 1000).await.unwrap();
    let adoption = Adoption { by: "b2".into(), runs: vec![b[1]] };
    s.recover("b", &adoption, T0 + 5000, 1000).await.unwrap();
    let all = RunFilter { limit: 100, ..Default::default() };
    let (runs, b_status) = (s.list_runs(&all).await.unwrap(), s.get_job(&jk("b")).await.unwrap());
    assert_eq!(runs.len(), 5);
    let chart = s.run_history(T0, T0 + MIN, MIN).await.unwrap();

    // Steps of two walk the jobs in key order, each job's runs in id order.
    let first = s.move_ended_runs(None, 2).await.unwrap();
    assert_eq!(first, RunMove { moved: 2, next_after: Some(MoveCursor { job: jk("a"), run_id: a[1] }) });
    assert_eq!(s.run_history(T0, T0 + MIN, MIN).await.unwrap(), chart, "half moved, the chart counts each run once");
    let second = s.move_ended_runs(first.next_after.as_ref(), 2).await.unwrap();
    assert_eq!(second, RunMove { moved: 2, next_after: Some(MoveCursor { job: jk("b"), run_id: b[2] }) });
    let third = s.move_ended_runs(second.next_after.as_ref(), 2).await.unwrap();
    assert_eq!(third, RunMove::default(), "the adopted run executes: it stays");

    // Readers see the runs as before; the job's last run is its newest, not the executing one.
    assert_eq!(s.list_runs(&all).await.unwrap(), runs);
    let moved_status = s.get_job(&jk("b")).await.unwrap();
    assert_eq!(moved_status, b_status);
    let b_status = b_status.unwrap();
    assert_eq!((b_status.last_run_id, b_status.last_run_state), (Some(b[2]), Some(RunState::Abandoned)));
    assert_eq!(s.run_history(T0, T0 + MIN, MIN).await.unwrap(), chart);
    assert_eq!(move_all(s).await, 0, "a new pass finds nothing to move");

    // The adopted run ends: SQLite ends it in place and the next pass moves it; PostgreSQL's
    // cycle moves it at once. Either way it reads the same, with its outcome.
    let failed = Completion {
        run_id: b[1],
        job: jk("b"),
        non_concurrent: false,
        ended_ms: T0 + 6000,
        outcome: Outcome::failed("boom"),
        error_trigger: None,
    };
    s.cycle(request("b2", T0 + 6000, vec![failed])).await.unwrap();
    let ended = s.get_run(b[1]).await.unwrap().unwrap();
    assert_eq!((ended.state, ended.error.as_deref()), (RunState::Failed, Some("boom")));
    let in_place = usize::from(s.backend() == "sqlite");
    assert_eq!(move_all(s).await, in_place);
    assert_eq!(s.get_run(b[1]).await.unwrap().unwrap(), ended);
    assert_eq!(s.list_runs(&all).await.unwrap().len(), 5, "nothing lost or doubled");
}

async fn count_retention_keeps_each_jobs_newest_ended_runs_in_bounded_batches(store: Arc<dyn Store>) {
    let s = store.as_ref();
    // a: 12 runs, the fourth still executing (11 ended); b: 5 ended; c: 3 ended.
    let a = fire_runs(s, "a", 12, &[3]).await;
    let b = fire_runs(s, "b", 5, &[]).await;
    let c = fire_runs(s, "c", 3, &[]).await;
    move_all(s).await; // As the check-in task does before retention.

    // One job per call, at most 3 deletes per call: a needs three calls (7 to delete).
    let first = s.trim_runs(4, None, 1, 3).await.unwrap();
    assert_eq!((first.deleted, first.next_from.as_ref()), (3, Some(&jk("a"))), "a batch stops at its bound");
    let mut from = first.next_from;
    let mut deleted = first.deleted;
    let mut calls = 1;
    while let Some(job) = from {
        let step = s.trim_runs(4, Some(&job), 1, 3).await.unwrap();
        assert!(step.deleted <= 3, "{step:?}");
        deleted += step.deleted;
        from = step.next_from;
        calls += 1;
        assert!(calls < 20, "the sweep does not end");
    }
    assert_eq!(deleted, 7 + 1, "7 of a's ended runs, 1 of b's, none of c's");

    let ids = |runs: Vec<Run>| runs.iter().map(|r| r.id).rev().collect::<Vec<_>>();
    let mut kept_a = vec![a[3]];
    kept_a.extend(&a[8..]);
    assert_eq!(ids(runs_of(s, "a").await), kept_a, "the executing run and the newest 4 ended runs");
    assert_eq!(s.get_run(a[3]).await.unwrap().unwrap().state, RunState::Executing);
    assert_eq!(ids(runs_of(s, "b").await), b[1..].to_vec());
    assert_eq!(ids(runs_of(s, "c").await), c, "under the count: untouched");

    // A second sweep finds nothing more; a bigger batch does a whole sweep in one call.
    let again = s.trim_runs(4, None, 10, 1000).await.unwrap();
    assert_eq!((again.deleted, again.next_from), (0, None));
    let all = s.trim_runs(1, None, 10, 1000).await.unwrap();
    assert_eq!((all.deleted, all.next_from), (3 + 3 + 2, None));
    assert_eq!(ids(runs_of(s, "a").await), vec![a[3], a[11]], "the executing run is never deleted");
    assert_eq!(ids(runs_of(s, "c").await), vec![c[2]]);
}

async fn age_retention_keeps_latest_and_executing_runs_in_bounded_batches(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let once =
        |name: &str, at: i64| Trigger::new(tk("g", name), jk(name.split('-').next().unwrap()), Schedule::once(), at);
    s.put_job(
        &Job::new(jk("old"), "noop"),
        &[once("old-1", T0), once("old-2", T0 + 1000), once("old-3", T0 + 2000)],
        false,
        T0,
    )
    .await
    .unwrap();
    s.put_job(&Job::new(jk("lone"), "noop"), &[once("lone-1", T0)], false, T0).await.unwrap();
    s.put_job(&Job::new(jk("busy"), "noop"), &[once("busy-1", T0), once("busy-2", T0 + 1000)], false, T0)
        .await
        .unwrap();
    let first = cycle(s, "a", T0).await;
    assert_eq!(first.fired.len(), 3);
    let busy_1 = first.fired.iter().find(|f| f.job.key() == &jk("busy")).unwrap().run_id;
    let ended: Vec<Completion> = done(&first, T0 + 10).into_iter().filter(|c| c.run_id != busy_1).collect();
    let second = s.cycle(request("a", T0 + 1000, ended)).await.unwrap();
    let third = s.cycle(request("a", T0 + 2000, done(&second, T0 + 1010))).await.unwrap();
    s.cycle(request("a", T0 + 2010, done(&third, T0 + 2010))).await.unwrap();
    assert_eq!(s.list_runs(&RunFilter::default()).await.unwrap().len(), 6);
    move_all(s).await; // As the check-in task does before retention.

    // Windows of 2 runs: each call deletes at most 2, and the sweep ends by itself.
    let cutoff = T0 + 1500;
    let (mut after, mut deleted, mut calls) = (0, 0, 0);
    loop {
        let step = s.expire_runs(cutoff, after, 2).await.unwrap();
        assert!(step.deleted <= 2, "{step:?}");
        deleted += step.deleted;
        calls += 1;
        match step.next_after_id {
            Some(id) => {
                assert!(id > after, "the sweep moves on");
                after = id;
            }
            None => break,
        }
        assert!(calls < 10, "the sweep does not end");
    }
    assert_eq!(deleted, 2, "old's first two runs");
    let names = |runs: Vec<Run>| runs.iter().map(|r| r.trigger.name().to_string()).collect::<Vec<_>>();
    assert_eq!(names(runs_of(s, "old").await), ["old-3"]);
    assert_eq!(names(runs_of(s, "lone").await), ["lone-1"], "a job's latest run stays, however old");
    assert_eq!(names(runs_of(s, "busy").await), ["busy-2", "busy-1"], "an executing run stays");

    // Everything is past a later cutoff, but what is left is latest or executing.
    let step = s.expire_runs(T0 + 60 * MIN, 0, 100).await.unwrap();
    assert_eq!((step.deleted, step.next_after_id), (0, None));
    assert_eq!(s.list_runs(&RunFilter::default()).await.unwrap().len(), 4);
}

async fn spent_simple_triggers_are_removed_after_their_grace_and_active_ones_stay(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let j = Job::new(jk("j"), "noop").with_durable(true);
    let triggers = [
        Trigger::new(tk("g", "one"), jk("j"), Schedule::once(), T0),
        Trigger::new(tk("g", "rep"), jk("j"), Schedule::simple(Some(1), 1000).unwrap(), T0),
        every_minute(tk("g", "cron"), &jk("j")),
        Trigger::new(tk("g", "later"), jk("j"), Schedule::once(), T0 + 600 * MIN),
        Trigger::new(tk("g", "slow"), jk("j"), Schedule::once(), T0),
    ];
    s.put_job(&j, &triggers, false, T0).await.unwrap();
    let rec = Job::new(jk("rec"), "noop").with_requests_recovery(true);
    s.put_job(&rec, &[Trigger::new(tk("g", "rec-once"), jk("rec"), Schedule::once(), T0 + 500)], false, T0)
        .await
        .unwrap();

    let at_t0 = cycle(s, "a", T0).await;
    assert_eq!(at_t0.fired.len(), 4, "one, rep, cron, slow");
    let slow = at_t0.fired.iter().find(|f| f.trigger.name() == "slow").unwrap().run_id;
    let ended: Vec<Completion> = done(&at_t0, T0 + 100).into_iter().filter(|c| c.run_id != slow).collect();
    // x fires rec-once and dies with it executing; a re-fires it through a recovery trigger.
    assert_eq!(cycle(s, "x", T0 + 500).await.fired.len(), 1);
    let rep_2 = s.cycle(request("a", T0 + 1000, ended)).await.unwrap();
    assert_eq!(rep_2.fired.len(), 1);
    let r = s.recover("x", &Adoption::default(), T0 + 3000, 1000).await.unwrap();
    assert_eq!(r.recovery_triggers, 1);
    let refire = s.cycle(request("a", T0 + 3001, done(&rep_2, T0 + 3001))).await.unwrap();
    assert_eq!(refire.fired.len(), 1);
    assert_eq!(refire.fired[0].trigger.group(), RECOVERING_GROUP);
    s.cycle(request("a", T0 + 3500, done(&refire, T0 + 3500))).await.unwrap();
    for name in ["one", "rep", "rec-once", "slow"] {
        assert_eq!(state(s, &tk("g", name)).await, TriggerState::Complete, "{name}");
    }
    assert_eq!(state(s, &refire.fired[0].trigger).await, TriggerState::Complete);

    // A trigger's runs are read under its job, among the runs of its siblings.
    let of_rep = RunFilter { trigger: Some(tk("g", "rep")), ..Default::default() };
    let rep_runs: Vec<(i64, String)> =
        s.list_runs(&of_rep).await.unwrap().iter().map(|r| (r.fired_ms, r.trigger.to_string())).collect();
    assert_eq!(rep_runs, [(T0 + 1000, "g.rep".to_string()), (T0, "g.rep".to_string())]);

    // Within the grace of their last fire or their runs' ends, only `one` is spent.
    assert_eq!(s.remove_spent_triggers(T0 + 2000, 100).await.unwrap(), 1);
    assert!(s.get_trigger(&tk("g", "one")).await.unwrap().is_none());
    // Later, the others go too, at most `batch` per call; the executing one and active ones stay.
    assert_eq!(s.remove_spent_triggers(T0 + 60 * MIN, 2).await.unwrap(), 2);
    assert_eq!(s.remove_spent_triggers(T0 + 60 * MIN, 2).await.unwrap(), 1);
    assert_eq!(s.remove_spent_triggers(T0 + 60 * MIN, 2).await.unwrap(), 0);
    let left = s.list_triggers(&TriggerFilter::default()).await.unwrap();
    let left: Vec<String> = left.iter().map(|t| t.trigger.key().to_string()).collect();
    assert_eq!(left, ["g.cron", "g.later", "g.slow"]);
    // A removed trigger's runs are still found by its key, alone or with its job.
    let rep_again: Vec<(i64, String)> =
        s.list_runs(&of_rep).await.unwrap().iter().map(|r| (r.fired_ms, r.trigger.to_string())).collect();
    assert_eq!(rep_again, rep_runs);
    let with_job = RunFilter { job: Some(jk("j")), ..of_rep.clone() };
    assert_eq!(s.list_runs(&with_job).await.unwrap().len(), 2);
    let elsewhere = RunFilter { job: Some(jk("rec")), ..of_rep };
    assert!(s.list_runs(&elsewhere).await.unwrap().is_empty(), "the job and the trigger both filter");
    // Jobs and runs stay: a run's log and kill go through its job.
    assert!(s.get_job(&jk("rec")).await.unwrap().is_some(), "a non-durable job stays with its runs");
    assert_eq!(runs_of(s, "rec").await.len(), 2);
    assert_eq!(runs_of(s, "j").await.len(), 5);
}

/// The dashboard's aggregate: runs per bucket of fire time and state, with their lateness,
/// only inside the window.
async fn run_history_is_counted_per_bucket_and_state_in_the_query(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let job = Job::new(jk("hist"), "noop").with_durable(true);
    s.put_job(&job, &[every_minute(tk("h", "1"), job.key())], false, T0).await.unwrap();
    // Three fires a minute apart, each late by a different amount; the first ends.
    let first = s.cycle(request("a", T0 + 200, vec![])).await.unwrap();
    assert_eq!(first.fired.len(), 1);
    s.cycle(request("a", T0 + MIN + 400, done(&first, T0 + 300))).await.unwrap();
    s.cycle(request("a", T0 + 2 * MIN + 100, vec![])).await.unwrap();
    let runs = runs_of(s, "hist").await;
    assert_eq!(runs.len(), 3);
    let late = |r: &Run| r.fired_ms - r.scheduled_ms;
    let (third, second, first) = (&runs[0], &runs[1], &runs[2]);
    assert_eq!(
        (first.state, second.state, third.state),
        (RunState::Succeeded, RunState::Executing, RunState::Executing)
    );

    let bucket = |index, state, runs: &[&Run]| RunHistoryBucket {
        index,
        state,
        runs: runs.len() as i64,
        lateness_sum_ms: runs.iter().map(|r| late(r)).sum(),
        lateness_max_ms: runs.iter().map(|r| late(r)).max().unwrap(),
    };
    // Two-minute buckets from T0: the first two runs in bucket 0, the third in bucket 1;
    // states in name order.
    let history = s.run_history(T0, T0 + 4 * MIN, 2 * MIN).await.unwrap();
    assert_eq!(
        history,
        [
            bucket(0, RunState::Executing, &[second]),
            bucket(0, RunState::Succeeded, &[first]),
            bucket(1, RunState::Executing, &[third]),
        ]
    );
    // The window's ends: from is in, to is out.
    let middle = s.run_history(second.fired_ms, third.fired_ms, MIN).await.unwrap();
    assert_eq!(middle, [bucket(0, RunState::Executing, &[second])]);
    assert!(s.run_history(T0 + 10 * MIN, T0 + 20 * MIN, MIN).await.unwrap().is_empty());
}
