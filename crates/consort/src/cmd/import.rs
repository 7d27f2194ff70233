//! `consort import quartz`: jobs and triggers from a Quartz JDBC store into consort's store.

use std::process::ExitCode;

use anyhow::Context;
use consort_store::{QuartzImportOptions, import_quartz};

use crate::cli::ImportCommand;
use crate::cmd::config;

pub fn run(command: ImportCommand) -> anyhow::Result<ExitCode> {
    let ImportCommand::Quartz { url, scheduler_name, kind, replace, config: args, data_dir } = command;
    let config = config::load(&args, consort_config::Flags { listen: None, data_dir })?;
    let data_dir = config::data_dir(&config);
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let (stores, shown) = consort_runtime::open_stores(&config, &data_dir).await?;
        let options = QuartzImportOptions { scheduler_name, kind, replace };
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let report = import_quartz(&url, stores.scheduler.as_ref(), &options, now_ms)
            .await
            .with_context(|| format!("importing from the Quartz database {}", consort_config::redact_url(&url)))?;
        println!(
            "imported Quartz scheduler {:?} into {shown}: {} job(s), {} trigger(s)",
            report.scheduler_name, report.jobs, report.triggers
        );
        for warning in &report.warnings {
            println!("  warning: {warning}");
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
