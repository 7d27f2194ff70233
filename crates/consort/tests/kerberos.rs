//! consort on a kerberized cluster: a real MIT KDC and a kerberized Hadoop (an HA pair of
//! NameNodes, SASL and SPNEGO on, `crates/rigs`), started once for this binary.
//!
//! What an administrator meets: the jar check over RPC and WebHDFS with a keytab and with a
//! ticket cache, from the library and from the `consort` CLI with a `[kerberos]` section; then
//! every way it goes wrong (no keytab, a keytab of another principal, a rotated key, a principal
//! the KDC does not know, no ticket, an expired ticket, the KDC down), each a clear error naming
//! the fix, none a hang; and renewal: tickets that live 20 seconds are renewed (keytab: a new
//! login; cache: `kinit -R` in place) while checks keep working.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use consort_kerberos::{ErrorKind, Identity, KerberosSettings};
use consort_rigs::{Kdc, SecureHadoop, cache_dir};
use consort_spark::{AppSpec, AppState, Launcher, LocalConfig, LocalLauncher, installed_pyspark, wait_until_final};
use consort_storage::{
    HdfsConfig, JarCheckError, NameNodeAddress, Nameservice, Storage, StorageConfig, StorageError, check_jar,
};

const CLASS: &str = "consort.examples.CountRange";

struct Cluster {
    kdc: Kdc,
    hadoop: SecureHadoop,
    dir: tempfile::TempDir,
    jar_path: String,
}

impl Cluster {
    /// A keytab in the scratch directory holding `names`' current keys.
    fn keytab(&self, file: &str, names: &[&str]) -> PathBuf {
        let path = self.dir.path().join(file);
        self.kdc.export_keytab(names, &path);
        path
    }

    fn kadmin(&self, query: &str) {
        let out = Command::new("kadmin.local")
            .args(["-r", self.kdc.realm(), "-q", query])
            .env("KRB5_CONFIG", self.kdc.krb5_conf())
            .env("KRB5_KDC_PROFILE", self.kdc.dir().join("kdc.conf"))
            .output()
            .expect("kadmin.local runs");
        assert!(out.status.success(), "kadmin.local -q {query:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn principal(&self, name: &str) -> String {
        format!("{name}@{}", self.kdc.realm())
    }

    fn keytab_settings(&self, name: &str, keytab: &Path) -> KerberosSettings {
        KerberosSettings {
            principal: Some(self.principal(name)),
            keytab: Some(keytab.to_owned()),
            krb5_conf: Some(self.kdc.krb5_conf().to_owned()),
            ..Default::default()
        }
    }

    fn storage(&self, kerberos: KerberosSettings) -> StorageConfig {
        StorageConfig {
            hdfs: HdfsConfig {
                // The rig's client configuration: the HA nameservice and the DataNode's SASL.
                config_dir: Some(self.hadoop.conf_dir.clone()),
                nameservices: vec![Nameservice {
                    name: self.hadoop.nameservice.clone(),
                    namenodes: self
                        .hadoop
                        .namenodes
                        .iter()
                        .enumerate()
                        .map(|(i, (rpc, http))| NameNodeAddress {
                            name: format!("nn{i}"),
                            rpc: Some(rpc.clone()),
                            http: Some(http.clone()),
                        })
                        .collect(),
                }],
                kerberos: Some(kerberos),
                ..HdfsConfig::default()
            },
            ..StorageConfig::default()
        }
    }

    fn uri(&self, scheme: &str) -> String {
        format!("{scheme}://{}{}", self.hadoop.nameservice, self.jar_path)
    }

    fn check(&self, scheme: &str, kerberos: KerberosSettings) -> Result<consort_storage::JarReport, JarCheckError> {
        let config = self.storage(kerberos);
        let uri = self.uri(scheme);
        runtime().block_on(async {
            let storage = Storage::from_uri(&uri, &config).await?;
            check_jar(&storage, &uri, Some(CLASS)).await
        })
    }

    /// A configuration file for the CLI.
    fn config_file(&self, name: &str, kerberos: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        let namenodes = self
            .hadoop
            .namenodes
            .iter()
            .enumerate()
            .map(|(i, (rpc, http))| format!("{{ name = \"nn{i}\", rpc = \"{rpc}\", http = \"{http}\" }}"))
            .collect::<Vec<_>>()
            .join(", ");
        std::fs::write(
            &path,
            format!(
                "[kerberos]\n{kerberos}krb5_conf = \"{}\"\n\n[storage.hdfs]\nconfig_dir = \"{}\"\n\n\
                 [[storage.hdfs.nameservices]]\nname = \"{}\"\nnamenodes = [{namenodes}]\n",
                self.kdc.krb5_conf().display(),
                self.hadoop.conf_dir.display(),
                self.hadoop.nameservice,
            ),
        )
        .unwrap();
        path
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn kerberos_error(result: Result<consort_storage::JarReport, JarCheckError>) -> consort_kerberos::KerberosError {
    match result {
        Err(JarCheckError::Storage(StorageError::Kerberos { source, .. })) => source,
        other => panic!("expected a Kerberos error, got {other:?}"),
    }
}

fn consort(config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_consort"));
    cmd.env_remove("CONSORT_CONFIG")
        .env_remove("KRB5_CONFIG")
        .env_remove("KRB5CCNAME")
        .env("XDG_CONFIG_HOME", std::env::temp_dir().join("consort-kerberos-test-no-config"))
        .arg("artifact")
        .arg("check")
        .arg("--config")
        .arg(config);
    cmd
}

#[test]
fn a_kerberized_cluster_end_to_end() {
    let kdc = Kdc::start();
    // MIT Kerberos reads KRB5_CONFIG in this process: set before the rig's threads and ours.
    consort_kerberos::use_krb5_conf(kdc.krb5_conf());
    let mut hadoop = SecureHadoop::start(&kdc);
    eprintln!("kerberized Hadoop ready in {:?}", hadoop.started_in);
    let dir = tempfile::tempdir().unwrap();
    let jar = cache_dir().join("examples/consort-examples.jar");
    assert!(jar.is_file(), "{} is missing: run scripts/setup (41-spark-examples.sh)", jar.display());
    let jar_path = "/jobs/consort-examples.jar".to_owned();
    hadoop.put(&jar, &jar_path);
    let mut c = Cluster { kdc, hadoop, dir, jar_path };
    if !c.kdc.has_principal("consort") {
        c.kdc.add_principal("consort");
    }
    for name in ["alice", "bob", "carol", "dave", "short", "renewable", "brief", "stale"] {
        match name {
            "short" => c.kdc.add_principal_with_max_life(name, 20, 20),
            "renewable" => c.kdc.add_principal_with_max_life(name, 20, 600),
            // Not renewable: krb5.conf's renew_lifetime would make kinit's tickets renewable.
            "brief" | "stale" => c.kdc.add_principal_with_max_life(name, 5, 0),
            _ => c.kdc.add_principal(name),
        }
    }
    let consort_keytab = c.keytab("consort.keytab", &["consort"]);

    // Renewal takes a ticket's lifetime to show: start the clocks first.
    let short = c.keytab_settings("short", &c.keytab("short.keytab", &["short"]));
    let short_id = Identity::login(&short).unwrap();
    let short_first_expiry = short_id.expires_at();
    let renewable_cache = format!("FILE:{}", c.dir.path().join("renewable.ccache").display());
    kinit_renewable(&c, "renewable", &c.keytab("renewable.keytab", &["renewable"]), &renewable_cache);
    let renewable = KerberosSettings {
        ticket_cache: Some(renewable_cache.clone()),
        krb5_conf: Some(c.kdc.krb5_conf().to_owned()),
        ..Default::default()
    };
    let renewable_id = Identity::login(&renewable).unwrap();
    let renewable_first_expiry = renewable_id.expires_at();
    let brief_cache = format!("FILE:{}", c.dir.path().join("brief.ccache").display());
    let brief_keytab = c.keytab("brief.keytab", &["brief"]);
    c.kdc.kinit(&c.principal("brief"), &brief_keytab, &brief_cache, Some(5));
    // `stale` is logged in while its 5-second ticket is fresh.
    let stale_cache = format!("FILE:{}", c.dir.path().join("stale.ccache").display());
    let stale_keytab = c.keytab("stale.keytab", &["stale"]);
    c.kdc.kinit(&c.principal("stale"), &stale_keytab, &stale_cache, Some(5));
    let stale = KerberosSettings {
        ticket_cache: Some(stale_cache.clone()),
        krb5_conf: Some(c.kdc.krb5_conf().to_owned()),
        ..Default::default()
    };
    Identity::login(&stale).unwrap();
    let clocks_started = Instant::now();

    // 1. The jar check with a keytab, over RPC (SASL/GSSAPI) and WebHDFS (SPNEGO, then a
    //    delegation token), the HA pair's active NameNode found either way.
    let settings = c.keytab_settings("consort", &consort_keytab);
    for scheme in ["hdfs", "webhdfs"] {
        let report = c.check(scheme, settings.clone()).unwrap_or_else(|e| panic!("{scheme}: {e}"));
        assert_eq!(report.class.map(|c| c.name).as_deref(), Some(CLASS), "{scheme}");
    }
    let id = Identity::login(&settings).unwrap();
    assert_eq!(id.principal(), c.principal("consort"));
    assert!(id.ccache().starts_with("MEMORY:"), "a keytab login keeps its tickets in memory: {}", id.ccache());

    // 2. With a ticket cache from kinit instead of a keytab.
    let cache = format!("FILE:{}", c.dir.path().join("consort.ccache").display());
    c.kdc.kinit(&c.principal("consort"), &consort_keytab, &cache, None);
    let from_cache = KerberosSettings {
        ticket_cache: Some(cache.clone()),
        krb5_conf: Some(c.kdc.krb5_conf().to_owned()),
        ..Default::default()
    };
    for scheme in ["hdfs", "webhdfs"] {
        c.check(scheme, from_cache.clone()).unwrap_or_else(|e| panic!("{scheme} with a ticket cache: {e}"));
    }

    // 3. What goes wrong, each named with its fix.
    let missing = c.keytab_settings("consort", &c.dir.path().join("nowhere.keytab"));
    let e = kerberos_error(c.check("hdfs", missing));
    assert_eq!(e.kind, ErrorKind::NoKeytab, "{e}");
    assert!(e.to_string().contains("nowhere.keytab"), "{e}");

    let alice_keytab = c.keytab("alice.keytab", &["alice"]);
    let e = kerberos_error(c.check("hdfs", c.keytab_settings("consort", &alice_keytab)));
    assert_eq!(e.kind, ErrorKind::WrongPrincipal, "{e}");
    assert!(e.to_string().contains("klist -kt"), "{e}");

    let bob_keytab = c.keytab("bob.keytab", &["bob"]);
    c.kadmin("cpw -randkey bob");
    let e = kerberos_error(c.check("webhdfs", c.keytab_settings("bob", &bob_keytab)));
    assert_eq!(e.kind, ErrorKind::WrongKey, "{e}");
    assert!(e.to_string().contains("export a fresh keytab"), "{e}");

    let carol_keytab = c.keytab("carol.keytab", &["carol"]);
    c.kadmin("delprinc -force carol");
    let e = kerberos_error(c.check("hdfs", c.keytab_settings("carol", &carol_keytab)));
    assert_eq!(e.kind, ErrorKind::UnknownPrincipal, "{e}");

    // Service principals that the KDC does not know: a wrong pattern is named with its setting.
    let wrong_hdfs = KerberosSettings { hdfs_principal: "nn/_HOST".into(), ..settings.clone() };
    let e = kerberos_error(c.check("hdfs", wrong_hdfs));
    assert_eq!(e.kind, ErrorKind::UnknownService, "{e}");
    assert!(e.to_string().contains("nn/localhost") && e.to_string().contains("kerberos.hdfs_principal"), "{e}");
    let wrong_http = KerberosSettings { http_principal: "HTTP/_HOST@ELSEWHERE.TEST".into(), ..settings.clone() };
    let e = kerberos_error(c.check("webhdfs", wrong_http));
    assert!(matches!(e.kind, ErrorKind::UnknownService | ErrorKind::KdcUnreachable), "{e}");
    assert!(
        e.to_string().contains("HTTP/localhost@ELSEWHERE.TEST") && e.to_string().contains("kerberos.http_principal"),
        "{e}"
    );

    let no_ticket = KerberosSettings {
        ticket_cache: Some(format!("FILE:{}", c.dir.path().join("empty.ccache").display())),
        krb5_conf: Some(c.kdc.krb5_conf().to_owned()),
        ..Default::default()
    };
    let e = kerberos_error(c.check("hdfs", no_ticket));
    assert_eq!(e.kind, ErrorKind::NoTicket, "{e}");
    assert!(e.to_string().contains("kinit"), "{e}");

    // 4. The CLI reads [kerberos] like the server: a keytab, a ticket cache, a wrong keytab.
    let uri = c.uri("hdfs");
    let keytab_config = c.config_file(
        "keytab.toml",
        &format!("principal = \"{}\"\nkeytab = \"{}\"\n", c.principal("consort"), consort_keytab.display()),
    );
    let out = consort(&keytab_config).arg(&uri).args(["--class", CLASS]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: "), "{}", String::from_utf8_lossy(&out.stdout));
    let out = consort(&c.config_file("cache.toml", ""))
        .arg(c.uri("webhdfs"))
        .args(["--class", CLASS])
        .env("KRB5CCNAME", &cache)
        .output()
        .unwrap();
    assert!(out.status.success(), "the ticket cache from KRB5CCNAME: {}", String::from_utf8_lossy(&out.stderr));
    let wrong_config = c.config_file(
        "wrong.toml",
        &format!("principal = \"{}\"\nkeytab = \"{}\"\n", c.principal("consort"), alice_keytab.display()),
    );
    let out = consort(&wrong_config).arg(&uri).args(["--class", CLASS]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Kerberos") && stderr.contains("klist -kt"), "{stderr}");

    // 5. The local backend runs a jar that lives on the kerberized HDFS: spark-submit logs in
    //    with consort's keytab (a job's own keytab setting is ignored).
    let work = c.dir.path().join("spark-runs");
    std::fs::create_dir_all(&work).unwrap();
    let spark = installed_pyspark().expect("pyspark venv missing: run scripts/setup (40-spark.sh)");
    let local = LocalLauncher::new(LocalConfig {
        spark_home: spark.spark_home,
        python: Some(spark.python),
        work_dir: work,
        master: "local[1]".into(),
        hadoop_conf_dir: Some(c.hadoop.conf_dir.clone()),
        kerberos: Some(settings.clone()),
    });
    let mut job = AppSpec::jar("count-on-kerberized-hdfs", c.uri("hdfs"), CLASS);
    job.args = vec!["1000".into(), "ok".into()];
    job.driver_memory = Some("512m".into());
    job.conf.insert("spark.kerberos.keytab".into(), alice_keytab.display().to_string());
    let (status, logs) = runtime().block_on(async {
        let run = local.submit(&job).await.expect("submitted");
        let status = wait_until_final(&local, &run.id, Duration::from_millis(500), Duration::from_secs(300))
            .await
            .expect("the run ends");
        (status, local.logs(&run.id, 64 * 1024).await.unwrap_or_default())
    });
    assert_eq!(status.state, AppState::Succeeded, "{status:?}\n{logs}");
    assert!(logs.contains("COUNT=1000"), "{logs}");

    // 6. The KDC goes down: a new login fails at once, saying so; an identity that already
    //    holds its service tickets keeps working until they expire.
    let dave = c.keytab_settings("dave", &c.keytab("dave.keytab", &["dave"]));
    c.kdc.stop();
    let started = Instant::now();
    let e = kerberos_error(c.check("hdfs", dave.clone()));
    assert_eq!(e.kind, ErrorKind::KdcUnreachable, "{e}");
    assert!(started.elapsed() < Duration::from_secs(30), "a KDC outage must not hang: {:?}", started.elapsed());
    c.check("hdfs", settings.clone()).expect("cached service tickets outlive a KDC outage");
    c.kdc.restart();
    c.check("hdfs", dave).expect("the KDC is back");

    // 7. Renewal. Tickets of `short` live 20 s: its identity logs in again at 80% of that; the
    //    `renewable` cache is renewed in place; the 5-second `brief` ticket has expired.
    let wait = Duration::from_secs(26).saturating_sub(clocks_started.elapsed());
    std::thread::sleep(wait);
    assert!(short_id.expires_at() > short_first_expiry, "the keytab login was renewed");
    assert!(short_id.expires_at() > SystemTime::now(), "and is valid now");
    c.check("hdfs", short.clone()).expect("a check after the first ticket expired");
    c.check("webhdfs", short).expect("over WebHDFS too");
    assert!(renewable_id.expires_at() > renewable_first_expiry, "the cached ticket was renewed in place");
    c.check("hdfs", renewable).expect("a check with the renewed cache");
    let brief = KerberosSettings {
        ticket_cache: Some(brief_cache.clone()),
        krb5_conf: Some(c.kdc.krb5_conf().to_owned()),
        ..Default::default()
    };
    let e = kerberos_error(c.check("hdfs", brief.clone()));
    assert_eq!(e.kind, ErrorKind::TicketExpired, "{e}");
    assert!(e.to_string().contains("kinit"), "{e}");
    c.kdc.kinit(&c.principal("brief"), &brief_keytab, &brief_cache, Some(5));
    c.check("webhdfs", brief).expect("after kinit");
    // A running identity whose cache expired fails with the fix, then takes the ticket of a new
    // kinit without a restart.
    let e = kerberos_error(c.check("webhdfs", stale.clone()));
    assert_eq!(e.kind, ErrorKind::TicketExpired, "{e}");
    c.kdc.kinit(&c.principal("stale"), &stale_keytab, &stale_cache, Some(5));
    // Its renewable life ends where it starts (maximum renewable life 0): a renewal returns a
    // ticket that has already expired, which must not replace the good one in the cache.
    let stale_id = Identity::login(&stale).unwrap();
    let _ = stale_id.refresh();
    assert!(stale_id.expires_at() > SystemTime::now() + Duration::from_secs(1), "the new ticket is kept");
    c.check("webhdfs", stale).expect("the new ticket is used");
}

/// kinit with a 20-second ticket renewable for 10 minutes.
fn kinit_renewable(c: &Cluster, name: &str, keytab: &Path, ccache: &str) {
    let out = Command::new("kinit")
        .args(["-l", "20s", "-r", "600s", "-kt"])
        .arg(keytab)
        .args(["-c", ccache, &c.principal(name)])
        .env("KRB5_CONFIG", c.kdc.krb5_conf())
        .output()
        .expect("kinit runs");
    assert!(out.status.success(), "kinit -r: {}", String::from_utf8_lossy(&out.stderr));
}
