//! Rules: a scope (one job, a job group, the whole server), the events it alerts on, the
//! channels it notifies, and for long runs the expected duration.

use std::fmt;

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Event {
    /// A run ended FAILED (a killed run too).
    Failure,
    /// A run is still going past its expected duration (told while it runs).
    LongRun,
    /// A trigger's fire time passed by more than the misfire threshold.
    Misfire,
    /// A run succeeded after the job's previous run failed.
    Recovery,
}

impl Event {
    /// Every event, in the order the names are documented.
    pub const ALL: [Event; 4] = [Event::Failure, Event::LongRun, Event::Misfire, Event::Recovery];

    /// The name in configuration and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Failure => "failure",
            Event::LongRun => "long_run",
            Event::Misfire => "misfire",
            Event::Recovery => "recovery",
        }
    }

    /// The event named `name`.
    pub fn parse(name: &str) -> Result<Event, RuleError> {
        Event::ALL.into_iter().find(|e| e.as_str() == name).ok_or_else(|| RuleError::UnknownEvent(name.to_string()))
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which jobs a rule covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every job of the server.
    Server,
    /// Every job of one group.
    Group(String),
    /// One job.
    Job {
        /// Its group.
        group: String,
        /// Its name.
        name: String,
    },
}

impl Scope {
    /// `server`, `group:GROUP` or `job:GROUP.NAME` (a job key as the CLI writes it; the group
    /// is what comes before the first dot).
    pub fn parse(text: &str) -> Result<Scope, RuleError> {
        let bad = || RuleError::BadScope(text.to_string());
        if text == "server" {
            return Ok(Scope::Server);
        }
        if let Some(group) = text.strip_prefix("group:") {
            return if group.is_empty() { Err(bad()) } else { Ok(Scope::Group(group.to_string())) };
        }
        if let Some(key) = text.strip_prefix("job:") {
            let (group, name) = key.split_once('.').ok_or_else(bad)?;
            if group.is_empty() || name.is_empty() {
                return Err(bad());
            }
            return Ok(Scope::Job { group: group.to_string(), name: name.to_string() });
        }
        Err(bad())
    }

    /// Whether the job `group`.`name` is in this scope.
    pub fn covers(&self, group: &str, name: &str) -> bool {
        match self {
            Scope::Server => true,
            Scope::Group(g) => g == group,
            Scope::Job { group: g, name: n } => g == group && n == name,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Server => f.write_str("server"),
            Scope::Group(g) => write!(f, "group:{g}"),
            Scope::Job { group, name } => write!(f, "job:{group}.{name}"),
        }
    }
}

/// A rule that cannot be used; each says how to write it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// An event name nobody knows.
    #[error("`{0}` is not an event; use failure, long_run, misfire or recovery")]
    UnknownEvent(String),
    /// A scope that is not one of the three forms.
    #[error("`{0}` is not a scope; use \"server\", \"group:GROUP\" or \"job:GROUP.NAME\"")]
    BadScope(String),
    /// A rule without events or channels notifies nobody of nothing.
    #[error("a rule needs at least one {0}")]
    Empty(&'static str),
    /// `long_run` needs to know how long is too long.
    #[error("the long_run event needs expected_duration_secs (how long a run may take), a whole number above 0")]
    NoExpectedDuration,
}

/// One rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The jobs it covers.
    pub scope: Scope,
    /// The events it alerts on.
    pub events: Vec<Event>,
    /// The names of the channels it notifies.
    pub channels: Vec<String>,
    /// For `long_run`: how long a run may take (ms) before it is long.
    pub expected_duration_ms: Option<i64>,
}

impl Rule {
    /// A rule, checked: events and channels present, an expected duration when it alerts on
    /// long runs.
    pub fn new(
        scope: Scope,
        events: Vec<Event>,
        channels: Vec<String>,
        expected_duration_ms: Option<i64>,
    ) -> Result<Rule, RuleError> {
        if events.is_empty() {
            return Err(RuleError::Empty("event"));
        }
        if channels.is_empty() {
            return Err(RuleError::Empty("channel"));
        }
        if events.contains(&Event::LongRun) && expected_duration_ms.is_none_or(|ms| ms <= 0) {
            return Err(RuleError::NoExpectedDuration);
        }
        Ok(Rule { scope, events, channels, expected_duration_ms })
    }

    fn applies(&self, group: &str, name: &str, event: Event) -> bool {
        self.events.contains(&event) && self.scope.covers(group, name)
    }
}

/// Every rule of the server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules(Vec<Rule>);

impl Rules {
    /// These rules.
    pub fn new(rules: Vec<Rule>) -> Rules {
        Rules(rules)
    }

    /// Whether there are none (alerts off).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether any rule alerts on `event` at all (so the observer skips work nobody asked for).
    pub fn wants(&self, event: Event) -> bool {
        self.0.iter().any(|r| r.events.contains(&event))
    }

    /// The channels `event` of job `group`.`name` goes to, each once, in the rules' order.
    pub fn channels_for(&self, group: &str, name: &str, event: Event) -> Vec<&str> {
        let mut channels: Vec<&str> = Vec::new();
        for rule in self.0.iter().filter(|r| r.applies(group, name, event)) {
            for channel in &rule.channels {
                if !channels.contains(&channel.as_str()) {
                    channels.push(channel);
                }
            }
        }
        channels
    }

    /// How long a run of `group`.`name` may take before it is long: the shortest expected
    /// duration among the `long_run` rules covering it (the narrowest promise wins), if any.
    pub fn expected_duration_ms(&self, group: &str, name: &str) -> Option<i64> {
        self.0.iter().filter(|r| r.applies(group, name, Event::LongRun)).filter_map(|r| r.expected_duration_ms).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(scope: &str, events: &[&str], channels: &[&str], expected_ms: Option<i64>) -> Rule {
        Rule::new(
            Scope::parse(scope).unwrap(),
            events.iter().map(|e| Event::parse(e).unwrap()).collect(),
            channels.iter().map(|c| c.to_string()).collect(),
            expected_ms,
        )
        .unwrap()
    }

    #[test]
    fn scopes_parse_and_cover_their_jobs_only() {
        assert_eq!(Scope::parse("server").unwrap(), Scope::Server);
        assert_eq!(Scope::parse("group:etl").unwrap(), Scope::Group("etl".into()));
        let job = Scope::parse("job:etl.daily.load").unwrap();
        assert_eq!(job, Scope::Job { group: "etl".into(), name: "daily.load".into() });
        assert_eq!(job.to_string(), "job:etl.daily.load");
        assert!(job.covers("etl", "daily.load"));
        assert!(!job.covers("etl", "daily"));
        assert!(!job.covers("etl2", "daily.load"));
        assert!(Scope::Group("etl".into()).covers("etl", "x"));
        assert!(!Scope::Group("etl".into()).covers("etlx", "x"));
        for bad in ["", "servers", "group:", "job:etl", "job:.x", "job:etl.", "jobs:etl.x"] {
            let e = Scope::parse(bad).unwrap_err();
            assert!(e.to_string().contains("group:GROUP"), "{bad}: {e}");
        }
    }

    #[test]
    fn events_parse_by_name_only() {
        for e in Event::ALL {
            assert_eq!(Event::parse(e.as_str()).unwrap(), e);
        }
        assert!(Event::parse("failed").unwrap_err().to_string().contains("failure, long_run, misfire or recovery"));
    }

    #[test]
    fn rules_are_checked() {
        let scope = Scope::Server;
        let e = Rule::new(scope.clone(), vec![], vec!["ops".into()], None).unwrap_err();
        assert_eq!(e, RuleError::Empty("event"));
        let e = Rule::new(scope.clone(), vec![Event::Failure], vec![], None).unwrap_err();
        assert_eq!(e, RuleError::Empty("channel"));
        let e = Rule::new(scope.clone(), vec![Event::LongRun], vec!["ops".into()], None).unwrap_err();
        assert_eq!(e, RuleError::NoExpectedDuration);
        let e = Rule::new(scope, vec![Event::LongRun], vec!["ops".into()], Some(0)).unwrap_err();
        assert_eq!(e, RuleError::NoExpectedDuration);
    }

    #[test]
    fn channels_are_the_union_of_matching_rules_each_once() {
        let rules = Rules::new(vec![
            rule("server", &["failure"], &["pager"], None),
            rule("group:etl", &["failure", "recovery"], &["etl-mail", "pager"], None),
            rule("job:etl.load", &["long_run"], &["etl-hook"], Some(60_000)),
            rule("group:etl", &["long_run"], &["etl-mail"], Some(300_000)),
        ]);
        assert_eq!(rules.channels_for("etl", "load", Event::Failure), ["pager", "etl-mail"]);
        assert_eq!(rules.channels_for("web", "load", Event::Failure), ["pager"]);
        assert_eq!(rules.channels_for("etl", "load", Event::Recovery), ["etl-mail", "pager"]);
        assert!(rules.channels_for("web", "load", Event::Recovery).is_empty());
        assert!(rules.channels_for("etl", "load", Event::Misfire).is_empty());
        assert_eq!(rules.channels_for("etl", "load", Event::LongRun), ["etl-hook", "etl-mail"]);
        assert_eq!(rules.channels_for("etl", "other", Event::LongRun), ["etl-mail"]);
        assert_eq!(rules.expected_duration_ms("etl", "load"), Some(60_000), "the narrowest promise wins");
        assert_eq!(rules.expected_duration_ms("etl", "other"), Some(300_000));
        assert_eq!(rules.expected_duration_ms("web", "load"), None);
        assert!(rules.wants(Event::Recovery) && !rules.wants(Event::Misfire));
    }
}
