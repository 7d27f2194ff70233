//! consort-provisioner: the domain of the Witboost Specific Provisioner for Spark jobs.
//!
//! A Witboost coordinator sends a data product descriptor (YAML) and the id of one of its
//! components; this crate decodes the component's `specific` section, validates it (every
//! problem at once, each with the dot path of its field, the problem and the fix), turns it
//! into a scheduler job of the `spark` kind with its cron trigger, and describes an existing
//! job as a component again (reverse provisioning).
//!
//! **Invariant:** no I/O and no clock. What needs the outside world (the jar on its storage,
//! the Python file, whether a Spark backend answers) is asked through [`Checks`], which the
//! runtime crate implements; `now` is always an argument.
//!
//! # Modules
//!
//! | module | what |
//! |---|---|
//! | [`problem`] | [`Problem`]: field (the dot-path convention is documented there), problem, fix, line, column |
//! | [`settings`] | [`Settings`]: the server's defaults (time zone, backend), its backends, the job-name rule switch |
//! | [`checks`] | [`Checks`]: the effectful checks (backend reachable, jar + main class, Python file), implemented by the runtime |
//! | [`descriptor`] | the typed descriptor ([`Descriptor`], [`Specific`], [`App`], [`JobConfig`]) and its YAML shape; [`target`], the lenient reading for unprovision |
//! | [`validate`](mod@validate) | [`validate()`]: every rule, in document order, then the plan |
//! | [`plan`](mod@plan) | [`plan()`]: the job (its key: data product id + jobName), trigger and component record; the job data ↔ descriptor mapping |
//! | [`info`] | [`public_info`]: the `publicInfo` entries of a provisioned component |
//! | [`reverse`](mod@reverse) | [`reverse()`]: an existing job as the `updates` of reverse provisioning |
//! | [`store`] | [`ProvisionerStore`]: components and durable tokens, one transaction per operation |
//!
//! A request goes: [`validate()`] (or [`target`] for unprovision) → [`Plan`] →
//! [`ProvisionerStore::provision`] → [`public_info`] for the answer.
//!
//! The YAML is read with `serde-saphyr` (YAML 1.2 booleans, duplicate keys refused, bounded
//! aliases), into a tree that keeps every value's line and column.

pub mod checks;
pub mod descriptor;
pub mod info;
pub mod plan;
pub mod problem;
pub mod reverse;
pub mod settings;
pub mod store;
pub mod validate;
mod yaml;

pub use checks::{CheckFailure, Checks};
pub use descriptor::{App, DataProduct, Descriptor, JobConfig, ScheduleSpec, SparkComponent, Specific, Target, target};
pub use info::{InfoEntry, public_info, public_info_json};
pub use plan::{Plan, PlannedSchedule, expected_job_name, job_key, plan};
pub use problem::Problem;
pub use reverse::{reverse, reverse_job_key};
pub use settings::Settings;
pub use store::{ComponentRecord, ProvisionerStore, Task, TaskKind, TaskState};
pub use validate::{Validated, validate};
