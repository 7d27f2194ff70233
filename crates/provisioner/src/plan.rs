//! What a valid component becomes: a scheduler job of the `spark` kind, its cron trigger,
//! and the component record; the store applies them in one transaction.
//!
//! # The job's key
//!
//! Group = the data product's **id** (`urn:dmb:dp:finance:cashflow:0`), name = the
//! component's `jobName`. The id is unique across domains, where upstream's group (the data
//! product's *name*) let two data products called `cashflow` in different domains replace
//! each other's jobs. The major version is part of the id, so the jobs of two major
//! versions of a data product are separate too. Within one data product, validation refuses
//! two components with the same `jobName`.
//!
//! The trigger's key is in the same group, named `<jobName>.schedule`.
//!
//! # The job
//!
//! Kind `spark`; durable (a component without a schedule keeps its job, to be fired by
//! hand); non-concurrent (a nightly job that overruns must not overlap itself); requests
//! recovery (a run interrupted by an instance's death is picked up again). Its data map
//! holds exactly the keys `consort_spark::spec_from_data` reads:
//!
//! | descriptor (`specific.…`) | job data |
//! |---|---|
//! | `jobName` | `name` |
//! | `jar`, `className` / `file`, `pyFiles` | `jar`, `className` / `file`, `pyFiles` |
//! | `jobConfig.args` | `args` |
//! | `jobConfig.dependencies` | `jars` |
//! | `jobConfig.conf` | `conf` |
//! | `jobConfig.driverCores`, `driverMemory`, `executorCores`, `executorMemory`, `numExecutors`, `logLevel` | the same names |
//! | `queue` (when not empty) | `queue` |
//! | `backend` (or the server's default) | `backend` |
//!
//! Absent optional fields and empty lists are left out.
//!
//! # The trigger
//!
//! A cron trigger in `timezone` (or the server's default), smart misfire policy. It starts at
//! `max(startDate, now)`: a start date in the past never makes the new trigger fire at once
//! for the times it "missed" (upstream's quirk). `endDate` ends it. No schedule, no trigger.

use consort_cron::{Cron, Zone};
use consort_scheduler::fire::{FireStatus, after_fire, first_fire};
use consort_scheduler::{DataMap, Job, JobKey, MAX_KEY_LEN, MisfireInstruction, Schedule, Trigger, TriggerKey};
use serde_json::Value;

use crate::descriptor::{App, Descriptor, ScheduleSpec, parse_date};
use crate::problem::Problem;
use crate::settings::Settings;
use crate::store::ComponentRecord;

/// The job kind every provisioned job has.
pub const JOB_KIND: &str = "spark";

/// The suffix of the schedule trigger's name: `<jobName>.schedule`.
pub const TRIGGER_SUFFIX: &str = ".schedule";

/// What provisioning a component creates or replaces.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The job.
    pub job: Job,
    /// Its triggers: the schedule's, or none.
    pub triggers: Vec<Trigger>,
    /// The component record.
    pub component: ComponentRecord,
    /// The Spark backend the job submits to.
    pub backend: String,
    /// The schedule, spelled out; `None` without one.
    pub schedule: Option<PlannedSchedule>,
    /// An existing job this component replaces (`specific.adoptJob`), other than its own.
    pub adopts: Option<JobKey>,
}

/// A schedule as the plan reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedSchedule {
    /// The Quartz expression.
    pub expression: String,
    /// The IANA zone it is read in.
    pub timezone: String,
    /// In English, e.g. "at 02:00 every day".
    pub explanation: String,
    /// The next fire times (epoch ms), at most [`Settings::next_fire_count`].
    pub next_fires_ms: Vec<i64>,
    /// The trigger's start: `max(startDate, now)`.
    pub start_ms: i64,
    /// The trigger's end: `endDate`.
    pub end_ms: Option<i64>,
}

/// A problem found by a rule shared by validation and planning, about a field of
/// `specific` (`rel` is relative to it).
#[derive(Debug)]
pub(crate) struct Issue {
    pub rel: &'static str,
    pub problem: String,
    pub fix: String,
}

impl Issue {
    fn new(rel: &'static str, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Issue { rel, problem: problem.into(), fix: fix.into() }
    }
}

/// The job key of a component: group = the data product's id, name = its `jobName` (see the
/// module docs). The problem's field is `dataProduct.id` or `jobName` (relative to the
/// component's `specific`; [`Descriptor::field`] makes it a full path).
pub fn job_key(data_product_id: &str, job_name: &str) -> Result<JobKey, Problem> {
    match key_issue(data_product_id, job_name) {
        Some(("dataProduct.id", problem, fix)) => Err(Problem::new("dataProduct.id", problem, fix)),
        Some((_, problem, fix)) => Err(Problem::new("jobName", problem, fix)),
        None => JobKey::new(data_product_id, job_name)
            .map_err(|e| Problem::new("jobName", e.to_string(), "use a shorter jobName without control characters")),
    }
}

/// Why (`dataProduct.id` | `jobName`, problem, fix) a job key cannot be made.
pub(crate) fn key_issue(data_product_id: &str, job_name: &str) -> Option<(&'static str, String, String)> {
    let bad = |s: &str| s.chars().any(char::is_control);
    let max_name = MAX_KEY_LEN - TRIGGER_SUFFIX.len();
    if data_product_id.is_empty() || data_product_id.chars().count() > MAX_KEY_LEN || bad(data_product_id) {
        return Some((
            "dataProduct.id",
            format!(
                "`{data_product_id}` cannot be a job group: it must be 1 to {MAX_KEY_LEN} characters without control characters"
            ),
            "use the data product's id, e.g. urn:dmb:dp:finance:cashflow:0".into(),
        ));
    }
    if job_name.is_empty() || job_name.chars().count() > max_name || bad(job_name) {
        return Some((
            "jobName",
            format!(
                "`{job_name}` cannot be a job name: it must be 1 to {max_name} characters (so its trigger \
                 `<jobName>{TRIGGER_SUFFIX}` fits in {MAX_KEY_LEN}) without control characters"
            ),
            format!("use a jobName of at most {max_name} characters"),
        ));
    }
    None
}

/// The job name upstream's rule expects: the component id without `urn:dmb:cmp:`, `-`, the
/// environment, with every character other than `[a-zA-Z0-9]` replaced by `-`.
/// `urn:dmb:cmp:finance:cashflow:0:spark-etl` in `development` gives
/// `finance-cashflow-0-spark-etl-development`.
pub fn expected_job_name(component_id: &str, environment: &str) -> String {
    let id = component_id.strip_prefix("urn:dmb:cmp:").unwrap_or(component_id);
    format!("{id}-{environment}").chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

/// The schedule's zone: `timezone`, or the server's default.
pub(crate) fn zone(timezone: Option<&str>, settings: &Settings) -> Result<Zone, Issue> {
    match timezone {
        Some(name) => Zone::get(name).map_err(|e| {
            Issue::new(
                "timezone",
                e.to_string(),
                "use an IANA time zone name, e.g. UTC, Europe/Rome or America/New_York",
            )
        }),
        None => Zone::get(&settings.default_timezone).map_err(|e| {
            Issue::new(
                "timezone",
                format!("no timezone is given, and the server's default is not usable: {e}"),
                "set timezone to an IANA time zone name, e.g. Europe/Rome (and correct the server's default)",
            )
        }),
    }
}

/// The backend: `backend`, or the server's default; it must be configured.
pub(crate) fn backend(backend: Option<&str>, settings: &Settings) -> Result<String, Issue> {
    let name = backend.unwrap_or(&settings.default_backend);
    if settings.backends.iter().any(|b| b == name) {
        return Ok(name.to_string());
    }
    let known = settings.backends.join(", ");
    Err(match backend {
        Some(_) => Issue::new(
            "backend",
            format!("`{name}` is not a Spark backend of this server"),
            format!("use one of: {known}; or leave backend out for the default ({})", settings.default_backend),
        ),
        None => Issue::new(
            "backend",
            format!("no backend is given, and the server's default `{name}` is not configured"),
            format!("set backend to one of: {known}"),
        ),
    })
}

/// The schedule's trigger window and fire times, checking the dates against each other and
/// against `now`.
pub(crate) fn schedule(
    spec: &ScheduleSpec,
    zone: Zone,
    count: usize,
    now_ms: i64,
) -> Result<(Cron, Zone, PlannedSchedule), Vec<Issue>> {
    let mut issues = Vec::new();
    let cron = Cron::parse(&spec.cron_expression)
        .map_err(|e| issues.push(Issue::new("jobConfig.schedule.cronExpression", e.to_string(), CRON_FIX)))
        .ok();
    let mut date = |rel: &'static str, text: &Option<String>| match text.as_deref().map(parse_date) {
        None => None,
        Some(Ok(ms)) => Some(ms),
        Some(Err(e)) => {
            issues.push(Issue::new(
                rel,
                format!("`{}` is not a date and time: {e}", text.as_deref().unwrap_or("")),
                DATE_FIX,
            ));
            None
        }
    };
    let start = date("jobConfig.schedule.startDate", &spec.start_date);
    let end = date("jobConfig.schedule.endDate", &spec.end_date);
    if let (Some(start), Some(end)) = (start, end)
        && end <= start
    {
        issues.push(Issue::new(
            "jobConfig.schedule.endDate",
            format!("{} is not after startDate {}", rfc3339(end, &zone), rfc3339(start, &zone)),
            "set endDate after startDate, or leave it out for a schedule without end",
        ));
    } else if let Some(end) = end
        && end < now_ms
    {
        issues.push(Issue::new(
            "jobConfig.schedule.endDate",
            format!("{} is already past: the schedule would never fire", rfc3339(end, &zone)),
            "set endDate in the future, or leave it out for a schedule without end",
        ));
    }
    let Some(cron) = cron else { return Err(issues) };
    if !issues.is_empty() {
        return Err(issues);
    }
    let start_ms = start.map_or(now_ms, |s| s.max(now_ms));
    let trigger = schedule_trigger(&cron, &zone, start_ms, end);
    let mut next_fires_ms = Vec::new();
    let mut status = FireStatus { next_fire_ms: first_fire(&trigger), times_triggered: 0 };
    if status.next_fire_ms.is_none() {
        let until = end.map_or_else(|| "ever".to_string(), |e| format!("before endDate {}", rfc3339(e, &zone)));
        return Err(vec![Issue::new(
            "jobConfig.schedule.cronExpression",
            format!(
                "`{}` ({}) never fires from {} on {until}",
                cron.as_str(),
                cron.explain(),
                rfc3339(start_ms, &zone)
            ),
            "choose an expression that fires in the schedule's window (a year field in the past never fires), or widen startDate/endDate",
        )]);
    }
    while let Some(next) = status.next_fire_ms.filter(|_| next_fires_ms.len() < count) {
        next_fires_ms.push(next);
        status = after_fire(&trigger, next, status);
    }
    let planned = PlannedSchedule {
        expression: cron.as_str().to_string(),
        timezone: zone.name().to_string(),
        explanation: cron.explain(),
        next_fires_ms,
        start_ms,
        end_ms: end,
    };
    Ok((cron, zone, planned))
}

/// The fix for a cron expression consort-cron (Quartz) rejects.
pub(crate) const CRON_FIX: &str = "write a Quartz cron expression: seconds minutes hours day-of-month month \
     day-of-week [year], with `?` in one of the two day fields, e.g. \"0 0 2 * * ?\" for 02:00 every day";

const DATE_FIX: &str =
    "write an RFC 3339 instant with its offset, e.g. \"2024-06-01T00:00:00Z\" (UTC) or \"2024-06-01T02:00:00+02:00\"";

fn schedule_trigger(cron: &Cron, zone: &Zone, start_ms: i64, end_ms: Option<i64>) -> Trigger {
    // Keys are placeholders: only the schedule and window matter for fire times.
    let job = JobKey::in_default_group("plan").expect("a valid key");
    let key = TriggerKey::in_default_group("plan").expect("a valid key");
    Trigger::new(key, job, Schedule::Cron { cron: cron.clone(), zone: zone.clone() }, start_ms).with_end_ms(end_ms)
}

/// An instant as RFC 3339 in `zone`'s offset, e.g. `2026-06-02T02:00:00+02:00`.
pub(crate) fn rfc3339(ms: i64, zone: &Zone) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => {
            let zoned = t.to_zoned_datetime(zone.time_zone().clone());
            if zoned.offset().seconds() == 0 {
                t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
            } else {
                zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
            }
        }
        Err(_) => ms.to_string(),
    }
}

/// The job data map of a component (see the module docs).
pub(crate) fn job_data(descriptor: &Descriptor, backend: &str) -> DataMap {
    let specific = &descriptor.component.specific;
    let config = &specific.job_config;
    let mut data = DataMap::new();
    let mut put = |key: &str, value: Value| {
        data.insert(key.to_string(), value);
    };
    let list = |items: &[String]| Value::from(items.to_vec());
    put("name", specific.job_name.clone().into());
    match &specific.app {
        App::Jar { jar, class_name } => {
            put("jar", jar.clone().into());
            put("className", class_name.clone().into());
        }
        App::Python { file, py_files } => {
            put("file", file.clone().into());
            if !py_files.is_empty() {
                put("pyFiles", list(py_files));
            }
        }
    }
    if !config.args.is_empty() {
        put("args", list(&config.args));
    }
    if !config.dependencies.is_empty() {
        put("jars", list(&config.dependencies));
    }
    if !config.conf.is_empty() {
        put("conf", Value::Object(config.conf.iter().map(|(k, v)| (k.clone(), Value::from(v.clone()))).collect()));
    }
    for (key, count) in [
        ("driverCores", config.driver_cores),
        ("executorCores", config.executor_cores),
        ("numExecutors", config.num_executors),
    ] {
        if let Some(n) = count {
            put(key, n.into());
        }
    }
    for (key, text) in [
        ("driverMemory", &config.driver_memory),
        ("executorMemory", &config.executor_memory),
        ("logLevel", &config.log_level),
        ("queue", &specific.queue),
    ] {
        if let Some(t) = text.as_ref().filter(|t| !t.is_empty()) {
            put(key, t.clone().into());
        }
    }
    put("backend", backend.into());
    data
}

/// Turns a valid descriptor into what provisioning stores. `yaml` is the descriptor's text,
/// kept in the component record. Fails only on what [`crate::validate()`] refuses; its
/// problems carry no line and column.
pub fn plan(descriptor: &Descriptor, yaml: &str, settings: &Settings, now_ms: i64) -> Result<Plan, Vec<Problem>> {
    let specific = &descriptor.component.specific;
    let mut problems = Vec::new();
    let mut issue = |i: Issue| problems.push(Problem::new(descriptor.field(i.rel), i.problem, i.fix));
    let key = match key_issue(&descriptor.data_product.id, &specific.job_name) {
        Some(("dataProduct.id", problem, fix)) => {
            problems.push(Problem::new("dataProduct.id", problem, fix));
            None
        }
        Some((_, problem, fix)) => {
            issue(Issue { rel: "jobName", problem, fix });
            None
        }
        None => JobKey::new(&descriptor.data_product.id, &specific.job_name).ok(),
    };
    let mut issue = |i: Issue| problems.push(Problem::new(descriptor.field(i.rel), i.problem, i.fix));
    let backend = backend(specific.backend.as_deref(), settings).map_err(&mut issue).ok();
    let schedule = match &specific.job_config.schedule {
        None => Some(None),
        Some(spec) => zone(specific.timezone.as_deref(), settings)
            .map_err(|i| vec![i])
            .and_then(|z| schedule(spec, z, settings.next_fire_count, now_ms))
            .map_err(|issues| issues.into_iter().for_each(&mut issue))
            .ok()
            .map(Some),
    };
    let (Some(key), Some(backend), Some(schedule)) = (key, backend, schedule) else { return Err(problems) };
    let description = descriptor
        .component
        .description
        .clone()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| format!("Spark job of component {}", descriptor.component.id));
    let job = Job::new(key.clone(), JOB_KIND)
        .with_description(description)
        .with_data(job_data(descriptor, &backend))
        .with_durable(true)
        .with_non_concurrent(true)
        .with_requests_recovery(true);
    let (triggers, schedule) = match schedule {
        None => (Vec::new(), None),
        Some((cron, zone, planned)) => {
            let trigger_key = TriggerKey::new(key.group(), format!("{}{TRIGGER_SUFFIX}", key.name()))
                .map_err(|e| vec![Problem::new(descriptor.field("jobName"), e.to_string(), "use a shorter jobName")])?;
            let trigger = Trigger::new(trigger_key, key.clone(), Schedule::Cron { cron, zone }, planned.start_ms)
                .with_end_ms(planned.end_ms)
                .with_misfire(MisfireInstruction::Smart)
                .with_description(format!("Schedule of component {}", descriptor.component.id));
            (vec![trigger], Some(planned))
        }
    };
    let component = ComponentRecord {
        component_id: descriptor.component.id.clone(),
        data_product_id: descriptor.data_product.id.clone(),
        environment: descriptor.data_product.environment.clone(),
        job: key,
        descriptor: yaml.to_string(),
        acl: Vec::new(),
        created_ms: now_ms,
        updated_ms: now_ms,
    };
    let adopts = specific.adopt_job.clone().filter(|adopted| adopted != job.key());
    Ok(Plan { job, triggers, component, backend, schedule, adopts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_name_rule_is_upstreams() {
        assert_eq!(
            expected_job_name("urn:dmb:cmp:finance:cashflow:0:spark-etl", "development"),
            "finance-cashflow-0-spark-etl-development"
        );
        assert_eq!(expected_job_name("my.comp_1", "prod env"), "my-comp-1-prod-env");
    }

    #[test]
    fn job_keys_use_the_data_product_id() {
        let key = job_key("urn:dmb:dp:finance:cashflow:0", "etl").unwrap();
        assert_eq!((key.group(), key.name()), ("urn:dmb:dp:finance:cashflow:0", "etl"));
        assert_eq!(job_key("", "etl").unwrap_err().field, "dataProduct.id");
        assert_eq!(job_key("dp", &"x".repeat(182)).unwrap_err().field, "jobName");
        assert!(job_key("dp", &"x".repeat(181)).is_ok());
        assert_eq!(job_key("dp", "a\nb").unwrap_err().field, "jobName");
    }

    #[test]
    fn instants_read_in_the_zone() {
        let rome = Zone::get("Europe/Rome").unwrap();
        assert_eq!(rfc3339(0, &Zone::utc()), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(0, &rome), "1970-01-01T01:00:00+01:00");
    }
}
