//! A throwaway PostgreSQL ([`Pg`]): `initdb` in a scratch directory, listening on 127.0.0.1 on a
//! free port, with a database per test ([`Pg::fresh_db`]). As root it runs as the `postgres` user
//! (initdb refuses root). A watchdog stops it and removes its files when the test process exits,
//! however it ends, so a `Pg` kept in a `static` (one per test binary) leaves nothing behind.
//!
//! The one implementation for every test binary and benchmark that needs PostgreSQL: the store's
//! tests and benchmarks, and `consort serve` on a shared store in crates/consort's tests.
//! `scripts/setup` installs the server (Debian's `postgresql`).

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Where PostgreSQL's server binaries are: `CONSORT_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin` (Debian), else `PATH`.
pub fn pg_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("CONSORT_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, p): &(u32, PathBuf)| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().map(|(_, p)| p).unwrap_or_default()
}

fn postgres_ids() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|l| l.starts_with("postgres:"))?;
    let f: Vec<&str> = line.split(':').collect();
    Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?))
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false)
}

/// A running throwaway PostgreSQL.
#[derive(Debug)]
pub struct Pg {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    ids: Option<(u32, u32)>,
    child: Option<Child>,
    dbs: AtomicU32,
    durable: bool,
}

impl Pg {
    /// initdb + start, with fsync off (tests). As root, PostgreSQL runs as the `postgres`
    /// user (initdb refuses root).
    pub fn start() -> Pg {
        Pg::start_with(false)
    }

    /// initdb + start; `durable` keeps PostgreSQL's default fsync settings (benchmarks).
    pub fn start_with(durable: bool) -> Pg {
        let bin = pg_bin();
        assert!(
            bin.join("initdb").exists(),
            "PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin and CONSORT_PG_BIN): \
             run scripts/setup (it installs postgresql)"
        );
        let ids = if is_root() {
            Some(postgres_ids().expect("running as root needs a `postgres` user (the postgresql package creates it)"))
        } else {
            None
        };
        let base = std::env::temp_dir().join(format!(
            "consort-pg-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ));
        std::fs::create_dir_all(&base).unwrap();
        if let Some((uid, gid)) = ids {
            std::os::unix::fs::chown(&base, Some(uid), Some(gid)).unwrap();
        }
        let data = base.join("data");
        let out = Self::command(&bin, ids, "initdb")
            .args(["-D", data.to_str().unwrap(), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
            .args(["--locale", "C"])
            .stdout(Stdio::null())
            .output()
            .expect("initdb runs");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut pg = Pg { port, dir: base, bin, ids, child: None, dbs: AtomicU32::new(0), durable };
        pg.launch(true);
        pg.watchdog();
        pg
    }

    fn command(bin: &Path, ids: Option<(u32, u32)>, program: &str) -> Command {
        let mut c = Command::new(bin.join(program));
        c.env("LC_ALL", "C").current_dir("/");
        if let Some((uid, gid)) = ids {
            c.uid(uid).gid(gid);
        }
        c
    }

    fn launch(&mut self, may_move: bool) {
        // A free port can be taken between probing and binding: on a fresh start, try others.
        for attempt in 0..3 {
            match self.try_launch() {
                Ok(()) => return,
                Err(log) if may_move && attempt < 2 && log.contains("already in use") => {
                    self.port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
                }
                Err(log) => panic!("PostgreSQL did not start on port {}; its log ends with:\n{log}", self.port),
            }
        }
    }

    fn try_launch(&mut self) -> Result<(), String> {
        let data = self.dir.join("data");
        let log_path = self.dir.join("postgres.log");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).unwrap();
        let mut command = Self::command(&self.bin, self.ids, "postgres");
        command
            .args(["-D", data.to_str().unwrap(), "-p", &self.port.to_string(), "-k", self.dir.to_str().unwrap()])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300", "-c", "shared_buffers=128MB"]);
        if !self.durable {
            command.args(["-c", "fsync=off", "-c", "full_page_writes=off"]);
        }
        let mut child = command.stdout(Stdio::null()).stderr(log).spawn().expect("postgres starts");
        let tail = |path: &Path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            text.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return Err(tail(&log_path));
            }
            let ok = std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && Self::command(&self.bin, self.ids, "pg_isready")
                    .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres"])
                    .stdout(Stdio::null())
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
            if ok {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("(no connection within 60 s)\n{}", tail(&log_path)));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops PostgreSQL and removes its directory when this test process exits, even if it
    /// panics or is killed.
    fn watchdog(&self) {
        let pid = self.child.as_ref().unwrap().id();
        let script = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 0.5; done; \
             kill -INT $(head -1 {data}/postmaster.pid 2>/dev/null) 2>/dev/null; kill -INT {pid} 2>/dev/null; \
             sleep 3; rm -rf {dir}",
            me = std::process::id(),
            data = self.dir.join("data").display(),
            dir = self.dir.display(),
        );
        // Deliberately not waited for: it outlives this process to clean up after it.
        #[expect(clippy::zombie_processes, reason = "the watchdog must outlive the test process")]
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("watchdog starts");
    }

    /// Stops the server (fast shutdown), as an operator restarting it would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
            let _ = child.wait();
        }
    }

    /// Stop, then start again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.launch(false);
    }

    /// Stop, stay down for `down`, then start again on the same port: an outage.
    pub fn restart_after(&mut self, down: std::time::Duration) {
        self.stop();
        std::thread::sleep(down);
        self.launch(false);
    }

    /// A URL for database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a fresh database and returns its URL.
    pub async fn fresh_db(&self) -> String {
        let name = format!("t{}", self.dbs.fetch_add(1, Ordering::Relaxed));
        let (client, conn) = tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls).await.unwrap();
        let task = tokio::spawn(conn);
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        drop(client);
        let _ = task.await;
        self.url(&name)
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
