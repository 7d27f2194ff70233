//! The whole HTTP API against its own OpenAPI document, and its Witboost Specific Provisioner
//! endpoints against the Witboost spec itself: schemathesis (installed by
//! `scripts/setup.d/46-schemathesis.sh`) generates requests and runs every check: no 5xx, every
//! status, header and body as documented, schema-violating requests refused, schema-valid ones
//! accepted. Both runs go to one `consort serve`.
//!
//! - From `/openapi.json`; the hooks in `tests/schemathesis/hooks.py` teach it the rules the
//!   document states in words.
//! - From `docs/reference/witboost-sp-openapi.yaml` (spec 2.2.0, byte for byte as upstream
//!   ships it) with `--url` the server; `tests/schemathesis/witboost_hooks.py` gives half of the
//!   positive cases a real component descriptor whose jar exists, and
//!   `tests/schemathesis/witboost.toml` says, with reasons, where the spec contradicts itself.

mod serve;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serve::Serve;

/// The pinned version, as in the setup script.
const VERSION: &str = "4.32.5";
/// Examples per operation and phase.
const EXAMPLES: &str = "30";
/// Fixed, so a failure reproduces; printed with the report.
const SEED: &str = "20261130";
/// The longest the run may take; it is stopped and the test fails after that. (schemathesis's
/// own `--max-time` is a budget it spends in full, repeating fuzzing until it is gone.)
const TIMEOUT: Duration = Duration::from_secs(600);

fn schemathesis() -> PathBuf {
    let venv = consort_spark::tool_cache().unwrap().join("venvs/schemathesis");
    // pip's record of the installed distribution, in the venv's site-packages.
    let installed = std::fs::read_dir(venv.join("lib"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|python| python.path().join(format!("site-packages/schemathesis-{VERSION}.dist-info")).is_dir());
    assert!(
        venv.join("bin/schemathesis").exists() && installed,
        "schemathesis {VERSION} is not installed in {}: run scripts/setup",
        venv.display()
    );
    venv.join("bin/schemathesis")
}

/// `consort serve` on a fresh data directory and a free port; SIGTERM on drop.
struct Server {
    process: serve::Process,
    url: String,
    data: PathBuf,
}

impl Server {
    fn start() -> Server {
        let data = std::env::temp_dir().join(format!("consort-schemathesis-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        // schemathesis is one principal sending as fast as it can: the rate limit (tested on
        // its own in crates/server/tests/auth.rs) is raised so its 429s do not hide findings.
        let config = data.with_extension("toml");
        std::fs::write(&config, "[auth]\nrate_per_sec = 1000000\nrate_burst = 1000000\n").unwrap();
        let process = Serve::new(&data).config(config).start();
        Server { url: process.url.clone(), process, data }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.process.terminate();
        let _ = std::fs::remove_dir_all(&self.data);
        let _ = std::fs::remove_file(&self.process.log);
    }
}

/// One schemathesis run's outcome.
struct Run {
    name: &'static str,
    status: Option<std::process::ExitStatus>,
    report: String,
    elapsed: Duration,
}

/// Runs `command` (a prepared `schemathesis ... run`) to the end or [`TIMEOUT`].
fn run(name: &'static str, mut command: Command, scratch: &std::path::Path) -> Run {
    let started = Instant::now();
    let log = scratch.with_extension(format!("{name}.report"));
    let file = std::fs::File::create(&log).unwrap();
    let mut child = command.stdout(file.try_clone().unwrap()).stderr(file).spawn().unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let report = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let elapsed = started.elapsed();
    eprintln!("schemathesis {VERSION} ({name}) ran for {elapsed:.0?} (seed {SEED})");
    Run { name, status, report, elapsed }
}

/// Fails on the first run that found problems, after both ran.
fn assert_passed(runs: &[Run]) {
    for r in runs {
        println!("---- {} ({:.0?}) ----\n{}", r.name, r.elapsed, r.report);
    }
    for r in runs {
        let status = r
            .status
            .unwrap_or_else(|| panic!("schemathesis ({}) did not finish in {TIMEOUT:?}:\n{}", r.name, r.report));
        assert!(status.success(), "schemathesis ({}) found problems (seed {SEED}):\n{}", r.name, r.report);
        assert!(r.report.contains("passed"), "schemathesis ({}) ran no test:\n{}", r.name, r.report);
    }
}

/// The example job's jar, copied next to the server's data so the descriptor's local jar
/// check finds it, and the test data's component descriptor pointing at the copy.
fn component_descriptor(scratch: &std::path::Path) -> PathBuf {
    let jar = consort_spark::tool_cache().unwrap().join("examples/consort-examples.jar");
    assert!(jar.exists(), "the example jar is not built at {}: run scripts/setup", jar.display());
    let copy = scratch.with_extension("jar");
    std::fs::copy(&jar, &copy).unwrap();
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../provisioner/tests/data/component.yaml");
    let text = std::fs::read_to_string(data).unwrap();
    let text = text.replace("/opt/consort/examples/consort-examples.jar", copy.to_str().unwrap());
    let file = scratch.with_extension("descriptor.yaml");
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
fn the_api_keeps_every_promise_of_its_openapi_document_and_of_the_witboost_spec() {
    let schemathesis = schemathesis();
    let server = Server::start();
    let hooks = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis");
    let mut command = Command::new(&schemathesis);
    command
        .arg("--config-file")
        .arg(hooks.join("consort.toml"))
        .arg("run")
        .arg(format!("{}/openapi.json", server.url))
        // Every check is on by default; naming them on the command line (`--checks all`) would
        // override the per-operation settings of consort.toml.
        .args(["--max-examples", EXAMPLES, "--seed", SEED])
        // One worker: with two, hypothesis's lambda descriptions race on Python's `ast`
        // ("AST constructor recursion depth mismatch"), a runtime error of the tool itself.
        .args(["--workers", "1", "--no-color", "--wait-for-schema", "30"])
        .env("PYTHONPATH", &hooks)
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .current_dir(std::env::temp_dir());
    // Authentication comes with its own data: a server that made an admin token on first
    // start wants it on every protected call.
    let token = std::fs::read_to_string(server.data.join("admin.token")).ok().map(|t| t.trim().to_string());
    match &token {
        Some(token) => {
            command.args(["--header", &format!("Authorization: Bearer {token}")]);
            // schemathesis lists tokens and revokes what it finds; the one it runs with is kept.
            let list = Command::new(env!("CARGO_BIN_EXE_consort"))
                .args(["tokens", "list", "--json", "--server", &server.url, "--data-dir"])
                .arg(&server.data)
                .env_remove("CONSORT_TOKEN")
                .output()
                .unwrap();
            assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
            let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
            let admin = &list["items"][0];
            command.env(
                "CONSORT_SCHEMATHESIS_KEEP",
                format!("{},{}", admin["id"].as_str().unwrap(), admin["name"].as_str().unwrap()),
            );
        }
        None => {
            command.env("CONSORT_SCHEMATHESIS_NO_AUTH", "1").args(["--exclude-checks", "ignored_auth"]);
        }
    }
    let own = run("openapi.json", command, &server.data);

    // The Witboost spec, as upstream ships it, against the same server.
    let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/reference/witboost-sp-openapi.yaml");
    let descriptor = component_descriptor(&server.data);
    let mut command = Command::new(&schemathesis);
    command
        .arg("--config-file")
        .arg(hooks.join("witboost.toml"))
        .arg("run")
        .arg(&spec)
        .args(["--url", &server.url])
        // Every check is on by default; naming them on the command line (`--checks all`) would
        // override the per-operation settings of witboost.toml.
        .args(["--max-examples", EXAMPLES, "--seed", SEED])
        .args(["--workers", "1", "--no-color"])
        .env("PYTHONPATH", &hooks)
        .env("SCHEMATHESIS_HOOKS", "witboost_hooks")
        .env("CONSORT_SP_DESCRIPTOR", &descriptor)
        .env("CONSORT_SP_SPEC", &spec)
        .current_dir(std::env::temp_dir());
    // The spec declares no security: the token goes on every request, as Witboost's
    // coordinator sends its credentials.
    if let Some(token) = &token {
        command.args(["--header", &format!("Authorization: Bearer {token}")]);
    }
    let witboost = run("witboost-sp-openapi.yaml", command, &server.data);
    let _ = std::fs::remove_file(&descriptor);
    let _ = std::fs::remove_file(server.data.with_extension("jar"));
    assert_passed(&[own, witboost]);
}
