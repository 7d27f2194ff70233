//! Validation: every problem of a descriptor at once, each with its field, the problem and
//! the fix; then, when there is none, the plan.
//!
//! The rules, in the order a reader meets them in the YAML (problems are sorted by line):
//!
//! 1. YAML syntax (with line and column); the document is a mapping.
//! 2. `componentIdToProvision` is present and names a component of `dataProduct.components`
//!    (the fix lists the ids there); that component is a `workload`.
//! 3. Required fields: `dataProduct.id`, `dataProduct.environment`, the component's
//!    `specific`, `specific.jobName`, and `jar` + `className` or `file` (not both forms).
//! 4. `jobName`: usable as a job key; upstream's rule when [`Settings::job_name_rule`] (the
//!    fix gives the expected name); not shared with another component of the data product.
//! 5. `driverCores`, `executorCores`, `numExecutors`: whole numbers ≥ 1;
//!    `driverMemory`, `executorMemory`: JVM sizes (`512m`, `2g`); `logLevel`: one of
//!    Spark's; `conf`: property names without spaces, single values; no unknown keys in
//!    `specific`, `jobConfig`, `schedule`.
//! 6. `schedule.cronExpression`: exact Quartz syntax (the problem is consort-cron's own
//!    message, naming the cron field); it fires at least once in the schedule's window.
//!    `startDate`, `endDate`: RFC 3339; `endDate` after `startDate` and not past.
//! 7. `timezone`: an IANA zone; `backend`: configured on this server.
//! 8. Through [`Checks`], concurrently, each only when the fields it needs are valid: the
//!    backend answers; the jar exists and its class has `public static void main(String[])`
//!    (field `jar`); the Python file exists (field `file`).

use consort_cron::Zone;
use futures_util::future::join;

use crate::checks::{CheckFailure, Checks};
use crate::descriptor::{App, Descriptor, Locs, decode};
use crate::plan::{Issue, Plan, backend, expected_job_name, key_issue, plan, schedule, zone};
use crate::problem::Problem;
use crate::settings::Settings;

/// A valid descriptor and what provisioning it stores.
#[derive(Clone, Debug, PartialEq)]
pub struct Validated {
    /// The component, typed.
    pub descriptor: Descriptor,
    /// The job, trigger and component record.
    pub plan: Plan,
}

/// Validates a component descriptor (the request's YAML) at `now_ms`: every problem, or the
/// typed descriptor and its plan.
pub async fn validate(
    yaml: &str,
    settings: &Settings,
    checks: &dyn Checks,
    now_ms: i64,
) -> Result<Validated, Vec<Problem>> {
    let decoded = decode(yaml);
    let mut problems = decoded.problems;
    let mut locs = decoded.locs;
    let Some(descriptor) = decoded.descriptor else {
        return Err(sorted(problems));
    };
    rules(&descriptor, settings, now_ms, &mut locs, &mut problems);
    problems.extend(effectful(&descriptor, settings, checks, &locs).await);
    if !problems.is_empty() {
        return Err(sorted(problems));
    }
    let plan = plan(&descriptor, yaml, settings, now_ms)?;
    Ok(Validated { descriptor, plan })
}

/// Document order (by line, then column); problems without a position last, in the order found.
fn sorted(mut problems: Vec<Problem>) -> Vec<Problem> {
    problems.sort_by_key(|p| (p.line.is_none(), p.line, p.column));
    problems
}

/// The rules that need the settings or the clock.
fn rules(d: &Descriptor, settings: &Settings, now_ms: i64, locs: &mut Locs, problems: &mut Vec<Problem>) {
    let specific = &d.component.specific;
    let push = |locs: &mut Locs, problems: &mut Vec<Problem>, issue: Issue| {
        locs.mark_bad(issue.rel);
        problems.push(locs.problem(issue.rel, issue.problem, issue.fix));
    };
    let name = &specific.job_name;
    if !name.is_empty() && locs.ok("jobName") {
        if !d.data_product.id.is_empty()
            && let Some((field, problem, fix)) = key_issue(&d.data_product.id, name)
        {
            match field {
                "dataProduct.id" => problems.push(Problem::new(field, problem, fix)),
                _ => push(locs, problems, Issue { rel: "jobName", problem, fix }),
            }
        }
        let (id, environment) = (&d.component.id, &d.data_product.environment);
        let expected = expected_job_name(id, environment);
        if settings.job_name_rule && !environment.is_empty() && locs.ok("jobName") && *name != expected {
            push(
                locs,
                problems,
                Issue {
                    rel: "jobName",
                    problem: format!(
                        "`{name}` does not follow the job-name rule: the component id without urn:dmb:cmp:, `-`, \
                         the environment, with every character other than a letter or digit replaced by `-`"
                    ),
                    fix: format!("set jobName: {expected}"),
                },
            );
        }
    }
    if locs.ok("backend")
        && let Err(issue) = backend(specific.backend.as_deref(), settings)
    {
        push(locs, problems, issue);
    }
    let zone = if locs.ok("timezone") {
        zone(specific.timezone.as_deref(), settings).map_err(|issue| push(locs, problems, issue)).ok()
    } else {
        None
    };
    if let Some(spec) = &specific.job_config.schedule {
        // The dates are checked even when the zone is not usable; whether the expression
        // fires in the window depends on the zone, so that is only said with a good one.
        let zone_ok = zone.is_some();
        if let Err(issues) = schedule(spec, zone.unwrap_or_else(Zone::utc), settings.next_fire_count, now_ms) {
            for issue in issues {
                // Fields already reported (a bad expression, an unreadable date) are not reported twice.
                if locs.ok(issue.rel) && (zone_ok || issue.rel != "jobConfig.schedule.cronExpression") {
                    push(locs, problems, issue);
                }
            }
        }
    }
}

/// The checks through [`Checks`], concurrently, each only when its fields are valid.
async fn effectful(d: &Descriptor, settings: &Settings, checks: &dyn Checks, locs: &Locs) -> Vec<Problem> {
    let specific = &d.component.specific;
    let backend_name = if locs.ok("backend") { backend(specific.backend.as_deref(), settings).ok() } else { None };
    let backend_check = async {
        match &backend_name {
            Some(name) => checks.backend(name).await.err().map(|f| ("backend", f)),
            None => None,
        }
    };
    let app_check = async {
        match &specific.app {
            App::Jar { jar, class_name }
                if !jar.is_empty() && locs.ok("jar") && locs.ok("className") && !class_name.is_empty() =>
            {
                checks.jar(jar, class_name).await.err().map(|f| ("jar", f))
            }
            App::Python { file, .. } if locs.ok("file") && !file.is_empty() => {
                checks.python_file(file).await.err().map(|f| ("file", f))
            }
            _ => None,
        }
    };
    let (backend_failure, app_failure) = join(backend_check, app_check).await;
    [backend_failure, app_failure]
        .into_iter()
        .flatten()
        .map(|(rel, CheckFailure { problem, fix })| locs.problem(rel, problem, fix))
        .collect()
}
