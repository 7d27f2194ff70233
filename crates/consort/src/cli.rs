//! The command line: every command, flag and help text in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// consort runs governed Apache Spark jobs: a Quartz-compatible scheduler, Spark
/// backends, and multi-party clean rooms, in one binary.
#[derive(Debug, Parser)]
#[command(
    name = "consort",
    version,
    propagate_version = true,
    after_help = "Start here: `consort serve`, then open http://127.0.0.1:8093/openapi.json.\nEvery command has its own --help."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: HTTP API (and, as they land, the scheduler and dashboard).
    Serve(ServeArgs),
    /// Work with Quartz cron expressions: next fire times, explanations, batch evaluation.
    #[command(subcommand)]
    Cron(CronCommand),
    /// Scheduled jobs on a running server: list, show, create/replace, delete, fire, pause, resume.
    Jobs(RemoteArgs<JobsCommand>),
    /// Triggers on a running server: list, show, delete, pause, resume.
    Triggers(RemoteArgs<TriggersCommand>),
    /// Run history on a running server.
    Runs(RemoteArgs<RunsCommand>),
    /// API tokens on a running server (admins): create (the secret is printed once), list, revoke.
    Tokens(RemoteArgs<TokensCommand>),
    /// The audit trail of a running server (admins): every write and every refused request.
    Audit(RemoteArgs<AuditCommand>),
    /// Witboost component descriptors on a running server: validate, apply (provision), remove.
    Provision(RemoteArgs<ProvisionCommand>),
    /// Clean rooms on a running server: create one, propose and vote (signed with a member's
    /// key), publish documents, give or withdraw consent.
    Cleanroom(RemoteArgs<CleanroomCommand>),
    /// A clean room's ledger: export it, get a receipt, and verify either offline with only
    /// the clean room's public key.
    Ledger(RemoteArgs<LedgerCommand>),
    /// Clean-room member keys: make a key pair (ECDSA P-256/P-384 or Ed25519).
    #[command(subcommand)]
    Member(MemberCommand),
    /// Run Spark applications directly on a backend: submit (and wait), status, logs, kill.
    #[command(subcommand)]
    Spark(SparkCommand),
    /// Bring jobs and triggers over from another scheduler.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Check job artifacts where they are stored (HDFS, S3, Azure Blob, local files).
    #[command(subcommand)]
    Artifact(ArtifactCommand),
    /// Show the effective configuration or the commented reference file.
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// Where the configuration comes from. Flags win over environment variables,
/// which win over the file.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Configuration file (TOML). Default: $CONSORT_CONFIG, else
    /// ~/.config/consort/consort.toml when it exists.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Address to listen on, HOST:PORT [env: CONSORT_LISTEN] [default: 127.0.0.1:8093].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Directory for consort's state [env: CONSORT_DATA_DIR] [default: ~/.local/share/consort].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum CronCommand {
    /// List the next fire times of an expression.
    ///
    /// Example: consort cron next '0 15 10 ? * 6L' --tz America/New_York --count 3
    Next {
        /// Quartz cron expression: seconds minutes hours day-of-month month day-of-week [year].
        /// Quote it so the shell leaves `*` and `?` alone.
        expr: String,
        /// IANA time zone the expression is read in.
        #[arg(long, default_value = "UTC", value_name = "ZONE")]
        tz: String,
        /// Start instant: RFC 3339 (2026-01-01T00:00:00Z) or Unix seconds. Default: now.
        #[arg(long, value_name = "INSTANT")]
        after: Option<String>,
        /// How many fire times to list.
        #[arg(long, default_value_t = 5, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
        count: u32,
    },
    /// Describe an expression in plain English.
    ///
    /// Example: consort cron explain '0 0 12 LW * ?'
    Explain {
        /// Quartz cron expression.
        expr: String,
    },
    /// Batch evaluation: for each stdin line `EXPR<TAB>ZONE<TAB>START_EPOCH_S`,
    /// print `ERR`, `NONE`, or up to 5 comma-separated fire times (epoch seconds),
    /// exactly as Quartz 2.5.2 would answer.
    Eval,
}

/// A command against a running `consort serve`.
#[derive(Debug, Args)]
pub struct RemoteArgs<C: Subcommand> {
    /// The server's base URL.
    #[arg(long, env = "CONSORT_SERVER", default_value = "http://127.0.0.1:8093", global = true)]
    pub server: String,
    /// Print the server's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// API token or JWT sent as `Authorization: Bearer`. Default: the admin token in
    /// the data directory (admin.token) when the server is on this machine.
    #[arg(long, env = "CONSORT_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Data directory whose admin.token is used for a server on this machine.
    #[arg(long, env = "CONSORT_DATA_DIR", global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// CA certificate (PEM) to trust for an https server, e.g. a self-signed one.
    #[arg(long, env = "CONSORT_CA_CERT", global = true, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    #[command(subcommand)]
    pub command: C,
}

#[derive(Debug, Subcommand)]
pub enum ProvisionCommand {
    /// Validate a component descriptor: every problem with its field and fix, or the
    /// schedule in English with its next fire times. Exits 1 when it is not valid.
    ///
    /// Example: consort provision validate examples/provisioner/count-range.yaml
    Validate(DescriptorArgs),
    /// Provision a component: its Spark job and schedule are created or replaced.
    Apply(DescriptorArgs),
    /// Unprovision a component: its job and schedule are deleted (runs stay).
    Remove {
        #[command(flatten)]
        descriptor: DescriptorArgs,
        /// Ask for the component's data to be removed too (not applicable to Spark jobs; reported).
        #[arg(long)]
        remove_data: bool,
    },
}

/// A descriptor file and the component in it.
#[derive(Debug, Args)]
pub struct DescriptorArgs {
    /// The descriptor (YAML): `dataProduct` with its components, and `componentIdToProvision`.
    #[arg(value_name = "FILE.yaml")]
    pub file: PathBuf,
    /// The component to act on, when the file does not say (`componentIdToProvision`).
    #[arg(long, value_name = "ID")]
    pub component: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Download a clean room's whole ledger (entries and signed roots) to verify offline.
    ///
    /// Example: consort ledger export analytics --out analytics.ledger
    Export {
        /// The clean room.
        name: String,
        /// Where to write it (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// The clean room's service public key (PEM), which verifies its signed roots.
    PublicKey {
        /// The clean room.
        name: String,
        /// Where to write it (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// A receipt for one entry: its inclusion proof and the signed root that covers it.
    Receipt {
        /// The clean room.
        name: String,
        /// The entry's place in the ledger (from 0).
        seq: u64,
        /// Where to write it (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Verify a whole export offline: every entry, every signed root; any edited, removed,
    /// inserted or reordered entry is found and located. Exits 1 when it does not verify.
    Verify {
        /// The export (from `consort ledger export`).
        file: PathBuf,
        /// The clean room's service public key (PEM, from `consort ledger public-key`).
        #[arg(long, value_name = "FILE")]
        public_key: PathBuf,
    },
    /// Verify one receipt offline. Exits 1 when it does not verify.
    VerifyReceipt {
        /// The receipt (from `consort ledger receipt`).
        file: PathBuf,
        /// The clean room's service public key (PEM).
        #[arg(long, value_name = "FILE")]
        public_key: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Make a member key pair: FILE.key.pem (private, mode 0600) and FILE.pub.pem (the public
    /// key, or with --certificate a self-signed X.509 certificate) to give the other members.
    ///
    /// Example: consort member keygen --algorithm es384 --out alice
    Keygen {
        /// es256 (ECDSA P-256), es384 (ECDSA P-384) or ed25519.
        #[arg(long, default_value = "es384")]
        algorithm: String,
        /// Write a self-signed X.509 certificate instead of a bare public key.
        #[arg(long)]
        certificate: bool,
        /// The certificate's subject common name (with --certificate).
        #[arg(long, default_value = "consort member")]
        subject: String,
        /// The certificate's validity in days (with --certificate).
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// The files' prefix: PREFIX.key.pem and PREFIX.pub.pem.
        #[arg(long, value_name = "PREFIX")]
        out: PathBuf,
    },
}

/// The member who signs a governance request.
#[derive(Debug, Args)]
pub struct MemberKeyArgs {
    /// The signing member's id in the clean room.
    #[arg(long, env = "CONSORT_MEMBER_ID")]
    pub member_id: String,
    /// The member's private key (PEM, from `consort member keygen`).
    #[arg(long, env = "CONSORT_MEMBER_KEY", value_name = "FILE")]
    pub member_key: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum CleanroomCommand {
    /// Create a clean room with its initial member (and user). Needs an admin token; the
    /// request is signed with the initial member's key.
    ///
    /// Example: consort cleanroom init analytics --member-id alice --member-key alice.key.pem --member-public alice.pub.pem --user alice --principal alice
    Init {
        /// The clean room's name.
        name: String,
        #[command(flatten)]
        member: MemberKeyArgs,
        /// The member's public key or certificate (PEM) the others will verify it with.
        #[arg(long, value_name = "FILE")]
        member_public: PathBuf,
        /// The initial user's id.
        #[arg(long, requires = "principal")]
        user: Option<String>,
        /// The initial user's principal (its API token's name or OIDC subject).
        #[arg(long)]
        principal: Option<String>,
    },
    /// The clean rooms this caller takes part in.
    List,
    /// A clean room's members, users, proposals, contracts and documents.
    Show {
        /// The clean room.
        name: String,
    },
    /// Propose actions to the members (signed). Each --action is a JSON object, e.g.
    /// '{"action":"add_user","id":"bob","principal":"bob"}'; --add-member ID=PUBFILE is a shortcut.
    Propose {
        /// The clean room.
        name: String,
        #[command(flatten)]
        member: MemberKeyArgs,
        /// An action as JSON (repeat for several; applied together).
        #[arg(long = "action", value_name = "JSON")]
        actions: Vec<String>,
        /// Add a member: ID=PUBLIC_KEY_FILE.
        #[arg(long, value_name = "ID=FILE")]
        add_member: Vec<String>,
    },
    /// Vote on a proposal (signed): accept or reject.
    Vote {
        /// The clean room.
        name: String,
        /// The proposal's id.
        proposal: String,
        /// accept or reject.
        vote: String,
        #[command(flatten)]
        member: MemberKeyArgs,
    },
    /// Withdraw one's own open proposal (signed).
    Withdraw {
        /// The clean room.
        name: String,
        /// The proposal's id.
        proposal: String,
        #[command(flatten)]
        member: MemberKeyArgs,
    },
    /// Write a contract draft (signed); propose it with
    /// --action '{"action":"set_contract","contract_id":ID,"version":N}'.
    Contract {
        /// The clean room.
        name: String,
        /// The contract's id.
        id: String,
        /// The contract's content (a JSON file).
        #[arg(long, value_name = "FILE.json")]
        data: PathBuf,
        /// The draft version this change is based on (leave out to create it).
        #[arg(long)]
        version: Option<i64>,
        #[command(flatten)]
        member: MemberKeyArgs,
    },
    /// Write a document draft as a user: a JSON file `{"contract_id", "body": {"kind": "dataset"|"sink"|"query", ...}}`.
    Publish {
        /// The clean room.
        name: String,
        /// The document's id.
        id: String,
        /// The draft (JSON).
        #[arg(value_name = "FILE.json")]
        file: PathBuf,
        /// Propose it to its approvers right after writing it.
        #[arg(long)]
        propose: bool,
    },
    /// Vote on a proposed document as one of its approvers: accept or reject.
    Approve {
        /// The clean room.
        name: String,
        /// The document's id.
        id: String,
        /// accept or reject.
        vote: String,
    },
    /// Put a secret (a storage key, a token) as a user: sealed at rest, released only to the
    /// attested runner of a run it is granted to.
    Secret {
        /// The clean room.
        name: String,
        /// The secret's name.
        secret: String,
        /// A file holding the value (read as bytes).
        #[arg(long, value_name = "FILE")]
        value_file: PathBuf,
    },
    /// Grant one's secret to a run: released only to a runner whose attestation shows one of
    /// the measurements, while the named consent holds.
    Grant {
        /// The clean room.
        name: String,
        /// The secret's name.
        secret: String,
        /// The run.
        #[arg(long)]
        run: String,
        /// An allowed measurement (hex; repeat for several).
        #[arg(long = "measurement", required = true)]
        measurements: Vec<String>,
        /// Consent that must hold at release: contract:ID or document:ID (repeat).
        #[arg(long = "consent", value_name = "KIND:ID")]
        consent: Vec<String>,
    },
    /// Give (on) or withdraw (off) consent on a contract or document. As a user by default;
    /// with --member-id and --member-key as a member (signed).
    Consent {
        /// The clean room.
        name: String,
        /// contract or document.
        kind: String,
        /// Its id.
        id: String,
        /// execution, logging or telemetry.
        option: String,
        /// on or off.
        state: String,
        /// Sign as this member.
        #[arg(long, env = "CONSORT_MEMBER_ID", requires = "member_key")]
        member_id: Option<String>,
        /// The member's private key.
        #[arg(long, env = "CONSORT_MEMBER_KEY", value_name = "FILE")]
        member_key: Option<PathBuf>,
    },
    /// Prepare the clean room's runs: bind every accepted dataset's and sink's keys to the
    /// runner this server ships. As a user by default; with --member-id and --member-key as a
    /// member (signed).
    ///
    /// Example: consort cleanroom prepare analytics --backend local
    Prepare {
        /// The clean room.
        name: String,
        /// The Spark backend runs will use (the server's default when left out).
        #[arg(long)]
        backend: Option<String>,
        /// Sign as this member.
        #[arg(long, env = "CONSORT_MEMBER_ID", requires = "member_key")]
        member_id: Option<String>,
        /// The member's private key.
        #[arg(long, env = "CONSORT_MEMBER_KEY", value_name = "FILE")]
        member_key: Option<PathBuf>,
    },
    /// Run an accepted query: the server's checklist, then the governed runner on Spark. With
    /// --wait, follows the run to its end and exits 0 only if it SUCCEEDED.
    ///
    /// Example: consort cleanroom run analytics q1 --idempotency-key nightly-2026-01-01 --wait
    Run {
        /// The clean room.
        name: String,
        /// The query document's id.
        query: String,
        /// The Spark backend (the one prepared for when left out).
        #[arg(long)]
        backend: Option<String>,
        /// A retry with the same key returns the same run instead of starting another.
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
        /// Wait until the run is SUCCEEDED, FAILED, STOPPED or REVOKED.
        #[arg(long)]
        wait: bool,
    },
    /// The clean room's runs, newest first.
    Runs {
        /// The clean room.
        name: String,
        /// Only runs of this query.
        #[arg(long)]
        query: Option<String>,
    },
    /// One run: state, rows, output, failure, and the receipt of its end.
    Status {
        /// The clean room.
        name: String,
        /// The run's id.
        run: String,
    },
    /// The end of a run's driver log (only while every party consents to logging).
    Logs {
        /// The clean room.
        name: String,
        /// The run's id.
        run: String,
    },
    /// Give back (on) or withdraw (off) one's approval of an accepted query, as one of its
    /// approvers; withdrawing stops the query's running runs.
    Approval {
        /// The clean room.
        name: String,
        /// The query document's id.
        query: String,
        /// on or off.
        state: String,
    },
    /// Play every party of a collaboration from one YAML file: members, users, contract,
    /// datasets, sink, query, approvals, consent, prepare and run, each step signed or called
    /// with that party's own key and token (the tokens are made with the admin token given).
    /// Prints the run's result as JSON; a refused step prints {"cleanroom", "step", "code",
    /// "message"} and exits 2.
    ///
    /// Example: consort cleanroom sandbox examples/cleanroom/sandbox.yaml
    Sandbox {
        /// The collaboration (YAML; see docs/cleanrooms.md).
        #[arg(value_name = "FILE.yaml")]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token and print its secret (shown this once; the server keeps only a hash).
    ///
    /// Example: consort tokens create --name ci-deploy --role operator --expires-in 90d
    Create {
        /// Who or what it is for (letters, digits, . _ @ -).
        #[arg(long)]
        name: String,
        /// admin, operator, provisioner, viewer or cleanroom (repeat for several).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Lifetime, e.g. 3600s, 90m, 12h, 30d. Default: never expires.
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
    },
    /// List tokens: id, name, roles, state, expiry, last use (never secrets).
    List,
    /// Revoke a token by id (tok_...) or name; it stops working at once.
    Revoke {
        /// The token's id or name.
        #[arg(value_name = "ID_OR_NAME")]
        id_or_name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// The newest entries first.
    List {
        /// Only this principal, e.g. token:ci-deploy.
        #[arg(long)]
        principal: Option<String>,
        /// Only refused requests.
        #[arg(long)]
        refused: bool,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs (optionally of one group) with their last run state.
    List {
        #[arg(long)]
        group: Option<String>,
    },
    /// Show a job, its triggers and recent runs. KEY is GROUP.NAME (or NAME in group DEFAULT).
    Get { key: String },
    /// Create or replace a job, optionally with one trigger.
    ///
    /// Example: consort jobs put etl.nightly --kind command --data '{"program":"/bin/true"}' --cron '0 0 2 * * ?' --tz Europe/Rome
    Put {
        key: String,
        /// What a fire does: noop, command, spark.
        #[arg(long)]
        kind: String,
        /// The kind's parameters, as a JSON object.
        #[arg(long, value_name = "JSON")]
        data: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// A Quartz cron expression for a trigger named after the job.
        #[arg(long)]
        cron: Option<String>,
        /// The cron trigger's time zone.
        #[arg(long, default_value = "UTC", value_name = "ZONE")]
        tz: String,
        /// Keep the job when it has no trigger.
        #[arg(long)]
        durable: bool,
        /// Never run two fires of this job at once.
        #[arg(long)]
        non_concurrent: bool,
        /// Re-fire a run whose instance died.
        #[arg(long)]
        requests_recovery: bool,
    },
    /// Delete a job and its triggers.
    Delete { key: String },
    /// Fire a job now.
    Fire { key: String },
    /// Pause every trigger of a job.
    Pause { key: String },
    /// Resume every trigger of a job.
    Resume { key: String },
}

#[derive(Debug, Subcommand)]
pub enum TriggersCommand {
    /// List triggers with state and next fire time.
    List {
        #[arg(long)]
        group: Option<String>,
        /// Only this job's triggers (GROUP.NAME).
        #[arg(long)]
        job: Option<String>,
    },
    /// Show a trigger. KEY is GROUP.NAME.
    Get { key: String },
    /// Delete a trigger.
    Delete { key: String },
    /// Pause a trigger.
    Pause { key: String },
    /// Resume a trigger.
    Resume { key: String },
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first.
    List {
        /// Only this job's runs (GROUP.NAME).
        #[arg(long)]
        job: Option<String>,
        /// Only runs in this state: executing, succeeded, failed, abandoned.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Show one run.
    Get { id: i64 },
    /// Print the end of a run's log, read from where it ran (the Spark driver's log).
    Log {
        id: i64,
        /// At most this many bytes, from the end.
        #[arg(long, default_value_t = 65536)]
        bytes: usize,
    },
    /// Stop an executing run's work (kills its Spark application); the run then ends FAILED.
    Kill { id: i64 },
    /// Delete run history now (admin): the ended runs fired before a time, except each job's
    /// latest run. `[scheduler]` retention does this a little at every check-in.
    ///
    /// Example: consort runs purge --older-than 90d
    Purge {
        /// Runs fired before this instant (RFC 3339, e.g. 2026-01-01T00:00:00Z).
        #[arg(long, conflicts_with = "older_than", required_unless_present = "older_than")]
        before: Option<String>,
        /// Runs fired longer ago than this: 90d, 12h, 30m or seconds.
        #[arg(long)]
        older_than: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct BackendArgs {
    /// The backend: local, standalone, yarn, livy or kubernetes (the others as configured in [spark]).
    #[arg(long, default_value = "local")]
    pub backend: String,
    #[command(flatten)]
    pub config: ConfigArgs,
    /// State directory (the local backend keeps run logs under it).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SparkCommand {
    /// Submit an application and wait for it to end; exits 0 only if it succeeded.
    ///
    /// Example: consort spark submit --class com.example.Etl /jobs/etl.jar 2026-01-01
    Submit {
        #[command(flatten)]
        backend: BackendArgs,
        /// Main class (for a jar; leave out for a .py file).
        #[arg(long)]
        class: Option<String>,
        /// Application name.
        #[arg(long)]
        name: Option<String>,
        /// Spark property KEY=VALUE (repeatable).
        #[arg(long = "conf", value_name = "KEY=VALUE")]
        conf: Vec<String>,
        /// Driver memory, e.g. 1g.
        #[arg(long)]
        driver_memory: Option<String>,
        /// Executor memory, e.g. 2g.
        #[arg(long)]
        executor_memory: Option<String>,
        /// Root log level: WARN, INFO, …
        #[arg(long)]
        log_level: Option<String>,
        /// Return once submitted instead of waiting for the end.
        #[arg(long)]
        no_wait: bool,
        /// The jar or .py file.
        app: String,
        /// Arguments for the application.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// An application's state and Spark application id.
    Status {
        #[command(flatten)]
        backend: BackendArgs,
        /// The id `submit` printed.
        id: String,
    },
    /// The end of an application's driver log.
    Logs {
        #[command(flatten)]
        backend: BackendArgs,
        id: String,
        /// How many bytes from the end.
        #[arg(long, default_value_t = 16_384)]
        bytes: usize,
    },
    /// Stop an application.
    Kill {
        #[command(flatten)]
        backend: BackendArgs,
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Read a Quartz JDBC store (QRTZ_JOB_DETAILS, QRTZ_TRIGGERS, QRTZ_CRON_TRIGGERS,
    /// QRTZ_SIMPLE_TRIGGERS) and create the same jobs and triggers in consort's store,
    /// continuing Quartz's schedules.
    ///
    /// Example: consort import quartz --url postgres://quartz@db:5432/quartz --kind command
    Quartz {
        /// The Quartz database (PostgreSQL).
        #[arg(long, value_name = "URL")]
        url: String,
        /// The Quartz scheduler (SCHED_NAME) to import, when the tables hold several.
        #[arg(long)]
        scheduler_name: Option<String>,
        /// The consort job kind of every imported job (the Java class is kept in the job's data).
        #[arg(long, default_value = "noop")]
        kind: String,
        /// Replace jobs and triggers that exist already.
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        config: ConfigArgs,
        /// State directory (where the default SQLite store lives).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ArtifactCommand {
    /// Prove that a jar exists, is a jar, and (with --class) holds that class with
    /// `public static void main(String[])`; or that a Python entry point exists.
    /// Reads only the jar's zip directory and the one class file, whatever the jar's size.
    /// Exits 0 only when the check passes.
    ///
    /// Examples:
    ///   consort artifact check hdfs://ns1/jobs/etl.jar --class com.example.Etl
    ///   consort artifact check s3://bucket/jobs/report.py
    Check {
        /// The artifact: file://, hdfs://, webhdfs://, s3://, az:// or abfs:// URI.
        uri: String,
        /// Main class, with dots or slashes (com.example.Etl or com/example/Etl).
        #[arg(long, value_name = "NAME")]
        class: Option<String>,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the configuration consort would run with, after file, environment and flags.
    Show {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Print the commented reference configuration file (every option and its default).
    Reference,
}
