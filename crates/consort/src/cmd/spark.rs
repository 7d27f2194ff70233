//! `consort spark`: the Spark backends from the command line (the set of backends is
//! `consort_runtime::spark_backends`, shared with `consort serve`).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use consort_spark::{AppSpec, AppState, Launcher, wait_until_final_observed};

use crate::cli::{BackendArgs, SparkCommand};
use crate::cmd::config;

fn launcher(args: &BackendArgs) -> anyhow::Result<Arc<dyn Launcher>> {
    let flags = consort_config::Flags { listen: None, data_dir: args.data_dir.clone() };
    let config = config::load(&args.config, flags)?;
    let data_dir = config::data_dir(&config);
    consort_runtime::spark_backends(&config, &data_dir)?.into_iter().find(|l| l.kind().as_str() == args.backend).ok_or_else(|| {
        anyhow!(
            "backend `{}` is not configured; use local, or configure [spark] standalone_rest_url, yarn_conf_dir, livy_url or kubernetes_image",
            args.backend
        )
    })
}

/// The command that shows an application's logs, with the flags that reached its backend
/// (without them the hint would read another configuration, or another data directory).
fn logs_command(args: &BackendArgs, id: &str) -> String {
    let mut command = format!("consort spark logs --backend {}", shell_word(&args.backend));
    if let Some(file) = &args.config.config {
        command.push_str(&format!(" --config {}", shell_word(&file.display().to_string())));
    }
    if let Some(dir) = &args.data_dir {
        command.push_str(&format!(" --data-dir {}", shell_word(&dir.display().to_string())));
    }
    command.push(' ');
    command.push_str(&shell_word(id));
    command
}

/// `word` as one shell word: single-quoted unless it is plainly safe.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

pub fn run(command: SparkCommand) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        match command {
            SparkCommand::Submit {
                backend,
                class,
                name,
                conf,
                driver_memory,
                executor_memory,
                log_level,
                no_wait,
                app,
                args,
            } => {
                let launcher = launcher(&backend)?;
                let name = name.unwrap_or_else(|| {
                    class.clone().unwrap_or_else(|| {
                        Path::new(&app).file_stem().map_or("app".into(), |s| s.to_string_lossy().into_owned())
                    })
                });
                let mut spec = match class {
                    Some(class) => AppSpec::jar(name, &app, class),
                    None => AppSpec::python(name, &app),
                };
                spec.args = args;
                spec.driver_memory = driver_memory;
                spec.executor_memory = executor_memory;
                spec.log_level = log_level;
                for kv in conf {
                    let (k, v) = kv.split_once('=').ok_or_else(|| anyhow!("--conf `{kv}`: write it as KEY=VALUE"))?;
                    spec.conf.insert(k.to_string(), v.to_string());
                }
                let submission = launcher.submit(&spec).await?;
                println!("submitted {} to {} as {}", spec.resource, launcher.kind(), submission.id);
                if no_wait {
                    return Ok(ExitCode::SUCCESS);
                }
                let mut progress = crate::progress::Progress::new(submission.id.clone());
                let status = wait_until_final_observed(
                    launcher.as_ref(),
                    &submission.id,
                    Duration::from_millis(500),
                    Duration::from_secs(24 * 3600),
                    |status| progress.state(&status.state.to_string()),
                )
                .await
                .context("waiting for the application")?;
                progress.done();
                println!(
                    "{}: {}{}{}",
                    submission.id,
                    status.state,
                    status.app_id.map(|a| format!(" (application {a})")).unwrap_or_default(),
                    status.message.map(|m| format!(": {m}")).unwrap_or_default()
                );
                if status.state == AppState::Succeeded {
                    Ok(ExitCode::SUCCESS)
                } else {
                    eprintln!("logs: {}", logs_command(&backend, &submission.id));
                    Ok(ExitCode::FAILURE)
                }
            }
            SparkCommand::Status { backend, id } => {
                let status = launcher(&backend)?.status(&id).await?;
                println!(
                    "{id}: {}{}{}",
                    status.state,
                    status.app_id.map(|a| format!(" (application {a})")).unwrap_or_default(),
                    status.exit_code.map(|c| format!(", exit code {c}")).unwrap_or_default()
                );
                Ok(ExitCode::SUCCESS)
            }
            SparkCommand::Logs { backend, id, bytes } => {
                print!("{}", launcher(&backend)?.logs(&id, bytes).await?);
                Ok(ExitCode::SUCCESS)
            }
            SparkCommand::Kill { backend, id } => {
                launcher(&backend)?.kill(&id).await?;
                println!("killed {id}");
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::cli::ConfigArgs;

    #[test]
    fn the_logs_hint_carries_the_flags_that_reached_the_backend() {
        let bare = BackendArgs { backend: "local".into(), config: ConfigArgs { config: None }, data_dir: None };
        assert_eq!(logs_command(&bare, "consort-1"), "consort spark logs --backend local consort-1");
        let flagged = BackendArgs {
            backend: "yarn".into(),
            config: ConfigArgs { config: Some(PathBuf::from("/etc/consort/prod.toml")) },
            data_dir: Some(PathBuf::from("/var/lib/my consort")),
        };
        assert_eq!(
            logs_command(&flagged, "application_1_0001"),
            "consort spark logs --backend yarn --config /etc/consort/prod.toml --data-dir '/var/lib/my consort' \
             application_1_0001"
        );
        assert_eq!(shell_word("it's"), "'it'\\''s'");
    }
}
