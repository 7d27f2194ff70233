//! Test rigs for consort's Kerberos tests: a real MIT KDC ([`Kdc`]) and a kerberized Hadoop
//! ([`SecureHadoop`]: HDFS with an HA pair of NameNodes and one DataNode, YARN with one
//! ResourceManager and one NodeManager, `rigs/hadoop`'s `SecureRig`), both started by the test
//! and stopped with it, even when it panics or is killed; for the `kubernetes` Spark backend,
//! a real Kubernetes API server with the SparkApplication CRD ([`KubeApiServer`], see its module;
//! the default feature `kube`); and a throwaway PostgreSQL ([`Pg`], see its module) for the
//! store's tests and the servers sharing one store.
//!
//! Install the pieces with `scripts/setup` (`33-kdc.sh`: krb5-kdc, krb5-admin-server, krb5-user,
//! curl; `30-hadoop-rig.sh`: the rig's jars). Nothing reads `/etc/krb5.conf`: every process gets
//! `KRB5_CONFIG` (MIT tools) or `-Djava.security.krb5.conf` (JVMs) pointing at [`Kdc::krb5_conf`].
//!
//! # The kerberized Hadoop
//!
//! - Realm `CONSORT.TEST`; service principals `hdfs/localhost` (NameNodes and DataNode),
//!   `yarn/localhost` (ResourceManager and NodeManager), `HTTP/localhost` (SPNEGO on WebHDFS, the
//!   NameNode UI and the RM's and NM's REST), all in [`SecureHadoop::service_keytab`].
//! - Servers bind 127.0.0.1 and are addressed as `localhost`, so clients ask for tickets for
//!   `hdfs/localhost` etc. (the KDC's `krb5.conf` has `rdns = false` and
//!   `dns_canonicalize_hostname = false` so that `localhost` stays `localhost`).
//! - `hadoop.security.authentication=kerberos`, `hadoop.security.authorization=true`, block access
//!   tokens on, `dfs.data.transfer.protection=authentication`: the DataNode speaks SASL on its
//!   unprivileged port (`ignore.secure.ports.for.testing=true` lifts the HTTPS-only web policy
//!   Hadoop otherwise requires with SASL). A client therefore needs
//!   `dfs.data.transfer.protection` (it is in the written hdfs-site.xml) to read or write blocks.
//! - HDFS and YARN run in two JVMs: a Hadoop server's Kerberos identity is the JVM-wide login user,
//!   which the next server's login would replace.
//! - `/`, `/tmp` and `/user` are writable by everyone; `/user/consort` belongs to `consort`.
//! - The client configuration ([`SecureHadoop::conf_dir`]) has the HA nameservice (`minidfs-ns`,
//!   `ConfiguredFailoverProxyProvider`), `dfs.namenode.kerberos.principal`, the RM's addresses and
//!   `yarn.resourcemanager.principal`.
//!
//! # spark-submit against it (YARN cluster mode)
//!
//! What it takes, as the `secure_hadoop` test runs it:
//! - env: `HADOOP_CONF_DIR` and `YARN_CONF_DIR` = the conf dir, `SPARK_HOME`, `KRB5_CONFIG` = the
//!   KDC's krb5.conf, `SPARK_SUBMIT_OPTS=-Djava.security.krb5.conf=<krb5.conf>` (the submitting JVM
//!   logs in from the keytab and fetches the HDFS delegation token), `SPARK_LOCAL_IP=127.0.0.1`.
//! - `--principal consort@CONSORT.TEST --keytab <keytab>` (spark.kerberos.principal/keytab): Spark
//!   uploads the keytab to the staging dir, and the application master logs in with it again.
//! - `spark.driver.extraJavaOptions=-Djava.security.krb5.conf=<krb5.conf>` (in cluster mode the
//!   driver is the application master, which logs in from the keytab) and the same in
//!   `spark.executor.extraJavaOptions`: executors use delegation tokens, but Hadoop still needs
//!   the default realm. Without either option the application fails (checked: the driver or the
//!   executors die with `Can't get Kerberos realm`; a machine with its own /etc/krb5.conf would
//!   hand them that realm instead). `spark.yarn.am.extraJavaOptions` only matters in client mode.
//! - `spark.kerberos.access.hadoopFileSystems` is not needed for the default file system (the HA
//!   nameservice); list other secure file systems there.
//! - `spark.yarn.jars=local:$SPARK_HOME/jars/*` as in the plain YARN test (the NodeManager runs on
//!   this machine).
//!
//! Processes: the KDC runs as `krb5kdc -n` (through a link named `consort-kdc` in its scratch
//! dir, so that name-based kills of other KDCs miss it) under `sh`, which kills it when its stdin
//! (our pipe) closes; the rig's JVMs shut down when their stdin closes (and halt a minute later if
//! the shutdown hangs). A clean shutdown makes the NodeManager kill its containers. Checked: a
//! SIGKILL of the test process leaves no KDC and no rig JVM behind (within 5 s; only the scratch
//! directories stay). Only a SIGKILL of the YARN JVM itself would leave running containers.
//!
//! Start-up on the 2-core test machine: 25–40 s for both clusters (HDFS 14–23 s, YARN 10–16 s),
//! 48 s under a load average of 8; the KDC takes well under a second. The `secure_hadoop` test
//! takes 90–105 s on a quiet machine (spark-submit 35–55 s of it), 190 s under that load.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[cfg(feature = "kube")]
mod kube_apiserver;
#[cfg(feature = "kube")]
pub use kube_apiserver::KubeApiServer;
mod postgres;
pub use postgres::{Pg, pg_bin};

/// Where `scripts/setup` installs the tools: `$CONSORT_CACHE` or `~/.cache/consort`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("CONSORT_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME or CONSORT_CACHE is set")).join(".cache/consort")
    })
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A fresh scratch directory under the system's temp dir.
fn scratch(prefix: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "consort-{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Removes a rig's scratch dir, or keeps it for debugging when the test is failing.
fn clean_up(dir: &Path) {
    if std::thread::panicking() {
        eprintln!("kept {} for debugging", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// An MIT KDC tool by name, in the places Debian puts them.
fn krb5_tool(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let path = Path::new(dir).join(name);
        if path.is_file() {
            return path;
        }
    }
    panic!("{name} not found: run scripts/setup (33-kdc.sh installs MIT Kerberos)")
}

/// A random-enough secret for the KDC's master key (never logged).
fn random_password() -> String {
    let mut bytes = [0u8; 24];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut bytes);
    }
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    bytes.iter().map(|b| format!("{b:02x}")).collect::<String>() + &format!("{nanos:x}")
}

/// An MIT krb5kdc in a scratch directory, realm `CONSORT.TEST`, on a free 127.0.0.1 TCP+UDP port;
/// stopped on drop.
pub struct Kdc {
    realm: String,
    dir: PathBuf,
    port: u16,
    krb5_conf: PathBuf,
    kdc_conf: PathBuf,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
}

impl Kdc {
    /// Creates the realm's database and starts the KDC; panics with a clear message if the KDC
    /// binaries are missing.
    pub fn start() -> Kdc {
        let realm = "CONSORT.TEST".to_string();
        let dir = scratch("kdc");
        let port = free_port();
        let krb5_conf = dir.join("krb5.conf");
        let kdc_conf = dir.join("kdc.conf");
        let d = dir.display();
        std::fs::write(
            &krb5_conf,
            format!(
                "[libdefaults]\n  default_realm = {realm}\n  dns_lookup_kdc = false\n  dns_lookup_realm = false\n  \
                 dns_canonicalize_hostname = false\n  rdns = false\n  udp_preference_limit = 1\n  \
                 ticket_lifetime = 24h\n  renew_lifetime = 7d\n  forwardable = true\n  \
                 default_ccache_name = FILE:{d}/default.ccache\n\n\
                 [realms]\n  {realm} = {{\n    kdc = 127.0.0.1:{port}\n  }}\n\n\
                 [domain_realm]\n  localhost = {realm}\n  .localhost = {realm}\n"
            ),
        )
        .unwrap();
        std::fs::write(
            &kdc_conf,
            format!(
                "[kdcdefaults]\n  kdc_listen = 127.0.0.1:{port}\n  kdc_tcp_listen = 127.0.0.1:{port}\n\n\
                 [realms]\n  {realm} = {{\n    database_name = {d}/principal\n    key_stash_file = {d}/stash\n    \
                 acl_file = {d}/kadm5.acl\n    max_life = 24h\n    max_renewable_life = 7d\n    \
                 supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal\n  }}\n\n\
                 [logging]\n  kdc = FILE:{d}/kdc.log\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.join("kadm5.acl"), "").unwrap();
        let kdc = Kdc { realm, dir, port, krb5_conf, kdc_conf, child: None, stdin: None };
        let out = kdc
            .command("kdb5_util")
            .args(["create", "-s", "-r", &kdc.realm, "-P", &random_password()])
            .output()
            .expect("kdb5_util runs");
        assert!(out.status.success(), "kdb5_util create failed: {}", String::from_utf8_lossy(&out.stderr));
        let mut kdc = kdc;
        kdc.restart();
        kdc
    }

    /// A KDC tool with the scratch configuration in its environment.
    fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(krb5_tool(tool));
        cmd.env("KRB5_CONFIG", &self.krb5_conf).env("KRB5_KDC_PROFILE", &self.kdc_conf);
        cmd
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The client configuration: default realm, this KDC's address (TCP only), no DNS
    /// canonicalization or reverse lookups. Pass it as `KRB5_CONFIG` or `-Djava.security.krb5.conf`.
    pub fn krb5_conf(&self) -> &Path {
        &self.krb5_conf
    }

    /// The scratch directory (database, configuration, `kdc.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The KDC's port on 127.0.0.1 (TCP and UDP).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `-Djava.security.krb5.conf=…` for a JVM's command line.
    pub fn java_option(&self) -> String {
        format!("-Djava.security.krb5.conf={}", self.krb5_conf.display())
    }

    fn kadmin(&self, query: &str) -> String {
        let out =
            self.command("kadmin.local").args(["-r", &self.realm, "-q", query]).output().expect("kadmin.local runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        // kadmin.local exits 0 even when the query fails; its errors go to stderr.
        assert!(
            out.status.success()
                && !stderr.lines().any(|l| {
                    !(l.trim().is_empty() || l.starts_with("Authenticating as") || l.starts_with("No policy specified"))
                }),
            "kadmin.local -q {query:?} failed: {stderr}"
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Whether `name` exists in the realm.
    pub fn has_principal(&self, name: &str) -> bool {
        self.kadmin("listprincs").lines().any(|l| l.trim() == format!("{name}@{}", self.realm))
    }

    /// Adds `name` (e.g. `consort` or `hdfs/localhost`) with a random key.
    pub fn add_principal(&self, name: &str) {
        self.kadmin(&format!("addprinc -randkey {name}"));
    }

    /// Adds `name` with a random key and tickets that live at most `max_life_secs` and are
    /// renewable for at most `max_renew_secs`.
    pub fn add_principal_with_max_life(&self, name: &str, max_life_secs: u64, max_renew_secs: u64) {
        self.kadmin(&format!(
            "addprinc -randkey -maxlife \"{max_life_secs} seconds\" -maxrenewlife \"{max_renew_secs} seconds\" {name}"
        ));
    }

    /// Writes the current keys of `names` into `keytab` (keys are not changed, so earlier keytabs
    /// stay valid).
    pub fn export_keytab(&self, names: &[&str], keytab: &Path) {
        assert!(!names.is_empty(), "export_keytab needs principals");
        self.kadmin(&format!("ktadd -k {} -norandkey {}", keytab.display(), names.join(" ")));
    }

    /// `kinit -kt keytab -c ccache principal` (with `-l lifetime` when given); panics on failure.
    /// `ccache` is a credential cache name such as `FILE:/tmp/x` (a plain path means a file).
    pub fn kinit(&self, principal: &str, keytab: &Path, ccache: &str, lifetime_secs: Option<u64>) {
        let mut cmd = self.command("kinit");
        cmd.arg("-kt").arg(keytab).args(["-c", ccache]);
        if let Some(secs) = lifetime_secs {
            cmd.args(["-l", &format!("{secs}s")]);
        }
        let out = cmd.arg(principal).output().expect("kinit runs (krb5-user: run scripts/setup)");
        assert!(
            out.status.success(),
            "kinit {principal} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the KDC (for negative tests); [`Kdc::restart`] brings it back on the same port.
    pub fn stop(&mut self) {
        drop(self.stdin.take());
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    /// Starts the KDC again on the same port (stopping it first if it runs) and waits until it
    /// accepts TCP connections.
    pub fn restart(&mut self) {
        self.stop();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("krb5kdc.out")).unwrap();
        // Run through a link named consort-kdc: a `pkill krb5kdc` from another project's cleanup on
        // this shared machine (seen: it took our KDC down mid-test) must not match our KDC.
        let kdc_bin = self.dir.join("consort-kdc");
        if !kdc_bin.exists() {
            std::os::unix::fs::symlink(krb5_tool("krb5kdc"), &kdc_bin).unwrap();
        }
        // Under sh, which kills the KDC when its stdin (our pipe) closes, even if we die first.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#""$@" & pid=$!; cat >/dev/null; kill $pid 2>/dev/null; wait $pid"#)
            .arg("sh")
            .arg(&kdc_bin)
            .args(["-n", "-r", &self.realm])
            .env("KRB5_CONFIG", &self.krb5_conf)
            .env("KRB5_KDC_PROFILE", &self.kdc_conf)
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("sh runs");
        self.stdin = child.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("krb5kdc exited with {status}; see {}", self.dir.join("kdc.log").display());
            }
            assert!(Instant::now() < deadline, "krb5kdc did not listen on 127.0.0.1:{} within 30 s", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = Some(child);
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        self.stop();
        clean_up(&self.dir);
    }
}

/// One JVM of the rig: its stdout lines arrive on a channel; it shuts down when stdin closes.
struct Jvm {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    log: PathBuf,
}

impl Jvm {
    fn spawn(classpath: &str, role: &str, args: &[&std::ffi::OsStr], log: PathBuf, kdc: &Kdc) -> Jvm {
        let mut child = Command::new("java")
            .args(["-Xmx1g", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .arg(kdc.java_option())
            .args(["-cp", classpath, "consort.rigs.SecureRig", role])
            .args(args)
            .env("KRB5_CONFIG", kdc.krb5_conf())
            // Passed on to the containers: Spark's drivers and executors bind 127.0.0.1 too.
            .env("SPARK_LOCAL_IP", "127.0.0.1")
            .env_remove("HADOOP_CONF_DIR")
            .env_remove("KRB5CCNAME")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("java runs (a JDK 17: run scripts/setup)");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Jvm { child, stdin, lines, log }
    }

    /// Waits for the `READY {json}` line.
    fn ready(&mut self, what: &str, deadline: Instant) -> serde_json::Value {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(json) = line.strip_prefix("READY ") {
                        return serde_json::from_str(json)
                            .unwrap_or_else(|e| panic!("{what}: bad READY line {e}: {json}"));
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = self.child.wait();
                    panic!("{what} exited before it was ready; see {}", self.log.display())
                }
                Err(_) => panic!("{what} did not become ready within 300 s; see {}", self.log.display()),
            }
        }
    }

    fn quit(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "quit");
        }
    }

    fn stop(&mut self) {
        self.quit();
        // A clean stop makes the NodeManager kill its containers; the JVM halts itself within a
        // minute of its stdin closing.
        let deadline = Instant::now() + Duration::from_secs(70);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Jvm {
    fn drop(&mut self) {
        // Normally stopped already; this covers a rig that never became ready.
        if self.stdin.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The kerberized HDFS HA pair + YARN of `rigs/hadoop`'s `SecureRig`; shut down on drop
/// (the NodeManager kills its containers).
pub struct SecureHadoop {
    /// The HA nameservice (`minidfs-ns`): `hdfs://minidfs-ns/` with [`SecureHadoop::conf_dir`].
    pub nameservice: String,
    /// Each NameNode's (rpc `localhost:port`, http `localhost:port`).
    pub namenodes: Vec<(String, String)>,
    /// Index of the active NameNode in [`SecureHadoop::namenodes`].
    pub active: usize,
    /// The DataNode's `dfs.data.transfer.protection` (`none`: no SASL).
    pub data_transfer_protection: String,
    /// The ResourceManager's web/REST address, `localhost:port`.
    pub rm_webapp: String,
    /// The ResourceManager's client RPC address, `localhost:port`.
    pub rm_address: String,
    /// The NodeManager's web/REST address, `localhost:port`.
    pub nm_webapp: String,
    /// The client `HADOOP_CONF_DIR` (core-site.xml, hdfs-site.xml, yarn-site.xml).
    pub conf_dir: PathBuf,
    /// Scratch directory: `hdfs.log`, `yarn.log`, HDFS data under `dfs/`, the NodeManager's
    /// container logs under `yarn/`. Kept when the test panics.
    pub dir: PathBuf,
    /// The YARN work dir (NodeManager local and log dirs).
    pub yarn_work_dir: PathBuf,
    /// How long both clusters took to start.
    pub started_in: Duration,
    keytab: PathBuf,
    hdfs: Jvm,
    yarn: Jvm,
}

/// The service principals the rig runs as.
pub const SERVICE_PRINCIPALS: [&str; 3] = ["hdfs/localhost", "yarn/localhost", "HTTP/localhost"];

impl SecureHadoop {
    /// Creates the service principals and their keytab in `kdc`, starts HDFS and then YARN
    /// (classpath from `cache_dir()/rigs/hadoop/classpath.txt`) and waits until both are ready
    /// (at most 300 s, then panics naming the log file). The DataNode speaks SASL with
    /// `dfs.data.transfer.protection=authentication`.
    pub fn start(kdc: &Kdc) -> SecureHadoop {
        SecureHadoop::start_with(kdc, "authentication")
    }

    /// [`SecureHadoop::start`] with another `dfs.data.transfer.protection` for the DataNode:
    /// `authentication`, `integrity`, `privacy` (SASL, as CDP clusters run), or `none` (no SASL on
    /// the data port, block access tokens only; then hdfs-site.xml has no such key).
    pub fn start_with(kdc: &Kdc, data_transfer_protection: &str) -> SecureHadoop {
        assert!(
            ["authentication", "integrity", "privacy", "none"].contains(&data_transfer_protection),
            "unknown data transfer protection {data_transfer_protection:?}"
        );
        let cp = cache_dir().join("rigs/hadoop/classpath.txt");
        let classpath = std::fs::read_to_string(&cp).unwrap_or_else(|_| {
            panic!("the Hadoop rig is not built ({} is missing): run scripts/setup (30-hadoop-rig.sh)", cp.display())
        });
        let classpath = classpath.trim();
        let started = Instant::now();
        let dir = scratch("secure-hadoop");
        let keytab = dir.join("service.keytab");
        for name in SERVICE_PRINCIPALS {
            if !kdc.has_principal(name) {
                kdc.add_principal(name);
            }
        }
        kdc.export_keytab(&SERVICE_PRINCIPALS, &keytab);
        let conf_dir = dir.join("hadoop-conf");
        let common = |base: &Path| -> Vec<std::ffi::OsString> {
            vec![
                "--base".into(),
                base.into(),
                "--conf-dir".into(),
                conf_dir.clone().into(),
                "--krb5-conf".into(),
                kdc.krb5_conf().into(),
                "--keytab".into(),
                keytab.clone().into(),
                "--realm".into(),
                kdc.realm().into(),
            ]
        };
        let deadline = started + Duration::from_secs(300);
        let args = common(&dir);
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let mut hdfs_args = args.clone();
        hdfs_args.extend([
            std::ffi::OsStr::new("--data-transfer-protection"),
            std::ffi::OsStr::new(data_transfer_protection),
        ]);
        let mut hdfs = Jvm::spawn(classpath, "hdfs", &hdfs_args, dir.join("hdfs.log"), kdc);
        let h = hdfs.ready("the secure HDFS rig", deadline);
        // The NodeManager's resource localizer reads a fresh Configuration from the classpath:
        // HDFS's client files on it tell the localizer the HA nameservice. A copy, because the
        // yarn JVM writes yarn-site.xml into conf_dir while it runs.
        let yarn_conf = dir.join("yarn-classpath");
        std::fs::create_dir_all(&yarn_conf).unwrap();
        for site in ["core-site.xml", "hdfs-site.xml"] {
            std::fs::copy(conf_dir.join(site), yarn_conf.join(site)).unwrap();
        }
        let yarn_classpath = format!("{}:{classpath}", yarn_conf.display());
        let mut yarn = Jvm::spawn(&yarn_classpath, "yarn", &args, dir.join("yarn.log"), kdc);
        let y = yarn.ready("the secure YARN rig", deadline);
        let s = |v: &serde_json::Value, k: &str| {
            v[k].as_str().unwrap_or_else(|| panic!("READY lacks {k}: {v}")).to_string()
        };
        let namenodes = h["namenodes"]
            .as_array()
            .expect("READY has namenodes")
            .iter()
            .map(|nn| (s(nn, "rpc"), s(nn, "http")))
            .collect();
        let rig = SecureHadoop {
            nameservice: s(&h, "nameservice"),
            namenodes,
            active: h["active"].as_u64().unwrap_or(0) as usize,
            data_transfer_protection: s(&h, "data_transfer_protection"),
            rm_webapp: s(&y, "webapp"),
            rm_address: s(&y, "rm"),
            nm_webapp: s(&y, "nm_webapp"),
            conf_dir,
            yarn_work_dir: PathBuf::from(s(&y, "work_dir")),
            dir,
            started_in: started.elapsed(),
            keytab,
            hdfs,
            yarn,
        };
        eprintln!(
            "secure Hadoop ready in {:?} (HDFS {} ms, YARN {} ms): {h} {y}",
            rig.started_in, h["dfs_ms"], y["yarn_ms"]
        );
        rig
    }

    /// Copies a local file into HDFS (as `hdfs/localhost`); returns its `hdfs://nameservice/…` URI.
    pub fn put(&mut self, local: &Path, hdfs_path: &str) -> String {
        let stdin = self.hdfs.stdin.as_mut().expect("the rig runs");
        writeln!(stdin, "put {} {hdfs_path}", local.display()).unwrap();
        stdin.flush().unwrap();
        let reply = self.hdfs.lines.recv_timeout(Duration::from_secs(120)).expect("the rig answers put");
        reply.strip_prefix("OK ").unwrap_or_else(|| panic!("put {} failed: {reply}", local.display())).to_string()
    }

    /// Makes NameNode `index` the active one (the other becomes standby).
    pub fn make_active(&mut self, index: usize) {
        let stdin = self.hdfs.stdin.as_mut().expect("the rig runs");
        writeln!(stdin, "active {index}").unwrap();
        stdin.flush().unwrap();
        let reply = self.hdfs.lines.recv_timeout(Duration::from_secs(120)).expect("the rig answers active");
        assert!(reply.starts_with("OK active"), "fail-over to NameNode {index} failed: {reply}");
        self.active = index;
    }

    /// The keytab with `hdfs/localhost`, `yarn/localhost` and `HTTP/localhost`.
    pub fn service_keytab(&self) -> &Path {
        &self.keytab
    }
}

impl Drop for SecureHadoop {
    fn drop(&mut self) {
        // Both at once (a test's applications have ended by now); the NodeManager still kills
        // any container that runs.
        self.yarn.quit();
        self.hdfs.quit();
        self.yarn.stop();
        self.hdfs.stop();
        clean_up(&self.dir);
    }
}
