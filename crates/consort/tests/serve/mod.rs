//! The real `consort serve` as this crate's tests and benchmarks start it: a built binary on a
//! free loopback port and a data directory of the caller's, its log in a file, stopped with
//! SIGTERM when dropped. Each test binary wraps a [`Process`] in its own `Server` with the
//! helpers its scenarios need; what every one of them needs is here, written once.
//!
//! Included with `mod serve;` from `tests/*.rs` and `#[path = "../tests/serve/mod.rs"] mod serve;`
//! from `benches/*.rs`; not every binary uses every helper.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The `consort` binary with the developer's own configuration kept out: no `CONSORT_CONFIG`,
/// no `CONSORT_TOKEN`, and a configuration home that holds nothing.
pub fn consort() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_consort"));
    cmd.env_remove("CONSORT_CONFIG")
        .env_remove("CONSORT_TOKEN")
        .env("XDG_CONFIG_HOME", std::env::temp_dir().join("consort-test-no-config"));
    cmd
}

/// What a `consort serve` is started with; [`Serve::start`] starts it.
pub struct Serve {
    data: PathBuf,
    config: Option<PathBuf>,
    log: Option<PathBuf>,
    append_log: bool,
    env: Vec<(String, String)>,
    watchdog: bool,
}

impl Serve {
    /// A server on `data` (created by the server if missing), its log at `data.log`.
    pub fn new(data: impl Into<PathBuf>) -> Serve {
        Serve { data: data.into(), config: None, log: None, append_log: false, env: Vec::new(), watchdog: false }
    }

    pub fn config(mut self, path: impl Into<PathBuf>) -> Serve {
        self.config = Some(path.into());
        self
    }

    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Serve {
        self.env.push((name.into(), value.into()));
        self
    }

    pub fn envs<K: Into<String>, V: Into<String>>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Serve {
        self.env.extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// The log somewhere else than beside the data directory.
    pub fn log(mut self, path: impl Into<PathBuf>) -> Serve {
        self.log = Some(path.into());
        self
    }

    /// Appends to the log instead of truncating it: a restart keeps the first life's lines.
    pub fn append_log(mut self) -> Serve {
        self.append_log = true;
        self
    }

    /// Stops the server when this test process ends, even if the [`Process`] is never dropped
    /// (a server shared through a `static`).
    pub fn watchdog(mut self) -> Serve {
        self.watchdog = true;
        self
    }

    /// Starts the server and waits until it listens. A server that exits first fails the
    /// test with its log.
    pub fn start(self) -> Process {
        let log = self.log.clone().unwrap_or_else(|| self.data.with_extension("log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(self.append_log)
            .truncate(!self.append_log)
            .open(&log)
            .unwrap_or_else(|e| panic!("the server's log {}: {e}", log.display()));
        let mut cmd = consort();
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(&self.data);
        if let Some(config) = &self.config {
            cmd.arg("--config").arg(config);
        }
        let mut child = cmd
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(file)
            .spawn()
            .expect("the consort binary runs");
        let watchdog = self.watchdog.then(|| Watchdog::guard(child.id()));
        // Read the first line, then close our end: the server must keep running without it.
        let mut first = String::new();
        let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut first);
        let Some(addr) = first.split("http://").nth(1).and_then(|s| s.split_whitespace().next()) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("consort serve did not start: {first:?}\n{}", read_lossy(&log));
        };
        let addr = addr.to_string();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "consort serve never listened on {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Process { url: format!("http://{addr}"), addr, child, data: self.data, log, watchdog }
    }
}

/// A started `consort serve`. Dropping it sends SIGTERM and waits; the data directory and log
/// are the caller's to remove.
pub struct Process {
    pub child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub data: PathBuf,
    pub log: PathBuf,
    watchdog: Option<Watchdog>,
}

/// One CLI command's outcome.
pub struct Cli {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Process {
    /// The admin token the server wrote on its first start.
    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.data.join("admin.token")).expect("admin.token").trim().to_string()
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        read_lossy(&self.log)
    }

    /// `consort ARGS` against this server; the token is the data directory's admin token
    /// unless `token` is given.
    pub fn cli_as(&self, args: &[&str], token: Option<&str>) -> Cli {
        let mut cmd = consort();
        cmd.args(args).env("CONSORT_SERVER", &self.url).env("CONSORT_DATA_DIR", &self.data);
        if let Some(token) = token {
            cmd.env("CONSORT_TOKEN", token);
        }
        let out = cmd.output().expect("the consort binary runs");
        Cli {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `consort ARGS` with the admin token; its stdout, and the test fails unless it succeeded.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli_as(args, None);
        assert_eq!(out.code, 0, "consort {args:?}: {}{}", out.stdout, out.stderr);
        out.stdout
    }

    /// SIGTERM, then the exit status and how long the process took to exit. A process still
    /// alive after `limit` fails the test with what each of its threads was blocked in, and is
    /// killed (SIGKILL).
    pub fn stop_within(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        if let Some(watchdog) = &mut self.watchdog {
            watchdog.disarm();
        }
        let pid = self.child.id();
        let sent = Instant::now();
        let killed = Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
        assert!(killed.success(), "kill -TERM {pid}");
        while sent.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, sent.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let threads = threads_of(pid);
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!("consort serve still alive {limit:?} after SIGTERM; its threads:\n{threads}\nlog:\n{}", self.log_text());
    }

    /// SIGTERM if it still runs, and wait for its exit, however long it takes; never fails (for
    /// `Drop`, and for an owner that removes the data directory once the server is gone).
    pub fn terminate(&mut self) {
        if let Some(watchdog) = &mut self.watchdog {
            watchdog.disarm();
        }
        // Only a child still running: the pid of one already waited for may be another's now.
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        }
        let _ = self.child.wait();
    }

    /// SIGTERM and the exit status, within [`STOP_LIMIT`].
    pub fn stop(&mut self) -> ExitStatus {
        self.stop_within(STOP_LIMIT).0
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// How long a stopping server may take to exit: the HTTP grace period is not used (no request
/// is in flight), so this is the scheduler's stop and the runtime's shutdown.
pub const STOP_LIMIT: Duration = Duration::from_secs(5);

/// Each thread of process `pid`: its name, state and the kernel function it waits in.
pub fn threads_of(pid: u32) -> String {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return "(gone)".into() };
    let read = |path: PathBuf| std::fs::read_to_string(path).unwrap_or_default().trim().to_string();
    tasks
        .flatten()
        .map(|t| {
            let stat = read(t.path().join("stat"));
            let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.split(' ').next()).unwrap_or("?").to_string();
            format!("  {} {} wchan={}", read(t.path().join("comm")), state, read(t.path().join("wchan")))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn read_lossy(path: &Path) -> String {
    let mut bytes = Vec::new();
    let _ = std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes));
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Stops a process when this test process is gone, however it ends: a `sh` whose stdin is a
/// pipe only we hold sends SIGTERM (SIGKILL 10 s later) once the pipe closes. A shared server
/// lives in a `static` that is never dropped, so without this it would outlive the test binary.
/// (`PR_SET_PDEATHSIG` fires when the spawning *thread* ends, i.e. after the first test that
/// used the server; and it needs unsafe code.)
pub struct Watchdog {
    child: Child,
}

impl Watchdog {
    pub fn guard(pid: u32) -> Watchdog {
        let script = format!(
            "cat >/dev/null; kill -TERM {pid} 2>/dev/null || exit 0; \
             for _ in $(seq 100); do kill -0 {pid} 2>/dev/null || exit 0; sleep 0.1; done; kill -KILL {pid}"
        );
        // Our end of the pipe is close-on-exec: no other child keeps it open.
        let child = Command::new("sh").args(["-c", &script]).stdin(Stdio::piped()).stdout(Stdio::null()).spawn();
        Watchdog { child: child.expect("sh runs") }
    }

    /// Ends the watchdog without its signal: the process is stopped by its owner, whose pid may
    /// be reused once it is reaped.
    pub fn disarm(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
