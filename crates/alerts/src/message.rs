//! What an alert says, and how each channel says it.

use serde::Serialize;

use crate::rules::Event;

/// The longest failure reason a message carries (a kind's error can hold a whole log tail).
pub const MAX_ERROR_CHARS: usize = 2000;

/// One alert: an event of a job, with the run or trigger it is about. Times are epoch ms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// What happened.
    pub event: Event,
    /// The job's group.
    pub job_group: String,
    /// The job's name.
    pub job_name: String,
    /// The run (every event but a misfire).
    pub run_id: Option<i64>,
    /// The trigger that fired the run, or that misfired.
    pub trigger: Option<String>,
    /// The instance that executed the run or applied the misfire (and sends this alert).
    pub instance: String,
    /// The run's state: FAILED, SUCCEEDED, or EXECUTING for a long run.
    pub state: Option<String>,
    /// Why the run failed.
    pub error: Option<String>,
    /// When the run was fired.
    pub fired_ms: Option<i64>,
    /// When the run ended.
    pub ended_ms: Option<i64>,
    /// For a long run: how long it was expected to take.
    pub expected_duration_ms: Option<i64>,
    /// For a misfire: the fire time that was missed.
    pub missed_ms: Option<i64>,
    /// For a misfire: the trigger's next fire time after it (`None`: no more fires).
    pub next_fire_ms: Option<i64>,
    /// When the alert was made.
    pub at_ms: i64,
}

#[derive(Serialize)]
struct JobRef<'a> {
    group: &'a str,
    name: &'a str,
}

/// The webhook's JSON object: every key always present (null when it does not apply), so a
/// receiver reads one shape.
#[derive(Serialize)]
struct Body<'a> {
    id: String,
    event: &'static str,
    summary: String,
    job: JobRef<'a>,
    run_id: Option<i64>,
    trigger: Option<&'a str>,
    instance: &'a str,
    state: Option<&'a str>,
    error: Option<String>,
    fired_ms: Option<i64>,
    ended_ms: Option<i64>,
    duration_ms: Option<i64>,
    expected_duration_ms: Option<i64>,
    missed_ms: Option<i64>,
    next_fire_ms: Option<i64>,
    at_ms: i64,
}

/// An e-mail's subject and plain-text body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailText {
    /// The subject line.
    pub subject: String,
    /// The body.
    pub body: String,
}

impl Alert {
    /// The job's key as the CLI writes it.
    pub fn job_key(&self) -> String {
        format!("{}.{}", self.job_group, self.job_name)
    }

    /// The same for every delivery of this alert (retries, every channel), so a receiver can
    /// drop duplicates: `EVENT:run:ID`, or `misfire:TRIGGER:MISSED_MS`.
    pub fn id(&self) -> String {
        match (self.run_id, &self.trigger, self.missed_ms) {
            (Some(run), _, _) => format!("{}:run:{run}", self.event),
            (None, Some(trigger), Some(missed)) => format!("{}:{trigger}:{missed}", self.event),
            _ => format!("{}:{}:{}", self.event, self.job_key(), self.at_ms),
        }
    }

    /// How long the run took (ended) or has taken so far (a long run, at the alert's time).
    pub fn duration_ms(&self) -> Option<i64> {
        let fired = self.fired_ms?;
        Some((self.ended_ms.unwrap_or(self.at_ms) - fired).max(0))
    }

    /// One sentence for a subject, a chat line or a page.
    pub fn summary(&self) -> String {
        let job = self.job_key();
        let run = self.run_id.map(|r| format!(" run {r}")).unwrap_or_default();
        match self.event {
            Event::Failure => format!("{job}{run} failed"),
            Event::Recovery => format!("{job}{run} succeeded after a failure"),
            Event::LongRun => format!(
                "{job}{run} has run {} (expected at most {})",
                human_ms(self.duration_ms().unwrap_or(0)),
                human_ms(self.expected_duration_ms.unwrap_or(0))
            ),
            Event::Misfire => {
                format!("{job} missed its schedule (trigger {})", self.trigger.as_deref().unwrap_or("unknown"))
            }
        }
    }

    fn error_text(&self) -> Option<String> {
        self.error.as_ref().map(|e| {
            if e.chars().count() <= MAX_ERROR_CHARS {
                e.clone()
            } else {
                let kept: String = e.chars().take(MAX_ERROR_CHARS).collect();
                format!("{kept}… (cut at {MAX_ERROR_CHARS} characters)")
            }
        })
    }

    /// The webhook's body: a JSON object (see the fields of [`Alert`], plus `id`, `summary`
    /// and `duration_ms`).
    pub fn webhook_body(&self) -> Vec<u8> {
        let body = Body {
            id: self.id(),
            event: self.event.as_str(),
            summary: self.summary(),
            job: JobRef { group: &self.job_group, name: &self.job_name },
            run_id: self.run_id,
            trigger: self.trigger.as_deref(),
            instance: &self.instance,
            state: self.state.as_deref(),
            error: self.error_text(),
            fired_ms: self.fired_ms,
            ended_ms: self.ended_ms,
            duration_ms: self.duration_ms(),
            expected_duration_ms: self.expected_duration_ms,
            missed_ms: self.missed_ms,
            next_fire_ms: self.next_fire_ms,
            at_ms: self.at_ms,
        };
        // A struct of strings and integers always serializes.
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// The e-mail: `[consort] EVENT: SUMMARY`, and a body of `name: value` lines.
    pub fn email(&self) -> EmailText {
        let mut lines = vec![self.summary(), String::new()];
        let mut line = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                lines.push(format!("{name}: {value}"));
            }
        };
        line("event", Some(self.event.to_string()));
        line("job", Some(self.job_key()));
        line("run", self.run_id.map(|r| r.to_string()));
        line("trigger", self.trigger.clone());
        line("state", self.state.clone());
        line("fired", self.fired_ms.map(timestamp));
        line("ended", self.ended_ms.map(timestamp));
        line("duration", self.duration_ms().map(human_ms));
        line("expected duration", self.expected_duration_ms.map(human_ms));
        line("missed fire time", self.missed_ms.map(timestamp));
        if self.event == Event::Misfire {
            line("next fire time", Some(self.next_fire_ms.map(timestamp).unwrap_or_else(|| "none".into())));
        }
        line("instance", Some(self.instance.clone()));
        line("alert id", Some(self.id()));
        line("error", self.error_text());
        let mut body = lines.join("\n");
        body.push('\n');
        EmailText { subject: format!("[consort] {}: {}", self.event, self.summary()), body }
    }
}

/// `1h 2m 3s`, `2m 0s`, `450ms`.
pub fn human_ms(ms: i64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, m, s) => format!("{h}h {m}m {s}s"),
    }
}

/// Epoch ms as RFC 3339 in UTC with milliseconds: `1970-01-01T00:00:00.000Z`. An instant
/// outside the years -9999..=9999 (never a run's) is written as its epoch ms.
pub fn timestamp(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => format!("{ms} ms since the epoch"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure() -> Alert {
        Alert {
            event: Event::Failure,
            job_group: "etl".into(),
            job_name: "load".into(),
            run_id: Some(42),
            trigger: Some("etl.nightly".into()),
            instance: "node-1".into(),
            state: Some("FAILED".into()),
            error: Some("exit status 3".into()),
            fired_ms: Some(1_700_000_000_000),
            ended_ms: Some(1_700_000_125_000),
            expected_duration_ms: None,
            missed_ms: None,
            next_fire_ms: None,
            at_ms: 1_700_000_125_010,
        }
    }

    #[test]
    fn the_webhook_body_has_every_key_and_the_run() {
        let body: serde_json::Value = serde_json::from_slice(&failure().webhook_body()).unwrap();
        assert_eq!(body["id"], "failure:run:42");
        assert_eq!(body["event"], "failure");
        assert_eq!(body["summary"], "etl.load run 42 failed");
        assert_eq!(body["job"], serde_json::json!({"group": "etl", "name": "load"}));
        assert_eq!(body["run_id"], 42);
        assert_eq!(body["duration_ms"], 125_000);
        assert_eq!(body["error"], "exit status 3");
        assert!(body["missed_ms"].is_null() && body.get("next_fire_ms").is_some());
        assert_eq!(body.as_object().unwrap().len(), 16);
    }

    #[test]
    fn a_long_error_is_cut() {
        let mut alert = failure();
        alert.error = Some("x".repeat(MAX_ERROR_CHARS + 10));
        let body: serde_json::Value = serde_json::from_slice(&alert.webhook_body()).unwrap();
        assert!(body["error"].as_str().unwrap().ends_with("(cut at 2000 characters)"));
    }

    #[test]
    fn long_runs_and_misfires_read_well() {
        let mut alert = failure();
        alert.event = Event::LongRun;
        alert.ended_ms = None;
        alert.state = Some("EXECUTING".into());
        alert.error = None;
        alert.expected_duration_ms = Some(60_000);
        assert_eq!(alert.summary(), "etl.load run 42 has run 2m 5s (expected at most 1m 0s)");
        let misfire = Alert {
            event: Event::Misfire,
            run_id: None,
            state: None,
            error: None,
            fired_ms: None,
            ended_ms: None,
            missed_ms: Some(1_700_000_000_000),
            next_fire_ms: None,
            ..failure()
        };
        assert_eq!(misfire.id(), "misfire:etl.nightly:1700000000000");
        assert_eq!(misfire.summary(), "etl.load missed its schedule (trigger etl.nightly)");
        let mail = misfire.email();
        assert_eq!(mail.subject, "[consort] misfire: etl.load missed its schedule (trigger etl.nightly)");
        assert!(mail.body.contains("missed fire time: 2023-11-14T22:13:20.000Z\n"), "{}", mail.body);
        assert!(mail.body.contains("next fire time: none\n"), "{}", mail.body);
    }

    #[test]
    fn the_email_names_the_run_and_the_reason() {
        let mail = failure().email();
        assert_eq!(mail.subject, "[consort] failure: etl.load run 42 failed");
        for line in ["run: 42", "state: FAILED", "duration: 2m 5s", "error: exit status 3", "alert id: failure:run:42"]
        {
            assert!(mail.body.contains(line), "{line}: {}", mail.body);
        }
    }

    #[test]
    fn timestamps_are_utc() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(human_ms(3_723_000), "1h 2m 3s");
        assert_eq!(human_ms(450), "450ms");
    }
}
