//! Test helpers shared by the integration tests and the jarcheck benchmark: real servers (Hadoop's
//! minicluster, moto's S3, azurite) started on free 127.0.0.1 ports and stopped with the test
//! process, and jars built on the fly from classes compiled by the JDK's `javac`.
#![allow(dead_code)]

pub mod secure;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use consort_storage::{
    AzureConfig, HdfsConfig, NameNodeAddress, Nameservice, S3Config, Secret, Storage, StorageConfig,
};

/// Where `scripts/setup` installs the servers.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("CONSORT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/consort"))
}

fn installed(path: PathBuf, what: &str) -> PathBuf {
    assert!(path.exists(), "{what} is not installed at {}; run scripts/setup first", path.display());
    path
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A server process that dies with the test process: it runs under `sh`, which kills it when our
/// end of its stdin closes (on drop, or when the test process exits for any reason).
pub struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Scratch directory for the server's data and logs; removed on drop.
    pub dir: tempfile::TempDir,
}

impl Server {
    /// Starts `program args...` with its output in `dir/server.log`; `args` gets the scratch
    /// directory.
    pub fn spawn(program: &Path, args: impl FnOnce(&Path) -> Vec<String>, env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let args = args(dir.path());
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(r#""$@" & pid=$!; cat >/dev/null; kill $pid 2>/dev/null; wait $pid"#)
            .arg("sh")
            .arg(program)
            .args(&args)
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let stdin = child.stdin.take();
        Server { child, stdin, dir }
    }

    /// The server's output so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Waits until `port` accepts connections.
    pub fn wait_for_port(&mut self, port: u16, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{what} exited with {status} before listening on {port}:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "{what} did not listen on {port} within 120 s:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// Hadoop's MiniDFSCluster with two NameNodes (HA) and WebHDFS, from rigs/hadoop.
pub struct Hdfs {
    child: Child,
    stdin: std::sync::Mutex<ChildStdin>,
    stdout: std::sync::Mutex<BufReader<std::process::ChildStdout>>,
    pub nameservice: String,
    /// (name, rpc address, http address) of each NameNode.
    pub namenodes: Vec<(String, String, String)>,
    pub active: std::sync::Mutex<usize>,
    pub dir: tempfile::TempDir,
}

impl Hdfs {
    /// Starts the rig; NameNode `active` starts active.
    // The child is reaped by `Drop` once it is ready, or before panicking when it is not.
    #[allow(clippy::zombie_processes)]
    pub fn start(active: usize) -> Hdfs {
        let cp = installed(cache_dir().join("rigs/hadoop/classpath.txt"), "the Hadoop minicluster rig");
        let classpath = std::fs::read_to_string(cp).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(dir.path().join("rig.log")).unwrap();
        let mut child = Command::new("java")
            .args(["-Xmx768m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", &classpath])
            .arg("consort.rigs.HdfsRig")
            .arg("--base")
            .arg(dir.path().join("dfs"))
            .args(["--active", &active.to_string()])
            .env("HADOOP_USER_NAME", "hdfs")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("java runs");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            if stdout.read_line(&mut line).unwrap() == 0 {
                let _ = child.wait();
                let mut log = String::new();
                let _ = std::fs::File::open(dir.path().join("rig.log")).and_then(|mut f| f.read_to_string(&mut log));
                panic!("the Hadoop rig exited before it was ready:\n{log}");
            }
            if let Some(json) = line.strip_prefix("READY ") {
                let v: serde_json::Value = serde_json::from_str(json).unwrap();
                let namenodes = v["namenodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|nn| {
                        (
                            nn["name"].as_str().unwrap().to_owned(),
                            nn["rpc"].as_str().unwrap().to_owned(),
                            nn["http"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect();
                let stdin = child.stdin.take().unwrap();
                return Hdfs {
                    child,
                    stdin: std::sync::Mutex::new(stdin),
                    stdout: std::sync::Mutex::new(stdout),
                    nameservice: v["nameservice"].as_str().unwrap().to_owned(),
                    namenodes,
                    active: std::sync::Mutex::new(active),
                    dir,
                };
            }
        }
    }

    /// Makes NameNode `index` the active one.
    pub fn make_active(&self, index: usize) {
        writeln!(self.stdin.lock().unwrap(), "active {index}").unwrap();
        let mut line = String::new();
        self.stdout.lock().unwrap().read_line(&mut line).unwrap();
        assert!(line.starts_with("OK"), "failover failed: {line}");
        *self.active.lock().unwrap() = index;
    }

    /// Storage settings that know the nameservice and act as `user`.
    pub fn config(&self, user: &str) -> StorageConfig {
        StorageConfig {
            hdfs: HdfsConfig {
                user: Some(user.to_owned()),
                nameservices: vec![Nameservice {
                    name: self.nameservice.clone(),
                    namenodes: self
                        .namenodes
                        .iter()
                        .map(|(name, rpc, http)| NameNodeAddress {
                            name: name.clone(),
                            rpc: Some(rpc.clone()),
                            http: Some(http.clone()),
                        })
                        .collect(),
                }],
                ..HdfsConfig::default()
            },
            ..StorageConfig::default()
        }
    }

    /// A native client (as the superuser) for putting test files in place.
    pub fn admin(&self) -> hdfs_native::Client {
        let rpc = &self.namenodes[*self.active.lock().unwrap()].1;
        hdfs_native::ClientBuilder::new().with_url(format!("hdfs://{rpc}")).with_user("hdfs").build().unwrap()
    }

    /// Writes `bytes` to `path` (overwriting), readable by everyone.
    pub async fn put(&self, path: &str, bytes: &[u8]) {
        let client = self.admin();
        let opts = hdfs_native::WriteOptions::default().overwrite(true).create_parent(true).permission(0o644);
        let mut w = client.create(path, opts).await.unwrap();
        for chunk in bytes.chunks(8 << 20) {
            w.write_bytes(bytes::Bytes::copy_from_slice(chunk)).await.unwrap();
        }
        w.close().await.unwrap();
    }
}

impl Drop for Hdfs {
    fn drop(&mut self) {
        if let Ok(mut stdin) = self.stdin.lock() {
            let _ = writeln!(stdin, "quit");
        }
        let _ = self.child.wait();
    }
}

/// An S3 server: moto's (tests), or s3s-fs (benchmark only, when installed), which keeps objects
/// as plain files and serves ranges without loading whole objects.
pub struct S3 {
    pub server: Server,
    pub endpoint: String,
    /// For s3s-fs: the directory whose subdirectories are buckets.
    pub root: Option<PathBuf>,
}

impl S3 {
    pub fn start() -> S3 {
        let bin = installed(cache_dir().join("venvs/moto/bin/moto_server"), "moto");
        let port = free_port();
        let mut server =
            Server::spawn(&bin, |_| ["-H", "127.0.0.1", "-p", &port.to_string()].map(String::from).to_vec(), &[]);
        server.wait_for_port(port, "moto_server");
        S3 { server, endpoint: format!("http://127.0.0.1:{port}"), root: None }
    }

    /// Starts s3s-fs if it is installed under the cache (the benchmark script installs it).
    pub fn start_s3s_fs() -> Option<S3> {
        let bin = cache_dir().join("s3s-fs/bin/s3s-fs");
        if !bin.exists() {
            return None;
        }
        let port = free_port();
        let mut server = Server::spawn(
            &bin,
            |dir| {
                let data = dir.join("data");
                std::fs::create_dir_all(&data).unwrap();
                let port = port.to_string();
                let data = data.to_string_lossy().into_owned();
                ["--host", "127.0.0.1", "--port", &port, "--access-key", "test", "--secret-key", "test", &data]
                    .map(String::from)
                    .to_vec()
            },
            &[],
        );
        server.wait_for_port(port, "s3s-fs");
        let root = server.dir.path().join("data");
        Some(S3 { server, endpoint: format!("http://127.0.0.1:{port}"), root: Some(root) })
    }

    pub fn config(&self) -> StorageConfig {
        StorageConfig {
            s3: S3Config {
                endpoint: Some(self.endpoint.clone()),
                region: Some("us-east-1".to_owned()),
                access_key_id: Some("test".to_owned()),
                secret_access_key: Some(Secret::new("test")),
                ..S3Config::default()
            },
            ..StorageConfig::default()
        }
    }

    /// Creates `bucket` (moto accepts unsigned requests; s3s-fs buckets are directories).
    pub async fn create_bucket(&self, bucket: &str) {
        if let Some(root) = &self.root {
            std::fs::create_dir_all(root.join(bucket)).unwrap();
            return;
        }
        let resp = reqwest::Client::new().put(format!("{}/{bucket}", self.endpoint)).send().await.unwrap();
        assert!(resp.status().is_success(), "create bucket: {}", resp.status());
    }

    /// Uploads `bytes` as `s3://bucket/key`.
    pub async fn put(&self, bucket: &str, key: &str, bytes: Vec<u8>) {
        let uri = format!("s3://{bucket}/{key}");
        let storage = Storage::from_uri(&uri, &self.config()).await.unwrap();
        storage.write(&uri, bytes.into()).await.unwrap();
    }
}

/// The well-known azurite development account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// The well-known azurite development key (public, documented by Microsoft).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// azurite's Blob service.
pub struct Azurite {
    pub server: Server,
    pub endpoint: String,
}

impl Azurite {
    pub fn start() -> Azurite {
        let bin = installed(cache_dir().join("azurite/node_modules/.bin/azurite-blob"), "azurite");
        let port = free_port();
        let mut server = Server::spawn(
            &bin,
            |dir| {
                let dir = dir.to_string_lossy().into_owned();
                let port = port.to_string();
                [
                    "--blobHost",
                    "127.0.0.1",
                    "--blobPort",
                    &port,
                    "--location",
                    &dir,
                    "--silent",
                    "--skipApiVersionCheck",
                ]
                .map(String::from)
                .to_vec()
            },
            &[],
        );
        server.wait_for_port(port, "azurite");
        Azurite { server, endpoint: format!("http://127.0.0.1:{port}/{AZURITE_ACCOUNT}") }
    }

    pub fn config(&self, key: &str) -> StorageConfig {
        StorageConfig {
            azure: AzureConfig {
                account_name: Some(AZURITE_ACCOUNT.to_owned()),
                account_key: Some(Secret::new(key)),
                endpoint: Some(self.endpoint.clone()),
                ..AzureConfig::default()
            },
            ..StorageConfig::default()
        }
    }

    /// Creates `container` with a Shared Key signed request.
    pub async fn create_container(&self, container: &str) {
        let date = httpdate_now();
        let version = "2021-08-06";
        let string_to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}/{container}\nrestype:container"
        );
        let signature = hmac_sha256_base64(AZURITE_KEY, &string_to_sign);
        let resp = reqwest::Client::new()
            .put(format!("{}/{container}?restype=container", self.endpoint))
            .header("x-ms-date", &date)
            .header("x-ms-version", version)
            .header("Content-Length", "0")
            .header("Authorization", format!("SharedKey {AZURITE_ACCOUNT}:{signature}"))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        assert!(
            status.is_success() || status.as_u16() == 409,
            "create container: {status} {}",
            resp.text().await.unwrap_or_default()
        );
    }

    /// Uploads `bytes` as blob `path` of `container`.
    pub async fn put(&self, container: &str, path: &str, bytes: Vec<u8>) {
        let uri = format!("az://{container}/{path}");
        let storage = Storage::from_uri(&uri, &self.config(AZURITE_KEY)).await.unwrap();
        storage.write(&uri, bytes.into()).await.unwrap();
    }
}

fn httpdate_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][(m - 1) as usize];
    format!("{weekday}, {d:02} {month} {y} {:02}:{:02}:{:02} GMT", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn hmac_sha256_base64(key_b64: &str, message: &str) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let key = base64::engine::general_purpose::STANDARD.decode(key_b64).unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(message.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Classes compiled once per test process by `javac`, as (entry name, bytes).
pub fn classes() -> &'static Vec<(String, Vec<u8>)> {
    static CLASSES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    CLASSES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let out = dir.path().join("classes");
        let sources = [
            (
                "com/example/App.java",
                "package com.example;\npublic class App {\n  public static void main(String[] args) { System.out.println(\"hi\"); }\n}\n",
            ),
            (
                "com/example/jobs/deep/nested/Etl.java",
                "package com.example.jobs.deep.nested;\npublic final class Etl {\n  private int x;\n  static final long BIG = 1234567890123L;\n  static final double D = 2.5;\n  public void run() {}\n  public static void main(String... args) throws Exception { new Etl().run(); }\n}\n",
            ),
            (
                "com/example/NoMain.java",
                "package com.example;\npublic class NoMain {\n  public void main(String[] args) {}\n  static void main() {}\n}\n",
            ),
            (
                "com/example/Outer.java",
                "package com.example;\npublic class Outer {\n  public static class Inner {\n    public static void main(String[] args) {}\n  }\n}\n",
            ),
        ];
        for (path, text) in sources {
            let p = src.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
        }
        let status = Command::new("javac")
            .arg("-d")
            .arg(&out)
            .args(sources.iter().map(|(p, _)| src.join(p)))
            .status()
            .expect("javac (JDK 17) is installed");
        assert!(status.success(), "javac failed");
        let mut found = Vec::new();
        collect(&out, &out, &mut found);
        found.sort();
        found
    })
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            collect(root, &p, out);
        } else {
            let name = p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            out.push((name, std::fs::read(&p).unwrap()));
        }
    }
}

/// How to build a test jar.
#[derive(Debug, Clone, Copy, Default)]
pub struct JarSpec {
    /// Store entries instead of deflating them.
    pub stored: bool,
    /// Write zip64 records (and zip64 extra fields).
    pub zip64: bool,
    /// Bytes of incompressible filler in a stored entry placed before the classes.
    pub filler: u64,
    /// Extra small entries, to grow the central directory.
    pub extra_entries: usize,
    /// Length of an archive comment after the end record.
    pub comment_len: usize,
}

/// A jar holding the compiled test classes, built as the spec says.
pub fn build_jar(spec: JarSpec) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let method = if spec.stored { zip::CompressionMethod::Stored } else { zip::CompressionMethod::Deflated };
    let opts = SimpleFileOptions::default().compression_method(method).large_file(spec.zip64);
    w.start_file("META-INF/MANIFEST.MF", opts).unwrap();
    w.write_all(b"Manifest-Version: 1.0\r\nMain-Class: com.example.App\r\n\r\n").unwrap();
    if spec.filler > 0 {
        let filler_opts = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(spec.zip64 || spec.filler >= u32::MAX as u64);
        w.start_file("data/filler.bin", filler_opts).unwrap();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut buf = vec![0u8; 1 << 20];
        let mut left = spec.filler;
        while left > 0 {
            for chunk in buf.chunks_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
            }
            let n = left.min(buf.len() as u64) as usize;
            w.write_all(&buf[..n]).unwrap();
            left -= n as u64;
        }
    }
    for i in 0..spec.extra_entries {
        w.start_file(format!("res/r{i:05}.txt"), opts).unwrap();
        w.write_all(format!("resource {i}").as_bytes()).unwrap();
    }
    for (name, bytes) in classes() {
        w.start_file(name.as_str(), opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    if spec.zip64 {
        w.set_zip64_comment(Some(""));
    }
    if spec.comment_len > 0 {
        w.set_raw_comment(vec![b'c'; spec.comment_len].into_boxed_slice());
    }
    w.finish().unwrap().into_inner()
}

/// A jar with a shell launcher prepended, as `cat launcher.sh app.jar > app` makes.
pub fn with_launcher(jar: &[u8]) -> Vec<u8> {
    let mut out = b"#!/bin/sh\nexec java -jar \"$0\" \"$@\"\n".to_vec();
    out.extend_from_slice(jar);
    out
}
