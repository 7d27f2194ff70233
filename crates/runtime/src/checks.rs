//! The provisioner's effectful checks on real storage and backends: the jar and its main
//! class, the Python entry point, and whether a Spark backend answers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use consort_provisioner::{CheckFailure, Checks};
use consort_spark::Launcher;
use consort_storage::{Storage, StorageConfig, StorageUri, check_jar, check_python};
use tokio::sync::Mutex;

/// How long a backend's health check may take before validation reports it unreachable.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// [`Checks`] on the configured storage and Spark backends. Connections to a storage root
/// (an HDFS nameservice, a bucket) are opened once and reused, so a validation costs the
/// reads of the check only.
#[derive(Debug)]
pub struct ArtifactChecks {
    storage: StorageConfig,
    backends: Vec<Arc<dyn Launcher>>,
    connections: Mutex<HashMap<String, Arc<Storage>>>,
}

impl ArtifactChecks {
    /// Checks on `storage` and `backends`.
    pub fn new(storage: StorageConfig, backends: Vec<Arc<dyn Launcher>>) -> Self {
        ArtifactChecks { storage, backends, connections: Mutex::new(HashMap::new()) }
    }

    /// The backends' names, as descriptors name them.
    pub fn backend_names(&self) -> Vec<String> {
        self.backends.iter().map(|b| b.kind().as_str().to_string()).collect()
    }

    async fn storage(&self, uri: &str) -> Result<Arc<Storage>, CheckFailure> {
        let parsed = StorageUri::parse(uri).map_err(|e| failure(&e.to_string()))?;
        let root = parsed.root();
        if let Some(storage) = self.connections.lock().await.get(&root) {
            return Ok(storage.clone());
        }
        // Connect outside the lock: a slow name node must not hold up checks on other roots.
        let storage = Arc::new(Storage::connect(&parsed, &self.storage).await.map_err(|e| failure(&e.to_string()))?);
        self.connections.lock().await.insert(root, storage.clone());
        Ok(storage)
    }

    async fn forget(&self, uri: &str) {
        if let Ok(parsed) = StorageUri::parse(uri) {
            self.connections.lock().await.remove(&parsed.root());
        }
    }
}

/// The storage crate's messages end with their fix after the last `; `.
fn failure(message: &str) -> CheckFailure {
    match message.rsplit_once("; ") {
        Some((problem, fix)) => CheckFailure { problem: problem.to_string(), fix: fix.to_string() },
        None => CheckFailure {
            problem: message.to_string(),
            fix: "check the URI, and that its storage is configured ([storage]) and reachable from this server".into(),
        },
    }
}

#[async_trait]
impl Checks for ArtifactChecks {
    async fn backend(&self, name: &str) -> Result<(), CheckFailure> {
        let Some(backend) = self.backends.iter().find(|b| b.kind().as_str() == name) else {
            return Err(CheckFailure {
                problem: format!("backend `{name}` is not configured on this server"),
                fix: format!("use one of {}, or configure it in [spark]", self.backend_names().join(", ")),
            });
        };
        match tokio::time::timeout(HEALTH_TIMEOUT, backend.health()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(failure(&e.to_string())),
            Err(_) => Err(CheckFailure {
                problem: format!("backend `{name}` at {} did not answer within {HEALTH_TIMEOUT:?}", backend.address()),
                fix: "check that it is running and reachable from this server, then validate again".into(),
            }),
        }
    }

    async fn jar(&self, uri: &str, class_name: &str) -> Result<(), CheckFailure> {
        let storage = self.storage(uri).await?;
        match check_jar(&storage, uri, Some(class_name)).await {
            Ok(_) => Ok(()),
            Err(e) => {
                if matches!(&e, consort_storage::JarCheckError::Storage(s) if s.is_retryable()) {
                    self.forget(uri).await;
                }
                Err(failure(&e.to_string()))
            }
        }
    }

    async fn python_file(&self, uri: &str) -> Result<(), CheckFailure> {
        let storage = self.storage(uri).await?;
        match check_python(&storage, uri).await {
            Ok(_) => Ok(()),
            Err(e) => {
                if matches!(&e, consort_storage::PythonCheckError::Storage(s) if s.is_retryable()) {
                    self.forget(uri).await;
                }
                Err(failure(&e.to_string()))
            }
        }
    }
}
