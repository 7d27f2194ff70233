//! Import from an existing Quartz JDBC store on PostgreSQL (`QRTZ_JOB_DETAILS`,
//! `QRTZ_TRIGGERS`, `QRTZ_CRON_TRIGGERS`, `QRTZ_SIMPLE_TRIGGERS`): the same jobs and triggers
//! in consort, each schedule continuing from Quartz's next fire time.
//!
//! What cannot be carried over is reported, never guessed: calendar exclusions, trigger types
//! other than cron and simple, time zones unknown to the tz database, and Java-serialised data
//! maps (Quartz's default; with `useProperties=true` the maps are text and are imported).

use consort_scheduler::{
    DataMap, Job, JobKey, MisfireInstruction, Schedule, Store, StoreError, Trigger, TriggerKey, TriggerState,
    TriggerStatus,
};
use tokio_postgres::NoTls;

/// How to import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuartzImportOptions {
    /// The Quartz scheduler (`SCHED_NAME`) to import; required when the tables hold several.
    pub scheduler_name: Option<String>,
    /// The consort job kind given to every imported job (the Java class is kept in the job's
    /// data as `quartz.job_class`).
    pub kind: String,
    /// Replace jobs and triggers that exist in consort already (otherwise they are refused).
    pub replace: bool,
}

impl QuartzImportOptions {
    /// Imports the only scheduler in the tables, as jobs of `kind`, refusing existing keys.
    pub fn new(kind: impl Into<String>) -> Self {
        QuartzImportOptions { scheduler_name: None, kind: kind.into(), replace: false }
    }
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuartzImport {
    /// The Quartz scheduler name imported.
    pub scheduler_name: String,
    /// Jobs created or replaced.
    pub jobs: usize,
    /// Triggers created or replaced.
    pub triggers: usize,
    /// What was left out or changed, one sentence each, naming the job or trigger.
    pub warnings: Vec<String>,
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum QuartzImportError {
    /// The Quartz database could not be read.
    #[error("reading the Quartz database failed during {context}: {message}")]
    Source {
        /// What the importer was reading.
        context: &'static str,
        /// The database's message, and a hint.
        message: String,
    },
    /// The tables hold several schedulers and none was chosen.
    #[error("the Quartz tables hold several schedulers ({0}): choose one by its SCHED_NAME")]
    Ambiguous(String),
    /// The tables hold no scheduler (or not the one asked for).
    #[error("no Quartz scheduler {0:?} in QRTZ_JOB_DETAILS: check the database and the scheduler name")]
    NotFound(String),
    /// Writing to consort's store failed; jobs imported before it stay imported.
    #[error("storing an imported job failed: {0}")]
    Store(#[from] StoreError),
}

fn source(context: &'static str) -> impl Fn(tokio_postgres::Error) -> QuartzImportError {
    move |e| QuartzImportError::Source {
        context,
        message: match e.as_db_error() {
            Some(db) => format!("{} (are these Quartz's PostgreSQL tables?)", db.message()),
            None => format!("{e} (is the URL right and PostgreSQL reachable?)"),
        },
    }
}

/// Parses a `java.util.Properties` text (what Quartz stores with `useProperties=true`).
pub(crate) fn parse_properties(bytes: &[u8]) -> DataMap {
    // Properties.store writes ISO-8859-1 with \uXXXX escapes for everything else.
    let text: String = bytes.iter().map(|&b| b as char).collect();
    let mut map = DataMap::new();
    let mut logical = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let line = line.trim_start();
        if logical.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!')) {
            continue;
        }
        let continued = line.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1;
        logical.push_str(if continued { &line[..line.len() - 1] } else { line });
        if continued && lines.peek().is_some() {
            continue;
        }
        let entry = std::mem::take(&mut logical);
        let mut key = String::new();
        let mut chars = entry.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => key.push(unescape(&mut chars)),
                '=' | ':' => break,
                c if c.is_whitespace() => {
                    while chars.peek().is_some_and(|c| c.is_whitespace()) {
                        chars.next();
                    }
                    if chars.peek().is_some_and(|c| *c == '=' || *c == ':') {
                        chars.next();
                    }
                    break;
                }
                c => key.push(c),
            }
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            value.push(if c == '\\' { unescape(&mut chars) } else { c });
        }
        map.insert(key, value.into());
    }
    map
}

fn unescape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> char {
    match chars.next() {
        Some('t') => '\t',
        Some('n') => '\n',
        Some('r') => '\r',
        Some('f') => '\u{c}',
        Some('u') => {
            let hex: String = (0..4).filter_map(|_| chars.next()).collect();
            u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32).unwrap_or('\u{fffd}')
        }
        Some(c) => c,
        None => '\\',
    }
}

/// Quartz's `MISFIRE_INSTR` for a trigger type, as consort's instruction; `None` if unknown.
pub(crate) fn misfire(trigger_type: &str, instruction: i16) -> Option<MisfireInstruction> {
    Some(match (trigger_type, instruction) {
        (_, -1) => MisfireInstruction::Ignore,
        (_, 0) => MisfireInstruction::Smart,
        ("CRON", 1) => MisfireInstruction::FireOnceNow,
        ("CRON", 2) => MisfireInstruction::DoNothing,
        // FIRE_NOW, and RESCHEDULE_NOW_WITH_REMAINING_REPEAT_COUNT (what consort's fire-once-now
        // does on a repeating trigger).
        ("SIMPLE", 1 | 3) => MisfireInstruction::FireOnceNow,
        // RESCHEDULE_NOW_WITH_EXISTING_REPEAT_COUNT: Quartz's smart choice for counted triggers.
        ("SIMPLE", 2) => MisfireInstruction::Smart,
        // RESCHEDULE_NEXT_WITH_REMAINING_COUNT (and, approximately, ..._WITH_EXISTING_COUNT).
        ("SIMPLE", 4 | 5) => MisfireInstruction::DoNothing,
        _ => return None,
    })
}

fn data_map(what: &str, bytes: Option<&[u8]>, warnings: &mut Vec<String>) -> DataMap {
    match bytes {
        None | Some([]) => DataMap::new(),
        Some([0xAC, 0xED, ..]) => {
            warnings.push(format!(
                "{what}: its data map is Java-serialised and was not imported; set \
                 org.quartz.jobStore.useProperties=true in Quartz (string maps) or re-enter it"
            ));
            DataMap::new()
        }
        Some(bytes) => parse_properties(bytes),
    }
}

/// Reads the Quartz tables at `source_url` (`postgres://...`) and stores the same jobs and
/// triggers in `target`, one transaction per job.
pub async fn import_quartz(
    source_url: &str,
    target: &dyn Store,
    options: &QuartzImportOptions,
    now_ms: i64,
) -> Result<QuartzImport, QuartzImportError> {
    let (client, connection) = tokio_postgres::connect(source_url, NoTls).await.map_err(source("connecting"))?;
    let connection = tokio::spawn(connection);
    let result = import_from(&client, target, options, now_ms).await;
    drop(client);
    let _ = connection.await;
    result
}

async fn import_from(
    client: &tokio_postgres::Client,
    target: &dyn Store,
    options: &QuartzImportOptions,
    now_ms: i64,
) -> Result<QuartzImport, QuartzImportError> {
    let names: Vec<String> = client
        .query("SELECT DISTINCT sched_name FROM qrtz_job_details ORDER BY 1", &[])
        .await
        .map_err(source("listing schedulers"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let scheduler_name = match &options.scheduler_name {
        Some(n) if names.contains(n) => n.clone(),
        Some(n) => return Err(QuartzImportError::NotFound(n.clone())),
        None if names.len() == 1 => names[0].clone(),
        None if names.is_empty() => return Err(QuartzImportError::NotFound(String::new())),
        None => return Err(QuartzImportError::Ambiguous(names.join(", "))),
    };
    let mut report = QuartzImport { scheduler_name: scheduler_name.clone(), ..QuartzImport::default() };

    let triggers = client
        .query(
            "SELECT t.trigger_group, t.trigger_name, t.job_group, t.job_name, t.description, t.next_fire_time, \
             t.prev_fire_time, t.priority, t.trigger_state, t.trigger_type, t.start_time, t.end_time, \
             t.calendar_name, t.misfire_instr, t.job_data, c.cron_expression, c.time_zone_id, s.repeat_count, \
             s.repeat_interval, s.times_triggered \
             FROM qrtz_triggers t \
             LEFT JOIN qrtz_cron_triggers c ON c.sched_name = t.sched_name AND c.trigger_name = t.trigger_name \
               AND c.trigger_group = t.trigger_group \
             LEFT JOIN qrtz_simple_triggers s ON s.sched_name = t.sched_name AND s.trigger_name = t.trigger_name \
               AND s.trigger_group = t.trigger_group \
             WHERE t.sched_name = $1 ORDER BY t.trigger_group, t.trigger_name",
            &[&scheduler_name],
        )
        .await
        .map_err(source("reading triggers"))?;
    let mut by_job: std::collections::BTreeMap<(String, String), Vec<TriggerStatus>> = Default::default();
    for row in &triggers {
        let (group, name): (String, String) = (row.get(0), row.get(1));
        let what = format!("trigger {group}.{name}");
        let job_key: (String, String) = (row.get(2), row.get(3));
        let trigger_type: String = row.get(9);
        let state: String = row.get(8);
        if state == "DELETED" {
            continue;
        }
        let schedule = match trigger_type.as_str() {
            "CRON" => {
                let (expr, zone): (Option<String>, Option<String>) = (row.get(15), row.get(16));
                match Schedule::cron(expr.as_deref().unwrap_or_default(), zone.as_deref().unwrap_or("UTC")) {
                    Ok(s) => s,
                    Err(e) => {
                        report.warnings.push(format!("{what} skipped: {e}"));
                        continue;
                    }
                }
            }
            "SIMPLE" => {
                let (count, interval): (Option<i64>, Option<i64>) = (row.get(17), row.get(18));
                let repeat = match count.unwrap_or(0) {
                    n if n < 0 => None,
                    n => Some(u32::try_from(n).unwrap_or(u32::MAX)),
                };
                match Schedule::simple(repeat, interval.unwrap_or(0)) {
                    Ok(s) => s,
                    Err(e) => {
                        report.warnings.push(format!("{what} skipped: {e}"));
                        continue;
                    }
                }
            }
            other => {
                report.warnings.push(format!(
                    "{what} skipped: trigger type {other} is not supported (only CRON and SIMPLE); \
                     recreate it as a cron or simple trigger"
                ));
                continue;
            }
        };
        let instruction: Option<i16> = row.get(13);
        let misfire = misfire(&trigger_type, instruction.unwrap_or(0)).unwrap_or_else(|| {
            report.warnings.push(format!("{what}: unknown misfire instruction {instruction:?}, using smart"));
            MisfireInstruction::Smart
        });
        let calendar: Option<String> = row.get(12);
        if let Some(c) = calendar {
            report
                .warnings
                .push(format!("{what}: calendar {c} is not supported and was dropped (fires on every date)"));
        }
        let data_bytes: Option<Vec<u8>> = row.get(14);
        let data = data_map(&what, data_bytes.as_deref(), &mut report.warnings);
        let (key, job) = match (TriggerKey::new(&group, &name), JobKey::new(&job_key.0, &job_key.1)) {
            (Ok(k), Ok(j)) => (k, j),
            (Err(e), _) | (_, Err(e)) => {
                report.warnings.push(format!("{what} skipped: {e}"));
                continue;
            }
        };
        let description: Option<String> = row.get(4);
        let priority: Option<i32> = row.get(7);
        let end: Option<i64> = row.get(11);
        let mut trigger = Trigger::new(key, job, schedule, row.get(10))
            .with_end_ms(end.filter(|e| *e > 0))
            .with_priority(priority.unwrap_or(5))
            .with_misfire(misfire)
            .with_data(data);
        if let Some(d) = description {
            trigger = trigger.with_description(d);
        }
        let next: Option<i64> = row.get(5);
        let prev: Option<i64> = row.get(6);
        let times: Option<i64> = row.get(19);
        let state = match state.as_str() {
            "PAUSED" | "PAUSED_BLOCKED" => TriggerState::Paused,
            "ERROR" => TriggerState::Error,
            "COMPLETE" => TriggerState::Complete,
            _ => TriggerState::Waiting,
        };
        by_job.entry(job_key).or_default().push(TriggerStatus {
            trigger,
            state,
            next_fire_ms: next.filter(|t| *t > 0),
            prev_fire_ms: prev.filter(|t| *t > 0),
            times_triggered: times.unwrap_or(0),
            instance: None,
            error: None,
        });
    }

    let jobs = client
        .query(
            "SELECT job_group, job_name, description, job_class_name, is_durable, is_nonconcurrent, \
             requests_recovery, job_data FROM qrtz_job_details WHERE sched_name = $1 ORDER BY job_group, job_name",
            &[&scheduler_name],
        )
        .await
        .map_err(source("reading jobs"))?;
    for row in &jobs {
        let (group, name): (String, String) = (row.get(0), row.get(1));
        let what = format!("job {group}.{name}");
        let key = match JobKey::new(&group, &name) {
            Ok(k) => k,
            Err(e) => {
                report.warnings.push(format!("{what} skipped: {e}"));
                continue;
            }
        };
        let class: String = row.get(3);
        let data_bytes: Option<Vec<u8>> = row.get(7);
        let mut data = data_map(&what, data_bytes.as_deref(), &mut report.warnings);
        data.insert("quartz.job_class".into(), class.into());
        let durable: bool = row.get(4);
        let triggers = by_job.remove(&(group.clone(), name.clone())).unwrap_or_default();
        if !durable && triggers.is_empty() {
            report.warnings.push(format!("{what} skipped: it is not durable and none of its triggers was imported"));
            continue;
        }
        let description: Option<String> = row.get(2);
        let mut job = Job::new(key, options.kind.clone())
            .with_data(data)
            .with_durable(durable)
            .with_non_concurrent(row.get(5))
            .with_requests_recovery(row.get(6));
        if let Some(d) = description {
            job = job.with_description(d);
        }
        target.restore_job(&job, &triggers, options.replace, now_ms).await?;
        report.jobs += 1;
        report.triggers += triggers.len();
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_text_is_read_like_java() {
        let text = b"#comment\n! other\nregion=emea\nretries : 3\nspaced   value with spaces\nesc\\=aped=a\\u00e9\\tb\nlong=one\\\n    two\nempty=\n";
        let map = parse_properties(text);
        assert_eq!(map["region"], "emea");
        assert_eq!(map["retries"], "3");
        assert_eq!(map["spaced"], "value with spaces");
        assert_eq!(map["esc=aped"], "a\u{e9}\tb");
        assert_eq!(map["long"], "onetwo");
        assert_eq!(map["empty"], "");
        assert_eq!(map.len(), 6);
    }

    #[test]
    fn misfire_instructions_map_per_trigger_type() {
        assert_eq!(misfire("CRON", -1), Some(MisfireInstruction::Ignore));
        assert_eq!(misfire("CRON", 0), Some(MisfireInstruction::Smart));
        assert_eq!(misfire("CRON", 1), Some(MisfireInstruction::FireOnceNow));
        assert_eq!(misfire("CRON", 2), Some(MisfireInstruction::DoNothing));
        assert_eq!(misfire("SIMPLE", 4), Some(MisfireInstruction::DoNothing));
        assert_eq!(misfire("SIMPLE", 3), Some(MisfireInstruction::FireOnceNow));
        assert_eq!(misfire("CRON", 7), None);
    }

    #[test]
    fn java_serialised_maps_are_reported_not_guessed() {
        let mut warnings = vec![];
        assert!(data_map("job a.b", Some(&[0xAC, 0xED, 0, 5]), &mut warnings).is_empty());
        assert!(warnings[0].contains("useProperties=true"));
    }
}
