//! Catalog operations (jobs, triggers, pause/resume, runs, cluster membership and recovery),
//! written once over [`Sql`]; each is called inside one transaction by its backend.

use consort_scheduler::fire;
use consort_scheduler::{
    Adoption, Instance, Job, JobFilter, JobKey, JobSnapshot, JobStatus, ModelError, MoveCursor, Outcome, Recovery, Run,
    RunExpiry, RunFilter, RunHistoryBucket, RunState, RunTrim, Selector, StoreError, Trigger, TriggerFilter,
    TriggerKey, TriggerState, TriggerStatus,
};

use crate::row::{RUN_COLUMNS, RawJob, RawRun, RawTrigger, TRIGGER_COLUMNS, data_text, parse_data, schedule_columns};
use crate::sql::{Cols, Sql, Value};

pub(crate) fn raw_trigger(row: &[Value]) -> Result<RawTrigger, StoreError> {
    let mut c = Cols::new("consort_triggers", row);
    Ok(RawTrigger {
        group: c.text()?,
        name: c.text()?,
        job_group: c.text()?,
        job_name: c.text()?,
        description: c.opt_text()?,
        schedule_type: c.text()?,
        cron_expression: c.opt_text()?,
        time_zone: c.opt_text()?,
        repeat_count: c.opt_int()?,
        repeat_interval_ms: c.opt_int()?,
        start_ms: c.int()?,
        end_ms: c.opt_int()?,
        priority: c.int32()?,
        misfire: c.text()?,
        data: c.text()?,
        state: c.text()?,
        next_fire_ms: c.opt_int()?,
        prev_fire_ms: c.opt_int()?,
        times_triggered: c.int()?,
        instance: c.opt_text()?,
    })
}

pub(crate) fn raw_job(row: &[Value]) -> Result<RawJob, StoreError> {
    let mut c = Cols::new("consort_jobs", row);
    Ok(RawJob {
        group: c.text()?,
        name: c.text()?,
        description: c.opt_text()?,
        kind: c.text()?,
        data: c.text()?,
        durable: c.bool()?,
        non_concurrent: c.bool()?,
        requests_recovery: c.bool()?,
        executing_run: c.opt_int()?,
    })
}

pub(crate) fn raw_run(row: &[Value]) -> Result<RawRun, StoreError> {
    let mut c = Cols::new("consort_runs", row);
    Ok(RawRun {
        id: c.int()?,
        job_group: c.text()?,
        job_name: c.text()?,
        trigger_group: c.text()?,
        trigger_name: c.text()?,
        scheduled_ms: c.int()?,
        fired_ms: c.int()?,
        instance: c.text()?,
        state: c.text()?,
        ended_ms: c.opt_int()?,
        error: c.opt_text()?,
        exit_code: c.opt_int32()?,
        application_id: c.opt_text()?,
        log_location: c.opt_text()?,
        recovers_run: c.opt_int()?,
    })
}

async fn exists<S: Sql>(db: &mut S, sql: &str, params: &[Value]) -> Result<bool, StoreError> {
    Ok(!db.rows(sql, params).await?.is_empty())
}

fn job_params(key: &JobKey) -> [Value; 2] {
    [key.group().into(), key.name().into()]
}

fn trigger_params(key: &TriggerKey) -> [Value; 2] {
    [key.group().into(), key.name().into()]
}

/// Inserts a trigger row with the given state and next fire; `or_ignore` skips an existing key.
pub(crate) async fn insert_trigger<S: Sql>(
    db: &mut S,
    trigger: &Trigger,
    state: TriggerState,
    next_fire_ms: Option<i64>,
    or_ignore: bool,
) -> Result<u64, StoreError> {
    let (kind, cron, zone, repeat, interval) = schedule_columns(trigger.schedule());
    let sql = format!(
        "INSERT INTO consort_triggers ({TRIGGER_COLUMNS}, acquired_ms) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, NULL, 0, NULL, NULL){}",
        if or_ignore { " ON CONFLICT DO NOTHING" } else { "" }
    );
    db.exec(
        &sql,
        &[
            trigger.key().group().into(),
            trigger.key().name().into(),
            trigger.job().group().into(),
            trigger.job().name().into(),
            trigger.description().into(),
            kind.into(),
            cron.into(),
            zone.into(),
            repeat.into(),
            interval.into(),
            trigger.start_ms().into(),
            trigger.end_ms().into(),
            trigger.priority().into(),
            trigger.misfire().as_str().into(),
            data_text(trigger.data()).into(),
            state.as_str().into(),
            next_fire_ms.into(),
        ],
    )
    .await
}

/// Creates or replaces a trigger of an existing job.
pub(crate) async fn put_trigger<S: Sql>(
    db: &mut S,
    trigger: &Trigger,
    replace: bool,
) -> Result<TriggerStatus, StoreError> {
    if !exists(db, "SELECT 1 FROM consort_jobs WHERE job_group = $1 AND job_name = $2", &job_params(trigger.job()))
        .await?
    {
        return Err(StoreError::JobNotFound(trigger.job().clone()));
    }
    let next = fire::first_fire(trigger).ok_or_else(|| StoreError::NeverFires(trigger.key().clone()))?;
    let key = trigger_params(trigger.key());
    let existing =
        exists(db, "SELECT 1 FROM consort_triggers WHERE trigger_group = $1 AND trigger_name = $2{lock}", &key).await?;
    if existing {
        if !replace {
            return Err(StoreError::TriggerExists(trigger.key().clone()));
        }
        db.exec("DELETE FROM consort_triggers WHERE trigger_group = $1 AND trigger_name = $2", &key).await?;
    }
    let paused = exists(
        db,
        "SELECT 1 FROM consort_paused_trigger_groups WHERE trigger_group = $1",
        &[trigger.key().group().into()],
    )
    .await?;
    let state = if paused { TriggerState::Paused } else { TriggerState::Waiting };
    insert_trigger(db, trigger, state, Some(next), false).await?;
    Ok(TriggerStatus {
        trigger: trigger.clone(),
        state,
        next_fire_ms: Some(next),
        prev_fire_ms: None,
        times_triggered: 0,
        instance: None,
        error: None,
    })
}

/// Inserts a job, or (with `replace`) updates an existing one's definition in place: its
/// runs and its executing-run marker stay as they are.
pub(crate) async fn upsert_job<S: Sql>(db: &mut S, job: &Job, replace: bool, now_ms: i64) -> Result<(), StoreError> {
    let key = job_params(job.key());
    let existing = exists(db, "SELECT 1 FROM consort_jobs WHERE job_group = $1 AND job_name = $2{lock}", &key).await?;
    let fields: [Value; 6] = [
        job.description().into(),
        job.kind().into(),
        data_text(job.data()).into(),
        job.durable().into(),
        job.non_concurrent().into(),
        job.requests_recovery().into(),
    ];
    if existing {
        if !replace {
            return Err(StoreError::JobExists(job.key().clone()));
        }
        let mut params = fields.to_vec();
        params.extend([now_ms.into(), key[0].clone(), key[1].clone()]);
        db.exec(
            "UPDATE consort_jobs SET description = $1, kind = $2, data = $3, durable = $4, non_concurrent = $5, \
             requests_recovery = $6, updated_ms = $7 WHERE job_group = $8 AND job_name = $9",
            &params,
        )
        .await?;
    } else {
        let mut params = key.to_vec();
        params.extend(fields);
        params.extend([now_ms.into()]);
        db.exec(
            "INSERT INTO consort_jobs (job_group, job_name, description, kind, data, durable, non_concurrent, \
             requests_recovery, executing_run, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $9)",
            &params,
        )
        .await?;
    }
    Ok(())
}

/// Refuses a non-durable job that has no trigger left.
pub(crate) async fn check_durable<S: Sql>(db: &mut S, job: &Job) -> Result<(), StoreError> {
    if !job.durable()
        && !exists(db, "SELECT 1 FROM consort_triggers WHERE job_group = $1 AND job_name = $2", &job_params(job.key()))
            .await?
    {
        return Err(StoreError::NotDurable(job.key().clone()));
    }
    Ok(())
}

/// Refuses a trigger given with a job it does not belong to.
pub(crate) fn check_owner(job: &Job, trigger: &Trigger) -> Result<(), StoreError> {
    if trigger.job() != job.key() {
        return Err(ModelError::TriggerJobMismatch { trigger: trigger.key().clone(), job: job.key().clone() }.into());
    }
    Ok(())
}

/// Whether `stored` fires exactly as `new` would: same job, schedule, start, end, misfire
/// instruction and data. Such a trigger can be redefined without restarting it (its state,
/// next fire time and history stay); description and priority do not change when it fires.
/// A row whose data cannot be read never matches, so redefining it replaces it.
pub(crate) fn fires_like(stored: &RawTrigger, new: &Trigger) -> bool {
    let (kind, cron, zone, repeat, interval) = schedule_columns(new.schedule());
    stored.job_group == new.job().group()
        && stored.job_name == new.job().name()
        && stored.schedule_type == kind
        && stored.cron_expression == cron
        && stored.time_zone == zone
        && stored.repeat_count == repeat
        && stored.repeat_interval_ms == interval
        && stored.start_ms == new.start_ms()
        && stored.end_ms == new.end_ms()
        && stored.misfire == new.misfire().as_str()
        && parse_data("consort_triggers", &stored.data).is_ok_and(|d| &d == new.data())
}

/// Makes a job's triggers exactly `triggers`: the job's other triggers are deleted, a
/// trigger that [`fires_like`] its stored row only gets the new description and priority
/// (it keeps its state, next fire time and history), any other is replaced and restarts.
/// The job must exist.
pub(crate) async fn set_job_triggers<S: Sql>(db: &mut S, job: &JobKey, triggers: &[Trigger]) -> Result<(), StoreError> {
    let stored = db
        .rows(
            "SELECT trigger_group, trigger_name FROM consort_triggers WHERE job_group = $1 AND job_name = $2 \
             ORDER BY trigger_group, trigger_name{lock}",
            &job_params(job),
        )
        .await?;
    for row in &stored {
        let mut c = Cols::new("consort_triggers", row);
        let (group, name) = (c.text()?, c.text()?);
        if !triggers.iter().any(|t| t.key().group() == group && t.key().name() == name) {
            db.exec(
                "DELETE FROM consort_triggers WHERE trigger_group = $1 AND trigger_name = $2",
                &[group.into(), name.into()],
            )
            .await?;
        }
    }
    for t in triggers {
        let key = trigger_params(t.key());
        let rows = db
            .rows(
                &format!("SELECT {TRIGGER_COLUMNS} FROM consort_triggers WHERE trigger_group = $1 AND trigger_name = $2{{lock}}"),
                &key,
            )
            .await?;
        let unchanged = rows.first().and_then(|r| raw_trigger(r).ok()).is_some_and(|raw| fires_like(&raw, t));
        if unchanged {
            db.exec(
                "UPDATE consort_triggers SET description = $1, priority = $2 WHERE trigger_group = $3 AND trigger_name = $4",
                &[t.description().into(), t.priority().into(), key[0].clone(), key[1].clone()],
            )
            .await?;
        } else {
            put_trigger(db, t, true).await?;
        }
    }
    Ok(())
}

/// Creates or replaces a job and its triggers.
pub(crate) async fn put_job<S: Sql>(
    db: &mut S,
    job: &Job,
    triggers: &[Trigger],
    replace: bool,
    now_ms: i64,
) -> Result<(), StoreError> {
    for t in triggers {
        check_owner(job, t)?;
    }
    upsert_job(db, job, replace, now_ms).await?;
    for t in triggers {
        put_trigger(db, t, replace).await?;
    }
    check_durable(db, job).await
}

/// Stores a job and its triggers with their statuses as another scheduler left them (import).
pub(crate) async fn restore_job<S: Sql>(
    db: &mut S,
    job: &Job,
    triggers: &[TriggerStatus],
    replace: bool,
    now_ms: i64,
) -> Result<(), StoreError> {
    for t in triggers {
        check_owner(job, &t.trigger)?;
    }
    upsert_job(db, job, replace, now_ms).await?;
    for t in triggers {
        let key = trigger_params(t.trigger.key());
        let existing =
            exists(db, "SELECT 1 FROM consort_triggers WHERE trigger_group = $1 AND trigger_name = $2{lock}", &key)
                .await?;
        if existing {
            if !replace {
                return Err(StoreError::TriggerExists(t.trigger.key().clone()));
            }
            db.exec("DELETE FROM consort_triggers WHERE trigger_group = $1 AND trigger_name = $2", &key).await?;
        }
        let state = match (t.state, t.next_fire_ms) {
            (_, None) => TriggerState::Complete,
            (TriggerState::Paused | TriggerState::PausedBlocked, _) => TriggerState::Paused,
            (TriggerState::Error, _) => TriggerState::Error,
            (TriggerState::Complete, _) => TriggerState::Complete,
            _ => TriggerState::Waiting,
        };
        insert_trigger(db, &t.trigger, state, t.next_fire_ms, false).await?;
        db.exec(
            "UPDATE consort_triggers SET prev_fire_ms = $1, times_triggered = $2 \
             WHERE trigger_group = $3 AND trigger_name = $4",
            &[t.prev_fire_ms.into(), t.times_triggered.into(), key[0].clone(), key[1].clone()],
        )
        .await?;
    }
    check_durable(db, job).await
}

/// A job with its newest run in the history and its newest recent run (executing or not yet
/// moved), each read from its own table: through `consort_all_runs`, SQLite materialised the
/// whole view for every job listed (15 s for a page of 100 jobs over 2 million runs).
const JOB_STATUS_SQL: &str = "SELECT job_group, job_name, description, kind, data, durable, non_concurrent, \
    requests_recovery, executing_run, \
    (SELECT r.id FROM consort_runs r WHERE r.job_group = j.job_group AND r.job_name = j.job_name ORDER BY r.id DESC LIMIT 1), \
    (SELECT r.state FROM consort_runs r WHERE r.job_group = j.job_group AND r.job_name = j.job_name ORDER BY r.id DESC LIMIT 1), \
    (SELECT e.id FROM consort_recent_runs e WHERE e.job_group = j.job_group AND e.job_name = j.job_name ORDER BY e.id DESC LIMIT 1), \
    (SELECT e.state FROM consort_recent_runs e WHERE e.job_group = j.job_group AND e.job_name = j.job_name ORDER BY e.id DESC LIMIT 1) \
    FROM consort_jobs j";

fn job_status(row: &[Value]) -> Result<JobStatus, StoreError> {
    let raw = raw_job(row)?;
    let mut c = Cols::new("consort_jobs", &row[9..]);
    let (history_id, history_state, recent_id, recent_state) =
        (c.opt_int()?, c.opt_text()?, c.opt_int()?, c.opt_text()?);
    // The newer of the two is the job's last run (a long run still executing may be older
    // than runs ended and moved since).
    let (last_run_id, last_run_state) = match (history_id, recent_id) {
        (history, Some(recent)) if history.is_none_or(|h| h < recent) => (recent_id, recent_state),
        _ => (history_id, history_state),
    };
    let last_run_state = last_run_state.map(|s| RunState::parse(&s)).transpose()?;
    Ok(JobStatus { job: raw.job()?, last_run_state, last_run_id, executing_run: raw.executing_run })
}

/// One job with its latest run.
pub(crate) async fn get_job<S: Sql>(db: &mut S, key: &JobKey) -> Result<Option<JobStatus>, StoreError> {
    let sql = format!("{JOB_STATUS_SQL} WHERE j.job_group = $1 AND j.job_name = $2");
    db.rows(&sql, &job_params(key)).await?.first().map(|r| job_status(r)).transpose()
}

/// A job with its first triggers and newest runs (see `Store::job_snapshot`); the caller
/// gives the snapshot (one transaction, on PostgreSQL REPEATABLE READ).
pub(crate) async fn job_snapshot<S: Sql>(
    db: &mut S,
    key: &JobKey,
    triggers: usize,
    runs: usize,
) -> Result<Option<JobSnapshot>, StoreError> {
    let Some(status) = get_job(db, key).await? else { return Ok(None) };
    let of_job = TriggerFilter { job: Some(key.clone()), limit: Some(triggers), ..TriggerFilter::default() };
    let triggers = list_triggers(db, &of_job).await?;
    let recent_runs = list_runs(db, &RunFilter { job: Some(key.clone()), limit: runs, ..RunFilter::default() }).await?;
    Ok(Some(JobSnapshot { status, triggers, recent_runs }))
}

/// One page of jobs in key order, filtered in the query (see [`JobFilter`]).
pub(crate) async fn list_jobs<S: Sql>(db: &mut S, filter: &JobFilter) -> Result<Vec<JobStatus>, StoreError> {
    let mut w = Where::default();
    if let Some(g) = &filter.group {
        w.add("j.job_group = #0", [g.as_str().into()]);
    }
    if let Some(k) = &filter.kind {
        w.add("j.kind = #0", [k.as_str().into()]);
    }
    // Keyset paging: `(group, name) > (after)`, the same order as ORDER BY, served by the key.
    if let Some(k) = &filter.after {
        w.add("(j.job_group, j.job_name) > (#0, #1)", [k.group().into(), k.name().into()]);
    }
    let limit = w.param(page_limit(filter.limit).into());
    let sql = format!("{JOB_STATUS_SQL}{} ORDER BY j.job_group, j.job_name LIMIT {limit}", w.sql());
    db.rows(&sql, &w.params).await?.iter().map(|r| job_status(r)).collect()
}

/// The WHERE clause of a list, holding only the filters that are set: each filter shape is its
/// own statement, so the planner can use the index that serves it (`$1 IS NULL OR ...` forms
/// made SQLite scan every row of a 100,000-trigger table to list one job's triggers).
#[derive(Default)]
struct Where {
    clauses: Vec<String>,
    params: Vec<Value>,
}

impl Where {
    /// Adds `clause`, whose `#0`, `#1`, ... name `values` in order.
    fn add<const N: usize>(&mut self, clause: &str, values: [Value; N]) {
        let mut clause = clause.to_string();
        for (i, v) in values.into_iter().enumerate() {
            let placeholder = self.param(v);
            clause = clause.replace(&format!("#{i}"), &placeholder);
        }
        self.clauses.push(clause);
    }

    /// Adds a parameter and returns its placeholder.
    fn param(&mut self, value: Value) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() { String::new() } else { format!(" WHERE {}", self.clauses.join(" AND ")) }
    }
}

/// A LIMIT value: the page size, or every row.
fn page_limit(limit: Option<usize>) -> i64 {
    limit.map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// Deletes a job and its triggers.
pub(crate) async fn delete_job<S: Sql>(db: &mut S, key: &JobKey) -> Result<bool, StoreError> {
    let params = job_params(key);
    db.exec("DELETE FROM consort_triggers WHERE job_group = $1 AND job_name = $2", &params).await?;
    Ok(db.exec("DELETE FROM consort_jobs WHERE job_group = $1 AND job_name = $2", &params).await? > 0)
}

fn trigger_status_sql() -> String {
    let cols = TRIGGER_COLUMNS.split(", ").map(|c| format!("t.{c}")).collect::<Vec<_>>().join(", ");
    format!(
        "SELECT {cols}, \
         (SELECT COUNT(*) FROM consort_jobs j WHERE j.job_group = t.job_group AND j.job_name = t.job_name \
            AND j.executing_run IS NOT NULL) AS blocked, \
         (SELECT COUNT(*) FROM consort_recent_runs r WHERE r.job_group = t.job_group AND r.job_name = t.job_name \
            AND r.trigger_group = t.trigger_group AND r.trigger_name = t.trigger_name AND r.state = 'EXECUTING') \
            AS executing, \
         t.error AS error_reason \
         FROM consort_triggers t"
    )
}

fn trigger_status(row: &[Value]) -> Result<TriggerStatus, StoreError> {
    let raw = raw_trigger(row)?;
    let mut c = Cols::new("consort_triggers", &row[20..]);
    let (blocked, executing) = (c.int()? > 0, c.int()? > 0);
    let mut status = raw.status(blocked, executing)?;
    status.error = c.opt_text()?.filter(|_| status.state == TriggerState::Error);
    Ok(status)
}

/// One trigger with its status.
pub(crate) async fn get_trigger<S: Sql>(db: &mut S, key: &TriggerKey) -> Result<Option<TriggerStatus>, StoreError> {
    let sql = format!("{} WHERE t.trigger_group = $1 AND t.trigger_name = $2", trigger_status_sql());
    db.rows(&sql, &trigger_params(key)).await?.first().map(|r| trigger_status(r)).transpose()
}

/// One page of triggers in key order, filtered in the query (see [`TriggerFilter`]). The state
/// filter applies to the state users see, derived the way [`RawTrigger::status`] derives it.
pub(crate) async fn list_triggers<S: Sql>(
    db: &mut S,
    filter: &TriggerFilter,
) -> Result<Vec<TriggerStatus>, StoreError> {
    let mut w = Where::default();
    if let Some(g) = &filter.group {
        w.add("t.trigger_group = #0", [g.as_str().into()]);
    }
    if let Some(j) = &filter.job {
        w.add("t.job_group = #0 AND t.job_name = #1", [j.group().into(), j.name().into()]);
    }
    if let Some(k) = &filter.after {
        w.add("(t.trigger_group, t.trigger_name) > (#0, #1)", [k.group().into(), k.name().into()]);
    }
    // The stored states a shown state can come from narrow the rows first; the shown state is
    // then derived for those alone.
    let derived = match filter.state {
        Some(state) => {
            let stored: &[&str] = match state {
                TriggerState::Waiting | TriggerState::Executing => &["WAITING"],
                TriggerState::Acquired => &["ACQUIRED"],
                TriggerState::Blocked => &["WAITING", "ACQUIRED"],
                TriggerState::Paused | TriggerState::PausedBlocked => &["PAUSED"],
                TriggerState::Error => &["ERROR"],
                TriggerState::Complete => &["COMPLETE"],
            };
            let list = stored.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ");
            w.clauses.push(format!("t.state IN ({list})"));
            let wanted = w.param(state.as_str().into());
            format!(
                " WHERE (CASE \
                   WHEN s.state IN ('WAITING', 'ACQUIRED') AND s.blocked > 0 THEN 'BLOCKED' \
                   WHEN s.state = 'PAUSED' AND s.blocked > 0 THEN 'PAUSED_BLOCKED' \
                   WHEN s.state = 'WAITING' AND s.executing > 0 THEN 'EXECUTING' \
                   ELSE s.state END) = {wanted}"
            )
        }
        None => String::new(),
    };
    let limit = w.param(page_limit(filter.limit).into());
    let sql = format!(
        "SELECT * FROM ({}{}) AS s{derived} ORDER BY s.trigger_group, s.trigger_name LIMIT {limit}",
        trigger_status_sql(),
        w.sql()
    );
    db.rows(&sql, &w.params).await?.iter().map(|r| trigger_status(r)).collect()
}

/// The job a stored trigger belongs to, as query parameters.
async fn job_of_trigger<S: Sql>(db: &mut S, key: &TriggerKey) -> Result<Option<[Value; 2]>, StoreError> {
    let rows = db
        .rows(
            "SELECT job_group, job_name FROM consort_triggers WHERE trigger_group = $1 AND trigger_name = $2",
            &trigger_params(key),
        )
        .await?;
    let Some(row) = rows.first() else { return Ok(None) };
    let mut c = Cols::new("consort_triggers", row);
    Ok(Some([Value::from(c.text()?), Value::from(c.text()?)]))
}

/// Deletes a trigger, and its job if that is not durable and has no trigger left.
pub(crate) async fn delete_trigger<S: Sql>(db: &mut S, key: &TriggerKey) -> Result<bool, StoreError> {
    let params = trigger_params(key);
    let Some(job) = job_of_trigger(db, key).await? else { return Ok(false) };
    db.exec("DELETE FROM consort_triggers WHERE trigger_group = $1 AND trigger_name = $2", &params).await?;
    db.exec(
        "DELETE FROM consort_jobs WHERE job_group = $1 AND job_name = $2 AND durable = 0 AND NOT EXISTS \
         (SELECT 1 FROM consort_triggers t WHERE t.job_group = $1 AND t.job_name = $2)",
        &job,
    )
    .await?;
    Ok(true)
}

fn selector_where(selector: &Selector) -> (&'static str, Vec<Value>) {
    match selector {
        Selector::Trigger(k) => ("trigger_group = $1 AND trigger_name = $2", trigger_params(k).to_vec()),
        Selector::TriggerGroup(g) => ("trigger_group = $1", vec![g.into()]),
        Selector::Job(k) => ("job_group = $1 AND job_name = $2", job_params(k).to_vec()),
        Selector::JobGroup(g) => ("job_group = $1", vec![g.into()]),
    }
}

async fn check_selected<S: Sql>(db: &mut S, selector: &Selector) -> Result<(), StoreError> {
    match selector {
        Selector::Trigger(k)
            if !exists(
                db,
                "SELECT 1 FROM consort_triggers WHERE trigger_group = $1 AND trigger_name = $2",
                &trigger_params(k),
            )
            .await? =>
        {
            Err(StoreError::TriggerNotFound(k.clone()))
        }
        Selector::Job(k)
            if !exists(db, "SELECT 1 FROM consort_jobs WHERE job_group = $1 AND job_name = $2", &job_params(k))
                .await? =>
        {
            Err(StoreError::JobNotFound(k.clone()))
        }
        _ => Ok(()),
    }
}

/// Pauses the selected triggers.
pub(crate) async fn pause<S: Sql>(db: &mut S, selector: &Selector) -> Result<usize, StoreError> {
    check_selected(db, selector).await?;
    if let Selector::TriggerGroup(g) = selector {
        db.exec(
            "INSERT INTO consort_paused_trigger_groups (trigger_group) VALUES ($1) ON CONFLICT DO NOTHING",
            &[g.into()],
        )
        .await?;
    }
    let (clause, params) = selector_where(selector);
    let sql = format!(
        "UPDATE consort_triggers SET state = 'PAUSED', instance_id = NULL, acquired_ms = NULL \
         WHERE {clause} AND state IN ('WAITING', 'ACQUIRED')"
    );
    Ok(db.exec(&sql, &params).await? as usize)
}

/// Resumes the selected PAUSED or ERROR triggers.
pub(crate) async fn resume<S: Sql>(db: &mut S, selector: &Selector) -> Result<usize, StoreError> {
    check_selected(db, selector).await?;
    if let Selector::TriggerGroup(g) = selector {
        db.exec("DELETE FROM consort_paused_trigger_groups WHERE trigger_group = $1", &[g.into()]).await?;
    }
    let (clause, params) = selector_where(selector);
    let sql = format!(
        "UPDATE consort_triggers SET state = 'WAITING', error = NULL WHERE {clause} AND state IN ('PAUSED', 'ERROR') \
         AND next_fire_ms IS NOT NULL"
    );
    Ok(db.exec(&sql, &params).await? as usize)
}

/// Run history, newest first.
pub(crate) async fn list_runs<S: Sql>(db: &mut S, filter: &RunFilter) -> Result<Vec<Run>, StoreError> {
    let mut w = Where::default();
    // Runs are indexed by job alone (migration 9): a trigger's runs are read under its job, the
    // one given or the trigger's own. A trigger no longer stored is looked for over all runs,
    // newest first.
    let job = match (&filter.job, &filter.trigger) {
        (Some(j), _) => Some(job_params(j)),
        (None, Some(t)) => job_of_trigger(db, t).await?,
        (None, None) => None,
    };
    if let Some(j) = job {
        w.add("job_group = #0 AND job_name = #1", j);
    }
    if let Some(t) = &filter.trigger {
        w.add("trigger_group = #0 AND trigger_name = #1", trigger_params(t));
    }
    if let Some(s) = filter.state {
        w.add("state = #0", [s.as_str().into()]);
    }
    if let Some(i) = &filter.instance {
        w.add("instance_id = #0", [i.into()]);
    }
    if let Some(ms) = filter.fired_after_ms {
        w.add("fired_ms > #0", [ms.into()]);
    }
    if let Some(ms) = filter.fired_before_ms {
        w.add("fired_ms < #0", [ms.into()]);
    }
    if let Some(id) = filter.before_id {
        w.add("id < #0", [id.into()]);
    }
    let limit = if filter.limit == 0 { 100 } else { filter.limit.min(10_000) };
    // The limit is a parameter so that statement caches see one text per filter shape.
    let limit = w.param((limit as i64).into());
    let sql = format!("SELECT {RUN_COLUMNS} FROM consort_all_runs{} ORDER BY id DESC LIMIT {limit}", w.sql());
    db.rows(&sql, &w.params).await?.iter().map(|r| raw_run(r)?.run()).collect()
}

/// One run.
pub(crate) async fn get_run<S: Sql>(db: &mut S, id: i64) -> Result<Option<Run>, StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM consort_all_runs WHERE id = $1");
    db.rows(&sql, &[id.into()]).await?.first().map(|r| raw_run(r)?.run()).transpose()
}

/// Age retention over the `batch` runs after `after_id` (see `Store::expire_runs`). The window
/// is read by primary key, so a step costs the same however many runs are stored.
pub(crate) async fn expire_runs<S: Sql>(
    db: &mut S,
    fired_before_ms: i64,
    after_id: i64,
    batch: usize,
) -> Result<RunExpiry, StoreError> {
    let window: [Value; 3] = [after_id.into(), (batch as i64).into(), fired_before_ms.into()];
    let rows = db
        .rows(
            "SELECT COUNT(*), MAX(id), MAX(fired_ms) FROM \
             (SELECT id, fired_ms FROM consort_runs WHERE id > $1 ORDER BY id LIMIT $2) AS w",
            &window[..2],
        )
        .await?;
    let mut c = Cols::new("consort_runs", rows.first().map_or(&[][..], Vec::as_slice));
    let (seen, last_id, last_fired) = (c.int()?, c.opt_int()?, c.opt_int()?);
    // The run table holds ended runs only (executing ones are apart, migration 11). A job's
    // latest ended run stays: its last state.
    let deleted = db
        .exec(
            "DELETE FROM consort_runs WHERE id IN (SELECT w.id FROM \
               (SELECT id, job_group, job_name, fired_ms FROM consort_runs \
                WHERE id > $1 ORDER BY id LIMIT $2) AS w \
             WHERE w.fired_ms < $3 \
               AND EXISTS (SELECT 1 FROM consort_runs n WHERE n.job_group = w.job_group \
                 AND n.job_name = w.job_name AND n.id > w.id))",
            &window,
        )
        .await? as usize;
    // Run ids grow with fire times: once a window reaches runs fired after the cutoff, the
    // rest are younger too and the next sweep starts over.
    let more = seen == batch as i64 && last_fired.is_some_and(|f| f < fired_before_ms);
    Ok(RunExpiry { deleted, next_after_id: if more { last_id } else { None } })
}

/// The first job with runs at `from` or after it (`inclusive`), or strictly after it.
async fn job_with_runs<S: Sql>(
    db: &mut S,
    from: Option<&JobKey>,
    inclusive: bool,
) -> Result<Option<JobKey>, StoreError> {
    let rows = match from {
        None => {
            db.rows("SELECT job_group, job_name FROM consort_runs ORDER BY job_group, job_name LIMIT 1", &[]).await?
        }
        Some(key) => {
            let op = if inclusive { ">=" } else { ">" };
            let sql = format!(
                "SELECT job_group, job_name FROM consort_runs WHERE (job_group, job_name) {op} ($1, $2) \
                 ORDER BY job_group, job_name LIMIT 1"
            );
            db.rows(&sql, &job_params(key)).await?
        }
    };
    let Some(row) = rows.first() else { return Ok(None) };
    let mut c = Cols::new("consort_runs", row);
    Ok(Some(JobKey::new(c.text()?, c.text()?)?))
}

/// Count retention over at most `max_jobs` jobs (see `Store::trim_runs`). Each job costs an
/// index-only walk over its `keep` newest runs (`consort_runs_job` holds the id); deletes are
/// bounded by `batch`.
pub(crate) async fn trim_runs<S: Sql>(
    db: &mut S,
    keep: usize,
    from: Option<&JobKey>,
    max_jobs: usize,
    batch: usize,
) -> Result<RunTrim, StoreError> {
    let mut trim = RunTrim::default();
    let mut job = job_with_runs(db, from, true).await?;
    for _ in 0..max_jobs {
        let Some(key) = job else { return Ok(trim) };
        if let Some(newest_to_delete) = newest_past_count(db, &key, keep).await? {
            let [group, name] = job_params(&key);
            let budget = batch.saturating_sub(trim.deleted) as i64;
            trim.deleted += db
                .exec(
                    "DELETE FROM consort_runs WHERE id IN (SELECT id FROM consort_runs \
                     WHERE job_group = $1 AND job_name = $2 AND id <= $3 ORDER BY id LIMIT $4)",
                    &[group, name, newest_to_delete.into(), budget.into()],
                )
                .await? as usize;
            if trim.deleted >= batch {
                // This job may have more to trim: the next call starts with it.
                trim.next_from = Some(key);
                return Ok(trim);
            }
        }
        job = job_with_runs(db, Some(&key), false).await?;
    }
    trim.next_from = job;
    Ok(trim)
}

/// The newest ended run of `job` past its `keep` newest, if it has one, read from the index
/// alone (reading each of the `keep` rows made every sweep's cost grow with the runs stored).
/// The run table holds ended runs only, so every id counts. A run that ends meanwhile with an
/// older id (a long one) is older than the `keep` newest: deleting it with them keeps `keep`.
async fn newest_past_count<S: Sql>(db: &mut S, job: &JobKey, keep: usize) -> Result<Option<i64>, StoreError> {
    let [group, name] = job_params(job);
    let rows = db
        .rows(
            "SELECT id FROM consort_runs WHERE job_group = $1 AND job_name = $2 \
             ORDER BY id DESC LIMIT 1 OFFSET $3",
            &[group, name, (keep as i64).into()],
        )
        .await?;
    rows.first().map(|r| Cols::new("consort_runs", r).int()).transpose()
}

/// Deletes spent simple triggers (see `Store::remove_spent_triggers`). The conditions on the
/// trigger row are on the DELETE itself, so PostgreSQL rechecks them on a row changed meanwhile
/// (e.g. replaced by a definition that fires again). No ORDER BY: the scan of COMPLETE rows
/// (`consort_triggers_due`) stops at the batch's last match instead of sorting them all.
pub(crate) async fn remove_spent_triggers<S: Sql>(
    db: &mut S,
    completed_before_ms: i64,
    batch: usize,
) -> Result<usize, StoreError> {
    const SPENT: &str = "state = 'COMPLETE' AND schedule_type = 'simple' AND COALESCE(prev_fire_ms, start_ms) < $1";
    let sql = format!(
        "DELETE FROM consort_triggers WHERE {SPENT} \
         AND (trigger_group, trigger_name) IN (SELECT trigger_group, trigger_name FROM consort_triggers t \
           WHERE {SPENT} AND NOT EXISTS (SELECT 1 FROM consort_recent_runs e WHERE e.job_group = t.job_group \
             AND e.job_name = t.job_name AND e.trigger_group = t.trigger_group AND e.trigger_name = t.trigger_name \
               AND (e.state = 'EXECUTING' OR e.ended_ms >= $1)) \
           AND NOT EXISTS (SELECT 1 FROM consort_runs r WHERE r.job_group = t.job_group \
             AND r.job_name = t.job_name AND r.trigger_group = t.trigger_group AND r.trigger_name = t.trigger_name \
               AND r.ended_ms >= $1) \
           LIMIT $2)"
    );
    Ok(db.exec(&sql, &[completed_before_ms.into(), (batch as i64).into()]).await? as usize)
}

/// Records a run's application id / log location.
pub(crate) async fn report_run<S: Sql>(
    db: &mut S,
    id: i64,
    application_id: Option<&str>,
    log_location: Option<&str>,
) -> Result<(), StoreError> {
    let params = [application_id.into(), log_location.into(), id.into()];
    // Usually reported while the run executes; a late report finds it ended.
    for table in ["consort_recent_runs", "consort_runs"] {
        let sql = format!(
            "UPDATE {table} SET application_id = COALESCE($1, application_id), \
             log_location = COALESCE($2, log_location) WHERE id = $3"
        );
        if db.exec(&sql, &params).await? > 0 {
            break;
        }
    }
    Ok(())
}

/// Check-in; returns failed instances. A fresh row of another process with this instance id
/// is left alone and refused.
pub(crate) async fn check_in<S: Sql>(
    db: &mut S,
    instance: &str,
    boot_id: &str,
    now_ms: i64,
    interval_ms: i64,
    grace_ms: i64,
) -> Result<Vec<String>, StoreError> {
    consort_scheduler::failpoint::store_step("store::check_in")?;
    let n = db
        .exec(
            "INSERT INTO consort_instances (instance_id, last_checkin_ms, checkin_interval_ms, boot_id) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (instance_id) DO UPDATE \
             SET last_checkin_ms = $2, checkin_interval_ms = $3, boot_id = $4 \
             WHERE consort_instances.boot_id IS NULL OR consort_instances.boot_id = $4 \
               OR consort_instances.last_checkin_ms + consort_instances.checkin_interval_ms + $5 < $2",
            &[instance.into(), now_ms.into(), interval_ms.into(), boot_id.into(), grace_ms.into()],
        )
        .await?;
    if n == 0 {
        return Err(StoreError::InstanceIdInUse { instance: instance.to_string() });
    }
    let rows = db
        .rows(
            "SELECT instance_id FROM consort_instances WHERE last_checkin_ms + checkin_interval_ms + $1 < $2 \
             UNION SELECT DISTINCT instance_id FROM consort_triggers t WHERE state = 'ACQUIRED' AND NOT EXISTS \
               (SELECT 1 FROM consort_instances i WHERE i.instance_id = t.instance_id) \
             UNION SELECT DISTINCT instance_id FROM consort_recent_runs r WHERE state = 'EXECUTING' \
               AND NOT EXISTS (SELECT 1 FROM consort_instances i WHERE i.instance_id = r.instance_id)",
            &[grace_ms.into(), now_ms.into()],
        )
        .await?;
    rows.iter().map(|r| Cols::new("consort_instances", r).text()).collect()
}

/// Recovers a failed instance (see `Store::recover`).
pub(crate) async fn recover<S: Sql>(
    db: &mut S,
    failed: &str,
    adoption: &Adoption,
    now_ms: i64,
    grace_ms: i64,
) -> Result<Recovery, StoreError> {
    let mut recovery = Recovery { instance: failed.to_string(), ..Recovery::default() };
    // One survivor at a time recovers an instance, whether or not it has a check-in row left
    // (a row lock would not cover an instance known only by the runs it owns). Whoever comes
    // next sees what the first one left: nothing of `failed` to recover.
    if !db.claim(&format!("consort recover {failed}")).await? {
        return Ok(recovery); // Another instance is recovering it right now.
    }
    let row = db
        .rows(
            "SELECT last_checkin_ms, checkin_interval_ms FROM consort_instances WHERE instance_id = $1{lock}",
            &[failed.into()],
        )
        .await?;
    if let Some(row) = row.first() {
        let mut c = Cols::new("consort_instances", row);
        let (last, interval) = (c.int()?, c.int()?);
        if last + interval + grace_ms >= now_ms {
            return Ok(recovery); // It checked in again meanwhile.
        }
    }
    recovery.released_triggers = db
        .exec(
            "UPDATE consort_triggers SET state = 'WAITING', instance_id = NULL, acquired_ms = NULL \
             WHERE state = 'ACQUIRED' AND instance_id = $1",
            &[failed.into()],
        )
        .await? as usize;
    consort_scheduler::failpoint::store_step("store::recover")?;
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM consort_all_runs WHERE state = 'EXECUTING' AND instance_id = $1 ORDER BY id"
    );
    let runs: Vec<Run> =
        db.rows(&sql, &[failed.into()]).await?.iter().map(|r| raw_run(r)?.run()).collect::<Result<_, _>>()?;
    for run in runs {
        if adoption.runs.contains(&run.id) {
            // Still EXECUTING and its job still blocked: the adopting instance completes it.
            let n = db
                .exec(
                    "UPDATE consort_recent_runs SET instance_id = $1 \
                     WHERE id = $2 AND instance_id = $3 AND state = 'EXECUTING'",
                    &[adoption.by.as_str().into(), run.id.into(), failed.into()],
                )
                .await?;
            if n == 1 {
                recovery.adopted_runs.push(run.id);
                continue;
            }
        }
        let job = db
            .rows(
                "SELECT requests_recovery FROM consort_jobs WHERE job_group = $1 AND job_name = $2",
                &job_params(&run.job),
            )
            .await?;
        let requests_recovery = match job.first() {
            Some(r) => Cols::new("consort_jobs", r).bool()?,
            None => false,
        };
        let mut error = format!("instance {failed} stopped checking in while this run was executing");
        let mut refire = None;
        if requests_recovery {
            let data = db
                .rows(
                    "SELECT data FROM consort_triggers WHERE trigger_group = $1 AND trigger_name = $2",
                    &trigger_params(&run.trigger),
                )
                .await?;
            // The original trigger's data only annotates the re-fire: unreadable data must not
            // stop the recovery (nor, so, the abandoning of this run).
            let original = match data.first() {
                Some(r) => Cols::new("consort_triggers", r)
                    .text()
                    .and_then(|t| parse_data("consort_triggers", &t))
                    .unwrap_or_default(),
                None => Default::default(),
            };
            let trigger = fire::recovery_trigger(&run, &original)?;
            error.push_str(&format!("; the job requests recovery, so trigger {} re-fires it", trigger.key()));
            refire = Some(trigger);
        }
        // Only a run still EXECUTING on the failed instance is abandoned: never one that
        // another instance adopted or ended meanwhile. Its re-fire and its job's unblocking
        // follow from this statement alone, so each happens at most once per run.
        let abandoned = Outcome { state: RunState::Abandoned, ..Outcome::failed(error) };
        if !end_executing(db, run.id, failed, now_ms, &abandoned).await? {
            continue;
        }
        recovery.abandoned_runs += 1;
        if let Some(trigger) = refire
            && insert_trigger(db, &trigger, TriggerState::Waiting, Some(run.scheduled_ms), true).await? > 0
        {
            recovery.recovery_triggers += 1;
        }
        let mut params = job_params(&run.job).to_vec();
        params.push(run.id.into());
        db.exec(
            "UPDATE consort_jobs SET executing_run = NULL WHERE job_group = $1 AND job_name = $2 AND executing_run = $3",
            &params,
        )
        .await?;
    }
    db.exec("DELETE FROM consort_instances WHERE instance_id = $1", &[failed.into()]).await?;
    Ok(recovery)
}

/// Ends an executing run of `instance` with `outcome` (whose application id and log location,
/// when given, replace those reported), in place: the check-in task moves it to the history
/// later (`move_ended_runs`). False if it is no longer executing there. The update locks the
/// row and rechecks its state, so of two instances ending the same run (its owner completing
/// it, a survivor abandoning it) one ends it and the other finds none.
pub(crate) async fn end_executing<S: Sql>(
    db: &mut S,
    id: i64,
    instance: &str,
    ended_ms: i64,
    outcome: &Outcome,
) -> Result<bool, StoreError> {
    let n = db
        .exec(
            "UPDATE consort_recent_runs SET state = $3, ended_ms = $4, error = $5, exit_code = $6, \
             application_id = COALESCE($7, application_id), log_location = COALESCE($8, log_location) \
             WHERE id = $1 AND instance_id = $2 AND state = 'EXECUTING'",
            &[
                id.into(),
                instance.into(),
                outcome.state.as_str().into(),
                ended_ms.into(),
                outcome.error.clone().into(),
                outcome.exit_code.map(i64::from).into(),
                outcome.application_id.clone().into(),
                outcome.log_location.clone().into(),
            ],
        )
        .await?;
    Ok(n == 1)
}

/// Where a pass of `move_ended_runs` starts after, as parameters: (job group, job name, run
/// id), compared as one row value in the recent runs' job index order. No job has an empty
/// group, so the first pass starts below every job.
pub(crate) fn move_after_params(after: Option<&MoveCursor>) -> [Value; 3] {
    match after {
        Some(c) => [c.job.group().into(), c.job.name().into(), c.run_id.into()],
        None => ["".into(), "".into(), i64::MIN.into()],
    }
}

/// The cursor of a (job group, job name, run id) row.
pub(crate) fn move_cursor(row: &[Value]) -> Result<MoveCursor, StoreError> {
    let mut c = Cols::new("consort_recent_runs", row);
    Ok(MoveCursor { job: JobKey::new(c.text()?, c.text()?)?, run_id: c.int()? })
}

/// Releases an instance's ACQUIRED triggers and deletes its check-in row.
pub(crate) async fn leave<S: Sql>(db: &mut S, instance: &str) -> Result<(), StoreError> {
    db.exec(
        "UPDATE consort_triggers SET state = 'WAITING', instance_id = NULL, acquired_ms = NULL \
         WHERE state = 'ACQUIRED' AND instance_id = $1",
        &[instance.into()],
    )
    .await?;
    db.exec("DELETE FROM consort_instances WHERE instance_id = $1", &[instance.into()]).await?;
    Ok(())
}

/// Checked-in instances in id order, after `after`, at most `limit`.
pub(crate) async fn instances<S: Sql>(
    db: &mut S,
    after: Option<&str>,
    limit: Option<usize>,
) -> Result<Vec<Instance>, StoreError> {
    let rows = db
        .rows(
            "SELECT instance_id, last_checkin_ms, checkin_interval_ms, boot_id FROM consort_instances \
             WHERE CAST($1 AS TEXT) IS NULL OR instance_id > $1 ORDER BY instance_id LIMIT $2",
            &[after.into(), page_limit(limit).into()],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let mut c = Cols::new("consort_instances", r);
            Ok(Instance {
                id: c.text()?,
                last_checkin_ms: c.int()?,
                checkin_interval_ms: c.int()?,
                boot_id: c.opt_text()?,
            })
        })
        .collect()
}

/// Runs fired in `[from_ms, to_ms)` counted per bucket of `width_ms` and state, with their
/// lateness: grouped queries, so the chart never reads the runs themselves. One per table:
/// grouped over `consort_all_runs`, SQLite first copied both tables' rows out of the view.
pub(crate) async fn run_history<S: Sql>(
    db: &mut S,
    from_ms: i64,
    to_ms: i64,
    width_ms: i64,
) -> Result<Vec<RunHistoryBucket>, StoreError> {
    let mut buckets = Vec::new();
    for table in ["consort_runs", "consort_recent_runs"] {
        // SUM over BIGINT is NUMERIC on PostgreSQL: cast back so both backends answer integers.
        let sql = format!(
            "SELECT (fired_ms - $1) / $3 AS bucket, state, COUNT(*), \
             CAST(SUM(fired_ms - scheduled_ms) AS BIGINT), MAX(fired_ms - scheduled_ms) \
             FROM {table} WHERE fired_ms >= $1 AND fired_ms < $2 GROUP BY (fired_ms - $1) / $3, 2"
        );
        for r in db.rows(&sql, &[from_ms.into(), to_ms.into(), width_ms.into()]).await? {
            let mut c = Cols::new(table, &r);
            buckets.push(RunHistoryBucket {
                index: c.int()?,
                state: RunState::parse(&c.text()?)?,
                runs: c.int()?,
                lateness_sum_ms: c.int()?,
                lateness_max_ms: c.int()?,
            });
        }
    }
    buckets.sort_by(|a, b| (a.index, a.state.as_str()).cmp(&(b.index, b.state.as_str())));
    // A bucket's runs of one state may be in both tables (some moved to the history, some not
    // yet): one bucket each.
    buckets.dedup_by(|later, first| {
        let same = (later.index, later.state) == (first.index, first.state);
        if same {
            first.runs += later.runs;
            first.lateness_sum_ms += later.lateness_sum_ms;
            first.lateness_max_ms = first.lateness_max_ms.max(later.lateness_max_ms);
        }
        same
    });
    Ok(buckets)
}
