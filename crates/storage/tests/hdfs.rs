//! HDFS through native RPC and WebHDFS against Hadoop's MiniDFSCluster (rigs/hadoop): an HA pair
//! of NameNodes, the active one found without being named, permission checks as a non-superuser,
//! and failover. One cluster serves the whole test binary. The scenarios live in
//! `hdfs_scenarios`, shared with the kerberized run (`hdfs_kerberos.rs`).

mod hdfs_scenarios;
mod support;

use std::sync::OnceLock;

use consort_storage::StorageConfig;
use hdfs_scenarios::{Cluster, FailOver};
use support::Hdfs;

/// The cluster starts with its second NameNode active, so a client that simply tried the first
/// one would fail.
fn cluster() -> &'static Hdfs {
    static CLUSTER: OnceLock<Hdfs> = OnceLock::new();
    CLUSTER.get_or_init(|| Hdfs::start(1))
}

impl Cluster for Hdfs {
    fn nameservice(&self) -> &str {
        &self.nameservice
    }

    fn namenode(&self, index: usize) -> (String, String) {
        let (_, rpc, http) = &self.namenodes[index];
        (rpc.clone(), http.clone())
    }

    fn active(&self) -> usize {
        *self.active.lock().unwrap()
    }

    fn config(&self, user: &str) -> StorageConfig {
        Hdfs::config(self, user)
    }

    fn bare_config(&self) -> StorageConfig {
        StorageConfig::default()
    }

    fn principal(&self, user: &str) -> String {
        user.to_owned()
    }

    async fn put(&self, path: &str, bytes: &[u8]) {
        Hdfs::put(self, path, bytes).await
    }
}

impl FailOver for Hdfs {
    fn make_active(&self, index: usize) {
        Hdfs::make_active(self, index)
    }
}

/// The cluster, with the fixtures in place (the rig itself makes `/private/secret.jar`).
async fn fixtures() -> &'static Hdfs {
    let hdfs = tokio::task::spawn_blocking(cluster).await.unwrap();
    hdfs_scenarios::fixtures(hdfs).await;
    hdfs
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
async fn permission_denied_names_the_user() {
    hdfs_scenarios::permission_denied_names_the_user(fixtures().await, "alice").await;
}

#[tokio::test]
async fn unreachable_namenodes_are_retryable_and_named() {
    hdfs_scenarios::unreachable_namenodes_are_retryable_and_named(fixtures().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_is_followed() {
    hdfs_scenarios::failover_is_followed(fixtures().await).await;
}

#[tokio::test]
async fn write_read_and_list_as_a_plain_user() {
    hdfs_scenarios::write_read_and_list_as_a_plain_user(fixtures().await).await;
}
