//! SQLite backend: the embedded default, one file, one writer (this process).
//!
//! rusqlite with a bundled SQLite in WAL mode with `synchronous=NORMAL`, every operation one
//! transaction run on Tokio's blocking pool: writes on the one writer connection (`BEGIN
//! IMMEDIATE`), the API's reads on a few read-only connections beside it, so a list or a get
//! never waits for a firing cycle (WAL lets readers run while the writer commits).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, TransactionBehavior};

use consort_auth::{AuditQuery, AuditRecord, AuthStore, AuthStoreError, NewToken, TokenRecord};
use consort_governance::{Commit, CommitError, GovernanceStore, Map, Versioned};
use consort_ledger::{Entry, EntryDraft, Hash, LedgerStore, SignedRoot};
use consort_provisioner::{ComponentRecord, ProvisionerStore, Task};
use consort_scheduler::{
    Adoption, Completion, CycleOutcome, CycleRequest, Instance, Job, JobFilter, JobKey, JobSnapshot, JobStatus,
    MoveCursor, Recovery, Run, RunExpiry, RunFilter, RunHistoryBucket, RunMove, RunTrim, Selector, Store, StoreError,
    Trigger, TriggerFilter, TriggerKey, TriggerStatus,
};

use crate::auth;
use crate::catalog;
use crate::cleanroom::{self, EntryRow, LedgerTx};
use crate::cycle::{self, CycleTx, NewRun, Poison, StatusUpdate};
use crate::migrate;
use crate::provisioner;
use crate::row::{JOB_COLUMNS, RUN_COLUMNS, RawTrigger, TRIGGER_COLUMNS, prefixed};
use crate::sql::{Cols, Sql, Value, for_sqlite};

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Int(Some(v)) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(*v)),
            Value::Text(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Int(None) | Value::Text(None) => ToSqlOutput::Owned(rusqlite::types::Value::Null),
        })
    }
}

fn db_error(context: &str, e: rusqlite::Error) -> StoreError {
    let transient =
        matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked));
    StoreError::Database { context: format!("sqlite: {context}"), message: e.to_string(), transient }
}

/// Runs `f` on Tokio's blocking pool (SQLite's calls block); a task that panicked is an
/// error of `context`.
async fn blocking<T, F>(context: &str, f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Database {
        context: format!("sqlite: {context}"),
        message: e.to_string(),
        transient: false,
    })?
}

/// Polls a future that never waits (our SQLite statements are synchronous) to completion.
fn run_ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("SQLite statements complete synchronously"),
    }
}

pub(crate) struct SqliteTx<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    dialect: &'a mut HashMap<String, String>,
}

impl SqliteTx<'_> {
    /// The statement in SQLite's dialect, rewritten once per distinct text.
    fn dialect(&mut self, sql: &str) -> String {
        if let Some(s) = self.dialect.get(sql) {
            return s.clone();
        }
        let rewritten = for_sqlite(sql);
        if self.dialect.len() < 1024 {
            self.dialect.insert(sql.to_string(), rewritten.clone());
        }
        rewritten
    }
}

impl Sql for SqliteTx<'_> {
    async fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let sql = self.dialect(sql);
        let mut stmt = self.tx.prepare_cached(&sql).map_err(|e| db_error(&sql, e))?;
        let n = stmt.execute(rusqlite::params_from_iter(params.iter())).map_err(|e| db_error(&sql, e))?;
        Ok(n as u64)
    }

    async fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, StoreError> {
        let sql = self.dialect(sql);
        let mut stmt = self.tx.prepare_cached(&sql).map_err(|e| db_error(&sql, e))?;
        let width = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter())).map_err(|e| db_error(&sql, e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| db_error(&sql, e))? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(match row.get_ref(i).map_err(|e| db_error(&sql, e))? {
                    ValueRef::Null => Value::Int(None),
                    ValueRef::Integer(v) => Value::Int(Some(v)),
                    ValueRef::Real(v) => Value::Int(Some(v as i64)),
                    ValueRef::Text(t) | ValueRef::Blob(t) => Value::Text(Some(String::from_utf8_lossy(t).into_owned())),
                });
            }
            out.push(values);
        }
        Ok(out)
    }

    async fn claim(&mut self, _what: &str) -> Result<bool, StoreError> {
        Ok(true) // `BEGIN IMMEDIATE`: this transaction is the only writer.
    }
}

impl LedgerTx for SqliteTx<'_> {
    async fn insert_entries(&mut self, cleanroom: &str, rows: &[EntryRow]) -> Result<(), StoreError> {
        // One prepared statement stepped per entry: in-process, a step costs about a
        // microsecond, as cheap per row as a multi-row VALUES without its size limits.
        let sql = "INSERT INTO consort_ledger_entries (cleanroom, seq, at_ms, kind, body, leaf_hash) \
                   VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
        let mut stmt = self.tx.prepare_cached(sql).map_err(|e| db_error("appending ledger entries", e))?;
        for r in rows {
            stmt.execute(rusqlite::params![cleanroom, r.seq, r.entry.at_ms, r.entry.kind, r.entry.body, r.leaf_hash])
                .map_err(|e| db_error(&format!("appending entry {} to clean room {cleanroom:?}", r.seq), e))?;
        }
        Ok(())
    }
}

impl CycleTx for SqliteTx<'_> {
    // One writer at a time: triggers due now are acquired with the window and fired from
    // ACQUIRED by `due`.
    const ACQUIRES_DUE: bool = true;

    async fn complete_runs(&mut self, instance: &str, completions: &[Completion]) -> Result<HashSet<i64>, StoreError> {
        let mut ended = HashSet::with_capacity(completions.len());
        for c in completions {
            let o = &c.outcome;
            // An ended run stays among the recent runs, marked with its outcome; the check-in
            // task moves it to the history (migration 11).
            if catalog::end_executing(self, c.run_id, instance, c.ended_ms, &c.outcome).await? {
                ended.insert(c.run_id);
            }
            if let Some(t) = &c.error_trigger {
                self.exec(
                    "UPDATE consort_triggers SET state = 'ERROR', error = $3, instance_id = NULL, acquired_ms = NULL \
                     WHERE trigger_group = $1 AND trigger_name = $2 AND state IN ('WAITING', 'ACQUIRED')",
                    &[t.group().into(), t.name().into(), o.error.clone().into()],
                )
                .await?;
            }
        }
        Ok(ended)
    }

    async fn misfired(
        &mut self,
        now_ms: i64,
        threshold_ms: i64,
        limit: usize,
    ) -> Result<(Vec<RawTrigger>, Vec<Poison>), StoreError> {
        let sql = format!(
            "SELECT {TRIGGER_COLUMNS} FROM consort_triggers WHERE state = 'WAITING' AND misfire <> 'ignore' \
             AND next_fire_ms < $1 ORDER BY next_fire_ms LIMIT $2"
        );
        cycle::read_triggers(&self.rows(&sql, &[(now_ms - threshold_ms).into(), (limit as i64).into()]).await?)
    }

    async fn save_statuses(&mut self, updates: &[StatusUpdate]) -> Result<(), StoreError> {
        for u in updates {
            self.exec(
                "UPDATE consort_triggers SET next_fire_ms = $1, prev_fire_ms = COALESCE($2, prev_fire_ms), \
                 times_triggered = $3, state = $4, error = $7, instance_id = NULL, acquired_ms = NULL \
                 WHERE trigger_group = $5 AND trigger_name = $6",
                &[
                    u.next_fire_ms.into(),
                    u.prev_fire_ms.into(),
                    u.times_triggered.into(),
                    u.state.into(),
                    u.key.group().into(),
                    u.key.name().into(),
                    u.error.clone().into(),
                ],
            )
            .await?;
        }
        Ok(())
    }

    async fn acquire(&mut self, r: &CycleRequest, limit: usize) -> Result<usize, StoreError> {
        let n = self
            .exec(
                "UPDATE consort_triggers SET state = 'ACQUIRED', instance_id = $1, acquired_ms = $2 WHERE rowid IN \
                 (SELECT t.rowid FROM consort_triggers t WHERE t.state = 'WAITING' AND t.next_fire_ms <= $3 \
                  AND (t.misfire = 'ignore' OR t.next_fire_ms >= $4) AND NOT EXISTS (SELECT 1 FROM consort_jobs j \
                  WHERE j.job_group = t.job_group AND j.job_name = t.job_name AND j.executing_run IS NOT NULL) \
                  ORDER BY t.next_fire_ms, t.priority DESC LIMIT $5)",
                &[
                    r.instance.as_str().into(),
                    r.now_ms.into(),
                    (r.now_ms + r.acquire_ahead_ms).into(),
                    (r.now_ms - r.misfire_threshold_ms).into(),
                    (limit as i64).into(),
                ],
            )
            .await?;
        Ok(n as usize)
    }

    async fn due(
        &mut self,
        r: &CycleRequest,
        limit: usize,
    ) -> Result<(cycle::DueRows, Vec<Poison>, usize), StoreError> {
        let (instance, now_ms) = (r.instance.as_str(), r.now_ms);
        let sql = format!(
            "SELECT {}, {} FROM consort_triggers t JOIN consort_jobs j ON j.job_group = t.job_group \
             AND j.job_name = t.job_name WHERE t.state = 'ACQUIRED' AND t.instance_id = $1 AND t.next_fire_ms <= $2 \
             ORDER BY t.next_fire_ms, t.priority DESC LIMIT $3",
            prefixed("t", TRIGGER_COLUMNS),
            prefixed("j", JOB_COLUMNS)
        );
        let rows = self.rows(&sql, &[instance.into(), now_ms.into(), (limit as i64).into()]).await?;
        let (due, poisoned) = cycle::read_due(&rows)?;
        Ok((due, poisoned, 0))
    }

    async fn lock_jobs(
        &mut self,
        keys: &[JobKey],
    ) -> Result<std::collections::HashMap<JobKey, Option<i64>>, StoreError> {
        let mut out = std::collections::HashMap::new();
        for k in keys {
            let rows = self
                .rows(
                    "SELECT executing_run FROM consort_jobs WHERE job_group = $1 AND job_name = $2",
                    &[k.group().into(), k.name().into()],
                )
                .await?;
            if let Some(row) = rows.first() {
                out.insert(k.clone(), Cols::new("consort_jobs", row).opt_int()?);
            }
        }
        Ok(out)
    }

    async fn set_executing(&mut self, updates: &[(JobKey, Option<i64>)]) -> Result<(), StoreError> {
        for (k, run) in updates {
            self.exec(
                "UPDATE consort_jobs SET executing_run = $1 WHERE job_group = $2 AND job_name = $3",
                &[(*run).into(), k.group().into(), k.name().into()],
            )
            .await?;
        }
        Ok(())
    }

    async fn release(&mut self, keys: &[TriggerKey]) -> Result<(), StoreError> {
        for k in keys {
            self.exec(
                "UPDATE consort_triggers SET state = 'WAITING', instance_id = NULL, acquired_ms = NULL \
                 WHERE trigger_group = $1 AND trigger_name = $2 AND state = 'ACQUIRED'",
                &[k.group().into(), k.name().into()],
            )
            .await?;
        }
        Ok(())
    }

    async fn insert_runs(&mut self, instance: &str, runs: &[NewRun]) -> Result<Vec<i64>, StoreError> {
        // Ids continue the run table's AUTOINCREMENT sequence (above every id it ever held) and
        // the recent runs': a run keeps its id when it moves to the run table.
        let last = self
            .rows(
                "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'consort_runs'), 0), \
                 COALESCE((SELECT MAX(id) FROM consort_recent_runs), 0))",
                &[],
            )
            .await?;
        let mut next = Cols::new("consort_recent_runs", last.first().map_or(&[][..], Vec::as_slice)).int()?;
        let mut ids = Vec::with_capacity(runs.len());
        for r in runs {
            next += 1;
            self.exec(
                "INSERT INTO consort_recent_runs (id, job_group, job_name, trigger_group, trigger_name, scheduled_ms, \
                 fired_ms, instance_id, recovers_run) VALUES ($9, $1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    r.job.group().into(),
                    r.job.name().into(),
                    r.trigger.group().into(),
                    r.trigger.name().into(),
                    r.scheduled_ms.into(),
                    r.fired_ms.into(),
                    instance.into(),
                    r.recovers_run.into(),
                    next.into(),
                ],
            )
            .await?;
            ids.push(next);
        }
        Ok(ids)
    }

    async fn next_fire(&mut self, instance: &str, misfired_before_ms: i64) -> Result<Option<i64>, StoreError> {
        let rows = self
            .rows(
                "SELECT MIN(n) FROM (\
                   SELECT * FROM (SELECT t.next_fire_ms AS n FROM consort_triggers t WHERE t.state = 'WAITING' \
                     AND (t.misfire = 'ignore' OR t.next_fire_ms >= $2) \
                     AND NOT EXISTS (SELECT 1 FROM consort_jobs j WHERE j.job_group = t.job_group \
                       AND j.job_name = t.job_name AND j.executing_run IS NOT NULL) \
                     ORDER BY t.next_fire_ms LIMIT 1) \
                   UNION ALL SELECT MIN(next_fire_ms) FROM consort_triggers WHERE state = 'ACQUIRED' AND instance_id = $1)",
                &[instance.into(), misfired_before_ms.into()],
            )
            .await?;
        match rows.first() {
            Some(r) => Cols::new("consort_triggers", r).opt_int(),
            None => Ok(None),
        }
    }
}

/// A connection and its cache of statements rewritten to SQLite's dialect.
type Conn = (Connection, HashMap<String, String>);

/// Read-only connections beside the writer. Each read is one deferred transaction, so the
/// statements of one call (a job with its triggers and runs) see one snapshot.
#[derive(Default)]
struct Readers {
    idle: Mutex<Vec<Conn>>,
    returned: Condvar,
}

/// Read connections for a file database. Each keeps a smaller page cache than the writer's
/// (8 MiB): the writer's cache holds what every cycle reads, a reader's what one list reads.
pub const DEFAULT_READERS: usize = 2;

impl Readers {
    /// Takes an idle connection, waiting for one if all are busy.
    fn take(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().ok()?;
        loop {
            if let Some(conn) = idle.pop() {
                return Some(conn);
            }
            idle = self.returned.wait(idle).ok()?;
        }
    }

    fn give_back(&self, conn: Conn) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
            self.returned.notify_one();
        }
    }
}

/// A read connection taken from [`Readers`], given back on drop.
struct Lease<'a> {
    readers: &'a Readers,
    conn: Option<Conn>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.readers.give_back(conn);
        }
    }
}

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Conn>>,
    /// Empty for `:memory:` (every connection would open its own database): reads then use
    /// the writer.
    readers: Arc<Readers>,
    /// How many read connections a file database gets.
    reader_count: usize,
    commits: Arc<AtomicU64>,
    location: String,
    /// While a clone of the store lives, its checkpointer thread does (see [`checkpointer`]).
    alive: Arc<()>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("location", &self.location).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` (`:memory:` for a private
    /// in-memory database) and applies migrations, with [`DEFAULT_READERS`] read connections.
    pub async fn open(path: &str) -> Result<Self, StoreError> {
        Self::open_with_readers(path, DEFAULT_READERS).await
    }

    /// As [`SqliteStore::open`], with `readers` read-only connections for the API's reads (0:
    /// every read waits for the writer, as a `:memory:` database always does).
    pub async fn open_with_readers(path: &str, readers: usize) -> Result<Self, StoreError> {
        let location = path.to_string();
        let conn = blocking("open", move || -> Result<Connection, StoreError> {
            let conn = if location == ":memory:" { Connection::open_in_memory() } else { Connection::open(&location) }
                .map_err(|e| {
                    db_error(&format!("opening {location:?} (check the directory exists and is writable)"), e)
                })?;
            conn.execute_batch(
                // 32 MiB of page cache (the default is 2 MiB): at 100,000 triggers the trigger
                // table and its indexes stay in memory instead of being re-read every cycle.
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                 PRAGMA busy_timeout = 5000; PRAGMA cache_size = -32768;",
            )
            .map_err(|e| db_error("setting pragmas", e))?;
            conn.set_prepared_statement_cache_capacity(128);
            Ok(conn)
        })
        .await?;
        let store = SqliteStore {
            conn: Arc::new(Mutex::new((conn, HashMap::new()))),
            readers: Arc::new(Readers::default()),
            reader_count: if path == ":memory:" { 0 } else { readers },
            commits: Arc::new(AtomicU64::new(0)),
            location: path.to_string(),
            alive: Arc::new(()),
        };
        store.with_tx("migrate", |tx| run_ready(migrate_sqlite(tx))).await?;
        store.open_readers().await?;
        if path != ":memory:" {
            store.start_checkpointer()?;
        }
        Ok(store)
    }

    /// Moves WAL checkpoints off the writer: the writer would otherwise run one inside the
    /// commit that crosses 1,000 WAL pages, a cycle's commit, copying every page the cycles
    /// dirtied back into the database and syncing both files while the next fires wait. The
    /// more runs stored, the more distinct index pages a cycle dirties, so that cost grew with
    /// the history. The writer keeps a backstop at 10,000 pages in case this thread falls
    /// behind.
    fn start_checkpointer(&self) -> Result<(), StoreError> {
        let conn = Connection::open(&self.location)
            .map_err(|e| db_error(&format!("opening the checkpoint connection to {:?}", self.location), e))?;
        conn.execute_batch("PRAGMA busy_timeout = 5000;").map_err(|e| db_error("setting checkpoint pragmas", e))?;
        let alive = Arc::downgrade(&self.alive);
        let writer = self.conn.clone();
        if let Ok(guard) = writer.lock() {
            guard.0.pragma_update(None, "wal_autocheckpoint", 10_000).map_err(|e| db_error("wal_autocheckpoint", e))?;
        }
        std::thread::Builder::new()
            .name("consort-sqlite-checkpoint".into())
            .spawn(move || checkpointer(&conn, &alive))
            .map_err(|e| StoreError::Database {
                context: "sqlite: starting the checkpoint thread".into(),
                message: e.to_string(),
                transient: false,
            })?;
        Ok(())
    }

    /// Opens the read connections, after the migrations (so they see the schema).
    async fn open_readers(&self) -> Result<(), StoreError> {
        let (location, count, readers) = (self.location.clone(), self.reader_count, self.readers.clone());
        blocking("opening read connections", move || -> Result<(), StoreError> {
            for _ in 0..count {
                let conn = Connection::open(&location)
                    .map_err(|e| db_error(&format!("opening a read connection to {location:?}"), e))?;
                // query_only: a statement that writes fails instead of taking the write lock.
                conn.execute_batch("PRAGMA query_only = ON; PRAGMA busy_timeout = 5000; PRAGMA cache_size = -8192;")
                    .map_err(|e| db_error("setting a read connection's pragmas", e))?;
                conn.set_prepared_statement_cache_capacity(128);
                readers.give_back((conn, HashMap::new()));
            }
            Ok(())
        })
        .await
    }

    /// A transaction that only reads: on a read connection when there is one (it never
    /// waits for the writer), else on the writer.
    async fn with_read_tx<T, F>(&self, context: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&mut SqliteTx<'a>) -> Result<T, StoreError> + Send + 'static,
    {
        if self.reader_count == 0 {
            return self.run_tx(context, false, f).await;
        }
        let readers = self.readers.clone();
        blocking(context, move || {
            let Some(conn) = readers.take() else {
                return Err(StoreError::Database {
                    context: format!("sqlite: {context}"),
                    message: "read connections' lock poisoned by an earlier panic; restart consort".into(),
                    transient: false,
                });
            };
            // Given back on every path, a panic included, so the pool never shrinks.
            let mut lease = Lease { readers: &readers, conn: Some(conn) };
            let Some((conn, dialect)) = lease.conn.as_mut() else {
                return Err(StoreError::Database {
                    context: format!("sqlite: {context}"),
                    message: "a read connection was given back while in use".into(),
                    transient: true,
                });
            };
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred).map_err(|e| db_error(context, e))?;
            let value = f(&mut SqliteTx { tx: &tx, dialect })?;
            tx.commit().map_err(|e| db_error(context, e))?;
            Ok(value)
        })
        .await
    }

    async fn with_tx<T, F>(&self, context: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&mut SqliteTx<'a>) -> Result<T, StoreError> + Send + 'static,
    {
        self.run_tx(context, false, f).await
    }

    /// As `with_tx`, but the commit reaches the disk before this returns (`synchronous =
    /// FULL` for this transaction only): a ledger entry is acknowledged only once it would
    /// survive a power loss. Other transactions keep `NORMAL`, which in WAL mode survives a
    /// crash of the process but may lose the last commits on a power loss.
    async fn with_durable_tx<T, F>(&self, context: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&mut SqliteTx<'a>) -> Result<T, StoreError> + Send + 'static,
    {
        self.run_tx(context, true, f).await
    }

    async fn run_tx<T, F>(&self, context: &'static str, durable: bool, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&mut SqliteTx<'a>) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        let commits = self.commits.clone();
        blocking(context, move || {
            let mut guard = conn.lock().map_err(|_| StoreError::Database {
                context: format!("sqlite: {context}"),
                message: "connection lock poisoned by an earlier panic; restart consort".into(),
                transient: false,
            })?;
            let (conn, dialect) = &mut *guard;
            if durable {
                conn.pragma_update(None, "synchronous", "FULL").map_err(|e| db_error(context, e))?;
            }
            let run = |conn: &mut Connection| {
                let tx =
                    conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| db_error(context, e))?;
                let value = f(&mut SqliteTx { tx: &tx, dialect })?;
                tx.commit().map_err(|e| db_error(context, e))?;
                commits.fetch_add(1, Ordering::Relaxed);
                Ok(value)
            };
            let result = run(conn);
            // Back to the connection's setting whatever happened, or every later transaction
            // would pay a sync. A failure here only costs speed, and the transaction's outcome
            // stands: reporting a committed append as failed would invite a duplicate retry.
            if durable && let Err(e) = conn.pragma_update(None, "synchronous", "NORMAL") {
                tracing::warn!(context, error = %e, "sqlite: could not restore synchronous = NORMAL");
            }
            result
        })
        .await
    }
}

/// See `Store::move_ended_runs`. One writer: the runs picked are still the ones copied and
/// deleted. A step copies its runs in id order, but steps cover job ranges, so a step's ids
/// may fall below the last step's: the run table's newest pages take inserts out of order.
async fn move_ended_runs(
    tx: &mut SqliteTx<'_>,
    after: Option<&MoveCursor>,
    batch: usize,
) -> Result<RunMove, StoreError> {
    let from = catalog::move_after_params(after);
    let mut params = from.to_vec();
    params.push((batch as i64).into());
    let picked = tx
        .rows(
            "SELECT job_group, job_name, id FROM consort_recent_runs \
             WHERE state <> 'EXECUTING' AND (job_group, job_name, id) > ($1, $2, $3) \
             ORDER BY job_group, job_name, id LIMIT $4",
            &params,
        )
        .await?;
    let Some(last) = picked.last() else { return Ok(RunMove::default()) };
    let last = catalog::move_cursor(last)?;
    let mut range = from.to_vec();
    range.extend(catalog::move_after_params(Some(&last)));
    const PICKED: &str = "state <> 'EXECUTING' AND (job_group, job_name, id) > ($1, $2, $3) AND (job_group, job_name, id) <= ($4, $5, $6)";
    tx.exec(
        &format!(
            "INSERT INTO consort_runs ({RUN_COLUMNS}) SELECT {RUN_COLUMNS} FROM consort_recent_runs \
             WHERE {PICKED} ORDER BY id"
        ),
        &range,
    )
    .await?;
    tx.exec(&format!("DELETE FROM consort_recent_runs WHERE {PICKED}"), &range).await?;
    Ok(RunMove { moved: picked.len(), next_after: (picked.len() == batch).then_some(last) })
}

/// Every 100 ms, a PASSIVE checkpoint (it never blocks the writer or the readers) until the
/// store is dropped.
fn checkpointer(conn: &Connection, alive: &std::sync::Weak<()>) {
    while alive.strong_count() > 0 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(error = %e, "sqlite: checkpoint skipped; the next one retries");
        }
    }
}

async fn migrate_sqlite(tx: &mut SqliteTx<'_>) -> Result<(), StoreError> {
    tx.exec(migrate::TABLE_DDL, &[]).await?;
    let applied = tx
        .rows("SELECT version, name, checksum FROM consort_migrations ORDER BY version", &[])
        .await?
        .iter()
        .map(|r| {
            let mut c = Cols::new("consort_migrations", r);
            Ok(migrate::Applied { version: c.int()?, name: c.text()?, checksum: c.text()? })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    for m in migrate::plan("sqlite", &applied, migrate::SQLITE)? {
        tx.tx.execute_batch(m.sql).map_err(|e| db_error(&format!("migration {} ({})", m.version, m.name), e))?;
        tx.exec(
            "INSERT INTO consort_migrations (version, name, checksum, applied_ms) VALUES ($1, $2, $3, 0)",
            &[m.version.into(), m.name.into(), migrate::checksum(m.sql).into()],
        )
        .await?;
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    async fn put_job(&self, job: &Job, triggers: &[Trigger], replace: bool, now_ms: i64) -> Result<(), StoreError> {
        let (job, triggers) = (job.clone(), triggers.to_vec());
        self.with_tx("put job", move |tx| run_ready(catalog::put_job(tx, &job, &triggers, replace, now_ms))).await
    }

    async fn restore_job(
        &self,
        job: &Job,
        triggers: &[TriggerStatus],
        replace: bool,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (job, triggers) = (job.clone(), triggers.to_vec());
        self.with_tx("restore job", move |tx| run_ready(catalog::restore_job(tx, &job, &triggers, replace, now_ms)))
            .await
    }

    async fn get_job(&self, key: &JobKey) -> Result<Option<JobStatus>, StoreError> {
        let key = key.clone();
        self.with_read_tx("get job", move |tx| run_ready(catalog::get_job(tx, &key))).await
    }

    async fn job_snapshot(
        &self,
        key: &JobKey,
        triggers: usize,
        runs: usize,
    ) -> Result<Option<JobSnapshot>, StoreError> {
        let key = key.clone();
        self.with_read_tx("get job", move |tx| run_ready(catalog::job_snapshot(tx, &key, triggers, runs))).await
    }

    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<JobStatus>, StoreError> {
        let filter = filter.clone();
        self.with_read_tx("list jobs", move |tx| run_ready(catalog::list_jobs(tx, &filter))).await
    }

    async fn delete_job(&self, key: &JobKey) -> Result<bool, StoreError> {
        let key = key.clone();
        self.with_tx("delete job", move |tx| run_ready(catalog::delete_job(tx, &key))).await
    }

    async fn put_trigger(&self, trigger: &Trigger, replace: bool, _now_ms: i64) -> Result<TriggerStatus, StoreError> {
        let trigger = trigger.clone();
        self.with_tx("put trigger", move |tx| run_ready(catalog::put_trigger(tx, &trigger, replace))).await
    }

    async fn get_trigger(&self, key: &TriggerKey) -> Result<Option<TriggerStatus>, StoreError> {
        let key = key.clone();
        self.with_read_tx("get trigger", move |tx| run_ready(catalog::get_trigger(tx, &key))).await
    }

    async fn list_triggers(&self, filter: &TriggerFilter) -> Result<Vec<TriggerStatus>, StoreError> {
        let filter = filter.clone();
        self.with_read_tx("list triggers", move |tx| run_ready(catalog::list_triggers(tx, &filter))).await
    }

    async fn delete_trigger(&self, key: &TriggerKey) -> Result<bool, StoreError> {
        let key = key.clone();
        self.with_tx("delete trigger", move |tx| run_ready(catalog::delete_trigger(tx, &key))).await
    }

    async fn pause(&self, selector: &Selector) -> Result<usize, StoreError> {
        let selector = selector.clone();
        self.with_tx("pause", move |tx| run_ready(catalog::pause(tx, &selector))).await
    }

    async fn resume(&self, selector: &Selector) -> Result<usize, StoreError> {
        let selector = selector.clone();
        self.with_tx("resume", move |tx| run_ready(catalog::resume(tx, &selector))).await
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>, StoreError> {
        let filter = filter.clone();
        self.with_read_tx("list runs", move |tx| run_ready(catalog::list_runs(tx, &filter))).await
    }

    async fn get_run(&self, id: i64) -> Result<Option<Run>, StoreError> {
        self.with_read_tx("get run", move |tx| run_ready(catalog::get_run(tx, id))).await
    }

    async fn expire_runs(&self, fired_before_ms: i64, after_id: i64, batch: usize) -> Result<RunExpiry, StoreError> {
        self.with_tx("expire runs", move |tx| run_ready(catalog::expire_runs(tx, fired_before_ms, after_id, batch)))
            .await
    }

    async fn move_ended_runs(&self, after: Option<&MoveCursor>, batch: usize) -> Result<RunMove, StoreError> {
        let after = after.cloned();
        self.with_tx("move ended runs", move |tx| run_ready(move_ended_runs(tx, after.as_ref(), batch))).await
    }

    async fn trim_runs(
        &self,
        keep: usize,
        from: Option<&JobKey>,
        max_jobs: usize,
        batch: usize,
    ) -> Result<RunTrim, StoreError> {
        let from = from.cloned();
        self.with_tx("trim runs", move |tx| run_ready(catalog::trim_runs(tx, keep, from.as_ref(), max_jobs, batch)))
            .await
    }

    async fn remove_spent_triggers(&self, completed_before_ms: i64, batch: usize) -> Result<usize, StoreError> {
        self.with_tx("remove spent triggers", move |tx| {
            run_ready(catalog::remove_spent_triggers(tx, completed_before_ms, batch))
        })
        .await
    }

    async fn report_run(
        &self,
        id: i64,
        application_id: Option<&str>,
        log_location: Option<&str>,
    ) -> Result<(), StoreError> {
        let (a, l) = (application_id.map(str::to_string), log_location.map(str::to_string));
        self.with_tx("report run", move |tx| run_ready(catalog::report_run(tx, id, a.as_deref(), l.as_deref()))).await
    }

    async fn cycle(&self, request: CycleRequest) -> Result<CycleOutcome, StoreError> {
        let outcome = self.with_tx("cycle", move |tx| run_ready(cycle::cycle(tx, &request))).await;
        // Committed, and the reply lost (for tests: the SQLite call itself cannot lose it).
        consort_scheduler::failpoint::store_step("store::cycle::after_commit")?;
        outcome
    }

    async fn check_in(
        &self,
        instance: &str,
        boot_id: &str,
        now_ms: i64,
        checkin_interval_ms: i64,
        grace_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let (instance, boot_id) = (instance.to_string(), boot_id.to_string());
        self.with_tx("check in", move |tx| {
            run_ready(catalog::check_in(tx, &instance, &boot_id, now_ms, checkin_interval_ms, grace_ms))
        })
        .await
    }

    async fn recover(
        &self,
        failed: &str,
        adoption: &Adoption,
        now_ms: i64,
        grace_ms: i64,
    ) -> Result<Recovery, StoreError> {
        let (failed, adoption) = (failed.to_string(), adoption.clone());
        self.with_tx("recover instance", move |tx| {
            run_ready(catalog::recover(tx, &failed, &adoption, now_ms, grace_ms))
        })
        .await
    }

    async fn leave(&self, instance: &str) -> Result<(), StoreError> {
        let instance = instance.to_string();
        self.with_tx("leave", move |tx| run_ready(catalog::leave(tx, &instance))).await
    }

    async fn instances(&self, after: Option<&str>, limit: Option<usize>) -> Result<Vec<Instance>, StoreError> {
        let after = after.map(str::to_string);
        self.with_read_tx("instances", move |tx| run_ready(catalog::instances(tx, after.as_deref(), limit))).await
    }

    async fn run_history(&self, from_ms: i64, to_ms: i64, width_ms: i64) -> Result<Vec<RunHistoryBucket>, StoreError> {
        self.with_read_tx("run history", move |tx| run_ready(catalog::run_history(tx, from_ms, to_ms, width_ms))).await
    }
}

#[async_trait]
impl AuthStore for SqliteStore {
    async fn create_token(&self, token: NewToken) -> Result<TokenRecord, AuthStoreError> {
        self.with_tx("create token", move |tx| run_ready(auth::create_token(tx, &token)))
            .await
            .map_err(auth::from_store)?
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, AuthStoreError> {
        let hash = hash.to_string();
        self.with_read_tx("read token", move |tx| run_ready(auth::token_by_hash(tx, &hash)))
            .await
            .map_err(auth::from_store)
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, AuthStoreError> {
        self.with_read_tx("list tokens", |tx| run_ready(auth::list_tokens(tx))).await.map_err(auth::from_store)
    }

    async fn revoke_token(&self, id_or_name: &str, now_ms: i64) -> Result<TokenRecord, AuthStoreError> {
        let key = id_or_name.to_string();
        self.with_tx("revoke token", move |tx| run_ready(auth::revoke_token(tx, &key, now_ms)))
            .await
            .map_err(auth::from_store)?
    }

    async fn touch_tokens(&self, ids: &[String], now_ms: i64) -> Result<(), AuthStoreError> {
        let ids = ids.to_vec();
        self.with_tx("record token use", move |tx| run_ready(auth::touch_tokens(tx, &ids, now_ms)))
            .await
            .map_err(auth::from_store)
    }

    async fn append_audit(&self, records: &[AuditRecord]) -> Result<(), AuthStoreError> {
        let records = records.to_vec();
        self.with_tx("append audit", move |tx| run_ready(auth::append_audit(tx, &records)))
            .await
            .map_err(auth::from_store)
    }

    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, AuthStoreError> {
        let query = query.clone();
        self.with_read_tx("list audit", move |tx| run_ready(auth::list_audit(tx, &query)))
            .await
            .map_err(auth::from_store)
    }
}

#[async_trait]
impl ProvisionerStore for SqliteStore {
    async fn provision_adopting(
        &self,
        component: &ComponentRecord,
        job: &Job,
        triggers: &[Trigger],
        adopts: Option<&JobKey>,
        task: Option<&Task>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (component, job, triggers, task) = (component.clone(), job.clone(), triggers.to_vec(), task.cloned());
        let adopts = adopts.cloned();
        self.with_tx("provision", move |tx| {
            run_ready(provisioner::provision(tx, &component, &job, &triggers, adopts.as_ref(), task.as_ref(), now_ms))
        })
        .await
    }

    async fn unprovision(
        &self,
        component_id: &str,
        task: Option<&Task>,
        _now_ms: i64,
    ) -> Result<Option<ComponentRecord>, StoreError> {
        let (id, task) = (component_id.to_string(), task.cloned());
        self.with_tx("unprovision", move |tx| run_ready(provisioner::unprovision(tx, &id, task.as_ref()))).await
    }

    async fn component(&self, component_id: &str) -> Result<Option<ComponentRecord>, StoreError> {
        let id = component_id.to_string();
        self.with_tx("read component", move |tx| run_ready(provisioner::get_component(tx, &id))).await
    }

    async fn component_by_job(&self, job: &JobKey) -> Result<Option<ComponentRecord>, StoreError> {
        let job = job.clone();
        self.with_tx("read component by job", move |tx| run_ready(provisioner::component_by_job(tx, &job))).await
    }

    async fn list_components(&self, after: Option<&str>, limit: usize) -> Result<Vec<ComponentRecord>, StoreError> {
        let after = after.map(str::to_string);
        self.with_tx("list components", move |tx| run_ready(provisioner::list_components(tx, after.as_deref(), limit)))
            .await
    }

    async fn set_acl(
        &self,
        component_id: &str,
        acl: &[String],
        task: Option<&Task>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let (id, acl, task) = (component_id.to_string(), acl.to_vec(), task.cloned());
        self.with_tx("set acl", move |tx| run_ready(provisioner::set_acl(tx, &id, &acl, task.as_ref(), now_ms))).await
    }

    async fn put_task(&self, task: &Task) -> Result<(), StoreError> {
        let task = task.clone();
        self.with_tx("put task", move |tx| run_ready(provisioner::put_task(tx, &task))).await
    }

    async fn task(&self, token: &str) -> Result<Option<Task>, StoreError> {
        let token = token.to_string();
        self.with_tx("read task", move |tx| run_ready(provisioner::get_task(tx, &token))).await
    }

    async fn task_instances(&self) -> Result<Vec<String>, StoreError> {
        self.with_tx("list task instances", move |tx| run_ready(provisioner::task_instances(tx))).await
    }

    async fn claim_orphaned_tasks(
        &self,
        instance: &str,
        stale_instances: &[String],
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<Task>, StoreError> {
        let (instance, stale) = (instance.to_string(), stale_instances.to_vec());
        self.with_tx("claim orphaned tasks", move |tx| {
            run_ready(provisioner::claim_orphaned_tasks(tx, &instance, &stale, limit, now_ms))
        })
        .await
    }
}

#[async_trait]
impl GovernanceStore for SqliteStore {
    async fn create_cleanroom(&self, name: &str, first: Commit, now_ms: i64) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.with_durable_tx("create clean room", move |tx| {
            match run_ready(cleanroom::create(tx, &name, &first, now_ms))? {
                None => Ok(false),
                Some(Ok(_)) => Ok(true),
                Some(Err(refusal)) => Err(cleanroom::refused_first_commit(&name, refusal)),
            }
        })
        .await
    }

    async fn cleanrooms(&self) -> Result<Vec<String>, StoreError> {
        self.with_tx("list clean rooms", |tx| run_ready(cleanroom::cleanrooms(tx))).await
    }

    async fn get(&self, cleanroom: &str, map: Map, key: &str) -> Result<Option<Versioned>, StoreError> {
        let (name, key) = (cleanroom.to_string(), key.to_string());
        self.with_tx("read a clean room value", move |tx| run_ready(cleanroom::get(tx, &name, map, &key))).await
    }

    async fn list(
        &self,
        cleanroom: &str,
        map: Map,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(String, Versioned)>, StoreError> {
        let (name, prefix, after) = (cleanroom.to_string(), prefix.to_string(), after.map(str::to_string));
        self.with_tx("list clean room values", move |tx| {
            run_ready(cleanroom::list(tx, &name, map, &prefix, after.as_deref(), limit))
        })
        .await
    }

    async fn commit(&self, cleanroom: &str, commit: Commit, _now_ms: i64) -> Result<Vec<Entry>, CommitError> {
        let name = cleanroom.to_string();
        let outcome =
            self.with_durable_tx("commit", move |tx| run_ready(cleanroom::commit(tx, &name, &commit))).await?;
        outcome.map_err(|refusal| refusal.into_commit_error(cleanroom))
    }
}

#[async_trait]
impl LedgerStore for SqliteStore {
    async fn append(&self, cleanroom: &str, entries: &[EntryDraft]) -> Result<Vec<Entry>, StoreError> {
        let (name, drafts) = (cleanroom.to_string(), entries.to_vec());
        self.with_durable_tx("append to a ledger", move |tx| run_ready(cleanroom::append(tx, &name, &drafts))).await
    }

    async fn size(&self, cleanroom: &str) -> Result<u64, StoreError> {
        let name = cleanroom.to_string();
        self.with_tx("read a ledger's size", move |tx| run_ready(cleanroom::size(tx, &name))).await
    }

    async fn entries(&self, cleanroom: &str, from: u64, limit: u64) -> Result<Vec<Entry>, StoreError> {
        let name = cleanroom.to_string();
        self.with_tx("read ledger entries", move |tx| run_ready(cleanroom::entries(tx, &name, from, limit))).await
    }

    async fn leaf_hashes(&self, cleanroom: &str, from: u64, to: u64) -> Result<Vec<Hash>, StoreError> {
        let name = cleanroom.to_string();
        self.with_tx("read leaf hashes", move |tx| run_ready(cleanroom::leaf_hashes(tx, &name, from, to))).await
    }

    async fn put_root(&self, root: &SignedRoot) -> Result<(), StoreError> {
        let root = root.clone();
        self.with_durable_tx("store a signed root", move |tx| run_ready(cleanroom::put_root(tx, &root))).await
    }

    async fn latest_root(&self, cleanroom: &str) -> Result<Option<SignedRoot>, StoreError> {
        let name = cleanroom.to_string();
        self.with_tx("read the latest signed root", move |tx| run_ready(cleanroom::latest_root(tx, &name))).await
    }

    async fn root_covering(&self, cleanroom: &str, seq: u64) -> Result<Option<SignedRoot>, StoreError> {
        let name = cleanroom.to_string();
        self.with_tx("read a covering signed root", move |tx| run_ready(cleanroom::root_covering(tx, &name, seq))).await
    }

    async fn roots(&self, cleanroom: &str, from_size: u64, limit: u64) -> Result<Vec<SignedRoot>, StoreError> {
        let name = cleanroom.to_string();
        self.with_tx("read signed roots", move |tx| run_ready(cleanroom::roots(tx, &name, from_size, limit))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn synchronous(store: &SqliteStore, durable: bool) -> i64 {
        let read = |tx: &mut SqliteTx<'_>| {
            let rows = run_ready(tx.rows("PRAGMA synchronous", &[]))?;
            Cols::new("pragma", &rows[0]).int()
        };
        if durable { store.with_durable_tx("test", read).await } else { store.with_tx("test", read).await }.unwrap()
    }

    #[tokio::test]
    async fn only_durable_transactions_sync_and_the_setting_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("consort.db").to_str().unwrap()).await.unwrap();
        // 1 = NORMAL, 2 = FULL.
        assert_eq!(synchronous(&store, false).await, 1);
        assert_eq!(synchronous(&store, true).await, 2);
        assert_eq!(synchronous(&store, false).await, 1);
        // Also after a durable transaction that failed.
        let failed =
            store.with_durable_tx("test", |tx| run_ready(tx.exec("INSERT INTO no_such_table VALUES (1)", &[]))).await;
        assert!(failed.is_err());
        assert_eq!(synchronous(&store, false).await, 1);
    }
}
