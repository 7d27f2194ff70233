//! Reverse provisioning: existing jobs described as components, or refused with the reason.

use consort_provisioner::{CheckFailure, Checks, Settings, plan, reverse, reverse_job_key, validate};
use consort_scheduler::{
    DataMap, Job, JobKey, MANUAL_GROUP, Schedule, Trigger, TriggerKey, TriggerState, TriggerStatus,
};
use serde_json::{Value, json};

const EXAMPLE: &str = include_str!("data/component.yaml");
/// 2026-01-01T00:00:00Z.
const NOW: i64 = 1_767_225_600_000;

fn data(v: Value) -> DataMap {
    v.as_object().unwrap().clone()
}

fn status(trigger: Trigger, state: TriggerState) -> TriggerStatus {
    TriggerStatus {
        trigger,
        state,
        next_fire_ms: None,
        prev_fire_ms: None,
        times_triggered: 0,
        instance: None,
        error: None,
    }
}

fn cron_trigger(job: &JobKey, name: &str, expression: &str, zone: &str) -> Trigger {
    Trigger::new(
        TriggerKey::new(job.group(), name).unwrap(),
        job.clone(),
        Schedule::cron(expression, zone).unwrap(),
        1_546_300_800_000, // 2019-01-01T00:00:00Z
    )
}

/// A job as `consort import quartz --kind spark` stores one from a Quartz scheduler whose job
/// data maps are string properties (`org.quartz.jobStore.useProperties=true`).
fn imported() -> (Job, Vec<TriggerStatus>) {
    let key = JobKey::new("etl", "nightly").unwrap();
    let job = Job::new(key.clone(), "spark")
        .with_description("Nightly cash flow load")
        .with_data(data(json!({
            "jar": "hdfs://ns1/apps/etl.jar",
            "className": "com.example.Etl",
            "args": "[\"--date\", \"today\"]",
            "jars": "hdfs://ns1/lib/a.jar, hdfs://ns1/lib/b.jar",
            "conf": "{\"spark.sql.shuffle.partitions\": \"200\"}",
            "driverCores": "2",
            "driverMemory": "2g",
            "numExecutors": "4",
            "queue": "root.finance",
            "logLevel": "WARN",
            "quartz.job_class": "com.example.LivyJob"
        })))
        .with_durable(true);
    let trigger =
        cron_trigger(&key, "nightly-trigger", "0 0 2 * * ?", "Europe/Rome").with_end_ms(Some(1_924_991_999_000));
    // A fire-now trigger is not the job's schedule.
    let manual = Trigger::new(TriggerKey::new(MANUAL_GROUP, "m1").unwrap(), key.clone(), Schedule::once(), NOW);
    (job, vec![status(trigger, TriggerState::Waiting), status(manual, TriggerState::Complete)])
}

#[test]
fn an_imported_spark_job_is_described_as_a_component() {
    let (job, triggers) = imported();
    let updates = reverse(&job, &triggers).unwrap();
    assert_eq!(
        Value::Object(updates),
        json!({
            "spec.mesh.description": "Nightly cash flow load",
            "spec.mesh.specific.jobName": "nightly",
            "spec.mesh.specific.adoptJob": {"jobGroup": job.key().group(), "jobName": job.key().name()},
            "spec.mesh.specific.jar": "hdfs://ns1/apps/etl.jar",
            "spec.mesh.specific.className": "com.example.Etl",
            "spec.mesh.specific.queue": "root.finance",
            "spec.mesh.specific.timezone": "Europe/Rome",
            "spec.mesh.specific.jobConfig.args": ["--date", "today"],
            "spec.mesh.specific.jobConfig.dependencies": ["hdfs://ns1/lib/a.jar", "hdfs://ns1/lib/b.jar"],
            "spec.mesh.specific.jobConfig.conf": {"spark.sql.shuffle.partitions": "200"},
            "spec.mesh.specific.jobConfig.driverCores": 2,
            "spec.mesh.specific.jobConfig.driverMemory": "2g",
            "spec.mesh.specific.jobConfig.numExecutors": 4,
            "spec.mesh.specific.jobConfig.logLevel": "WARN",
            "spec.mesh.specific.jobConfig.schedule.cronExpression": "0 0 2 * * ?",
            "spec.mesh.specific.jobConfig.schedule.startDate": "2019-01-01T00:00:00Z",
            "spec.mesh.specific.jobConfig.schedule.endDate": "2030-12-31T23:59:59Z"
        })
    );
}

#[tokio::test]
async fn a_provisioned_job_is_described_as_its_descriptor() {
    let settings = Settings::default();
    let descriptor = validate(EXAMPLE, &settings, &AcceptAll, NOW).await.unwrap().descriptor;
    let plan = plan(&descriptor, EXAMPLE, &settings, NOW).unwrap();
    let triggers: Vec<TriggerStatus> =
        plan.triggers.iter().cloned().map(|t| status(t, TriggerState::Waiting)).collect();
    let updates = reverse(&plan.job, &triggers).unwrap();
    let get = |k: &str| updates.get(&format!("spec.mesh.specific.{k}")).cloned().unwrap_or(Value::Null);
    assert_eq!(get("jobName"), "finance-cashflow-0-spark-etl-development");
    assert_eq!(get("jar"), "/opt/consort/examples/consort-examples.jar");
    assert_eq!(get("className"), "consort.examples.CountRange");
    assert_eq!(get("backend"), "local");
    assert_eq!(get("jobConfig.args"), json!(["1000"]));
    assert_eq!(get("jobConfig.conf"), json!({"spark.sql.shuffle.partitions": "200"}));
    assert_eq!(get("jobConfig.executorMemory"), "4g");
    assert_eq!(get("jobConfig.schedule.cronExpression"), "0 0 2 * * ?");
    assert_eq!(get("jobConfig.schedule.endDate"), "2030-12-31T23:59:59Z");
    assert_eq!(get("timezone"), "UTC");
}

#[derive(Debug)]
struct AcceptAll;

#[async_trait::async_trait]
impl Checks for AcceptAll {
    async fn backend(&self, _: &str) -> Result<(), CheckFailure> {
        Ok(())
    }
    async fn jar(&self, _: &str, _: &str) -> Result<(), CheckFailure> {
        Ok(())
    }
    async fn python_file(&self, _: &str) -> Result<(), CheckFailure> {
        Ok(())
    }
}

#[test]
fn a_job_of_another_kind_is_refused() {
    let job = Job::new(JobKey::new("ops", "cleanup").unwrap(), "command").with_data(data(json!({"command": "rm"})));
    let p = reverse(&job, &[]).unwrap_err();
    assert_eq!(p.field, "params.jobName");
    assert!(p.problem.contains("ops.cleanup") && p.problem.contains("`command`"), "{p:?}");
    assert!(!p.fix.is_empty());
}

#[test]
fn data_the_descriptor_cannot_hold_is_refused() {
    let (job, triggers) = imported();
    let mut extra = job.data().clone();
    extra.insert("timeoutSecs".into(), json!(3600));
    extra.insert("packages".into(), json!(["org.example:lib:1.0"]));
    let p = reverse(&job.clone().with_data(extra), &triggers).unwrap_err();
    assert_eq!(p.field, "params.jobName");
    assert!(p.problem.contains("timeoutSecs, packages") || p.problem.contains("packages, timeoutSecs"), "{p:?}");

    let mut no_app = job.data().clone();
    no_app.remove("jar");
    let p = reverse(&job.clone().with_data(no_app), &triggers).unwrap_err();
    assert!(p.problem.contains("no application"), "{p:?}");

    let mut bad_count = job.data().clone();
    bad_count.insert("numExecutors".into(), json!("many"));
    let p = reverse(&job.with_data(bad_count), &triggers).unwrap_err();
    assert!(p.problem.contains("numExecutors"), "{p:?}");
}

#[test]
fn schedules_the_descriptor_cannot_hold_are_refused() {
    let (job, mut triggers) = imported();
    let second = cron_trigger(job.key(), "weekly", "0 0 3 ? * SUN", "UTC");
    triggers.push(status(second, TriggerState::Waiting));
    let p = reverse(&job, &triggers).unwrap_err();
    assert!(p.problem.contains("2 schedules"), "{p:?}");

    let every = Trigger::new(
        TriggerKey::new("etl", "every-hour").unwrap(),
        job.key().clone(),
        Schedule::simple(None, 3_600_000).unwrap(),
        NOW,
    );
    let p = reverse(&job, &[status(every, TriggerState::Waiting)]).unwrap_err();
    assert!(p.problem.contains("fixed interval"), "{p:?}");

    // No schedule at all: a job fired by hand.
    let updates = reverse(&job, &[]).unwrap();
    assert!(!updates.keys().any(|k| k.contains("schedule")));
}

#[test]
fn params_name_the_job() {
    let key = reverse_job_key(&data(json!({"jobName": "nightly", "jobGroup": "etl"}))).unwrap();
    assert_eq!((key.group(), key.name()), ("etl", "nightly"));
    assert_eq!(reverse_job_key(&data(json!({"jobName": "nightly"}))).unwrap().group(), "DEFAULT");
    assert_eq!(reverse_job_key(&data(json!({}))).unwrap_err().field, "params.jobName");
    assert_eq!(reverse_job_key(&data(json!({"jobName": "x", "jobGroup": 7}))).unwrap_err().field, "params.jobGroup");
}
