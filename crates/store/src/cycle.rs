//! The driver cycle, written once over [`CycleTx`] (one open transaction of either backend):
//! record completions, handle misfires, acquire due triggers, fire them.
//!
//! Lock order, the same on every path so cycles of different instances never deadlock:
//! trigger rows (only rows this instance acquired, or free ones taken with SKIP LOCKED),
//! then job rows, all in one statement sorted by key.

use std::collections::{BTreeSet, HashMap, HashSet};

use consort_scheduler::failpoint;
use consort_scheduler::fire::{self, Candidate, RECOVERS_RUN_KEY};
use consort_scheduler::{Completion, CycleOutcome, CycleRequest, Firing, JobKey, Misfire, StoreError, TriggerKey};

use crate::catalog;
use crate::row::{RawJob, RawTrigger};
use crate::sql::{Cols, Sql, Value};

/// A trigger's new firing status.
#[derive(Clone, Debug)]
pub(crate) struct StatusUpdate {
    pub key: TriggerKey,
    pub next_fire_ms: Option<i64>,
    /// `None` keeps the previous fire time.
    pub prev_fire_ms: Option<i64>,
    pub times_triggered: i64,
    pub state: &'static str,
    /// Why the trigger is put in ERROR (`None` clears a previous reason).
    pub error: Option<String>,
}

/// A trigger row (or its job's row) that cannot be read back: it is put in ERROR by its raw
/// key with the reason, so that it stops nothing else.
#[derive(Clone, Debug)]
pub(crate) struct Poison {
    pub group: String,
    pub name: String,
    pub reason: String,
}

impl Poison {
    /// The poison of a row whose first two columns are a trigger's group and name.
    fn of(row: &[Value], error: &StoreError) -> Result<Poison, StoreError> {
        let mut c = Cols::new("consort_triggers", row);
        // Without even a readable key there is no row to put aside: the error stands.
        let (group, name) = (c.text().map_err(|_| clone_error(error))?, c.text().map_err(|_| clone_error(error))?);
        Ok(Poison { group, name, reason: error.to_string() })
    }
}

fn clone_error(e: &StoreError) -> StoreError {
    StoreError::Corrupt { table: "consort_triggers", message: e.to_string() }
}

/// Trigger rows read back, and those that could not be.
pub(crate) fn read_triggers(rows: &[Vec<Value>]) -> Result<(Vec<RawTrigger>, Vec<Poison>), StoreError> {
    let (mut good, mut bad) = (Vec::with_capacity(rows.len()), Vec::new());
    for row in rows {
        match catalog::raw_trigger(row) {
            Ok(t) => good.push(t),
            Err(e) => bad.push(Poison::of(row, &e)?),
        }
    }
    Ok((good, bad))
}

/// Due triggers with their jobs, as read back.
pub(crate) type DueRows = Vec<(RawTrigger, RawJob)>;

/// Rows of trigger columns followed by their job's columns, read back, and those that could
/// not be.
pub(crate) fn read_due(rows: &[Vec<Value>]) -> Result<(DueRows, Vec<Poison>), StoreError> {
    let (mut good, mut bad) = (Vec::with_capacity(rows.len()), Vec::new());
    for row in rows {
        let split = row.len().min(20);
        let read = catalog::raw_trigger(&row[..split]).and_then(|t| {
            let job = catalog::raw_job(&row[split..])?;
            JobKey::new(&job.group, &job.name)?;
            JobKey::new(&t.job_group, &t.job_name)?;
            t.key()?;
            Ok((t, job))
        });
        match read {
            Ok(pair) => good.push(pair),
            Err(e) => bad.push(Poison::of(row, &e)?),
        }
    }
    Ok((good, bad))
}

/// A run row to insert, state EXECUTING.
#[derive(Clone, Debug)]
pub(crate) struct NewRun {
    pub job: JobKey,
    pub trigger: TriggerKey,
    pub scheduled_ms: i64,
    pub fired_ms: i64,
    pub recovers_run: Option<i64>,
}

/// The statements of one cycle, inside one open transaction.
pub(crate) trait CycleTx: Sql {
    /// Ends this instance's EXECUTING runs; puts `error_trigger`s in ERROR. Returns the runs
    /// ended: not those another instance adopted or abandoned meanwhile.
    async fn complete_runs(&mut self, instance: &str, completions: &[Completion]) -> Result<HashSet<i64>, StoreError>;
    /// Misfired WAITING triggers, locked (skipping rows others hold), and those unreadable.
    async fn misfired(
        &mut self,
        now_ms: i64,
        threshold_ms: i64,
        limit: usize,
    ) -> Result<(Vec<RawTrigger>, Vec<Poison>), StoreError>;
    /// Writes new statuses; clears the acquiring instance.
    async fn save_statuses(&mut self, updates: &[StatusUpdate]) -> Result<(), StoreError>;
    /// Whether `acquire` takes the triggers due now as well as those due within the
    /// acquisition window. Such a backend fires from ACQUIRED only, so the cycle acquires before
    /// `due`. Otherwise `acquire` holds only triggers not due yet, and the cycle runs it last:
    /// an instance that holds triggers for their time then ends its cycle right after taking
    /// them, instead of firing a batch first while their time passes and no other instance may
    /// take them.
    const ACQUIRES_DUE: bool;
    /// WAITING → ACQUIRED for due, not misfired triggers of jobs not running; returns how many.
    async fn acquire(&mut self, request: &CycleRequest, limit: usize) -> Result<usize, StoreError>;
    /// At most `limit` triggers due at the request's time with their jobs, trigger rows
    /// locked, in firing order; those unreadable; and how many of them were free (WAITING)
    /// rather than acquired ahead. A backend whose `acquire` also takes the triggers due now
    /// returns only this instance's ACQUIRED ones (and 0).
    async fn due(&mut self, request: &CycleRequest, limit: usize) -> Result<(DueRows, Vec<Poison>, usize), StoreError>;
    /// Locks job rows (sorted keys) and returns their executing run.
    async fn lock_jobs(&mut self, keys: &[JobKey]) -> Result<HashMap<JobKey, Option<i64>>, StoreError>;
    /// Sets (Some) or clears (None) jobs' executing run.
    async fn set_executing(&mut self, updates: &[(JobKey, Option<i64>)]) -> Result<(), StoreError>;
    /// ACQUIRED → WAITING without firing.
    async fn release(&mut self, keys: &[TriggerKey]) -> Result<(), StoreError>;
    /// Inserts runs; returns their ids in order.
    async fn insert_runs(&mut self, instance: &str, runs: &[NewRun]) -> Result<Vec<i64>, StoreError>;
    /// The earliest next fire among WAITING triggers (not misfired: at or after
    /// `misfired_before_ms`, or ignoring misfires) of jobs not running, and this instance's
    /// ACQUIRED ones.
    async fn next_fire(&mut self, instance: &str, misfired_before_ms: i64) -> Result<Option<i64>, StoreError>;

    /// Puts unreadable triggers in ERROR with their reason.
    async fn poison(&mut self, rows: &[Poison]) -> Result<(), StoreError> {
        for p in rows {
            tracing::error!(trigger = %format!("{}.{}", p.group, p.name), reason = %p.reason, "unreadable trigger put in ERROR");
            self.exec(
                "UPDATE consort_triggers SET state = 'ERROR', error = $1, instance_id = NULL, acquired_ms = NULL \
                 WHERE trigger_group = $2 AND trigger_name = $3",
                &[p.reason.as_str().into(), p.group.as_str().into(), p.name.as_str().into()],
            )
            .await?;
        }
        Ok(())
    }
}

/// A trigger whose row cannot be read back (e.g. written by a newer consort) goes to ERROR
/// with the reason instead of stopping every cycle; resuming it retries.
fn broken(row: &RawTrigger, error: &StoreError) -> Result<StatusUpdate, StoreError> {
    tracing::error!(trigger = %format!("{}.{}", row.group, row.name), %error, "unreadable trigger put in ERROR");
    Ok(StatusUpdate {
        key: row.key()?,
        next_fire_ms: row.next_fire_ms,
        prev_fire_ms: None,
        times_triggered: row.times_triggered,
        state: "ERROR",
        error: Some(error.to_string()),
    })
}

/// Runs one cycle in `tx` (the caller commits).
pub(crate) async fn cycle<T: CycleTx>(tx: &mut T, request: &CycleRequest) -> Result<CycleOutcome, StoreError> {
    let now = request.now_ms;
    if !request.completions.is_empty() {
        failpoint::store_step("store::cycle::complete_runs")?;
        let runs = tx.complete_runs(&request.instance, &request.completions).await?;
        // Unblock the non-concurrent jobs that finished, so their triggers fire this cycle. A
        // run this instance no longer owns (adopted by another) leaves its job blocked.
        let finished: BTreeSet<JobKey> = request
            .completions
            .iter()
            .filter(|c| c.non_concurrent && runs.contains(&c.run_id))
            .map(|c| c.job.clone())
            .collect();
        if !finished.is_empty() {
            let finished: Vec<JobKey> = finished.into_iter().collect();
            let clear: Vec<(JobKey, Option<i64>)> = tx
                .lock_jobs(&finished)
                .await?
                .into_iter()
                .filter(|(_, run)| run.is_some_and(|id| runs.contains(&id)))
                .map(|(key, _)| (key, None))
                .collect();
            if !clear.is_empty() {
                tx.set_executing(&clear).await?;
            }
        }
    }

    let mut misfires_handled = 0;
    let mut misfired = Vec::new();
    if request.max_misfires > 0 {
        let (rows, poisoned) = tx.misfired(now, request.misfire_threshold_ms, request.max_misfires).await?;
        tx.poison(&poisoned).await?;
        let mut updates = Vec::with_capacity(rows.len());
        for row in &rows {
            let trigger = match row.trigger() {
                Ok(t) => t,
                Err(e) => {
                    updates.push(broken(row, &e)?);
                    continue;
                }
            };
            if let Some(status) = fire::apply_misfire(&trigger, row.fire_status(), now, request.misfire_threshold_ms) {
                if let Some(missed_ms) = row.fire_status().next_fire_ms {
                    misfired.push(Misfire {
                        trigger: trigger.key().clone(),
                        job: trigger.job().clone(),
                        missed_ms,
                        next_fire_ms: status.next_fire_ms,
                    });
                }
                updates.push(StatusUpdate {
                    key: trigger.key().clone(),
                    next_fire_ms: status.next_fire_ms,
                    prev_fire_ms: None,
                    times_triggered: status.times_triggered,
                    state: status.state().as_str(),
                    error: None,
                });
            }
        }
        misfires_handled = updates.len() + poisoned.len();
        tx.save_statuses(&updates).await?;
    }

    let (mut acquired, due_rows) = if request.max_fires > 0 {
        let acquired = if T::ACQUIRES_DUE { tx.acquire(request, request.max_fires).await? } else { 0 };
        failpoint::store_step("store::cycle::acquire")?;
        let (due, poisoned, taken) = tx.due(request, request.max_fires).await?;
        tx.poison(&poisoned).await?;
        (acquired + taken, due)
    } else {
        (0, Vec::new())
    };

    // Lock the due non-concurrent jobs (sorted, one statement) and see which are running.
    let mut jobs: HashMap<JobKey, RawJob> = HashMap::new();
    let mut due = Vec::with_capacity(due_rows.len());
    for (trigger, job) in due_rows {
        jobs.insert(JobKey::new(&job.group, &job.name)?, job);
        due.push(trigger);
    }
    let job_keys: BTreeSet<JobKey> = jobs.keys().cloned().collect();
    let lock: Vec<JobKey> =
        job_keys.iter().filter(|k| jobs.get(*k).is_some_and(|j| j.non_concurrent)).cloned().collect();
    let mut running = HashSet::new();
    if !lock.is_empty() {
        for (key, run) in tx.lock_jobs(&lock).await? {
            if run.is_some() {
                running.insert(key);
            }
        }
    }

    let mut fired = Vec::new();
    if !due.is_empty() {
        let mut candidates = Vec::with_capacity(due.len());
        for row in &due {
            let key = JobKey::new(&row.job_group, &row.job_name)?;
            let non_concurrent = jobs.get(&key).is_some_and(|j| j.non_concurrent);
            candidates.push(Candidate { job: key, non_concurrent });
        }
        let plan = fire::plan_batch(&candidates, &running);
        let mut release = Vec::new();
        let mut updates = Vec::new();
        let mut runs = Vec::new();
        let mut pending = Vec::new();
        for ((row, candidate), fire_it) in due.iter().zip(&candidates).zip(plan) {
            let Some(raw_job) = jobs.get(&candidate.job) else {
                release.push(row.key()?);
                continue;
            };
            if !fire_it {
                release.push(row.key()?);
                continue;
            }
            let (trigger, job) = match (row.trigger(), raw_job.job()) {
                (Ok(t), Ok(j)) => (t, j),
                (Err(e), _) | (_, Err(e)) => {
                    updates.push(broken(row, &e)?);
                    continue;
                }
            };
            let scheduled = row.next_fire_ms.unwrap_or(now);
            let status = fire::after_fire(&trigger, scheduled, row.fire_status());
            updates.push(StatusUpdate {
                key: trigger.key().clone(),
                next_fire_ms: status.next_fire_ms,
                prev_fire_ms: Some(scheduled),
                times_triggered: status.times_triggered,
                state: status.state().as_str(),
                error: None,
            });
            let recovers_run = trigger.data().get(RECOVERS_RUN_KEY).and_then(|v| v.as_i64());
            runs.push(NewRun {
                job: candidate.job.clone(),
                trigger: trigger.key().clone(),
                scheduled_ms: scheduled,
                fired_ms: now,
                recovers_run,
            });
            pending.push((job, trigger));
        }
        if !release.is_empty() {
            tx.release(&release).await?;
        }
        if !updates.is_empty() {
            tx.save_statuses(&updates).await?;
            let ids = tx.insert_runs(&request.instance, &runs).await?;
            failpoint::store_step("store::cycle::insert_runs")?;
            let mut executing = Vec::new();
            for ((id, run), (job, trigger)) in ids.into_iter().zip(runs).zip(pending) {
                if job.non_concurrent() {
                    executing.push((job.key().clone(), Some(id)));
                }
                let mut data = job.data().clone();
                data.extend(trigger.data().iter().map(|(k, v)| (k.clone(), v.clone())));
                fired.push(Firing {
                    run_id: id,
                    job,
                    trigger: run.trigger,
                    data,
                    scheduled_ms: run.scheduled_ms,
                    fired_ms: run.fired_ms,
                });
            }
            if !executing.is_empty() {
                tx.set_executing(&executing).await?;
            }
        }
    }

    // Triggers due within the window, held for their time by this instance (see
    // `CycleTx::ACQUIRES_DUE`), as many as the slots left after this cycle's fires.
    if !T::ACQUIRES_DUE && request.max_fires > fired.len() {
        acquired += tx.acquire(request, request.max_fires - fired.len()).await?;
    }
    // A full cycle is followed at once by another (more may be due), so its next fire time
    // would go unread; in a backlog, reading it cost an eighth of PostgreSQL's time per fire.
    let full = request.max_fires > 0 && fired.len() >= request.max_fires;
    let next_fire_ms =
        if full { Some(now) } else { tx.next_fire(&request.instance, now - request.misfire_threshold_ms).await? };
    failpoint::store_step("store::cycle::end")?;
    Ok(CycleOutcome { fired, misfires_handled, misfired, acquired, next_fire_ms })
}
