//! A real Apache Livy server (the jars that `scripts/setup.d/42-livy.sh` assembles) and the batch
//! scenarios, shared by `livy.rs` (no authentication) and `livy_kerberos.rs` (SPNEGO, with
//! impersonation): the same batches, kills, logs, keys and errors, run with the caller's
//! [`LivyAuth`].

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use consort_kerberos::Identity;
use consort_scheduler::RunState;
use consort_spark::{
    AppSpec, AppState, Launcher, LivyAuth, LivyConfig, LivyLauncher, PYSPARK_DRIVER_LAUNCHER, SparkError,
    installed_pyspark, run_key, tool_cache, wait_until_final,
};
use serde_json::{Value, json};

use crate::fire::fire_once;
use crate::lossy_proxy;
use crate::sleeper::{driver_processes, wait_until_gone, write_sleeper};

pub const WAIT: Duration = Duration::from_secs(400);
pub const POLL: Duration = Duration::from_millis(500);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn examples() -> PathBuf {
    let dir = tool_cache().unwrap().join("examples");
    assert!(dir.join("consort-examples.jar").exists(), "example jar missing: run scripts/setup (41-spark-examples.sh)");
    dir
}

/// How Livy authenticates callers.
#[allow(dead_code)] // each test binary starts one kind
pub enum ServerAuth {
    /// No authentication (the default).
    None,
    /// SPNEGO as `principal` (from `keytab`), with impersonation on and `superuser` allowed to
    /// impersonate anyone; `java_option` points the JVM at the KDC's krb5.conf.
    Kerberos { principal: String, keytab: PathBuf, java_option: String, superuser: String },
}

/// A Livy server in its own process group; the group is killed on drop.
pub struct LivyServer {
    child: Child,
    /// The URL clients use (`localhost` with SPNEGO: the host names the HTTP principal).
    pub url: String,
    /// `host:port` of the socket (always 127.0.0.1).
    pub socket: String,
    dir: PathBuf,
}

impl LivyServer {
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("livy.err")).unwrap_or_default()
    }
}

fn kill_group(pgid: u32, signal: &str) {
    let _ =
        Command::new("kill").arg(format!("-{signal}")).arg("--").arg(format!("-{pgid}")).stderr(Stdio::null()).status();
}

impl Drop for LivyServer {
    fn drop(&mut self) {
        let pgid = self.child.id();
        kill_group(pgid, "TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(100));
        }
        kill_group(pgid, "KILL");
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("kept {} (livy.err)", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub async fn start_livy(auth: &ServerAuth) -> (LivyServer, Duration) {
    let jars = tool_cache().unwrap().join("rigs/livy/jars");
    assert!(jars.is_dir(), "Livy's jars are missing: run scripts/setup (42-livy.sh)");
    let spark = installed_pyspark().expect("pyspark venv missing: run scripts/setup (40-spark.sh)");
    let dir = rig_dir();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("conf")).unwrap();
    // consort's PySpark driver launcher, installed on Livy's host as a deployment would.
    let python_launcher = dir.join(LAUNCHER);
    std::fs::write(&python_launcher, PYSPARK_DRIVER_LAUNCHER).unwrap();
    std::fs::set_permissions(&python_launcher, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let port = free_port();
    // CSRF protection on, as in many deployments: POST and DELETE need X-Requested-By.
    let mut conf = format!(
        "livy.server.host = 127.0.0.1\nlivy.server.port = {port}\nlivy.spark.master = local[1]\n\
         livy.spark.deploy-mode = client\nlivy.file.local-dir-whitelist = {}/,{}/\n\
         livy.server.csrf-protection.enabled = true\nlivy.ui.enabled = false\n",
        examples().display(),
        dir.display()
    );
    let mut java_options = Vec::new();
    let host = match auth {
        ServerAuth::None => "127.0.0.1",
        ServerAuth::Kerberos { principal, keytab, java_option, superuser } => {
            // hadoop-auth's SPNEGO filter; the explicit name rule maps consort@CONSORT.TEST to
            // consort even where the JVM hides its default realm from Hadoop's KerberosName.
            conf.push_str(&format!(
                "livy.server.auth.type = kerberos\nlivy.server.auth.kerberos.principal = {principal}\n\
                 livy.server.auth.kerberos.keytab = {}\n\
                 livy.server.auth.kerberos.name-rules = RULE:[1:$1@$0](.*@CONSORT.TEST)s/@.*// DEFAULT\n\
                 livy.impersonation.enabled = true\nlivy.superusers = {superuser}\n",
                keytab.display()
            ));
            java_options.push(java_option.clone());
            // Hadoop's KerberosUtil reaches into these JDK-internal packages (the default realm,
            // the SPNEGO and Kerberos mechanism ids); Java 17 hides them unless exported.
            for package in ["sun.security.krb5", "sun.security.jgss"] {
                java_options.push(format!("--add-exports=java.security.jgss/{package}=ALL-UNNAMED"));
            }
            "localhost"
        }
    };
    std::fs::write(dir.join("conf/livy.conf"), conf).unwrap();
    std::fs::write(
        dir.join("conf/log4j.properties"),
        "log4j.rootCategory=INFO, console\nlog4j.appender.console=org.apache.log4j.ConsoleAppender\n\
         log4j.appender.console.target=System.err\nlog4j.appender.console.layout=org.apache.log4j.PatternLayout\n\
         log4j.appender.console.layout.ConversionPattern=%d{HH:mm:ss} %p %c{1}: %m%n\n",
    )
    .unwrap();
    let started = Instant::now();
    let child = Command::new("java")
        .arg("-Xmx512m")
        .args(&java_options)
        .arg("-cp")
        .arg(format!("{}/*:{}", jars.display(), dir.join("conf").display()))
        .arg("org.apache.livy.server.LivyServer")
        .env("LIVY_HOME", &dir)
        .env("LIVY_CONF_DIR", dir.join("conf"))
        .env("LIVY_LOG_DIR", dir.join("logs"))
        .env("SPARK_HOME", &spark.spark_home)
        .env("PYSPARK_PYTHON", &spark.python)
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .current_dir(&dir)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("livy.out")).unwrap())
        .stderr(std::fs::File::create(dir.join("livy.err")).unwrap())
        .spawn()
        .unwrap();
    let mut server =
        LivyServer { child, url: format!("http://{host}:{port}"), socket: format!("127.0.0.1:{port}"), dir };

    // Ready when `GET /batches` answers (with SPNEGO, a 401 asking for it is an answer).
    let kerberized = matches!(auth, ServerAuth::Kerberos { .. });
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        if let Ok(r) = http.get(format!("http://{}/batches", server.socket)).send().await
            && (r.status().is_success() || (kerberized && r.status() == reqwest::StatusCode::UNAUTHORIZED))
        {
            return (server, started.elapsed());
        }
        if let Ok(Some(exit)) = server.child.try_wait() {
            panic!("Livy exited ({exit}) while starting:\n{}", server.server_log());
        }
        assert!(tokio::time::Instant::now() < deadline, "Livy did not start:\n{}", server.server_log());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The rig's directory (Livy's home, conf, logs; whitelisted for batches' local files).
fn rig_dir() -> PathBuf {
    std::env::temp_dir().join(format!("consort-livy-{}", std::process::id()))
}

/// consort's PySpark driver launcher in the rig's directory.
const LAUNCHER: &str = "consort-pyspark-driver";

pub fn launcher(url: &str, requested_by: Option<&str>, auth: &LivyAuth) -> LivyLauncher {
    LivyLauncher::new(LivyConfig {
        url: url.to_string(),
        requested_by: requested_by.map(String::from),
        auth: auth.clone(),
        proxy_user: None,
        request_timeout: Duration::from_secs(30),
        python_launcher: Some(rig_dir().join(LAUNCHER).display().to_string()),
    })
    .unwrap()
}

/// `GET url` past the launcher, authenticated as `auth` says (SPNEGO: a fresh token).
pub async fn raw_get(url: &str, auth: &LivyAuth) -> Value {
    let mut request = reqwest::Client::new().get(url);
    if let LivyAuth::Kerberos(settings) = auth {
        let (settings, u) = (settings.clone(), url.to_string());
        let header = tokio::task::spawn_blocking(move || Identity::login(&settings).unwrap().negotiate(&u))
            .await
            .unwrap()
            .unwrap();
        request = request.header("Authorization", header);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert!(status.is_success(), "{url}: HTTP {status}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
}

/// Whether any process's command line contains `needle` (the drivers Livy started).
pub fn process_running(needle: &str) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else { return false };
    entries.flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " ").contains(needle))
            .unwrap_or(false)
    })
}

/// A small CountRange batch named `{name}-{pid}`.
pub fn job(name: &str, args: &[&str]) -> AppSpec {
    let jar = examples().join("consort-examples.jar").display().to_string();
    let mut spec = AppSpec::jar(format!("{name}-{}", std::process::id()), &jar, "consort.examples.CountRange");
    spec.args = args.iter().map(|a| a.to_string()).collect();
    spec.driver_memory = Some("512m".into());
    spec.conf.insert("spark.ui.enabled".into(), "false".into());
    spec
}

/// Every scenario, as `auth`; takes the server away (drops it) at the end to check the errors
/// of a launcher whose Livy is gone.
pub async fn batches(server: LivyServer, auth: LivyAuth) {
    let livy = launcher(&server.url, Some("consort"), &auth);
    livy.health().await.unwrap();
    let examples = examples();
    let jar = examples.join("consort-examples.jar").display().to_string();
    let tag = std::process::id();

    // Without X-Requested-By a CSRF-protected Livy refuses, and the error says what to set.
    let err = launcher(&server.url, None, &auth).submit(&job("csrf", &["1"])).await.unwrap_err();
    assert!(matches!(err, SparkError::Rejected { .. }) && err.to_string().contains("livy_requested_by"), "{err}");
    // A file outside livy.file.local-dir-whitelist is refused, with the fix.
    let err = livy.submit(&AppSpec::jar("outside", "/etc/x.jar", "x.Y")).await.unwrap_err();
    assert!(err.to_string().contains("local-dir-whitelist"), "{err}");

    // Every field Livy can pass on, on a job that must still succeed.
    let mut ok = job("livy-ok", &["1000", "ok"]);
    ok.jars = vec![jar.clone()];
    ok.files = vec![examples.join("count_range.py").display().to_string()];
    ok.driver_cores = Some(1);
    ok.executor_memory = Some("512m".into());
    ok.executor_cores = Some(1);
    ok.num_executors = Some(1);
    ok.queue = Some("default".into());
    ok.log_level = Some("warn".into());
    ok.conf.insert("spark.sql.shuffle.partitions".into(), "3".into());
    let fail = job("livy-fail", &["10", "fail"]);
    let long = job("livy-long", &["10", "ok", "600000"]);
    let mut py = AppSpec::python(format!("livy-py-{tag}"), examples.join("count_range.py").display().to_string());
    py.args = vec!["42".into()];
    let (sleeper_py, sleeper_pid_file) = write_sleeper(&rig_dir());
    // Spark's UI on (the default): the one place a local-mode driver names its application.
    let mut sleeper = AppSpec::python(format!("livy-py-sleep-{tag}"), sleeper_py.display().to_string());
    sleeper.args = vec![sleeper_pid_file.display().to_string()];
    sleeper.driver_memory = Some("512m".into());

    // All five side by side: each driver is a JVM of its own.
    let submitted = Instant::now();
    let ok_id = livy.submit(&ok).await.unwrap().id;
    let fail_id = livy.submit(&fail).await.unwrap().id;
    let long_id = livy.submit(&long).await.unwrap().id;
    let py_id = livy.submit(&py).await.unwrap().id;
    let sleeper_id = livy.submit(&sleeper).await.unwrap().id;
    assert!(ok_id.parse::<u64>().is_ok(), "Livy batch ids are integers: {ok_id}");

    // Kill the long job once its driver is really running (it has counted).
    let deadline = Instant::now() + WAIT;
    while !livy.logs(&long_id, 1 << 20).await.unwrap().contains("COUNT=10") {
        assert!(Instant::now() < deadline, "the long job never counted");
        tokio::time::sleep(POLL).await;
    }
    assert_eq!(livy.status(&long_id).await.unwrap().state, AppState::Running);
    let long_needle = format!("spark.app.name=livy-long-{tag}");
    assert!(process_running(&long_needle), "the long job's driver runs before the kill");
    livy.kill(&long_id).await.unwrap();
    // Livy's DELETE kills the driver and forgets the batch: it answers 404 from then on.
    match livy.status(&long_id).await {
        Err(SparkError::NotFound { id, .. }) => assert_eq!(id, long_id),
        other => panic!("a killed Livy batch is forgotten (404), got {other:?}"),
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while process_running(&long_needle) {
        assert!(Instant::now() < deadline, "the killed driver is still running");
        tokio::time::sleep(POLL).await;
    }

    // A PySpark driver: Livy's kill stops spark-submit's JVM; its Python must not run on.
    let app_name = format!("spark.app.name=livy-py-sleep-{tag}");
    let (python, jvm) = driver_processes(&sleeper_pid_file, &app_name, WAIT).await;
    // The job prints no application id; in local mode Livy knows none: the driver's UI tells it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let app_id = loop {
        let running = livy.status(&sleeper_id).await.unwrap();
        assert_eq!(running.state, AppState::Running, "{running:?}");
        match running.app_id {
            Some(app_id) => break app_id,
            None if Instant::now() < deadline => tokio::time::sleep(POLL).await,
            None => panic!("no application id in 30 s; log:\n{}", livy.logs(&sleeper_id, 8000).await.unwrap()),
        }
    };
    assert!(app_id.starts_with("local-"), "{app_id}");
    livy.kill(&sleeper_id).await.unwrap();
    let gone = wait_until_gone(python, jvm, Duration::from_secs(30)).await;
    eprintln!("the PySpark driver's JVM and Python were gone {:.1} s after the kill", gone.as_secs_f64());

    let done = wait_until_final(&livy, &ok_id, POLL, WAIT).await.unwrap();
    let ok_secs = submitted.elapsed().as_secs_f64();
    let logs = livy.logs(&ok_id, 1 << 20).await.unwrap();
    assert_eq!(done.state, AppState::Succeeded, "{done:?}\n{logs}");
    let app_id = done.app_id.clone().expect("Spark's application id, from the driver output Livy keeps");
    assert!(app_id.starts_with("local-"), "{app_id}");
    assert!(logs.contains("COUNT=1000") && logs.contains(&format!("APP_ID={app_id}")), "{logs}");
    let tail = livy.logs(&ok_id, 20).await.unwrap();
    assert!(tail.len() <= 20 && logs.ends_with(&tail), "{tail:?}");
    // Livy's own log shows the spark-submit it ran: every field reached it.
    let server_log = server.server_log();
    let command = server_log
        .lines()
        .find(|l| l.contains("spark-submit") && l.contains(&format!("spark.app.name=livy-ok-{tag}")))
        .unwrap_or_else(|| panic!("no spark-submit line for the ok job in Livy's log:\n{server_log}"));
    for part in [
        "'--class' 'consort.examples.CountRange'",
        "'spark.driver.memory=512m'",
        "'spark.driver.cores=1'",
        "'spark.executor.memory=512m'",
        "'spark.executor.cores=1'",
        "'spark.executor.instances=1'",
        "'--queue' 'default'",
        "'spark.log.level=WARN'",
        "'spark.sql.shuffle.partitions=3'",
        "'spark.ui.enabled=false'",
        "consort-examples.jar' '1000' 'ok'",
    ] {
        assert!(command.contains(part), "{part} missing from {command}");
    }
    assert!(command.contains("'spark.jars=file://") && command.contains("'spark.files=file://"), "{command}");
    // Killing a batch that has ended keeps its outcome.
    livy.kill(&ok_id).await.unwrap();
    assert_eq!(livy.status(&ok_id).await.unwrap().state, AppState::Succeeded);

    let failed = wait_until_final(&livy, &fail_id, POLL, WAIT).await.unwrap();
    assert_eq!(failed.state, AppState::Failed, "{failed:?}");
    let message = failed.message.unwrap_or_default();
    assert!(message.contains("is dead") && message.contains("failing on purpose"), "{message}");

    let py_done = wait_until_final(&livy, &py_id, POLL, WAIT).await.unwrap();
    let py_logs = livy.logs(&py_id, 1 << 20).await.unwrap();
    assert_eq!(py_done.state, AppState::Succeeded, "{py_done:?}\n{py_logs}");
    assert!(py_logs.contains("COUNT=42"), "{py_logs}");
    assert!(py_done.app_id.is_some_and(|a| a.starts_with("local-")));
    eprintln!(
        "the jar job succeeded {ok_secs:.1} s after submission (five drivers side by side), all five done after {:.1} s",
        submitted.elapsed().as_secs_f64()
    );

    for unknown in ["999999", "not-a-number"] {
        assert!(matches!(livy.status(unknown).await, Err(SparkError::NotFound { .. })), "{unknown}");
        assert!(matches!(livy.logs(unknown, 100).await, Err(SparkError::NotFound { .. })), "{unknown}");
        assert!(matches!(livy.kill(unknown).await, Err(SparkError::NotFound { .. })), "{unknown}");
    }

    // The answer to the create is lost (the proxy cuts the connection once Livy has answered):
    // the `spark` kind looks the run's key up and adopts the batch Livy made instead of sending
    // it again. Exactly one batch carries the run's key.
    let proxy = lossy_proxy::start(&server.socket, "POST /batches", 1).await;
    // Through the proxy by the server's host name, which SPNEGO's service principal names.
    let proxy_url = proxy.url.replace("127.0.0.1", url_host(&server.url));
    let through_proxy: Arc<dyn Launcher> = Arc::new(launcher(&proxy_url, Some("consort"), &auth));
    let data = json!({
        "backend": "livy", "jar": jar, "className": "consort.examples.CountRange", "args": ["10", "ok"],
        "driverMemory": "512m", "conf": {"spark.ui.enabled": "false"}, "retries": 3, "retryDelaySecs": 1
    });
    let run = fire_once(through_proxy, data).await;
    assert_eq!(proxy.lost(), 1, "the create's answer was lost once");
    assert_eq!(run.state, RunState::Succeeded, "{run:?}");
    let key = run_key(run.id, run.fired_ms);
    let page = raw_get(&format!("{}/batches?from=0&size=1000", server.url), &auth).await;
    let named: Vec<&Value> =
        page["sessions"].as_array().unwrap().iter().filter(|b| b["name"] == key.as_str()).collect();
    assert_eq!(named.len(), 1, "exactly one batch for the run: {page}");
    assert_eq!(run.log_location, Some(format!("livy:{}", named[0]["id"])), "the run follows that batch");
    assert_eq!(livy.find(&key).await.unwrap().map(|s| s.id), Some(named[0]["id"].to_string()));
    assert_eq!(livy.find("consort-run-0-0").await.unwrap(), None, "a key never submitted is provably absent");

    let url = server.url.clone();
    drop(server);
    // Livy is gone: a clear, retryable error naming the backend and its URL.
    let err = livy.submit(&job("late", &["1"])).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let message = err.to_string();
    assert!(message.contains(&format!("livy backend at {url}")) && message.contains("retry"), "{message}");
    assert!(livy.status(&py_id).await.unwrap_err().is_retryable());
    assert!(livy.health().await.unwrap_err().is_retryable());
}

/// The host of `http://host:port`.
fn url_host(url: &str) -> &str {
    url.trim_start_matches("http://").split(':').next().unwrap()
}
