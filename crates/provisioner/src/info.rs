//! What provisioning tells Witboost about the job: the `publicInfo` entries shown in the
//! Marketplace's "Technical Information" card.
//!
//! The spec's convention (followed by the CDP Impala provisioner) is one object per entry:
//! `{"<key>": {"type": "string", "label": "<label>", "value": "<value>", "href": "<url>"}}`,
//! `href` only on links. [`InfoEntry::to_json`] writes that shape.

use consort_cron::Zone;
use serde_json::{Map, Value};

use crate::plan::{Plan, rfc3339};

/// One `publicInfo` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfoEntry {
    /// The entry's key (camelCase), e.g. `jobKey`.
    pub key: String,
    /// What the card shows as the entry's name.
    pub label: String,
    /// The value shown.
    pub value: String,
    /// A link, for entries that are one.
    pub href: Option<String>,
}

impl InfoEntry {
    fn new(key: &str, label: &str, value: impl Into<String>) -> Self {
        InfoEntry { key: key.into(), label: label.into(), value: value.into(), href: None }
    }

    /// The entry's value in the spec's convention: `{"type": "string", "label", "value", "href"?}`.
    pub fn to_json(&self) -> Value {
        let mut entry = Map::new();
        entry.insert("type".into(), "string".into());
        entry.insert("label".into(), self.label.clone().into());
        entry.insert("value".into(), self.value.clone().into());
        if let Some(href) = &self.href {
            entry.insert("href".into(), href.clone().into());
        }
        Value::Object(entry)
    }
}

/// The whole `publicInfo` object for `entries`.
pub fn public_info_json(entries: &[InfoEntry]) -> Value {
    Value::Object(entries.iter().map(|e| (e.key.clone(), e.to_json())).collect())
}

/// The entries for a provisioned plan: the job's key, the schedule in English (or that it
/// runs only when fired by hand), its next fire times (RFC 3339 in the schedule's zone), the
/// Spark backend, and, given `job_url`, a link to the job in the job status API.
pub fn public_info(plan: &Plan, job_url: Option<&str>) -> Vec<InfoEntry> {
    let mut entries = vec![InfoEntry::new("jobKey", "Job", plan.job.key().to_string())];
    match &plan.schedule {
        Some(s) => {
            entries.push(InfoEntry::new(
                "schedule",
                "Schedule",
                format!("{} ({}, `{}`)", s.explanation, s.timezone, s.expression),
            ));
            let zone = Zone::get(&s.timezone).unwrap_or_else(|_| Zone::utc());
            let next: Vec<String> = s.next_fires_ms.iter().map(|&ms| rfc3339(ms, &zone)).collect();
            entries.push(InfoEntry::new(
                "nextFireTimes",
                "Next runs",
                if next.is_empty() { "none".to_string() } else { next.join(", ") },
            ));
            if let Some(end) = s.end_ms {
                entries.push(InfoEntry::new("scheduleEnd", "Schedule ends", rfc3339(end, &zone)));
            }
        }
        None => entries.push(InfoEntry::new("schedule", "Schedule", "none: the job runs only when fired by hand")),
    }
    entries.push(InfoEntry::new("sparkBackend", "Spark backend", plan.backend.clone()));
    if let Some(url) = job_url {
        entries.push(InfoEntry { href: Some(url.to_string()), ..InfoEntry::new("jobStatus", "Job status", url) });
    }
    entries
}
