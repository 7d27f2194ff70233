//! Alerts at run time: [`Alerter`] observes the scheduler (`SchedulerObserver`), decides with
//! `consort-alerts`' rules what to say to whom, and delivers it: webhooks over HTTP(S), signed,
//! and e-mail over SMTP, each retried with exponential back-off.
//!
//! Only the instance that executed a run is told of its start and end, and only the instance
//! whose cycle applied a misfire is told of it, so with several instances on one store each
//! alert leaves once (a retry repeats its `Consort-Alert-Id`, for receivers to drop duplicates).
//! The observer's methods only send on a channel: matching, the store look-up a recovery
//! needs, and delivery happen on tasks of their own, off the driver's path.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use consort_alerts::sign::{ALERT_ID_HEADER, SIGNATURE_HEADER, signature};
use consort_alerts::{Alert, Backoff, Event, Rules};
use consort_config::{AlertSettings, EmailChannel, SmtpTls, WebhookChannel};
use consort_scheduler::{JobKey, Misfire, RunEnd, RunFilter, RunStart, RunState, SchedulerObserver, Store};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// A shared secret read from a file: never printed.
#[derive(Clone)]
struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Reads a secret file; surrounding white space (a trailing newline) is not part of it.
fn read_secret(path: &Path, option: &str) -> anyhow::Result<Secret> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!("{option}: cannot read {}; create it (mode 0600) with the secret in it", path.display())
    })?;
    let secret = text.trim();
    if secret.is_empty() {
        anyhow::bail!("{option}: {} is empty; put the secret in it", path.display());
    }
    Ok(Secret(secret.as_bytes().to_vec()))
}

/// A webhook: its URL and shared secret, and the HTTP client. Its `Debug` shows neither the
/// secret nor the URL's path, query or user part (receivers put tokens there).
struct Webhook {
    url: reqwest::Url,
    secret: Secret,
    client: reqwest::Client,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &consort_config::redact_webhook_url(self.url.as_str()))
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    fn new(settings: &WebhookChannel) -> anyhow::Result<Webhook> {
        let url = reqwest::Url::parse(&settings.url)
            .with_context(|| format!("alerts.webhook.url of webhook {}: not a URL", settings.name))?;
        let secret =
            read_secret(&settings.secret_file, &format!("alerts.webhook.secret_file of webhook {}", settings.name))?;
        Ok(Webhook { url, secret, client: http_client(Duration::from_secs(settings.timeout_secs))? })
    }

    /// POSTs the alert's JSON, signed now; any 2xx answer is a delivery.
    async fn send(&self, alert: &Alert) -> Result<(), String> {
        let body = alert.webhook_body();
        let now_s = jiff::Timestamp::now().as_second();
        let answer = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature(&self.secret.0, now_s, &body))
            .header(ALERT_ID_HEADER, alert.id())
            .body(body)
            .send()
            .await
            // The URL can itself be a credential (chat services put the token in the path).
            .map_err(|e| error_chain(&e.without_url()))?;
        let status = answer.status();
        if status.is_success() { Ok(()) } else { Err(format!("the receiver answered {status}")) }
    }
}

/// The HTTP client of webhooks: TLS by rustls on ring with the system's CA certificates, no
/// redirects (a signed body goes where it was configured to go, nowhere else).
fn http_client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS for alert webhooks")?
        .with_platform_verifier()
        .context("the system's CA certificates for alert webhooks")?
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .user_agent(concat!("consort/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("the HTTP client for alert webhooks")
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// An e-mail channel: the SMTP transport and the addresses.
struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email").field("from", &self.from).field("to", &self.to).finish_non_exhaustive()
    }
}

impl Email {
    fn new(settings: &EmailChannel) -> anyhow::Result<Email> {
        let name = &settings.name;
        let from: Mailbox =
            settings.from.parse().with_context(|| format!("alerts.email.from of channel {name}: not an address"))?;
        let to = settings
            .to
            .iter()
            .map(|a| {
                a.parse::<Mailbox>()
                    .with_context(|| format!("alerts.email.to of channel {name}: {a:?} is not an address"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let host = settings.smtp_host.as_str();
        let tls = match settings.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls | SmtpTls::Tls => {
                let parameters = TlsParameters::new(host.to_string())
                    .with_context(|| format!("alerts.email of channel {name}: TLS for {host}"))?;
                if settings.tls == SmtpTls::Tls { Tls::Wrapper(parameters) } else { Tls::Required(parameters) }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(settings.port())
            .tls(tls)
            .timeout(Some(Duration::from_secs(settings.timeout_secs)));
        if let (Some(user), Some(file)) = (&settings.username, &settings.password_file) {
            let password = read_secret(file, &format!("alerts.email.password_file of channel {name}"))?;
            let password = String::from_utf8(password.0)
                .map_err(|_| anyhow::anyhow!("alerts.email.password_file of channel {name}: not UTF-8 text"))?;
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Email { transport: builder.build(), from, to })
    }

    async fn send(&self, alert: &Alert) -> Result<(), String> {
        let text = alert.email();
        let mut message = Message::builder().from(self.from.clone()).subject(text.subject);
        for to in &self.to {
            message = message.to(to.clone());
        }
        let message = message
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(text.body)
            .map_err(|e| format!("building the message: {e}"))?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| error_chain(&e))
    }
}

/// Where an alert goes.
#[derive(Debug)]
enum Channel {
    Webhook(Webhook),
    Email(Email),
}

impl Channel {
    async fn send(&self, alert: &Alert) -> Result<(), String> {
        match self {
            Channel::Webhook(w) => w.send(alert).await,
            Channel::Email(e) => e.send(alert).await,
        }
    }
}

/// What the observer hands the alert task.
enum Pending {
    /// Send to the rule's channels.
    Alert(Alert),
    /// A success: a recovery if the job's previous ended run failed.
    Success(Alert),
}

/// The scheduler's observer that sends alerts; see the module's documentation.
pub struct Alerter {
    rules: Arc<Rules>,
    instance: String,
    queue: mpsc::UnboundedSender<Pending>,
    /// The long-run timer of each executing run that has one.
    timers: Mutex<HashMap<i64, AbortHandle>>,
    /// The latest run of each job that ended here, for recoveries the store has not recorded yet.
    last_ended: Arc<Mutex<HashMap<JobKey, (i64, RunState)>>>,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for Alerter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerter").field("rules", &self.rules).field("instance", &self.instance).finish_non_exhaustive()
    }
}

impl Alerter {
    /// The alerter of `settings` for instance `instance`, reading `store` for recoveries; `None`
    /// when no rule is configured. Secret files are read and addresses checked now, so a bad
    /// channel stops the start. Call inside the Tokio runtime.
    pub fn start(
        settings: &AlertSettings,
        instance: &str,
        store: Arc<dyn Store>,
    ) -> anyhow::Result<Option<Arc<Alerter>>> {
        if settings.rules.is_empty() {
            return Ok(None);
        }
        let mut channels: HashMap<String, Arc<Channel>> = HashMap::new();
        for w in &settings.webhooks {
            channels.insert(w.name.clone(), Arc::new(Channel::Webhook(Webhook::new(w)?)));
        }
        for e in &settings.emails {
            channels.insert(e.name.clone(), Arc::new(Channel::Email(Email::new(e)?)));
        }
        let rules = Arc::new(Rules::new(settings.rules.clone()));
        let (queue, pending) = mpsc::unbounded_channel();
        let last_ended = Arc::new(Mutex::new(HashMap::new()));
        let runtime = tokio::runtime::Handle::current();
        let worker = Worker {
            rules: rules.clone(),
            channels: Arc::new(channels),
            backoff: settings.backoff,
            store,
            last_ended: last_ended.clone(),
        };
        runtime.spawn(worker.run(pending));
        tracing::info!(
            rules = settings.rules.len(),
            webhooks = settings.webhooks.len(),
            emails = settings.emails.len(),
            "alerts on"
        );
        Ok(Some(Arc::new(Alerter {
            rules,
            instance: instance.to_string(),
            queue,
            timers: Mutex::default(),
            last_ended,
            runtime,
        })))
    }

    fn run_alert(&self, event: Event, job: &JobKey, run_id: i64, trigger: &str, fired_ms: i64) -> Alert {
        Alert {
            event,
            job_group: job.group().to_string(),
            job_name: job.name().to_string(),
            run_id: Some(run_id),
            trigger: Some(trigger.to_string()),
            instance: self.instance.clone(),
            state: None,
            error: None,
            fired_ms: Some(fired_ms),
            ended_ms: None,
            expected_duration_ms: None,
            missed_ms: None,
            next_fire_ms: None,
            at_ms: 0,
        }
    }
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl SchedulerObserver for Alerter {
    fn run_started(&self, run: &RunStart<'_>) {
        let (group, name) = (run.job.group(), run.job.name());
        let Some(expected_ms) = self.rules.expected_duration_ms(group, name) else { return };
        let mut alert = self.run_alert(Event::LongRun, run.job, run.run_id, &run.trigger.to_string(), run.fired_ms);
        alert.state = Some(RunState::Executing.as_str().to_string());
        alert.expected_duration_ms = Some(expected_ms);
        // A resumed run started at its fire time, not now.
        let wait_ms = (run.fired_ms + expected_ms - now_ms()).max(0);
        let queue = self.queue.clone();
        let timer = self.runtime.spawn(async move {
            tokio::time::sleep(Duration::from_millis(wait_ms as u64)).await;
            alert.at_ms = now_ms();
            let _ = queue.send(Pending::Alert(alert));
        });
        if let Ok(mut timers) = self.timers.lock() {
            timers.insert(run.run_id, timer.abort_handle());
        }
    }

    fn run_finished(&self, run: &RunEnd<'_>) {
        if let Some(timer) = self.timers.lock().ok().and_then(|mut t| t.remove(&run.run_id)) {
            timer.abort();
        }
        let event = match run.state {
            RunState::Failed => Event::Failure,
            RunState::Succeeded if self.rules.wants(Event::Recovery) => Event::Recovery,
            _ => return,
        };
        let mut alert = self.run_alert(event, run.job, run.run_id, &run.trigger.to_string(), run.fired_ms);
        alert.state = Some(run.state.as_str().to_string());
        alert.error = run.error.map(str::to_string);
        alert.ended_ms = Some(run.ended_ms);
        alert.at_ms = now_ms();
        let pending = if event == Event::Recovery { Pending::Success(alert) } else { Pending::Alert(alert) };
        let _ = self.queue.send(pending);
        if let Ok(mut last) = self.last_ended.lock() {
            let entry = last.entry(run.job.clone()).or_insert((run.run_id, run.state));
            if entry.0 <= run.run_id {
                *entry = (run.run_id, run.state);
            }
        }
    }

    fn triggers_misfired(&self, misfires: &[Misfire]) {
        if !self.rules.wants(Event::Misfire) {
            return;
        }
        for m in misfires {
            let alert = Alert {
                event: Event::Misfire,
                job_group: m.job.group().to_string(),
                job_name: m.job.name().to_string(),
                run_id: None,
                trigger: Some(m.trigger.to_string()),
                instance: self.instance.clone(),
                state: None,
                error: None,
                fired_ms: None,
                ended_ms: None,
                expected_duration_ms: None,
                missed_ms: Some(m.missed_ms),
                next_fire_ms: m.next_fire_ms,
                at_ms: now_ms(),
            };
            let _ = self.queue.send(Pending::Alert(alert));
        }
    }
}

/// The alert task: matches, looks recoveries up, and starts a delivery per channel.
struct Worker {
    rules: Arc<Rules>,
    channels: Arc<HashMap<String, Arc<Channel>>>,
    backoff: Backoff,
    store: Arc<dyn Store>,
    last_ended: Arc<Mutex<HashMap<JobKey, (i64, RunState)>>>,
}

impl Worker {
    async fn run(self, mut pending: mpsc::UnboundedReceiver<Pending>) {
        let worker = Arc::new(self);
        while let Some(item) = pending.recv().await {
            match item {
                Pending::Alert(alert) => worker.dispatch(alert),
                // The look-up reads the store: on its own task, so it delays no other alert.
                Pending::Success(alert) => {
                    let worker = worker.clone();
                    tokio::spawn(async move {
                        if worker.follows_a_failure(&alert).await {
                            worker.dispatch(alert);
                        }
                    });
                }
            }
        }
    }

    /// Whether the job's latest run before this one that ended (here or, as the store
    /// records, anywhere) failed.
    async fn follows_a_failure(&self, alert: &Alert) -> bool {
        let Some(run_id) = alert.run_id else { return false };
        let Ok(job) = JobKey::new(&alert.job_group, &alert.job_name) else { return false };
        if self.rules.channels_for(job.group(), job.name(), Event::Recovery).is_empty() {
            return false;
        }
        let filter = RunFilter { job: Some(job.clone()), before_id: Some(run_id), limit: 20, ..RunFilter::default() };
        let recorded = match self.store.list_runs(&filter).await {
            Ok(runs) => runs.into_iter().find(|r| r.state != RunState::Executing).map(|r| (r.id, r.state)),
            Err(e) => {
                tracing::warn!(error = %e, job = %job, run_id, "reading the job's previous run for a recovery alert failed");
                None
            }
        };
        let here = self.last_ended.lock().ok().and_then(|l| l.get(&job).copied()).filter(|(id, _)| *id < run_id);
        let previous = match (recorded, here) {
            (Some(a), Some(b)) => Some(if a.0 > b.0 { a } else { b }),
            (a, b) => a.or(b),
        };
        previous.is_some_and(|(_, state)| state == RunState::Failed)
    }

    fn dispatch(&self, alert: Alert) {
        let alert = Arc::new(alert);
        for name in self.rules.channels_for(&alert.job_group, &alert.job_name, alert.event) {
            // Every rule's channel exists: the configuration checked it.
            let Some(channel) = self.channels.get(name).cloned() else { continue };
            tokio::spawn(deliver(channel, name.to_string(), alert.clone(), self.backoff));
        }
    }
}

/// Sends `alert` through `channel`, retrying with `backoff`; logs the outcome (never a secret:
/// the channel's name, not its URL or credentials).
async fn deliver(channel: Arc<Channel>, name: String, alert: Arc<Alert>, backoff: Backoff) {
    let mut attempt = 1;
    while let Some(delay) = backoff.delay_before(attempt) {
        tokio::time::sleep(delay).await;
        match channel.send(&alert).await {
            Ok(()) => {
                tracing::info!(channel = %name, alert_id = %alert.id(), event = %alert.event, job = %alert.job_key(),
                    run_id = alert.run_id, attempt, "alert sent");
                return;
            }
            Err(error) if attempt < backoff.attempts => {
                tracing::warn!(channel = %name, alert_id = %alert.id(), attempt, %error, "alert delivery failed; retrying");
            }
            Err(error) => {
                tracing::error!(channel = %name, alert_id = %alert.id(), attempt, %error,
                    "alert dropped: every delivery attempt failed");
            }
        }
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhooks_debug_hides_its_token_and_secret() {
        let hook = Webhook {
            url: reqwest::Url::parse("https://hooks.example.com/services/T0/B0/tok-123?key=k-456").unwrap(),
            secret: Secret(b"shared-789".to_vec()),
            client: reqwest::Client::new(),
        };
        let debug = format!("{hook:?}");
        for secret in ["tok-123", "k-456", "shared-789"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("https://hooks.example.com/***"), "{debug}");
    }
}
