//! What the driver tells an observer as it works: fires, misfires, cycles, runs' starts and ends.
//!
//! The scheduler knows nothing of any exporter or alert: `consort-server` implements
//! [`SchedulerObserver`] with Prometheus metrics, `consort-runtime` with alerts, and the
//! binary installs both (an [`Observers`]) with
//! [`Scheduler::set_observer`](crate::Scheduler::set_observer). Every method is called on the
//! driver's hot path, so an implementation must not block (counters, or a send on a channel).

use std::sync::Arc;
use std::time::Duration;

use crate::model::{JobKey, RunState, TriggerKey};
use crate::store::Misfire;

/// A run this instance starts executing, or resumes after another process fired it.
#[derive(Clone, Copy, Debug)]
pub struct RunStart<'a> {
    /// The run.
    pub run_id: i64,
    /// Its job.
    pub job: &'a JobKey,
    /// The trigger that fired it.
    pub trigger: &'a TriggerKey,
    /// The job's kind.
    pub kind: &'a str,
    /// When it was fired (epoch ms); a resumed run started then, not now.
    pub fired_ms: i64,
    /// Whether it is resumed (fired by a process that is gone).
    pub resumed: bool,
}

/// A run this instance executed, as it ended (before the store records it).
#[derive(Clone, Copy, Debug)]
pub struct RunEnd<'a> {
    /// The run.
    pub run_id: i64,
    /// Its job.
    pub job: &'a JobKey,
    /// The trigger that fired it.
    pub trigger: &'a TriggerKey,
    /// The job's kind.
    pub kind: &'a str,
    /// When it was fired (epoch ms).
    pub fired_ms: i64,
    /// When it ended (epoch ms, the scheduler's clock).
    pub ended_ms: i64,
    /// How it ended.
    pub state: RunState,
    /// Why it failed, as the kind said.
    pub error: Option<&'a str>,
}

/// Receives the driver's events. Each method has an empty default, so an observer
/// implements only what it records.
pub trait SchedulerObserver: Send + Sync + 'static {
    /// A run was fired (committed with its trigger's next fire time); `late_ms` is how long
    /// after its scheduled time (never negative).
    fn fired(&self, _kind: &str, _late_ms: i64) {}
    /// A cycle applied misfire instructions to `count` triggers.
    fn misfired(&self, _count: usize) {}
    /// The misfires a cycle of this instance applied (committed; each reported by the one
    /// instance whose cycle applied it).
    fn triggers_misfired(&self, _misfires: &[Misfire]) {}
    /// One store cycle (record ends, misfires, acquire, fire) took `elapsed`; `ok` is false
    /// when it failed and will be retried.
    fn cycle(&self, _elapsed: Duration, _ok: bool) {}
    /// A run starts executing on this instance (fired here, or resumed).
    fn run_started(&self, _run: &RunStart<'_>) {}
    /// A run this instance executed ended in `state`.
    fn run_ended(&self, _kind: &str, _state: RunState) {}
    /// A run this instance executed ended, with what alerts need to say about it.
    fn run_finished(&self, _run: &RunEnd<'_>) {}
}

/// The observer installed when none is: records nothing.
#[derive(Debug, Default)]
pub struct NoObserver;

impl SchedulerObserver for NoObserver {}

/// Several observers, each told of every event in order (metrics and alerts side by side).
#[derive(Clone, Default)]
pub struct Observers(pub Vec<Arc<dyn SchedulerObserver>>);

impl std::fmt::Debug for Observers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Observers({})", self.0.len())
    }
}

impl SchedulerObserver for Observers {
    fn fired(&self, kind: &str, late_ms: i64) {
        self.0.iter().for_each(|o| o.fired(kind, late_ms));
    }
    fn misfired(&self, count: usize) {
        self.0.iter().for_each(|o| o.misfired(count));
    }
    fn triggers_misfired(&self, misfires: &[Misfire]) {
        self.0.iter().for_each(|o| o.triggers_misfired(misfires));
    }
    fn cycle(&self, elapsed: Duration, ok: bool) {
        self.0.iter().for_each(|o| o.cycle(elapsed, ok));
    }
    fn run_started(&self, run: &RunStart<'_>) {
        self.0.iter().for_each(|o| o.run_started(run));
    }
    fn run_ended(&self, kind: &str, state: RunState) {
        self.0.iter().for_each(|o| o.run_ended(kind, state));
    }
    fn run_finished(&self, run: &RunEnd<'_>) {
        self.0.iter().for_each(|o| o.run_finished(run));
    }
}
