//! `[alerts]`: the channels (webhooks, e-mail over SMTP) and the rules that send to them.
//! Secrets are never in the file itself: a webhook's `secret_file` and an SMTP
//! `password_file` name files the binary reads when it starts.

use std::path::PathBuf;

use consort_alerts::{Backoff, Event, Rule, Scope};
use serde::Deserialize;

use crate::{ConfigError, Origin};

/// `[alerts]` as written in the file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AlertsSection {
    attempts: u32,
    first_retry_ms: u64,
    #[serde(rename = "webhook")]
    webhooks: Vec<WebhookChannel>,
    #[serde(rename = "email")]
    emails: Vec<EmailChannel>,
    #[serde(rename = "rule")]
    rules: Vec<RuleSection>,
}

impl Default for AlertsSection {
    fn default() -> Self {
        let backoff = Backoff::default();
        AlertsSection {
            attempts: backoff.attempts,
            first_retry_ms: backoff.first.as_millis() as u64,
            webhooks: Vec::new(),
            emails: Vec::new(),
            rules: Vec::new(),
        }
    }
}

/// `[[alerts.webhook]]`: JSON POSTed to `url`, signed with the secret in `secret_file`.
/// Its `Debug` shows the URL through [`redact_webhook_url`].
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookChannel {
    /// The name rules send to.
    pub name: String,
    /// `http://` or `https://`.
    pub url: String,
    /// A file holding the shared secret of the signature (surrounding white space ignored).
    pub secret_file: PathBuf,
    /// Seconds one delivery may take.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

impl std::fmt::Debug for WebhookChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookChannel")
            .field("name", &self.name)
            .field("url", &redact_webhook_url(&self.url))
            .field("secret_file", &self.secret_file)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

/// A webhook URL fit for logs and `Debug`: its scheme, host and port only. Receivers often put
/// their token in the path or the query (`/services/T0/B0/XXXX`, `?token=…`) or the user part,
/// so none of those is shown.
pub fn redact_webhook_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "***".into() };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let hidden = if end < rest.len() && &rest[end..] != "/" { "/***" } else { "" };
    format!("{scheme}://{host}{hidden}")
}

/// How an SMTP connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (a relay on the same host or network only).
    None,
    /// Plain, then STARTTLS (required).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// `[[alerts.email]]`: mail through an SMTP server.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailChannel {
    /// The name rules send to.
    pub name: String,
    /// The SMTP server's host name.
    pub smtp_host: String,
    /// Its port; default 587 (25 for `tls = "none"`, 465 for `"tls"`).
    pub smtp_port: Option<u16>,
    /// `none`, `starttls` (default) or `tls`.
    #[serde(default = "default_tls")]
    pub tls: SmtpTls,
    /// The user to log in as; none: no login.
    pub username: Option<String>,
    /// A file holding the user's password (needed with `username`).
    pub password_file: Option<PathBuf>,
    /// The sender address.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// Seconds one delivery may take.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

impl EmailChannel {
    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.smtp_port.unwrap_or(match self.tls {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        })
    }
}

fn default_timeout_secs() -> u64 {
    10
}

fn default_tls() -> SmtpTls {
    SmtpTls::Starttls
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSection {
    #[serde(default = "server_scope")]
    scope: String,
    events: Vec<String>,
    channels: Vec<String>,
    expected_duration_secs: Option<i64>,
}

fn server_scope() -> String {
    "server".into()
}

/// `[alerts]`, checked: every rule's scope, events and channels valid, every channel named
/// once. Empty rules: alerts are off.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertSettings {
    /// The webhooks.
    pub webhooks: Vec<WebhookChannel>,
    /// The e-mail channels.
    pub emails: Vec<EmailChannel>,
    /// The rules.
    pub rules: Vec<Rule>,
    /// When a failed delivery is tried again.
    pub backoff: Backoff,
}

impl AlertsSection {
    pub(crate) fn validate(self, path: &str) -> Result<AlertSettings, ConfigError> {
        let invalid = |option: &'static str, value: String, problem: String| ConfigError::Invalid {
            option,
            value,
            origin: Origin::File(path.to_string()),
            problem,
        };
        if !(1..=20).contains(&self.attempts) {
            return Err(invalid("alerts.attempts", self.attempts.to_string(), "must be between 1 and 20".into()));
        }
        if !(10..=600_000).contains(&self.first_retry_ms) {
            return Err(invalid(
                "alerts.first_retry_ms",
                self.first_retry_ms.to_string(),
                "must be between 10 and 600000 (10 minutes)".into(),
            ));
        }
        let mut names: Vec<&str> = Vec::new();
        for (option, name) in self
            .webhooks
            .iter()
            .map(|w| ("alerts.webhook.name", w.name.as_str()))
            .chain(self.emails.iter().map(|e| ("alerts.email.name", e.name.as_str())))
        {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                return Err(invalid(option, name.into(), "use letters, digits, '-', '_' and '.' only".into()));
            }
            if names.contains(&name) {
                return Err(invalid(option, name.into(), "another channel has this name; give each its own".into()));
            }
            names.push(name);
        }
        for w in &self.webhooks {
            if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
                return Err(invalid(
                    "alerts.webhook.url",
                    w.url.clone(),
                    format!("webhook {}: must be an http:// or https:// URL", w.name),
                ));
            }
            if !(1..=300).contains(&w.timeout_secs) {
                return Err(invalid(
                    "alerts.webhook.timeout_secs",
                    w.timeout_secs.to_string(),
                    "must be between 1 and 300".into(),
                ));
            }
        }
        for e in &self.emails {
            let context = format!("email channel {}", e.name);
            if e.smtp_host.is_empty() {
                return Err(invalid(
                    "alerts.email.smtp_host",
                    String::new(),
                    format!("{context}: name the SMTP server"),
                ));
            }
            if !e.from.contains('@') {
                return Err(invalid(
                    "alerts.email.from",
                    e.from.clone(),
                    format!("{context}: an address like consort@example.com"),
                ));
            }
            if e.to.is_empty() {
                return Err(invalid("alerts.email.to", "[]".into(), format!("{context}: name at least one recipient")));
            }
            if let Some(bad) = e.to.iter().find(|a| !a.contains('@')) {
                return Err(invalid(
                    "alerts.email.to",
                    bad.clone(),
                    format!("{context}: an address like ops@example.com"),
                ));
            }
            if e.username.is_some() != e.password_file.is_some() {
                return Err(invalid(
                    "alerts.email.password_file",
                    e.password_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
                    format!("{context}: username and password_file go together (both, or neither for no login)"),
                ));
            }
            if !(1..=300).contains(&e.timeout_secs) {
                return Err(invalid(
                    "alerts.email.timeout_secs",
                    e.timeout_secs.to_string(),
                    "must be between 1 and 300".into(),
                ));
            }
        }
        let mut rules = Vec::with_capacity(self.rules.len());
        for (i, r) in self.rules.into_iter().enumerate() {
            let context = format!("rule {} (scope {})", i + 1, r.scope);
            let scope =
                Scope::parse(&r.scope).map_err(|e| invalid("alerts.rule.scope", r.scope.clone(), e.to_string()))?;
            let events = r
                .events
                .iter()
                .map(|e| {
                    Event::parse(e).map_err(|err| invalid("alerts.rule.events", e.clone(), format!("{context}: {err}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(unknown) = r.channels.iter().find(|c| !names.contains(&c.as_str())) {
                return Err(invalid(
                    "alerts.rule.channels",
                    unknown.clone(),
                    format!(
                        "{context}: no [[alerts.webhook]] or [[alerts.email]] has this name; channels: {}",
                        names.join(", ")
                    ),
                ));
            }
            if r.expected_duration_secs.is_some_and(|s| s <= 0) {
                return Err(invalid(
                    "alerts.rule.expected_duration_secs",
                    r.expected_duration_secs.unwrap_or_default().to_string(),
                    format!("{context}: a whole number of seconds above 0"),
                ));
            }
            let expected_ms = r.expected_duration_secs.map(|s| s.saturating_mul(1000));
            let rule = Rule::new(scope, events, r.channels, expected_ms).map_err(|e| {
                let option = match e {
                    consort_alerts::RuleError::NoExpectedDuration => "alerts.rule.expected_duration_secs",
                    consort_alerts::RuleError::Empty("channel") => "alerts.rule.channels",
                    _ => "alerts.rule.events",
                };
                invalid(option, String::new(), format!("{context}: {e}"))
            })?;
            rules.push(rule);
        }
        let backoff = Backoff {
            attempts: self.attempts,
            first: std::time::Duration::from_millis(self.first_retry_ms),
            ..Backoff::default()
        };
        Ok(AlertSettings { webhooks: self.webhooks, emails: self.emails, rules, backoff })
    }
}

#[cfg(test)]
mod tests {
    use crate::{Config, Sources};

    #[test]
    fn webhook_urls_are_shown_without_their_tokens() {
        use super::{WebhookChannel, redact_webhook_url};
        assert_eq!(
            redact_webhook_url("https://hooks.example.com/services/T0/B0/XXXX"),
            "https://hooks.example.com/***"
        );
        assert_eq!(redact_webhook_url("http://127.0.0.1:9000?token=abc"), "http://127.0.0.1:9000/***");
        assert_eq!(redact_webhook_url("https://user:pw@hooks.example.com/"), "https://hooks.example.com");
        assert_eq!(redact_webhook_url("not a url sk-123"), "***");
        let channel = WebhookChannel {
            name: "ops".into(),
            url: "https://hooks.example.com/T0/secret-token".into(),
            secret_file: "/etc/consort/ops.secret".into(),
            timeout_secs: 10,
        };
        let debug = format!("{channel:?}");
        assert!(!debug.contains("secret-token") && debug.contains("hooks.example.com/***"), "{debug}");
    }

    fn resolve(text: &str) -> Result<Config, String> {
        let s = Sources { file: Some(("consort.toml".into(), text.into())), ..Sources::default() };
        Config::resolve(&s).map_err(|e| e.to_string())
    }

    const CHANNELS: &str = r#"
[[alerts.webhook]]
name = "ops-hook"
url = "https://hooks.example.com/consort"
secret_file = "/etc/consort/hook.secret"

[[alerts.email]]
name = "ops-mail"
smtp_host = "smtp.example.com"
username = "consort"
password_file = "/etc/consort/smtp.password"
from = "consort@example.com"
to = ["ops@example.com"]
"#;

    #[test]
    fn channels_and_rules_are_read() {
        let text = format!(
            "[alerts]\nattempts = 3\n{CHANNELS}\n[[alerts.rule]]\nevents = [\"failure\", \"misfire\"]\nchannels = [\"ops-hook\"]\n\n[[alerts.rule]]\nscope = \"group:etl\"\nevents = [\"long_run\"]\nchannels = [\"ops-mail\", \"ops-hook\"]\nexpected_duration_secs = 90\n"
        );
        let c = resolve(&text).unwrap();
        let a = &c.alerts;
        assert_eq!(a.backoff.attempts, 3);
        assert_eq!(a.webhooks[0].timeout_secs, 10);
        assert_eq!(a.emails[0].port(), 587);
        assert_eq!(a.rules.len(), 2);
        assert_eq!(a.rules[0].scope, consort_alerts::Scope::Server);
        assert_eq!(a.rules[1].expected_duration_ms, Some(90_000));
        let rules = consort_alerts::Rules::new(a.rules.clone());
        assert_eq!(rules.channels_for("etl", "x", consort_alerts::Event::LongRun), ["ops-mail", "ops-hook"]);
    }

    #[test]
    fn mistakes_name_the_option_and_the_fix() {
        let rule = |body: &str| format!("{CHANNELS}\n[[alerts.rule]]\n{body}\n");
        let cases = [
            (rule("events = [\"failed\"]\nchannels = [\"ops-hook\"]"), "alerts.rule.events", "failure, long_run"),
            (rule("events = [\"failure\"]\nchannels = [\"pager\"]"), "alerts.rule.channels", "ops-hook, ops-mail"),
            (
                rule("scope = \"etl\"\nevents = [\"failure\"]\nchannels = [\"ops-hook\"]"),
                "alerts.rule.scope",
                "group:GROUP",
            ),
            (
                rule("events = [\"long_run\"]\nchannels = [\"ops-hook\"]"),
                "alerts.rule.expected_duration_secs",
                "above 0",
            ),
            (rule("events = []\nchannels = [\"ops-hook\"]"), "alerts.rule.events", "at least one event"),
            (rule("events = [\"failure\"]\nchannels = [\"ops-hook\"]\nsecret = \"x\""), "unknown field", "secret"),
            (
                format!(
                    "{CHANNELS}\n[[alerts.webhook]]\nname = \"ops-mail\"\nurl = \"http://x\"\nsecret_file = \"/s\""
                ),
                "alerts.email.name",
                "another channel",
            ),
            (
                "[[alerts.webhook]]\nname = \"h\"\nurl = \"ftp://x\"\nsecret_file = \"/s\"".into(),
                "alerts.webhook.url",
                "http://",
            ),
            (
                "[[alerts.webhook]]\nname = \"h\"\nurl = \"http://x\"\nsecret = \"inline\"".into(),
                "unknown field",
                "secret_file",
            ),
            (
                "[[alerts.email]]\nname = \"m\"\nsmtp_host = \"h\"\nfrom = \"a@b\"\nto = []".into(),
                "alerts.email.to",
                "at least one",
            ),
            (
                "[[alerts.email]]\nname = \"m\"\nsmtp_host = \"h\"\nfrom = \"a@b\"\nto = [\"c@d\"]\nusername = \"u\""
                    .into(),
                "alerts.email.password_file",
                "go together",
            ),
            (
                "[[alerts.email]]\nname = \"m\"\nsmtp_host = \"h\"\nfrom = \"a@b\"\nto = [\"c@d\"]\ntls = \"ssl\""
                    .into(),
                "unknown variant",
                "starttls",
            ),
            ("[alerts]\nattempts = 0".into(), "alerts.attempts", "between 1 and 20"),
        ];
        for (text, option, fix) in cases {
            let e = resolve(&text).unwrap_err();
            assert!(e.contains(option) && e.contains(fix), "{text}\n→ {e}");
        }
    }
}
