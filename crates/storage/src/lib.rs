//! Artifact storage for consort: one `Storage` handle per storage root, addressed by URI
//! (`file://`, `hdfs://`, `webhdfs://`, `s3://`, `az://`/`abfs://`), and the jar check that proves a
//! Spark job's jar holds its main class with `public static void main(String[])` while reading
//! only the zip's directory and that class.
//!
//! The default feature `backends` brings the storage clients; without it only the pure parsers
//! (`jar::zip`, `jar::class`, class names, URIs) are built, as the fuzz targets use them.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use consort_storage::{Storage, StorageConfig, check_jar};
//! let uri = "hdfs://ns1/jobs/etl.jar";
//! let storage = Storage::from_uri(uri, &StorageConfig::default()).await?;
//! let report = check_jar(&storage, uri, Some("com.example.Etl")).await?;
//! println!("{report}");
//! # Ok(()) }
//! ```

pub mod config;
pub mod error;
pub mod jar;
#[cfg(feature = "backends")]
pub mod python;
#[cfg(feature = "backends")]
pub mod storage;
pub mod uri;

pub use config::{
    AzureConfig, HdfsConfig, KerberosSettings, NameNodeAddress, Nameservice, S3Config, Secret, StorageConfig,
};
pub use error::StorageError;
#[cfg(feature = "backends")]
pub use jar::check_jar;
pub use jar::{ClassName, JarCheckError, JarReport, MainClass};
#[cfg(feature = "backends")]
pub use python::{PythonCheckError, PythonReport, check_python};
#[cfg(feature = "backends")]
pub use storage::{ListEntry, ObjectMeta, Storage};
pub use uri::{Scheme, StorageUri};
