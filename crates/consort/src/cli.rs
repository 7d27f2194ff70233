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
    /// Print a shell completion script for consort (bash, zsh, fish, elvish or powershell).
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write consort's manual pages (consort.1 and one page per command) into a directory.
    Man {
        /// The directory to write them to (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
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
    /// How to print answers: `table` for people, `json` (the server's JSON) for programs.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table, global = true)]
    pub output: Output,
    /// The same as `--output json`.
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

impl<C: Subcommand> RemoteArgs<C> {
    /// Whether answers are printed as JSON (`--output json` or `--json`).
    pub fn wants_json(&self) -> bool {
        self.json || self.output == Output::Json
    }
}

/// How a command against a server prints its answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns and sentences, for people.
    Table,
    /// The server's JSON, unchanged, for programs (`jq`).
    Json,
}

#[derive(Debug, Subcommand)]
pub enum ProvisionCommand {
    /// Validate a component descriptor: every problem with its field and fix, or the
    /// schedule in English with its next fire times. Exits 1 when it is not valid.
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
    /// Issue a short-lived credential for a user of a clean room, signed offline with the
    /// member's key: the user sends it as its bearer token (`--token`) to that clean room's
    /// user routes. Prints the credential on stdout, its id and expiry on stderr.
    IssueCredential {
        /// The issuing member's id in the clean room.
        #[arg(long, env = "CONSORT_MEMBER_ID")]
        member_id: String,
        /// The member's private key (PEM, from `consort member keygen`).
        #[arg(long, env = "CONSORT_MEMBER_KEY", value_name = "FILE")]
        key: PathBuf,
        /// The clean room it is for (the only one it reaches).
        #[arg(long)]
        cleanroom: String,
        /// The user id it authenticates.
        #[arg(long)]
        user: String,
        /// How long it lives: 90m, 8h, 3600s (at most the clean room's limit, 24 h by default).
        #[arg(long, default_value = "8h")]
        ttl: String,
        /// Its id (what a revocation names); random when left out.
        #[arg(long)]
        id: Option<String>,
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
    // `--version` here is the draft's version, so clap's own (propagated) one is turned off.
    #[command(disable_version_flag = true)]
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
    /// Revoke one member-issued user credential by id (signed): it stops authenticating at once.
    /// By id alone the revocation is kept for good; with --credential it records the
    /// credential's expiry and is forgotten an hour after it.
    RevokeCredential {
        /// The clean room.
        name: String,
        /// The credential's id.
        id: String,
        /// The file holding the credential itself (the `ccu_…` that `consort member
        /// issue-credential` printed). The server checks it is this clean room's and this id's,
        /// signed by its member's registered key, and records its expiry; neither stores nor
        /// logs it.
        #[arg(long, value_name = "FILE")]
        credential: Option<PathBuf>,
        #[command(flatten)]
        member: MemberKeyArgs,
    },
    /// The clean room's invitations (made by accepted `invite_user` proposals).
    Invitations {
        /// The clean room.
        name: String,
    },
    /// Accept an invitation as the invited identity (its API token or OIDC token): it becomes
    /// a user of the clean room.
    AcceptInvitation {
        /// The clean room.
        name: String,
        /// The invitation's id.
        id: String,
    },
    /// Prepare the clean room's runs: bind every accepted dataset's and sink's keys to the
    /// runner this server ships. As a user by default; with --member-id and --member-key as a
    /// member (signed).
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
    Sandbox {
        /// The collaboration (YAML; see docs/cleanrooms.md).
        #[arg(value_name = "FILE.yaml")]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token and print its secret (shown this once; the server keeps only a hash).
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
        /// How many entries to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs (optionally of one group) with their last run state.
    List {
        /// Only this group's jobs.
        #[arg(long)]
        group: Option<String>,
    },
    /// Show a job, its triggers and recent runs. KEY is GROUP.NAME (or NAME in group DEFAULT).
    Get {
        /// The job: GROUP.NAME (or NAME in group DEFAULT).
        key: String,
    },
    /// Create or replace a job, optionally with one trigger.
    Put {
        /// The job: GROUP.NAME (or NAME in group DEFAULT).
        key: String,
        /// What a fire does: noop, command, spark.
        #[arg(long)]
        kind: String,
        /// The kind's parameters, as a JSON object.
        #[arg(long, value_name = "JSON")]
        data: Option<String>,
        /// What the job is for, shown in lists.
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
    Delete {
        /// The job: GROUP.NAME (or NAME in group DEFAULT).
        key: String,
    },
    /// Fire a job now.
    Fire {
        /// The job: GROUP.NAME (or NAME in group DEFAULT).
        key: String,
    },
    /// Pause every trigger of a job.
    Pause {
        /// The job: GROUP.NAME (or NAME in group DEFAULT).
        key: String,
    },
    /// Resume every trigger of a job.
    Resume {
        /// The job: GROUP.NAME (or NAME in group DEFAULT).
        key: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TriggersCommand {
    /// List triggers with state and next fire time.
    List {
        /// Only this trigger group.
        #[arg(long)]
        group: Option<String>,
        /// Only this job's triggers (GROUP.NAME).
        #[arg(long)]
        job: Option<String>,
    },
    /// Show a trigger. KEY is GROUP.NAME.
    Get {
        /// The trigger: GROUP.NAME (or NAME in group DEFAULT).
        key: String,
    },
    /// Delete a trigger.
    Delete {
        /// The trigger: GROUP.NAME (or NAME in group DEFAULT).
        key: String,
    },
    /// Pause a trigger.
    Pause {
        /// The trigger: GROUP.NAME (or NAME in group DEFAULT).
        key: String,
    },
    /// Resume a trigger.
    Resume {
        /// The trigger: GROUP.NAME (or NAME in group DEFAULT).
        key: String,
    },
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
        /// How many runs to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Show one run.
    Get {
        /// The run's id (from `consort runs list`).
        id: i64,
    },
    /// Print the end of a run's log, read from where it ran (the Spark driver's log).
    Log {
        /// The run's id (from `consort runs list`).
        id: i64,
        /// At most this many bytes, from the end.
        #[arg(long, default_value_t = 65536)]
        bytes: usize,
    },
    /// Stop an executing run's work (kills its Spark application); the run then ends FAILED.
    Kill {
        /// The run's id (from `consort runs list`).
        id: i64,
    },
    /// Delete run history now (admin): the ended runs fired before a time, except each job's
    /// latest run. `[scheduler]` retention does this a little at every check-in.
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

/// The command line as clap runs it: the derive's definition with each command's examples
/// (from [`EXAMPLES`]) after its help, so `--help`, the manual pages and the completions all
/// come from one definition.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let mut command = Cli::command();
    for (path, examples) in EXAMPLES {
        let mut text = String::from("Examples:");
        for (what, line) in *examples {
            text.push_str(&format!("\n  # {what}\n  {line}"));
        }
        command = with_after_help(command, &path.split(' ').collect::<Vec<_>>(), text);
    }
    command
}

fn with_after_help(command: clap::Command, path: &[&str], text: String) -> clap::Command {
    match path {
        [] => command.after_help(text),
        [first, rest @ ..] => {
            let rest = rest.to_vec();
            command.mut_subcommand(*first, move |sub| with_after_help(sub, &rest, text))
        }
    }
}

/// Every command's examples: (command path, [(what it does, the command line)]). A test
/// parses each line with the definition above, and checks that no command is left without one.
pub const EXAMPLES: &[(&str, &[(&str, &str)])] = &[
    (
        "serve",
        &[
            (
                "Serve on the defaults: 127.0.0.1:8093, SQLite and local Spark in ~/.local/share/consort",
                "consort serve",
            ),
            (
                "Serve on all interfaces with a configuration file",
                "consort serve --config /etc/consort/consort.toml --listen 0.0.0.0:8093",
            ),
        ],
    ),
    (
        "cron next",
        &[
            (
                "The next three fires of the last Friday of the month, in New York",
                "consort cron next '0 15 10 ? * 6L' --tz America/New_York --count 3",
            ),
            ("From a given instant", "consort cron next '0 0 2 * * ?' --after 2026-01-01T00:00:00Z"),
        ],
    ),
    ("cron explain", &[("Read an expression in English", "consort cron explain '0 0 12 LW * ?'")]),
    (
        "cron eval",
        &[(
            "Quartz's answers for lines of EXPR<TAB>ZONE<TAB>START (epoch seconds)",
            "consort cron eval < expressions.tsv",
        )],
    ),
    (
        "jobs list",
        &[
            ("Every job with its last run", "consort jobs list"),
            ("Only one group, as JSON", "consort jobs list --group etl --output json"),
        ],
    ),
    ("jobs get", &[("A job, its triggers and recent runs", "consort jobs get etl.nightly")]),
    (
        "jobs put",
        &[
            (
                "A Spark job every night at 02:00 in Rome",
                "consort jobs put etl.nightly --kind spark --data '{\"app\":\"hdfs://ns1/jobs/etl.jar\",\"class\":\"com.example.Etl\"}' --cron '0 0 2 * * ?' --tz Europe/Rome --non-concurrent",
            ),
            ("A job without a trigger, fired by hand", "consort jobs put tools.reindex --kind noop --durable"),
        ],
    ),
    ("jobs delete", &[("Delete a job and its triggers (its runs stay)", "consort jobs delete etl.nightly")]),
    ("jobs fire", &[("Run a job now, outside its schedule", "consort jobs fire etl.nightly")]),
    ("jobs pause", &[("Stop a job's schedule until resumed", "consort jobs pause etl.nightly")]),
    ("jobs resume", &[("Start a paused job's schedule again", "consort jobs resume etl.nightly")]),
    (
        "triggers list",
        &[
            ("Every trigger with its next fire", "consort triggers list"),
            ("One job's triggers", "consort triggers list --job etl.nightly"),
        ],
    ),
    ("triggers get", &[("One trigger", "consort triggers get etl.nightly")]),
    (
        "triggers delete",
        &[(
            "Delete one trigger (a job without triggers goes too unless durable)",
            "consort triggers delete etl.nightly",
        )],
    ),
    ("triggers pause", &[("Pause one trigger", "consort triggers pause etl.nightly")]),
    ("triggers resume", &[("Resume one trigger", "consort triggers resume etl.nightly")]),
    (
        "runs list",
        &[
            ("The newest runs", "consort runs list"),
            ("A job's failed runs", "consort runs list --job etl.nightly --state failed --limit 50"),
        ],
    ),
    ("runs get", &[("One run: state, times, Spark application, failure", "consort runs get 42")]),
    ("runs log", &[("The last 16 KiB of a run's driver log", "consort runs log 42 --bytes 16384")]),
    ("runs kill", &[("Stop a run's Spark application", "consort runs kill 42")]),
    (
        "runs purge",
        &[
            ("Delete the history older than 90 days", "consort runs purge --older-than 90d"),
            ("Delete the history before an instant", "consort runs purge --before 2026-01-01T00:00:00Z"),
        ],
    ),
    (
        "tokens create",
        &[
            (
                "A token for a deployment pipeline, valid 90 days",
                "consort tokens create --name ci-deploy --role operator --expires-in 90d",
            ),
            ("A read-only token for Prometheus or a dashboard", "consort tokens create --name grafana --role viewer"),
        ],
    ),
    ("tokens list", &[("Every token (never its secret)", "consort tokens list")]),
    ("tokens revoke", &[("Revoke a token by name", "consort tokens revoke ci-deploy")]),
    (
        "audit list",
        &[
            ("The newest 50 entries", "consort audit list"),
            ("What one token was refused", "consort audit list --principal token:ci-deploy --refused"),
        ],
    ),
    (
        "provision validate",
        &[("Check a component descriptor", "consort provision validate examples/provisioner/count-range.yaml")],
    ),
    (
        "provision apply",
        &[(
            "Provision a component's Spark job and schedule",
            "consort provision apply examples/provisioner/count-range.yaml",
        )],
    ),
    (
        "provision remove",
        &[("Unprovision a component", "consort provision remove examples/provisioner/count-range.yaml")],
    ),
    (
        "cleanroom init",
        &[(
            "Create a clean room with its first member and user",
            "consort cleanroom init analytics --member-id alice --member-key alice.key.pem --member-public alice.pub.pem --user alice --principal alice",
        )],
    ),
    ("cleanroom list", &[("The clean rooms this token takes part in", "consort cleanroom list")]),
    ("cleanroom show", &[("Members, users, proposals, contracts and documents", "consort cleanroom show analytics")]),
    (
        "cleanroom propose",
        &[
            (
                "Propose a new member",
                "consort cleanroom propose analytics --member-id alice --member-key alice.key.pem --add-member bob=bob.pub.pem",
            ),
            (
                "Propose a user",
                "consort cleanroom propose analytics --member-id alice --member-key alice.key.pem --action '{\"action\":\"add_user\",\"id\":\"bob\",\"principal\":\"bob\"}'",
            ),
        ],
    ),
    (
        "cleanroom vote",
        &[(
            "Accept a proposal",
            "consort cleanroom vote analytics p-1 accept --member-id bob --member-key bob.key.pem",
        )],
    ),
    (
        "cleanroom withdraw",
        &[(
            "Withdraw one's own open proposal",
            "consort cleanroom withdraw analytics p-1 --member-id alice --member-key alice.key.pem",
        )],
    ),
    (
        "cleanroom contract",
        &[(
            "Write a contract draft",
            "consort cleanroom contract analytics c1 --data contract.json --member-id alice --member-key alice.key.pem",
        )],
    ),
    (
        "cleanroom publish",
        &[(
            "Publish a dataset and propose it to its approvers",
            "consort cleanroom publish analytics purchases purchases.json --propose",
        )],
    ),
    (
        "cleanroom approve",
        &[("Accept a proposed document as its approver", "consort cleanroom approve analytics q1 accept")],
    ),
    (
        "cleanroom secret",
        &[("Store a storage key, sealed", "consort cleanroom secret analytics s3-key --value-file s3.key")],
    ),
    (
        "cleanroom grant",
        &[(
            "Release a secret to one run's attested runner while consent holds",
            "consort cleanroom grant analytics s3-key --run r-1 --measurement 9f86d081884c7d65 --consent contract:c1",
        )],
    ),
    (
        "cleanroom consent",
        &[
            (
                "Give consent to execute a contract's queries",
                "consort cleanroom consent analytics contract c1 execution on",
            ),
            ("Withdraw it (running runs stop)", "consort cleanroom consent analytics contract c1 execution off"),
        ],
    ),
    (
        "cleanroom prepare",
        &[(
            "Bind the datasets' keys to the runner for local Spark",
            "consort cleanroom prepare analytics --backend local",
        )],
    ),
    (
        "cleanroom run",
        &[(
            "Run an accepted query once and wait for its end",
            "consort cleanroom run analytics q1 --idempotency-key nightly-2026-01-01 --wait",
        )],
    ),
    ("cleanroom runs", &[("One query's runs, newest first", "consort cleanroom runs analytics --query q1")]),
    (
        "cleanroom status",
        &[("A run's state, rows and the receipt of its end", "consort cleanroom status analytics r-1")],
    ),
    (
        "cleanroom logs",
        &[("A run's driver log, while every party consents to logging", "consort cleanroom logs analytics r-1")],
    ),
    (
        "cleanroom approval",
        &[("Withdraw one's approval of a query (its runs stop)", "consort cleanroom approval analytics q1 off")],
    ),
    (
        "cleanroom sandbox",
        &[(
            "Play every party of a collaboration from one file",
            "consort cleanroom sandbox examples/cleanroom/sandbox.yaml",
        )],
    ),
    ("ledger export", &[("Download a clean room's ledger", "consort ledger export analytics --out analytics.ledger")]),
    (
        "ledger public-key",
        &[("The key that verifies its signed roots", "consort ledger public-key analytics --out analytics.pub.pem")],
    ),
    ("ledger receipt", &[("A receipt for entry 12", "consort ledger receipt analytics 12 --out entry-12.receipt")]),
    (
        "ledger verify",
        &[("Verify an export offline", "consort ledger verify analytics.ledger --public-key analytics.pub.pem")],
    ),
    (
        "ledger verify-receipt",
        &[(
            "Verify one receipt offline",
            "consort ledger verify-receipt entry-12.receipt --public-key analytics.pub.pem",
        )],
    ),
    (
        "member keygen",
        &[
            (
                "An ECDSA P-384 key pair: alice.key.pem and alice.pub.pem",
                "consort member keygen --algorithm es384 --out alice",
            ),
            (
                "An Ed25519 key with a self-signed certificate",
                "consort member keygen --algorithm ed25519 --certificate --subject alice --out alice",
            ),
        ],
    ),
    (
        "member issue-credential",
        &[(
            "An 8-hour credential for user carol of analytics, signed by alice",
            "consort member issue-credential --member-id alice --key alice.key.pem --cleanroom analytics --user carol --ttl 8h",
        )],
    ),
    (
        "cleanroom revoke-credential",
        &[
            (
                "Revoke a user credential by its id (the revocation is kept for good)",
                "consort cleanroom revoke-credential analytics cred-7f3a --member-id alice --member-key alice.key.pem",
            ),
            (
                "Revoke it with the credential itself, so the revocation is forgotten once it expired",
                "consort cleanroom revoke-credential analytics cred-7f3a --credential carol.ccu --member-id alice --member-key alice.key.pem",
            ),
        ],
    ),
    ("cleanroom invitations", &[("The clean room's invitations", "consort cleanroom invitations analytics")]),
    (
        "cleanroom accept-invitation",
        &[(
            "Accept an invitation with the invited identity's token",
            "consort cleanroom accept-invitation analytics inv-dave",
        )],
    ),
    (
        "spark submit",
        &[
            (
                "Run a jar on local Spark and wait for its end",
                "consort spark submit --class com.example.Etl /jobs/etl.jar 2026-01-01",
            ),
            (
                "A PySpark file on YARN, without waiting",
                "consort spark submit --backend yarn --conf spark.executor.instances=4 --no-wait hdfs://ns1/jobs/report.py",
            ),
        ],
    ),
    ("spark status", &[("An application's state", "consort spark status --backend yarn consort-42")]),
    ("spark logs", &[("The end of its driver log", "consort spark logs --backend yarn consort-42 --bytes 65536")]),
    ("spark kill", &[("Stop it", "consort spark kill --backend yarn consort-42")]),
    (
        "import quartz",
        &[(
            "Bring a Quartz JDBC store's jobs and triggers over",
            "consort import quartz --url postgres://quartz@db:5432/quartz --kind command",
        )],
    ),
    (
        "artifact check",
        &[
            (
                "A jar on HDFS and its main class",
                "consort artifact check hdfs://ns1/jobs/etl.jar --class com.example.Etl",
            ),
            ("A PySpark file on S3", "consort artifact check s3://bucket/jobs/report.py"),
        ],
    ),
    (
        "config show",
        &[("The configuration consort would run with", "consort config show --config /etc/consort/consort.toml")],
    ),
    (
        "config reference",
        &[("Start a configuration file from the commented reference", "consort config reference > consort.toml")],
    ),
    (
        "completions",
        &[
            (
                "Complete consort's commands in bash",
                "consort completions bash > ~/.local/share/bash-completion/completions/consort",
            ),
            ("In zsh", "consort completions zsh > ~/.zfunc/_consort"),
        ],
    ),
    ("man", &[("Write the manual pages, then read one", "consort man --out ~/.local/share/man/man1")]),
];

#[cfg(test)]
mod tests {
    use super::{EXAMPLES, command};

    /// The leaf commands (the ones that do something), by their path without `consort`.
    fn leaves(command: &clap::Command, path: &str, out: &mut Vec<String>) {
        let subcommands: Vec<_> = command.get_subcommands().filter(|c| c.get_name() != "help").collect();
        if subcommands.is_empty() {
            out.push(path.to_owned());
        }
        for sub in subcommands {
            let sub_path =
                if path.is_empty() { sub.get_name().to_owned() } else { format!("{path} {}", sub.get_name()) };
            leaves(sub, &sub_path, out);
        }
    }

    /// Shell words of an example (single and double quotes; a redirection ends it).
    fn words(line: &str) -> Vec<String> {
        let (mut words, mut word, mut quote, mut in_word) = (Vec::new(), String::new(), None, false);
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.push(c),
                (None, '\'' | '"') => (quote, in_word) = (Some(c), true),
                (None, ' ') => {
                    if in_word {
                        words.push(std::mem::take(&mut word));
                        in_word = false;
                    }
                }
                (None, c) => {
                    word.push(c);
                    in_word = true;
                }
            }
        }
        if in_word {
            words.push(word);
        }
        words.into_iter().take_while(|w| !matches!(w.as_str(), "<" | ">" | "|")).collect()
    }

    #[test]
    fn every_command_has_examples_and_every_example_names_a_command() {
        let mut all = Vec::new();
        leaves(&command(), "", &mut all);
        let documented: Vec<&str> = EXAMPLES.iter().map(|(path, _)| *path).collect();
        let missing: Vec<_> = all.iter().filter(|path| !documented.contains(&path.as_str())).collect();
        assert!(missing.is_empty(), "{} of {} commands have no example: {missing:?}", missing.len(), all.len());
        let unknown: Vec<_> = documented.iter().filter(|path| !all.iter().any(|p| p == *path)).collect();
        assert!(unknown.is_empty(), "examples for commands that do not exist: {unknown:?}");
        assert!(all.len() > 60, "{all:?}");
    }

    #[test]
    fn every_example_is_a_command_line_consort_accepts() {
        for (path, examples) in EXAMPLES {
            assert!(!examples.is_empty(), "{path}");
            for (what, line) in *examples {
                let words = words(line);
                assert_eq!(words[..1 + path.split(' ').count()].join(" "), format!("consort {path}"), "{line}");
                if let Err(err) = command().try_get_matches_from(&words) {
                    panic!("the example `{line}` ({what}) does not parse: {err}");
                }
            }
        }
    }

    #[test]
    fn the_examples_show_in_help() {
        let help =
            command().find_subcommand_mut("runs").unwrap().find_subcommand_mut("purge").unwrap().render_long_help();
        let help = help.to_string();
        assert!(
            help.contains(
                "Examples:\n  # Delete the history older than 90 days\n  consort runs purge --older-than 90d"
            ),
            "{help}"
        );
    }

    #[test]
    fn the_word_splitter_reads_quotes_and_stops_at_a_redirection() {
        assert_eq!(
            words(r#"consort cron next '0 0 2 * * ?' --data '{"a":"b c"}' > out"#),
            ["consort", "cron", "next", "0 0 2 * * ?", "--data", r#"{"a":"b c"}"#]
        );
    }
}
