//! The HDFS scenarios, written once and run against any HDFS HA pair: the plain minicluster
//! (`tests/hdfs.rs`) and the kerberized rig (`tests/hdfs_kerberos.rs`). A [`Cluster`] says how to
//! address it, which settings act as a given user, and how that user is named in errors.
#![allow(dead_code)]

use std::future::Future;

use consort_storage::{JarCheckError, Storage, StorageConfig, StorageError, check_jar};

use crate::support::{JarSpec, build_jar, free_port, with_launcher};

/// An HDFS HA pair with WebHDFS, seen from a test.
pub trait Cluster: Sync {
    /// The HA nameservice, the authority of `hdfs://NS/` and `webhdfs://NS/` URIs.
    fn nameservice(&self) -> &str;
    /// NameNode `index`'s (rpc, http) `host:port`.
    fn namenode(&self, index: usize) -> (String, String);
    /// Which NameNode is active now.
    fn active(&self) -> usize;
    /// Settings that know the nameservice and act as `user`.
    fn config(&self, user: &str) -> StorageConfig;
    /// Settings that do not know the nameservice (single NameNode addresses) but can still
    /// authenticate, as someone allowed to read `/jobs`.
    fn bare_config(&self) -> StorageConfig;
    /// How the storage names `user` in a permission error (`alice`, `alice@REALM`).
    fn principal(&self, user: &str) -> String;
    /// Writes `bytes` to `path` as the superuser, readable by everyone.
    fn put(&self, path: &str, bytes: &[u8]) -> impl Future<Output = ()> + Send;
}

/// A cluster whose active NameNode the test can change.
pub trait FailOver: Cluster {
    /// Makes NameNode `index` the active one (blocking).
    fn make_active(&self, index: usize);
}

/// Scenarios read under this lock; the failover scenario (and any that needs the cluster to
/// itself) writes.
pub static FAILOVER: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Puts the shared fixtures in place once per test binary.
pub async fn fixtures<C: Cluster>(cluster: &C) {
    static READY: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    READY
        .get_or_init(|| async {
            cluster.put("/jobs/app.jar", &build_jar(JarSpec::default())).await;
            cluster.put("/jobs/app64", &with_launcher(&build_jar(JarSpec { zip64: true, ..JarSpec::default() }))).await;
            cluster.put("/jobs/readme.txt", b"not a jar").await;
        })
        .await;
}

pub fn ns_uri<C: Cluster>(cluster: &C, scheme: &str, path: &str) -> String {
    format!("{scheme}://{}{path}", cluster.nameservice())
}

pub async fn check(
    uri: &str,
    config: &StorageConfig,
    class: &str,
) -> Result<consort_storage::JarReport, JarCheckError> {
    let storage = Storage::from_uri(uri, config).await?;
    check_jar(&storage, uri, Some(class)).await
}

pub async fn jar_check_over_native_rpc_finds_the_active_namenode<C: Cluster>(hdfs: &C) {
    let _guard = FAILOVER.read().await;
    let uri = ns_uri(hdfs, "hdfs", "/jobs/app.jar");
    let report = check(&uri, &hdfs.config("alice"), "com.example.App").await.unwrap();
    assert_eq!(report.class.unwrap().name, "com.example.App");
    let uri = ns_uri(hdfs, "hdfs", "/jobs/app64");
    let report = check(&uri, &hdfs.config("alice"), "com.example.jobs.deep.nested.Etl").await.unwrap();
    assert!(report.zip64 && report.prefix_len > 0, "{report}");
}

pub async fn jar_check_over_webhdfs_finds_the_active_namenode<C: Cluster>(hdfs: &C) {
    let _guard = FAILOVER.read().await;
    let uri = ns_uri(hdfs, "webhdfs", "/jobs/app.jar");
    let storage = Storage::from_uri(&uri, &hdfs.config("alice")).await.unwrap();
    assert_eq!(storage.address(), hdfs.namenode(hdfs.active()).1);
    let report = check_jar(&storage, &uri, Some("com/example/App")).await.unwrap();
    assert!(report.class.is_some());
}

pub async fn single_namenode_addresses_work_too<C: Cluster>(hdfs: &C) {
    let _guard = FAILOVER.read().await;
    let (rpc, http) = hdfs.namenode(hdfs.active());
    let config = hdfs.bare_config();
    check(&format!("hdfs://{rpc}/jobs/app.jar"), &config, "com.example.App").await.unwrap();
    check(&format!("webhdfs://{http}/jobs/app.jar"), &config, "com.example.App").await.unwrap();
}

pub async fn missing_jar_class_and_not_a_zip<C: Cluster>(hdfs: &C) {
    let _guard = FAILOVER.read().await;
    for scheme in ["hdfs", "webhdfs"] {
        let config = hdfs.config("alice");
        let err = check(&ns_uri(hdfs, scheme, "/jobs/missing.jar"), &config, "a.B").await.unwrap_err();
        assert!(matches!(err, JarCheckError::Storage(StorageError::NotFound { .. })), "{scheme}: {err}");
        let err = check(&ns_uri(hdfs, scheme, "/jobs/app.jar"), &config, "com.example.Main").await.unwrap_err();
        assert!(matches!(err, JarCheckError::ClassNotFound { .. }), "{scheme}: {err}");
        let err = check(&ns_uri(hdfs, scheme, "/jobs/readme.txt"), &config, "a.B").await.unwrap_err();
        assert!(matches!(err, JarCheckError::NotAZip { .. }), "{scheme}: {err}");
    }
}

/// `/private/secret.jar` is readable by its owner only (the cluster puts it there).
pub async fn permission_denied_names_the_user<C: Cluster>(hdfs: &C, user: &str) {
    let _guard = FAILOVER.read().await;
    for scheme in ["hdfs", "webhdfs"] {
        let err = check(&ns_uri(hdfs, scheme, "/private/secret.jar"), &hdfs.config(user), "a.B").await.unwrap_err();
        let JarCheckError::Storage(StorageError::PermissionDenied { principal, .. }) = &err else {
            panic!("{scheme}: {err}")
        };
        assert!(principal.contains(&hdfs.principal(user)), "{scheme}: {err}");
        assert!(err.to_string().contains("grant that identity read access"), "{err}");
    }
}

pub async fn unreachable_namenodes_are_retryable_and_named<C: Cluster>(hdfs: &C) {
    let port = free_port();
    for uri in [format!("hdfs://127.0.0.1:{port}/a.jar"), format!("webhdfs://127.0.0.1:{port}/a.jar")] {
        let err = check(&uri, &hdfs.bare_config(), "a.B").await.unwrap_err();
        let JarCheckError::Storage(inner) = &err else { panic!("{uri}: {err}") };
        assert!(inner.is_retryable(), "{uri}: {err}");
        assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{uri}: {err}");
    }
}

/// Needs a multi-threaded runtime: the fail-over blocks.
pub async fn failover_is_followed<C: FailOver>(hdfs: &C) {
    let _guard = FAILOVER.write().await;
    let before = hdfs.active();
    let other = 1 - before;
    tokio::task::block_in_place(|| hdfs.make_active(other));
    let config = hdfs.config("alice");
    for scheme in ["hdfs", "webhdfs"] {
        let uri = ns_uri(hdfs, scheme, "/jobs/app.jar");
        check(&uri, &config, "com.example.App").await.unwrap_or_else(|e| panic!("{scheme} after failover: {e}"));
    }
    let storage = Storage::from_uri(&ns_uri(hdfs, "webhdfs", "/"), &config).await.unwrap();
    assert_eq!(storage.address(), hdfs.namenode(other).1);
    let listed = storage.list(&ns_uri(hdfs, "webhdfs", "/jobs/")).await.unwrap();
    assert!(listed.iter().any(|e| e.uri.ends_with("/jobs/app.jar")), "{listed:?}");
    tokio::task::block_in_place(|| hdfs.make_active(before));
}

pub async fn write_read_and_list_as_a_plain_user<C: Cluster>(hdfs: &C) {
    let _guard = FAILOVER.read().await;
    let config = hdfs.config("alice");
    for scheme in ["hdfs", "webhdfs"] {
        let dir = ns_uri(hdfs, scheme, &format!("/users/alice/{scheme}"));
        let uri = format!("{dir}/note.txt");
        let storage = Storage::from_uri(&uri, &config).await.unwrap();
        storage.write(&uri, bytes::Bytes::from_static(b"hello hdfs")).await.unwrap();
        assert_eq!(storage.stat(&uri).await.unwrap().len, 10, "{scheme}");
        assert_eq!(&storage.read_range(&uri, 6..10).await.unwrap()[..], b"hdfs", "{scheme}");
        assert_eq!(&storage.read(&uri).await.unwrap()[..], b"hello hdfs", "{scheme}");
        let listed = storage.list(&dir).await.unwrap();
        assert_eq!(listed.len(), 1, "{scheme}: {listed:?}");
        assert!(listed[0].uri.ends_with("/note.txt") && listed[0].len == Some(10), "{scheme}: {listed:?}");
        // Writing where alice may not is refused with her name.
        let denied = ns_uri(hdfs, scheme, "/private/mine.txt");
        let err = storage.write(&denied, bytes::Bytes::from_static(b"x")).await.unwrap_err();
        assert!(matches!(err, StorageError::PermissionDenied { .. }), "{scheme}: {err}");
    }
}
