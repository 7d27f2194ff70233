//! The `yarn` backend against the kerberized rig (issue 13): an MIT KDC and `consort-rigs`'
//! SecureHadoop (HDFS HA pair + YARN, SPNEGO on the REST APIs), started once. The scenarios are
//! those of `yarn.rs` (`support/yarn_scenarios.rs`), run as `consort@CONSORT.TEST` from a keytab;
//! before them, a launcher without Kerberos is refused with an error that names the fix.
//!
//! Known failure on this rig: a kerberized NodeManager reads container logs through Hadoop's
//! SecureIOUtils, which needs libhadoop (native `fstat` for the owner check); the rig has no
//! native code, so every container-log request is an HTTP 500 and the assertions on the drivers'
//! output (`COUNT=1000`, `COUNT=2000` from `logs`) fail; every other scenario passes (checked with
//! those two reported instead of asserted). A real cluster ships libhadoop. Loading SecureIOUtils under simple auth does not help: `openForRead`
//! checks Kerberos on every call.
//!
//! On failure the rig's scratch directory is kept (its path is printed): `hdfs.log`, `yarn.log`,
//! and the NodeManager's container logs under `yarn/`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use consort_kerberos::{Identity, KerberosSettings, use_krb5_conf};
use consort_rigs::{Kdc, SecureHadoop};
use consort_spark::{AppSpec, Launcher, SparkError, YarnLauncher, installed_pyspark};

#[path = "support/yarn_scenarios.rs"]
mod yarn_scenarios;
use yarn_scenarios::YarnCluster;

/// The kerberized rig, seen by the scenarios; the KDC outlives it.
struct Kerberized {
    rig: SecureHadoop,
    settings: KerberosSettings,
    identity: Arc<Identity>,
}

impl YarnCluster for Kerberized {
    fn conf_dir(&self) -> PathBuf {
        self.rig.conf_dir.clone()
    }
    fn rm_webapp(&self) -> String {
        self.rig.rm_webapp.clone()
    }
    fn started_in(&self) -> Duration {
        self.rig.started_in
    }
    fn kerberos(&self) -> Option<KerberosSettings> {
        Some(self.settings.clone())
    }
    fn hdfs_prefix(&self) -> String {
        format!("hdfs://{}/", self.rig.nameservice)
    }
    fn expected_user(&self) -> Option<String> {
        Some("consort".into())
    }
    fn put(&mut self, local: &Path, hdfs_path: &str) -> String {
        self.rig.put(local, hdfs_path)
    }
    async fn rm_json(&self, path: &str) -> serde_json::Value {
        let url = format!("http://{}{path}", self.rig.rm_webapp);
        // A fresh SPNEGO token per request: Hadoop refuses a replayed one.
        let (id, u) = (self.identity.clone(), url.clone());
        let header = tokio::task::spawn_blocking(move || id.negotiate(&u)).await.unwrap().unwrap();
        let response = reqwest::Client::new().get(&url).header("Authorization", header).send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(status.is_success(), "{url}: HTTP {status}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    }
    // Hadoop's SecureIOUtils needs libhadoop in a kerberized NodeManager, which this rig lacks, so
    // the NodeManager answers log requests with 500: read its log directory instead.
    fn output_on_disk(&self, app_id: &str) -> Option<String> {
        let mut out = String::new();
        let mut stack = vec![self.rig.yarn_work_dir.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.file_name().is_some_and(|n| n == "stdout" || n == "stderr")
                    && path.components().any(|c| c.as_os_str() == app_id)
                {
                    out.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
                }
            }
        }
        Some(out)
    }
}

// A plain #[test] with its own runtime: KRB5_CONFIG is set before any other thread exists.
#[test]
fn cluster_mode_applications_on_a_kerberized_yarn() {
    let test_started = Instant::now();
    installed_pyspark().expect("pyspark venv missing: run scripts/setup (40-spark.sh)");
    let kdc = Kdc::start();
    use_krb5_conf(kdc.krb5_conf());
    let rig = SecureHadoop::start(&kdc);
    eprintln!("KDC + secure Hadoop up in {:?} (rig {:?})", test_started.elapsed(), rig.started_in);
    if !kdc.has_principal("consort") {
        kdc.add_principal("consort");
    }
    let client = kdc.dir().join("client");
    std::fs::create_dir_all(&client).unwrap();
    let keytab = client.join("consort.keytab");
    kdc.export_keytab(&["consort"], &keytab);
    let settings = KerberosSettings {
        principal: Some("consort@CONSORT.TEST".into()),
        keytab: Some(keytab),
        krb5_conf: Some(kdc.krb5_conf().to_path_buf()),
        ..Default::default()
    };
    let identity = Identity::login(&settings).unwrap();
    let cluster = Kerberized { rig, settings, identity };

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        // Without Kerberos the ResourceManager answers 401: refused (retrying cannot help), and
        // the error names the status and the settings to fix. Nothing is submitted.
        let mut plain = yarn_scenarios::yarn_config(&cluster);
        plain.kerberos = None;
        let anonymous = YarnLauncher::new(plain).unwrap();
        let spec = AppSpec::jar("anonymous", "hdfs:///jobs/none.jar", "consort.examples.CountRange");
        for err in [
            anonymous.health().await.unwrap_err(),
            anonymous.status("application_1_0001").await.unwrap_err(),
            anonymous.submit(&spec).await.unwrap_err(),
        ] {
            let text = err.to_string();
            assert!(matches!(err, SparkError::Rejected { .. }) && !err.is_retryable(), "{err:?}");
            assert!(text.contains("401") && text.contains("check the [kerberos] settings"), "{text}");
        }
        let apps = cluster.rm_json("/ws/v1/cluster/apps").await;
        let listed = apps["apps"]["app"].as_array().map_or(0, Vec::len);
        assert_eq!(listed, 0, "no application was submitted: {apps}");

        yarn_scenarios::cluster_mode_applications(cluster).await;
    });
    drop(runtime);
    drop(kdc);
    eprintln!("whole test {:?}", test_started.elapsed());
}
