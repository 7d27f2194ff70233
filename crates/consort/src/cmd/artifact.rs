//! `consort artifact check`: the jar / Python entry-point check, from the command line.

use std::process::ExitCode;

use anyhow::Context;
use consort_runtime::storage_config;
use consort_storage::{Storage, check_jar, check_python};

use crate::cli::ArtifactCommand;
use crate::cmd::config;

pub fn run(command: ArtifactCommand) -> anyhow::Result<ExitCode> {
    let ArtifactCommand::Check { uri, class, config: args } = command;
    let storage_config = storage_config(&config::load(&args, Default::default())?);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async {
        let storage = Storage::from_uri(&uri, &storage_config).await?;
        if uri.ends_with(".py") && class.is_none() {
            let r = check_python(&storage, &uri).await?;
            let syntax = if r.compiled { "compiles" } else { "syntax not checked (too large, or no python3)" };
            println!("ok: {}: a Python file of {} bytes; {syntax}; read {} bytes", r.uri, r.size, r.bytes_read);
        } else {
            let report = check_jar(&storage, &uri, class.as_deref()).await?;
            println!("ok: {report}");
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
