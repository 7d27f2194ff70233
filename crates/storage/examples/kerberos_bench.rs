//! The Kerberos benchmark (`scripts/bench kerberos`): what Kerberos adds to the jar check on HDFS.
//! The same check of the same jar over native RPC and WebHDFS, on the plain minicluster
//! (`support::Hdfs`, simple authentication) and on the kerberized rig (an MIT KDC and
//! `consort-rigs`' `SecureHadoop`: SASL/GSSAPI on RPC and the DataNode, SPNEGO and a delegation
//! token on WebHDFS), in one run, interleaved so the machine's noise hits all four alike.
//!
//! Each timed check opens a fresh `Storage`, as a provisioner's validation does (the Kerberos
//! identity and WebHDFS's delegation token are process-wide and reused; RPC makes a new SASL
//! connection). The first check of each case, which includes the Kerberos login (and the token),
//! is reported on its own.
//!
//! Arguments: `--runs N` (timed checks per case, default 30) and `--size-mb M` (jar size, default 1).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use consort_storage::{Storage, StorageConfig, check_jar};
use support::secure::SecureHdfs;
use support::{Hdfs, JarSpec, build_jar};

const CLASS: &str = "com.example.jobs.deep.nested.Etl";

/// One check with a fresh `Storage`; returns its time and the bytes it read.
async fn timed_check(uri: &str, config: &StorageConfig) -> (Duration, u64) {
    let t = Instant::now();
    let storage = Storage::from_uri(uri, config).await.unwrap_or_else(|e| panic!("{uri}: {e}"));
    let report = check_jar(&storage, uri, Some(CLASS)).await.unwrap_or_else(|e| panic!("{uri}: {e}"));
    (t.elapsed(), report.bytes_read)
}

fn percentile(v: &[Duration], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort();
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    v[i].as_secs_f64() * 1e3
}

struct Case {
    name: &'static str,
    uri: String,
    config: StorageConfig,
    first: Duration,
    bytes: u64,
    times: Vec<Duration>,
}

fn main() {
    let mut runs = 30usize;
    let mut size_mb = 1u64;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--runs" => runs = args.get(i + 1).and_then(|a| a.parse().ok()).expect("--runs N"),
            "--size-mb" => size_mb = args.get(i + 1).and_then(|a| a.parse().ok()).expect("--size-mb M"),
            other => panic!("unknown argument {other}; use --runs 30 --size-mb 1"),
        }
        i += 2;
    }
    assert!(runs > 0, "--runs must be at least 1");

    // Before any thread exists: SecureHdfs::start sets KRB5_CONFIG for the process.
    eprintln!("starting the KDC and the kerberized Hadoop, then the plain minicluster ...");
    let secure = SecureHdfs::start();
    let plain = Hdfs::start(0);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let jar = build_jar(JarSpec {
            filler: (size_mb << 20).saturating_sub(64 << 10),
            extra_entries: 200,
            ..JarSpec::default()
        });
        let path = "/bench/app.jar";
        plain.put(path, &jar).await;
        secure.put(path, &jar).await;
        eprintln!("jar of {} bytes on both clusters; {runs} checks per case", jar.len());

        let ns_plain = &plain.nameservice;
        let ns_secure = &secure.nameservice;
        // One principal per scheme, so each first check includes its own login.
        let mut cases = vec![
            ("rpc_plain", format!("hdfs://{ns_plain}{path}"), plain.config("bench")),
            ("rpc_kerberos", format!("hdfs://{ns_secure}{path}"), secure.config("bench-rpc")),
            ("webhdfs_plain", format!("webhdfs://{ns_plain}{path}"), plain.config("bench")),
            ("webhdfs_kerberos", format!("webhdfs://{ns_secure}{path}"), secure.config("bench-web")),
        ]
        .into_iter()
        .map(|(name, uri, config)| Case { name, uri, config, first: Duration::ZERO, bytes: 0, times: Vec::new() })
        .collect::<Vec<_>>();
        for case in &mut cases {
            (case.first, case.bytes) = timed_check(&case.uri, &case.config).await;
        }
        for _ in 0..runs {
            for case in &mut cases {
                let (t, bytes) = timed_check(&case.uri, &case.config).await;
                assert_eq!(bytes, case.bytes, "{}: the same check reads the same bytes", case.name);
                case.times.push(t);
            }
        }
        for c in &cases {
            eprintln!(
                "  {:<17} first {:>8.1} ms  p50 {:>7.1} ms  p90 {:>7.1} ms  min {:>7.1} ms  ({} B read)",
                c.name,
                c.first.as_secs_f64() * 1e3,
                percentile(&c.times, 0.5),
                percentile(&c.times, 0.9),
                percentile(&c.times, 0.0),
                c.bytes
            );
        }
        let p50 = |i: usize| percentile(&cases[i].times, 0.5);
        let first = |i: usize| cases[i].first.as_secs_f64() * 1e3;
        println!(
            "kerberos: jarcheck_rpc_plain_ms={:.1} jarcheck_rpc_kerberos_ms={:.1} rpc_ratio={:.2} \
             jarcheck_webhdfs_plain_ms={:.1} jarcheck_webhdfs_kerberos_ms={:.1} webhdfs_ratio={:.2} \
             first_rpc_plain_ms={:.1} first_rpc_kerberos_ms={:.1} first_webhdfs_plain_ms={:.1} \
             first_webhdfs_kerberos_ms={:.1} runs={runs} jar_bytes={}",
            p50(0),
            p50(1),
            p50(1) / p50(0),
            p50(2),
            p50(3),
            p50(3) / p50(2),
            first(0),
            first(1),
            first(2),
            first(3),
            jar.len()
        );
    });
    drop(runtime);
    // The rigs stop on drop: the kerberized one first (its JVMs, then the KDC).
    drop(secure);
    drop(plain);
}
