//! The kerberized HDFS of `consort-rigs` (an MIT KDC and `SecureRig`'s HA pair) as the storage
//! tests and the benchmark use it: users with their own keytabs, settings that log in as them,
//! and fixtures written by the HDFS superuser.

use std::path::PathBuf;
use std::sync::Mutex;

use consort_rigs::{Kdc, SecureHadoop};
use consort_storage::{HdfsConfig, KerberosSettings, NameNodeAddress, Nameservice, StorageConfig};

pub struct SecureHdfs {
    // First, so it is dropped (its JVMs stopped) before the KDC.
    rig: Mutex<SecureHadoop>,
    pub kdc: Kdc,
    pub nameservice: String,
    /// Each NameNode's (rpc, http) `localhost:port`.
    pub namenodes: Vec<(String, String)>,
    /// Which NameNode is active now.
    pub active: std::sync::atomic::AtomicUsize,
    /// The client configuration (HA nameservice, `dfs.data.transfer.protection`).
    pub conf_dir: PathBuf,
    /// Users' keytabs and ticket caches.
    pub clients: PathBuf,
    /// Users whose principal and keytab exist.
    users: Mutex<Vec<String>>,
    admin_ccache: String,
}

impl SecureHdfs {
    /// Starts a KDC and the kerberized HDFS HA pair (+ YARN), and points this process's Kerberos
    /// library at the KDC. Call before anything in the process uses Kerberos.
    pub fn start() -> SecureHdfs {
        let kdc = Kdc::start();
        // MIT Kerberos reads KRB5_CONFIG when a context is made: set it before the first login.
        consort_kerberos::use_krb5_conf(kdc.krb5_conf());
        let rig = SecureHadoop::start(&kdc);
        let clients = kdc.dir().join("clients");
        std::fs::create_dir_all(&clients).unwrap();
        // The superuser (the NameNodes run as hdfs/localhost) writes the fixtures.
        let admin_ccache = format!("FILE:{}", clients.join("hdfs.ccache").display());
        kdc.kinit("hdfs/localhost", rig.service_keytab(), &admin_ccache, None);
        SecureHdfs {
            nameservice: rig.nameservice.clone(),
            namenodes: rig.namenodes.clone(),
            active: std::sync::atomic::AtomicUsize::new(rig.active),
            conf_dir: rig.conf_dir.clone(),
            clients,
            users: Mutex::new(Vec::new()),
            admin_ccache,
            rig: Mutex::new(rig),
            kdc,
        }
    }

    /// `user@REALM`.
    pub fn principal(&self, user: &str) -> String {
        format!("{user}@{}", self.kdc.realm())
    }

    /// `user`'s keytab, creating the principal on first use.
    pub fn keytab(&self, user: &str) -> PathBuf {
        let keytab = self.clients.join(format!("{user}.keytab"));
        let mut users = self.users.lock().unwrap();
        if !users.iter().any(|u| u == user) {
            self.kdc.add_principal(user);
            self.kdc.export_keytab(&[user], &keytab);
            users.push(user.to_owned());
        }
        keytab
    }

    /// A ticket cache holding `user`'s ticket, as `kinit` leaves it.
    pub fn kinit(&self, user: &str) -> String {
        let keytab = self.keytab(user);
        let ccache = format!("FILE:{}", self.clients.join(format!("{user}.ccache")).display());
        self.kdc.kinit(user, &keytab, &ccache, None);
        ccache
    }

    /// Kerberos settings that log in as `user` from its keytab.
    pub fn keytab_settings(&self, user: &str) -> KerberosSettings {
        KerberosSettings {
            principal: Some(self.principal(user)),
            keytab: Some(self.keytab(user)),
            krb5_conf: Some(self.kdc.krb5_conf().to_owned()),
            ..KerberosSettings::default()
        }
    }

    /// Storage settings with the nameservice, the client configuration and `kerberos`.
    pub fn config_with(&self, kerberos: Option<KerberosSettings>) -> StorageConfig {
        let mut config = self.bare_config_with(kerberos);
        config.hdfs.nameservices = vec![Nameservice {
            name: self.nameservice.clone(),
            namenodes: self
                .namenodes
                .iter()
                .enumerate()
                .map(|(i, (rpc, http))| NameNodeAddress {
                    name: format!("nn{}", i + 1),
                    rpc: Some(rpc.clone()),
                    http: Some(http.clone()),
                })
                .collect(),
        }];
        config
    }

    /// Storage settings without the nameservice: the client configuration and `kerberos`.
    pub fn bare_config_with(&self, kerberos: Option<KerberosSettings>) -> StorageConfig {
        StorageConfig {
            hdfs: HdfsConfig {
                // The DataNode speaks SASL (dfs.data.transfer.protection), as hdfs-site.xml says.
                config_dir: Some(self.conf_dir.clone()),
                kerberos,
                ..HdfsConfig::default()
            },
            ..StorageConfig::default()
        }
    }

    /// Storage settings that know the nameservice and log in as `user` from its keytab.
    pub fn config(&self, user: &str) -> StorageConfig {
        self.config_with(Some(self.keytab_settings(user)))
    }

    /// A native client as the HDFS superuser.
    pub fn admin(&self) -> hdfs_native::Client {
        hdfs_native::ClientBuilder::new()
            .with_url(format!("hdfs://{}", self.nameservice))
            .with_config_dir(self.conf_dir.to_string_lossy().into_owned())
            .with_kerberos_principal(self.principal("hdfs/localhost"))
            .with_kerberos_cache(self.admin_ccache.clone())
            .build()
            .unwrap()
    }

    /// Writes `bytes` to `path` (overwriting), readable by everyone.
    /// Makes NameNode `index` the active one (blocking).
    pub fn make_active(&self, index: usize) {
        self.rig.lock().unwrap().make_active(index);
        self.active.store(index, std::sync::atomic::Ordering::SeqCst);
    }

    /// Which NameNode is active now.
    pub fn active(&self) -> usize {
        self.active.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub async fn put(&self, path: &str, bytes: &[u8]) {
        let client = self.admin();
        let opts = hdfs_native::WriteOptions::default().overwrite(true).create_parent(true).permission(0o644);
        let mut w = client.create(path, opts).await.unwrap_or_else(|e| panic!("create {path}: {e}"));
        for chunk in bytes.chunks(8 << 20) {
            w.write_bytes(bytes::Bytes::copy_from_slice(chunk)).await.unwrap();
        }
        w.close().await.unwrap();
    }

    /// `/private/secret.jar`, readable by the superuser only (as the plain rig makes it).
    pub async fn put_private(&self) {
        self.put("/private/secret.jar", b"PK\x05\x06").await;
        self.admin().set_permission("/private", 0o700).await.unwrap();
    }
}
