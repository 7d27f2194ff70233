//! consort-store: the only crate that speaks SQL. It implements the scheduler's
//! [`consort_scheduler::Store`] for SQLite (embedded default, one file) and PostgreSQL
//! (several instances share one database), each with checksummed migrations.
//!
//! ```no_run
//! # async fn f() -> Result<(), consort_scheduler::StoreError> {
//! let store = consort_store::open("sqlite:///var/lib/consort/consort.db").await?;
//! let clustered = consort_store::open("postgres://consort@127.0.0.1:5432/consort").await?;
//! # Ok(()) }
//! ```
//!
//! [`open_all`] also gives every other area's store on the same database ([`Stores`]): the
//! auth area's `AuthStore`, the provisioner's `ProvisionerStore`, and the clean rooms'
//! `GovernanceStore` (key-value maps committed under optimistic concurrency) and `LedgerStore`
//! (append-only ledgers, one order per clean room even across instances).
//!
//! [`import_quartz`] reads an existing Quartz JDBC store (PostgreSQL) into any store.
//!
//! Why rusqlite and tokio-postgres rather than one async layer: SQLite is a library, so a
//! synchronous connection on the blocking pool is the fastest path (µs per statement, the
//! embedded target is 20 000 fires/s); PostgreSQL gets batched array statements
//! (`unnest`) and `FOR UPDATE SKIP LOCKED`, written by hand per backend anyway.

mod auth;
mod catalog;
mod cleanroom;
mod cycle;
mod migrate;
mod postgres;
mod provisioner;
pub mod quartz;
mod row;
mod sql;
mod sqlite;

use std::sync::Arc;

use consort_auth::AuthStore;
use consort_governance::GovernanceStore;
use consort_ledger::LedgerStore;
use consort_provisioner::ProvisionerStore;
use consort_scheduler::{Store, StoreError};

pub use postgres::PgStore;
pub use quartz::{QuartzImport, QuartzImportError, QuartzImportOptions, import_quartz};
pub use sqlite::SqliteStore;

/// The stores of every area, sharing one database (and, for SQLite, one connection, so
/// a unit of work spanning areas is one transaction).
#[derive(Clone)]
pub struct Stores {
    /// Jobs, triggers, runs, instances.
    pub scheduler: Arc<dyn Store>,
    /// API tokens and the audit trail.
    pub auth: Arc<dyn AuthStore>,
    /// Provisioned components and the provisioner's asynchronous tasks.
    pub provisioner: Arc<dyn ProvisionerStore>,
    /// The clean rooms' key-value maps and their commits.
    pub governance: Arc<dyn GovernanceStore>,
    /// The clean rooms' ledgers: entries (with their leaf hashes) and signed roots.
    pub ledger: Arc<dyn LedgerStore>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores").field("backend", &self.scheduler.backend()).finish_non_exhaustive()
    }
}

impl Stores {
    /// Every area on one backend's store.
    fn sharing<S>(store: Arc<S>) -> Stores
    where
        S: Store + AuthStore + ProvisionerStore + GovernanceStore + LedgerStore + 'static,
    {
        Stores {
            scheduler: store.clone(),
            auth: store.clone(),
            provisioner: store.clone(),
            governance: store.clone(),
            ledger: store,
        }
    }
}

/// Opens a store from a URL: `sqlite://PATH` (`sqlite::memory:` for a private in-memory
/// database) or `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (also `postgresql://`).
/// Migrations are applied.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    Ok(open_all(url).await?.scheduler)
}

/// Opens every area's store on one database; see [`open`] for the URLs.
pub async fn open_all(url: &str) -> Result<Stores, StoreError> {
    open_all_with(url, None).await
}

/// PostgreSQL's pool size when none is configured.
pub const DEFAULT_PG_POOL: usize = 8;

/// As [`open_all`], with `connections`: PostgreSQL's pool size (at least 1, default
/// [`DEFAULT_PG_POOL`]), or SQLite's read connections beside its writer (default
/// 2; 0 puts every read on the writer). A `:memory:` database has
/// only its writer.
pub async fn open_all_with(url: &str, connections: Option<usize>) -> Result<Stores, StoreError> {
    if url == "sqlite::memory:" {
        let store = Arc::new(SqliteStore::open(":memory:").await?);
        return Ok(Stores::sharing(store));
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        let readers = connections.unwrap_or(sqlite::DEFAULT_READERS);
        let store = Arc::new(SqliteStore::open_with_readers(path, readers).await?);
        return Ok(Stores::sharing(store));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = Arc::new(PgStore::connect(url, connections.unwrap_or(DEFAULT_PG_POOL).max(1)).await?);
        return Ok(Stores::sharing(store));
    }
    Err(StoreError::Database {
        context: "opening the store".into(),
        message: format!(
            "unsupported store URL {:?}: use sqlite://PATH, sqlite::memory: or postgres://USER@HOST:PORT/DB",
            url.split('@').next_back().unwrap_or_default()
        ),
        transient: false,
    })
}
