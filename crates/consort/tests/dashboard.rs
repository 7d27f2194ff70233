//! The web dashboard end to end: one `consort serve` (SQLite, local Spark), jobs, triggers and
//! runs seeded through the API, then `tests/browser/dashboard.mjs` drives Debian's chromium
//! (through playwright-core, both installed by `scripts/setup.d/48-browser.sh`) over every page
//! and action. Each action's effect is read back through the API, by the script and again here.
//! Screenshots are kept under `$CONSORT_CACHE/artifacts/dashboard/` (the path is printed).
//!
//! The new routes' refusals (no token, a bad token, a role without `read`, bad parameters) and
//! the assets' headers are checked here over HTTP before the browser starts.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long the local Spark application may take to start on a loaded 2-core machine.
const SPARK_WAIT: Duration = Duration::from_secs(240);

fn cache_dir() -> PathBuf {
    consort_spark::tool_cache().expect("a cache directory")
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap())
}

/// `consort serve` on a fresh data directory; SIGTERM on drop.
struct Server {
    child: Child,
    url: String,
    data: PathBuf,
}

impl Server {
    fn start() -> Server {
        let data = std::env::temp_dir().join(format!("consort-dashboard-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).unwrap();
        // The browser and this test are one principal each, polling: the rate limit (tested in
        // crates/server/tests/auth.rs) must not turn a slow machine's bursts into failures.
        let config = data.join("consort.toml");
        std::fs::write(&config, "[auth]\nrate_per_sec = 1000\nrate_burst = 1000\n").unwrap();
        let log = std::fs::File::create(data.with_extension("log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_consort"))
            .env_remove("CONSORT_CONFIG")
            .env_remove("CONSORT_TOKEN")
            .env("XDG_CONFIG_HOME", std::env::temp_dir().join("consort-dashboard-no-config"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut first_line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first_line).unwrap();
        let addr = first_line
            .split("http://")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {first_line:?}"))
            .to_string();
        Server { child, url: format!("http://{addr}"), data }
    }

    fn admin_token(&self) -> String {
        std::fs::read_to_string(self.data.join("admin.token")).unwrap().trim().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.data);
        let _ = std::fs::remove_file(self.data.with_extension("log"));
    }
}

/// One HTTP exchange: (status, headers, body as JSON or as a string).
fn call(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    runtime().block_on(async {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let mut request = client.request(method.parse().unwrap(), format!("{}{path}", server.url));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        (status, headers, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    })
}

fn ok(server: &Server, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
    let (status, _, body) = call(server, method, path, Some(token), body);
    assert!((200..300).contains(&status), "{method} {path}: {status} {body}");
    body
}

fn token(server: &Server, admin: &str, name: &str, role: &str) -> String {
    let created = ok(server, "POST", "/v1/tokens", admin, Some(json!({"name": name, "roles": [role]})));
    created["secret"].as_str().unwrap_or_else(|| panic!("no token in {created}")).to_string()
}

fn example_jar() -> PathBuf {
    let jar = cache_dir().join("examples/consort-examples.jar");
    assert!(jar.exists(), "{} missing: run scripts/setup (41-spark-examples.sh)", jar.display());
    jar
}

/// The new routes refuse what they must, and the assets carry their headers.
fn check_routes(server: &Server, admin: &str, viewer: &str, provisioner: &str) {
    // whoami: the roles' actions, from the one table.
    let me = ok(server, "GET", "/v1/auth/whoami", admin, None);
    assert_eq!(me["roles"], json!(["admin"]), "{me}");
    assert_eq!(me["actions"], json!(["read", "operate", "provision", "administer", "govern"]), "{me}");
    assert_eq!(me["method"], "api_token");
    let me = ok(server, "GET", "/v1/auth/whoami", viewer, None);
    assert_eq!((me["name"].as_str(), &me["actions"]), (Some("dash-viewer"), &json!(["read"])), "{me}");
    assert_eq!(me["display_name"], "token:dash-viewer");
    for path in ["/v1/auth/whoami", "/v1/dashboard/run-history"] {
        let (status, headers, body) = call(server, "GET", path, None, None);
        assert_eq!(status, 401, "{path} without a token: {body}");
        assert!(headers.contains_key("www-authenticate"), "{path}");
        let (status, _, body) = call(server, "GET", path, Some("cst_not-a-real-token"), None);
        assert_eq!((status, &body["error"]["code"]), (401, &json!("unknown_token")), "{path}: {body}");
        let (status, _, body) = call(server, "GET", path, Some(provisioner), None);
        assert_eq!(status, 403, "{path} with a provisioner token: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("viewer"), "{body}");
    }
    // run-history: its one parameter, named when wrong.
    for bad in ["hours=0", "hours=169", "hours=abc"] {
        let (status, _, body) = call(server, "GET", &format!("/v1/dashboard/run-history?{bad}"), Some(viewer), None);
        assert_eq!((status, &body["error"]["param"]), (400, &json!("hours")), "{bad}: {body}");
    }
    let (status, _, body) = call(server, "GET", "/v1/dashboard/run-history?days=1", Some(viewer), None);
    assert_eq!(status, 400, "{body}");
    let history = ok(server, "GET", "/v1/dashboard/run-history?hours=3", viewer, None);
    assert_eq!(history["hours"].as_array().unwrap().len(), 3, "{history}");
    // Both routes are in the document.
    let (_, _, doc) = call(server, "GET", "/openapi.json", None, None);
    for path in ["/v1/auth/whoami", "/v1/dashboard/run-history"] {
        assert!(doc["paths"][path]["get"]["security"].is_array(), "{path} is documented as protected");
    }

    // The assets: public, typed, under a strict policy.
    let (status, headers, _) = call(server, "GET", "/", None, None);
    assert_eq!((status, headers["location"].to_str().unwrap()), (303, "/ui/"));
    for (path, content_type) in [
        ("/ui/", "text/html; charset=utf-8"),
        ("/ui/app.js", "text/javascript; charset=utf-8"),
        ("/ui/style.css", "text/css; charset=utf-8"),
    ] {
        let (status, headers, _) = call(server, "GET", path, None, None);
        assert_eq!(status, 200, "{path}");
        assert_eq!(headers["content-type"], content_type, "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"), "{csp}");
        assert_eq!(headers["cache-control"], "no-cache");
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
    let (status, _, body) = call(server, "GET", "/ui/secrets.txt", None, None);
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")), "{body}");
}

/// Jobs, triggers and runs for the pages: returns the executing Spark run's id.
fn seed(server: &Server, admin: &str) -> i64 {
    let noop = |name: &str, triggers: Value| {
        ok(
            server,
            "PUT",
            &format!("/v1/scheduler/jobs/dash/{name}"),
            admin,
            Some(json!({"kind": "noop", "description": format!("dashboard test: {name}"), "triggers": triggers})),
        )
    };
    noop(
        "report",
        json!([
            {"group": "dash", "name": "hourly", "cron": "0 0 * * * ?", "timezone": "UTC"},
            {"group": "dash", "name": "weekdays", "cron": "0 0 12 ? * MON-FRI", "timezone": "Europe/Rome"}
        ]),
    );
    noop("nightly", json!([{"group": "dash", "name": "nightly", "cron": "0 30 2 * * ?", "timezone": "Europe/Rome"}]));
    noop("burst", json!([{"group": "dash", "name": "burst", "simple": {"repeat_count": 19, "interval_ms": 50}}]));
    ok(server, "POST", "/v1/scheduler/triggers/dash/weekdays/pause", admin, None);
    let data = json!({
        "backend": "local", "jar": example_jar().display().to_string(), "className": "consort.examples.CountRange",
        "args": ["10", "ok", "600000"], "driverMemory": "512m"
    });
    ok(
        server,
        "PUT",
        "/v1/scheduler/jobs/spark/long",
        admin,
        Some(json!({"kind": "spark", "durable": true, "data": data})),
    );
    ok(server, "POST", "/v1/scheduler/jobs/spark/long/fire", admin, Some(json!({})));
    let deadline = Instant::now() + SPARK_WAIT;
    loop {
        let runs = ok(server, "GET", "/v1/scheduler/runs?job=spark.long", admin, None);
        if let Some(run) = runs["items"].as_array().unwrap().iter().find(|r| r["application_id"].is_string()) {
            assert_eq!(run["state"], "EXECUTING", "{run}");
            return run["id"].as_i64().unwrap();
        }
        assert!(Instant::now() < deadline, "the Spark application never started: {runs}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Kills a run when dropped (a 409 for one that already ended is ignored).
struct KillOnDrop<'a> {
    server: &'a Server,
    token: &'a str,
    run: i64,
}

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        let _ = call(self.server, "POST", &format!("/v1/scheduler/runs/{}/kill", self.run), Some(self.token), None);
    }
}

#[test]
fn every_page_and_action_in_chromium() {
    let chromium = PathBuf::from("/usr/bin/chromium");
    let driver = cache_dir().join("node/browser/node_modules/playwright-core");
    assert!(
        chromium.exists() && driver.exists(),
        "chromium or playwright-core is missing ({} / {}): run scripts/setup (48-browser.sh)",
        chromium.display(),
        driver.display()
    );
    let server = Server::start();
    let admin = server.admin_token();
    let viewer = token(&server, &admin, "dash-viewer", "viewer");
    let provisioner = token(&server, &admin, "dash-provisioner", "provisioner");
    check_routes(&server, &admin, &viewer, &provisioner);
    let spark_run = seed(&server, &admin);
    // A failed run of this test must not leave the 10-minute Spark application behind (local
    // runs outlive the server by design).
    let _stop_spark = KillOnDrop { server: &server, token: &admin, run: spark_run };

    let artifacts = cache_dir().join("artifacts/dashboard");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new("node")
        .arg(repo_root().join("tests/browser/dashboard.mjs"))
        .env("CONSORT_URL", &server.url)
        .env("CONSORT_ADMIN_TOKEN", &admin)
        .env("CONSORT_VIEWER_TOKEN", &viewer)
        .env("CONSORT_SPARK_RUN", spark_run.to_string())
        .env("CONSORT_ARTIFACTS", &artifacts)
        .env("CONSORT_PROFILE", profile.path())
        .env("CONSORT_PLAYWRIGHT", &driver)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    println!("dashboard screenshots: {}", artifacts.display());
    assert!(output.status.success(), "the browser script failed:\n{stdout}\n{stderr}");
    for step in [
        "signin-refused",
        "signin",
        "jobs-explained",
        "pause",
        "resume",
        "fire-now",
        "job-component",
        "runs-live",
        "run-log",
        "kill",
        "cluster",
        "chart",
        "viewer-no-buttons",
        "signout",
    ] {
        assert!(stdout.lines().any(|l| l == format!("STEP {step} ok")), "step {step} did not pass:\n{stdout}");
    }
    for shot in ["signin-refused.png", "jobs.png", "runs.png", "cluster.png", "viewer-jobs.png"] {
        let size = std::fs::metadata(artifacts.join(shot)).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "screenshot {shot} missing or empty");
    }

    // The effects, read back once more through the API.
    let nightly = ok(&server, "GET", "/v1/scheduler/triggers/dash/nightly", &viewer, None);
    assert_eq!(nightly["state"], "PAUSED", "{nightly}");
    let weekdays = ok(&server, "GET", "/v1/scheduler/triggers/dash/weekdays", &viewer, None);
    assert_eq!(weekdays["state"], "WAITING", "{weekdays}");
    let fired = ok(&server, "GET", "/v1/scheduler/runs?job=dash.report", &viewer, None);
    assert!(
        fired["items"].as_array().unwrap().iter().any(|r| r["trigger"]["group"] == "MANUAL_TRIGGER"),
        "no fire-now run of dash.report: {fired}"
    );
    let killed = ok(&server, "GET", &format!("/v1/scheduler/runs/{spark_run}"), &viewer, None);
    assert_eq!(killed["state"], "FAILED", "{killed}");
    assert!(killed["error"].as_str().unwrap_or("").contains("kill"), "{killed}");
    // The viewer's session changed nothing: its refusals are in the audit trail only if it tried.
    let audit = ok(&server, "GET", "/v1/audit?limit=1000", &admin, None);
    let by_viewer = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["principal"] == "token:dash-viewer" && r["method"] != "GET")
        .count();
    assert_eq!(by_viewer, 0, "the viewer's page sent writes: {audit}");
}
