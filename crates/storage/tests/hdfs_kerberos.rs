//! The HDFS scenarios of `hdfs.rs` on a kerberized cluster (an MIT KDC and `consort-rigs`'
//! `SecureHadoop`: an HA pair of NameNodes, SPNEGO on WebHDFS, SASL data transfer), each user
//! logging in from its own keytab; then what only Kerberos has: a ticket cache from `kinit`,
//! WebHDFS without Kerberos refused with a message naming it, and the delegation token reused.
//! One KDC and one rig serve the whole binary.
//!

mod hdfs_scenarios;
mod support;

use std::sync::OnceLock;

use consort_storage::{JarCheckError, KerberosSettings, Storage, StorageConfig, StorageError};
use hdfs_scenarios::{Cluster, FAILOVER, FailOver, check, ns_uri};
use support::secure::SecureHdfs;

fn cluster() -> &'static SecureHdfs {
    static CLUSTER: OnceLock<SecureHdfs> = OnceLock::new();
    CLUSTER.get_or_init(SecureHdfs::start)
}

impl Cluster for SecureHdfs {
    fn nameservice(&self) -> &str {
        &self.nameservice
    }

    fn namenode(&self, index: usize) -> (String, String) {
        self.namenodes[index].clone()
    }

    fn active(&self) -> usize {
        SecureHdfs::active(self)
    }

    fn config(&self, user: &str) -> StorageConfig {
        SecureHdfs::config(self, user)
    }

    fn bare_config(&self) -> StorageConfig {
        self.bare_config_with(Some(self.keytab_settings("alice")))
    }

    fn principal(&self, user: &str) -> String {
        SecureHdfs::principal(self, user)
    }

    async fn put(&self, path: &str, bytes: &[u8]) {
        SecureHdfs::put(self, path, bytes).await
    }
}

/// The cluster, with the fixtures of `hdfs.rs` in place (and `/private/secret.jar`, which the
/// plain rig makes by itself).
async fn fixtures() -> &'static SecureHdfs {
    static PRIVATE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let hdfs = tokio::task::spawn_blocking(cluster).await.unwrap();
    hdfs_scenarios::fixtures(hdfs).await;
    PRIVATE.get_or_init(|| hdfs.put_private()).await;
    hdfs
}

impl FailOver for SecureHdfs {
    fn make_active(&self, index: usize) {
        SecureHdfs::make_active(self, index)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_is_followed() {
    hdfs_scenarios::failover_is_followed(fixtures().await).await;
}

#[tokio::test]
async fn jar_check_over_native_rpc_finds_the_active_namenode() {
    hdfs_scenarios::jar_check_over_native_rpc_finds_the_active_namenode(fixtures().await).await;
}

#[tokio::test]
async fn jar_check_over_webhdfs_finds_the_active_namenode() {
    hdfs_scenarios::jar_check_over_webhdfs_finds_the_active_namenode(fixtures().await).await;
}

#[tokio::test]
async fn single_namenode_addresses_work_too() {
    hdfs_scenarios::single_namenode_addresses_work_too(fixtures().await).await;
}

#[tokio::test]
async fn missing_jar_class_and_not_a_zip_on_hdfs() {
    hdfs_scenarios::missing_jar_class_and_not_a_zip(fixtures().await).await;
}

#[tokio::test]
async fn permission_denied_names_the_principal() {
    hdfs_scenarios::permission_denied_names_the_user(fixtures().await, "alice").await;
}

#[tokio::test]
async fn unreachable_namenodes_are_retryable_and_named() {
    hdfs_scenarios::unreachable_namenodes_are_retryable_and_named(fixtures().await).await;
}

#[tokio::test]
async fn write_read_and_list_as_a_plain_user() {
    hdfs_scenarios::write_read_and_list_as_a_plain_user(fixtures().await).await;
}

#[tokio::test]
async fn a_ticket_cache_from_kinit_instead_of_a_keytab() {
    let hdfs = fixtures().await;
    let _guard = FAILOVER.read().await;
    let ccache = tokio::task::spawn_blocking(|| cluster().kinit("bob")).await.unwrap();
    let settings = KerberosSettings {
        ticket_cache: Some(ccache),
        krb5_conf: Some(hdfs.kdc.krb5_conf().to_owned()),
        ..KerberosSettings::default()
    };
    let config = hdfs.config_with(Some(settings));
    for scheme in ["hdfs", "webhdfs"] {
        let report = check(&ns_uri(hdfs, scheme, "/jobs/app.jar"), &config, "com.example.App")
            .await
            .unwrap_or_else(|e| panic!("{scheme}: {e}"));
        assert!(report.class.is_some(), "{scheme}: {report}");
        // The cache's principal is who the cluster sees.
        let err = check(&ns_uri(hdfs, scheme, "/private/secret.jar"), &config, "a.B").await.unwrap_err();
        let JarCheckError::Storage(StorageError::PermissionDenied { principal, .. }) = &err else {
            panic!("{scheme}: {err}")
        };
        assert!(principal.contains("bob@CONSORT.TEST"), "{scheme}: {err}");
    }
}

#[tokio::test]
async fn webhdfs_without_kerberos_is_refused_naming_kerberos() {
    let hdfs = fixtures().await;
    let _guard = FAILOVER.read().await;
    let mut config = hdfs.config_with(None);
    config.hdfs.user = Some("alice".to_owned());
    // Through the nameservice: no NameNode tells its HA state without SPNEGO.
    let err = check(&ns_uri(hdfs, "webhdfs", "/jobs/app.jar"), &config, "com.example.App").await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("401") && text.contains("Kerberos"), "{text}");
    // At one NameNode's address: the read itself is refused.
    let (_, http) = hdfs.namenode(hdfs.active());
    let err = check(&format!("webhdfs://{http}/jobs/app.jar"), &config, "com.example.App").await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("401") && text.contains("Kerberos"), "{text}");
}

/// A Hadoop `WritableUtils` variable-length integer at the front of `b`.
fn read_vlong(b: &mut &[u8]) -> i64 {
    let first = b[0] as i8;
    *b = &b[1..];
    if first >= -112 {
        return i64::from(first);
    }
    let len = if first < -120 { -119 - i32::from(first) } else { -111 - i32::from(first) } as usize;
    let mut v = 0i64;
    for &x in &b[..len - 1] {
        v = (v << 8) | i64::from(x);
    }
    *b = &b[len - 1..];
    if first < -120 { !v } else { v }
}

/// A length-prefixed field (`Text`, or a `Token`'s byte arrays).
fn read_bytes<'a>(b: &mut &'a [u8]) -> &'a [u8] {
    let len = read_vlong(b) as usize;
    let (field, rest) = b.split_at(len);
    *b = rest;
    field
}

/// The sequence number the NameNode gave a WebHDFS delegation token (`Token.urlString`: the
/// identifier is version, owner, renewer, real user, issue date, max date, sequence number, ...).
fn token_sequence_number(url_string: &str) -> i64 {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(url_string.trim_end_matches('=')).unwrap();
    let mut token = &raw[..];
    let mut id = read_bytes(&mut token);
    assert_eq!(id[0], 0, "a version 0 delegation token identifier");
    id = &id[1..];
    for _ in 0..3 {
        read_bytes(&mut id); // owner, renewer, real user
    }
    read_vlong(&mut id); // issue date
    read_vlong(&mut id); // max date
    read_vlong(&mut id)
}

/// A delegation token fetched by `curl --negotiate` with `ccache`'s ticket.
fn curl_delegation_token(hdfs: &SecureHdfs, ccache: &str, http: &str) -> String {
    let url = format!("http://{http}/webhdfs/v1/?op=GETDELEGATIONTOKEN");
    let out = std::process::Command::new("curl")
        .args(["-sS", "--fail", "--negotiate", "-u", ":", &url])
        .env("KRB5_CONFIG", hdfs.kdc.krb5_conf())
        .env("KRB5CCNAME", ccache)
        .output()
        .expect("curl runs (run scripts/setup: 33-kdc.sh)");
    assert!(out.status.success(), "curl {url}: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["Token"]["urlString"].as_str().unwrap_or_else(|| panic!("no Token.urlString in {v}")).to_owned()
}

#[tokio::test]
async fn a_second_webhdfs_open_reuses_the_delegation_token() {
    let hdfs = fixtures().await;
    // The cluster to itself: no other test may fetch a token in between.
    let _guard = FAILOVER.write().await;
    let ccache = tokio::task::spawn_blocking(|| cluster().kinit("dave")).await.unwrap();
    let (_, http) = hdfs.namenode(hdfs.active());
    let before = {
        let (ccache, http) = (ccache.clone(), http.clone());
        tokio::task::spawn_blocking(move || token_sequence_number(&curl_delegation_token(cluster(), &ccache, &http)))
            .await
            .unwrap()
    };
    // dave's first open in this process fetches a token; the second one must not.
    let config = hdfs.config("dave");
    let uri = ns_uri(hdfs, "webhdfs", "/jobs/app.jar");
    for _ in 0..2 {
        let storage = Storage::from_uri(&uri, &config).await.unwrap();
        assert!(storage.stat(&uri).await.unwrap().len > 0);
    }
    let after =
        tokio::task::spawn_blocking(move || token_sequence_number(&curl_delegation_token(cluster(), &ccache, &http)))
            .await
            .unwrap();
    assert_eq!(after - before, 2, "the NameNode issued {} tokens between curl's two", after - before - 1);
}
