//! The jar check on local files: every zip layout and failure the check must handle, with jars
//! built from classes that `javac` compiles for the test.

mod support;

use consort_storage::{JarCheckError, Storage, StorageConfig, StorageError, check_jar, check_python};
use support::{JarSpec, build_jar, with_launcher};

struct Fixture {
    dir: tempfile::TempDir,
    storage: Storage,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::from_uri("file:///", &StorageConfig::default()).await.unwrap();
        Fixture { dir, storage }
    }

    fn put(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        format!("file://{}", path.display())
    }
}

async fn check(uri: &str, class: &str) -> Result<consort_storage::JarReport, JarCheckError> {
    let storage = Storage::from_uri(uri, &StorageConfig::default()).await.unwrap();
    check_jar(&storage, uri, Some(class)).await
}

#[tokio::test]
async fn deflated_jar_with_main_passes_and_reports_what_it_read() {
    let f = Fixture::new().await;
    let jar = build_jar(JarSpec::default());
    let uri = f.put("app.jar", &jar);
    let report = check(&uri, "com.example.App").await.unwrap();
    let class = report.class.as_ref().unwrap();
    assert_eq!(class.entry, "com/example/App.class");
    assert_eq!(class.major_version, 61);
    assert_eq!(report.prefix_len, 0);
    assert!(!report.zip64);
    assert_eq!(report.size, jar.len() as u64);
    assert!(report.bytes_read <= jar.len() as u64 + 1024, "{report}");
    assert!(report.to_string().contains("has public static void main"), "{report}");
}

#[tokio::test]
async fn class_names_with_slashes_dots_suffix_nested_packages_and_inner_classes() {
    let f = Fixture::new().await;
    let uri = f.put("app.jar", &build_jar(JarSpec { stored: true, ..JarSpec::default() }));
    for name in [
        "com/example/App",
        "com.example.App.class",
        "com.example.jobs.deep.nested.Etl",
        "com/example/jobs/deep/nested/Etl.class",
        "com.example.Outer$Inner",
    ] {
        let report = check(&uri, name).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.class.unwrap().compression, consort_storage::jar::Compression::Stored);
    }
}

#[tokio::test]
async fn zip64_jar_passes() {
    let f = Fixture::new().await;
    let uri = f.put("app64.jar", &build_jar(JarSpec { zip64: true, ..JarSpec::default() }));
    let report = check(&uri, "com.example.App").await.unwrap();
    assert!(report.zip64, "{report}");
}

#[tokio::test]
async fn jar_behind_a_launcher_script_passes() {
    let f = Fixture::new().await;
    let jar = build_jar(JarSpec::default());
    let uri = f.put("app", &with_launcher(&jar));
    let report = check(&uri, "com.example.jobs.deep.nested.Etl").await.unwrap();
    assert!(report.prefix_len > 0, "{report}");

    let uri64 = f.put("app64", &with_launcher(&build_jar(JarSpec { zip64: true, ..JarSpec::default() })));
    let report = check(&uri64, "com.example.App").await.unwrap();
    assert!(report.zip64 && report.prefix_len > 0, "{report}");
}

#[tokio::test]
async fn jar_built_by_the_jdk_jar_tool_passes() {
    let f = Fixture::new().await;
    let classes = f.dir.path().join("classes");
    for (name, bytes) in support::classes() {
        let p = classes.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    let jar = f.dir.path().join("tool.jar");
    let status = std::process::Command::new("jar")
        .arg("cfe")
        .arg(&jar)
        .arg("com.example.App")
        .arg("-C")
        .arg(&classes)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let uri = format!("file://{}", jar.display());
    check(&uri, "com.example.App").await.unwrap();
    // A bare absolute path is a local file too, as upstream treats a jar without scheme.
    check(&jar.display().to_string(), "com.example.App").await.unwrap();
}

#[tokio::test]
async fn missing_class_suggests_close_names() {
    let f = Fixture::new().await;
    let uri = f.put("app.jar", &build_jar(JarSpec::default()));
    let err = check(&uri, "com.example.Ap").await.unwrap_err();
    let JarCheckError::ClassNotFound { suggestions, .. } = &err else { panic!("{err}") };
    assert_eq!(suggestions.first().map(String::as_str), Some("com.example.App"), "{err}");
    assert!(err.to_string().contains("did you mean com.example.App"), "{err}");

    let err = check(&uri, "org.other.Etl").await.unwrap_err();
    assert!(err.to_string().contains("com.example.jobs.deep.nested.Etl"), "{err}");
}

#[tokio::test]
async fn class_without_static_main_is_refused() {
    let f = Fixture::new().await;
    let uri = f.put("app.jar", &build_jar(JarSpec::default()));
    let err = check(&uri, "com.example.NoMain").await.unwrap_err();
    let JarCheckError::NoMainMethod { other_mains, .. } = &err else { panic!("{err}") };
    assert!(other_mains.iter().any(|m| m == "public main([Ljava/lang/String;)V"), "{err}");
    assert!(err.to_string().contains("public static void main(String[] args)"), "{err}");
    let err = check(&uri, "com.example.Outer").await.unwrap_err();
    assert!(matches!(err, JarCheckError::NoMainMethod { .. }), "{err}");
}

#[tokio::test]
async fn text_file_is_not_a_zip() {
    let f = Fixture::new().await;
    let uri = f.put("notes.txt", b"this is not a jar\n");
    let err = check(&uri, "com.example.App").await.unwrap_err();
    assert!(matches!(err, JarCheckError::NotAZip { .. }), "{err}");
    let uri = f.put("empty.jar", b"");
    assert!(matches!(check(&uri, "a.B").await.unwrap_err(), JarCheckError::NotAZip { .. }));
}

#[tokio::test]
async fn truncated_jar_is_reported_not_panicked() {
    let f = Fixture::new().await;
    let jar = build_jar(JarSpec::default());
    for cut in [10, jar.len() / 2, jar.len() - 10] {
        let uri = f.put("cut.jar", &jar[..cut]);
        let err = check(&uri, "com.example.App").await.unwrap_err();
        assert!(matches!(err, JarCheckError::NotAZip { .. } | JarCheckError::CorruptJar { .. }), "{cut}: {err}");
    }
}

#[tokio::test]
async fn missing_file_and_directory() {
    let f = Fixture::new().await;
    let uri = format!("file://{}/nope.jar", f.dir.path().display());
    let err = check_jar(&f.storage, &uri, Some("a.B")).await.unwrap_err();
    assert!(matches!(err, JarCheckError::Storage(StorageError::NotFound { .. })), "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");
    let dir_uri = format!("file://{}", f.dir.path().display());
    let err = check_jar(&f.storage, &dir_uri, Some("a.B")).await.unwrap_err();
    assert!(matches!(err, JarCheckError::Storage(StorageError::IsDirectory { .. })), "{err}");
}

#[tokio::test]
async fn jar_without_class_only_checks_the_zip() {
    let f = Fixture::new().await;
    let uri = f.put("app.jar", &build_jar(JarSpec::default()));
    let report = check_jar(&f.storage, &uri, None).await.unwrap();
    assert!(report.class.is_none());
    assert_eq!(report.entries, 1 + support::classes().len() as u64);
}

#[tokio::test]
async fn wrong_root_is_refused() {
    let f = Fixture::new().await;
    let err = f.storage.stat("s3://bucket/app.jar").await.unwrap_err();
    assert!(matches!(err, StorageError::WrongRoot { .. }), "{err}");
}

#[tokio::test]
async fn python_entry_points_exist_and_compile() {
    let f = Fixture::new().await;
    let good = f.put("job.py", b"import sys\nprint(sys.argv)\n");
    let report = check_python(&f.storage, &good).await.unwrap();
    assert_eq!(report.size, 27);
    let bad = f.put("bad.py", b"def f(:\n  pass\n");
    let err = check_python(&f.storage, &bad).await.unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
}

#[tokio::test]
async fn listing_and_reading_local_files() {
    let f = Fixture::new().await;
    let uri = f.put("a.txt", b"hello world");
    assert_eq!(&f.storage.read_range(&uri, 6..11).await.unwrap()[..], b"world");
    assert_eq!(&f.storage.read(&uri).await.unwrap()[..], b"hello world");
    let listed = f.storage.list(&format!("file://{}/", f.dir.path().display())).await.unwrap();
    assert!(listed.iter().any(|e| e.uri.ends_with("/a.txt") && e.len == Some(11)), "{listed:?}");
}

#[tokio::test]
async fn bytes_read_do_not_grow_with_the_jar() {
    let f = Fixture::new().await;
    let mut read = Vec::new();
    for filler in [1u64 << 20, 4 << 20, 16 << 20] {
        let uri = f.put(&format!("big{filler}.jar"), &build_jar(JarSpec { filler, ..JarSpec::default() }));
        let report = check(&uri, "com.example.App").await.unwrap();
        read.push((report.bytes_read, report.reads));
    }
    assert!(read.windows(2).all(|w| w[0] == w[1]), "{read:?}");
    assert!(read[0].0 < 32 << 10, "{read:?}");
}

#[tokio::test]
async fn long_comment_and_large_directory_take_extra_reads() {
    let f = Fixture::new().await;
    let uri = f.put("comment.jar", &build_jar(JarSpec { comment_len: 40_000, ..JarSpec::default() }));
    let report = check(&uri, "com.example.App").await.unwrap();
    assert_eq!(report.reads, 3, "{report}");
    let uri = f.put("many.jar", &build_jar(JarSpec { extra_entries: 3000, filler: 1 << 20, ..JarSpec::default() }));
    let report = check(&uri, "com.example.jobs.deep.nested.Etl").await.unwrap();
    assert_eq!((report.entries, report.reads), (3002 + support::classes().len() as u64, 3), "{report}");
}
