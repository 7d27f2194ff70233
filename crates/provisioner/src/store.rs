//! What the store keeps for this area: provisioned components (which job each became, the
//! descriptor it came from, its access list) and the durable tokens of asynchronous
//! operations. Implemented by `consort-store` on SQLite and PostgreSQL.
//!
//! Contract: each method is one database transaction. [`ProvisionerStore::provision`] and
//! [`ProvisionerStore::unprovision`] are the area's units of work: the component, its job and
//! triggers, and the operation's task commit together or not at all.

use async_trait::async_trait;
use consort_scheduler::{Job, JobKey, StoreError, Trigger};

/// A component provisioned by this server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentRecord {
    /// The component's id, e.g. `urn:dmb:cmp:finance:cashflow:0:spark-etl`.
    pub component_id: String,
    /// Its data product's id, e.g. `urn:dmb:dp:finance:cashflow:0`.
    pub data_product_id: String,
    /// The data product's environment, e.g. `development`.
    pub environment: String,
    /// The job it became.
    pub job: JobKey,
    /// The descriptor (YAML) of the last successful provision.
    pub descriptor: String,
    /// Who may read the job's runs and fire it (`user:alice`, `group:finance`), from
    /// `/v1/updateacl`; empty until set.
    pub acl: Vec<String>,
    /// First provisioned, epoch ms.
    pub created_ms: i64,
    /// Last provisioned or changed, epoch ms.
    pub updated_ms: i64,
}

/// Which operation a task tracks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskKind {
    /// `/v2/validate`.
    Validate,
    /// `/v1/provision`.
    Provision,
    /// `/v1/unprovision`.
    Unprovision,
    /// `/v1/updateacl`.
    UpdateAcl,
    /// `/v1/reverse-provisioning`.
    ReverseProvisioning,
}

impl TaskKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Validate => "validate",
            TaskKind::Provision => "provision",
            TaskKind::Unprovision => "unprovision",
            TaskKind::UpdateAcl => "updateacl",
            TaskKind::ReverseProvisioning => "reverse-provisioning",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<TaskKind> {
        [
            TaskKind::Validate,
            TaskKind::Provision,
            TaskKind::Unprovision,
            TaskKind::UpdateAcl,
            TaskKind::ReverseProvisioning,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

/// A task's state, as the spec's `status` enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// Accepted, not finished.
    Running,
    /// Finished successfully.
    Completed,
    /// Finished with an error.
    Failed,
}

impl TaskState {
    /// The stored name (the spec's).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Running => "RUNNING",
            TaskState::Completed => "COMPLETED",
            TaskState::Failed => "FAILED",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<TaskState> {
        [TaskState::Running, TaskState::Completed, TaskState::Failed].into_iter().find(|s| s.as_str() == name)
    }
}

/// The durable record behind a 202 token: any instance sharing the store answers its status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    /// The token handed to the caller (random, unguessable).
    pub token: String,
    /// The operation.
    pub kind: TaskKind,
    /// Its state.
    pub state: TaskState,
    /// The component it acts on, when known.
    pub component_id: Option<String>,
    /// The request body as received (JSON text), so an interrupted task can be run again.
    pub request: String,
    /// The answer's body once finished (JSON text the server wrote: a `ProvisioningStatus`,
    /// `ValidationStatus` or `ReverseProvisioningStatus`).
    pub result: Option<String>,
    /// The instance working on it while RUNNING.
    pub instance: Option<String>,
    /// Accepted, epoch ms.
    pub created_ms: i64,
    /// Last state change, epoch ms.
    pub updated_ms: i64,
}

/// Durable storage of provisioned components and asynchronous tasks.
#[async_trait]
pub trait ProvisionerStore: Send + Sync + std::fmt::Debug {
    /// One unit of work: stores `component` (insert or replace), creates or replaces `job`
    /// with exactly `triggers` (the job's other triggers are deleted; a trigger whose
    /// schedule, start and end are unchanged keeps its next fire time; runs and a run in
    /// progress are untouched), and stores `task` when given. All or nothing.
    async fn provision(
        &self,
        component: &ComponentRecord,
        job: &Job,
        triggers: &[Trigger],
        task: Option<&Task>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.provision_adopting(component, job, triggers, None, task, now_ms).await
    }

    /// [`ProvisionerStore::provision`], also deleting `adopts` (a job the component replaces:
    /// its triggers go, its runs stay) in the same transaction. A job that belongs to another
    /// component is refused (`StoreError::JobExists`); one already gone is not an error.
    async fn provision_adopting(
        &self,
        component: &ComponentRecord,
        job: &Job,
        triggers: &[Trigger],
        adopts: Option<&JobKey>,
        task: Option<&Task>,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// One unit of work: deletes the component, its job and the job's triggers (runs stay),
    /// and stores `task` when given. Returns the record that was deleted; `None` when the
    /// component was never provisioned (not an error: unprovisioning is idempotent).
    async fn unprovision(
        &self,
        component_id: &str,
        task: Option<&Task>,
        now_ms: i64,
    ) -> Result<Option<ComponentRecord>, StoreError>;

    /// A provisioned component by its id.
    async fn component(&self, component_id: &str) -> Result<Option<ComponentRecord>, StoreError>;

    /// The component a job was provisioned from.
    async fn component_by_job(&self, job: &JobKey) -> Result<Option<ComponentRecord>, StoreError>;

    /// Components ordered by id, after `after`, at most `limit`.
    async fn list_components(&self, after: Option<&str>, limit: usize) -> Result<Vec<ComponentRecord>, StoreError>;

    /// One unit of work: replaces the component's access list and stores `task` when given.
    /// False when the component is not provisioned.
    async fn set_acl(
        &self,
        component_id: &str,
        acl: &[String],
        task: Option<&Task>,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Inserts or updates a task (by token).
    async fn put_task(&self, task: &Task) -> Result<(), StoreError>;

    /// A task by its token.
    async fn task(&self, token: &str) -> Result<Option<Task>, StoreError>;

    /// The instances working on RUNNING tasks, so a starting instance can tell which of them
    /// are gone (not checked in) and claim their tasks.
    async fn task_instances(&self) -> Result<Vec<String>, StoreError>;

    /// Claims RUNNING tasks whose instance is one of `stale_instances` (instances that
    /// stopped or died while working on them) for `instance`, at most `limit`; returns them.
    async fn claim_orphaned_tasks(
        &self,
        instance: &str,
        stale_instances: &[String],
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<Task>, StoreError>;
}
