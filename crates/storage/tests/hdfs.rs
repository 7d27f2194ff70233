//! HDFS through native RPC and WebHDFS against Hadoop's MiniDFSCluster (rigs/hadoop): an HA pair
//! of NameNodes, the active one found without being named, permission checks as a non-superuser,
//! and failover. One cluster serves the whole test binary.

mod support;

use std::sync::OnceLock;

use consort_storage::{JarCheckError, Storage, StorageConfig, StorageError, check_jar};
use support::{Hdfs, JarSpec, build_jar, with_launcher};

/// The cluster starts with its second NameNode active, so a client that simply tried the first
/// one would fail.
fn cluster() -> &'static Hdfs {
    static CLUSTER: OnceLock<Hdfs> = OnceLock::new();
    CLUSTER.get_or_init(|| Hdfs::start(1))
}

/// Tests read under this lock; the failover test writes.
static FAILOVER: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Puts the fixtures in place once.
async fn fixtures() -> &'static Hdfs {
    static READY: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let hdfs = tokio::task::spawn_blocking(cluster).await.unwrap();
    READY
        .get_or_init(|| async {
            hdfs.put("/jobs/app.jar", &build_jar(JarSpec::default())).await;
            hdfs.put("/jobs/app64", &with_launcher(&build_jar(JarSpec { zip64: true, ..JarSpec::default() }))).await;
            hdfs.put("/jobs/readme.txt", b"not a jar").await;
        })
        .await;
    hdfs
}

fn ns_uri(hdfs: &Hdfs, scheme: &str, path: &str) -> String {
    format!("{scheme}://{}{path}", hdfs.nameservice)
}

async fn check(uri: &str, config: &StorageConfig, class: &str) -> Result<consort_storage::JarReport, JarCheckError> {
    let storage = Storage::from_uri(uri, config).await?;
    check_jar(&storage, uri, Some(class)).await
}

#[tokio::test]
async fn jar_check_over_native_rpc_finds_the_active_namenode() {
    let hdfs = fixtures().await;
    let _guard = FAILOVER.read().await;
    let uri = ns_uri(hdfs, "hdfs", "/jobs/app.jar");
    let report = check(&uri, &hdfs.config("alice"), "com.example.App").await.unwrap();
    assert_eq!(report.class.unwrap().name, "com.example.App");
    let uri = ns_uri(hdfs, "hdfs", "/jobs/app64");
    let report = check(&uri, &hdfs.config("alice"), "com.example.jobs.deep.nested.Etl").await.unwrap();
    assert!(report.zip64 && report.prefix_len > 0, "{report}");
}

#[tokio::test]
async fn jar_check_over_webhdfs_finds_the_active_namenode() {
    let hdfs = fixtures().await;
    let _guard = FAILOVER.read().await;
    let uri = ns_uri(hdfs, "webhdfs", "/jobs/app.jar");
    let storage = Storage::from_uri(&uri, &hdfs.config("alice")).await.unwrap();
    let active = *hdfs.active.lock().unwrap();
    assert_eq!(storage.address(), hdfs.namenodes[active].2);
    let report = check_jar(&storage, &uri, Some("com/example/App")).await.unwrap();
    assert!(report.class.is_some());
}

#[tokio::test]
async fn single_namenode_addresses_work_too() {
    let hdfs = fixtures().await;
    let _guard = FAILOVER.read().await;
    let active = *hdfs.active.lock().unwrap();
    let (_, rpc, http) = &hdfs.namenodes[active];
    let config = StorageConfig::default();
    check(&format!("hdfs://{rpc}/jobs/app.jar"), &config, "com.example.App").await.unwrap();
    check(&format!("webhdfs://{http}/jobs/app.jar"), &config, "com.example.App").await.unwrap();
}

#[tokio::test]
async fn missing_jar_class_and_not_a_zip_on_hdfs() {
    let hdfs = fixtures().await;
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

#[tokio::test]
async fn permission_denied_names_the_user() {
    let hdfs = fixtures().await;
    let _guard = FAILOVER.read().await;
    for scheme in ["hdfs", "webhdfs"] {
        let err = check(&ns_uri(hdfs, scheme, "/private/secret.jar"), &hdfs.config("alice"), "a.B").await.unwrap_err();
        let JarCheckError::Storage(StorageError::PermissionDenied { principal, .. }) = &err else {
            panic!("{scheme}: {err}")
        };
        assert!(principal.contains("alice"), "{scheme}: {err}");
        assert!(err.to_string().contains("grant that identity read access"), "{err}");
    }
}

#[tokio::test]
async fn unreachable_namenodes_are_retryable_and_named() {
    let _ = fixtures().await;
    let port = support::free_port();
    for uri in [format!("hdfs://127.0.0.1:{port}/a.jar"), format!("webhdfs://127.0.0.1:{port}/a.jar")] {
        let err = check(&uri, &StorageConfig::default(), "a.B").await.unwrap_err();
        let JarCheckError::Storage(inner) = &err else { panic!("{uri}: {err}") };
        assert!(inner.is_retryable(), "{uri}: {err}");
        assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{uri}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_is_followed() {
    let hdfs = fixtures().await;
    let _guard = FAILOVER.write().await;
    let before = *hdfs.active.lock().unwrap();
    let other = 1 - before;
    tokio::task::block_in_place(|| hdfs.make_active(other));
    let config = hdfs.config("alice");
    for scheme in ["hdfs", "webhdfs"] {
        let uri = ns_uri(hdfs, scheme, "/jobs/app.jar");
        check(&uri, &config, "com.example.App").await.unwrap_or_else(|e| panic!("{scheme} after failover: {e}"));
    }
    let storage = Storage::from_uri(&ns_uri(hdfs, "webhdfs", "/"), &config).await.unwrap();
    assert_eq!(storage.address(), hdfs.namenodes[other].2);
    let listed = storage.list(&ns_uri(hdfs, "webhdfs", "/jobs/")).await.unwrap();
    assert!(listed.iter().any(|e| e.uri.ends_with("/jobs/app.jar")), "{listed:?}");
    tokio::task::block_in_place(|| hdfs.make_active(before));
}

#[tokio::test]
async fn write_read_and_list_as_a_plain_user() {
    let hdfs = fixtures().await;
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
