//! `consort serve`: configuration, logging, state directory, then the HTTP server
//! until SIGTERM or Ctrl-C.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use consort_config::{Flags, LogFormat};
use tracing_subscriber::EnvFilter;

use crate::cli::ServeArgs;
use crate::cmd::config;

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let flags = Flags { listen: args.listen, data_dir: args.data_dir };
    let config = config::load(&args.config, flags)?;
    init_logging(&config.log_level, config.log_format)?;
    let data_dir = config::data_dir(&config);
    std::fs::create_dir_all(&data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}; choose a writable one with --data-dir or CONSORT_DATA_DIR",
            data_dir.display()
        )
    })?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen).await.with_context(|| {
            format!(
                "cannot listen on {}; is another process using it? Pick another with --listen or CONSORT_LISTEN",
                config.listen
            )
        })?;
        let addr = listener.local_addr()?;
        // Where it listens goes to stdout for people and scripts; a closed stdout
        // (`consort serve | head -1`) must not stop the server, so errors are ignored.
        let _ = writeln!(
            std::io::stdout().lock(),
            "consort {} listening on http://{addr}  (data: {})\n  try: curl 'http://{addr}/v1/cron/next?expr=0+15+10+%3F+*+6L&tz=Europe/Rome&count=3'",
            env!("CARGO_PKG_VERSION"),
            data_dir.display()
        );
        tracing::info!(%addr, data_dir = %data_dir.display(), "server started");

        let grace = Duration::from_secs(config.shutdown_grace_secs);
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let router = consort_server::router(consort_server::AppState::new());
        let server = tokio::spawn(consort_server::serve(listener, router, async move {
            shutdown_signal().await;
            let _ = stopping_tx.send(());
        }));
        tokio::pin!(server);
        tokio::select! {
            result = &mut server => return result.context("server task")?.context("serving HTTP"),
            _ = stopping_rx => tracing::info!(grace_secs = grace.as_secs(), "shutting down"),
        }
        match tokio::time::timeout(grace, &mut server).await {
            Ok(result) => result.context("server task")?.context("serving HTTP")?,
            Err(_) => tracing::warn!("requests still running after the grace period; stopping anyway"),
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

fn init_logging(level: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(level)
        .with_context(|| format!("log.level {level:?} is not a valid filter; use error, warn, info, debug or trace"))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}
