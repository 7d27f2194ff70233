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
                    eprintln!("logs: consort spark logs --backend {} {}", launcher.kind(), submission.id);
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
