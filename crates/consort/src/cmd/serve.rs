//! `consort serve`: configuration, logging, state directory, the scheduler on its
//! store, then the HTTP server until SIGTERM or Ctrl-C.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use consort_config::{Config, Flags, LogFormat};
use consort_scheduler::Scheduler;
use tracing_subscriber::EnvFilter;

use crate::cli::ServeArgs;
use crate::cmd::config;

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let flags = Flags { listen: args.listen, data_dir: args.data_dir };
    let config = config::load(&args.config, flags)?;
    let traces = init_logging(&config.log_level, config.log_format, &config.telemetry)?;
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
    let listener_settings = listener_settings(&config)?;
    let served = runtime.block_on(async move {
        // The signal handlers are installed before anything else, so a SIGTERM at any moment
        // from here on (even before the listening line is printed) is a graceful stop.
        let signal = ShutdownSignal::install()?;
        let listener = tokio::net::TcpListener::bind(config.listen).await.with_context(|| {
            format!(
                "cannot listen on {}; is another process using it? Pick another with --listen or CONSORT_LISTEN",
                config.listen
            )
        })?;
        let addr = listener.local_addr()?;
        let scheme = if listener_settings.tls.is_some() { "https" } else { "http" };
        let callback_host = if addr.ip().is_unspecified() { format!("127.0.0.1:{}", addr.port()) } else { addr.to_string() };
        // One registry for the whole process: the scheduler, the `spark` kind and the HTTP layer
        // report to it, `/metrics` encodes it.
        let metrics = Arc::new(consort_server::metrics_api::Metrics::new());
        let started =
            start_scheduler(&config, &data_dir, &format!("{scheme}://{callback_host}"), metrics.clone()).await?;
        let Started { scheduler, stores, backends, cleanrooms } = started;
        let guard = crate::cmd::auth::guard(&config, stores.auth.clone())?;
        if guard.required() {
            crate::cmd::auth::ensure_admin_token(&stores.auth, &data_dir).await?;
        } else {
            tracing::warn!(%addr, "authentication is off (auth.mode = \"none\"): every caller on this machine is an admin");
        }
        // Where it listens goes to stdout for people and scripts; a closed stdout
        // (`consort serve | head -1`) must not stop the server, so errors are ignored.
        let _ = writeln!(
            std::io::stdout().lock(),
            "consort {} listening on {scheme}://{addr}  (data: {})\n  try: curl '{scheme}://{addr}/v1/cron/next?expr=0+15+10+%3F+*+6L&tz=Europe/Rome&count=3'",
            env!("CARGO_PKG_VERSION"),
            data_dir.display()
        );
        tracing::info!(%addr, data_dir = %data_dir.display(), "server started");

        let grace = Duration::from_secs(config.shutdown_grace_secs);
        let (stopping_tx, stopping_rx) = tokio::sync::watch::channel(false);
        let mut state = consort_server::AppState::new(scheduler.clone(), guard);
        state.metrics = metrics;
        state.command_kind = config.jobs.command_kind;
        state.components = Some(stores.provisioner.clone());
        state.provisioner = Some(provisioner_area(&config, &scheduler, &stores, backends).await?);
        state.cleanrooms = Some(cleanroom_area(&config, cleanrooms, &stores).await?);
        let router = consort_server::router(state);
        let mut server = tokio::spawn(consort_server::serve(listener, router, listener_settings, async move {
            let mut stopping_rx = stopping_rx;
            let _ = stopping_rx.wait_for(|stop| *stop).await;
        }));
        // Whatever ends the wait (a signal, or the server failing on its own), the scheduler
        // is stopped below: no branch returns before it.
        let served = tokio::select! {
            result = &mut server => Some(result),
            () = signal.wait() => None,
        };
        let served = match served {
            Some(result) => {
                tracing::error!("the HTTP server stopped by itself; stopping the scheduler");
                result.context("server task").and_then(|r| r.context("serving HTTP"))
            }
            None => {
                tracing::info!(grace_secs = grace.as_secs(), "shutting down");
                let _ = stopping_tx.send(true);
                match tokio::time::timeout(grace, &mut server).await {
                    Ok(result) => result.context("server task").and_then(|r| r.context("serving HTTP")),
                    Err(_) => {
                        tracing::warn!("requests still running after the grace period; stopping anyway");
                        server.abort();
                        Ok(())
                    }
                }
            }
        };
        let stopped = scheduler.stop().await.context("stopping the scheduler");
        tracing::info!("consort stopped");
        served?;
        stopped?;
        anyhow::Ok(())
    });
    // The stop is done ("consort stopped" is logged). Dropping a runtime would wait, without a
    // limit, for every blocking task still running; whatever is left now is abandoned so the
    // process always ends.
    let exiting = std::time::Instant::now();
    runtime.shutdown_timeout(EXIT_WAIT);
    if exiting.elapsed() >= EXIT_WAIT {
        tracing::warn!(
            waited_ms = EXIT_WAIT.as_millis() as u64,
            "blocking work still running after the stop was abandoned"
        );
    }
    // Off the runtime: the exporter's client blocks.
    if let Some(traces) = traces {
        traces.shutdown();
    }
    served?;
    Ok(ExitCode::SUCCESS)
}

/// How long the runtime's last blocking tasks get after the stop, before the process exits.
const EXIT_WAIT: Duration = Duration::from_millis(500);

/// The listener's TLS and limits; the certificate files are loaded here once, so a
/// bad one stops the start before anything else runs.
fn listener_settings(config: &Config) -> anyhow::Result<consort_server::ListenerSettings> {
    let mut settings =
        consort_server::ListenerSettings { max_header_bytes: config.limits.max_header_bytes, ..Default::default() };
    if let (Some(cert), Some(key)) = (&config.tls.cert, &config.tls.key) {
        let tls = consort_server::TlsSettings {
            cert_path: cert.clone(),
            key_path: key.clone(),
            client_ca_path: config.tls.client_ca.clone(),
            client_cert_required: config.tls.client_cert_required,
        };
        consort_server::load_tls(&tls).context("[tls] cert, key or client_ca")?;
        settings.tls = Some(tls);
    }
    Ok(settings)
}

/// What [`start_scheduler`] started.
struct Started {
    scheduler: Arc<Scheduler>,
    stores: consort_store::Stores,
    backends: Vec<Arc<dyn consort_spark::Launcher>>,
    cleanrooms: CleanRooms,
}

/// The clean rooms' parts the scheduler's `cleanroom` kind shares with the API.
struct CleanRooms {
    governance: consort_governance::Governance,
    service_keys: Arc<consort_ledger::DerivedServiceKeys>,
    executor: Option<Arc<consort_runtime::cleanroom::SparkRunExecutor>>,
    simulated_tee: Option<[u8; 32]>,
}

/// Opens every area's store (SQLite in the data directory unless configured), applies
/// migrations, and starts the scheduler's driver with the configured kinds and backends (the
/// `cleanroom` kind launching governed runners that call back `callback_url`).
async fn start_scheduler(
    config: &Config,
    data_dir: &std::path::Path,
    callback_url: &str,
    metrics: Arc<consort_server::metrics_api::Metrics>,
) -> anyhow::Result<Started> {
    use consort_runtime::cleanroom;
    let (stores, shown) = consort_runtime::open_stores(config, data_dir).await?;
    let backends = consort_runtime::spark_backends(config, data_dir)?;
    let (governance, service_keys) = cleanroom::governance(config, data_dir, &stores)?;
    let tee = cleanroom::simulated_tee(config)?;
    let runner =
        cleanroom::runner_settings(config, data_dir, callback_url, &backends, tee.as_ref().map(|t| t.0.clone()))?;
    let executor = runner.clone().map(|settings| Arc::new(cleanroom::SparkRunExecutor::new(settings)));
    let submissions = metrics.clone();
    let on_submit: consort_spark::SubmitObserver =
        Arc::new(move |backend, elapsed, accepted| submissions.spark_submitted(backend, elapsed, accepted));
    let cleanroom_kind = runner.map(|settings| (governance.clone(), settings));
    let kinds = consort_runtime::kinds(config, backends.clone(), cleanroom_kind, Some(on_submit));
    let scheduler = consort_runtime::start_scheduler(config, &stores, kinds, Some(metrics)).await?;
    if let Some(executor) = &executor {
        executor.attach(scheduler.clone());
    }
    tracing::info!(store = %shown, "store opened");
    let cleanrooms = CleanRooms { governance, service_keys, executor, simulated_tee: tee.map(|t| t.1) };
    Ok(Started { scheduler, stores, backends, cleanrooms })
}

/// The clean rooms' API: governance, the ledgers (every clean room's root signer started), the
/// attestation evidence accepted, and the executor of runs.
async fn cleanroom_area(
    config: &Config,
    parts: CleanRooms,
    stores: &consort_store::Stores,
) -> anyhow::Result<Arc<consort_server::CleanRoomArea>> {
    let settings = &config.cleanroom;
    let mut area = consort_server::CleanRoomArea::new(
        parts.governance,
        stores.ledger.clone(),
        parts.service_keys,
        consort_ledger::LedgerConfig::default(),
    );
    let mut verifiers: Vec<Arc<dyn consort_attest::AttestationVerifier>> = Vec::new();
    let mut simulated: Vec<[u8; 32]> = parts.simulated_tee.into_iter().collect();
    if let Some(key) = &settings.simulated_attestation_key {
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .context("cleanroom.simulated_attestation_key")?;
        let raw: [u8; 32] =
            raw.try_into().map_err(|_| anyhow::anyhow!("cleanroom.simulated_attestation_key: not 32 bytes"))?;
        simulated.push(raw);
    }
    for key in simulated {
        verifiers
            .push(Arc::new(consort_attest::SimulatedVerifier::new(&key).context("the simulated TEE's public key")?));
        tracing::warn!("clean rooms accept simulated attestation reports: for development and tests only");
    }
    if settings.sev_snp {
        let mut crls = Vec::with_capacity(settings.sev_snp_crl_files.len());
        for path in &settings.sev_snp_crl_files {
            let der = std::fs::read(path)
                .with_context(|| format!("cleanroom.sev_snp_crl_files: reading {}", path.display()))?;
            crls.push(der);
        }
        let verifier = consort_attest::SnpVerifier::new()
            .with_crls(crls.iter().map(Vec::as_slice))
            .context("cleanroom.sev_snp_crl_files: a file that is not a DER X.509 CRL (AMD serves them as DER)")?;
        verifiers.push(Arc::new(verifier));
    }
    area.verifier = consort_attest::FirstThatVerifies::of(verifiers);
    area.issuer_base_url = settings.issuer_base_url.clone();
    area.runs = parts.executor.map(|e| e as Arc<dyn consort_governance::runs::RunExecutor>);
    area.start_signers().await.context("starting the clean rooms' ledger signers")?;
    Ok(Arc::new(area))
}

/// The Witboost provisioner's dependencies; asynchronous operations left RUNNING by
/// instances that are gone are finished as FAILED so their callers get an answer.
async fn provisioner_area(
    config: &Config,
    scheduler: &Scheduler,
    stores: &consort_store::Stores,
    backends: Vec<Arc<dyn consort_spark::Launcher>>,
) -> anyhow::Result<Arc<consort_server::ProvisionerArea>> {
    let checks = Arc::new(consort_runtime::ArtifactChecks::new(consort_runtime::storage_config(config), backends));
    let settings = consort_runtime::provisioner_settings(config, &checks.backend_names())?;
    let instance = scheduler.config().instance_id.clone();
    let live: Vec<String> =
        scheduler.instances().await.context("listing the cluster's instances")?.into_iter().map(|i| i.id).collect();
    let gone: Vec<String> = stores
        .provisioner
        .task_instances()
        .await
        .context("listing the instances of running provisioner operations")?
        .into_iter()
        .filter(|i| !live.contains(i))
        .collect();
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let failed = consort_server::fail_orphaned_tasks(stores.provisioner.as_ref(), &instance, &gone, now_ms)
        .await
        .context("finishing provisioner operations of stopped instances")?;
    if failed > 0 {
        tracing::warn!(failed, "provisioner operations of stopped instances were marked FAILED");
    }
    Ok(Arc::new(consort_server::ProvisionerArea {
        store: stores.provisioner.clone(),
        checks,
        settings,
        asynchronous: config.provisioner.asynchronous,
        kill_running_on_unprovision: config.provisioner.kill_running_on_unprovision,
        public_url: config.provisioner.public_url.clone(),
        instance,
    }))
}

/// SIGTERM or Ctrl-C (SIGINT), listened for from the moment it is installed: a signal that
/// arrives before anyone waits is kept, not lost to the default action (exit at once).
struct ShutdownSignal {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    fn install() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
            let int = signal(SignalKind::interrupt()).context("listening for SIGINT (Ctrl-C)")?;
            Ok(ShutdownSignal { term, int })
        }
        #[cfg(not(unix))]
        Ok(ShutdownSignal {})
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! { _ = self.term.recv() => {}, _ = self.int.recv() => {} }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Logs to stderr (text or JSON) filtered by `log.level`, and, with `[telemetry]`, spans to the
/// OTLP endpoint filtered on their own ([`crate::telemetry::EXPORTED_SPANS`]), so a quiet log
/// level does not silence traces nor a debug one flood the exporter.
fn init_logging(
    level: &str,
    format: LogFormat,
    telemetry: &consort_config::TelemetrySettings,
) -> anyhow::Result<Option<crate::telemetry::Traces>> {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = EnvFilter::try_new(level)
        .with_context(|| format!("log.level {level:?} is not a valid filter; use error, warn, info, debug or trace"))?;
    use std::io::IsTerminal;
    let fmt = tracing_subscriber::fmt::layer().with_ansi(std::io::stderr().is_terminal()).with_writer(std::io::stderr);
    let fmt = match format {
        LogFormat::Text => fmt.with_filter(filter).boxed(),
        LogFormat::Json => fmt.json().with_filter(filter).boxed(),
    };
    let (otel, traces) = match crate::telemetry::layer(telemetry)? {
        Some((layer, traces)) => {
            (Some(layer.with_filter(EnvFilter::new(crate::telemetry::EXPORTED_SPANS))), Some(traces))
        }
        None => (None, None),
    };
    tracing_subscriber::registry().with(fmt).with(otel).try_init().context("installing the log subscriber")?;
    if let Some(endpoint) = &telemetry.otlp_endpoint {
        tracing::info!(endpoint = %crate::telemetry::traces_url(endpoint), "exporting traces over OTLP");
    }
    Ok(traces)
}
