//! Reverse provisioning: an existing scheduled job (provisioned here, created through the
//! job API, or imported from Quartz by `consort import quartz --kind spark`) described as a
//! component, as the `updates` of a `ReverseProvisioningStatus`: dot-path keys into the
//! component's `catalog-info.yaml`.
//!
//! The request's `params` name the job: `jobName`, and `jobGroup` (default `DEFAULT`); see
//! [`reverse_job_key`]. A job is described only when every part of it has a place in the
//! descriptor; otherwise it is refused with the reason, rather than described with parts
//! silently dropped:
//!
//! - its kind must be `spark`;
//! - its data must name an application (`jar` + `className`, or `file`) and hold only keys
//!   the descriptor has (keys under `quartz.`, the importer's provenance, are ignored);
//! - its triggers, other than one-shot fires (`MANUAL_TRIGGER`, `RECOVERING_JOBS` groups,
//!   completed one-shot simple triggers), must be at most one, and a cron trigger.
//!
//! | job | update key |
//! |---|---|
//! | description | `spec.mesh.description` |
//! | the job's key | `spec.mesh.specific.adoptJob` (`{jobGroup, jobName}`): provisioning the component replaces this job |
//! | data `name` (else the key's name) | `spec.mesh.specific.jobName` |
//! | `jar`, `className` / `file`, `pyFiles` | `spec.mesh.specific.jar`, `….className` / `….file`, `….pyFiles` |
//! | `queue`, `backend` | `spec.mesh.specific.queue`, `….backend` |
//! | `args`, `jars`, `conf` | `spec.mesh.specific.jobConfig.args`, `….dependencies`, `….conf` |
//! | `driverCores`, `driverMemory`, `executorCores`, `executorMemory`, `numExecutors`, `logLevel` | `spec.mesh.specific.jobConfig.<same>` |
//! | the cron trigger's expression, start, end | `spec.mesh.specific.jobConfig.schedule.cronExpression`, `….startDate`, `….endDate` (RFC 3339, UTC) |
//! | the cron trigger's zone | `spec.mesh.specific.timezone` |
//!
//! Data written by a Java `Properties` map (all text) is read leniently: numbers in text,
//! lists as JSON arrays in text (`jars` and `pyFiles` also comma-separated, as Spark
//! writes them), `conf` as a JSON object in text.

use consort_scheduler::{
    DEFAULT_GROUP, Job, JobKey, MANUAL_GROUP, RECOVERING_GROUP, Schedule, TriggerState, TriggerStatus,
};
use serde_json::{Map, Value};

use crate::plan::JOB_KIND;
use crate::problem::Problem;

/// The `params` key naming the job.
pub const PARAM_JOB_NAME: &str = "jobName";
/// The `params` key naming the job's group (default `DEFAULT`).
pub const PARAM_JOB_GROUP: &str = "jobGroup";

const FIELD: &str = "params.jobName";
const SPECIFIC: &str = "spec.mesh.specific";

/// The job a reverse-provisioning request's `params` name: `{"jobName": …, "jobGroup": …}`.
pub fn reverse_job_key(params: &Map<String, Value>) -> Result<JobKey, Problem> {
    let text = |key: &str| match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(other) => Err(Problem::new(
            format!("params.{key}"),
            format!("expected the job's {} as text, got {other}", if key == PARAM_JOB_NAME { "name" } else { "group" }),
            "pass params {\"jobName\": \"<name>\", \"jobGroup\": \"<group>\"}",
        )),
    };
    let name = text(PARAM_JOB_NAME)?.ok_or_else(|| {
        Problem::new(
            FIELD,
            "missing: reverse provisioning describes an existing job, named by params",
            "pass params {\"jobName\": \"<name>\", \"jobGroup\": \"<group>\"} (jobGroup defaults to DEFAULT)",
        )
    })?;
    let group = text(PARAM_JOB_GROUP)?.unwrap_or_else(|| DEFAULT_GROUP.to_string());
    JobKey::new(group, name).map_err(|e| Problem::new(FIELD, e.to_string(), "pass the key of an existing job"))
}

/// The `updates` describing `job` (with its `triggers`) as a component; see the module docs.
pub fn reverse(job: &Job, triggers: &[TriggerStatus]) -> Result<Map<String, Value>, Problem> {
    let refuse = |problem: String, fix: &str| Problem::new(FIELD, format!("job {}: {problem}", job.key()), fix);
    if job.kind() != JOB_KIND {
        return Err(refuse(
            format!(
                "it is a `{}` job, not a Spark job (kind `{JOB_KIND}`), so it cannot be described as a Spark component",
                job.kind()
            ),
            "name a job of the spark kind",
        ));
    }
    let data = job.data();
    let unknown: Vec<&str> =
        data.keys().map(String::as_str).filter(|k| !k.starts_with("quartz.") && !DESCRIBED.contains(k)).collect();
    if !unknown.is_empty() {
        return Err(refuse(
            format!(
                "its data has {} that the component descriptor cannot hold: {}",
                if unknown.len() == 1 { "a field" } else { "fields" },
                unknown.join(", ")
            ),
            "remove those fields from the job (or keep managing it outside Witboost); the descriptor holds name, \
             jar, className, file, pyFiles, args, jars, conf, driverCores, driverMemory, executorCores, \
             executorMemory, numExecutors, queue, logLevel and backend",
        ));
    }
    let bad = |key: &str, expected: &str, got: &Value| {
        refuse(format!("its data's `{key}` is {got}, expected {expected}"), "correct the job's data, then try again")
    };
    let mut updates = Map::new();
    let mut put = |key: &str, value: Value| {
        updates.insert(format!("{SPECIFIC}.{key}"), value);
    };
    let name = match data.get("name") {
        None | Some(Value::Null) => job.key().name().to_string(),
        Some(v) => text(v).ok_or_else(|| bad("name", "text", v))?,
    };
    put("jobName", name.into());
    // Provisioning the component makes its own job; adoptJob has it replace this one.
    put("adoptJob", serde_json::json!({"jobGroup": job.key().group(), "jobName": job.key().name()}));
    let field = |key: &str| data.get(key).filter(|v| !v.is_null());
    match (field("jar"), field("className"), field("file")) {
        (Some(jar), Some(class), None) => {
            put("jar", text(jar).ok_or_else(|| bad("jar", "text", jar))?.into());
            put("className", text(class).ok_or_else(|| bad("className", "text", class))?.into());
            if field("pyFiles").is_some() {
                return Err(refuse(
                    "its data has pyFiles beside a jar; the descriptor's pyFiles go with a Python file".into(),
                    "remove pyFiles from the job's data",
                ));
            }
        }
        (None, None, Some(file)) => {
            put("file", text(file).ok_or_else(|| bad("file", "text", file))?.into());
            if let Some(v) = field("pyFiles") {
                put("pyFiles", list(v, true).ok_or_else(|| bad("pyFiles", "a list of text", v))?.into());
            }
        }
        _ => {
            return Err(refuse(
                "its data names no application the descriptor can hold: it needs jar with className, or file".into(),
                "give the job jar and className, or a Python file",
            ));
        }
    }
    for key in ["queue", "backend"] {
        if let Some(v) = field(key) {
            put(key, text(v).ok_or_else(|| bad(key, "text", v))?.into());
        }
    }
    for (key, to) in [("args", "args"), ("jars", "dependencies")] {
        if let Some(v) = field(key) {
            put(
                &format!("jobConfig.{to}"),
                list(v, key == "jars").ok_or_else(|| bad(key, "a list of text", v))?.into(),
            );
        }
    }
    for key in ["driverCores", "executorCores", "numExecutors"] {
        if let Some(v) = field(key) {
            put(
                &format!("jobConfig.{key}"),
                count(v).ok_or_else(|| bad(key, "a whole number of at least 1", v))?.into(),
            );
        }
    }
    for key in ["driverMemory", "executorMemory", "logLevel"] {
        if let Some(v) = field(key) {
            put(&format!("jobConfig.{key}"), text(v).ok_or_else(|| bad(key, "text", v))?.into());
        }
    }
    if let Some(v) = field("conf") {
        put("jobConfig.conf", conf(v).ok_or_else(|| bad("conf", "an object of Spark properties", v))?);
    }
    let schedules: Vec<&TriggerStatus> = triggers.iter().filter(|t| !is_one_shot(t)).collect();
    match schedules.as_slice() {
        [] => {}
        [status] => {
            let trigger = &status.trigger;
            let Schedule::Cron { cron, zone } = trigger.schedule() else {
                return Err(refuse(
                    format!(
                        "its trigger {} repeats at a fixed interval, which the descriptor's cron schedule cannot express",
                        trigger.key()
                    ),
                    "replace the trigger with a cron trigger, then try again",
                ));
            };
            put("jobConfig.schedule.cronExpression", cron.as_str().into());
            put("jobConfig.schedule.startDate", utc(trigger.start_ms()).into());
            if let Some(end) = trigger.end_ms() {
                put("jobConfig.schedule.endDate", utc(end).into());
            }
            put("timezone", zone.name().into());
        }
        several => {
            let keys: Vec<String> = several.iter().map(|t| t.trigger.key().to_string()).collect();
            return Err(refuse(
                format!("it has {} schedules ({}); a component has one", several.len(), keys.join(", ")),
                "keep one cron trigger on the job, then try again",
            ));
        }
    }
    if let Some(description) = job.description().filter(|d| !d.trim().is_empty()) {
        updates.insert("spec.mesh.description".into(), description.into());
    }
    Ok(updates)
}

/// The job data keys a descriptor can hold.
const DESCRIBED: [&str; 16] = [
    "name",
    "jar",
    "className",
    "file",
    "pyFiles",
    "args",
    "jars",
    "conf",
    "driverCores",
    "driverMemory",
    "executorCores",
    "executorMemory",
    "numExecutors",
    "queue",
    "logLevel",
    "backend",
];

/// A trigger that fires once for its own reasons, not the job's schedule.
fn is_one_shot(status: &TriggerStatus) -> bool {
    let t = &status.trigger;
    let group = t.key().group();
    group == MANUAL_GROUP
        || group == RECOVERING_GROUP
        || (matches!(t.schedule(), Schedule::Simple { repeat_count: Some(0), .. })
            && status.state == TriggerState::Complete)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    }
}

fn list(v: &Value, comma_separated: bool) -> Option<Vec<String>> {
    match v {
        Value::Array(items) => items.iter().map(text).collect(),
        Value::String(s) if s.trim_start().starts_with('[') => list(&serde_json::from_str(s).ok()?, false),
        Value::String(s) if comma_separated => {
            Some(s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect())
        }
        _ => None,
    }
}

fn count(v: &Value) -> Option<u32> {
    let n = match v {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    u32::try_from(n).ok().filter(|n| *n >= 1)
}

fn conf(v: &Value) -> Option<Value> {
    match v {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| Some((k.clone(), Value::from(text(v)?))))
            .collect::<Option<Map<_, _>>>()
            .map(Value::Object),
        Value::String(s) if s.trim_start().starts_with('{') => conf(&serde_json::from_str(s).ok()?),
        _ => None,
    }
}

fn utc(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map_or_else(|_| ms.to_string(), |t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}
