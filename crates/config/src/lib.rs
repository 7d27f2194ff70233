//! consort's configuration, in two stages.
//!
//! 1. [`Sources`] gathers the raw inputs: the TOML file's text, the environment,
//!    and command-line flags. Reading files and variables is the caller's job;
//!    this crate never does I/O, so every rule here is testable as a pure function.
//! 2. [`Config::resolve`] merges them (flags over environment over file over
//!    defaults) and validates every value, returning errors that name the option,
//!    where it came from, what is wrong and how to fix it.
//!
//! The commented reference file, `consort.example.toml` at the repository root,
//! is parsed by this crate's tests, so it cannot drift from the code.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use serde::Deserialize;

mod alerts;
mod cleanroom;
mod kerberos;
mod provisioner;
mod security;
mod telemetry;
pub use alerts::{AlertSettings, EmailChannel, SmtpTls, WebhookChannel, redact_webhook_url};
pub use cleanroom::CleanRoomSettings;
pub use kerberos::KerberosSection;
pub use provisioner::ProvisionerSettings;
pub use security::{AuthMode, AuthSettings, JobSettings, LimitSettings, OidcIssuerSettings, ROLE_NAMES, TlsSection};
pub use telemetry::TelemetrySettings;

/// The reference configuration file, with every option, its default and its override.
pub const REFERENCE: &str = include_str!("../../../consort.example.toml");

/// The default listen address of `consort serve`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8093";

/// Validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// HTTP API address.
    pub listen: SocketAddr,
    /// State directory; `None` means the per-user default, chosen by the binary.
    pub data_dir: Option<PathBuf>,
    /// Grace period for in-flight requests on shutdown, in seconds.
    pub shutdown_grace_secs: u64,
    /// Log filter (a level or a `tracing` directive list).
    pub log_level: String,
    /// Log output format.
    pub log_format: LogFormat,
    /// Artifact storage settings (no secrets: those come from the environment).
    pub storage: StorageSettings,
    /// Scheduler settings.
    pub scheduler: SchedulerSettings,
    /// Spark backends.
    pub spark: SparkSettings,
    /// Who may call.
    pub auth: AuthSettings,
    /// TLS on the listener.
    pub tls: TlsSection,
    /// Request limits.
    pub limits: LimitSettings,
    /// Job kinds.
    pub jobs: JobSettings,
    /// The Witboost Specific Provisioner.
    pub provisioner: ProvisionerSettings,
    /// The clean rooms.
    pub cleanroom: CleanRoomSettings,
    /// Kerberos for the Hadoop clients; `None`: Hadoop's simple authentication.
    pub kerberos: Option<KerberosSection>,
    /// Alerts: channels and rules (none: off).
    pub alerts: AlertSettings,
    /// OpenTelemetry traces (off without an endpoint).
    pub telemetry: TelemetrySettings,
}

/// `[spark]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SparkSettings {
    /// `SPARK_HOME`; `None` lets the binary look for one.
    pub spark_home: Option<PathBuf>,
    /// Python for PySpark drivers.
    pub python: Option<PathBuf>,
    /// Backend of a job that names none.
    pub default_backend: String,
    /// Master of the local backend.
    pub local_master: String,
    /// Standalone REST URL.
    pub standalone_rest_url: Option<String>,
    /// Standalone master URL.
    pub standalone_master_url: Option<String>,
    /// The standalone master's web UI (driver logs and application ids are read through it).
    pub standalone_ui_url: Option<String>,
    /// Local run directories; `None` means `DATA_DIR/spark-runs`.
    pub work_dir: Option<PathBuf>,
    /// YARN client configuration (`HADOOP_CONF_DIR` holding yarn-site.xml); `None` means
    /// `storage.hdfs.config_dir` when that holds a yarn-site.xml.
    pub yarn_conf_dir: Option<PathBuf>,
    /// The ResourceManager's REST URL; `None` means yarn-site.xml's webapp address.
    pub yarn_rm_url: Option<String>,
    /// `spark.yarn.jars` for every YARN application (where containers find Spark's jars).
    pub yarn_jars: Option<String>,
    /// Kubeconfig of the `kubernetes` backend; `None` infers one as kubectl does.
    pub kubernetes_kubeconfig: Option<PathBuf>,
    /// Namespace of SparkApplications; `None` takes the kubeconfig context's.
    pub kubernetes_namespace: Option<String>,
    /// Spark container image; setting it enables the `kubernetes` backend.
    pub kubernetes_image: Option<String>,
    /// Service account of the driver pods.
    pub kubernetes_service_account: Option<String>,
    /// Batch scheduler (`volcano`, `yunikorn`) that takes a job's `queue`.
    pub kubernetes_batch_scheduler: Option<String>,
    /// Apache Livy's URL; setting it enables the livy backend (credentials come from the environment).
    pub livy_url: Option<String>,
    /// `X-Requested-By` on Livy's POST/DELETE (needed when Livy's CSRF protection is on); empty sends none.
    pub livy_requested_by: String,
    /// Livy's `proxyUser` for every batch (Livy impersonates it; needs
    /// `livy.impersonation.enabled`); unset: batches run as the authenticated caller.
    pub livy_proxy_user: Option<String>,
    /// Path, on Livy's host, of consort's PySpark driver launcher (`deploy/spark/consort-pyspark-driver`):
    /// PySpark batches start Python through it so a killed batch's Python ends with its JVM.
    pub livy_python_launcher: Option<String>,
}

impl Default for SparkSettings {
    fn default() -> Self {
        SparkSettings {
            spark_home: None,
            python: None,
            default_backend: "local".into(),
            local_master: "local[2]".into(),
            standalone_rest_url: None,
            standalone_master_url: None,
            standalone_ui_url: None,
            work_dir: None,
            yarn_conf_dir: None,
            yarn_rm_url: None,
            yarn_jars: None,
            kubernetes_kubeconfig: None,
            kubernetes_namespace: None,
            kubernetes_image: None,
            kubernetes_service_account: None,
            kubernetes_batch_scheduler: None,
            livy_url: None,
            livy_requested_by: "consort".into(),
            livy_proxy_user: None,
            livy_python_launcher: None,
        }
    }
}

/// `[scheduler]`. Its `Debug` hides a password in `store_url`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerSettings {
    /// `sqlite://PATH` or `postgres://…`; `None` means SQLite in the data directory.
    pub store_url: Option<String>,
    /// Instance id; `None` means host name and pid, chosen by the binary.
    pub instance_id: Option<String>,
    /// Connections to the store: PostgreSQL's pool size, or SQLite's read connections beside
    /// its one writer. `None` means each backend's default (8 and 2).
    pub store_connections: Option<usize>,
    /// Misfire threshold, ms.
    pub misfire_threshold_ms: i64,
    /// Check-in interval, ms.
    pub checkin_interval_ms: i64,
    /// Time past its check-in interval before a silent instance is failed over, ms.
    pub failure_grace_ms: i64,
    /// Most concurrent runs on this instance.
    pub max_running: usize,
    /// Most triggers fired in one cycle (one transaction); `None` follows `max_running`, so a
    /// burst that fits the run slots goes out in one cycle.
    pub batch_size: Option<usize>,
    /// Runs fired longer ago than this many days are deleted (each job's latest stays); 0 keeps them.
    pub run_retention_days: i64,
    /// Each job keeps at most this many of its most recent ended runs; 0 keeps them all.
    pub runs_per_job: i64,
    /// Minutes a COMPLETE one-shot, fire-now, recovery or finished simple trigger stays
    /// visible before it is deleted; 0 keeps them.
    pub completed_trigger_retention_minutes: i64,
}

impl fmt::Debug for SchedulerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchedulerSettings")
            .field("store_url", &self.store_url.as_deref().map(redact_url))
            .field("instance_id", &self.instance_id)
            .field("store_connections", &self.store_connections)
            .field("misfire_threshold_ms", &self.misfire_threshold_ms)
            .field("checkin_interval_ms", &self.checkin_interval_ms)
            .field("failure_grace_ms", &self.failure_grace_ms)
            .field("max_running", &self.max_running)
            .field("batch_size", &self.batch_size)
            .field("run_retention_days", &self.run_retention_days)
            .field("runs_per_job", &self.runs_per_job)
            .field("completed_trigger_retention_minutes", &self.completed_trigger_retention_minutes)
            .finish()
    }
}

/// A URL without the password of its user part, for logs, messages and `Debug`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = url[scheme + 3..at].split(':').next().unwrap_or_default();
            format!("{}{user}:***@{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        SchedulerSettings {
            store_url: None,
            instance_id: None,
            store_connections: None,
            misfire_threshold_ms: 60_000,
            checkin_interval_ms: 7_500,
            failure_grace_ms: 7_500,
            max_running: 256,
            batch_size: None,
            run_retention_days: 30,
            runs_per_job: 1000,
            completed_trigger_retention_minutes: 60,
        }
    }
}

/// Upper bound of `scheduler.store_connections`: more than a database serves usefully.
const MAX_STORE_CONNECTIONS: usize = 256;

/// Upper bound of `scheduler.batch_size`: a cycle's transaction stays well under a second.
const MAX_BATCH_SIZE: usize = 10_000;

/// Upper bounds of the retention options: a century, a million runs, a year.
const RETENTION_LIMITS: [(&str, i64, &str); 3] = [
    ("scheduler.run_retention_days", 36_500, "days"),
    ("scheduler.runs_per_job", 1_000_000, "runs"),
    ("scheduler.completed_trigger_retention_minutes", 525_600, "minutes"),
];

impl SchedulerSettings {
    /// Most triggers fired per cycle (`SchedulerConfig::batch_size`): the configured value,
    /// else `max_running`, since a cycle never fires more than the free run slots anyway.
    pub fn batch_size(&self) -> usize {
        self.batch_size.unwrap_or(self.max_running).min(MAX_BATCH_SIZE)
    }

    /// Run history older than this is deleted (`SchedulerConfig::run_retention_ms`).
    pub fn run_retention_ms(&self) -> Option<i64> {
        (self.run_retention_days > 0).then(|| self.run_retention_days * 86_400_000)
    }

    /// Ended runs kept per job (`SchedulerConfig::runs_per_job`).
    pub fn runs_per_job(&self) -> Option<usize> {
        usize::try_from(self.runs_per_job).ok().filter(|n| *n > 0)
    }

    /// How long a COMPLETE simple trigger stays (`SchedulerConfig::spent_trigger_retention_ms`).
    pub fn completed_trigger_retention_ms(&self) -> Option<i64> {
        (self.completed_trigger_retention_minutes > 0).then(|| self.completed_trigger_retention_minutes * 60_000)
    }

    fn check_retention(&self, path: &str) -> Result<(), ConfigError> {
        let values = [self.run_retention_days, self.runs_per_job, self.completed_trigger_retention_minutes];
        for ((option, max, unit), value) in RETENTION_LIMITS.into_iter().zip(values) {
            if !(0..=max).contains(&value) {
                return Err(ConfigError::Invalid {
                    option,
                    value: value.to_string(),
                    origin: Origin::File(path.to_string()),
                    problem: format!("must be 0 (keep everything) or a whole number of {unit} up to {max}"),
                });
            }
        }
        Ok(())
    }
}

/// `[storage]`: where job artifacts are read from. Plain values, mapped onto the
/// storage crate's configuration by the binary.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// `[storage.s3]`.
    #[serde(default)]
    pub s3: S3Settings,
    /// `[storage.azure]`.
    #[serde(default)]
    pub azure: AzureSettings,
    /// `[storage.hdfs]`.
    #[serde(default)]
    pub hdfs: HdfsSettings,
}

/// `[storage.s3]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// Endpoint of an S3-compatible server.
    pub endpoint: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Virtual-host-style bucket addressing.
    #[serde(default)]
    pub virtual_host_style: bool,
}

/// `[storage.azure]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureSettings {
    /// Storage account.
    pub account_name: Option<String>,
    /// Blob endpoint.
    pub endpoint: Option<String>,
}

/// `[storage.hdfs]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HdfsSettings {
    /// Simple-auth user.
    pub user: Option<String>,
    /// Hadoop configuration directory.
    pub config_dir: Option<PathBuf>,
    /// HA nameservices.
    #[serde(default)]
    pub nameservices: Vec<NameserviceSettings>,
}

/// One `[[storage.hdfs.nameservices]]` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameserviceSettings {
    /// Logical name, the URI authority.
    pub name: String,
    /// NameNodes in the order to try them.
    pub namenodes: Vec<NameNodeSettings>,
}

/// One NameNode of a nameservice.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameNodeSettings {
    /// Id within the nameservice, e.g. `nn1`.
    pub name: String,
    /// RPC `host:port`.
    pub rpc: Option<String>,
    /// HTTP `host:port`.
    pub http: Option<String>,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("`{other}` is not a log format; use \"text\" or \"json\"")),
        }
    }
}

/// Where a value came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The configuration file (its path as given).
    File(String),
    /// An environment variable.
    Env(&'static str),
    /// A command-line flag.
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "config file {path}"),
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file is not valid TOML or has unknown or mistyped options.
    #[error(
        "config file {path}: {message}\nSee consort.example.toml (or `consort config reference`) for every option."
    )]
    File {
        /// The file's path as given.
        path: String,
        /// The TOML parser's explanation, with line and column.
        message: String,
    },
    /// One option has an unusable value.
    #[error("{option} = {value:?} (from {origin}): {problem}")]
    Invalid {
        /// The option's name in the file, e.g. `server.listen`.
        option: &'static str,
        /// The value as given.
        value: String,
        /// Where it came from.
        origin: Origin,
        /// What is wrong and how to fix it.
        problem: String,
    },
}

/// The raw inputs to [`Config::resolve`].
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// `(path, contents)` of the configuration file, if one was found.
    pub file: Option<(String, String)>,
    /// Environment variables relevant to consort (`CONSORT_*`).
    pub env: Vec<(String, String)>,
    /// Command-line flags, already parsed.
    pub flags: Flags,
}

/// Options that can also be given as command-line flags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    server: ServerSection,
    #[serde(default)]
    log: LogSection,
    #[serde(default)]
    storage: StorageSettings,
    #[serde(default)]
    scheduler: SchedulerSettings,
    #[serde(default)]
    spark: SparkSettings,
    #[serde(default)]
    auth: AuthSettings,
    #[serde(default)]
    tls: TlsSection,
    #[serde(default)]
    limits: LimitSettings,
    #[serde(default)]
    jobs: JobSettings,
    #[serde(default)]
    provisioner: ProvisionerSettings,
    #[serde(default)]
    cleanroom: CleanRoomSettings,
    kerberos: Option<KerberosSection>,
    #[serde(default)]
    alerts: alerts::AlertsSection,
    #[serde(default)]
    telemetry: TelemetrySettings,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    shutdown_grace_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogSection {
    level: Option<String>,
    format: Option<String>,
}

/// A raw value and where it came from.
struct Given<T> {
    value: T,
    origin: Origin,
}

impl Config {
    /// Merges flags over environment over file over defaults, and validates.
    pub fn resolve(sources: &Sources) -> Result<Config, ConfigError> {
        let (path, file) = match &sources.file {
            Some((path, text)) => {
                let parsed: FileConfig = toml::from_str(text)
                    .map_err(|e| ConfigError::File { path: path.clone(), message: e.to_string() })?;
                (path.clone(), parsed)
            }
            None => (String::new(), FileConfig::default()),
        };
        let env = |name: &'static str| {
            // Storage variables keep their usual names (AZURE_*, HADOOP_*); the rest are CONSORT_*.
            sources
                .env
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| Given { value: v.clone(), origin: Origin::Env(name) })
        };
        let from_file = |value: Option<String>| value.map(|value| Given { value, origin: Origin::File(path.clone()) });

        let listen = sources
            .flags
            .listen
            .clone()
            .map(|value| Given { value, origin: Origin::Flag("--listen") })
            .or_else(|| env("CONSORT_LISTEN"))
            .or_else(|| from_file(file.server.listen))
            .unwrap_or(Given { value: DEFAULT_LISTEN.to_string(), origin: Origin::Flag("(default)") });
        let listen_origin = listen.origin.clone();
        let listen = parse(listen, "server.listen", |v: &str| {
            v.parse::<SocketAddr>().map_err(|_| {
                "not a socket address; use HOST:PORT with a numeric host, e.g. 127.0.0.1:8093 or [::1]:8093".to_string()
            })
        })?;

        let data_dir = sources
            .flags
            .data_dir
            .clone()
            .or_else(|| env("CONSORT_DATA_DIR").map(|g| PathBuf::from(g.value)))
            .or(file.server.data_dir);
        if let Some(dir) = &data_dir
            && dir.as_os_str().is_empty()
        {
            return Err(ConfigError::Invalid {
                option: "server.data_dir",
                value: String::new(),
                origin: Origin::Flag("--data-dir"),
                problem: "must not be empty; give a directory path or leave it out for the per-user default".into(),
            });
        }

        let grace = env("CONSORT_SHUTDOWN_GRACE_SECS")
            .or_else(|| from_file(file.server.shutdown_grace_secs.map(|v| v.to_string())));
        let shutdown_grace_secs = match grace {
            Some(g) => parse(g, "server.shutdown_grace_secs", |v: &str| {
                v.parse::<u64>().map_err(|_| "must be a whole number of seconds, e.g. 10".to_string())
            })?,
            None => 10,
        };

        let log_level =
            env("CONSORT_LOG").or_else(|| from_file(file.log.level)).map_or("info".to_string(), |g| g.value);
        if log_level.trim().is_empty() {
            return Err(ConfigError::Invalid {
                option: "log.level",
                value: log_level,
                origin: Origin::Env("CONSORT_LOG"),
                problem: "must not be empty; use error, warn, info, debug or trace".into(),
            });
        }
        let log_format = match env("CONSORT_LOG_FORMAT").or_else(|| from_file(file.log.format)) {
            Some(g) => parse(g, "log.format", |v: &str| v.parse::<LogFormat>())?,
            None => LogFormat::Text,
        };

        let mut storage = file.storage;
        if let Some(g) = env("CONSORT_S3_ENDPOINT") {
            storage.s3.endpoint = Some(g.value);
        }
        if let Some(g) = env("AZURE_STORAGE_ACCOUNT") {
            storage.azure.account_name = Some(g.value);
        }
        if let Some(g) = env("HADOOP_CONF_DIR") {
            storage.hdfs.config_dir = Some(PathBuf::from(g.value));
        }
        for ns in &storage.hdfs.nameservices {
            if ns.namenodes.is_empty() || ns.namenodes.iter().any(|nn| nn.rpc.is_none() && nn.http.is_none()) {
                return Err(ConfigError::Invalid {
                    option: "storage.hdfs.nameservices",
                    value: ns.name.clone(),
                    origin: Origin::File(path.clone()),
                    problem: "every NameNode needs an rpc or http address, e.g. { name = \"nn1\", rpc = \"nn1:8020\", http = \"nn1:9870\" }".into(),
                });
            }
        }

        let mut scheduler = file.scheduler;
        if let Some(g) = env("CONSORT_STORE_URL") {
            scheduler.store_url = Some(g.value);
        }
        if let Some(g) = env("CONSORT_INSTANCE_ID") {
            scheduler.instance_id = Some(g.value);
        }
        if let Some(url) = &scheduler.store_url
            && !(url.starts_with("sqlite://") || url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid {
                option: "scheduler.store_url",
                // Never echo a URL that may hold a password.
                value: url.split('@').next_back().unwrap_or_default().to_string(),
                origin: Origin::Env("CONSORT_STORE_URL"),
                problem: "use sqlite://PATH or postgres://USER@HOST:PORT/DATABASE".into(),
            });
        }
        for (option, value) in [
            ("scheduler.misfire_threshold_ms", scheduler.misfire_threshold_ms),
            ("scheduler.checkin_interval_ms", scheduler.checkin_interval_ms),
            ("scheduler.failure_grace_ms", scheduler.failure_grace_ms),
        ] {
            if value <= 0 {
                return Err(ConfigError::Invalid {
                    option,
                    value: value.to_string(),
                    origin: Origin::File(path.clone()),
                    problem: "must be a positive number of milliseconds".into(),
                });
            }
        }
        scheduler.check_retention(&path)?;
        if let Some(n) = scheduler.store_connections
            && n > MAX_STORE_CONNECTIONS
        {
            return Err(ConfigError::Invalid {
                option: "scheduler.store_connections",
                value: n.to_string(),
                origin: Origin::File(path.clone()),
                problem: format!(
                    "must be at most {MAX_STORE_CONNECTIONS} (PostgreSQL: the pool's size; SQLite: read \
                     connections beside the writer, 0 for none)"
                ),
            });
        }
        if scheduler.max_running == 0 {
            return Err(ConfigError::Invalid {
                option: "scheduler.max_running",
                value: "0".into(),
                origin: Origin::File(path.clone()),
                problem: "must be at least 1".into(),
            });
        }
        if let Some(n) = scheduler.batch_size
            && !(1..=MAX_BATCH_SIZE).contains(&n)
        {
            return Err(ConfigError::Invalid {
                option: "scheduler.batch_size",
                value: n.to_string(),
                origin: Origin::File(path.clone()),
                problem: format!(
                    "must be 1 to {MAX_BATCH_SIZE} triggers per cycle (leave it unset to follow \
                     scheduler.max_running)"
                ),
            });
        }

        let mut spark = file.spark;
        if let Some(g) = env("SPARK_HOME") {
            spark.spark_home = Some(PathBuf::from(g.value));
        }
        if let Some(g) = env("PYSPARK_PYTHON") {
            spark.python = Some(PathBuf::from(g.value));
        }
        if let Some(g) = env("CONSORT_LIVY_URL") {
            spark.livy_url = Some(g.value);
        }
        if !["local", "standalone", "yarn", "livy", "kubernetes"].contains(&spark.default_backend.as_str()) {
            return Err(ConfigError::Invalid {
                option: "spark.default_backend",
                value: spark.default_backend.clone(),
                origin: Origin::File(path.clone()),
                problem: "use \"local\", \"standalone\", \"yarn\", \"livy\" or \"kubernetes\"".into(),
            });
        }
        if let Some(url) = &spark.livy_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                option: "spark.livy_url",
                value: url.clone(),
                origin: if env("CONSORT_LIVY_URL").is_some() {
                    Origin::Env("CONSORT_LIVY_URL")
                } else {
                    Origin::File(path.clone())
                },
                problem: "use Livy's base URL, e.g. http://livy.example.com:8998".into(),
            });
        }
        if spark.default_backend == "livy" && spark.livy_url.is_none() {
            return Err(ConfigError::Invalid {
                option: "spark.default_backend",
                value: "livy".into(),
                origin: Origin::File(path.clone()),
                problem: "the livy backend needs [spark] livy_url (or CONSORT_LIVY_URL), e.g. http://127.0.0.1:8998"
                    .into(),
            });
        }
        // Spark runs it as a command: an absolute path, or a name found on Livy's PATH.
        if let Some(launcher) = &spark.livy_python_launcher
            && (launcher.trim().is_empty() || (launcher.contains('/') && !launcher.starts_with('/')))
        {
            return Err(ConfigError::Invalid {
                option: "spark.livy_python_launcher",
                value: launcher.clone(),
                origin: Origin::File(path.clone()),
                problem: "give the launcher's absolute path on Livy's host (or a command name on its PATH), e.g. /opt/consort/consort-pyspark-driver".into(),
            });
        }
        if let Some(url) = &spark.yarn_rm_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                option: "spark.yarn_rm_url",
                value: url.clone(),
                origin: Origin::File(path.clone()),
                problem: "use the ResourceManager's web address, e.g. http://rm.example.com:8088".into(),
            });
        }
        let yarn_conf_dir = spark.yarn_conf_dir.as_ref().or(storage.hdfs.config_dir.as_ref());
        if yarn_conf_dir.is_none() && (spark.default_backend == "yarn" || spark.yarn_rm_url.is_some()) {
            return Err(ConfigError::Invalid {
                option: "spark.yarn_conf_dir",
                value: String::new(),
                origin: Origin::File(path.clone()),
                problem: "the yarn backend needs the cluster's client configuration: set yarn_conf_dir (or HADOOP_CONF_DIR) to the directory holding yarn-site.xml and core-site.xml".into(),
            });
        }
        if spark.yarn_jars.as_deref().is_some_and(|j| j.trim().is_empty()) {
            return Err(ConfigError::Invalid {
                option: "spark.yarn_jars",
                value: String::new(),
                origin: Origin::File(path.clone()),
                problem: "leave it out, or name where containers find Spark's jars, e.g. hdfs:///spark/jars/*.jar"
                    .into(),
            });
        }
        check_kubernetes(&spark, &path)?;
        if spark.standalone_rest_url.is_some() != spark.standalone_master_url.is_some() {
            return Err(ConfigError::Invalid {
                option: "spark.standalone_rest_url",
                value: spark.standalone_rest_url.clone().unwrap_or_default(),
                origin: Origin::File(path.clone()),
                problem: "set both standalone_rest_url (http://HOST:6066) and standalone_master_url (spark://HOST:7077), or neither".into(),
            });
        }

        let mut auth = file.auth;
        let auth_origin = match env("CONSORT_AUTH_MODE") {
            Some(g) => {
                auth.mode = g.value;
                g.origin
            }
            None => Origin::File(path.clone()),
        };
        let mut jobs = file.jobs;
        if let Some(g) = env("CONSORT_COMMAND_KIND") {
            jobs.command_kind = parse(g, "jobs.command_kind", |v: &str| {
                v.parse::<bool>().map_err(|_| "use true or false".to_string())
            })?;
        }
        security::check(listen, &listen_origin, &auth, auth_origin, &file.tls, &file.limits, &path)?;
        let mut provisioner = file.provisioner;
        if let Some(g) = env("CONSORT_PROVISIONER_ASYNC") {
            provisioner.asynchronous = parse(g, "provisioner.asynchronous", |v: &str| {
                v.parse::<bool>().map_err(|_| "use true or false".to_string())
            })?;
        }
        provisioner.validate(&path)?;
        file.cleanroom.validate(&path)?;
        let alerts = file.alerts.validate(&path)?;
        let mut telemetry = file.telemetry;
        let mut endpoint_origin = Origin::File(path.clone());
        if let Some(g) = env("CONSORT_OTLP_ENDPOINT") {
            telemetry.otlp_endpoint = Some(g.value).filter(|v| !v.is_empty());
            endpoint_origin = g.origin;
        }
        telemetry.validate(&endpoint_origin, &path)?;
        let mut kerberos = file.kerberos;
        let mut kerberos_origin = Origin::File(path.clone());
        for name in ["CONSORT_KERBEROS_PRINCIPAL", "CONSORT_KERBEROS_KEYTAB"] {
            if let Some(g) = env(name) {
                let section = kerberos.get_or_insert_with(KerberosSection::default);
                match name {
                    "CONSORT_KERBEROS_PRINCIPAL" => section.principal = Some(g.value),
                    _ => section.keytab = Some(PathBuf::from(g.value)),
                }
                kerberos_origin = g.origin;
            }
        }
        if let Some(k) = &kerberos {
            k.validate(&kerberos_origin)?;
        }

        Ok(Config {
            listen,
            data_dir,
            shutdown_grace_secs,
            log_level,
            log_format,
            storage,
            scheduler,
            spark,
            auth,
            tls: file.tls,
            limits: file.limits,
            jobs,
            provisioner,
            cleanroom: file.cleanroom,
            kerberos,
            alerts,
            telemetry,
        })
    }
}

fn parse<T>(
    given: Given<String>,
    option: &'static str,
    f: impl Fn(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    f(&given.value).map_err(|problem| ConfigError::Invalid {
        option,
        value: given.value.clone(),
        origin: given.origin,
        problem,
    })
}

/// The `kubernetes` backend's fields: the image enables it, the others need it; names are DNS-1123.
fn check_kubernetes(spark: &SparkSettings, path: &str) -> Result<(), ConfigError> {
    let invalid = |option: &'static str, value: &str, problem: String| ConfigError::Invalid {
        option,
        value: value.to_string(),
        origin: Origin::File(path.to_string()),
        problem,
    };
    let others = [
        ("spark.kubernetes_kubeconfig", spark.kubernetes_kubeconfig.as_ref().map(|p| p.display().to_string())),
        ("spark.kubernetes_namespace", spark.kubernetes_namespace.clone()),
        ("spark.kubernetes_service_account", spark.kubernetes_service_account.clone()),
        ("spark.kubernetes_batch_scheduler", spark.kubernetes_batch_scheduler.clone()),
    ];
    match spark.kubernetes_image.as_deref() {
        Some(image) if image.trim().is_empty() || image.contains(char::is_whitespace) => {
            return Err(invalid(
                "spark.kubernetes_image",
                image,
                "must be a container image reference, e.g. \"apache/spark:4.0.1\"".into(),
            ));
        }
        Some(_) => {}
        None => {
            if let Some((option, Some(value))) = others.iter().find(|(_, v)| v.is_some()) {
                return Err(invalid(
                    option,
                    value,
                    "the kubernetes backend also needs kubernetes_image (the Spark container image, e.g. \
                     \"apache/spark:4.0.1\"); set it, or remove the kubernetes_* options"
                        .into(),
                ));
            }
            if spark.default_backend == "kubernetes" {
                return Err(invalid(
                    "spark.default_backend",
                    "kubernetes",
                    "the kubernetes backend is not configured; set kubernetes_image to enable it".into(),
                ));
            }
        }
    }
    for (option, value) in [
        ("spark.kubernetes_namespace", &spark.kubernetes_namespace),
        ("spark.kubernetes_service_account", &spark.kubernetes_service_account),
    ] {
        if let Some(name) = value
            && !is_dns_label(name)
        {
            return Err(invalid(
                option,
                name,
                "must be a Kubernetes name: lower-case letters, digits and '-', at most 63, starting and ending \
                 with a letter or digit"
                    .into(),
            ));
        }
    }
    Ok(())
}

fn is_dns_label(name: &str) -> bool {
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| ok(c) || c == '-')
        && name.starts_with(ok)
        && name.ends_with(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Sources {
        Sources { file: Some(("consort.toml".into(), text.into())), ..Default::default() }
    }

    #[test]
    fn defaults_without_any_source() {
        let c = Config::resolve(&Sources::default()).unwrap();
        assert_eq!(c.listen, DEFAULT_LISTEN.parse().unwrap());
        assert_eq!(c.data_dir, None);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.shutdown_grace_secs, 10);
    }

    #[test]
    fn reference_file_parses_to_the_defaults() {
        let from_reference = Config::resolve(&file(REFERENCE)).unwrap();
        assert_eq!(from_reference, Config::resolve(&Sources::default()).unwrap());
    }

    #[test]
    fn scheduler_section_validates_and_hides_passwords() {
        let c = Config::resolve(&file("[scheduler]\nstore_connections = 0\n")).unwrap();
        assert_eq!(c.scheduler.store_connections, Some(0));
        let err = Config::resolve(&file("[scheduler]\nstore_connections = 257\n")).unwrap_err().to_string();
        assert!(err.contains("scheduler.store_connections") && err.contains("at most 256"), "{err}");
        let c = Config::resolve(&file("[scheduler]\nmax_running = 4\n")).unwrap();
        assert_eq!((c.scheduler.max_running, c.scheduler.misfire_threshold_ms), (4, 60_000));
        assert_eq!(c.scheduler.batch_size(), 4, "the batch follows the run slots");
        let c = Config::resolve(&file("[scheduler]\nmax_running = 4096\n")).unwrap();
        assert_eq!(c.scheduler.batch_size(), 4096);
        let c = Config::resolve(&file("[scheduler]\nmax_running = 4096\nbatch_size = 500\n")).unwrap();
        assert_eq!(c.scheduler.batch_size(), 500);
        for bad in ["0", "10001"] {
            let err = Config::resolve(&file(&format!("[scheduler]\nbatch_size = {bad}\n"))).unwrap_err().to_string();
            assert!(err.contains("scheduler.batch_size") && err.contains("max_running"), "{err}");
        }
        let mut s = Sources::default();
        s.env.push(("CONSORT_STORE_URL".into(), "mysql://root:hunter2@db/consort".into()));
        let err = Config::resolve(&s).unwrap_err().to_string();
        assert!(
            err.contains("scheduler.store_url") && err.contains("postgres://") && !err.contains("hunter2"),
            "{err}"
        );
        let err = Config::resolve(&file("[scheduler]\ncheckin_interval_ms = 0\n")).unwrap_err().to_string();
        assert!(err.contains("checkin_interval_ms"), "{err}");
    }

    #[test]
    fn retention_has_defaults_can_be_turned_off_and_refuses_out_of_range_values() {
        let c = Config::resolve(&Sources::default()).unwrap();
        assert_eq!(c.scheduler.run_retention_ms(), Some(30 * 86_400_000));
        assert_eq!(c.scheduler.runs_per_job(), Some(1000));
        assert_eq!(c.scheduler.completed_trigger_retention_ms(), Some(3_600_000));

        let off = "[scheduler]\nrun_retention_days = 0\nruns_per_job = 0\ncompleted_trigger_retention_minutes = 0\n";
        let c = Config::resolve(&file(off)).unwrap();
        assert_eq!(
            (c.scheduler.run_retention_ms(), c.scheduler.runs_per_job(), c.scheduler.completed_trigger_retention_ms()),
            (None, None, None)
        );
        let c = Config::resolve(&file("[scheduler]\nrun_retention_days = 7\nruns_per_job = 20\n")).unwrap();
        assert_eq!((c.scheduler.run_retention_ms(), c.scheduler.runs_per_job()), (Some(7 * 86_400_000), Some(20)));

        for (text, option) in [
            ("run_retention_days = -1", "scheduler.run_retention_days"),
            ("runs_per_job = 1000001", "scheduler.runs_per_job"),
            ("completed_trigger_retention_minutes = -5", "scheduler.completed_trigger_retention_minutes"),
        ] {
            let err = Config::resolve(&file(&format!("[scheduler]\n{text}\n"))).unwrap_err().to_string();
            assert!(
                err.starts_with(option) && err.contains("consort.toml") && err.contains("0 (keep everything)"),
                "{err}"
            );
        }
        let err = Config::resolve(&file("[scheduler]\nruns_per_job = \"all\"\n")).unwrap_err().to_string();
        assert!(err.contains("runs_per_job"), "{err}");
    }

    #[test]
    fn spark_section_checks_backends() {
        let err = Config::resolve(&file("[spark]\ndefault_backend = \"mesos\"\n")).unwrap_err().to_string();
        assert!(err.contains("spark.default_backend") && err.contains("standalone"), "{err}");
        let err = Config::resolve(&file("[spark]\nstandalone_rest_url = \"http://h:6066\"\n")).unwrap_err().to_string();
        assert!(err.contains("standalone_master_url"), "{err}");
        let err = Config::resolve(&file("[spark]\ndefault_backend = \"kubernetes\"\n")).unwrap_err().to_string();
        assert!(err.contains("kubernetes_image"), "{err}");
        let mut s = file("[spark]\nspark_home = \"/opt/spark\"\n");
        s.env.push(("SPARK_HOME".into(), "/srv/spark".into()));
        assert_eq!(Config::resolve(&s).unwrap().spark.spark_home, Some(PathBuf::from("/srv/spark")));
    }

    #[test]
    fn spark_yarn_fields() {
        let c = Config::resolve(&file(
            "[spark]\ndefault_backend = \"yarn\"\nyarn_conf_dir = \"/etc/hadoop/conf\"\nyarn_rm_url = \"http://rm:8088\"\nyarn_jars = \"hdfs:///spark/jars/*.jar\"\n",
        ))
        .unwrap();
        assert_eq!(c.spark.yarn_conf_dir, Some(PathBuf::from("/etc/hadoop/conf")));
        assert_eq!(c.spark.yarn_rm_url.as_deref(), Some("http://rm:8088"));
        assert_eq!(c.spark.yarn_jars.as_deref(), Some("hdfs:///spark/jars/*.jar"));
        // HADOOP_CONF_DIR is enough to choose yarn.
        let mut s = file("[spark]\ndefault_backend = \"yarn\"\n");
        let err = Config::resolve(&s).unwrap_err().to_string();
        assert!(err.contains("spark.yarn_conf_dir") && err.contains("HADOOP_CONF_DIR"), "{err}");
        s.env.push(("HADOOP_CONF_DIR".into(), "/etc/hadoop/conf".into()));
        assert_eq!(Config::resolve(&s).unwrap().spark.default_backend, "yarn");
        let err = Config::resolve(&file("[spark]\nyarn_conf_dir = \"/c\"\nyarn_rm_url = \"rm:8088\"\n")).unwrap_err();
        assert!(err.to_string().contains("spark.yarn_rm_url") && err.to_string().contains("http://"), "{err}");
        let err = Config::resolve(&file("[spark]\nyarn_jars = \" \"\n")).unwrap_err();
        assert!(err.to_string().contains("spark.yarn_jars"), "{err}");
    }

    #[test]
    fn kubernetes_backend_needs_its_image() {
        let c = Config::resolve(&file(
            "[spark]\ndefault_backend = \"kubernetes\"\nkubernetes_image = \"apache/spark:4.0.1\"\n\
             kubernetes_namespace = \"spark-jobs\"\nkubernetes_kubeconfig = \"/etc/consort/kubeconfig\"\n\
             kubernetes_service_account = \"spark\"\nkubernetes_batch_scheduler = \"volcano\"\n",
        ))
        .unwrap();
        assert_eq!(c.spark.kubernetes_image.as_deref(), Some("apache/spark:4.0.1"));
        assert_eq!(c.spark.kubernetes_kubeconfig, Some(PathBuf::from("/etc/consort/kubeconfig")));
        assert_eq!(c.spark.kubernetes_batch_scheduler.as_deref(), Some("volcano"));
        let err = Config::resolve(&file("[spark]\nkubernetes_namespace = \"spark-jobs\"\n")).unwrap_err().to_string();
        assert!(err.contains("spark.kubernetes_namespace") && err.contains("kubernetes_image"), "{err}");
        let err =
            Config::resolve(&file("[spark]\nkubernetes_image = \"spark\"\nkubernetes_namespace = \"Spark_Jobs\"\n"))
                .unwrap_err()
                .to_string();
        assert!(err.contains("spark.kubernetes_namespace") && err.contains("lower-case"), "{err}");
        let err = Config::resolve(&file("[spark]\nkubernetes_image = \" \"\n")).unwrap_err().to_string();
        assert!(err.contains("spark.kubernetes_image"), "{err}");
    }

    #[test]
    fn spark_livy_settings() {
        let c = Config::resolve(&file("[spark]\ndefault_backend = \"livy\"\nlivy_url = \"http://h:8998\"\n")).unwrap();
        assert_eq!((c.spark.default_backend.as_str(), c.spark.livy_url.as_deref()), ("livy", Some("http://h:8998")));
        assert_eq!(c.spark.livy_requested_by, "consort");
        let err = Config::resolve(&file("[spark]\ndefault_backend = \"livy\"\n")).unwrap_err().to_string();
        assert!(err.contains("spark.default_backend") && err.contains("livy_url"), "{err}");
        let err = Config::resolve(&file("[spark]\nlivy_url = \"h:8998\"\n")).unwrap_err().to_string();
        assert!(err.contains("spark.livy_url") && err.contains("http://"), "{err}");
        let mut s = file("[spark]\nlivy_url = \"http://h:8998\"\nlivy_requested_by = \"\"\n");
        s.env.push(("CONSORT_LIVY_URL".into(), "https://livy:8998".into()));
        let c = Config::resolve(&s).unwrap();
        assert_eq!((c.spark.livy_url.as_deref(), c.spark.livy_requested_by.as_str()), (Some("https://livy:8998"), ""));
        assert_eq!(c.spark.livy_python_launcher, None);
        let c = Config::resolve(&file("[spark]\nlivy_python_launcher = \"/opt/consort/consort-pyspark-driver\"\n"))
            .unwrap();
        assert_eq!(c.spark.livy_python_launcher.as_deref(), Some("/opt/consort/consort-pyspark-driver"));
        for relative in ["bin/consort-pyspark-driver", " "] {
            let text = format!("[spark]\nlivy_python_launcher = \"{relative}\"\n");
            let err = Config::resolve(&file(&text)).unwrap_err().to_string();
            assert!(err.contains("spark.livy_python_launcher") && err.contains("absolute path"), "{err}");
        }
    }

    #[test]
    fn storage_section_and_its_environment() {
        let mut s = file(
            "[storage.s3]\nendpoint = \"http://127.0.0.1:9000\"\n[[storage.hdfs.nameservices]]\nname = \"ns1\"\nnamenodes = [{ name = \"nn1\", rpc = \"h:8020\" }]\n",
        );
        let c = Config::resolve(&s).unwrap();
        assert_eq!(c.storage.s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(c.storage.hdfs.nameservices[0].namenodes[0].rpc.as_deref(), Some("h:8020"));
        s.env.push(("CONSORT_S3_ENDPOINT".into(), "http://127.0.0.1:9999".into()));
        assert_eq!(Config::resolve(&s).unwrap().storage.s3.endpoint.as_deref(), Some("http://127.0.0.1:9999"));

        let err =
            Config::resolve(&file("[[storage.hdfs.nameservices]]\nname = \"ns1\"\nnamenodes = []\n")).unwrap_err();
        assert!(err.to_string().contains("storage.hdfs.nameservices") && err.to_string().contains("rpc"), "{err}");
    }

    #[test]
    fn flags_beat_environment_beat_file() {
        let mut s = file("[server]\nlisten = \"127.0.0.1:1\"\n");
        assert_eq!(Config::resolve(&s).unwrap().listen.port(), 1);
        s.env.push(("CONSORT_LISTEN".into(), "127.0.0.1:2".into()));
        assert_eq!(Config::resolve(&s).unwrap().listen.port(), 2);
        s.flags.listen = Some("127.0.0.1:3".into());
        assert_eq!(Config::resolve(&s).unwrap().listen.port(), 3);
    }

    #[test]
    fn errors_name_the_option_origin_and_fix() {
        let err = Config::resolve(&file("[server]\nlisten = \"localhost\"\n")).unwrap_err().to_string();
        assert!(
            err.contains("server.listen") && err.contains("config file consort.toml") && err.contains("HOST:PORT"),
            "{err}"
        );

        let mut s = Sources::default();
        s.env.push(("CONSORT_LOG_FORMAT".into(), "xml".into()));
        let err = Config::resolve(&s).unwrap_err().to_string();
        assert!(err.contains("log.format") && err.contains("CONSORT_LOG_FORMAT") && err.contains("\"json\""), "{err}");

        let err = Config::resolve(&file("[server]\nlisten_addr = \"x\"\n")).unwrap_err().to_string();
        assert!(err.contains("unknown field `listen_addr`") && err.contains("consort.example.toml"), "{err}");

        let err = Config::resolve(&file("[server\n")).unwrap_err().to_string();
        assert!(err.contains("consort.toml") && err.contains("line 1"), "{err}");
    }
}

#[cfg(test)]
mod security_tests {
    use super::*;

    fn resolve(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::resolve(&Sources {
            file: Some(("consort.toml".into(), text.into())),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        })
    }

    fn problem(text: &str, env: &[(&str, &str)]) -> String {
        resolve(text, env).unwrap_err().to_string()
    }

    #[test]
    fn debug_hides_the_store_password() {
        let c = resolve("", &[("CONSORT_STORE_URL", "postgres://consort:s3cret@db:5432/consort")]).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret") && shown.contains("consort:***@db:5432"), "{shown}");
    }

    #[test]
    fn safe_defaults() {
        let c = Config::resolve(&Sources::default()).unwrap();
        assert_eq!(c.auth.auth_mode(), AuthMode::Token);
        assert!(!c.jobs.command_kind);
        assert_eq!(c.limits.max_body_bytes, 1 << 20);
        assert!(c.tls.cert.is_none());
    }

    #[test]
    fn auth_off_only_on_loopback() {
        assert_eq!(resolve("[auth]\nmode = \"none\"", &[]).unwrap().auth.auth_mode(), AuthMode::None);
        let e = problem("[server]\nlisten = \"0.0.0.0:8093\"\n[auth]\nmode = \"none\"", &[]);
        assert!(e.starts_with("auth.mode = \"none\""), "{e}");
        assert!(e.contains("only on a loopback address"), "{e}");
        let e = problem("", &[("CONSORT_AUTH_MODE", "none"), ("CONSORT_LISTEN", "0.0.0.0:1")]);
        assert!(e.contains("environment variable CONSORT_AUTH_MODE"), "{e}");
        assert!(problem("[auth]\nmode = \"off\"", &[]).contains("use \"token\""));
    }

    #[test]
    fn non_loopback_needs_tls_or_says_it_ends_upstream() {
        let e = problem("[server]\nlisten = \"0.0.0.0:8093\"", &[]);
        assert!(e.starts_with("server.listen = \"0.0.0.0:8093\""), "{e}");
        assert!(e.contains("tls.terminated_upstream"), "{e}");
        resolve("[server]\nlisten = \"0.0.0.0:8093\"\n[tls]\nterminated_upstream = true", &[]).unwrap();
        resolve("[server]\nlisten = \"0.0.0.0:8093\"\n[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"", &[]).unwrap();
    }

    #[test]
    fn tls_fields_go_together() {
        assert!(problem("[tls]\ncert = \"c.pem\"", &[]).starts_with("tls.key"));
        assert!(problem("[tls]\nclient_ca = \"ca.pem\"", &[]).starts_with("tls.client_ca"));
        assert!(
            problem("[tls]\ncert = \"c\"\nkey = \"k\"\nclient_cert_required = true", &[])
                .starts_with("tls.client_cert_required")
        );
    }

    #[test]
    fn roles_and_issuers_are_checked() {
        let e = problem("[auth.client_cert_roles]\nops = \"root\"", &[]);
        assert!(e.contains("admin, operator, provisioner, viewer, cleanroom"), "{e}");
        let e = problem("[[auth.oidc]]\nissuer = \"https://idp\"\naudiences = []", &[]);
        assert!(e.starts_with("auth.oidc.audiences"), "{e}");
        let c = resolve(
            "[[auth.oidc]]\nissuer = \"https://idp\"\naudiences = [\"consort\"]\nrole_map = { etl = \"operator\" }",
            &[],
        )
        .unwrap();
        assert_eq!(c.auth.oidc[0].roles_claim, "groups");
        assert_eq!(c.auth.oidc[0].leeway_secs, 30);
    }

    #[test]
    fn command_kind_is_opt_in() {
        assert!(resolve("[jobs]\ncommand_kind = true", &[]).unwrap().jobs.command_kind);
        assert!(resolve("", &[("CONSORT_COMMAND_KIND", "true")]).unwrap().jobs.command_kind);
        assert!(problem("", &[("CONSORT_COMMAND_KIND", "yes")]).starts_with("jobs.command_kind"));
    }
}

#[cfg(test)]
mod provisioner_tests {
    use super::*;

    fn resolve(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::resolve(&Sources {
            file: Some(("consort.toml".into(), text.into())),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            flags: Flags::default(),
        })
    }

    #[test]
    fn provisioner_defaults_are_synchronous_and_utc() {
        let c = resolve("", &[]).unwrap();
        assert!(!c.provisioner.asynchronous);
        assert_eq!(c.provisioner.default_timezone, "UTC");
        assert!(c.provisioner.job_name_rule);
        assert!(!c.provisioner.kill_running_on_unprovision);
    }

    #[test]
    fn provisioner_options_are_read_and_checked() {
        assert!(resolve("", &[("CONSORT_PROVISIONER_ASYNC", "true")]).unwrap().provisioner.asynchronous);
        let e = resolve("", &[("CONSORT_PROVISIONER_ASYNC", "sometimes")]).unwrap_err().to_string();
        assert!(e.starts_with("provisioner.asynchronous"), "{e}");
        let e = resolve("[provisioner]\nnext_fire_count = 0", &[]).unwrap_err().to_string();
        assert!(e.starts_with("provisioner.next_fire_count") && e.contains("between 1 and 50"), "{e}");
        let e = resolve("[provisioner]\npublic_url = \"consort.example.com\"", &[]).unwrap_err().to_string();
        assert!(e.contains("https://"), "{e}");
        let e = resolve("[provisioner]\nasync = true", &[]).unwrap_err().to_string();
        assert!(e.contains("unknown field"), "{e}");
    }
}

#[cfg(test)]
mod telemetry_tests {
    use super::*;

    fn resolve(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::resolve(&Sources {
            file: Some(("consort.toml".into(), text.into())),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            flags: Flags::default(),
        })
    }

    fn problem(text: &str, env: &[(&str, &str)]) -> String {
        resolve(text, env).unwrap_err().to_string()
    }

    #[test]
    fn amd_crls_need_sev_snp_on() {
        let c = resolve("[cleanroom]\nsev_snp = true\nsev_snp_crl_files = [\"/etc/milan.crl\"]", &[]).unwrap();
        assert_eq!(c.cleanroom.sev_snp_crl_files, [PathBuf::from("/etc/milan.crl")]);
        let err = problem("[cleanroom]\nsev_snp_crl_files = [\"/etc/milan.crl\"]", &[]);
        assert!(err.contains("cleanroom.sev_snp_crl_files") && err.contains("sev_snp = true"), "{err}");
    }

    #[test]
    fn traces_are_off_until_an_endpoint_is_given() {
        let c = resolve("", &[]).unwrap();
        assert_eq!(c.telemetry, TelemetrySettings::default());
        assert_eq!(c.telemetry.otlp_endpoint, None);
        let c = resolve("[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318\"\nsampling_ratio = 0.25", &[]).unwrap();
        assert_eq!(c.telemetry.otlp_endpoint.as_deref(), Some("http://127.0.0.1:4318"));
        assert_eq!(c.telemetry.sampling_ratio, 0.25);
        let c = resolve("", &[("CONSORT_OTLP_ENDPOINT", "https://otel:4318")]).unwrap();
        assert_eq!(c.telemetry.otlp_endpoint.as_deref(), Some("https://otel:4318"));
    }

    #[test]
    fn bad_telemetry_values_name_the_option_and_the_fix() {
        let e = problem("[telemetry]\notlp_endpoint = \"127.0.0.1:4318\"", &[]);
        assert!(e.starts_with("telemetry.otlp_endpoint") && e.contains("e.g. http://127.0.0.1:4318"), "{e}");
        let e = problem("", &[("CONSORT_OTLP_ENDPOINT", "http://otel:4318/v1/traces")]);
        assert!(e.contains("CONSORT_OTLP_ENDPOINT") && e.contains("without /v1/traces"), "{e}");
        let e = problem("[telemetry]\nsampling_ratio = 1.5", &[]);
        assert!(e.starts_with("telemetry.sampling_ratio") && e.contains("between 0.0"), "{e}");
        let e = problem("[telemetry]\nservice_name = \" \"", &[]);
        assert!(e.starts_with("telemetry.service_name"), "{e}");
        let e = problem("[telemetry]\nexport_timeout_secs = 0", &[]);
        assert!(e.starts_with("telemetry.export_timeout_secs"), "{e}");
        assert!(problem("[telemetry]\nendpoint = \"x\"", &[]).contains("unknown field"));
    }
}
