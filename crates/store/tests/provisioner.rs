//! The provisioner area's store, each scenario run against SQLite (a file, so it can be
//! reopened and reached by a second handle) and a real PostgreSQL: units of work that commit
//! whole or not at all, triggers that keep their fire times across an unchanged provision,
//! runs that outlive their job, durable tasks, and claims that never hand a task out twice.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use consort_provisioner::{ComponentRecord, Task, TaskKind, TaskState};
use consort_scheduler::{
    Completion, CycleOutcome, CycleRequest, Job, JobKey, Outcome, RunFilter, RunState, Schedule, StoreError, Trigger,
    TriggerKey, TriggerState,
};
use consort_store::Stores;

use common::Pg;

// 2026-01-01T00:00:00Z
const T0: i64 = 1_767_225_600_000;
const MIN: i64 = 60_000;

static PG: OnceLock<Pg> = OnceLock::new();

/// One database of either backend, opened as often as a scenario needs.
struct Backend {
    url: String,
    sqlite: Option<(tempfile::TempDir, PathBuf)>,
}

impl Backend {
    async fn sqlite() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consort.db");
        Backend { url: format!("sqlite://{}", path.display()), sqlite: Some((dir, path)) }
    }

    async fn postgres() -> Backend {
        Backend { url: PG.get_or_init(Pg::start).fresh_db().await, sqlite: None }
    }

    /// A new handle on the database (for PostgreSQL its own pool, as another instance has).
    async fn open(&self) -> Stores {
        consort_store::open_all(&self.url).await.unwrap()
    }

    /// Runs SQL outside the store, as an operator or a damaged disk would.
    async fn sql(&self, sql: &str) {
        match &self.sqlite {
            Some((_, path)) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.busy_timeout(std::time::Duration::from_secs(30)).unwrap();
                conn.execute_batch(sql).unwrap();
            }
            None => {
                let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls).await.unwrap();
                let task = tokio::spawn(conn);
                client.batch_execute(sql).await.unwrap();
                drop(client);
                let _ = task.await;
            }
        }
    }

    /// Makes every write of the task `token` fail, so a unit of work fails at its last step.
    async fn poison_task(&self, token: &str) {
        let sql = match &self.sqlite {
            Some(_) => format!(
                "CREATE TRIGGER test_poison BEFORE INSERT ON consort_provisioner_tasks WHEN NEW.token = '{token}' \
                 BEGIN SELECT RAISE(ABORT, 'poisoned task'); END;"
            ),
            None => {
                format!("ALTER TABLE consort_provisioner_tasks ADD CONSTRAINT test_poison CHECK (token <> '{token}')")
            }
        };
        self.sql(&sql).await;
    }
}

macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$scenario(super::Backend::sqlite().await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$scenario(super::Backend::postgres().await).await;
            }
        }
    )*};
}

on_both_backends!(
    provision_then_read_back,
    same_definition_keeps_fire_times_runs_and_the_run_in_progress,
    changed_cron_restarts_only_that_trigger,
    removing_the_schedule_deletes_the_trigger_and_keeps_a_durable_job,
    a_new_job_key_replaces_the_components_old_job,
    an_adopted_job_is_replaced_in_the_same_transaction,
    failed_provision_leaves_nothing_half_written,
    a_job_provisioned_from_another_component_is_refused,
    unprovision_of_an_unknown_component_returns_none_and_stores_the_task,
    unprovision_deletes_job_and_triggers_and_keeps_runs,
    reopening_keeps_tasks_and_components,
    a_second_handle_reads_what_the_first_wrote,
    claims_take_running_tasks_of_stale_instances_oldest_first,
    concurrent_claimers_never_get_the_same_task,
    corrupt_rows_are_reported_as_corrupt,
);

fn jk(name: &str) -> JobKey {
    JobKey::new("provisioned", name).unwrap()
}

fn tk(name: &str) -> TriggerKey {
    TriggerKey::new("provisioned", name).unwrap()
}

fn cron(name: &str, job: &JobKey, expression: &str) -> Trigger {
    Trigger::new(tk(name), job.clone(), Schedule::cron(expression, "UTC").unwrap(), T0)
}

fn record(id: &str, job: &JobKey, descriptor: &str, at: i64) -> ComponentRecord {
    ComponentRecord {
        component_id: id.into(),
        data_product_id: "urn:dmb:dp:finance:cashflow:0".into(),
        environment: "development".into(),
        job: job.clone(),
        descriptor: descriptor.into(),
        acl: vec![],
        created_ms: at,
        updated_ms: at,
    }
}

fn task(token: &str, kind: TaskKind, state: TaskState, instance: Option<&str>, at: i64) -> Task {
    Task {
        token: token.into(),
        kind,
        state,
        component_id: Some("urn:dmb:cmp:finance:cashflow:0:etl".into()),
        request: format!("{{\"token\":\"{token}\"}}"),
        result: (state != TaskState::Running).then(|| "{\"status\":\"COMPLETED\"}".to_string()),
        instance: instance.map(str::to_string),
        created_ms: at,
        updated_ms: at,
    }
}

fn request(now: i64, completions: Vec<Completion>) -> CycleRequest {
    CycleRequest {
        instance: "a".into(),
        now_ms: now,
        max_fires: 1000,
        acquire_ahead_ms: 0,
        misfire_threshold_ms: MIN,
        max_misfires: 100,
        completions,
    }
}

async fn cycle(s: &Stores, now: i64, completions: Vec<Completion>) -> CycleOutcome {
    s.scheduler.cycle(request(now, completions)).await.unwrap()
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

async fn runs_of(s: &Stores, job: &JobKey) -> Vec<consort_scheduler::Run> {
    s.scheduler.list_runs(&RunFilter { job: Some(job.clone()), ..Default::default() }).await.unwrap()
}

async fn provision_then_read_back(b: Backend) {
    let s = b.open().await;
    let p = s.provisioner.as_ref();
    let job = Job::new(jk("etl"), "spark").with_description("cash flow ETL");
    let trigger = cron("etl", job.key(), "0 0 * * * ?");
    let mut c = record("urn:dmb:cmp:finance:cashflow:0:etl", job.key(), "kind: workload", T0);
    c.acl = vec!["user:alice".into(), "group:finance".into()];
    let t = task("tok-1", TaskKind::Provision, TaskState::Completed, None, T0);
    p.provision(&c, &job, std::slice::from_ref(&trigger), Some(&t), T0).await.unwrap();

    assert_eq!(p.component(&c.component_id).await.unwrap(), Some(c.clone()));
    assert_eq!(p.component_by_job(job.key()).await.unwrap(), Some(c.clone()));
    assert_eq!(p.component_by_job(&jk("other")).await.unwrap(), None);
    assert_eq!(p.component("urn:nothing").await.unwrap(), None);
    assert_eq!(p.task("tok-1").await.unwrap(), Some(t));
    assert_eq!(p.task("tok-none").await.unwrap(), None);
    let stored = s.scheduler.get_job(job.key()).await.unwrap().unwrap();
    assert_eq!(stored.job, job);
    let status = s.scheduler.get_trigger(trigger.key()).await.unwrap().unwrap();
    assert_eq!((status.trigger, status.state, status.next_fire_ms), (trigger, TriggerState::Waiting, Some(T0)));

    // More components: listed in id order, paged by `after`.
    for name in ["c", "a", "b"] {
        let job = Job::new(jk(name), "spark").with_durable(true);
        p.provision(&record(&format!("urn:{name}"), job.key(), "d", T0), &job, &[], None, T0).await.unwrap();
    }
    let ids = |page: Vec<ComponentRecord>| page.into_iter().map(|c| c.component_id).collect::<Vec<_>>();
    assert_eq!(ids(p.list_components(None, 2).await.unwrap()), ["urn:a", "urn:b"]);
    assert_eq!(
        ids(p.list_components(Some("urn:b"), 10).await.unwrap()),
        ["urn:c", "urn:dmb:cmp:finance:cashflow:0:etl"]
    );
    assert!(p.list_components(Some("urn:z"), 10).await.unwrap().is_empty());

    // The access list: replaced, its task stored; an unknown component is false, task stored too.
    let acl = vec!["user:bob".to_string()];
    let u = task("tok-acl", TaskKind::UpdateAcl, TaskState::Completed, None, T0 + 5);
    assert!(p.set_acl(&c.component_id, &acl, Some(&u), T0 + 5).await.unwrap());
    let read = p.component(&c.component_id).await.unwrap().unwrap();
    assert_eq!((read.acl, read.updated_ms, read.created_ms), (acl.clone(), T0 + 5, T0));
    assert_eq!(p.task("tok-acl").await.unwrap(), Some(u));
    let u = task("tok-acl-2", TaskKind::UpdateAcl, TaskState::Failed, None, T0 + 6);
    assert!(!p.set_acl("urn:nothing", &acl, Some(&u), T0 + 6).await.unwrap());
    assert_eq!(p.task("tok-acl-2").await.unwrap(), Some(u));

    // put_task is an upsert by token that keeps the first acceptance time.
    let running = task("tok-2", TaskKind::Validate, TaskState::Running, Some("i1"), T0);
    p.put_task(&running).await.unwrap();
    let finished = Task {
        state: TaskState::Completed,
        result: Some("{\"valid\":true}".into()),
        instance: None,
        created_ms: T0 + 99,
        updated_ms: T0 + 7,
        ..running.clone()
    };
    p.put_task(&finished).await.unwrap();
    assert_eq!(p.task("tok-2").await.unwrap(), Some(Task { created_ms: T0, ..finished }));
}

/// Provisioning the same definition again is a no-op for the schedule: the trigger keeps its
/// next fire time and count, the run in progress stays EXECUTING and keeps blocking its
/// non-concurrent job, and its completion is still recorded.
async fn same_definition_keeps_fire_times_runs_and_the_run_in_progress(b: Backend) {
    let s = b.open().await;
    let p = s.provisioner.as_ref();
    let job = Job::new(jk("etl"), "spark").with_non_concurrent(true);
    let trigger = cron("etl", job.key(), "0 * * * * ?");
    let c = record("urn:etl", job.key(), "v1", T0);
    p.provision(&c, &job, std::slice::from_ref(&trigger), None, T0).await.unwrap();
    let first = cycle(&s, T0, vec![]).await;
    assert_eq!(first.fired.len(), 1);
    let run_id = first.fired[0].run_id;
    assert_eq!(s.scheduler.get_job(job.key()).await.unwrap().unwrap().executing_run, Some(run_id));

    // Same schedule; the descriptor, the job's description and the trigger's priority and
    // description change, none of which moves a fire time.
    let job2 = job.clone().with_description("now described");
    let trigger2 = trigger.clone().with_priority(9).with_description("hourly");
    let c2 = record("urn:etl", job.key(), "v2", T0 + 10_000);
    let t = task("tok", TaskKind::Provision, TaskState::Completed, None, T0 + 10_000);
    p.provision(&c2, &job2, std::slice::from_ref(&trigger2), Some(&t), T0 + 10_000).await.unwrap();

    let status = s.scheduler.get_trigger(trigger.key()).await.unwrap().unwrap();
    assert_eq!(
        (status.next_fire_ms, status.prev_fire_ms, status.times_triggered),
        (Some(T0 + MIN), Some(T0), 1),
        "the unchanged trigger was not restarted"
    );
    assert_eq!(status.trigger, trigger2, "description and priority are updated in place");
    assert_eq!(status.state, TriggerState::Blocked, "still blocked by the run in progress");
    let js = s.scheduler.get_job(job.key()).await.unwrap().unwrap();
    assert_eq!((js.job, js.executing_run), (job2, Some(run_id)));
    let read = p.component("urn:etl").await.unwrap().unwrap();
    assert_eq!((read.descriptor.as_str(), read.created_ms, read.updated_ms), ("v2", T0, T0 + 10_000));

    // The blocked job does not fire while its run executes; the run's end is recorded, which
    // unblocks the job, and the due fire follows in the same cycle.
    assert!(cycle(&s, T0 + MIN, vec![]).await.fired.is_empty());
    let next = cycle(&s, T0 + MIN + 1, done(&first, T0 + MIN)).await;
    assert_eq!(next.fired.len(), 1);
    let runs = runs_of(&s, job.key()).await;
    assert_eq!(runs.len(), 2);
    assert_eq!((runs[1].id, runs[1].state), (run_id, RunState::Succeeded));
    assert_eq!((runs[0].id, runs[0].scheduled_ms), (next.fired[0].run_id, T0 + MIN));
    assert_eq!(s.scheduler.get_job(job.key()).await.unwrap().unwrap().executing_run, Some(runs[0].id));
}

async fn changed_cron_restarts_only_that_trigger(b: Backend) {
    let s = b.open().await;
    let p = s.provisioner.as_ref();
    let job = Job::new(jk("etl"), "spark");
    let minutely = cron("minutely", job.key(), "0 * * * * ?");
    let five = cron("five", job.key(), "0 */5 * * * ?");
    let stale = cron("stale", job.key(), "0 0 * * * ?");
    let c = record("urn:etl", job.key(), "v1", T0);
    p.provision(&c, &job, &[minutely.clone(), five.clone(), stale.clone()], None, T0).await.unwrap();
    let fired = cycle(&s, T0, vec![]).await;
    assert_eq!(fired.fired.len(), 3);
    cycle(&s, T0 + 1000, done(&fired, T0 + 500)).await;

    let half = cron("minutely", job.key(), "30 * * * * ?");
    p.provision(&c, &job, &[half.clone(), five.clone()], None, T0 + 2000).await.unwrap();
    let changed = s.scheduler.get_trigger(half.key()).await.unwrap().unwrap();
    assert_eq!(changed.trigger, half);
    assert_eq!(
        (changed.state, changed.next_fire_ms, changed.prev_fire_ms, changed.times_triggered),
        (TriggerState::Waiting, Some(T0 + 30_000), None, 0),
        "the changed trigger restarts from its start time"
    );
    let kept = s.scheduler.get_trigger(five.key()).await.unwrap().unwrap();
    assert_eq!((kept.next_fire_ms, kept.prev_fire_ms, kept.times_triggered), (Some(T0 + 5 * MIN), Some(T0), 1));
    assert!(s.scheduler.get_trigger(stale.key()).await.unwrap().is_none(), "a trigger not given is deleted");
    assert_eq!(runs_of(&s, job.key()).await.len(), 3, "history stays");

    // A changed start, end, misfire instruction or data restarts it too.
    let moved = five.clone().with_end_ms(Some(T0 + 60 * MIN));
    p.provision(&c, &job, &[half.clone(), moved.clone()], None, T0 + 3000).await.unwrap();
    let restarted = s.scheduler.get_trigger(moved.key()).await.unwrap().unwrap();
    assert_eq!((restarted.trigger, restarted.times_triggered, restarted.next_fire_ms), (moved, 0, Some(T0)));
    let same = s.scheduler.get_trigger(half.key()).await.unwrap().unwrap();
    assert_eq!(same, changed, "the other one is untouched");
}

async fn removing_the_schedule_deletes_the_trigger_and_keeps_a_durable_job(b: Backend) {
    let s = b.open().await;
    let p = s.provisioner.as_ref();
    let job = Job::new(jk("etl"), "spark").with_durable(true);
    let trigger = cron("etl", job.key(), "0 * * * * ?");
    let c = record("urn:etl", job.key(), "v1", T0);
    p.provision(&c, &job, std::slice::from_ref(&trigger), None, T0).await.unwrap();
    let fired = cycle(&s, T0, vec![]).await;
    cycle(&s, T0 + 1, done(&fired, T0 + 1)).await;

    p.provision(&record("urn:etl", job.key(), "v2", T0 + 2), &job, &[], None, T0 + 2).await.unwrap();
    assert!(s.scheduler.get_trigger(trigger.key()).await.unwrap().is_none());
    let js = s.scheduler.get_job(job.key()).await.unwrap().unwrap();
    assert_eq!((js.job, js.last_run_state), (job.clone(), Some(RunState::Succeeded)));
    assert_eq!(p.component("urn:etl").await.unwrap().unwrap().descriptor, "v2");
    assert!(cycle(&s, T0 + 10 * MIN, vec![]).await.fired.is_empty(), "nothing fires any more");
}

async fn a_new_job_key_replaces_the_components_old_job(b: Backend) {
    let s = b.open().await;
    let p = s.provisioner.as_ref();
    let old = Job::new(jk("old"), "spark");
    p.provision(&record("urn:etl", old.key(), "v1", T0), &old, &[cron("old", old.key(), "0 * * * * ?")], None, T0)
        .await
        .unwrap();
    let fired = cycle(&s, T0, vec![]).await;
    cycle(&s, T0 + 1, done(&fired, T0 + 1)).await;
    let new = Job::new(jk("new"), "spark");
    let trigger = cron("new", new.key(), "0 * * * * ?");
    p.provision(&record("urn:etl", new.key(), "v2", T0 + 2), &new, std::slice::from_ref(&trigger), None, T0 + 2)
        .await
        .unwrap();
    assert!(s.scheduler.get_job(old.key()).await.unwrap().is_none(), "the old job is gone");
    assert!(s.scheduler.get_trigger(&tk("old")).await.unwrap().is_none());
    assert_eq!(runs_of(&s, old.key()).await.len(), 1, "its runs stay");
    assert!(s.scheduler.get_job(new.key()).await.unwrap().is_some());
    assert_eq!(p.component_by_job(new.key()).await.unwrap().unwrap().component_id, "urn:etl");
    assert_eq!(p.component_by_job(old.key()).await.unwrap(), None);
}

async fn an_adopted_job_is_replaced_in_the_same_transaction(b: Backend) {
    let s = b.open().await;
    let p = s.provisioner.as_ref();
    // A job imported from Quartz, with its schedule and a run.
    let imported = Job::new(JobKey::new("quartz", "nightly").unwrap(), "spark");
    let schedule = Trigger::new(
        TriggerKey::new("quartz", "nightly").unwrap(),
        imported.key().clone(),
        Schedule::cron("0 * * * * ?", "UTC").unwrap(),
        T0,
    );
    s.scheduler.put_job(&imported, &[schedule], false, T0).await.unwrap();
    let fired = cycle(&s, T0, vec![]).await;
    cycle(&s, T0 + 1, done(&fired, T0 + 1)).await;
    // Another component's job cannot be adopted: nothing changes.
    let other = Job::new(jk("other"), "spark").with_durable(true);
    p.provision(&record("urn:other", other.key(), "v1", T0), &other, &[], None, T0).await.unwrap();
    let job = Job::new(jk("etl"), "spark");
    let trigger = cron("etl", job.key(), "0 * * * * ?");
    let err = p
        .provision_adopting(
            &record("urn:etl", job.key(), "v1", T0),
            &job,
            std::slice::from_ref(&trigger),
            Some(other.key()),
            None,
            T0,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::JobExists(_)), "{err}");
    assert!(s.scheduler.get_job(job.key()).await.unwrap().is_none(), "nothing half-written");
    assert!(s.scheduler.get_job(other.key()).await.unwrap().is_some());
    // The imported job is adopted: gone with its schedule, its runs kept, the new job in place.
    p.provision_adopting(
        &record("urn:etl", job.key(), "v1", T0 + 2),
        &job,
        &[trigger],
        Some(imported.key()),
        None,
        T0 + 2,
    )
    .await
    .unwrap();
    assert!(s.scheduler.get_job(imported.key()).await.unwrap().is_none(), "the adopted job is gone");
    assert!(s.scheduler.get_trigger(&TriggerKey::new("quartz", "nightly").unwrap()).await.unwrap().is_none());
    assert_eq!(runs_of(&s, imported.key()).await.len(), 1, "its runs stay");
    assert!(s.scheduler.get_job(job.key()).await.unwrap().is_some());
    // Adopting a job that is already gone is not an error (a retried provision).
    p.provision_adopting(
        &record("urn:etl", job.key(), "v1", T0 + 3),
        &job,
        &[cron("etl", job.key(), "0 * * * * ?")],
        Some(imported.key()),
        None,
        T0 + 3,
    )
    .await
    .unwrap();
}

/// Everything the store holds about a component, to compare before and after a failure.
async fn snapshot(
    s: &Stores,
    id: &str,
    job: &JobKey,
) -> (Option<ComponentRecord>, Option<consort_scheduler::JobStatus>, Vec<consort_scheduler::TriggerStatus>) {
    let filter = consort_scheduler::TriggerFilter { job: Some(job.clone()), ..Default::default() };
    (
        s.provisioner.component(id).await.unwrap(),
        s.scheduler.get_job(job).await.unwrap(),
        s.scheduler.list_triggers(&filter).await.unwrap(),
    )
}

async fn failed_provision_leaves_nothing_half_written(b: Backend) {
    let s = b.open().await;
    let p = s.provisioner.as_ref();

    // A new component whose job is not durable and has no trigger: refused, nothing stored.
    let bare = Job::new(jk("bare"), "spark");
    let t = task("tok-bare", TaskKind::Provision, TaskState::Completed, None, T0);
    let err = p.provision(&record("urn:bare", bare.key(), "v1", T0), &bare, &[], Some(&t), T0).await.unwrap_err();
    assert!(matches!(err, StoreError::NotDurable(_)), "{err}");
    assert_eq!(snapshot(&s, "urn:bare", bare.key()).await, (None, None, vec![]));
    assert_eq!(p.task("tok-bare").await.unwrap(), None);

    // An existing component, fired once.
    let job = Job::new(jk("etl"), "spark").with_description("v1");
    let keep = cron("keep", job.key(), "0 * * * * ?");
    let other = cron("other", job.key(), "0 0 * * * ?");
    let c = record("urn:etl", job.key(), "v1", T0);
    p.provision(&c, &job, &[keep.clone(), other.clone()], None, T0).await.unwrap();
    let fired = cycle(&s, T0, vec![]).await;
    cycle(&s, T0 + 1, done(&fired, T0 + 1)).await;
    let before = snapshot(&s, "urn:etl", job.key()).await;
    assert_eq!(before.2.len(), 2);

    // Version 2 changes the component, the job, one trigger and drops the other, but the
    // task's write (the unit's last statement) fails: all of it is rolled back.
    b.poison_task("tok-poison").await;
    let job2 = Job::new(jk("etl"), "spark").with_description("v2");
    let changed = cron("keep", job.key(), "30 * * * * ?");
    let t = task("tok-poison", TaskKind::Provision, TaskState::Completed, None, T0 + 2);
    let err = p
        .provision(&record("urn:etl", job.key(), "v2", T0 + 2), &job2, std::slice::from_ref(&changed), Some(&t), T0 + 2)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Database { .. }), "{err}");
    assert_eq!(snapshot(&s, "urn:etl", job.key()).await, before);
    assert_eq!(p.task("tok-poison").await.unwrap(), None);

    // Version 2 without triggers on a non-durable job: the trigger deletions are rolled back.
    let err = p.provision(&record("urn:etl", job.key(), "v2", T0 + 3), &job2, &[], None, T0 + 3).await.unwrap_err();
    assert!(matches!(err, StoreError::NotDurable(_)), "{err}");
    assert_eq!(snapshot(&s, "urn:etl", job.key()).await, before);

    // A trigger of another job, a record naming another job, and a trigger that never fires:
    // refused, nothing changed.
    let foreign = cron("foreign", &jk("elsewhere"), "0 * * * * ?");
    let err = p.provision(&c, &job2, &[foreign], None, T0 + 4).await.unwrap_err();
    assert!(matches!(err, StoreError::Model(_)), "{err}");
    let err =
        p.provision(&record("urn:etl", &jk("renamed"), "v2", T0 + 4), &job2, &[], None, T0 + 4).await.unwrap_err();
    assert!(err.to_string().contains("pass the component's own job"), "{err}");
    let never = cron("keep", job.key(), "0 0 0 1 1 ? 2020");
    let err = p.provision(&c, &job2, &[never], None, T0 + 4).await.unwrap_err();
    assert!(matches!(err, StoreError::NeverFires(_)), "{err}");
    assert_eq!(snapshot(&s, "urn:etl", job.key()).await, before);
    assert_eq!(runs_of(&s, job.key()).await.len(), 2);

    // Unprovision and set_acl are units too: a failing task write keeps the component.
    let t = task("tok-poison", TaskKind::Unprovision, TaskState::Completed, None, T0 + 5);
    assert!(p.unprovision("urn:etl", Some(&t), T0 + 5).await.is_err());
    let t = task("tok-poison", TaskKind::UpdateAcl, TaskState::Completed, None, T0 + 5);
    assert!(p.set_acl("urn:etl", &["user:eve".into()], Some(&t), T0 + 5).await.is_err());
    assert_eq!(snapshot(&s, "urn:etl", job.key()).await, before);
}

async fn a_job_provisioned_from_another_component_is_refused(b: Backend) {
    let s = b.open().await;
    let p = s.provisioner.as_ref();
    let job = Job::new(jk("etl"), "spark").with_durable(true);
    p.provision(&record("urn:first", job.key(), "v1", T0), &job, &[], None, T0).await.unwrap();
    let err = p
        .provision(&record("urn:second", job.key(), "v1", T0), &job.clone().with_description("x"), &[], None, T0)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::JobExists(_)), "{err}");
    assert_eq!(p.component("urn:second").await.unwrap(), None);
    assert_eq!(s.scheduler.get_job(job.key()).await.unwrap().unwrap().job, job);
    assert_eq!(p.component_by_job(job.key()).await.unwrap().unwrap().component_id, "urn:first");
}

async fn unprovision_of_an_unknown_component_returns_none_and_stores_the_task(b: Backend) {
    let s = b.open().await;
    let p = s.provisioner.as_ref();
    let t = task("tok-u", TaskKind::Unprovision, TaskState::Completed, None, T0);
    assert_eq!(p.unprovision("urn:never", Some(&t), T0).await.unwrap(), None);
    assert_eq!(p.task("tok-u").await.unwrap(), Some(t));
    assert_eq!(p.unprovision("urn:never", None, T0).await.unwrap(), None, "and again: idempotent");
}

async fn unprovision_deletes_job_and_triggers_and_keeps_runs(b: Backend) {
    let s = b.open().await;
    let p = s.provisioner.as_ref();
    let job = Job::new(jk("etl"), "spark");
    let trigger = cron("etl", job.key(), "0 * * * * ?");
    let mut c = record("urn:etl", job.key(), "v1", T0);
    c.acl = vec!["user:alice".into()];
    p.provision(&c, &job, std::slice::from_ref(&trigger), None, T0).await.unwrap();
    let first = cycle(&s, T0, vec![]).await;
    let second = cycle(&s, T0 + MIN, done(&first, T0 + 1)).await;
    assert_eq!(second.fired.len(), 1, "the second run is still executing");

    let t = task("tok-u", TaskKind::Unprovision, TaskState::Completed, None, T0 + MIN + 1);
    assert_eq!(p.unprovision("urn:etl", Some(&t), T0 + MIN + 1).await.unwrap(), Some(c));
    assert_eq!(p.component("urn:etl").await.unwrap(), None);
    assert_eq!(p.component_by_job(job.key()).await.unwrap(), None);
    assert!(s.scheduler.get_job(job.key()).await.unwrap().is_none());
    assert!(s.scheduler.get_trigger(trigger.key()).await.unwrap().is_none());
    assert_eq!(p.task("tok-u").await.unwrap(), Some(t));
    // The run in progress still ends normally; both runs stay.
    cycle(&s, T0 + MIN + 2, done(&second, T0 + MIN + 2)).await;
    let runs = runs_of(&s, job.key()).await;
    assert_eq!(runs.iter().map(|r| r.state).collect::<Vec<_>>(), [RunState::Succeeded, RunState::Succeeded]);
    assert_eq!(p.unprovision("urn:etl", None, T0 + MIN + 3).await.unwrap(), None);
}

async fn reopening_keeps_tasks_and_components(b: Backend) {
    let job = Job::new(jk("etl"), "spark");
    let trigger = cron("etl", job.key(), "0 * * * * ?");
    let mut c = record("urn:etl", job.key(), "v1", T0);
    c.acl = vec!["group:finance".into()];
    let done_task = task("tok-done", TaskKind::Provision, TaskState::Completed, None, T0);
    let running = task("tok-running", TaskKind::ReverseProvisioning, TaskState::Running, Some("i1"), T0);
    {
        let s = b.open().await;
        s.provisioner.provision(&c, &job, std::slice::from_ref(&trigger), Some(&done_task), T0).await.unwrap();
        s.provisioner.put_task(&running).await.unwrap();
    }
    let s = b.open().await;
    assert_eq!(s.provisioner.component("urn:etl").await.unwrap(), Some(c));
    assert_eq!(s.provisioner.task("tok-done").await.unwrap(), Some(done_task));
    assert_eq!(s.provisioner.task("tok-running").await.unwrap(), Some(running));
    assert_eq!(s.scheduler.get_trigger(trigger.key()).await.unwrap().unwrap().next_fire_ms, Some(T0));
}

async fn a_second_handle_reads_what_the_first_wrote(b: Backend) {
    let (one, two) = (b.open().await, b.open().await);
    let t = task("tok", TaskKind::Validate, TaskState::Running, Some("one"), T0);
    one.provisioner.put_task(&t).await.unwrap();
    assert_eq!(two.provisioner.task("tok").await.unwrap(), Some(t.clone()));
    let finished = Task { state: TaskState::Completed, result: Some("{}".into()), instance: None, ..t };
    two.provisioner.put_task(&finished).await.unwrap();
    assert_eq!(one.provisioner.task("tok").await.unwrap(), Some(finished));
    let job = Job::new(jk("etl"), "spark").with_durable(true);
    one.provisioner.provision(&record("urn:etl", job.key(), "v1", T0), &job, &[], None, T0).await.unwrap();
    assert_eq!(two.provisioner.component("urn:etl").await.unwrap().unwrap().descriptor, "v1");
}

async fn claims_take_running_tasks_of_stale_instances_oldest_first(b: Backend) {
    let s = b.open().await;
    let p = s.provisioner.as_ref();
    let put = |t: Task| async move { p.put_task(&t).await.unwrap() };
    put(task("d3", TaskKind::Provision, TaskState::Running, Some("dead"), T0 + 3)).await;
    put(task("d1", TaskKind::Provision, TaskState::Running, Some("dead"), T0 + 1)).await;
    put(task("g2", TaskKind::Unprovision, TaskState::Running, Some("gone"), T0 + 2)).await;
    put(task("finished", TaskKind::Provision, TaskState::Completed, Some("dead"), T0)).await;
    put(task("alive", TaskKind::Provision, TaskState::Running, Some("alive"), T0)).await;
    put(task("nobody", TaskKind::Provision, TaskState::Running, None, T0)).await;

    assert_eq!(p.task_instances().await.unwrap(), ["alive", "dead", "gone"], "instances of RUNNING tasks only");
    let stale = vec!["dead".to_string(), "gone".to_string()];
    assert!(p.claim_orphaned_tasks("me", &stale, 0, T0 + 10).await.unwrap().is_empty());
    assert!(p.claim_orphaned_tasks("me", &[], 10, T0 + 10).await.unwrap().is_empty());
    let first = p.claim_orphaned_tasks("me", &stale, 2, T0 + 10).await.unwrap();
    assert_eq!(first.iter().map(|t| t.token.as_str()).collect::<Vec<_>>(), ["d1", "d3"]);
    assert!(first.iter().all(|t| t.instance.as_deref() == Some("me") && t.updated_ms == T0 + 10));
    let rest = p.claim_orphaned_tasks("other", &stale, 10, T0 + 11).await.unwrap();
    assert_eq!(rest.iter().map(|t| t.token.as_str()).collect::<Vec<_>>(), ["g2"]);
    assert!(p.claim_orphaned_tasks("other", &stale, 10, T0 + 12).await.unwrap().is_empty());
    assert_eq!(p.task("d1").await.unwrap().unwrap().instance.as_deref(), Some("me"), "the claim is stored");
    assert_eq!(p.task("g2").await.unwrap().unwrap().instance.as_deref(), Some("other"));
    for (token, instance) in [("finished", Some("dead")), ("alive", Some("alive")), ("nobody", None)] {
        assert_eq!(p.task(token).await.unwrap().unwrap().instance.as_deref(), instance, "{token} is not claimed");
    }
}

/// Two handles (two instances) claim the same stale instance's tasks at once, in small
/// batches, until none is left: every task is handed out exactly once.
async fn concurrent_claimers_never_get_the_same_task(b: Backend) {
    let (one, two) = (b.open().await, b.open().await);
    const N: usize = 120;
    for i in 0..N {
        let t = task(&format!("t{i:03}"), TaskKind::Provision, TaskState::Running, Some("dead"), T0 + i as i64);
        one.provisioner.put_task(&t).await.unwrap();
    }
    let claimer = |s: Stores, me: &'static str| {
        tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut empty = 0;
            while empty < 3 {
                let got = s.provisioner.claim_orphaned_tasks(me, &["dead".into()], 3, T0 + 1000).await.unwrap();
                if got.is_empty() {
                    empty += 1;
                }
                mine.extend(got.into_iter().map(|t| (t.token, t.instance)));
            }
            mine
        })
    };
    let (a, b2) = (claimer(one.clone(), "one"), claimer(two.clone(), "two"));
    let (a, b2) = (a.await.unwrap(), b2.await.unwrap());
    let all: Vec<&String> = a.iter().chain(&b2).map(|(t, _)| t).collect();
    let distinct: HashSet<&String> = all.iter().copied().collect();
    assert_eq!((all.len(), distinct.len()), (N, N), "every task claimed exactly once");
    for (claims, me) in [(&a, "one"), (&b2, "two")] {
        for (token, instance) in claims {
            assert_eq!(instance.as_deref(), Some(me));
            assert_eq!(one.provisioner.task(token).await.unwrap().unwrap().instance.as_deref(), Some(me));
        }
    }
}

async fn corrupt_rows_are_reported_as_corrupt(b: Backend) {
    let s = b.open().await;
    let p = s.provisioner.as_ref();
    let job = Job::new(jk("etl"), "spark").with_durable(true);
    p.provision(&record("urn:etl", job.key(), "v1", T0), &job, &[], None, T0).await.unwrap();
    p.put_task(&task("tok", TaskKind::Provision, TaskState::Running, Some("i"), T0)).await.unwrap();
    b.sql("UPDATE consort_provisioned_components SET acl = '{not json' WHERE component_id = 'urn:etl'").await;
    for err in [
        p.component("urn:etl").await.unwrap_err(),
        p.component_by_job(job.key()).await.unwrap_err(),
        p.list_components(None, 10).await.unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::Corrupt { table: "consort_provisioned_components", .. }), "{err}");
        assert!(err.to_string().contains("acl"), "{err}");
    }
    b.sql("UPDATE consort_provisioned_components SET acl = '[1]' WHERE component_id = 'urn:etl'").await;
    assert!(matches!(p.component("urn:etl").await, Err(StoreError::Corrupt { .. })));
    // Setting the access list again repairs it.
    assert!(p.set_acl("urn:etl", &["user:a".into()], None, T0 + 1).await.unwrap());
    assert_eq!(p.component("urn:etl").await.unwrap().unwrap().acl, ["user:a"]);

    b.sql("UPDATE consort_provisioner_tasks SET kind = 'teleport' WHERE token = 'tok'").await;
    let err = p.task("tok").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { table: "consort_provisioner_tasks", .. }), "{err}");
    assert!(err.to_string().contains("teleport"), "{err}");
    b.sql("UPDATE consort_provisioner_tasks SET kind = 'provision', state = 'LOST' WHERE token = 'tok'").await;
    assert!(matches!(p.task("tok").await, Err(StoreError::Corrupt { .. })));
}

/// On PostgreSQL a claim skips a task another transaction holds instead of waiting for it or
/// taking it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_claims_skip_tasks_locked_by_another_claimer() {
    let b = Backend::postgres().await;
    let s = b.open().await;
    for (i, token) in ["held", "free"].into_iter().enumerate() {
        s.provisioner
            .put_task(&task(token, TaskKind::Provision, TaskState::Running, Some("dead"), T0 + i as i64))
            .await
            .unwrap();
    }
    let (mut client, conn) = tokio_postgres::connect(&b.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let other = client.transaction().await.unwrap();
    let locked =
        other.query("SELECT token FROM consort_provisioner_tasks WHERE token = 'held' FOR UPDATE", &[]).await.unwrap();
    assert_eq!(locked.len(), 1);
    // A deadline only so that a regression (waiting on the lock) fails instead of hanging.
    let stale = ["dead".to_string()];
    let claim = s.provisioner.claim_orphaned_tasks("me", &stale, 10, T0 + 10);
    let got = tokio::time::timeout(std::time::Duration::from_secs(120), claim)
        .await
        .expect("the claim waited for the locked task instead of skipping it")
        .unwrap();
    assert_eq!(got.iter().map(|t| t.token.as_str()).collect::<Vec<_>>(), ["free"]);
    other.rollback().await.unwrap();
    let got = s.provisioner.claim_orphaned_tasks("me", &["dead".into()], 10, T0 + 11).await.unwrap();
    assert_eq!(got.iter().map(|t| t.token.as_str()).collect::<Vec<_>>(), ["held"]);
}
