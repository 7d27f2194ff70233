//! The real `consort` binary, run as a user would run it.

mod serve;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serve::{STOP_LIMIT, Serve, consort};

fn vectors() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../cron/tests/data/quartz-cron-vectors.tsv");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn cron_eval_reproduces_the_quartz_vector_file() {
    let text = vectors();
    let rows: Vec<Vec<&str>> = text.lines().skip(1).map(|l| l.split('\t').collect()).collect();
    let input: String = rows.iter().map(|r| format!("{}\t{}\t{}\n", r[0], r[1], r[2])).collect();
    let mut child = consort().args(["cron", "eval"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let answers: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(String::from).collect();
    assert_eq!(answers.len(), rows.len());
    for (row, answer) in rows.iter().zip(&answers) {
        assert_eq!(answer, row[3], "{:?}", row);
    }
}

#[test]
fn cron_eval_keeps_fields_untrimmed_and_accepts_crlf() {
    let mut child = consort().args(["cron", "eval"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"0 0 12 * * ?\tUTC\t0\r\n0 0 12 * * ?\tUTC \t0\n0 0 12 * * ?\tUTC\t 0\n")
        .unwrap();
    let out = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "43200,129600,216000,302400,388800");
    // "UTC " is not a zone Quartz knows, so Quartz reads it as GMT, like UTC.
    assert_eq!(lines[1], lines[0]);
    // " 0" is not a number: no trimming.
    assert_eq!(lines[2], "ERR");
}

#[test]
fn cron_next_prints_local_and_utc_times() {
    let out = consort()
        .args([
            "cron",
            "next",
            "0 30 2 * * ?",
            "--tz",
            "America/New_York",
            "--after",
            "2026-03-07T00:00:00Z",
            "--count",
            "3",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    // 2026-03-08 02:30 does not exist in New York: that day is skipped.
    let expected = "0 30 2 * * ? (America/New_York): at 02:30 every day\n  \
        2026-03-07 02:30:00 EST (Sat)  2026-03-07T07:30:00Z\n  \
        2026-03-09 02:30:00 EDT (Mon)  2026-03-09T06:30:00Z\n  \
        2026-03-10 02:30:00 EDT (Tue)  2026-03-10T06:30:00Z\n";
    assert_eq!(text, expected);
}

#[test]
fn invalid_input_fails_with_the_field_and_exit_code_1() {
    let out = consort().args(["cron", "explain", "0 0 12 ? * MON#6"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("day-of-week field") && err.contains("MON#6") && err.contains("1-5"), "{err}");

    let out = consort().args(["cron", "next", "0 0 12 * * ?", "--tz", "Moon/Base"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("unknown time zone `Moon/Base`"));

    let out = consort().args(["cron", "next"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}

#[test]
fn config_show_applies_file_env_and_reports_bad_values() {
    let dir = std::env::temp_dir().join(format!("consort-cli-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("consort.toml");
    std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:9000\"\n[log]\nformat = \"json\"\n").unwrap();
    let out = consort()
        .args(["config", "show", "--config"])
        .arg(&file)
        .env("CONSORT_LISTEN", "127.0.0.1:9001")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("listen = \"127.0.0.1:9001\"") && text.contains("format = \"json\""), "{text}");

    std::fs::write(&file, "[server]\nlisten = \"nowhere\"\n").unwrap();
    let out = consort().args(["config", "show", "--config"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("server.listen") && err.contains("HOST:PORT"), "{err}");

    let reference = consort().args(["config", "reference"]).output().unwrap();
    assert!(String::from_utf8(reference.stdout).unwrap().contains("[server]"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn serve_listens_answers_and_stops_on_sigterm() {
    let mut server = Server::start("serve");
    assert!(server.data.is_dir(), "the data directory is created");
    let addr = server.url.trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200") && reply.contains("\"status\":\"ok\""), "{reply}");
    let status = server.stop();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
}

/// Builds a jar with `javac` and `jar` from the JDK: `demo.Main` has a main method, `demo.NoMain` does not.
fn build_jar(dir: &std::path::Path) -> std::path::PathBuf {
    let src = dir.join("src/demo");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("Main.java"),
        "package demo;\npublic class Main { public static void main(String[] a) {} }\n",
    )
    .unwrap();
    std::fs::write(
        src.join("NoMain.java"),
        "package demo;\npublic class NoMain { public static void run(String[] a) {} }\n",
    )
    .unwrap();
    let classes = dir.join("classes");
    let ok = Command::new("javac")
        .arg("-d")
        .arg(&classes)
        .arg(src.join("Main.java"))
        .arg(src.join("NoMain.java"))
        .status()
        .unwrap();
    assert!(ok.success(), "javac");
    let jar = dir.join("app.jar");
    let ok = Command::new("jar").arg("cf").arg(&jar).arg("-C").arg(&classes).arg(".").status().unwrap();
    assert!(ok.success(), "jar");
    jar
}

#[test]
fn artifact_check_passes_only_for_a_real_main_class() {
    let dir = std::env::temp_dir().join(format!("consort-cli-artifact-{}", std::process::id()));
    let jar = build_jar(&dir);
    let uri = format!("file://{}", jar.display());

    let out = consort().args(["artifact", "check", &uri, "--class", "demo/Main"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("demo.Main") && text.contains("public static void main") && text.contains("bytes"), "{text}");

    for (class, says) in [("demo.NoMain", "no `public static void main"), ("demo.Mian", "did you mean demo.Main")] {
        let out = consort().args(["artifact", "check", &uri, "--class", class]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{class}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(says), "{class}: {err}");
    }
    let missing = format!("file://{}/missing.jar", dir.display());
    let out = consort().args(["artifact", "check", &missing, "--class", "demo.Main"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("does not exist"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A running server on a fresh data directory; stopped (SIGTERM) when dropped. Its log
/// goes to `log` (beside the data directory), which tests read for secrets.
struct Server {
    process: serve::Process,
    /// Leave the data directory and log behind when dropped (a later start reuses them).
    keep: bool,
}

impl Server {
    fn start(name: &str) -> Server {
        Server::start_with(name, &[])
    }

    /// With extra environment, e.g. `CONSORT_COMMAND_KIND=true`.
    fn start_with(name: &str, env: &[(&str, &str)]) -> Server {
        let data = std::env::temp_dir().join(format!("consort-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        Server::start_in(data, env)
    }

    /// A server on an existing data directory (a restart).
    fn start_in(data: PathBuf, env: &[(&str, &str)]) -> Server {
        Server { process: Serve::new(data).envs(env.iter().copied()).start(), keep: false }
    }

    fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.process.cli_as(args, None);
        (out.code, out.stdout, out.stderr)
    }
}

impl std::ops::Deref for Server {
    type Target = serve::Process;
    fn deref(&self) -> &serve::Process {
        &self.process
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut serve::Process {
        &mut self.process
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.process.terminate();
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.process.data);
            let _ = std::fs::remove_file(&self.process.log);
        }
    }
}

#[test]
fn jobs_fire_on_schedule_and_show_in_the_run_history() {
    let server = Server::start_with("jobs", &[("CONSORT_COMMAND_KIND", "true")]);
    let (code, out, err) = server.cli(&[
        "jobs",
        "put",
        "etl.flaky",
        "--kind",
        "command",
        "--data",
        r#"{"program": "/bin/sh", "args": ["-c", "exit 3"]}"#,
        "--cron",
        "* * * * * ?",
        "--non-concurrent",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    // It fires every second, so it may already be blocked (non-concurrent) or executing.
    assert!(out.contains("etl.flaky") && out.contains("* * * * * ? (UTC)"), "{out}");
    let (code, _, err) = server.cli(&["jobs", "put", "etl.manual", "--kind", "noop", "--durable"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = server.cli(&["jobs", "fire", "etl.manual"]);
    assert_eq!(code, 0);
    assert!(out.contains("fired etl.manual"), "{out}");

    // Both show up in the history: the manual fire succeeds, the cron one fails with its exit code.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let runs = loop {
        let (_, out, _) = server.cli(&["runs", "list", "--json", "--limit", "50"]);
        let runs: serde_json::Value = serde_json::from_str(&out).unwrap();
        let runs = runs["items"].as_array().unwrap().clone();
        let done = |job: &str, state: &str| runs.iter().any(|r| r["job"]["name"] == job && r["state"] == state);
        if done("manual", "SUCCEEDED") && done("flaky", "FAILED") {
            break runs;
        }
        assert!(std::time::Instant::now() < deadline, "runs never completed: {runs:?}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let failed = runs.iter().find(|r| r["job"]["name"] == "flaky" && r["state"] == "FAILED").unwrap();
    assert_eq!(failed["exit_code"], 3, "{failed}");
    let (_, out, _) = server.cli(&["jobs", "list"]);
    assert!(out.contains("etl.manual") && out.contains("SUCCEEDED") && out.contains("FAILED"), "{out}");

    let (code, _, err) = server.cli(&["jobs", "get", "etl.missing"]);
    assert_eq!(code, 1);
    assert!(err.contains("etl.missing") && err.contains("404"), "{err}");
    let (code, _, err) = server.cli(&["jobs", "put", "etl.bad", "--kind", "noop", "--cron", "0 0 12 * * *"]);
    assert_eq!(code, 1);
    assert!(err.contains("day-of-month"), "{err}");
}

/// What a stopped server left in its SQLite store: runs still EXECUTING, and check-in rows.
fn left_behind(data: &std::path::Path) -> (usize, usize) {
    let url = format!("sqlite://{}", data.join("consort.db").display());
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let store = consort_store::open(&url).await.unwrap();
        let filter = consort_scheduler::RunFilter {
            state: Some(consort_scheduler::RunState::Executing),
            limit: 1000,
            ..Default::default()
        };
        (store.list_runs(&filter).await.unwrap().len(), store.instances(None, None).await.unwrap().len())
    })
}

/// Regression test for the stop that was not graceful: the HTTP server and the signal
/// ended one `select!` together, and when the server's branch won, `serve` returned without
/// stopping the scheduler (no log line, runs left EXECUTING, the check-in row left behind).
/// SIGTERM at random moments — right after start, right after /health, while a `sleep 1`
/// run fired every second executes — must stop everything every time.
#[test]
fn every_sigterm_stops_the_scheduler_gracefully() {
    let seed = std::env::var("CONSORT_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as u64
    });
    eprintln!("seed {seed} (set CONSORT_TEST_SEED to repeat)");
    let mut rng = seed | 1;
    let mut random = move |below: u64| {
        // xorshift64: enough to spread the stops over a second's cycle.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % below
    };
    let env = [("CONSORT_COMMAND_KIND", "true")];
    let mut server = Server::start_with("graceful", &env);
    server.keep = true;
    let data = server.data.clone();
    let job = r#"{"program": "/bin/sleep", "args": ["1"]}"#;
    let (code, out, err) =
        server.cli(&["jobs", "put", "stop.sleeper", "--kind", "command", "--data", job, "--cron", "* * * * * ?"]);
    assert_eq!(code, 0, "{out}{err}");
    let health = |server: &Server| {
        let addr = server.url.trim_start_matches("http://").to_string();
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    };
    let executing = |server: &Server| {
        let (_, out, _) = server.cli(&["runs", "list", "--json", "--state", "executing"]);
        serde_json::from_str::<serde_json::Value>(&out).map_or(0, |v| v["items"].as_array().map_or(0, Vec::len))
    };
    for round in 0..20 {
        if round > 0 {
            server = Server::start_in(data.clone(), &env);
            server.keep = true;
        }
        let moment = match round % 4 {
            0 => "right after the listening line".to_string(),
            1 => {
                health(&server);
                "right after /health".to_string()
            }
            2 => {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
                while executing(&server) == 0 {
                    assert!(std::time::Instant::now() < deadline, "round {round}: no run ever executed");
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                "while a run executes".to_string()
            }
            _ => {
                let ms = random(2500);
                std::thread::sleep(std::time::Duration::from_millis(ms));
                format!("{ms} ms after start")
            }
        };
        let status = server.stop();
        let log = std::fs::read_to_string(&server.log).unwrap();
        let context = format!("round {round} (seed {seed}), SIGTERM {moment}; log:\n{log}");
        assert!(status.success(), "exit status {status}: {context}");
        for line in ["shutting down", "scheduler driver stopped", "consort stopped"] {
            assert!(log.contains(line), "no {line:?} in the log: {context}");
        }
        let (runs, instances) = left_behind(&data);
        assert_eq!((runs, instances), (0, 0), "EXECUTING runs and check-in rows left behind: {context}");
    }
    server.keep = false;
    drop(server);

    // After a local Spark run, and with another whose driver still runs (the stop detaches
    // it), the process still exits promptly: nothing it started keeps its runtime alive.
    let mut server = Server::start("graceful-spark");
    let _drivers = DetachedDrivers(server.data.join("spark-runs"));
    let fire_and_wait = |name: &str, args: &[&str], reached: &dyn Fn(&serde_json::Value) -> bool| {
        let data = serde_json::json!({
            "jar": example_jar().display().to_string(), "className": "consort.examples.CountRange",
            "args": args, "driverMemory": "512m"
        });
        let (code, out, err) =
            server.cli(&["jobs", "put", name, "--kind", "spark", "--durable", "--data", &data.to_string()]);
        assert_eq!(code, 0, "{out}{err}");
        let (code, _, err) = server.cli(&["jobs", "fire", name]);
        assert_eq!(code, 0, "{err}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
        loop {
            let (_, out, _) = server.cli(&["runs", "list", "--json", "--job", name]);
            let runs: serde_json::Value = serde_json::from_str(&out).unwrap();
            if runs["items"].as_array().unwrap().iter().any(reached) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{name}: the Spark run never got there: {runs}");
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
    };
    fire_and_wait("stop.ok", &["100", "ok"], &|run| run["state"] == "SUCCEEDED");
    fire_and_wait("stop.long", &["10", "ok", "600000"], &|run| run["application_id"].is_string());
    let (status, took) = server.stop_within(STOP_LIMIT);
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(status.success() && log.contains("consort stopped"), "exit status {status}; log:\n{log}");
    assert!(!log.contains("was abandoned"), "the stop left blocking work behind: {log}");
    eprintln!("consort serve exited {took:?} after SIGTERM, with a Spark driver still running");
}

/// Ends, when dropped, the drivers of the local runs under a work directory that are still
/// running (their process groups): a stopped server leaves them to the next instance.
struct DetachedDrivers(PathBuf);

impl Drop for DetachedDrivers {
    fn drop(&mut self) {
        for run in std::fs::read_dir(&self.0).into_iter().flatten().flatten() {
            let pid = std::fs::read_to_string(run.path().join("pid")).unwrap_or_default();
            if let Some(pid) = pid.split_whitespace().next()
                && !run.path().join("exit_code").exists()
            {
                let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
            }
        }
    }
}

#[test]
fn remote_commands_explain_an_unreachable_server() {
    let out = consort().args(["jobs", "list", "--server", "http://127.0.0.1:9"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("cannot reach consort at http://127.0.0.1:9") && err.contains("CONSORT_SERVER"), "{err}");
}

/// The bash completion script, loaded into a real bash, completes commands and flags.
#[test]
fn bash_completes_commands_and_flags_from_the_generated_script() {
    let out = consort().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("consort.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let complete = |words: &[&str]| {
        // bash's completion protocol: COMP_WORDS/COMP_CWORD set, then the function called with
        // (command, word being completed, previous word); it answers in COMPREPLY.
        let program = format!(
            "source {}; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; \
             _consort consort {} {}; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display(),
            words.join(" "),
            words.len() - 1,
            words[words.len() - 1],
            words[words.len() - 2],
        );
        let out = Command::new("bash").args(["--norc", "-c", &program]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect::<Vec<_>>()
    };
    assert_eq!(complete(&["consort", "jo"]), ["jobs"]);
    assert!(complete(&["consort", "cleanroom", "pr"]).contains(&"prepare".to_owned()));
    assert_eq!(complete(&["consort", "runs", "list", "--st"]), ["--state"]);
    assert_eq!(complete(&["consort", "completions", "fi"]), ["fish"]);

    // A closed pipe is an error, not a panic.
    let mut child =
        consort().args(["completions", "zsh"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `consort man` writes a page per command that `man` renders, with the command's examples.
#[test]
fn manual_pages_render_with_their_examples() {
    let dir = tempfile::tempdir().unwrap();
    let out = consort().args(["man", "--out"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pages: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    for page in ["consort.1", "consort-jobs.1", "consort-runs-purge.1", "consort-cleanroom-run.1", "consort-man.1"] {
        assert!(pages.contains(&page.to_owned()), "{page} missing from {pages:?}");
    }
    let rendered = Command::new("man")
        .args(["-l", "-P", "cat"])
        .arg(dir.path().join("consort-runs-purge.1"))
        .env("MANWIDTH", "200")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(rendered.status.success(), "{}", String::from_utf8_lossy(&rendered.stderr));
    for expected in ["SYNOPSIS", "--older-than", "EXAMPLES", "consort runs purge --older-than 90d"] {
        assert!(text.contains(expected), "{expected} not in the rendered page:\n{text}");
    }
}

/// `--output json` prints the server's JSON, `--output table` a table; a bad value is named.
#[test]
fn output_format_is_checked_before_anything_is_sent() {
    let out = consort().args(["jobs", "list", "--output", "yaml", "--server", "http://127.0.0.1:9"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("--output") && err.contains("table") && err.contains("json"), "{err}");
}

fn example_jar() -> PathBuf {
    let jar = consort_spark::tool_cache().unwrap().join("examples/consort-examples.jar");
    assert!(jar.exists(), "{} missing: run scripts/setup", jar.display());
    jar
}

/// A `spark` job fired through the server runs on local Spark, and the run
/// mirrors the Spark application: its id, its log location, its outcome.
#[test]
fn spark_job_fired_through_the_server_mirrors_the_application() {
    let server = Server::start("spark");
    let data = serde_json::json!({
        "backend": "local", "jar": example_jar().display().to_string(), "className": "consort.examples.CountRange",
        "args": ["300", "ok"], "driverMemory": "512m", "logLevel": "WARN"
    });
    let (code, _, err) =
        server.cli(&["jobs", "put", "spark.count", "--kind", "spark", "--durable", "--data", &data.to_string()]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) =
        server.cli(&["jobs", "put", "spark.bad", "--kind", "spark", "--durable", "--data", r#"{"jar": "x.jar"}"#]);
    assert_eq!(code, 1);
    assert!(err.contains("className"), "{err}");

    let (code, _, err) = server.cli(&["jobs", "fire", "spark.count"]);
    assert_eq!(code, 0, "{err}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let run = loop {
        let (_, out, _) = server.cli(&["runs", "list", "--json", "--job", "spark.count"]);
        let runs: serde_json::Value = serde_json::from_str(&out).unwrap();
        if let Some(run) = runs["items"].as_array().unwrap().iter().find(|r| r["state"] != "EXECUTING") {
            break run.clone();
        }
        assert!(std::time::Instant::now() < deadline, "the Spark run never ended: {runs}");
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert_eq!(run["state"], "SUCCEEDED", "{run}");
    assert!(run["application_id"].as_str().unwrap().starts_with("local-"), "{run}");
    let location = run["log_location"].as_str().unwrap();
    assert!(location.starts_with("local:consort-run-"), "the run directory is named by the run's key: {run}");

    // The run's log, through the server, from where the application ran.
    let run_id = run["id"].to_string();
    let (code, log, err) = server.cli(&["runs", "log", &run_id]);
    assert_eq!(code, 0, "{err}");
    assert!(log.contains("COUNT=300"), "{log}");
    let (code, _, err) = server.cli(&["runs", "kill", &run_id]);
    assert_eq!(code, 1);
    assert!(err.contains("already ended SUCCEEDED"), "{err}");

    // A long run killed through the server ends FAILED, its application KILLED.
    let long = serde_json::json!({
        "jar": example_jar().display().to_string(), "className": "consort.examples.CountRange",
        "args": ["10", "ok", "600000"], "driverMemory": "512m"
    });
    let (code, _, err) =
        server.cli(&["jobs", "put", "spark.long", "--kind", "spark", "--durable", "--data", &long.to_string()]);
    assert_eq!(code, 0, "{err}");
    server.cli(&["jobs", "fire", "spark.long"]);
    let executing = loop {
        let (_, out, _) = server.cli(&["runs", "list", "--json", "--job", "spark.long"]);
        let runs: serde_json::Value = serde_json::from_str(&out).unwrap();
        if let Some(run) = runs["items"].as_array().unwrap().iter().find(|r| r["log_location"].is_string()) {
            break run["id"].to_string();
        }
        assert!(std::time::Instant::now() < deadline, "the long run never started: {runs}");
        std::thread::sleep(std::time::Duration::from_millis(300));
    };
    let (code, out, err) = server.cli(&["runs", "kill", &executing]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("kill requested"), "{out}");
    let killed = loop {
        let (_, out, _) = server.cli(&["runs", "get", "--json", &executing]);
        let run: serde_json::Value = serde_json::from_str(&out).unwrap();
        if run["state"] != "EXECUTING" {
            break run;
        }
        assert!(std::time::Instant::now() < deadline, "the killed run never ended: {run}");
        std::thread::sleep(std::time::Duration::from_millis(300));
    };
    assert_eq!(killed["state"], "FAILED", "{killed}");
    assert!(killed["error"].as_str().unwrap().contains("killed"), "{killed}");

    // The same application through `consort spark`: its log, and a failing mode that exits 1.
    let id = location.trim_start_matches("local:");
    let data_dir = server.data.display().to_string();
    let out = consort().args(["spark", "logs", "--data-dir", &data_dir, id]).output().unwrap();
    assert!(String::from_utf8(out.stdout).unwrap().contains("COUNT=300"));
    let jar = example_jar().display().to_string();
    let out = consort()
        .args(["spark", "submit", "--data-dir", &data_dir, "--class", "consort.examples.CountRange", &jar, "5", "fail"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAILED"), "{text}");
    // The wait's progress goes to stderr, a line per state when stderr is not a terminal.
    let progress = String::from_utf8(out.stderr).unwrap();
    assert!(progress.lines().any(|l| l.contains(": FAILED after ")), "{progress}");
}

/// A server stopped while its Spark application runs lets the application go on; started
/// again on the same data directory, it re-attaches to the application (no second
/// spark-submit) and the run ends with the application's outcome.
#[test]
fn a_spark_run_survives_a_server_restart() {
    let mut server = Server::start("restart");
    let data = serde_json::json!({
        "backend": "local", "jar": example_jar().display().to_string(), "className": "consort.examples.CountRange",
        "args": ["100", "ok", "20000"], "driverMemory": "512m"
    });
    let (code, _, err) =
        server.cli(&["jobs", "put", "spark.long", "--kind", "spark", "--durable", "--data", &data.to_string()]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = server.cli(&["jobs", "fire", "spark.long"]);
    assert_eq!(code, 0, "{err}");
    let runs = |server: &Server| -> Vec<serde_json::Value> {
        let (_, out, _) = server.cli(&["runs", "list", "--json", "--job", "spark.long"]);
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["items"].as_array().unwrap().clone()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let before = loop {
        if let Some(run) = runs(&server).into_iter().find(|r| r["application_id"].is_string()) {
            break run;
        }
        assert!(std::time::Instant::now() < deadline, "the Spark application never started");
        std::thread::sleep(std::time::Duration::from_millis(300));
    };
    assert_eq!(before["state"], "EXECUTING", "{before}");
    assert!(server.stop().success());

    let run_dirs = || std::fs::read_dir(server.data.join("spark-runs")).unwrap().count();
    assert_eq!(run_dirs(), 1);
    let restarted = Server::start_in(server.data.clone(), &[]);
    let after = loop {
        if let Some(run) = runs(&restarted).into_iter().find(|r| r["state"] != "EXECUTING") {
            break run;
        }
        assert!(std::time::Instant::now() < deadline, "the resumed run never ended");
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert_eq!(after["state"], "SUCCEEDED", "{after}");
    assert_eq!((&after["id"], &after["application_id"]), (&before["id"], &before["application_id"]));
    assert_ne!(after["instance"], before["instance"], "the new process took the run over");
    assert_eq!(runs(&restarted).len(), 1, "nothing re-fired");
    assert_eq!(run_dirs(), 1, "spark-submit ran once");
}

/// A deployment hands its instances one admin token (a Secret mounted as `admin.token`): the
/// server registers a token its store has never seen, once, and never revives it once revoked.
#[test]
fn a_provided_admin_token_is_registered_once_and_never_revived() {
    let data = std::env::temp_dir().join(format!("consort-cli-provided-admin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).unwrap();
    // What a chart's `cst_{{ randAlphaNum 43 }}` makes: the shape, from a source of its own.
    let provided = format!("cst_{}", "k3Yq9ZtW0pLm7VxR2bNc5HdJ8sAe1GfUi4oKwQyTz6M".chars().rev().collect::<String>());
    std::fs::write(data.join("admin.token"), format!("{provided}\n")).unwrap();

    let mut server = Server::start_in(data.clone(), &[]);
    assert_eq!(
        std::fs::read_to_string(data.join("admin.token")).unwrap().trim(),
        provided,
        "the file is not rewritten"
    );
    let (code, out, err) = server.cli(&["tokens", "list", "--output", "json", "--token", &provided]);
    assert_eq!(code, 0, "the provided token is an admin: {err}");
    let admins = |out: &str| -> Vec<serde_json::Value> {
        let list: serde_json::Value = serde_json::from_str(out).unwrap();
        let items = list.get("items").unwrap_or(&list).as_array().unwrap().clone();
        items.into_iter().filter(|t| t["roles"].to_string().contains("admin")).collect()
    };
    assert_eq!(admins(&out).len(), 1, "{out}");
    assert!(server.stop().success());

    // A restart finds it: no second row.
    let mut server = Server::start_in(data.clone(), &[]);
    let (code, out, err) = server.cli(&["tokens", "list", "--output", "json", "--token", &provided]);
    assert_eq!(code, 0, "{err}");
    let listed = admins(&out);
    assert_eq!(listed.len(), 1, "{out}");
    let name = listed[0]["name"].as_str().unwrap().to_owned();
    // Made another admin, then revoked, it stays revoked across a restart.
    let (code, second, err) =
        server.cli(&["tokens", "create", "--name", "ops", "--role", "admin", "--token", &provided]);
    assert_eq!(code, 0, "{err}");
    let second = second.trim().to_owned();
    let (code, _, err) = server.cli(&["tokens", "revoke", &name, "--token", &second]);
    assert_eq!(code, 0, "{err}");
    assert!(server.stop().success());
    let server = Server::start_in(data.clone(), &[]);
    let (code, _, err) = server.cli(&["jobs", "list", "--token", &provided]);
    assert_eq!(code, 1);
    assert!(err.contains("revoked"), "{err}");
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(!log.contains(&provided), "the token reached the log");
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
}

/// The safe defaults, as a user meets them: the admin token written on first start and
/// used by the CLI on this machine, tokens with roles, refusals that say what to do, the
/// audit trail, the `command` kind off, listeners outside loopback refused, and no
/// secret in the server's log.
#[test]
fn secure_by_default() {
    let mut server = Server::start("secure");
    let admin_file = server.data.join("admin.token");
    let admin = std::fs::read_to_string(&admin_file).expect("admin.token is written on first start");
    let admin = admin.trim().to_string();
    assert!(admin.starts_with("cst_") && admin.len() == 47, "{admin}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&admin_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "admin.token is readable by its owner only");
    }

    // Without a credential: 401, and the CLI says how to send one.
    let anonymous = consort()
        .args(["jobs", "list", "--server", &server.url, "--data-dir", "/nonexistent"])
        .env_remove("CONSORT_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8(anonymous.stderr).unwrap();
    assert_eq!(anonymous.status.code(), Some(1), "{err}");
    assert!(err.contains("401") && err.contains("--token"), "{err}");

    // A viewer token: printed once, reads, cannot write; the list never shows it.
    let (code, out, err) =
        server.cli(&["tokens", "create", "--name", "dash", "--role", "viewer", "--expires-in", "1h"]);
    assert_eq!(code, 0, "{err}");
    let viewer = out.trim().to_string();
    assert!(viewer.starts_with("cst_") && err.contains("shown only now"), "{out}{err}");
    let (code, _, err) = server.cli(&["jobs", "list", "--token", &viewer]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = server.cli(&["jobs", "put", "x.y", "--kind", "noop", "--durable", "--token", &viewer]);
    assert_eq!(code, 1);
    assert!(err.contains("403") && err.contains("needs the operator role"), "{err}");
    let (_, out, _) = server.cli(&["tokens", "list"]);
    assert!(out.contains("dash") && out.contains("viewer") && !out.contains(&viewer), "{out}");

    // The command kind is off: a 400 naming the setting.
    let (code, _, err) =
        server.cli(&["jobs", "put", "x.sh", "--kind", "command", "--data", r#"{"program":"/bin/true"}"#, "--durable"]);
    assert_eq!(code, 1);
    assert!(err.contains("command_kind = true"), "{err}");

    // Revoked: refused at once.
    let (code, _, err) = server.cli(&["tokens", "revoke", "dash"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = server.cli(&["jobs", "list", "--token", &viewer]);
    assert_eq!(code, 1);
    assert!(err.contains("revoked"), "{err}");

    // The refusals are in the audit trail, with who and what.
    let mut audit = String::new();
    for _ in 0..50 {
        audit = server.cli(&["audit", "list", "--refused"]).1;
        if audit.contains("refused:forbidden") && audit.contains("refused:revoked_token") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(audit.contains("token:dash") && audit.contains("refused:forbidden"), "{audit}");
    assert!(audit.contains("refused:revoked_token") && audit.contains("/v1/scheduler/jobs"), "{audit}");

    let status = server.stop();
    assert!(status.success());
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("admin.token"), "the log says where the admin token is: {log}");
    for secret in [&admin, &viewer] {
        assert!(!log.contains(secret.as_str()), "a token reached the server's log");
    }

    // A listener outside loopback: refused without TLS, and auth off refused there too.
    for (env, setting) in [(None, "tls.terminated_upstream"), (Some(("CONSORT_AUTH_MODE", "none")), "auth.mode")] {
        let mut cmd = consort();
        cmd.args(["serve", "--listen", "0.0.0.0:0", "--data-dir"]).arg(&server.data);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(setting), "the refusal names {setting}: {err}");
    }
}

/// A clean room through the command line against a real server: member keys, creation,
/// a member added by a proposal both vote on, a secret sealed and granted, then the ledger
/// exported and verified offline — and found out once edited.
#[test]
fn a_clean_room_from_the_command_line_with_its_ledger_verified_offline() {
    let server = Server::start("cleanroom");
    let dir = server.data.with_extension("keys");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str| dir.join(name).display().to_string();
    for (who, algorithm, certificate) in [("alice", "es384", false), ("bob", "ed25519", true)] {
        let mut args = vec!["member", "keygen", "--algorithm", algorithm, "--out"];
        let out = file(who);
        args.push(&out);
        if certificate {
            args.push("--certificate");
        }
        let (code, stdout, err) = server.cli(&args);
        assert_eq!(code, 0, "{err}");
        assert!(stdout.contains("key id:"), "{stdout}");
    }
    let public_pem = std::fs::read_to_string(file("bob.pub.pem")).unwrap();
    assert!(public_pem.contains("BEGIN CERTIFICATE"), "{public_pem}");
    // Keys are never overwritten.
    let (code, _, err) = server.cli(&["member", "keygen", "--out", &file("alice")]);
    assert_eq!(code, 1, "{err}");

    let alice = ["--member-id", "alice", "--member-key"];
    let alice_key = file("alice.key.pem");
    let signed_by_alice = |args: &[&str]| -> Vec<String> {
        args.iter()
            .map(|a| a.to_string())
            .chain(alice.iter().map(|a| a.to_string()))
            .chain([alice_key.clone()])
            .collect()
    };
    let run = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        server.cli(&refs)
    };
    let (code, out, err) = run(signed_by_alice(&[
        "cleanroom",
        "init",
        "lab",
        "--member-public",
        &file("alice.pub.pem"),
        "--user",
        "carol",
        "--principal",
        "carol",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    // Adding bob: proposed by alice, accepted by her alone (the only active member).
    let add = format!("bob={}", file("bob.pub.pem"));
    let (code, out, err) = run(signed_by_alice(&["cleanroom", "--json", "propose", "lab", "--add-member", &add]));
    assert_eq!(code, 0, "{err}");
    let proposal: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = proposal["id"].as_str().unwrap().to_string();
    let (code, out, err) = run(signed_by_alice(&["cleanroom", "vote", "lab", &id, "accept"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Accepted"), "{out}");
    // A second ballot is refused, with the reason.
    let (code, _, err) = run(signed_by_alice(&["cleanroom", "vote", "lab", &id, "reject"]));
    assert_eq!(code, 1);
    assert!(err.contains("already voted") || err.contains("Accepted"), "{err}");
    let (code, out, err) = server.cli(&["cleanroom", "show", "lab"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("alice") && out.contains("bob") && out.contains("Accepted"), "{out}");

    // Carol, the clean room's user, seals a secret; it never shows in the log nor the ledger.
    let (code, out, err) = server.cli(&["tokens", "create", "--name", "carol", "--role", "cleanroom"]);
    assert_eq!(code, 0, "{err}");
    let carol = out.trim().to_string();
    std::fs::write(dir.join("value"), "s3cr3t-storage-key").unwrap();
    let value = file("value");
    let (code, _, err) =
        server.cli(&["cleanroom", "secret", "lab", "store-key", "--value-file", &value, "--token", &carol]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = server.cli(&[
        "cleanroom",
        "grant",
        "lab",
        "store-key",
        "--run",
        "run-1",
        "--measurement",
        "aa11",
        "--token",
        &carol,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("run-1"), "{out}");

    // The ledger: exported, verified offline with the public key, and an edit is located.
    let (code, _, err) = server.cli(&["ledger", "export", "lab", "--out", &file("lab.ledger")]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = server.cli(&["ledger", "public-key", "lab", "--out", &file("lab.pub")]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = server.cli(&["ledger", "receipt", "lab", "2", "--out", &file("receipt.json")]);
    assert_eq!(code, 0, "{err}");
    let verify = |what: &str, path: &str| {
        let out = consort().args(["ledger", what, path, "--public-key", &file("lab.pub")]).output().unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };
    let (code, out) = verify("verify", &file("lab.ledger"));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("verified"), "{out}");
    let (code, out) = verify("verify-receipt", &file("receipt.json"));
    assert_eq!(code, Some(0), "{out}");
    let export = std::fs::read_to_string(file("lab.ledger")).unwrap();
    assert!(export.contains("secret.put") && !export.contains("s3cr3t"), "the secret is never in the ledger");
    let edited = export.replacen("\\\"vote\\\":\\\"accept\\\"", "\\\"vote\\\":\\\"reject\\\"", 1);
    assert_ne!(edited, export);
    std::fs::write(file("edited.ledger"), edited).unwrap();
    let (code, out) = verify("verify", &file("edited.ledger"));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("entry"), "{out}");
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(!log.contains("s3cr3t"), "the secret never reaches the log");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A three-party collaboration for `consort cleanroom sandbox`, written into `dir` (keys are
/// made next to it). `tweak` edits the YAML text (a party that holds back, an unknown field).
fn sandbox_file(dir: &std::path::Path, room: &str, run: bool, tweak: impl Fn(String) -> String) -> String {
    std::fs::create_dir_all(dir.join("bank")).unwrap();
    std::fs::create_dir_all(dir.join("shop")).unwrap();
    std::fs::create_dir_all(dir.join("out")).unwrap();
    std::fs::write(dir.join("bank/customers.csv"), "c1,north\nc2,north\nc3,south\n").unwrap();
    std::fs::write(dir.join("shop/purchases.csv"), "c1,books,10\nc2,books,12\nc3,food,7\n").unwrap();
    let d = dir.display();
    let yaml = format!(
        r#"name: {room}
parties:
  - {{name: bank, key: keys/bank.key.pem}}
  - {{name: shop, key: keys/shop.key.pem}}
  - {{name: agency, key: keys/agency.key.pem}}
datasets:
  - name: customers
    owner: bank
    location: file://{d}/bank
    format: csv
    schema: [{{name: customer_id, type: string}}, {{name: region, type: string}}]
    allowedFields: [customer_id, region]
  - name: purchases
    owner: shop
    location: file://{d}/shop
    format: csv
    schema: [{{name: customer_id, type: string}}, {{name: category, type: string}}, {{name: amount, type: number}}]
    allowedFields: [customer_id, category, amount]
    credentials: {{note: sandbox-credential-value}}
sinks:
  - name: insights
    owner: agency
    location: file://{d}/out
    format: json
    allowedFields: [region, customers]
query:
  name: by_region
  inputs: [customers, purchases]
  sink: insights
  segments:
    - executionOrder: 1
      sql: SELECT c.region, COUNT(*) AS customers FROM customers c JOIN purchases p ON c.customer_id = p.customer_id GROUP BY c.region
      preConditions: [{{viewName: customers, minRowCount: 1}}]
      postFilters: [{{columnName: customers, value: 2}}]
run: {run}
"#
    );
    let file = dir.join(format!("{room}.yaml"));
    std::fs::write(&file, tweak(yaml)).unwrap();
    file.display().to_string()
}

/// The sandbox plays every party against a real server up to the run checklist: a party that
/// does not approve the query stops it at `approval_missing`, one that withholds consent at
/// `consent_withdrawn`, each printed as {"cleanroom", "step", "code", "message"} with exit 2;
/// no token or credential reaches the output or the server's log.
#[test]
fn sandbox_stops_at_the_refused_checklist_step_with_its_code() {
    let server = Server::start("sandbox-checklist");
    let dir = server.data.with_extension("sandbox");
    let _ = std::fs::remove_dir_all(&dir);
    for (room, tweak, code) in [
        ("sbx-approval", "  - {name: shop, key: keys/shop.key.pem, approve: false}", "approval_missing"),
        ("sbx-consent", "  - {name: shop, key: keys/shop.key.pem, consent: false}", "consent_withdrawn"),
    ] {
        let file = sandbox_file(&dir, room, true, |y| y.replace("  - {name: shop, key: keys/shop.key.pem}", tweak));
        let (status, out, err) = server.cli(&["cleanroom", "sandbox", &file]);
        let answer: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
        assert_eq!(answer["cleanroom"], room, "{out}");
        assert_eq!(status, 2, "{out}{err}");
        assert!(!out.contains("cst_") && !err.contains("cst_"), "a token secret was printed: {out}{err}");
        assert!(!out.contains("sandbox-credential-value") && !err.contains("sandbox-credential-value"));
        assert!(err.contains(&format!("token sandbox-{room}-agency made for agency")), "{err}");
        assert_eq!(answer["step"], "run", "{out}");
        assert_eq!(answer["code"], code, "{out}");
        assert!(answer["message"].as_str().is_some_and(|m| m.contains("shop")), "the refusal names the party: {out}");
    }
    // The same room again: its tokens exist, so the sandbox stops at its first step.
    let file = sandbox_file(&dir, "sbx-approval", true, |y| y);
    let (status, out, _) = server.cli(&["cleanroom", "sandbox", &file]);
    assert_eq!(status, 2, "{out}");
    assert!(out.contains("\"step\": \"token\""), "{out}");
    // The keys it made are kept for the next run and are private.
    let key = dir.join("keys/bank.key.pem");
    assert!(std::fs::read_to_string(&key).unwrap().contains("PRIVATE KEY"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(!log.contains("cst_") && !log.contains("sandbox-credential-value"), "a secret reached the log");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A sandbox file with a field the format does not have is refused before anything is sent,
/// naming the field; so is a reference to a party that is not listed, with its place.
#[test]
fn sandbox_refuses_an_unknown_field_or_party_naming_it() {
    let dir = std::env::temp_dir().join(format!("consort-cli-sandbox-file-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let unknown = sandbox_file(&dir, "sbx-unknown", false, |y| {
        y.replace("    format: json\n", "    format: json\n    colour: blue\n")
    });
    // Nothing listens on port 9: a refusal that reached for the server would say so instead.
    let sandbox = |file: &str| {
        let out = consort().args(["cleanroom", "sandbox", file, "--server", "http://127.0.0.1:9"]).output().unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    let (code, out, err) = sandbox(&unknown);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(err.contains("colour"), "the unknown field is named: {err}");
    assert!(!err.contains("cannot reach"), "{err}");
    assert!(!dir.join("keys").exists(), "no key is made for a refused file");
    let stranger = sandbox_file(&dir, "sbx-stranger", false, |y| y.replace("owner: shop", "owner: mallory"));
    let (code, _, err) = sandbox(&stranger);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("datasets[1].owner") && err.contains("mallory") && err.contains("bank, shop, agency"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `prepare`, `runs`, `status` and `approval` from the command line against a room the sandbox
/// set up (`run: false`): prepare signed as a member, the (empty) run history as a table and
/// as JSON, and the server's code and message on a refusal.
#[test]
fn cleanroom_prepare_and_runs_from_the_command_line() {
    let server = Server::start("sandbox-prepare");
    let dir = server.data.with_extension("sandbox");
    let _ = std::fs::remove_dir_all(&dir);
    let file = sandbox_file(&dir, "sbx-prepare", false, |y| y);
    let (status, out, err) = server.cli(&["cleanroom", "sandbox", &file]);
    assert_eq!(status, 0, "{out}{err}");
    let answer: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["query"], "by_region", "{out}");
    assert!(answer["jobId"].is_null(), "run: false starts no run: {out}");

    let key = dir.join("keys/agency.key.pem").display().to_string();
    let (status, out, err) =
        server.cli(&["cleanroom", "prepare", "sbx-prepare", "--member-id", "agency", "--member-key", &key]);
    assert_eq!(status, 0, "{out}{err}");
    assert!(out.contains("prepared ") && out.contains("by member:agency"), "{out}");
    assert!(out.contains("key purchases-credentials of purchases (owner user:shop)"), "{out}");
    let (status, out, err) = server.cli(&["cleanroom", "runs", "sbx-prepare", "--query", "by_region"]);
    assert_eq!(status, 0, "{err}");
    assert!(out.starts_with("RUN ") && out.lines().count() == 1, "no run yet, just the header: {out}");
    let (status, out, err) = server.cli(&["cleanroom", "--json", "runs", "sbx-prepare"]);
    assert_eq!(status, 0, "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list["items"], serde_json::json!([]), "{out}");
    let (status, _, err) = server.cli(&["cleanroom", "status", "sbx-prepare", "0123456789abcdef"]);
    assert_eq!(status, 1);
    assert!(err.contains("not_found"), "{err}");
    // The admin is no approver of the query: refused with the server's code.
    let (status, _, err) = server.cli(&["cleanroom", "approval", "sbx-prepare", "by_region", "off"]);
    assert_eq!(status, 1);
    assert!(err.contains("HTTP 4"), "{err}");
    let (status, _, err) = server.cli(&["cleanroom", "approval", "sbx-prepare", "by_region", "maybe"]);
    assert_eq!(status, 1);
    assert!(err.contains("\"maybe\" is not a state: use on or off"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Users authenticate with a credential a member signed offline (`member issue-credential`),
/// which reaches only its clean room's user routes and ends with its member, its user, its
/// expiry or a revocation; invited identities become users only when they accept, themselves.
/// Every refusal is asserted with its code (the CLI prints `(code, HTTP status)`).
#[test]
fn member_issued_user_credentials_and_invitations() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let server = Server::start("usercred");
    let dir = server.data.with_extension("keys");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str| dir.join(name).display().to_string();
    for (who, algorithm) in [("alice", "es256"), ("bob", "ed25519"), ("mallory", "es256")] {
        let (code, _, err) = server.cli(&["member", "keygen", "--algorithm", algorithm, "--out", &file(who)]);
        assert_eq!(code, 0, "{err}");
    }
    let ok = |args: &[&str]| server.cli_ok(args);
    let as_member = |who: &str, args: &[&str]| -> String {
        let key = file(&format!("{who}.key.pem"));
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--member-id", who, "--member-key", &key]);
        server.cli_ok(&all)
    };
    // Fails with `code`, as the given bearer (a credential or a token).
    let refused_as = |token: &str, args: &[&str], code: &str| {
        let out = server.cli_as(args, Some(token));
        assert_ne!(out.code, 0, "consort {args:?} passed: {}", out.stdout);
        assert!(out.stderr.contains(&format!("({code}, HTTP")), "consort {args:?}: want {code}, got {}", out.stderr);
    };
    let passes_as = |token: &str, args: &[&str]| {
        let out = server.cli_as(args, Some(token));
        assert_eq!(out.code, 0, "consort {args:?}: {}{}", out.stdout, out.stderr);
        out.stdout
    };
    let issue = |signer: &str, key_of: &str, room: &str, user: &str, ttl: &str, id: &str| -> String {
        let key = file(&format!("{key_of}.key.pem"));
        let out = server.cli_as(
            &[
                "member",
                "issue-credential",
                "--member-id",
                signer,
                "--key",
                &key,
                "--cleanroom",
                room,
                "--user",
                user,
                "--ttl",
                ttl,
                "--id",
                id,
            ],
            None,
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(out.stderr.contains(id), "{}", out.stderr);
        out.stdout.trim().to_string()
    };
    let propose = |args: &[&str]| -> String {
        let mut all = vec!["cleanroom", "--json", "propose", "lab"];
        all.extend(args);
        let out = as_member("alice", &all);
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["id"].as_str().unwrap().to_string()
    };
    let vote = |who: &str, proposal: &str| as_member(who, &["cleanroom", "vote", "lab", proposal, "accept"]);

    let alice_public = file("alice.pub.pem");
    for room in ["lab", "lab2"] {
        as_member(
            "alice",
            &["cleanroom", "init", room, "--member-public", &alice_public, "--user", "carol", "--principal", "carol"],
        );
    }
    std::fs::write(dir.join("c1.json"), r#"{"purpose": "credential tests"}"#).unwrap();
    as_member("alice", &["cleanroom", "contract", "lab", "c1", "--data", &file("c1.json")]);
    vote("alice", &propose(&["--action", r#"{"action":"set_contract","contract_id":"c1","version":1}"#]));
    let add_bob = format!("bob={}", file("bob.pub.pem"));
    vote("alice", &propose(&["--add-member", &add_bob]));

    // The happy path: carol publishes and consents with alice's credential, and bob's.
    let dataset = |id: &str| {
        let path = dir.join(format!("{id}.json"));
        std::fs::write(
            &path,
            r#"{"contract_id": "c1", "body": {"kind": "dataset", "location": "file:///tmp/d", "format": "csv",
                "schema": [{"name": "id", "type": "string"}], "allowed_fields": ["id"]}}"#,
        )
        .unwrap();
        path.display().to_string()
    };
    let by_alice = issue("alice", "alice", "lab", "carol", "1h", "cred-a");
    assert!(by_alice.starts_with("ccu_"), "{by_alice}");
    let out = passes_as(&by_alice, &["cleanroom", "publish", "lab", "d1", &dataset("d1"), "--propose"]);
    assert!(out.contains("Accepted"), "{out}");
    passes_as(&by_alice, &["cleanroom", "consent", "lab", "document", "d1", "logging", "on"]);
    passes_as(&by_alice, &["cleanroom", "show", "lab"]);
    let by_bob = issue("bob", "bob", "lab", "carol", "2h", "cred-b");
    passes_as(&by_bob, &["cleanroom", "consent", "lab", "document", "d1", "telemetry", "on"]);

    // Only that clean room's user routes: not the scheduler, admin routes, members' writes,
    // the list of clean rooms, nor another clean room.
    refused_as(&by_alice, &["jobs", "list"], "credential_scope");
    refused_as(&by_alice, &["tokens", "list"], "credential_scope");
    refused_as(&by_alice, &["cleanroom", "list"], "credential_scope");
    refused_as(&by_alice, &["cleanroom", "show", "lab2"], "credential_scope");
    let for_lab2 = issue("alice", "alice", "lab2", "carol", "1h", "cred-l2");
    refused_as(&for_lab2, &["cleanroom", "publish", "lab", "d9", &dataset("d9")], "credential_scope");
    passes_as(&for_lab2, &["cleanroom", "show", "lab2"]);

    // Expired, too long-lived, by a non-member key, by a key that is not the member's, tampered.
    let short = issue("alice", "alice", "lab", "carol", "1s", "cred-short");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    refused_as(&short, &["cleanroom", "show", "lab"], "credential_expired");
    let long = issue("alice", "alice", "lab", "carol", "25h", "cred-long");
    refused_as(&long, &["cleanroom", "show", "lab"], "credential_lifetime");
    let by_mallory = issue("mallory", "mallory", "lab", "carol", "1h", "cred-m");
    refused_as(&by_mallory, &["cleanroom", "show", "lab"], "not_a_member");
    let forged = issue("alice", "mallory", "lab", "carol", "1h", "cred-f");
    refused_as(&forged, &["cleanroom", "show", "lab"], "bad_signature");
    let mut bytes = URL_SAFE_NO_PAD.decode(by_alice.trim_start_matches("ccu_")).unwrap();
    let at = bytes.windows(5).position(|w| w == b"carol").expect("the user id is in the payload");
    bytes[at..at + 5].copy_from_slice(b"carom");
    let tampered = format!("ccu_{}", URL_SAFE_NO_PAD.encode(&bytes));
    refused_as(&tampered, &["cleanroom", "show", "lab"], "bad_signature");

    // Revoked by id (a member's signed request): at once.
    let to_revoke = issue("alice", "alice", "lab", "carol", "1h", "cred-r");
    passes_as(&to_revoke, &["cleanroom", "show", "lab"]);
    let out = as_member("bob", &["cleanroom", "revoke-credential", "lab", "cred-r"]);
    assert!(out.contains("cred-r") && out.contains("bob"), "{out}");
    refused_as(&to_revoke, &["cleanroom", "show", "lab"], "credential_revoked");
    passes_as(&by_alice, &["cleanroom", "show", "lab"]);
    assert!(out.contains("kept for good"), "revoked by id alone, it has no expiry: {out}");

    // Revoked with the credential itself (`--credential FILE`): the revocation records its signed
    // expiry, so later revocations can prune it once it expired.
    let with_expiry = issue("alice", "alice", "lab", "carol", "1h", "cred-p");
    let expires_at = consort_governance::credentials::parse(&with_expiry).unwrap().claims().expires_at;
    std::fs::write(dir.join("cred-p.ccu"), format!("{with_expiry}\n")).unwrap();
    let out = as_member(
        "alice",
        &["cleanroom", "--json", "revoke-credential", "lab", "cred-p", "--credential", &file("cred-p.ccu")],
    );
    let revocation: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(revocation["credential_id"], "cred-p", "{out}");
    assert_eq!(revocation["expires_at"], expires_at, "the revocation records the credential's expiry: {out}");
    refused_as(&with_expiry, &["cleanroom", "show", "lab"], "credential_revoked");
    // Refused by the server, with its error: a credential of another id, and a forged one.
    let revoke_from = |id: &str, credential_file: &str| {
        let key = file("alice.key.pem");
        let args = ["cleanroom", "revoke-credential", "lab", id, "--credential", credential_file];
        server.cli_as(&[&args[..], &["--member-id", "alice", "--member-key", &key]].concat(), None)
    };
    let revoke_with = |id: &str, credential: &str| {
        std::fs::write(dir.join("presented.ccu"), credential).unwrap();
        revoke_from(id, &file("presented.ccu"))
    };
    let other = revoke_with("cred-q", &by_alice);
    assert_ne!(other.code, 0, "{}", other.stdout);
    assert!(other.stderr.contains("(invalid_request, HTTP 400"), "{}", other.stderr);
    assert!(other.stderr.contains(r#"its id is "cred-a", not the credential_id "cred-q""#), "{}", other.stderr);
    let forged_out = revoke_with("cred-f", &forged);
    assert_ne!(forged_out.code, 0, "{}", forged_out.stdout);
    assert!(forged_out.stderr.contains("(invalid_request, HTTP 400"), "{}", forged_out.stderr);
    assert!(forged_out.stderr.contains("credential: "), "the field is named: {}", forged_out.stderr);
    passes_as(&by_alice, &["cleanroom", "show", "lab"]);
    // Refused before anything is sent (no server refusal, which would say HTTP): a file that is
    // not a credential, a file that is not there.
    let not_one = revoke_with("cred-q", &std::fs::read_to_string(file("alice.pub.pem")).unwrap());
    assert_ne!(not_one.code, 0, "{}", not_one.stdout);
    assert!(
        not_one.stderr.contains("--credential ")
            && not_one.stderr.contains("does not start with ccu_")
            && not_one.stderr.contains("consort member issue-credential")
            && !not_one.stderr.contains("HTTP"),
        "{}",
        not_one.stderr
    );
    let missing = revoke_from("cred-q", &file("nowhere.ccu"));
    assert_ne!(missing.code, 0, "{}", missing.stdout);
    assert!(
        missing.stderr.contains("--credential ") && missing.stderr.contains("cannot read it"),
        "{}",
        missing.stderr
    );
    assert!(!missing.stderr.contains("HTTP"), "{}", missing.stderr);

    // Invitations: dave (an API token) and erin (1 s); both in one proposal.
    let token = |name: &str, role: &str| ok(&["tokens", "create", "--name", name, "--role", role]).trim().to_string();
    let (dave, erin, viewer) = (token("dave", "cleanroom"), token("erin", "cleanroom"), token("vera", "viewer"));
    let invite = propose(&[
        "--action",
        r#"{"action":"invite_user","invitation_id":"inv-d","id":"dave","principal":"dave"}"#,
        "--action",
        r#"{"action":"invite_user","invitation_id":"inv-e","id":"erin","principal":"erin","expires_in_s":1}"#,
    ]);
    vote("alice", &invite);
    refused_as(&dave, &["cleanroom", "accept-invitation", "lab", "inv-d"], "invitation_not_accepted");
    let out = vote("bob", &invite);
    assert!(out.contains("Accepted"), "{out}");
    refused_as(&viewer, &["cleanroom", "accept-invitation", "lab", "inv-d"], "forbidden");
    refused_as(&by_alice, &["cleanroom", "accept-invitation", "lab", "inv-d"], "credential_scope");
    refused_as(&erin, &["cleanroom", "accept-invitation", "lab", "inv-d"], "invitation_not_yours");
    let out = passes_as(&dave, &["cleanroom", "accept-invitation", "lab", "inv-d"]);
    assert!(out.contains("dave"), "{out}");
    refused_as(&dave, &["cleanroom", "accept-invitation", "lab", "inv-d"], "invitation_used");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    refused_as(&erin, &["cleanroom", "accept-invitation", "lab", "inv-e"], "invitation_expired");
    let out = ok(&["cleanroom", "invitations", "lab"]);
    assert!(out.contains("inv-d") && out.contains("Accepted") && out.contains("Pending"), "{out}");
    // No token at all: refused before anything is read.
    let bare = consort()
        .args(["cleanroom", "invitations", "lab"])
        .env("CONSORT_SERVER", &server.url)
        .env_remove("CONSORT_TOKEN")
        .env("CONSORT_DATA_DIR", dir.join("nowhere"))
        .output()
        .unwrap();
    assert_ne!(bare.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&bare.stderr).contains("401"), "{}", String::from_utf8_lossy(&bare.stderr));

    // The invited user works with a credential; removing the user, then the member, ends theirs.
    let for_dave = issue("alice", "alice", "lab", "dave", "1h", "cred-d");
    passes_as(&for_dave, &["cleanroom", "publish", "lab", "d2", &dataset("d2"), "--propose"]);
    let remove_dave = propose(&["--action", r#"{"action":"remove_user","id":"dave"}"#]);
    vote("alice", &remove_dave);
    vote("bob", &remove_dave);
    refused_as(&for_dave, &["cleanroom", "show", "lab"], "user_inactive");
    let remove_bob = propose(&["--action", r#"{"action":"remove_member","id":"bob"}"#]);
    vote("alice", &remove_bob);
    vote("bob", &remove_bob);
    refused_as(&by_bob, &["cleanroom", "show", "lab"], "member_inactive");
    passes_as(&by_alice, &["cleanroom", "show", "lab"]);

    // Everything is in the ledger: the revocation, the acceptance, the refusals with their codes.
    ok(&["ledger", "export", "lab", "--out", &file("lab.ledger")]);
    let export = std::fs::read_to_string(file("lab.ledger")).unwrap();
    for needle in
        ["credential.revoked", "invitation.accepted", "credential_revoked", "invitation_used", "member_inactive"]
    {
        assert!(export.contains(needle), "{needle} is not in the ledger");
    }
    // The revocation made with its credential carries the expiry in its ledger entry too.
    let revoked: Vec<serde_json::Value> = export
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["entry"]["kind"] == "credential.revoked")
        .filter_map(|line| serde_json::from_str(line["entry"]["body"].as_str()?).ok())
        .collect();
    let entry_of = |id: &str| revoked.iter().find(|body| body["credential"] == id).cloned();
    assert_eq!(entry_of("cred-p").expect("cred-p's revocation")["expires_at"], expires_at, "{revoked:?}");
    assert!(entry_of("cred-r").expect("cred-r's revocation")["expires_at"].is_null(), "{revoked:?}");
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(!log.contains(&by_alice[4..40]), "no credential reaches the log");
    let _ = std::fs::remove_dir_all(&dir);
}
