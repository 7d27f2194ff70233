//! A PySpark driver that sleeps, for the kill scenarios: it starts Spark (printing nothing of
//! it), writes its pid to the file named by its first argument, and sleeps for an hour. A kill
//! must end its JVM and its Python; these helpers read both from `/proc`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SLEEPER: &str = r#"import os, sys, time
from pyspark.sql import SparkSession
SparkSession.builder.getOrCreate()
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(3600)
"#;

/// Writes the sleeper into `dir`: its `.py` and the pid file it will write.
pub fn write_sleeper(dir: &Path) -> (PathBuf, PathBuf) {
    let (script, pid_file) = (dir.join("sleeper.py"), dir.join("sleeper.pid"));
    std::fs::write(&script, SLEEPER).unwrap();
    let _ = std::fs::remove_file(&pid_file);
    (script, pid_file)
}

/// The sleeper's Python and its parent (the driver JVM that started it), once it has written
/// its pid; the JVM's command line must contain `app_name`.
pub async fn driver_processes(pid_file: &Path, app_name: &str, wait: Duration) -> (u32, u32) {
    let deadline = Instant::now() + wait;
    while !pid_file.exists() {
        assert!(Instant::now() < deadline, "the sleeping PySpark driver never started");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let python = std::fs::read_to_string(pid_file).unwrap().trim().parse::<u32>().unwrap();
    let jvm = parent_of(python).expect("the sleeper's parent");
    let command = std::fs::read(format!("/proc/{jvm}/cmdline")).unwrap();
    assert!(
        String::from_utf8_lossy(&command).contains(app_name),
        "the Python driver's parent is its driver JVM (running {app_name})"
    );
    (python, jvm)
}

/// Waits until neither process is alive; panics after `wait`. Returns how long it took.
pub async fn wait_until_gone(python: u32, jvm: u32, wait: Duration) -> Duration {
    let started = Instant::now();
    while pid_alive(jvm) || pid_alive(python) {
        assert!(
            started.elapsed() < wait,
            "{wait:?} after the kill: driver JVM {jvm} alive {}, its Python {python} alive {}",
            pid_alive(jvm),
            pid_alive(python)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

/// Whether process `pid` is alive: it exists and is not a zombie waiting to be reaped.
fn pid_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().next() != Some("Z")))
        .unwrap_or(false)
}

/// The parent of process `pid` (field 4 of `/proc/PID/stat`).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}
