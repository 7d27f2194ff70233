//! What the driver tells an observer as it works: fires, misfires, cycles, runs' ends.
//!
//! The scheduler knows nothing of any exporter: `consort-server` implements
//! [`SchedulerObserver`] with Prometheus metrics and installs it with
//! [`Scheduler::set_observer`](crate::Scheduler::set_observer). Every method is called on the
//! driver's hot path, so an implementation must not block (counters and histograms only).

use std::time::Duration;

use crate::model::RunState;

/// Receives the driver's events. Each method has an empty default, so an observer
/// implements only what it records.
pub trait SchedulerObserver: Send + Sync + 'static {
    /// A run was fired (committed with its trigger's next fire time); `late_ms` is how long
    /// after its scheduled time (never negative).
    fn fired(&self, _kind: &str, _late_ms: i64) {}
    /// A cycle applied misfire instructions to `count` triggers.
    fn misfired(&self, _count: usize) {}
    /// One store cycle (record ends, misfires, acquire, fire) took `elapsed`; `ok` is false
    /// when it failed and will be retried.
    fn cycle(&self, _elapsed: Duration, _ok: bool) {}
    /// A run this instance executed ended in `state`.
    fn run_ended(&self, _kind: &str, _state: RunState) {}
}

/// The observer installed when none is: records nothing.
#[derive(Debug, Default)]
pub struct NoObserver;

impl SchedulerObserver for NoObserver {}
