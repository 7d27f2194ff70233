//! The provisioner area's statements (provisioned components, asynchronous tasks), written
//! once over [`Sql`]; each function runs inside one transaction of its backend, and the units
//! of work (`provision`, `unprovision`, `set_acl`) compose the catalog's own job and trigger
//! functions, so a component, its job and triggers, and the operation's task commit together.

use consort_provisioner::{ComponentRecord, Task, TaskKind, TaskState};
use consort_scheduler::{Job, JobKey, StoreError, Trigger};

use crate::catalog;
use crate::sql::{Cols, Sql, Value};

const COMPONENTS: &str = "consort_provisioned_components";
const TASKS: &str = "consort_provisioner_tasks";

const COMPONENT_COLUMNS: &str =
    "component_id, data_product_id, environment, job_group, job_name, descriptor, acl, created_ms, updated_ms";
const TASK_COLUMNS: &str = "token, kind, state, component_id, request, result, instance, created_ms, updated_ms";

fn corrupt(table: &'static str, message: impl Into<String>) -> StoreError {
    StoreError::Corrupt { table, message: message.into() }
}

fn acl_text(acl: &[String]) -> String {
    serde_json::Value::Array(acl.iter().cloned().map(serde_json::Value::String).collect()).to_string()
}

fn parse_acl(component_id: &str, text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str::<Vec<String>>(text).map_err(|e| {
        corrupt(
            COMPONENTS,
            format!(
                "the acl of component {component_id:?} is not a JSON array of strings ({e}); \
                 set it again with /v1/updateacl, or repair the row to '[]'"
            ),
        )
    })
}

fn component(row: &[Value]) -> Result<ComponentRecord, StoreError> {
    let mut c = Cols::new(COMPONENTS, row);
    let component_id = c.text()?;
    let data_product_id = c.text()?;
    let environment = c.text()?;
    let (group, name) = (c.text()?, c.text()?);
    let job = JobKey::new(&group, &name)
        .map_err(|e| corrupt(COMPONENTS, format!("the job key of component {component_id:?}: {e}")))?;
    let descriptor = c.text()?;
    let acl = parse_acl(&component_id, &c.text()?)?;
    Ok(ComponentRecord {
        component_id,
        data_product_id,
        environment,
        job,
        descriptor,
        acl,
        created_ms: c.int()?,
        updated_ms: c.int()?,
    })
}

fn task(row: &[Value]) -> Result<Task, StoreError> {
    let mut c = Cols::new(TASKS, row);
    let token = c.text()?;
    let kind = c.text()?;
    let kind = TaskKind::parse(&kind).ok_or_else(|| {
        corrupt(TASKS, format!("unknown kind {kind:?} of task {token:?}: written by a newer consort, upgrade this one"))
    })?;
    let state = c.text()?;
    let state = TaskState::parse(&state).ok_or_else(|| {
        corrupt(
            TASKS,
            format!("unknown state {state:?} of task {token:?}: written by a newer consort, upgrade this one"),
        )
    })?;
    Ok(Task {
        token,
        kind,
        state,
        component_id: c.opt_text()?,
        request: c.text()?,
        result: c.opt_text()?,
        instance: c.opt_text()?,
        created_ms: c.int()?,
        updated_ms: c.int()?,
    })
}

async fn component_where<S: Sql>(
    db: &mut S,
    clause: &str,
    params: &[Value],
) -> Result<Option<ComponentRecord>, StoreError> {
    let sql = format!("SELECT {COMPONENT_COLUMNS} FROM {COMPONENTS} WHERE {clause}");
    db.rows(&sql, params).await?.first().map(|r| component(r)).transpose()
}

/// Stores `component` (insert, or replace keeping its first `created_ms`), creates or replaces
/// `job` with exactly `triggers` (see [`catalog::set_job_triggers`]), and stores `task`.
/// A component whose job key changed loses its old job (runs stay); a job provisioned from
/// another component is refused.
pub(crate) async fn provision<S: Sql>(
    db: &mut S,
    c: &ComponentRecord,
    job: &Job,
    triggers: &[Trigger],
    adopts: Option<&JobKey>,
    task: Option<&Task>,
    now_ms: i64,
) -> Result<(), StoreError> {
    if &c.job != job.key() {
        return Err(StoreError::Database {
            context: format!("provisioning component {:?}", c.component_id),
            message: format!(
                "the component names job {} but job {} was given: pass the component's own job",
                c.job,
                job.key()
            ),
            transient: false,
        });
    }
    for t in triggers {
        catalog::check_owner(job, t)?;
    }
    let previous = component_where(db, "component_id = $1{lock}", &[(&c.component_id).into()]).await?;
    let owner = db
        .rows(
            &format!("SELECT component_id FROM {COMPONENTS} WHERE job_group = $1 AND job_name = $2{{lock}}"),
            &[job.key().group().into(), job.key().name().into()],
        )
        .await?;
    if let Some(row) = owner.first() {
        let other = Cols::new(COMPONENTS, row).text()?;
        if other != c.component_id {
            return Err(StoreError::JobExists(job.key().clone()));
        }
    }
    if let Some(previous) = &previous
        && &previous.job != job.key()
    {
        catalog::delete_job(db, &previous.job).await?;
    }
    if let Some(adopted) = adopts.filter(|a| *a != job.key()) {
        let owner = db
            .rows(
                &format!("SELECT component_id FROM {COMPONENTS} WHERE job_group = $1 AND job_name = $2{{lock}}"),
                &[adopted.group().into(), adopted.name().into()],
            )
            .await?;
        if let Some(row) = owner.first() {
            let other = Cols::new(COMPONENTS, row).text()?;
            if other != c.component_id {
                return Err(StoreError::JobExists(adopted.clone()));
            }
        }
        catalog::delete_job(db, adopted).await?;
    }
    catalog::upsert_job(db, job, true, now_ms).await?;
    catalog::set_job_triggers(db, job.key(), triggers).await?;
    catalog::check_durable(db, job).await?;
    db.exec(
        &format!(
            "INSERT INTO {COMPONENTS} ({COMPONENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (component_id) DO UPDATE SET data_product_id = $2, environment = $3, job_group = $4, \
             job_name = $5, descriptor = $6, acl = $7, updated_ms = $9"
        ),
        &[
            (&c.component_id).into(),
            (&c.data_product_id).into(),
            (&c.environment).into(),
            c.job.group().into(),
            c.job.name().into(),
            (&c.descriptor).into(),
            acl_text(&c.acl).into(),
            c.created_ms.into(),
            c.updated_ms.into(),
        ],
    )
    .await?;
    if let Some(t) = task {
        put_task(db, t).await?;
    }
    Ok(())
}

/// Deletes the component, its job and the job's triggers (runs stay), stores `task`; returns
/// the deleted record, `None` when there was none.
pub(crate) async fn unprovision<S: Sql>(
    db: &mut S,
    component_id: &str,
    task: Option<&Task>,
) -> Result<Option<ComponentRecord>, StoreError> {
    let record = component_where(db, "component_id = $1{lock}", &[component_id.into()]).await?;
    if let Some(r) = &record {
        catalog::delete_job(db, &r.job).await?;
        db.exec(&format!("DELETE FROM {COMPONENTS} WHERE component_id = $1"), &[component_id.into()]).await?;
    }
    if let Some(t) = task {
        put_task(db, t).await?;
    }
    Ok(record)
}

pub(crate) async fn get_component<S: Sql>(
    db: &mut S,
    component_id: &str,
) -> Result<Option<ComponentRecord>, StoreError> {
    component_where(db, "component_id = $1", &[component_id.into()]).await
}

pub(crate) async fn component_by_job<S: Sql>(db: &mut S, job: &JobKey) -> Result<Option<ComponentRecord>, StoreError> {
    component_where(db, "job_group = $1 AND job_name = $2", &[job.group().into(), job.name().into()]).await
}

pub(crate) async fn list_components<S: Sql>(
    db: &mut S,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<ComponentRecord>, StoreError> {
    let sql = format!(
        "SELECT {COMPONENT_COLUMNS} FROM {COMPONENTS} WHERE CAST($1 AS TEXT) IS NULL OR component_id > $1 \
         ORDER BY component_id LIMIT $2"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    db.rows(&sql, &[after.into(), limit.into()]).await?.iter().map(|r| component(r)).collect()
}

/// Replaces the access list; stores `task` either way. False when there is no such component.
pub(crate) async fn set_acl<S: Sql>(
    db: &mut S,
    component_id: &str,
    acl: &[String],
    task: Option<&Task>,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let n = db
        .exec(
            &format!("UPDATE {COMPONENTS} SET acl = $1, updated_ms = $2 WHERE component_id = $3"),
            &[acl_text(acl).into(), now_ms.into(), component_id.into()],
        )
        .await?;
    if let Some(t) = task {
        put_task(db, t).await?;
    }
    Ok(n > 0)
}

/// Inserts or updates a task by token; an update keeps the first `created_ms`.
pub(crate) async fn put_task<S: Sql>(db: &mut S, t: &Task) -> Result<(), StoreError> {
    db.exec(
        &format!(
            "INSERT INTO {TASKS} ({TASK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (token) DO UPDATE SET kind = $2, state = $3, component_id = $4, request = $5, \
             result = $6, instance = $7, updated_ms = $9"
        ),
        &[
            (&t.token).into(),
            t.kind.as_str().into(),
            t.state.as_str().into(),
            t.component_id.clone().into(),
            (&t.request).into(),
            t.result.clone().into(),
            t.instance.clone().into(),
            t.created_ms.into(),
            t.updated_ms.into(),
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn get_task<S: Sql>(db: &mut S, token: &str) -> Result<Option<Task>, StoreError> {
    let sql = format!("SELECT {TASK_COLUMNS} FROM {TASKS} WHERE token = $1");
    db.rows(&sql, &[token.into()]).await?.first().map(|r| task(r)).transpose()
}

/// Moves RUNNING tasks of `stale_instances` to `instance`, oldest first, at most `limit`. On
/// PostgreSQL the rows are taken with `FOR UPDATE SKIP LOCKED` and re-checked after the lock,
/// so two claimers never both get a task.
/// The distinct instances of RUNNING tasks.
pub(crate) async fn task_instances<S: Sql>(db: &mut S) -> Result<Vec<String>, StoreError> {
    let sql = format!(
        "SELECT DISTINCT instance FROM {TASKS} WHERE state = 'RUNNING' AND instance IS NOT NULL ORDER BY instance"
    );
    let rows = db.rows(&sql, &[]).await?;
    rows.iter()
        .map(|row| match row.first() {
            Some(Value::Text(Some(text))) => Ok(text.clone()),
            other => Err(StoreError::Corrupt { table: TASKS, message: format!("instance is not text: {other:?}") }),
        })
        .collect()
}

pub(crate) async fn claim_orphaned_tasks<S: Sql>(
    db: &mut S,
    instance: &str,
    stale_instances: &[String],
    limit: usize,
    now_ms: i64,
) -> Result<Vec<Task>, StoreError> {
    let mut claimed = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for stale in stale_instances {
        if claimed.len() >= limit {
            break;
        }
        if stale == instance || seen.contains(&stale.as_str()) {
            continue;
        }
        seen.push(stale);
        let left = i64::try_from(limit - claimed.len()).unwrap_or(i64::MAX);
        let sql = format!(
            "UPDATE {TASKS} SET instance = $1, updated_ms = $2 WHERE token IN \
             (SELECT token FROM {TASKS} WHERE state = 'RUNNING' AND instance = $3 \
              ORDER BY created_ms, token LIMIT $4{{skip_locked}}) RETURNING {TASK_COLUMNS}"
        );
        let rows = db.rows(&sql, &[instance.into(), now_ms.into(), stale.into(), left.into()]).await?;
        for row in &rows {
            claimed.push(task(row)?);
        }
    }
    claimed.sort_by(|a, b| (a.created_ms, &a.token).cmp(&(b.created_ms, &b.token)));
    Ok(claimed)
}
