//! `consort provision validate|apply|remove FILE.yaml`: the Witboost provisioner's calls
//! (`/v1/validate`, `/v1/provision`, `/v1/unprovision`) from the command line, with the
//! answers printed for people (or as JSON with `--json`).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cli::{DescriptorArgs, ProvisionCommand, RemoteArgs};
use crate::cmd::remote::{self, Client, s, segment};

/// How long `apply` and `remove` wait for an asynchronous server to finish.
const ASYNC_WAIT: Duration = Duration::from_secs(600);

pub fn run(args: RemoteArgs<ProvisionCommand>) -> anyhow::Result<ExitCode> {
    let mut valid = true;
    let outcome = remote::run(args, async |client, command| {
        match command {
            ProvisionCommand::Validate(descriptor) => {
                let body = request(&descriptor, false)?;
                let (status, answer) = client.exchange(Method::POST, "/v1/validate", Some(body)).await?;
                let answer = success(status, answer)?;
                valid = answer["valid"].as_bool() == Some(true);
                client.print(&answer, print_validation);
            }
            ProvisionCommand::Apply(descriptor) => {
                let body = request(&descriptor, false)?;
                let answer = operation(client, "/v1/provision", body).await?;
                client.print(&answer, print_status);
            }
            ProvisionCommand::Remove { descriptor, remove_data } => {
                let body = request(&descriptor, remove_data)?;
                let answer = operation(client, "/v1/unprovision", body).await?;
                client.print(&answer, print_status);
            }
        }
        Ok(())
    })?;
    Ok(if valid { outcome } else { ExitCode::from(1) })
}

/// The `ProvisioningRequest` for a descriptor file.
fn request(args: &DescriptorArgs, remove_data: bool) -> anyhow::Result<Value> {
    let mut descriptor = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read the descriptor {}", args.file.display()))?;
    if let Some(component) = &args.component {
        if descriptor.lines().any(|l| l.starts_with("componentIdToProvision:")) {
            bail!("{} already names componentIdToProvision; drop --component or edit the file", args.file.display());
        }
        descriptor.push_str(&format!("\ncomponentIdToProvision: {}\n", serde_json::to_string(component)?));
    }
    Ok(json!({"descriptorKind": "COMPONENT_DESCRIPTOR", "descriptor": descriptor, "removeData": remove_data}))
}

/// Sends a provisioning call; a 202 token is polled until the operation ends.
async fn operation(client: &Client, path: &str, body: Value) -> anyhow::Result<Value> {
    let (status, answer) = client.exchange(Method::POST, path, Some(body)).await?;
    if status != StatusCode::ACCEPTED {
        return success(status, answer);
    }
    let Some(token) = answer.as_str() else { bail!("the server answered 202 without a token: {answer}") };
    let started = std::time::Instant::now();
    let mut progress = crate::progress::Progress::new(format!("operation {token}"));
    loop {
        let status_path = format!("/v1/provision/{}/status", segment(token));
        let (status, answer) = client.exchange(Method::GET, &status_path, None).await?;
        let answer = success(status, answer)?;
        progress.state(answer["status"].as_str().unwrap_or("?"));
        if answer["status"] != "RUNNING" {
            progress.done();
            return Ok(answer);
        }
        if started.elapsed() > ASYNC_WAIT {
            bail!("still RUNNING after {ASYNC_WAIT:?}; poll it with: curl .../v1/provision/{token}/status");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The answer of a 2xx; a `RequestValidationError` or `SystemError` becomes an error listing
/// every problem and its fix.
fn success(status: StatusCode, answer: Value) -> anyhow::Result<Value> {
    if status.is_success() {
        return Ok(answer);
    }
    let mut text = answer["userMessage"]
        .as_str()
        .or(answer["error"]["message"].as_str())
        .or(answer["error"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| answer.to_string());
    let problems = answer["moreInfo"]["problems"].as_array().cloned().unwrap_or_default();
    let fixes = answer["moreInfo"]["solutions"].as_array().cloned().unwrap_or_default();
    if problems.len() > 1 {
        for (problem, fix) in problems.iter().zip(fixes.iter()) {
            text.push_str(&format!("\n  - {}\n    fix: {}", s(problem), s(fix)));
        }
    }
    bail!("{text} (HTTP {status})")
}

fn print_validation(answer: &Value) {
    if answer["valid"].as_bool() == Some(true) {
        println!("valid");
        let schedule = &answer["schedule"];
        if schedule.is_object() {
            println!(
                "  schedule: {} ({}): {}",
                s(&schedule["cronExpression"]),
                s(&schedule["timezone"]),
                s(&schedule["explanation"])
            );
            for time in schedule["nextFireTimes"].as_array().into_iter().flatten() {
                println!("    {}", s(time));
            }
        } else {
            println!("  no schedule: the job runs when fired");
        }
        return;
    }
    println!("not valid:");
    let details = answer["error"]["details"].as_array().cloned().unwrap_or_default();
    if details.is_empty() {
        for line in answer["error"]["errors"].as_array().into_iter().flatten() {
            println!("  - {}", s(line));
        }
    }
    for detail in details {
        println!("  - {}", s(&detail["errors"][0]));
        println!("    fix: {}", s(&detail["moreInfo"]["solutions"][0]));
    }
}

fn print_status(answer: &Value) {
    println!("{}: {}", s(&answer["status"]), s(&answer["result"]));
    if let Some(info) = answer["info"]["publicInfo"].as_object() {
        for entry in info.values() {
            let href = entry["href"].as_str().map(|h| format!("  <{h}>")).unwrap_or_default();
            println!("  {}: {}{href}", s(&entry["label"]), s(&entry["value"]));
        }
    }
    for log in answer["logs"].as_array().into_iter().flatten() {
        if log["level"] != "INFO" {
            println!("  {}: {}", s(&log["level"]), s(&log["message"]));
        }
    }
}
