//! `consort jobs|triggers|runs`: thin HTTP clients of a running `consort serve`.

use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};

use crate::cli::{JobsCommand, RemoteArgs, RunsCommand, TriggersCommand};

#[derive(Clone)]
pub(crate) struct Client {
    base: String,
    http: reqwest::Client,
    json: bool,
    token: Option<String>,
}

/// The server refused a request: its status, error code and message (`{"error": {"code",
/// "message"}}`), so callers can act on the code and users see both.
#[derive(Debug)]
pub(crate) struct ApiFailure {
    pub(crate) status: reqwest::StatusCode,
    pub(crate) code: String,
    pub(crate) message: String,
}

impl ApiFailure {
    fn of(status: reqwest::StatusCode, value: &Value) -> ApiFailure {
        let message = value["error"]["message"].as_str().map(str::to_string).unwrap_or_else(|| match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        });
        let code = value["error"]["code"].as_str().unwrap_or("http_error").to_string();
        ApiFailure { status, code, message }
    }
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, HTTP {})", self.message, self.code, self.status)
    }
}

impl std::error::Error for ApiFailure {}

/// `GROUP.NAME` → (group, name); a bare `NAME` is in group DEFAULT.
fn split_key(key: &str) -> (String, String) {
    match key.rsplit_once('.') {
        Some((group, name)) => (group.to_string(), name.to_string()),
        None => ("DEFAULT".to_string(), key.to_string()),
    }
}

pub(crate) fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn key_path(kind: &str, key: &str) -> String {
    let (group, name) = split_key(key);
    format!("/v1/scheduler/{kind}/{}/{}", segment(&group), segment(&name))
}

impl Client {
    /// Sends a request and returns the status with the body (JSON, or the text as a string),
    /// whatever the status: for APIs whose errors are not consort's shape (the Witboost spec's).
    pub(crate) async fn exchange(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        self.exchange_with(method, path, body, &[]).await
    }

    /// [`exchange`](Client::exchange) with extra request headers (e.g. `Idempotency-Key`).
    pub(crate) async fn exchange_with(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        let url = format!("{}{path}", self.base.trim_end_matches('/'));
        let mut request = self.http.request(method, &url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| {
            format!("cannot reach consort at {}; is `consort serve` running? Set --server or CONSORT_SERVER", self.base)
        })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let value: Value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        if status == reqwest::StatusCode::UNAUTHORIZED && self.token.is_none() {
            let message = value["error"]["message"].as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
            bail!(
                "{message} (HTTP {status})\nno token was sent: pass --token or CONSORT_TOKEN, or --data-dir for a server on this machine"
            );
        }
        Ok((status, value))
    }

    /// Sends a signed governance request (COSE_Sign1, `application/cose`) and returns the
    /// answer, failing with the server's message on an error status.
    pub(crate) async fn send_signed(
        &self,
        method: reqwest::Method,
        path: &str,
        cose: Vec<u8>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base.trim_end_matches('/'));
        let mut request = self.http.request(method, &url).header("content-type", "application/cose").body(cose);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.with_context(|| {
            format!("cannot reach consort at {}; is `consort serve` running? Set --server or CONSORT_SERVER", self.base)
        })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let value: Value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        if !status.is_success() {
            return Err(ApiFailure::of(status, &value).into());
        }
        Ok(value)
    }

    /// GETs a document that is not JSON (an export, a key), failing with the server's message on
    /// an error status.
    pub(crate) async fn get_bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let url = format!("{}{path}", self.base.trim_end_matches('/'));
        let mut request = self.http.get(&url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.with_context(|| {
            format!("cannot reach consort at {}; is `consort serve` running? Set --server or CONSORT_SERVER", self.base)
        })?;
        let status = response.status();
        let bytes = response.bytes().await.context("reading the answer")?.to_vec();
        if !status.is_success() {
            let value: Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
            return Err(ApiFailure::of(status, &value).into());
        }
        Ok(bytes)
    }

    pub(crate) async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        self.call_with(method, path, body, &[]).await
    }

    /// [`call`](Client::call) with extra request headers.
    pub(crate) async fn call_with(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Value> {
        let (status, value) = self.exchange_with(method, path, body, headers).await?;
        if !status.is_success() {
            return Err(ApiFailure::of(status, &value).into());
        }
        Ok(value)
    }

    /// The same server and output mode, calling with another token (a party of a sandbox).
    pub(crate) fn with_token(&self, token: &str) -> Client {
        Client { token: Some(token.to_string()), ..self.clone() }
    }

    /// Whether `--json` was given.
    pub(crate) fn json(&self) -> bool {
        self.json
    }

    /// Fetches a list a page at a time, following `next_cursor`, until it has `max` items (all
    /// of them without `max`). Returns `{"items": [...], "next_cursor": ...}`: the cursor is
    /// null when the list was read to its end.
    async fn pages(&self, path: &str, query: &[String], max: Option<usize>) -> anyhow::Result<Value> {
        const PAGE: usize = 1000;
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let want = max.map_or(PAGE, |m| (m - items.len()).min(PAGE));
            let mut params = query.to_vec();
            params.push(format!("limit={want}"));
            if let Some(c) = &cursor {
                params.push(format!("cursor={}", segment(c)));
            }
            let page = self.call(reqwest::Method::GET, &format!("{path}?{}", params.join("&")), None).await?;
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            cursor = page["next_cursor"].as_str().map(str::to_string);
            if cursor.is_none() || max.is_some_and(|m| items.len() >= m) {
                return Ok(json!({"items": items, "next_cursor": cursor}));
            }
        }
    }

    pub(crate) fn print(&self, value: &Value, table: impl FnOnce(&Value)) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
        } else {
            table(value);
        }
    }
}

pub(crate) fn run<C: clap::Subcommand>(
    args: RemoteArgs<C>,
    f: impl AsyncFnOnce(&Client, C) -> anyhow::Result<()>,
) -> anyhow::Result<ExitCode> {
    run_with_code(args, async |client, command| {
        f(client, command).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// [`run`] for commands that choose their exit code (a run that did not succeed, a refusal).
pub(crate) fn run_with_code<C: clap::Subcommand>(
    args: RemoteArgs<C>,
    f: impl AsyncFnOnce(&Client, C) -> anyhow::Result<ExitCode>,
) -> anyhow::Result<ExitCode> {
    let json = args.wants_json();
    let token = match args.token.filter(|t| !t.trim().is_empty()) {
        Some(token) => Some(token.trim().to_string()),
        None => local_admin_token(&args.server, args.data_dir),
    };
    let mut http = reqwest::Client::builder();
    if let Some(path) = &args.ca_cert {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read --ca-cert {}; give a PEM CA certificate", path.display()))?;
        let ca = reqwest::Certificate::from_pem(&pem)
            .with_context(|| format!("--ca-cert {} is not a PEM certificate", path.display()))?;
        http = http.add_root_certificate(ca);
    }
    let http = http.build().context("building the HTTP client")?;
    let client = Client { base: args.server, http, json, token };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(f(&client, args.command))
}

/// The admin token in the data directory, for a server on this machine only (a token
/// is never sent to another host unless given explicitly).
fn local_admin_token(server: &str, data_dir: Option<std::path::PathBuf>) -> Option<String> {
    let host = server.split("://").nth(1)?.split(['/', '?']).next()?;
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        return None;
    }
    let dir = data_dir.unwrap_or_else(crate::paths::default_data_dir);
    let text = std::fs::read_to_string(dir.join(crate::cmd::auth::ADMIN_TOKEN_FILE)).ok()?;
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

pub(crate) fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn key_of(v: &Value) -> String {
    format!("{}.{}", s(&v["group"]), s(&v["name"]))
}

fn print_triggers(list: &Value) {
    println!("{:<32} {:<10} {:<22} {:<22} SCHEDULE", "TRIGGER", "STATE", "NEXT FIRE", "PREVIOUS FIRE");
    for t in list.as_array().into_iter().flatten() {
        let schedule = &t["schedule"];
        let what = match schedule.get("cron") {
            Some(cron) => format!("{} ({})", s(cron), s(&schedule["timezone"])),
            None => schedule.to_string(),
        };
        println!(
            "{:<32} {:<10} {:<22} {:<22} {what}",
            key_of(t),
            s(&t["state"]),
            s(&t["next_fire_time"]),
            s(&t["previous_fire_time"])
        );
    }
}

fn print_runs(list: &Value) {
    println!(
        "{:<8} {:<28} {:<10} {:<22} {:<10} {:<24} ERROR",
        "RUN", "JOB", "STATE", "FIRED", "DURATION", "APPLICATION"
    );
    for r in list.as_array().into_iter().flatten() {
        let duration = r["duration_ms"].as_i64().map_or("-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0));
        println!(
            "{:<8} {:<28} {:<10} {:<22} {:<10} {:<24} {}",
            s(&r["id"]),
            key_of(&r["job"]),
            s(&r["state"]),
            s(&r["fired_time"]),
            duration,
            s(&r["application_id"]),
            s(&r["error"])
        );
    }
}

pub fn jobs(args: RemoteArgs<JobsCommand>) -> anyhow::Result<ExitCode> {
    use reqwest::Method;
    run(args, async |c, command| {
        match command {
            JobsCommand::List { group } => {
                let query: Vec<String> = group.map(|g| format!("group={}", segment(&g))).into_iter().collect();
                let v = c.pages("/v1/scheduler/jobs", &query, None).await?;
                c.print(&v, |v| {
                    println!("{:<32} {:<10} {:<10} {:<10} DESCRIPTION", "JOB", "KIND", "LAST RUN", "RUNNING");
                    for j in v["items"].as_array().into_iter().flatten() {
                        println!(
                            "{:<32} {:<10} {:<10} {:<10} {}",
                            key_of(j),
                            s(&j["kind"]),
                            s(&j["last_run_state"]),
                            s(&j["executing_run"]),
                            s(&j["description"])
                        );
                    }
                });
            }
            JobsCommand::Get { key } => {
                let v = c.call(Method::GET, &key_path("jobs", &key), None).await?;
                c.print(&v, |v| {
                    println!("job {} (kind {}): {}", key_of(v), s(&v["kind"]), s(&v["description"]));
                    println!("data: {}", v["data"]);
                    println!(
                        "non-concurrent: {}  durable: {}  requests recovery: {}",
                        v["non_concurrent"], v["durable"], v["requests_recovery"]
                    );
                    println!();
                    print_triggers(&v["triggers"]);
                    println!();
                    print_runs(&v["recent_runs"]);
                });
            }
            JobsCommand::Put { key, kind, data, description, cron, tz, durable, non_concurrent, requests_recovery } => {
                let data: Value = match data {
                    Some(text) => {
                        serde_json::from_str(&text).map_err(|e| anyhow!("--data is not a JSON object: {e}"))?
                    }
                    None => json!({}),
                };
                if !data.is_object() {
                    bail!("--data must be a JSON object, e.g. '{{\"program\": \"/bin/true\"}}'");
                }
                let (_, name) = split_key(&key);
                let triggers = match cron {
                    Some(cron) => json!([{"name": name, "cron": cron, "timezone": tz}]),
                    None => json!([]),
                };
                let body = json!({
                    "kind": kind, "data": data, "description": description, "durable": durable,
                    "non_concurrent": non_concurrent, "requests_recovery": requests_recovery, "triggers": triggers,
                });
                let v = c.call(Method::PUT, &key_path("jobs", &key), Some(body)).await?;
                c.print(&v, |v| {
                    println!("stored job {}", key_of(v));
                    print_triggers(&v["triggers"]);
                });
            }
            JobsCommand::Delete { key } => {
                c.call(Method::DELETE, &key_path("jobs", &key), None).await?;
                println!("deleted job {key}");
            }
            JobsCommand::Fire { key } => {
                let v = c.call(Method::POST, &format!("{}/fire", key_path("jobs", &key)), None).await?;
                c.print(&v, |v| println!("fired {key} (trigger {})", key_of(&v["trigger"])));
            }
            JobsCommand::Pause { key } => {
                let v = c.call(Method::POST, &format!("{}/pause", key_path("jobs", &key)), None).await?;
                c.print(&v, |v| println!("paused {} trigger(s) of {key}", s(&v["triggers_changed"])));
            }
            JobsCommand::Resume { key } => {
                let v = c.call(Method::POST, &format!("{}/resume", key_path("jobs", &key)), None).await?;
                c.print(&v, |v| println!("resumed {} trigger(s) of {key}", s(&v["triggers_changed"])));
            }
        }
        Ok(())
    })
}

pub fn triggers(args: RemoteArgs<TriggersCommand>) -> anyhow::Result<ExitCode> {
    use reqwest::Method;
    run(args, async |c, command| {
        match command {
            TriggersCommand::List { group, job } => {
                let mut query = Vec::new();
                if let Some(g) = group {
                    query.push(format!("group={}", segment(&g)));
                }
                if let Some(j) = job {
                    query.push(format!("job={}", segment(&j)));
                }
                let v = c.pages("/v1/scheduler/triggers", &query, None).await?;
                c.print(&v, |v| print_triggers(&v["items"]));
            }
            TriggersCommand::Get { key } => {
                let v = c.call(Method::GET, &key_path("triggers", &key), None).await?;
                c.print(&v, |v| print_triggers(&json!([v])));
            }
            TriggersCommand::Delete { key } => {
                c.call(Method::DELETE, &key_path("triggers", &key), None).await?;
                println!("deleted trigger {key}");
            }
            TriggersCommand::Pause { key } => {
                c.call(Method::POST, &format!("{}/pause", key_path("triggers", &key)), None).await?;
                println!("paused trigger {key}");
            }
            TriggersCommand::Resume { key } => {
                c.call(Method::POST, &format!("{}/resume", key_path("triggers", &key)), None).await?;
                println!("resumed trigger {key}");
            }
        }
        Ok(())
    })
}

pub fn runs(args: RemoteArgs<RunsCommand>) -> anyhow::Result<ExitCode> {
    use reqwest::Method;
    run(args, async |c, command| {
        match command {
            RunsCommand::List { job, state, limit } => {
                let mut query = Vec::new();
                if let Some(j) = job {
                    query.push(format!("job={}", segment(&j)));
                }
                if let Some(st) = state {
                    query.push(format!("state={}", segment(&st.to_uppercase())));
                }
                if limit == 0 {
                    bail!("--limit must be at least 1");
                }
                let v = c.pages("/v1/scheduler/runs", &query, Some(limit)).await?;
                c.print(&v, |v| {
                    print_runs(&v["items"]);
                    if v["next_cursor"].is_string() {
                        println!("(the {limit} newest shown; --limit N shows more)");
                    }
                });
            }
            RunsCommand::Get { id } => {
                let v = c.call(Method::GET, &format!("/v1/scheduler/runs/{id}"), None).await?;
                c.print(&v, |v| print_runs(&json!([v])));
            }
            RunsCommand::Log { id, bytes } => {
                let v = c.call(Method::GET, &format!("/v1/scheduler/runs/{id}/log?max_bytes={bytes}"), None).await?;
                c.print(&v, |v| print!("{}", s(&v["log"])));
            }
            RunsCommand::Kill { id } => {
                let v = c.call(Method::POST, &format!("/v1/scheduler/runs/{id}/kill"), None).await?;
                c.print(&v, |_| println!("kill requested for run {id}; it ends once its application has stopped"));
            }
            RunsCommand::Purge { before, older_than } => {
                let before = match (before, older_than) {
                    (Some(instant), _) => instant,
                    (None, Some(age)) => {
                        let secs = crate::cmd::tokens::parse_duration("--older-than", &age)?;
                        let cutoff = jiff::Timestamp::now().as_second().saturating_sub(secs as i64);
                        jiff::Timestamp::from_second(cutoff)
                            .map_err(|_| anyhow::anyhow!("--older-than {age:?} reaches before year -9999"))?
                            .to_string()
                    }
                    (None, None) => bail!("give --before INSTANT or --older-than AGE"),
                };
                let v = c
                    .call(Method::DELETE, &format!("/v1/scheduler/runs?fired_before={}", segment(&before)), None)
                    .await?;
                c.print(&v, |v| {
                    println!(
                        "{} runs fired before {} deleted (each job's latest run kept)",
                        v["deleted"],
                        s(&v["fired_before"])
                    )
                });
            }
        }
        Ok(())
    })
}
