//! PostgreSQL backend: several consort instances share one database.
//!
//! tokio-postgres through a small deadpool pool. Cycles use array statements (`unnest`) so
//! one transaction fires a whole batch in a handful of round trips; free triggers are taken
//! with `FOR UPDATE SKIP LOCKED`, so instances never wait for each other's batches. A lost
//! connection (e.g. PostgreSQL restarted) is a transient error: the pool reconnects and the
//! driver retries the cycle.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::BytesMut;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

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
use crate::sql::{Cols, Sql, Value, for_postgres};

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Int(None) | Value::Text(None) => Ok(IsNull::Yes),
            Value::Int(Some(v)) => match *ty {
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Value::Text(Some(s)) => s.as_str().to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::INT8 | Type::INT4 | Type::INT2 | Type::BOOL | Type::TEXT | Type::VARCHAR | Type::BPCHAR)
    }

    to_sql_checked!();
}

fn pg_error(context: &str, e: tokio_postgres::Error) -> StoreError {
    let code = e.code().map(|c| c.code().to_string());
    let transient = e.is_closed()
        || match code.as_deref() {
            None => true, // I/O: the connection broke.
            Some(c) => c.starts_with("08") || c.starts_with("57P") || c == "40001" || c == "40P01" || c == "53300",
        };
    let message = match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    };
    StoreError::Database { context: format!("postgres: {context}"), message, transient }
}

pub(crate) struct PgTx<'a> {
    tx: deadpool_postgres::Transaction<'a>,
}

impl PgTx<'_> {
    async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let stmt = self.tx.prepare_cached(sql).await.map_err(|e| pg_error(sql, e))?;
        self.tx.execute(&stmt, params).await.map_err(|e| pg_error(sql, e))
    }

    async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let stmt = self.tx.prepare_cached(sql).await.map_err(|e| pg_error(sql, e))?;
        self.tx.query(&stmt, params).await.map_err(|e| pg_error(sql, e))
    }
}

fn values(row: &tokio_postgres::Row) -> Result<Vec<Value>, StoreError> {
    let mut out = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let bad = |e: tokio_postgres::Error| pg_error("reading a row", e);
        out.push(match *col.type_() {
            Type::INT8 => Value::Int(row.try_get::<_, Option<i64>>(i).map_err(bad)?),
            Type::INT4 => Value::Int(row.try_get::<_, Option<i32>>(i).map_err(bad)?.map(i64::from)),
            Type::INT2 => Value::Int(row.try_get::<_, Option<i16>>(i).map_err(bad)?.map(i64::from)),
            Type::BOOL => Value::Int(row.try_get::<_, Option<bool>>(i).map_err(bad)?.map(i64::from)),
            _ => Value::Text(row.try_get::<_, Option<String>>(i).map_err(bad)?),
        });
    }
    Ok(out)
}

impl Sql for PgTx<'_> {
    async fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let sql = for_postgres(sql);
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        self.execute(&sql, &params).await
    }

    async fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, StoreError> {
        let sql = for_postgres(sql);
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        self.query(&sql, &params).await?.iter().map(values).collect()
    }

    async fn claim(&mut self, what: &str) -> Result<bool, StoreError> {
        // A transaction-level advisory lock on a 64-bit hash of the name (a collision only
        // makes a claim wait for the next attempt).
        let rows = self.query("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 7310468295))", &[&what]).await?;
        Ok(rows.first().is_some_and(|r| r.get::<_, bool>(0)))
    }
}

fn key_arrays<'k, I: Iterator<Item = (&'k str, &'k str)>>(keys: I) -> (Vec<&'k str>, Vec<&'k str>) {
    keys.unzip()
}

/// A batch of ledger entries as the `unnest` arrays of the insert statements: seq, at_ms,
/// kind, body, leaf hash.
struct EntryArrays<'r>(Vec<i64>, Vec<i64>, Vec<&'r str>, Vec<&'r str>, Vec<&'r str>);

impl<'r> EntryArrays<'r> {
    fn new(rows: &'r [EntryRow]) -> Self {
        EntryArrays(
            rows.iter().map(|r| r.seq).collect(),
            rows.iter().map(|r| r.entry.at_ms).collect(),
            rows.iter().map(|r| r.entry.kind.as_str()).collect(),
            rows.iter().map(|r| r.entry.body.as_str()).collect(),
            rows.iter().map(|r| r.leaf_hash.as_str()).collect(),
        )
    }
}

impl LedgerTx for PgTx<'_> {
    async fn insert_entries(&mut self, cleanroom: &str, rows: &[EntryRow]) -> Result<(), StoreError> {
        // One statement and one round trip for the whole batch.
        let EntryArrays(seqs, at, kinds, bodies, hashes) = EntryArrays::new(rows);
        self.execute(
            "INSERT INTO consort_ledger_entries (cleanroom, seq, at_ms, kind, body, leaf_hash) \
             SELECT $1::text, u.seq, u.at, u.kind, u.body, u.hash \
             FROM unnest($2::int8[], $3::int8[], $4::text[], $5::text[], $6::text[]) AS u(seq, at, kind, body, hash)",
            &[&cleanroom, &seqs, &at, &kinds, &bodies, &hashes],
        )
        .await?;
        Ok(())
    }
}

/// The append hot path in one statement, so one round trip and one implicit transaction
/// (committed, hence durable under the default `synchronous_commit`, before the reply):
/// moves the clean room's ledger size from `$3` (the size this store expects) to `$3 + $2`,
/// which locks its row as the locked path does, and inserts the entries at `$3..`. When the
/// size is not `$3` (another instance or a governance commit appended) the update matches
/// no row and nothing is inserted.
const PREDICTED_APPEND: &str = "WITH claimed AS (\
     UPDATE consort_cleanrooms SET ledger_size = ledger_size + $2 WHERE name = $1 AND ledger_size = $3 \
     RETURNING name) \
     INSERT INTO consort_ledger_entries (cleanroom, seq, at_ms, kind, body, leaf_hash) \
     SELECT $1::text, u.seq, u.at, u.kind, u.body, u.hash FROM claimed, \
     unnest($4::int8[], $5::int8[], $6::text[], $7::text[], $8::text[]) AS u(seq, at, kind, body, hash)";

/// Trigger rows `t` joined to their job `j`: where every query that picks triggers to fire
/// reads. A join, not `NOT EXISTS (... running job)`: for the anti-join the planner read the
/// whole job table once per statement (EXPLAIN, generic plan), for the join one primary-key
/// step per trigger taken.
const TRIGGERS_WITH_JOBS: &str =
    "consort_triggers t JOIN consort_jobs j ON j.job_group = t.job_group AND j.job_name = t.job_name";

/// The head of the queries that read due triggers: each trigger's columns, then its job's
/// (what `cycle::read_due` reads back).
fn due_head() -> String {
    format!("SELECT {}, {} FROM {TRIGGERS_WITH_JOBS}", prefixed("t", TRIGGER_COLUMNS), prefixed("j", JOB_COLUMNS))
}

/// Whether trigger `t` of job `j` ([`TRIGGERS_WITH_JOBS`]) is free to fire: WAITING, not
/// misfired (its instruction ignores misfires, or its fire time is at or after the parameter
/// `misfire_bound`), and its job not running. One text for `acquire`, `due` and `next_fire`,
/// so they never disagree on which triggers may fire.
fn free_to_fire(misfire_bound: &str) -> String {
    format!(
        "t.state = 'WAITING' AND (t.misfire = 'ignore' OR t.next_fire_ms >= {misfire_bound}) \
         AND j.executing_run IS NULL"
    )
}

impl CycleTx for PgTx<'_> {
    const ACQUIRES_DUE: bool = false;

    async fn complete_runs(&mut self, instance: &str, completions: &[Completion]) -> Result<HashSet<i64>, StoreError> {
        let ids: Vec<i64> = completions.iter().map(|c| c.run_id).collect();
        let states: Vec<&str> = completions.iter().map(|c| c.outcome.state.as_str()).collect();
        let ended: Vec<i64> = completions.iter().map(|c| c.ended_ms).collect();
        let errors: Vec<Option<&str>> = completions.iter().map(|c| c.outcome.error.as_deref()).collect();
        let codes: Vec<Option<i64>> = completions.iter().map(|c| c.outcome.exit_code.map(i64::from)).collect();
        let apps: Vec<Option<&str>> = completions.iter().map(|c| c.outcome.application_id.as_deref()).collect();
        let logs: Vec<Option<&str>> = completions.iter().map(|c| c.outcome.log_location.as_deref()).collect();
        let rows = self
            .query(
                // An ended run moves to the history at once, in one statement: PostgreSQL writes a
                // job's index leaf back at its checkpoints, not at every commit, so the scattered
                // leaves cost little, while ending in place and moving in passes (as SQLite does)
                // took 11-16% off the backlog's fires/s (`docs/benchmarks/scale.md`).
                //
                // Each ended run is looked up by its id, one index probe per id (the LATERAL
                // subquery with its LIMIT is not flattened into a join). The table is a queue whose
                // statistics see a handful of live rows, so a plain join of the ids against it was
                // planned as a scan matching every row against every id: 100-200 ms a statement.
                //
                // `FOR UPDATE` locks the row before it is deleted: of an instance completing a run
                // and another abandoning it, one moves it, the other finds none.
                "WITH found AS (SELECT e.id, e.job_group, e.job_name, e.trigger_group, e.trigger_name, \
                   e.scheduled_ms, e.fired_ms, e.instance_id, u.state, u.ended, u.error, u.code, \
                   COALESCE(u.app, e.application_id) AS app, COALESCE(u.log, e.log_location) AS log, e.recovers_run \
                   FROM unnest($1::int8[], $2::text[], $3::int8[], $4::text[], $5::int8[], $6::text[], $7::text[]) \
                     AS u(id, state, ended, error, code, app, log) \
                   CROSS JOIN LATERAL (SELECT * FROM consort_recent_runs r \
                     WHERE r.id = u.id AND r.instance_id = $8 AND r.state = 'EXECUTING' LIMIT 1 FOR UPDATE) e), \
                 gone AS (DELETE FROM consort_recent_runs e WHERE e.id = ANY(ARRAY(SELECT id FROM found))) \
                 INSERT INTO consort_runs (id, job_group, job_name, trigger_group, trigger_name, scheduled_ms, \
                   fired_ms, instance_id, state, ended_ms, error, exit_code, application_id, log_location, recovers_run) \
                 OVERRIDING SYSTEM VALUE SELECT * FROM found RETURNING id",
                &[&ids, &states, &ended, &errors, &codes, &apps, &logs, &instance],
            )
            .await?;
        let ended: HashSet<i64> = rows.iter().map(|r| r.get(0)).collect();
        for c in completions {
            let Some(t) = &c.error_trigger else { continue };
            self.execute(
                "UPDATE consort_triggers SET state = 'ERROR', error = $3, instance_id = NULL, acquired_ms = NULL \
                 WHERE trigger_group = $1 AND trigger_name = $2 AND state IN ('WAITING', 'ACQUIRED')",
                &[&t.group(), &t.name(), &c.outcome.error],
            )
            .await?;
        }
        Ok(ended)
    }

    async fn misfired(
        &mut self,
        now_ms: i64,
        threshold_ms: i64,
        limit: usize,
    ) -> Result<(Vec<RawTrigger>, Vec<Poison>), StoreError> {
        // The oldest WAITING fire time first (one step into the due index): when it is within
        // the threshold, nothing has misfired. The scan itself, planned once for any `$1`,
        // reads the whole table (70 ms at 10,000 triggers, more with dead row versions) even
        // when it finds nothing, as it almost always does.
        let cutoff = now_ms - threshold_ms;
        let oldest = self.query("SELECT min(next_fire_ms) FROM consort_triggers WHERE state = 'WAITING'", &[]).await?;
        if oldest.first().and_then(|r| r.get::<_, Option<i64>>(0)).is_none_or(|t| t >= cutoff) {
            return Ok((Vec::new(), Vec::new()));
        }
        let sql = format!(
            "SELECT {TRIGGER_COLUMNS} FROM consort_triggers WHERE state = 'WAITING' AND misfire <> 'ignore' \
             AND next_fire_ms < $1 ORDER BY next_fire_ms LIMIT $2{{skip_locked}}"
        );
        cycle::read_triggers(&self.rows(&sql, &[cutoff.into(), (limit as i64).into()]).await?)
    }

    async fn save_statuses(&mut self, updates: &[StatusUpdate]) -> Result<(), StoreError> {
        if updates.is_empty() {
            return Ok(());
        }
        let (groups, names) = key_arrays(updates.iter().map(|u| (u.key.group(), u.key.name())));
        let next: Vec<Option<i64>> = updates.iter().map(|u| u.next_fire_ms).collect();
        let prev: Vec<Option<i64>> = updates.iter().map(|u| u.prev_fire_ms).collect();
        let times: Vec<i64> = updates.iter().map(|u| u.times_triggered).collect();
        let states: Vec<&str> = updates.iter().map(|u| u.state).collect();
        let errors: Vec<Option<&str>> = updates.iter().map(|u| u.error.as_deref()).collect();
        self.execute(
            "UPDATE consort_triggers t SET next_fire_ms = u.next, prev_fire_ms = COALESCE(u.prev, t.prev_fire_ms), \
             times_triggered = u.times, state = u.state, error = u.error, instance_id = NULL, acquired_ms = NULL \
             FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::text[], $7::text[]) \
               AS u(g, n, next, prev, times, state, error) \
             WHERE t.trigger_group = u.g AND t.trigger_name = u.n",
            &[&groups, &names, &next, &prev, &times, &states, &errors],
        )
        .await?;
        Ok(())
    }

    async fn acquire(&mut self, r: &CycleRequest, limit: usize) -> Result<usize, StoreError> {
        // Only triggers not due yet are marked ACQUIRED, to hold them until their time; those
        // due now are locked by `due` and fired in this transaction: one write of the trigger
        // row per fire instead of two (each a new row version and an entry in every index).
        // Called last in the cycle (`ACQUIRES_DUE` is false).
        let n = self
            .execute(
                &format!(
                    "UPDATE consort_triggers a SET state = 'ACQUIRED', instance_id = $1, acquired_ms = $2 FROM \
                     (SELECT t.trigger_group, t.trigger_name FROM {TRIGGERS_WITH_JOBS} WHERE {} \
                      AND t.next_fire_ms > $2 AND t.next_fire_ms <= $3 \
                      ORDER BY t.next_fire_ms, t.priority DESC LIMIT $5 FOR UPDATE OF t SKIP LOCKED) s \
                     WHERE a.trigger_group = s.trigger_group AND a.trigger_name = s.trigger_name",
                    free_to_fire("$4")
                ),
                &[
                    &r.instance,
                    &r.now_ms,
                    &(r.now_ms + r.acquire_ahead_ms),
                    &(r.now_ms - r.misfire_threshold_ms),
                    &(limit as i64),
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
        let head = due_head();
        let held = format!(
            "{head} WHERE t.state = 'ACQUIRED' AND t.instance_id = $1 AND t.next_fire_ms <= $2 \
             ORDER BY t.next_fire_ms, t.priority DESC LIMIT $3 FOR UPDATE OF t"
        );
        let mut rows = self.rows(&held, &[r.instance.as_str().into(), r.now_ms.into(), (limit as i64).into()]).await?;
        let held_count = rows.len();
        if held_count < limit {
            // Free triggers due now, taken as `acquire` takes them (SKIP LOCKED: instances never
            // wait for each other). FOR UPDATE returns each row as its latest committed version
            // re-checked against the conditions, so a trigger another instance just fired is
            // seen with its new fire time, or not at all. Whether a non-concurrent job is running
            // is checked again under the job's lock by the cycle.
            let free = format!(
                "{head} WHERE {} AND t.next_fire_ms <= $1 \
                 ORDER BY t.next_fire_ms, t.priority DESC LIMIT $3 FOR UPDATE OF t SKIP LOCKED",
                free_to_fire("$2")
            );
            let params: [Value; 3] =
                [r.now_ms.into(), (r.now_ms - r.misfire_threshold_ms).into(), ((limit - held_count) as i64).into()];
            rows.extend(self.rows(&free, &params).await?);
        }
        let taken = rows.len() - held_count;
        let (mut due, poisoned) = cycle::read_due(&rows)?;
        if held_count > 0 && taken > 0 {
            // Firing order across both sets, as one query would give it.
            due.sort_by_key(|(t, _)| (t.next_fire_ms, std::cmp::Reverse(t.priority)));
        }
        Ok((due, poisoned, taken))
    }

    async fn lock_jobs(&mut self, keys: &[JobKey]) -> Result<HashMap<JobKey, Option<i64>>, StoreError> {
        let (groups, names) = key_arrays(keys.iter().map(|k| (k.group(), k.name())));
        let rows = self
            .query(
                "SELECT job_group, job_name, executing_run FROM consort_jobs WHERE (job_group, job_name) IN \
                 (SELECT * FROM unnest($1::text[], $2::text[])) ORDER BY job_group, job_name FOR UPDATE",
                &[&groups, &names],
            )
            .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for row in rows {
            let v = values(&row)?;
            let mut c = Cols::new("consort_jobs", &v);
            out.insert(JobKey::new(c.text()?, c.text()?)?, c.opt_int()?);
        }
        Ok(out)
    }

    async fn set_executing(&mut self, updates: &[(JobKey, Option<i64>)]) -> Result<(), StoreError> {
        let (groups, names) = key_arrays(updates.iter().map(|(k, _)| (k.group(), k.name())));
        let runs: Vec<Option<i64>> = updates.iter().map(|(_, r)| *r).collect();
        self.execute(
            "UPDATE consort_jobs j SET executing_run = u.run FROM unnest($1::text[], $2::text[], $3::int8[]) \
             AS u(g, n, run) WHERE j.job_group = u.g AND j.job_name = u.n",
            &[&groups, &names, &runs],
        )
        .await?;
        Ok(())
    }

    async fn release(&mut self, keys: &[TriggerKey]) -> Result<(), StoreError> {
        let (groups, names) = key_arrays(keys.iter().map(|k| (k.group(), k.name())));
        self.execute(
            "UPDATE consort_triggers t SET state = 'WAITING', instance_id = NULL, acquired_ms = NULL \
             FROM unnest($1::text[], $2::text[]) AS u(g, n) \
             WHERE t.trigger_group = u.g AND t.trigger_name = u.n AND t.state = 'ACQUIRED'",
            &[&groups, &names],
        )
        .await?;
        Ok(())
    }

    async fn insert_runs(&mut self, instance: &str, runs: &[NewRun]) -> Result<Vec<i64>, StoreError> {
        let (jg, jn) = key_arrays(runs.iter().map(|r| (r.job.group(), r.job.name())));
        let (tg, tn) = key_arrays(runs.iter().map(|r| (r.trigger.group(), r.trigger.name())));
        let scheduled: Vec<i64> = runs.iter().map(|r| r.scheduled_ms).collect();
        let fired: Vec<i64> = runs.iter().map(|r| r.fired_ms).collect();
        let recovers: Vec<Option<i64>> = runs.iter().map(|r| r.recovers_run).collect();
        let rows = self
            .query(
                "INSERT INTO consort_recent_runs (job_group, job_name, trigger_group, trigger_name, scheduled_ms, \
                 fired_ms, instance_id, recovers_run) \
                 SELECT u.jg, u.jn, u.tg, u.tn, u.s, u.f, $1, u.rr FROM unnest($2::text[], $3::text[], \
                 $4::text[], $5::text[], $6::int8[], $7::int8[], $8::int8[]) WITH ORDINALITY \
                 AS u(jg, jn, tg, tn, s, f, rr, ord) ORDER BY u.ord \
                 RETURNING id, trigger_group, trigger_name",
                &[&instance, &jg, &jn, &tg, &tn, &scheduled, &fired, &recovers],
            )
            .await?;
        // A trigger fires at most once per cycle, so its key identifies its run.
        let mut by_trigger: HashMap<(String, String), i64> = HashMap::with_capacity(rows.len());
        for row in rows {
            let v = values(&row)?;
            let mut c = Cols::new("consort_recent_runs", &v);
            let id = c.int()?;
            by_trigger.insert((c.text()?, c.text()?), id);
        }
        runs.iter()
            .map(|r| {
                by_trigger.get(&(r.trigger.group().to_string(), r.trigger.name().to_string())).copied().ok_or_else(
                    || StoreError::Corrupt {
                        table: "consort_recent_runs",
                        message: "an inserted run was not returned".into(),
                    },
                )
            })
            .collect()
    }

    async fn next_fire(&mut self, instance: &str, misfired_before_ms: i64) -> Result<Option<i64>, StoreError> {
        let rows = self
            .rows(
                &format!(
                    "SELECT MIN(n) FROM (\
                       (SELECT t.next_fire_ms AS n FROM {TRIGGERS_WITH_JOBS} WHERE {} ORDER BY t.next_fire_ms LIMIT 1) \
                       UNION ALL SELECT MIN(next_fire_ms) FROM consort_triggers WHERE state = 'ACQUIRED' \
                       AND instance_id = $1) AS m",
                    free_to_fire("$2")
                ),
                &[instance.into(), misfired_before_ms.into()],
            )
            .await?;
        match rows.first() {
            Some(r) => Cols::new("consort_triggers", r).opt_int(),
            None => Ok(None),
        }
    }
}

/// The PostgreSQL store.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    commits: Arc<AtomicU64>,
    /// Per clean room, the ledger size this store expects its next append to find (after its
    /// own appends and commits, including those still in flight); see [`PREDICTED_APPEND`].
    ledger_next: Arc<std::sync::Mutex<HashMap<String, i64>>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("pool", &self.pool.status()).finish_non_exhaustive()
    }
}

macro_rules! in_tx {
    ($store:expr, $context:expr, |$db:ident| $body:expr) => {{
        let context: &str = $context;
        let mut client = $store.client(context).await?;
        let tx = client.transaction().await.map_err(|e| pg_error(context, e))?;
        #[allow(unused_mut)]
        let mut $db = PgTx { tx };
        let value = $body.await?;
        $db.tx.commit().await.map_err(|e| pg_error(context, e))?;
        $store.commits.fetch_add(1, Ordering::Relaxed);
        Ok(value)
    }};
}

impl PgStore {
    /// Connects with a pool of up to `pool_size` connections and applies migrations.
    pub async fn connect(url: &str, pool_size: usize) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| StoreError::Database {
            context: "postgres: parsing the URL".into(),
            message: format!("{e}: use postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"),
            transient: false,
        })?;
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager).max_size(pool_size.max(1)).build().map_err(|e| StoreError::Database {
            context: "postgres: building the pool".into(),
            message: e.to_string(),
            transient: false,
        })?;
        let store = PgStore { pool, commits: Arc::new(AtomicU64::new(0)), ledger_next: Arc::default() };
        store.migrate().await?;
        Ok(store)
    }

    async fn client(&self, context: &str) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| StoreError::Database {
            context: format!("postgres: connecting for {context}"),
            message: format!("{e} (is PostgreSQL running and the URL right?)"),
            transient: true,
        })
    }

    /// Reserves `n` places at the end of the clean room's ledger as this store expects it;
    /// `None` when it has no expectation (first append, or the last prediction failed).
    fn reserve_places(&self, cleanroom: &str, n: i64) -> Option<i64> {
        let mut next = self.ledger_next.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let slot = next.get_mut(cleanroom)?;
        let first = *slot;
        *slot += n;
        Some(first)
    }

    /// Records what the clean room's ledger size is after a known append (`None`: unknown).
    fn expect_size(&self, cleanroom: &str, size: Option<i64>) {
        let mut next = self.ledger_next.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match size {
            Some(size) => next.insert(cleanroom.to_owned(), size),
            None => next.remove(cleanroom),
        };
    }

    /// Appends at the reserved places `first..` with [`PREDICTED_APPEND`]; `Ok(None)` when the
    /// ledger's size was not `first` (nothing was written).
    async fn append_predicted(
        &self,
        cleanroom: &str,
        first: i64,
        drafts: &[EntryDraft],
    ) -> Result<Option<Vec<Entry>>, StoreError> {
        const CONTEXT: &str = "append to a ledger";
        let rows = cleanroom::entry_rows(cleanroom, first, drafts)?;
        let EntryArrays(seqs, at, kinds, bodies, hashes) = EntryArrays::new(&rows);
        let client = self.client(CONTEXT).await?;
        let stmt = client.prepare_cached(PREDICTED_APPEND).await.map_err(|e| pg_error(CONTEXT, e))?;
        let n = cleanroom::count(rows.len());
        let inserted = client
            .execute(&stmt, &[&cleanroom, &n, &first, &seqs, &at, &kinds, &bodies, &hashes])
            .await
            .map_err(|e| pg_error(CONTEXT, e))?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        match inserted {
            0 => Ok(None),
            k if k == rows.len() as u64 => Ok(Some(rows.into_iter().map(|r| r.entry).collect())),
            k => Err(StoreError::Corrupt {
                table: cleanroom::ENTRIES,
                message: format!(
                    "appending {} entries to the ledger of clean room {cleanroom:?} inserted {k}: \
                     export it and run `consort ledger verify`",
                    rows.len()
                ),
            }),
        }
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        in_tx!(self, "migrate", |db| async {
            db.execute("SELECT pg_advisory_xact_lock(7310468295)", &[]).await?;
            db.exec(migrate::TABLE_DDL, &[]).await?;
            let applied = db
                .rows("SELECT version, name, checksum FROM consort_migrations ORDER BY version", &[])
                .await?
                .iter()
                .map(|r| {
                    let mut c = Cols::new("consort_migrations", r);
                    Ok(migrate::Applied { version: c.int()?, name: c.text()?, checksum: c.text()? })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            for m in migrate::plan("postgres", &applied, migrate::POSTGRES)? {
                db.tx
                    .batch_execute(m.sql)
                    .await
                    .map_err(|e| pg_error(&format!("migration {} ({})", m.version, m.name), e))?;
                db.exec(
                    "INSERT INTO consort_migrations (version, name, checksum, applied_ms) VALUES ($1, $2, $3, 0)",
                    &[m.version.into(), m.name.into(), migrate::checksum(m.sql).into()],
                )
                .await?;
            }
            Ok::<(), StoreError>(())
        })
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    async fn put_job(&self, job: &Job, triggers: &[Trigger], replace: bool, now_ms: i64) -> Result<(), StoreError> {
        in_tx!(self, "put job", |db| catalog::put_job(&mut db, job, triggers, replace, now_ms))
    }

    async fn restore_job(
        &self,
        job: &Job,
        triggers: &[TriggerStatus],
        replace: bool,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        in_tx!(self, "restore job", |db| catalog::restore_job(&mut db, job, triggers, replace, now_ms))
    }

    async fn get_job(&self, key: &JobKey) -> Result<Option<JobStatus>, StoreError> {
        in_tx!(self, "get job", |db| catalog::get_job(&mut db, key))
    }

    async fn job_snapshot(
        &self,
        key: &JobKey,
        triggers: usize,
        runs: usize,
    ) -> Result<Option<JobSnapshot>, StoreError> {
        let context = "get job";
        let mut client = self.client(context).await?;
        // One snapshot for the three reads: READ COMMITTED gives each statement its own.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|e| pg_error(context, e))?;
        let mut db = PgTx { tx };
        let value = catalog::job_snapshot(&mut db, key, triggers, runs).await?;
        db.tx.commit().await.map_err(|e| pg_error(context, e))?;
        Ok(value)
    }

    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<JobStatus>, StoreError> {
        in_tx!(self, "list jobs", |db| catalog::list_jobs(&mut db, filter))
    }

    async fn delete_job(&self, key: &JobKey) -> Result<bool, StoreError> {
        in_tx!(self, "delete job", |db| catalog::delete_job(&mut db, key))
    }

    async fn put_trigger(&self, trigger: &Trigger, replace: bool, _now_ms: i64) -> Result<TriggerStatus, StoreError> {
        in_tx!(self, "put trigger", |db| catalog::put_trigger(&mut db, trigger, replace))
    }

    async fn get_trigger(&self, key: &TriggerKey) -> Result<Option<TriggerStatus>, StoreError> {
        in_tx!(self, "get trigger", |db| catalog::get_trigger(&mut db, key))
    }

    async fn list_triggers(&self, filter: &TriggerFilter) -> Result<Vec<TriggerStatus>, StoreError> {
        in_tx!(self, "list triggers", |db| catalog::list_triggers(&mut db, filter))
    }

    async fn delete_trigger(&self, key: &TriggerKey) -> Result<bool, StoreError> {
        in_tx!(self, "delete trigger", |db| catalog::delete_trigger(&mut db, key))
    }

    async fn pause(&self, selector: &Selector) -> Result<usize, StoreError> {
        in_tx!(self, "pause", |db| catalog::pause(&mut db, selector))
    }

    async fn resume(&self, selector: &Selector) -> Result<usize, StoreError> {
        in_tx!(self, "resume", |db| catalog::resume(&mut db, selector))
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>, StoreError> {
        in_tx!(self, "list runs", |db| catalog::list_runs(&mut db, filter))
    }

    async fn get_run(&self, id: i64) -> Result<Option<Run>, StoreError> {
        in_tx!(self, "get run", |db| catalog::get_run(&mut db, id))
    }

    async fn expire_runs(&self, fired_before_ms: i64, after_id: i64, batch: usize) -> Result<RunExpiry, StoreError> {
        in_tx!(self, "expire runs", |db| catalog::expire_runs(&mut db, fired_before_ms, after_id, batch))
    }

    async fn move_ended_runs(&self, after: Option<&MoveCursor>, batch: usize) -> Result<RunMove, StoreError> {
        // One statement: the rows deleted are the ones copied. Runs another instance's pass
        // holds are skipped, not waited for; that pass moves them.
        let mut params = catalog::move_after_params(after).to_vec();
        params.push((batch as i64).into());
        let sql = format!(
            "WITH picked AS (SELECT id FROM consort_recent_runs \
               WHERE state <> 'EXECUTING' AND (job_group, job_name, id) > ($1, $2, $3) \
               ORDER BY job_group, job_name, id LIMIT $4{{skip_locked}}), \
             gone AS (DELETE FROM consort_recent_runs r USING picked p WHERE r.id = p.id RETURNING r.*), \
             moved AS (INSERT INTO consort_runs ({RUN_COLUMNS}) OVERRIDING SYSTEM VALUE \
               SELECT {RUN_COLUMNS} FROM gone ORDER BY id) \
             SELECT job_group, job_name, id, (SELECT COUNT(*) FROM gone) FROM gone \
             ORDER BY job_group DESC, job_name DESC, id DESC LIMIT 1"
        );
        let rows: Result<Vec<Vec<Value>>, StoreError> =
            async { in_tx!(self, "move ended runs", |db| db.rows(&sql, &params)) }.await;
        let rows = rows?;
        let Some(last) = rows.first() else { return Ok(RunMove::default()) };
        let moved = Cols::new("consort_recent_runs", &last[3..]).int()? as usize;
        let cursor = catalog::move_cursor(&last[..3])?;
        Ok(RunMove { moved, next_after: (moved == batch).then_some(cursor) })
    }

    async fn trim_runs(
        &self,
        keep: usize,
        from: Option<&JobKey>,
        max_jobs: usize,
        batch: usize,
    ) -> Result<RunTrim, StoreError> {
        in_tx!(self, "trim runs", |db| catalog::trim_runs(&mut db, keep, from, max_jobs, batch))
    }

    async fn remove_spent_triggers(&self, completed_before_ms: i64, batch: usize) -> Result<usize, StoreError> {
        in_tx!(self, "remove spent triggers", |db| catalog::remove_spent_triggers(&mut db, completed_before_ms, batch))
    }

    async fn report_run(
        &self,
        id: i64,
        application_id: Option<&str>,
        log_location: Option<&str>,
    ) -> Result<(), StoreError> {
        in_tx!(self, "report run", |db| catalog::report_run(&mut db, id, application_id, log_location))
    }

    async fn cycle(&self, request: CycleRequest) -> Result<CycleOutcome, StoreError> {
        let outcome: Result<CycleOutcome, StoreError> = in_tx!(self, "cycle", |db| cycle::cycle(&mut db, &request));
        // Committed, and the reply lost (as when the connection breaks right after COMMIT).
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
        in_tx!(self, "check in", |db| catalog::check_in(
            &mut db,
            instance,
            boot_id,
            now_ms,
            checkin_interval_ms,
            grace_ms
        ))
    }

    async fn recover(
        &self,
        failed: &str,
        adoption: &Adoption,
        now_ms: i64,
        grace_ms: i64,
    ) -> Result<Recovery, StoreError> {
        in_tx!(self, "recover instance", |db| catalog::recover(&mut db, failed, adoption, now_ms, grace_ms))
    }

    async fn leave(&self, instance: &str) -> Result<(), StoreError> {
        in_tx!(self, "leave", |db| catalog::leave(&mut db, instance))
    }

    async fn instances(&self, after: Option<&str>, limit: Option<usize>) -> Result<Vec<Instance>, StoreError> {
        in_tx!(self, "instances", |db| catalog::instances(&mut db, after, limit))
    }

    async fn run_history(&self, from_ms: i64, to_ms: i64, width_ms: i64) -> Result<Vec<RunHistoryBucket>, StoreError> {
        in_tx!(self, "run history", |db| catalog::run_history(&mut db, from_ms, to_ms, width_ms))
    }
}

/// Runs `$body` in one transaction, as this area's error.
macro_rules! auth_tx {
    ($store:expr, $context:expr, |$db:ident| $body:expr) => {{
        let result: Result<_, StoreError> = async { in_tx!($store, $context, |$db| $body) }.await;
        result.map_err(auth::from_store)
    }};
}

#[async_trait]
impl AuthStore for PgStore {
    async fn create_token(&self, token: NewToken) -> Result<TokenRecord, AuthStoreError> {
        auth_tx!(self, "create token", |db| auth::create_token(&mut db, &token))?
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, AuthStoreError> {
        auth_tx!(self, "read token", |db| auth::token_by_hash(&mut db, hash))
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, AuthStoreError> {
        auth_tx!(self, "list tokens", |db| auth::list_tokens(&mut db))
    }

    async fn revoke_token(&self, id_or_name: &str, now_ms: i64) -> Result<TokenRecord, AuthStoreError> {
        auth_tx!(self, "revoke token", |db| auth::revoke_token(&mut db, id_or_name, now_ms))?
    }

    async fn touch_tokens(&self, ids: &[String], now_ms: i64) -> Result<(), AuthStoreError> {
        auth_tx!(self, "record token use", |db| auth::touch_tokens(&mut db, ids, now_ms))
    }

    async fn append_audit(&self, records: &[AuditRecord]) -> Result<(), AuthStoreError> {
        auth_tx!(self, "append audit", |db| auth::append_audit(&mut db, records))
    }

    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, AuthStoreError> {
        auth_tx!(self, "list audit", |db| auth::list_audit(&mut db, query))
    }
}

#[async_trait]
impl ProvisionerStore for PgStore {
    async fn provision_adopting(
        &self,
        component: &ComponentRecord,
        job: &Job,
        triggers: &[Trigger],
        adopts: Option<&JobKey>,
        task: Option<&Task>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        in_tx!(self, "provision", |db| provisioner::provision(&mut db, component, job, triggers, adopts, task, now_ms))
    }

    async fn unprovision(
        &self,
        component_id: &str,
        task: Option<&Task>,
        _now_ms: i64,
    ) -> Result<Option<ComponentRecord>, StoreError> {
        in_tx!(self, "unprovision", |db| provisioner::unprovision(&mut db, component_id, task))
    }

    async fn component(&self, component_id: &str) -> Result<Option<ComponentRecord>, StoreError> {
        in_tx!(self, "read component", |db| provisioner::get_component(&mut db, component_id))
    }

    async fn component_by_job(&self, job: &JobKey) -> Result<Option<ComponentRecord>, StoreError> {
        in_tx!(self, "read component by job", |db| provisioner::component_by_job(&mut db, job))
    }

    async fn list_components(&self, after: Option<&str>, limit: usize) -> Result<Vec<ComponentRecord>, StoreError> {
        in_tx!(self, "list components", |db| provisioner::list_components(&mut db, after, limit))
    }

    async fn set_acl(
        &self,
        component_id: &str,
        acl: &[String],
        task: Option<&Task>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        in_tx!(self, "set acl", |db| provisioner::set_acl(&mut db, component_id, acl, task, now_ms))
    }

    async fn put_task(&self, task: &Task) -> Result<(), StoreError> {
        in_tx!(self, "put task", |db| provisioner::put_task(&mut db, task))
    }

    async fn task(&self, token: &str) -> Result<Option<Task>, StoreError> {
        in_tx!(self, "read task", |db| provisioner::get_task(&mut db, token))
    }

    async fn task_instances(&self) -> Result<Vec<String>, StoreError> {
        in_tx!(self, "list task instances", |db| provisioner::task_instances(&mut db))
    }

    async fn claim_orphaned_tasks(
        &self,
        instance: &str,
        stale_instances: &[String],
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<Task>, StoreError> {
        in_tx!(self, "claim orphaned tasks", |db| provisioner::claim_orphaned_tasks(
            &mut db,
            instance,
            stale_instances,
            limit,
            now_ms
        ))
    }
}

#[async_trait]
impl GovernanceStore for PgStore {
    async fn create_cleanroom(&self, name: &str, first: Commit, now_ms: i64) -> Result<bool, StoreError> {
        in_tx!(self, "create clean room", |db| async {
            match cleanroom::create(&mut db, name, &first, now_ms).await? {
                None => Ok(false),
                Some(Ok(_)) => Ok(true),
                // An error, so the transaction rolls back and the clean room is not created.
                Some(Err(refusal)) => Err(cleanroom::refused_first_commit(name, refusal)),
            }
        })
    }

    async fn cleanrooms(&self) -> Result<Vec<String>, StoreError> {
        in_tx!(self, "list clean rooms", |db| cleanroom::cleanrooms(&mut db))
    }

    async fn get(&self, cleanroom: &str, map: Map, key: &str) -> Result<Option<Versioned>, StoreError> {
        in_tx!(self, "read a clean room value", |db| cleanroom::get(&mut db, cleanroom, map, key))
    }

    async fn list(
        &self,
        cleanroom: &str,
        map: Map,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(String, Versioned)>, StoreError> {
        in_tx!(self, "list clean room values", |db| cleanroom::list(&mut db, cleanroom, map, prefix, after, limit))
    }

    async fn commit(&self, cleanroom: &str, commit: Commit, _now_ms: i64) -> Result<Vec<Entry>, CommitError> {
        let outcome: Result<_, StoreError> =
            in_tx!(self, "commit", |db| cleanroom::commit(&mut db, cleanroom, &commit));
        outcome?.map_err(|refusal| refusal.into_commit_error(cleanroom))
    }
}

#[async_trait]
impl LedgerStore for PgStore {
    async fn append(&self, cleanroom: &str, entries: &[EntryDraft]) -> Result<Vec<Entry>, StoreError> {
        // Where this store expects the ledger to end, one round trip; otherwise (first append,
        // another writer appended) the locked path, which reads the size under the row lock.
        let n = cleanroom::count(entries.len());
        if n > 0
            && let Some(first) = self.reserve_places(cleanroom, n)
        {
            match self.append_predicted(cleanroom, first, entries).await {
                Ok(Some(appended)) => return Ok(appended),
                Ok(None) => self.expect_size(cleanroom, None),
                Err(e) => {
                    self.expect_size(cleanroom, None);
                    return Err(e);
                }
            }
        }
        let locked: Result<Vec<Entry>, StoreError> =
            async { in_tx!(self, "append to a ledger", |db| cleanroom::append(&mut db, cleanroom, entries)) }.await;
        let appended = locked?;
        if let Some(last) = appended.last() {
            self.expect_size(cleanroom, i64::try_from(last.seq + 1).ok());
        }
        Ok(appended)
    }

    async fn size(&self, cleanroom: &str) -> Result<u64, StoreError> {
        in_tx!(self, "read a ledger's size", |db| cleanroom::size(&mut db, cleanroom))
    }

    async fn entries(&self, cleanroom: &str, from: u64, limit: u64) -> Result<Vec<Entry>, StoreError> {
        in_tx!(self, "read ledger entries", |db| cleanroom::entries(&mut db, cleanroom, from, limit))
    }

    async fn leaf_hashes(&self, cleanroom: &str, from: u64, to: u64) -> Result<Vec<Hash>, StoreError> {
        in_tx!(self, "read leaf hashes", |db| cleanroom::leaf_hashes(&mut db, cleanroom, from, to))
    }

    async fn put_root(&self, root: &SignedRoot) -> Result<(), StoreError> {
        in_tx!(self, "store a signed root", |db| cleanroom::put_root(&mut db, root))
    }

    async fn latest_root(&self, cleanroom: &str) -> Result<Option<SignedRoot>, StoreError> {
        in_tx!(self, "read the latest signed root", |db| cleanroom::latest_root(&mut db, cleanroom))
    }

    async fn root_covering(&self, cleanroom: &str, seq: u64) -> Result<Option<SignedRoot>, StoreError> {
        in_tx!(self, "read a covering signed root", |db| cleanroom::root_covering(&mut db, cleanroom, seq))
    }

    async fn roots(&self, cleanroom: &str, from_size: u64, limit: u64) -> Result<Vec<SignedRoot>, StoreError> {
        in_tx!(self, "read signed roots", |db| cleanroom::roots(&mut db, cleanroom, from_size, limit))
    }
}
