//! consort's scheduler: Quartz's job/trigger model, durable and clustered.
//!
//! - [`model`]: jobs, triggers, schedules, states, misfire instructions, runs (epoch ms).
//! - [`fire`]: pure decisions (first/next fire, misfires, non-concurrent batches); `now` is
//!   always an argument.
//! - [`store`]: the [`Store`] trait that `consort-store` implements for SQLite and PostgreSQL.
//! - [`kind`]: what a fire does ([`JobKind`]: `noop`, `command`; `spark` plugs in later).
//! - [`driver`]: the [`Scheduler`] handle (API + driver loop).
//! - [`observe`]: [`SchedulerObserver`], what the driver reports (fires, cycles, runs' ends)
//!   to metrics without knowing any exporter.
//!
//! Architecture invariant: this crate speaks no SQL and the model and [`fire`] do no I/O.

pub mod driver;
mod error;
pub mod failpoint;
pub mod fire;
pub mod kind;
pub mod model;
pub mod observe;
pub mod store;

pub use driver::{Clock, Scheduler, SchedulerConfig, SchedulerStats, system_clock};
pub use error::{ModelError, SchedulerError, StoreError};
pub use kind::{CommandKind, JobKind, Kinds, NoopKind, RunActionError, RunContext, RunReporter};
pub use model::{
    DEFAULT_GROUP, DataMap, Job, JobKey, JobStatus, MANUAL_GROUP, MAX_KEY_LEN, MisfireInstruction, Outcome,
    RECOVERING_GROUP, Run, RunState, Schedule, Trigger, TriggerKey, TriggerState, TriggerStatus,
};
pub use observe::{NoObserver, Observers, RunEnd, RunStart, SchedulerObserver};
pub use store::{
    Adoption, Completion, CycleOutcome, CycleRequest, Firing, Instance, JobFilter, JobSnapshot, Misfire, MoveCursor,
    Recovery, RunExpiry, RunFilter, RunHistoryBucket, RunMove, RunTrim, Selector, Store, TriggerFilter,
};
