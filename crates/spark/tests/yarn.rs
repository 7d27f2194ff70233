//! The `yarn` backend against a real Hadoop MiniDFSCluster + MiniYARNCluster (rigs/hadoop's
//! YarnRig, one ResourceManager and one NodeManager) started by this test. Spark runs in YARN
//! cluster mode: the driver is the application master in a NodeManager container.
//!
//! The scenarios are in `support/yarn_scenarios.rs`, shared with `yarn_kerberos.rs`.
//! One cluster serves every scenario (it takes ~15–20 s to start); the applications run side by
//! side on it. On failure the scratch directory is kept: the NodeManager's container logs are
//! under `yarn/consort-yarn/*/consort-yarn-logDir-nm-0_0/`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use consort_spark::{installed_pyspark, tool_cache};

#[cfg(feature = "failpoints")]
#[path = "support/once_scenarios.rs"]
mod once_scenarios;
#[path = "support/yarn_scenarios.rs"]
mod yarn_scenarios;

/// MiniDFSCluster + MiniYARNCluster in one JVM; shut down (containers included) on drop.
struct Rig {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    dir: PathBuf,
    conf_dir: PathBuf,
    webapp: String,
    started_in: Duration,
}

impl Rig {
    // The child is reaped by `Drop`, or before panicking when it never becomes ready.
    #[allow(clippy::zombie_processes)]
    fn start() -> Rig {
        let cache = tool_cache().expect("HOME or CONSORT_CACHE is set");
        let classpath = std::fs::read_to_string(cache.join("rigs/hadoop/classpath.txt"))
            .expect("the Hadoop rig is not built: run scripts/setup (30-hadoop-rig.sh)");
        let dir = std::env::temp_dir().join(format!("consort-yarn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let conf_dir = dir.join("hadoop-conf");
        let started = Instant::now();
        let mut child = Command::new("java")
            .args(["-Xmx1g", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", classpath.trim()])
            .arg("consort.rigs.YarnRig")
            .arg("--base")
            .arg(&dir)
            .arg("--conf-dir")
            .arg(&conf_dir)
            .current_dir(&dir)
            // Passed on to the containers: Spark's drivers and executors bind 127.0.0.1 too.
            .env("SPARK_LOCAL_IP", "127.0.0.1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("rig.log")).unwrap())
            .spawn()
            .expect("java runs");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut rig = Rig { child, stdin, lines, dir, conf_dir, webapp: String::new(), started_in: Duration::ZERO };
        let ready = loop {
            match rig.lines.recv_timeout(Duration::from_secs(240)) {
                Ok(line) => {
                    if let Some(json) = line.strip_prefix("READY ") {
                        break serde_json::from_str::<serde_json::Value>(json).unwrap();
                    }
                }
                Err(_) => panic!("the YARN rig did not become ready; see {}", rig.dir.join("rig.log").display()),
            }
        };
        rig.started_in = started.elapsed();
        rig.webapp = ready["webapp"].as_str().unwrap().to_string();
        eprintln!("YARN rig ready in {:?}: {ready}", rig.started_in);
        rig
    }

    /// Copies a local file into HDFS; returns its `hdfs://` URI.
    fn put(&mut self, local: &Path, hdfs_path: &str) -> String {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "put {} {hdfs_path}", local.display()).unwrap();
        stdin.flush().unwrap();
        let reply = self.lines.recv_timeout(Duration::from_secs(60)).expect("the rig answers put");
        reply.strip_prefix("OK ").unwrap_or_else(|| panic!("put {} failed: {reply}", local.display())).to_string()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "quit");
        }
        // A clean stop makes the NodeManager kill its containers.
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("kept {} (rig.log; NodeManager container logs under yarn/)", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl yarn_scenarios::YarnCluster for Rig {
    fn conf_dir(&self) -> PathBuf {
        self.conf_dir.clone()
    }
    fn rm_webapp(&self) -> String {
        self.webapp.clone()
    }
    fn started_in(&self) -> Duration {
        self.started_in
    }
    fn kerberos(&self) -> Option<consort_kerberos::KerberosSettings> {
        None
    }
    fn hdfs_prefix(&self) -> String {
        "hdfs://127.0.0.1:".into()
    }
    fn expected_user(&self) -> Option<String> {
        None
    }
    fn put(&mut self, local: &Path, hdfs_path: &str) -> String {
        Rig::put(self, local, hdfs_path)
    }
    async fn rm_json(&self, path: &str) -> serde_json::Value {
        let body = reqwest::get(format!("http://{}{path}", self.webapp)).await.unwrap().text().await.unwrap();
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    }
}

/// The YARN rig, for the fault-injection matrix; applications are counted from the
/// ResourceManager's REST API (by the run key's tag).
#[cfg(feature = "failpoints")]
struct Yarn<'a> {
    rig: &'a Rig,
    jar: String,
}

#[cfg(feature = "failpoints")]
impl once_scenarios::Backend for Yarn<'_> {
    fn launcher(&self) -> std::sync::Arc<dyn consort_spark::Launcher> {
        std::sync::Arc::new(consort_spark::YarnLauncher::new(yarn_scenarios::yarn_config(self.rig)).unwrap())
    }
    fn job(&self) -> serde_json::Map<String, serde_json::Value> {
        let data = serde_json::json!({
            "jar": self.jar, "className": "consort.examples.CountRange", "args": ["10", "ok"],
            "driverMemory": "512m", "executorMemory": "512m", "numExecutors": 1,
            "conf": {"spark.yarn.maxAppAttempts": "1"}
        });
        data.as_object().unwrap().clone()
    }
    async fn applications(&self, key: &str) -> Vec<String> {
        let apps =
            yarn_scenarios::YarnCluster::rm_json(self.rig, &format!("/ws/v1/cluster/apps?applicationTags={key}")).await;
        apps["apps"]["app"].as_array().into_iter().flatten().map(|a| a["id"].as_str().unwrap().to_string()).collect()
    }
    async fn total(&self) -> usize {
        let apps = yarn_scenarios::YarnCluster::rm_json(self.rig, "/ws/v1/cluster/apps").await;
        apps["apps"]["app"].as_array().map_or(0, Vec::len)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_applications_on_a_real_yarn() {
    let test_started = Instant::now();
    installed_pyspark().expect("pyspark venv missing: run scripts/setup (40-spark.sh)");
    #[cfg_attr(not(feature = "failpoints"), allow(unused_mut))]
    let mut rig = Rig::start();
    // With `--features failpoints`, the fault-injection matrix first, on the same cluster.
    #[cfg(feature = "failpoints")]
    {
        let jar = rig.put(&tool_cache().unwrap().join("examples/consort-examples.jar"), "/once/consort-examples.jar");
        once_scenarios::exactly_one_application_per_run(&Yarn { rig: &rig, jar }).await;
    }
    yarn_scenarios::cluster_mode_applications(rig).await;
    eprintln!("whole test {:?}", test_started.elapsed());
}
