//! S3 (moto's server) and Azure Blob (azurite): the jar check over real HTTP object stores,
//! not-found, wrong credentials and unreachable endpoints. One server of each per test binary.

mod support;

use std::sync::OnceLock;

use consort_storage::{JarCheckError, Storage, StorageConfig, StorageError, check_jar};
use support::{Azurite, JarSpec, S3, build_jar, with_launcher};

fn s3() -> &'static S3 {
    static S3: OnceLock<S3> = OnceLock::new();
    S3.get_or_init(S3::start)
}

fn azurite() -> &'static Azurite {
    static AZ: OnceLock<Azurite> = OnceLock::new();
    AZ.get_or_init(Azurite::start)
}

async fn s3_fixtures() -> &'static S3 {
    static READY: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let server = tokio::task::spawn_blocking(s3).await.unwrap();
    READY
        .get_or_init(|| async {
            server.create_bucket("jobs").await;
            server.put("jobs", "app/app.jar", build_jar(JarSpec::default())).await;
            server
                .put("jobs", "app/app64", with_launcher(&build_jar(JarSpec { zip64: true, ..JarSpec::default() })))
                .await;
            server.put("jobs", "app/notes.txt", b"not a jar".to_vec()).await;
        })
        .await;
    server
}

async fn azure_fixtures() -> &'static Azurite {
    static READY: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let server = tokio::task::spawn_blocking(azurite).await.unwrap();
    READY
        .get_or_init(|| async {
            server.create_container("jobs").await;
            server.put("jobs", "app/app.jar", build_jar(JarSpec { stored: true, ..JarSpec::default() })).await;
        })
        .await;
    server
}

async fn check(uri: &str, config: &StorageConfig, class: &str) -> Result<consort_storage::JarReport, JarCheckError> {
    let storage = Storage::from_uri(uri, config).await?;
    check_jar(&storage, uri, Some(class)).await
}

#[tokio::test]
async fn s3_jar_check_passes_with_range_reads() {
    let server = s3_fixtures().await;
    let config = server.config();
    let report = check("s3://jobs/app/app.jar", &config, "com.example.App").await.unwrap();
    assert!(report.class.is_some());
    let report = check("s3a://jobs/app/app64", &config, "com.example.jobs.deep.nested.Etl").await.unwrap();
    assert!(report.zip64 && report.prefix_len > 0, "{report}");
}

#[tokio::test]
async fn s3_failures_say_what_to_fix() {
    let server = s3_fixtures().await;
    let config = server.config();
    let err = check("s3://jobs/app/missing.jar", &config, "a.B").await.unwrap_err();
    assert!(matches!(err, JarCheckError::Storage(StorageError::NotFound { .. })), "{err}");
    assert!(err.to_string().contains("bucket"), "{err}");
    let err = check("s3://jobs/app/notes.txt", &config, "a.B").await.unwrap_err();
    assert!(matches!(err, JarCheckError::NotAZip { .. }), "{err}");
    let err = check("s3://jobs/app/app.jar", &config, "com.example.Apps").await.unwrap_err();
    assert!(err.to_string().contains("did you mean com.example.App"), "{err}");
}

#[tokio::test]
async fn s3_listing() {
    let server = s3_fixtures().await;
    let storage = Storage::from_uri("s3://jobs/", &server.config()).await.unwrap();
    let listed = storage.list("s3://jobs/app/").await.unwrap();
    let mut names: Vec<_> = listed.iter().map(|e| e.uri.as_str()).collect();
    names.sort();
    assert_eq!(names, ["s3://jobs/app/app.jar", "s3://jobs/app/app64", "s3://jobs/app/notes.txt"]);
}

#[tokio::test]
async fn s3_unreachable_endpoint_is_retryable() {
    let port = support::free_port();
    let mut config = StorageConfig::default();
    config.s3.endpoint = Some(format!("http://127.0.0.1:{port}"));
    config.s3.access_key_id = Some("test".to_owned());
    config.s3.secret_access_key = Some(consort_storage::Secret::new("test"));
    let err = check("s3://jobs/app.jar", &config, "a.B").await.unwrap_err();
    let JarCheckError::Storage(inner) = &err else { panic!("{err}") };
    assert!(matches!(inner, StorageError::Unreachable { .. }) && inner.is_retryable(), "{err}");
    assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
}

#[tokio::test]
async fn azure_jar_check_passes() {
    let server = azure_fixtures().await;
    let config = server.config(support::AZURITE_KEY);
    let report = check("az://jobs/app/app.jar", &config, "com.example.App").await.unwrap();
    assert_eq!(report.class.unwrap().compression, consort_storage::jar::Compression::Stored);
    // The ADLS Gen2 form names the account in the URI.
    let uri = format!("abfss://jobs@{}.dfs.core.windows.net/app/app.jar", support::AZURITE_ACCOUNT);
    check(&uri, &config, "com.example.jobs.deep.nested.Etl").await.unwrap();
}

#[tokio::test]
async fn azure_not_found_and_wrong_key() {
    let server = azure_fixtures().await;
    let err = check("az://jobs/app/missing.jar", &server.config(support::AZURITE_KEY), "a.B").await.unwrap_err();
    assert!(matches!(err, JarCheckError::Storage(StorageError::NotFound { .. })), "{err}");
    assert!(err.to_string().contains("container"), "{err}");
    let wrong = "AAAAvdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    let err = check("az://jobs/app/app.jar", &server.config(wrong), "a.B").await.unwrap_err();
    let JarCheckError::Storage(StorageError::PermissionDenied { principal, .. }) = &err else { panic!("{err}") };
    assert!(principal.contains(support::AZURITE_ACCOUNT), "{err}");
    // A missing account is a configuration error that says where to put it.
    let err = Storage::from_uri("az://jobs/app.jar", &StorageConfig::default()).await.unwrap_err();
    assert!(err.to_string().contains("storage account"), "{err}");
}
