//! The provisioner benchmark (`scripts/bench provisioner`): latency of `POST /v1/validate` and
//! `POST /v1/provision` through a real `consort serve` (release build, HTTP on a keep-alive
//! socket), the component's jar on HDFS over RPC (Hadoop's minicluster, rigs/hadoop), for jars
//! of 1 MB and 1 GB; beside the upstream approach, measured in the same run: WebHDFS
//! `GETFILESTATUS`, then the whole jar read over WebHDFS (`op=OPEN`) to find the class entry
//! (the upstream CDP Spark provisioner's jar check, and its design doc's class check; see
//! docs/provisioner.md). Ratios are what to read.
//!
//! Prints one line per size:
//! `provisioner: jar=1GB validate_p50_ms=… validate_p99_ms=… provision_p50_ms=… provision_p99_ms=… upstream_p50_ms=… ratio=…`
//! (`ratio` = upstream p50 / consort validate p50). Sizes: CONSORT_BENCH_SIZES_MB (`1,1024`),
//! CONSORT_BENCH_REQUESTS (200 per arm for jars under 100 MB, a quarter of it above),
//! CONSORT_BENCH_UPSTREAM_RUNS (the whole-jar reads: 20, or 3 from 100 MB). Jars from 100 MB are
//! stored (no compression, so generation is fast) and each is deleted once measured.

#[path = "../tests/serve/mod.rs"]
mod serve;
#[path = "../../storage/tests/support/mod.rs"]
mod support;

use std::io::Cursor;
use std::path::Path;
use std::time::{Duration, Instant};

use serve::Serve;
use support::{Hdfs, JarSpec, build_jar};

/// The main class of the generated jars (compiled by `support::classes`).
const CLASS: &str = "com.example.jobs.deep.nested.Etl";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `q` (0..=1) of the sorted samples, in ms.
fn percentile(sorted: &[Duration], q: f64) -> f64 {
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

/// `consort serve` (release) on a free port and a scratch data directory; SIGTERM on drop.
struct Consort {
    /// Stopped when dropped.
    _process: serve::Process,
    url: String,
    token: String,
    _dir: tempfile::TempDir,
}

impl Consort {
    fn start(hdfs: &Hdfs) -> Consort {
        let dir = tempfile::tempdir().unwrap();
        let namenodes: Vec<String> = hdfs
            .namenodes
            .iter()
            .map(|(name, rpc, http)| format!("{{ name = \"{name}\", rpc = \"{rpc}\", http = \"{http}\" }}"))
            .collect();
        let config = format!(
            "[auth]\nrate_per_sec = 1000000\nrate_burst = 1000000\n\n[storage.hdfs]\nuser = \"bench\"\n\n\
             [[storage.hdfs.nameservices]]\nname = \"{}\"\nnamenodes = [{}]\n",
            hdfs.nameservice,
            namenodes.join(", ")
        );
        let config_path = dir.path().join("consort.toml");
        std::fs::write(&config_path, config).unwrap();
        let process = Serve::new(dir.path().join("data")).config(config_path).env("CONSORT_LOG", "warn").start();
        Consort { url: process.url.clone(), token: process.admin_token(), _process: process, _dir: dir }
    }
}

/// The test data's component descriptor with its jar at `jar` and the generated jar's class.
fn descriptor(jar: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../provisioner/tests/data/component.yaml");
    std::fs::read_to_string(path)
        .unwrap()
        .replace("/opt/consort/examples/consort-examples.jar", jar)
        .replace("consort.examples.CountRange", CLASS)
}

/// One provisioner call; panics unless it did what it is measured for.
async fn call(client: &reqwest::Client, consort: &Consort, path: &str, body: &serde_json::Value) -> Duration {
    let started = Instant::now();
    let response =
        client.post(format!("{}{path}", consort.url)).bearer_auth(&consort.token).json(body).send().await.unwrap();
    let status = response.status();
    let answer: serde_json::Value = response.json().await.unwrap();
    let elapsed = started.elapsed();
    let ok = match path {
        "/v1/validate" => answer["valid"] == true,
        _ => answer["status"] == "COMPLETED",
    };
    assert!(status.is_success() && ok, "{path} answered {status}: {answer}");
    elapsed
}

/// Upstream: the file's status over WebHDFS, then the whole jar over WebHDFS, opened to find
/// the class entry.
async fn upstream(client: &reqwest::Client, http: &str, path: &str, entry: &str) -> Duration {
    let started = Instant::now();
    let status: serde_json::Value = client
        .get(format!("http://{http}/webhdfs/v1{path}?op=GETFILESTATUS&user.name=bench"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(status["FileStatus"]["fileId"].is_number(), "GETFILESTATUS answered {status}");
    let response = client.get(format!("http://{http}/webhdfs/v1{path}?op=OPEN&user.name=bench")).send().await.unwrap();
    assert!(response.status().is_success(), "OPEN answered {}", response.status());
    let bytes = response.bytes().await.unwrap();
    let archive = zip::ZipArchive::new(Cursor::new(&bytes[..])).unwrap();
    assert!(archive.index_for_name(entry).is_some(), "{entry} is not in the jar");
    started.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let requests = env_usize("CONSORT_BENCH_REQUESTS", 200);
    eprintln!("provisioner bench: starting the Hadoop minicluster ...");
    let hdfs = tokio::task::spawn_blocking(|| Hdfs::start(0)).await.unwrap();
    let consort = Consort::start(&hdfs);
    let client = reqwest::Client::builder().pool_max_idle_per_host(4).build().unwrap();
    let entry = format!("{}.class", CLASS.replace('.', "/"));
    let http = hdfs.namenodes[*hdfs.active.lock().unwrap()].2.clone();

    let sizes: Vec<u64> = std::env::var("CONSORT_BENCH_SIZES_MB")
        .map(|v| v.split(',').map(|s| s.trim().parse().expect("sizes in MB, e.g. 1,1024")).collect())
        .unwrap_or_else(|_| vec![1, 1024]);
    for mb in sizes {
        let label = if mb >= 1024 && mb % 1024 == 0 { format!("{}GB", mb / 1024) } else { format!("{mb}MB") };
        // Large jars are stored (generation is fast), fewer requests, and three whole reads.
        let large = mb >= 100;
        let (stored, factor) = (large, if large { 4 } else { 1 });
        let upstream_runs = env_usize("CONSORT_BENCH_UPSTREAM_RUNS", if large { 3 } else { 20 });
        let n = (requests / factor).max(10);
        let started = Instant::now();
        let jar = tokio::task::spawn_blocking(move || {
            build_jar(JarSpec {
                stored,
                filler: (mb << 20).saturating_sub(64 << 10),
                extra_entries: 200,
                ..JarSpec::default()
            })
        })
        .await
        .unwrap();
        let size = jar.len();
        let path = format!("/bench/app-{label}.jar");
        hdfs.put(&path, &jar).await;
        drop(jar);
        eprintln!("  jar={label}: {size} bytes generated and put on HDFS in {:.1?}", started.elapsed());
        let uri = format!("hdfs://{}{path}", hdfs.nameservice);
        let body = serde_json::json!({
            "descriptorKind": "COMPONENT_DESCRIPTOR",
            "descriptor": descriptor(&uri),
            "removeData": false,
        });
        // Warm-up: the storage connection (reused per root afterwards), the server's caches.
        for _ in 0..5 {
            call(&client, &consort, "/v1/validate", &body).await;
            call(&client, &consort, "/v1/provision", &body).await;
        }
        upstream(&client, &http, &path, &entry).await;
        // Interleaved, so both sides see the same machine.
        let (mut validate, mut provision, mut whole) = (Vec::new(), Vec::new(), Vec::new());
        let every = (n / upstream_runs).max(1);
        for i in 0..n {
            validate.push(call(&client, &consort, "/v1/validate", &body).await);
            provision.push(call(&client, &consort, "/v1/provision", &body).await);
            if i % every == 0 && whole.len() < upstream_runs {
                whole.push(upstream(&client, &http, &path, &entry).await);
            }
        }
        validate.sort();
        provision.sort();
        whole.sort();
        let (v50, v99) = (percentile(&validate, 0.5), percentile(&validate, 0.99));
        let (p50, p99) = (percentile(&provision, 0.5), percentile(&provision, 0.99));
        let u50 = percentile(&whole, 0.5);
        eprintln!(
            "  jar={label}: {n} validate and {n} provision requests, {} upstream checks (max upstream {:.0} ms)",
            whole.len(),
            percentile(&whole, 1.0)
        );
        println!(
            "provisioner: jar={label} validate_p50_ms={v50:.2} validate_p99_ms={v99:.2} provision_p50_ms={p50:.2} \
             provision_p99_ms={p99:.2} upstream_p50_ms={u50:.1} ratio={:.0}",
            u50 / v50
        );
        // Keep the rig's disk small: the 1 GB jar goes as soon as it is measured.
        let _ = hdfs.admin().delete(&path, false).await;
    }
}
