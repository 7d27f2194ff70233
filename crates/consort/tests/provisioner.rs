//! The Witboost provisioner end to end: a real `consort serve` (SQLite, or PostgreSQL for two
//! instances), local Spark, and Hadoop's MiniDFSCluster (HA name nodes, rigs/hadoop) holding
//! the example jar and Python file. Witboost's calls go over HTTP with a `provisioner` token;
//! the jobs they create are fired through the job status API and run on Spark.
//!
//! The binary's PostgreSQL also serves the other scenario that needs two instances on one store:
//! clean-room governance and its ledger through two servers, one killed and restarted
//! (`cleanroom_instances`; it needs neither HDFS nor Spark).
//!
//! The rigs start once per test binary; the tests run side by side, so their Spark runs
//! overlap. Nothing here waits a fixed time: every wait is for a condition, with a deadline.
//! Tokens are never printed: failure messages show answers, not requests.

mod cleanroom_instances;
mod serve;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use consort_rigs::Pg;
use serde_json::{Value, json};
use serve::Serve;

/// How long a Spark run may take on a loaded 2-core machine.
const RUN_WAIT: Duration = Duration::from_secs(200);
const PRODUCT: &str = "urn:dmb:dp:e2e:numbers:0";

fn cache_dir() -> PathBuf {
    std::env::var_os("CONSORT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/consort"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("consort-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap())
}

// ---- HDFS ------------------------------------------------------------------------

/// Hadoop's MiniDFSCluster (two NameNodes, one nameservice, WebHDFS) from rigs/hadoop, with
/// the example jar and Python file at `/e2e/`.
struct Hdfs {
    child: Mutex<Child>,
    stdin: Mutex<ChildStdin>,
    nameservice: String,
    /// (name, rpc, http) of each NameNode.
    namenodes: Vec<(String, String, String)>,
    /// A Hadoop client configuration for spark-submit (core-site.xml, hdfs-site.xml).
    conf_dir: PathBuf,
    dir: PathBuf,
}

fn hdfs() -> &'static Hdfs {
    static HDFS: OnceLock<Hdfs> = OnceLock::new();
    HDFS.get_or_init(|| {
        let hdfs = Hdfs::start();
        let examples = cache_dir().join("examples");
        for file in ["consort-examples.jar", "count_range.py"] {
            let bytes = std::fs::read(examples.join(file))
                .unwrap_or_else(|e| panic!("{file}: {e}; run scripts/setup (41-spark-examples.sh)"));
            hdfs.put(&format!("/e2e/{file}"), bytes);
        }
        hdfs
    })
}

impl Hdfs {
    fn start() -> Hdfs {
        let classpath = std::fs::read_to_string(cache_dir().join("rigs/hadoop/classpath.txt"))
            .expect("the Hadoop minicluster rig is not installed; run scripts/setup");
        let dir = scratch("hdfs");
        let log = std::fs::File::create(dir.join("rig.log")).unwrap();
        let mut child = Command::new("java")
            .args(["-Xmx768m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", classpath.trim()])
            .arg("consort.rigs.HdfsRig")
            .arg("--base")
            .arg(dir.join("dfs"))
            .args(["--active", "1"])
            .env("HADOOP_USER_NAME", "hdfs")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("java runs");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let ready = loop {
            line.clear();
            if stdout.read_line(&mut line).unwrap() == 0 {
                let _ = child.wait();
                let log = std::fs::read_to_string(dir.join("rig.log")).unwrap_or_default();
                panic!("the Hadoop rig exited before it was ready:\n{log}");
            }
            if let Some(json) = line.strip_prefix("READY ") {
                break serde_json::from_str::<Value>(json).unwrap();
            }
        };
        let nameservice = ready["nameservice"].as_str().unwrap().to_string();
        let namenodes: Vec<(String, String, String)> = ready["namenodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| (s(&n["name"]), s(&n["rpc"]), s(&n["http"])))
            .collect();
        let conf_dir = dir.join("conf");
        std::fs::create_dir_all(&conf_dir).unwrap();
        let property =
            |name: &str, value: &str| format!("<property><name>{name}</name><value>{value}</value></property>\n");
        let mut site = property("dfs.nameservices", &nameservice);
        let names: Vec<&str> = namenodes.iter().map(|n| n.0.as_str()).collect();
        site += &property(&format!("dfs.ha.namenodes.{nameservice}"), &names.join(","));
        for (name, rpc, _) in &namenodes {
            site += &property(&format!("dfs.namenode.rpc-address.{nameservice}.{name}"), rpc);
        }
        site += &property(
            &format!("dfs.client.failover.proxy.provider.{nameservice}"),
            "org.apache.hadoop.hdfs.server.namenode.ha.ConfiguredFailoverProxyProvider",
        );
        std::fs::write(conf_dir.join("hdfs-site.xml"), format!("<configuration>\n{site}</configuration>\n")).unwrap();
        std::fs::write(conf_dir.join("core-site.xml"), "<configuration></configuration>\n").unwrap();
        let stdin = child.stdin.take().unwrap();
        Hdfs { child: Mutex::new(child), stdin: Mutex::new(stdin), nameservice, namenodes, conf_dir, dir }
    }

    fn uri(&self, path: &str) -> String {
        format!("hdfs://{}{path}", self.nameservice)
    }

    /// Writes `bytes` to `path` as the superuser, through consort's own HDFS client (native
    /// RPC, which finds the active NameNode).
    fn put(&self, path: &str, bytes: Vec<u8>) {
        use consort_storage::{HdfsConfig, NameNodeAddress, Nameservice, Storage, StorageConfig};
        let config = StorageConfig {
            hdfs: HdfsConfig {
                user: Some("hdfs".into()),
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
        };
        let uri = self.uri(path);
        runtime().block_on(async {
            let storage = Storage::from_uri(&uri, &config).await.unwrap();
            storage.write(&uri, bytes.into()).await.unwrap_or_else(|e| panic!("writing {uri}: {e}"));
        })
    }

    /// Deletes `path` through WebHDFS on whichever NameNode is active (the standby refuses).
    fn delete(&self, path: &str) {
        runtime().block_on(async {
            let mut answers = Vec::new();
            for (_, _, http) in &self.namenodes {
                let url = format!("http://{http}/webhdfs/v1{path}?op=DELETE&user.name=hdfs");
                let response = reqwest::Client::new().delete(&url).send().await.unwrap();
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                if status.is_success() {
                    assert!(text.contains("true"), "nothing deleted at {path}: {text}");
                    return;
                }
                answers.push(format!("{status}: {text}"));
            }
            panic!("WebHDFS DELETE {path} failed on every NameNode: {answers:?}");
        })
    }
}

impl Drop for Hdfs {
    fn drop(&mut self) {
        if let Ok(mut stdin) = self.stdin.lock() {
            let _ = writeln!(stdin, "quit");
        }
        if let Ok(mut child) = self.child.lock() {
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---- PostgreSQL ------------------------------------------------------------------

/// The binary's one throwaway PostgreSQL (`consort-rigs`' rig, stopped by its watchdog when this
/// process exits); each scenario takes a database of its own.
fn pg() -> &'static Pg {
    static PG: OnceLock<Pg> = OnceLock::new();
    PG.get_or_init(Pg::start)
}

// ---- consort serve ---------------------------------------------------------------

/// A `consort serve` on local Spark with `[storage.hdfs]` naming the minicluster's
/// nameservice; stopped (SIGTERM) when dropped, or by its watchdog when the test process ends
/// without dropping it (the shared server lives in a `static`).
struct Server {
    process: serve::Process,
    url: String,
    config: PathBuf,
    env: Vec<(String, String)>,
}

/// What a server is configured with besides HDFS and Spark.
#[derive(Default, Clone)]
struct Setup {
    store_url: Option<String>,
    instance_id: Option<String>,
    asynchronous: bool,
}

impl Server {
    fn start(name: &str, setup: Setup) -> Server {
        let hdfs = hdfs();
        let data = scratch(name);
        let namenodes: Vec<String> = hdfs
            .namenodes
            .iter()
            .map(|(n, rpc, http)| format!("{{ name = \"{n}\", rpc = \"{rpc}\", http = \"{http}\" }}"))
            .collect();
        let mut toml = String::from("[scheduler]\n");
        if let Some(id) = &setup.instance_id {
            toml += &format!("instance_id = \"{id}\"\n");
        }
        toml += "\n[spark]\nlocal_master = \"local[1]\"\n\n[storage.hdfs]\nuser = \"hdfs\"\n";
        toml += &format!(
            "[[storage.hdfs.nameservices]]\nname = \"{}\"\nnamenodes = [{}]\n",
            hdfs.nameservice,
            namenodes.join(", ")
        );
        let config = data.with_extension("toml");
        std::fs::write(&config, toml).unwrap();
        let mut env = vec![("HADOOP_CONF_DIR".to_string(), hdfs.conf_dir.display().to_string())];
        if let Some(url) = &setup.store_url {
            env.push(("CONSORT_STORE_URL".into(), url.clone()));
        }
        if setup.asynchronous {
            env.push(("CONSORT_PROVISIONER_ASYNC".into(), "true".into()));
        }
        Server::launch(data, config, env)
    }

    fn launch(data: PathBuf, config: PathBuf, env: Vec<(String, String)>) -> Server {
        let process = Serve::new(data).config(&config).envs(env.clone()).append_log().watchdog().start();
        Server { url: process.url.clone(), process, config, env }
    }

    /// SIGTERM, wait for a graceful exit, and start again on the same data directory and
    /// configuration.
    fn restart(&mut self) {
        let (status, _) = self.process.stop_within(Duration::from_secs(60));
        assert!(status.success(), "a graceful stop exits 0");
        let next = Server::launch(self.process.data.clone(), self.config.clone(), self.env.clone());
        // The old handle's process is reaped; dropping it would remove the data directory.
        std::mem::forget(std::mem::replace(self, next));
    }

    /// `consort ARGS` against this server (admin token from the data directory unless `token`).
    fn cli(&self, args: &[&str], token: Option<&str>) -> (i32, String, String) {
        let out = self.process.cli_as(args, token);
        (out.code, out.stdout, out.stderr)
    }

    /// A new token with `role`, created through the CLI with the admin token.
    fn token(&self, name: &str, role: &str) -> String {
        let (code, out, err) = self.cli(&["tokens", "create", "--name", name, "--role", role], None);
        assert_eq!(code, 0, "tokens create --role {role} failed: {err}");
        out.trim().to_string()
    }

    fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        runtime().block_on(async {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let mut request = reqwest::Client::new().request(method, format!("{}{path}", self.url)).bearer_auth(token);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.process.terminate();
        let _ = std::fs::remove_dir_all(&self.process.data);
        let _ = std::fs::remove_file(&self.process.log);
        let _ = std::fs::remove_file(&self.config);
    }
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

// ---- descriptors -----------------------------------------------------------------

/// A component descriptor of data product `PRODUCT` for the workload `name`; `app` is the
/// `specific` lines that say what runs (jar + className, or file), `args` its arguments.
fn descriptor(name: &str, app: &str, args: &[&str]) -> String {
    let app: String = app.lines().map(|l| format!("        {l}\n")).collect();
    let args: Vec<String> = args.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "dataProduct:
  id: {PRODUCT}
  name: numbers
  domain: e2e
  version: 0.1.0
  environment: development
  components:
    - kind: workload
      id: urn:dmb:cmp:e2e:numbers:0:{name}
      name: {name}
      version: 0.0.1
      specific:
        jobName: e2e-numbers-0-{name}-development
{app}        timezone: Europe/Rome
        jobConfig:
          args: [{args}]
          driverMemory: 512m
          logLevel: WARN
          conf:
            spark.ui.enabled: \"false\"
          schedule:
            cronExpression: \"0 0 3 1 1 ?\"
componentIdToProvision: urn:dmb:cmp:e2e:numbers:0:{name}
",
        args = args.join(", ")
    )
}

fn jar_app(jar: &str, class: &str) -> String {
    format!("jar: {jar}\nclassName: {class}\n")
}

fn request(descriptor: &str) -> Value {
    json!({"descriptorKind": "COMPONENT_DESCRIPTOR", "descriptor": descriptor, "removeData": false})
}

fn component(name: &str) -> String {
    format!("urn:dmb:cmp:e2e:numbers:0:{name}")
}

fn job_name(name: &str) -> String {
    format!("e2e-numbers-0-{name}-development")
}

/// Provisions synchronously and asserts 200 COMPLETED.
fn provision(server: &Server, token: &str, descriptor: &str) -> Value {
    let (status, answer) = server.call("POST", "/v1/provision", token, Some(request(descriptor)));
    assert_eq!((status, s(&answer["status"])), (200, "COMPLETED".into()), "{answer}");
    answer
}

fn job_status(server: &Server, token: &str, name: &str) -> Value {
    let (status, answer) = server.call("GET", &format!("/v1/status/components/{}", component(name)), token, None);
    assert_eq!(status, 200, "{answer}");
    answer
}

fn fire(server: &Server, token: &str, name: &str) -> u16 {
    server.call("POST", &format!("/v1/status/components/{}/fire", component(name)), token, None).0
}

/// Waits until the component's job has a run that ended; returns the job status.
fn wait_ended(server: &Server, token: &str, name: &str) -> Value {
    let deadline = Instant::now() + RUN_WAIT;
    loop {
        let status = job_status(server, token, name);
        let ended = status["runs"]["items"].as_array().is_some_and(|runs| runs.iter().any(|r| r["state"] != "RUNNING"));
        if ended {
            return status;
        }
        assert!(Instant::now() < deadline, "no run of {name} ended within {RUN_WAIT:?}: {status}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The problems `/v1/validate` finds, as (field, problem line).
fn problems(server: &Server, token: &str, descriptor: &str) -> Vec<(String, String)> {
    let (status, answer) = server.call("POST", "/v1/validate", token, Some(request(descriptor)));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["valid"], false, "{answer}");
    answer["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (s(&d["inputErrorField"]), s(&d["errors"][0])))
        .collect()
}

/// The one SQLite server most tests share, with its provisioner and operator tokens.
struct Main {
    server: Server,
    provisioner: String,
    operator: String,
}

fn main_server() -> &'static Main {
    static MAIN: OnceLock<Main> = OnceLock::new();
    MAIN.get_or_init(|| {
        let server = Server::start("main", Setup::default());
        let provisioner = server.token("witboost", "provisioner");
        let operator = server.token("ops", "operator");
        Main { server, provisioner, operator }
    })
}

// ---- the tests -------------------------------------------------------------------

/// A jar on HDFS, a jar that fails, and a PySpark file on HDFS, provisioned, fired now and
/// run on Spark; the job's state mirrors each run. Then: provisioning again changes only the
/// definition, and unprovisioning after the jar was deleted removes the job, not its runs.
#[test]
fn provisioned_components_run_on_spark_and_their_jobs_mirror_the_outcome() {
    let Main { server, provisioner, operator } = main_server();
    let hdfs = hdfs();
    // count-ok has a jar of its own, deleted before it is unprovisioned.
    let examples = cache_dir().join("examples/consort-examples.jar");
    hdfs.put("/e2e/count-ok.jar", std::fs::read(examples).unwrap());
    let own = hdfs.uri("/e2e/count-ok.jar");
    let jar = hdfs.uri("/e2e/consort-examples.jar");
    let ok = descriptor("count-ok", &jar_app(&own, "consort.examples.CountRange"), &["1000"]);
    let failing = descriptor("count-fail", &jar_app(&jar, "consort.examples.CountRange"), &["10", "fail"]);
    let python = descriptor("count-py", &format!("file: {}\n", hdfs.uri("/e2e/count_range.py")), &["42"]);

    let answer = provision(server, provisioner, &ok);
    assert_eq!(answer["info"]["privateInfo"]["jobName"], job_name("count-ok"), "{answer}");
    assert_eq!(answer["info"]["privateInfo"]["jobGroup"], PRODUCT, "{answer}");
    provision(server, provisioner, &failing);
    provision(server, provisioner, &python);
    let before = job_status(server, operator, "count-ok");
    assert_eq!(before["state"], "NEVER_RUN", "{before}");

    // The provisioner role provisions; firing needs operate (or the access list).
    assert_eq!(fire(server, provisioner, "count-ok"), 403);
    for name in ["count-ok", "count-fail", "count-py"] {
        assert_eq!(fire(server, operator, name), 202, "fire {name}");
    }

    let done = wait_ended(server, operator, "count-ok");
    let run = &done["runs"]["items"][0];
    assert_eq!((&done["state"], &run["state"]), (&json!("SUCCEEDED"), &json!("SUCCEEDED")), "{done}");
    assert!(s(&run["application_id"]).starts_with("local-"), "{done}");
    assert_eq!(done["latest_run_id"], run["id"]);

    let failed = wait_ended(server, operator, "count-fail");
    let run = &failed["runs"]["items"][0];
    assert_eq!((&failed["state"], &run["state"]), (&json!("FAILED"), &json!("FAILED")), "{failed}");
    // The local backend's reason is spark-submit's exit; the exception is in the log tail.
    assert!(s(&run["failure_reason"]).contains("exited with code 1"), "the reason is on the run: {failed}");
    assert_eq!(run["exit_code"], 1, "{failed}");
    let path = format!("/v1/status/components/{}?log_tail_bytes=65536", component("count-fail"));
    let (status, with_log) = server.call("GET", &path, operator, None);
    assert_eq!(status, 200, "{with_log}");
    let tail = s(&with_log["log_tail"]["text"]);
    assert!(tail.contains("IllegalStateException: failing on purpose"), "Spark's reason in the log: {with_log}");

    let py = wait_ended(server, operator, "count-py");
    assert_eq!((&py["state"], &py["runs"]["items"][0]["state"]), (&json!("SUCCEEDED"), &json!("SUCCEEDED")), "{py}");
    assert!(s(&py["runs"]["items"][0]["application_id"]).starts_with("local-"), "{py}");

    // Provisioning again (new arguments) replaces the definition only: same trigger, same
    // next fire time, the run history kept.
    let trigger_of = |status: &Value| {
        let t =
            status["triggers"].as_array().unwrap().iter().find(|t| t["schedule"].to_string().contains("0 0 3 1 1 ?"));
        t.map(|t| (t["trigger"].clone(), t["next_fire_time"].clone())).expect("the cron trigger is listed")
    };
    let first = trigger_of(&done);
    let again = descriptor("count-ok", &jar_app(&own, "consort.examples.CountRange"), &["2000"]);
    let answer = provision(server, provisioner, &again);
    assert!(answer["logs"].to_string().contains("its runs are kept"), "{answer}");
    let after = job_status(server, operator, "count-ok");
    assert_eq!(trigger_of(&after), first, "{after}");
    assert_eq!(after["runs"]["items"], done["runs"]["items"], "the run history is kept");
    let job_path = format!("/v1/scheduler/jobs/{PRODUCT}/{}", job_name("count-ok"));
    let (status, job) = server.call("GET", &job_path, operator, None);
    assert_eq!(status, 200, "{job}");
    assert!(job.to_string().contains("2000") && !job.to_string().contains("\"1000\""), "new definition: {job}");

    // The jar is deleted from HDFS; unprovisioning still works (only the id is read).
    hdfs.delete("/e2e/count-ok.jar");
    let found = problems(server, provisioner, &again);
    assert_eq!(found.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(), ["dataProduct.components[0].specific.jar"]);
    let (status, answer) = server.call("POST", "/v1/unprovision", provisioner, Some(request(&again)));
    assert_eq!((status, s(&answer["status"])), (200, "COMPLETED".into()), "{answer}");
    let (status, _) = server.call("GET", &format!("/v1/status/components/{}", component("count-ok")), operator, None);
    assert_eq!(status, 404, "the component is gone");
    let (status, _) = server.call("GET", &job_path, operator, None);
    assert_eq!(status, 404, "the job is gone");
    let runs_path = format!("/v1/scheduler/runs?job={PRODUCT}.{}", job_name("count-ok"));
    let (status, runs) = server.call("GET", &runs_path, operator, None);
    assert_eq!(status, 200, "{runs}");
    assert_eq!(runs["items"].as_array().map(Vec::len), Some(1), "the run is kept: {runs}");
}

/// The rules that need the real world, one assertion each, with the field the server names.
#[test]
fn invalid_descriptors_name_the_field() {
    let Main { server, provisioner, .. } = main_server();
    let hdfs = hdfs();
    let jar = hdfs.uri("/e2e/consort-examples.jar");
    let field = |rel: &str| format!("dataProduct.components[0].specific.{rel}");

    let missing = descriptor("bad-jar", &jar_app(&hdfs.uri("/e2e/missing.jar"), "consort.examples.CountRange"), &[]);
    let (status, answer) = server.call("POST", "/v1/provision", provisioner, Some(request(&missing)));
    assert_eq!((status, s(&answer["inputErrorField"])), (400, field("jar")), "{answer}");

    let no_class = descriptor("bad-class", &jar_app(&jar, "consort.examples.Missing"), &[]);
    let found = problems(server, provisioner, &no_class);
    assert!(
        found.len() == 1 && found[0].0 == field("jar") && found[0].1.contains("consort.examples.Missing"),
        "{found:?}"
    );

    let no_file = descriptor("bad-py", &format!("file: {}\n", hdfs.uri("/e2e/missing.py")), &[]);
    assert_eq!(problems(server, provisioner, &no_file).into_iter().map(|p| p.0).collect::<Vec<_>>(), [field("file")]);

    let backend =
        descriptor("bad-backend", &format!("{}backend: yarn\n", jar_app(&jar, "consort.examples.CountRange")), &[]);
    assert_eq!(
        problems(server, provisioner, &backend).into_iter().map(|p| p.0).collect::<Vec<_>>(),
        [field("backend")]
    );
}

/// `consort provision validate|apply|remove FILE.yaml`.
#[test]
fn the_cli_validates_applies_and_removes() {
    let Main { server, provisioner, operator } = main_server();
    let hdfs = hdfs();
    let dir = scratch("cli");
    let bad = dir.join("bad.yaml");
    let app = format!("{}backend: yarn\n", jar_app(&hdfs.uri("/e2e/missing.jar"), "consort.examples.CountRange"));
    std::fs::write(&bad, descriptor("cli", &app, &[])).unwrap();
    let (code, out, _) = server.cli(&["provision", "validate", bad.to_str().unwrap()], Some(provisioner));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("specific.backend") && out.contains("specific.jar") && out.contains("fix:"), "{out}");

    let good = dir.join("good.yaml");
    let app = jar_app(&hdfs.uri("/e2e/consort-examples.jar"), "consort.examples.CountRange");
    std::fs::write(&good, descriptor("cli", &app, &["5"])).unwrap();
    let (code, out, err) = server.cli(&["provision", "validate", good.to_str().unwrap()], Some(provisioner));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("valid") && out.contains("0 0 3 1 1 ?"), "{out}");
    let (code, out, err) = server.cli(&["provision", "apply", good.to_str().unwrap()], Some(provisioner));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("COMPLETED"), "{out}");
    assert_eq!(job_status(server, operator, "cli")["state"], "NEVER_RUN");
    let (code, out, err) = server.cli(&["provision", "remove", good.to_str().unwrap()], Some(provisioner));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("COMPLETED") && out.contains("unprovisioned"), "{out}");
    let (status, _) = server.call("GET", &format!("/v1/status/components/{}", component("cli")), operator, None);
    assert_eq!(status, 404);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A server restarted between provision and fire keeps the component, its job, its trigger
/// and its access list; the job then runs.
#[test]
fn a_restart_between_provision_and_fire_loses_nothing() {
    let hdfs = hdfs();
    let mut server = Server::start("restart", Setup::default());
    let provisioner = server.token("witboost", "provisioner");
    let alice = server.token("alice", "viewer");
    let jar = hdfs.uri("/e2e/consort-examples.jar");
    let text = descriptor("count-restart", &jar_app(&jar, "consort.examples.CountRange"), &["100"]);
    provision(&server, &provisioner, &text);
    let acl = json!({"refs": ["user:alice"], "provisionInfo": {"request": text, "result": ""}});
    let (status, answer) = server.call("POST", "/v1/updateacl", &provisioner, Some(acl));
    assert_eq!((status, s(&answer["status"])), (200, "COMPLETED".into()), "{answer}");
    let before = job_status(&server, &alice, "count-restart");

    server.restart();
    let after = job_status(&server, &alice, "count-restart");
    assert_eq!(after, before, "component, job and trigger are as they were");
    // The access list survived: the viewer alice may fire, as it lists her.
    assert_eq!(fire(&server, &alice, "count-restart"), 202);
    let done = wait_ended(&server, &alice, "count-restart");
    assert_eq!(done["state"], "SUCCEEDED", "{done}");
}

/// Two instances on one PostgreSQL store, asynchronous: a 202 token accepted by one is
/// answered by the other.
#[test]
fn two_instances_on_postgresql_share_asynchronous_tokens() {
    let hdfs = hdfs();
    let url = runtime().block_on(pg().fresh_db());
    let setup = |id: &str| Setup { store_url: Some(url.clone()), instance_id: Some(id.into()), asynchronous: true };
    let a = Server::start("pg-a", setup("consort-a"));
    let b = Server::start("pg-b", setup("consort-b"));
    let provisioner = a.token("witboost-pg", "provisioner");
    let jar = hdfs.uri("/e2e/consort-examples.jar");
    let text = descriptor("count-pg", &jar_app(&jar, "consort.examples.CountRange"), &["10"]);
    let (status, token) = a.call("POST", "/v1/provision", &provisioner, Some(request(&text)));
    assert_eq!(status, 202, "{token}");
    let token = s(&token);
    assert!(!token.is_empty());
    let deadline = Instant::now() + Duration::from_secs(60);
    let answer = loop {
        let (status, answer) = b.call("GET", &format!("/v1/provision/{token}/status"), &provisioner, None);
        assert_eq!(status, 200, "{answer}");
        if answer["status"] != "RUNNING" {
            break answer;
        }
        assert!(Instant::now() < deadline, "still RUNNING: {answer}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(answer["status"], "COMPLETED", "{answer}");
    assert_eq!(answer["info"]["privateInfo"]["componentId"], component("count-pg"), "{answer}");
    let (status, answer) = b.call("GET", "/v1/provision/0123456789abcdef/status", &provisioner, None);
    assert_eq!((status, s(&answer["inputErrorField"])), (400, "token".into()), "{answer}");
}

/// Clean-room governance through two instances on one PostgreSQL database: one ledger order,
/// nothing lost or doubled, replays refused across instances, one acceptance per proposal,
/// receipts and the export verified offline, and an instance killed mid-stream and restarted.
/// See `cleanroom_instances`.
#[test]
fn two_instances_on_postgresql_keep_one_clean_room_ledger() {
    let url = runtime().block_on(pg().fresh_db());
    let dir = scratch("cleanroom-pg");
    runtime().block_on(cleanroom_instances::scenario(&url, &dir));
    let _ = std::fs::remove_dir_all(&dir);
}
