//! consort-runtime: everything `consort serve` and the CLI need to turn a [`Config`] into
//! working parts, in one place so the binary, the provisioner and the clean rooms wire the
//! same things the same way.
//!
//! - [`spark_backends`]: the configured Spark backends (`local` always; standalone, YARN,
//!   Livy and Kubernetes when configured).
//! - [`storage_config`]: the artifact storage settings, secrets from the environment only.
//! - [`open_stores`]: every area's store on the configured database (SQLite in the data
//!   directory by default), migrations applied.
//! - [`start_scheduler`]: the job kinds and the scheduler's driver on those stores.
//! - [`ArtifactChecks`], [`provisioner_settings`]: what the Witboost provisioner checks a
//!   descriptor against (the jar and its main class on its storage, the Python file, the
//!   backends answering) and how it reads descriptors.
//!
//! - [`cleanroom`]: the governed runner package, the `cleanroom` job kind and the executor of
//!   clean-room runs.
//!
//! **Invariant:** secrets (store passwords, Livy and cloud credentials) are read from the
//! environment here and never reach a log or an error: URLs in messages go through
//! [`consort_config::redact_url`].

pub mod alerts;
mod backends;
mod checks;
pub mod cleanroom;
mod provisioner;
mod scheduler;
mod storage;
mod stores;

pub use backends::spark_backends;
pub use checks::ArtifactChecks;
pub use provisioner::provisioner_settings;
pub use scheduler::{default_instance_id, kinds, start_scheduler};
pub use storage::storage_config;
pub use stores::{open_stores, store_url};

pub use consort_config::Config;
