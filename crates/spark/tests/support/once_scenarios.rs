//! Exactly one Spark application per run, on any backend: the two faults between submitting
//! an application and following it, injected with the `spark` kind's fail points
//! (`--features failpoints`), through a real scheduler on SQLite.
//!
//! - **A crash between submitting and recording the handle** (`spark::before-recording-handle`):
//!   the instance stops with its run submitted and no handle recorded; its next life must find
//!   the application by the run's key and follow it, not submit a second one.
//! - **A lost submit answer** (`spark::lose-submit-answer`): the backend took the request, the
//!   answer never arrived; the retry must look the key up and adopt what it finds.
//!
//! Applications are counted from the backend itself ([`Backend::applications`]), never from
//! consort's store. Each backend's test binary runs [`exactly_one_application_per_run`] on the
//! rig it already has; `once.rs` runs it on the local backend.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use consort_scheduler::failpoint::injected_count;
use consort_scheduler::{Job, JobKey, Kinds, Run, RunFilter, RunState, Scheduler, SchedulerConfig};
use consort_spark::{Launcher, SparkKind, run_key};
use serde_json::{Map, Value};

/// The fail point between submitting and recording the handle: the run's task stops there.
const CRASH: &str = "spark::before-recording-handle";
/// The fail point that turns a submission's answer into an ambiguous error.
const LOSE_ANSWER: &str = "spark::lose-submit-answer";

/// A backend under test, as the scenarios need it.
pub trait Backend {
    /// A launcher for one scheduler life (each life builds its own, as a restarted server does).
    fn launcher(&self) -> Arc<dyn Launcher>;
    /// The data of a `spark` job that succeeds within seconds on this backend.
    fn job(&self) -> Map<String, Value>;
    /// The ids of the applications that carry run key `key`, read from the backend itself
    /// (the standalone master's drivers, YARN's applications by tag, Livy's batches, the API
    /// server's SparkApplications, the local work directory).
    #[allow(async_fn_in_trait)]
    async fn applications(&self, key: &str) -> Vec<String>;
    /// How many applications the backend holds, keyed or not (a submission that lost its key
    /// would still count here).
    #[allow(async_fn_in_trait)]
    async fn total(&self) -> usize;
}

/// Both scenarios in turn on `backend` (fail points are process-wide: never two at once).
/// Panics on the first broken promise; prints what each took.
pub async fn exactly_one_application_per_run(backend: &impl Backend) {
    let started = Instant::now();
    crash_between_submit_and_recording_the_handle(backend).await;
    let crashed = started.elapsed();
    lost_submit_answer(backend).await;
    eprintln!(
        "{}: exactly one application per run: crash before the handle {:.1} s, lost submit answer {:.1} s",
        backend.launcher().kind(),
        crashed.as_secs_f64(),
        (started.elapsed() - crashed).as_secs_f64()
    );
}

async fn crash_between_submit_and_recording_the_handle(backend: &impl Backend) {
    let store = Store::new("crash");
    let before = backend.total().await;
    let crashes = injected_count(CRASH);
    fail::cfg(CRASH, "return").unwrap();
    let first = store.scheduler(backend).await;
    let job = JobKey::in_default_group("once-crash").unwrap();
    first
        .create_job(&Job::new(job.clone(), "spark").with_durable(true).with_data(job_data(backend)), &[])
        .await
        .unwrap();
    first.start().await.unwrap();
    first.fire_now(&job, Default::default()).await.unwrap();
    // The submission returned and the handle is not recorded: the backend has the application.
    wait_for("the submission to return", async || (injected_count(CRASH) > crashes).then_some(())).await;
    let run = only_run(&first).await;
    let key = run_key(run.id, run.fired_ms);
    let submitted = backend.applications(&key).await;
    assert_eq!(submitted.len(), 1, "one application for {key} on the backend: {submitted:?}");
    let run = only_run(&first).await;
    assert_eq!((run.state, run.log_location.as_deref()), (RunState::Executing, None), "{run:?}");
    // The instance goes away before recording it.
    first.stop().await.unwrap();
    fail::remove(CRASH);
    assert_eq!(only_run(&first).await.state, RunState::Executing, "a run being submitted is detached, not failed");

    // Its next life finds the application by the run's key and follows it to the end.
    let second = store.scheduler(backend).await;
    second.start().await.unwrap();
    let ended = wait_for("the run to end", async || Some(only_run(&second).await).filter(|r| r.state.is_final())).await;
    second.stop().await.unwrap();
    assert_one_followed_to_the_end(backend, &ended, &submitted[0], before).await;
    store.remove();
}

async fn lost_submit_answer(backend: &impl Backend) {
    let store = Store::new("lost-answer");
    let before = backend.total().await;
    let scheduler = store.scheduler(backend).await;
    let job = JobKey::in_default_group("once-lost-answer").unwrap();
    scheduler
        .create_job(&Job::new(job.clone(), "spark").with_durable(true).with_data(job_data(backend)), &[])
        .await
        .unwrap();
    // The first submission reaches the backend and its answer is lost.
    let losses = injected_count(LOSE_ANSWER);
    fail::cfg(LOSE_ANSWER, "1*return").unwrap();
    scheduler.start().await.unwrap();
    scheduler.fire_now(&job, Default::default()).await.unwrap();
    let ended = wait_for("the run to end", async || {
        let runs = scheduler.list_runs(&RunFilter::default()).await.unwrap();
        assert!(runs.len() <= 1, "exactly one run: {runs:?}");
        runs.into_iter().next().filter(|r| r.state.is_final())
    })
    .await;
    scheduler.stop().await.unwrap();
    fail::remove(LOSE_ANSWER);
    assert_eq!(injected_count(LOSE_ANSWER), losses + 1, "the answer was lost once");
    let key = run_key(ended.id, ended.fired_ms);
    let apps = backend.applications(&key).await;
    assert_eq!(apps.len(), 1, "exactly one application for {key}: {apps:?}");
    assert_one_followed_to_the_end(backend, &ended, &apps[0], before).await;
    store.remove();
}

/// The backend's job, with look-ups retried soon: a backend that cannot tell yet (a standalone
/// driver its worker has not launched) is asked again after 1, 2, 4, 8 and 16 s.
fn job_data(backend: &impl Backend) -> Map<String, Value> {
    let mut data = backend.job();
    data.insert("retries".into(), 5.into());
    data.insert("retryDelaySecs".into(), 1.into());
    data
}

/// The run succeeded following `id`, the only application of its key, and the backend gained
/// exactly one application: none doubled, none orphaned.
async fn assert_one_followed_to_the_end(backend: &impl Backend, run: &Run, id: &str, before: usize) {
    let kind = backend.launcher().kind();
    assert_eq!(run.state, RunState::Succeeded, "{run:?}");
    assert_eq!(run.log_location, Some(format!("{kind}:{id}")), "the run follows the application it submitted");
    let key = run_key(run.id, run.fired_ms);
    assert_eq!(backend.applications(&key).await, [id], "exactly one application for {key}");
    assert_eq!(backend.total().await, before + 1, "the backend gained one application, no other");
    let status = backend.launcher().status(id).await.unwrap();
    assert!(status.state.is_final(), "the application ended with its run: {status:?}");
}

/// A scratch SQLite store shared by the scheduler lives of one scenario.
struct Store {
    dir: PathBuf,
}

impl Store {
    fn new(name: &str) -> Store {
        let dir = std::env::temp_dir().join(format!("consort-once-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Store { dir }
    }

    /// A scheduler whose only kind backend is `backend`; every life has the same instance
    /// id, so the second recovers what the first left.
    async fn scheduler(&self, backend: &impl Backend) -> Scheduler {
        let launcher = backend.launcher();
        let name = launcher.kind().as_str();
        let mut kinds = Kinds::builtin();
        kinds.register(Arc::new(SparkKind::new(vec![launcher], name, Duration::from_millis(300))));
        let store = consort_store::open(&format!("sqlite://{}", self.dir.join("c.db").display())).await.unwrap();
        Scheduler::new(store, kinds, SchedulerConfig::new("once-test"))
    }

    fn remove(self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn only_run(scheduler: &Scheduler) -> Run {
    let mut runs = scheduler.list_runs(&RunFilter::default()).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs.pop().unwrap()
}

async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
