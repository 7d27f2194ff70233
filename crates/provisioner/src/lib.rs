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

pub mod store;

pub use store::{ComponentRecord, ProvisionerStore, Task, TaskKind, TaskState};
