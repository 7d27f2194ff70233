//! Artifact storage settings for the jar check and the provisioner.

use consort_config::Config;
use consort_storage::{AzureConfig, HdfsConfig, NameNodeAddress, Nameservice, S3Config, Secret, StorageConfig};

/// Maps the `[storage]` (and `[kerberos]`) settings onto the storage crate's configuration;
/// secrets come only from the environment.
pub fn storage_config(config: &Config) -> StorageConfig {
    let settings = &config.storage;
    let secret = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty()).map(Secret::new);
    StorageConfig {
        hdfs: HdfsConfig {
            user: settings.hdfs.user.clone(),
            config_dir: settings.hdfs.config_dir.clone(),
            nameservices: settings
                .hdfs
                .nameservices
                .iter()
                .map(|ns| Nameservice {
                    name: ns.name.clone(),
                    namenodes: ns
                        .namenodes
                        .iter()
                        .map(|nn| NameNodeAddress { name: nn.name.clone(), rpc: nn.rpc.clone(), http: nn.http.clone() })
                        .collect(),
                })
                .collect(),
            kerberos: config.kerberos.as_ref().map(|k| k.settings()),
            ..HdfsConfig::default()
        },
        s3: S3Config {
            endpoint: settings.s3.endpoint.clone(),
            region: settings.s3.region.clone(),
            access_key_id: std::env::var("AWS_ACCESS_KEY_ID").ok().filter(|v| !v.is_empty()),
            secret_access_key: secret("AWS_SECRET_ACCESS_KEY"),
            session_token: secret("AWS_SESSION_TOKEN"),
            virtual_host_style: settings.s3.virtual_host_style,
            ..S3Config::default()
        },
        azure: AzureConfig {
            account_name: settings.azure.account_name.clone(),
            account_key: secret("AZURE_STORAGE_KEY"),
            sas_token: secret("AZURE_STORAGE_SAS_TOKEN"),
            endpoint: settings.azure.endpoint.clone(),
        },
    }
}
