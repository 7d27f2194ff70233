//! The jarcheck benchmark (`scripts/bench jarcheck`): bytes read and time of the range-read jar
//! check for jars of 1 MB, 100 MB and 1 GB on HDFS (minicluster, native RPC and WebHDFS) and S3
//! (moto, and s3s-fs when installed), next to the upstream approach measured in the same run: read the whole jar, then look
//! for the class in it.
//!
//! Arguments: `--sizes-mb 1,100,1024` (default) and `--runs N` (timed runs per case, default 5).

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Cursor;
use std::time::{Duration, Instant};

use consort_storage::{Storage, StorageConfig, check_jar};
use support::{Hdfs, JarSpec, S3, build_jar};

const CLASS: &str = "com.example.jobs.deep.nested.Etl";

struct Row {
    store: &'static str,
    size: u64,
    check_bytes: u64,
    check_reads: u32,
    check_median: Duration,
    whole_bytes: u64,
    whole_median: Duration,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The upstream way to learn whether a class is in a jar: fetch all of it, then open it.
async fn whole_jar(storage: &Storage, uri: &str) -> u64 {
    let bytes = storage.read(uri).await.unwrap();
    let archive = zip::ZipArchive::new(Cursor::new(&bytes[..])).unwrap();
    let entry = format!("{}.class", CLASS.replace('.', "/"));
    assert!(archive.index_for_name(&entry).is_some());
    bytes.len() as u64
}

async fn measure(store: &'static str, uri: &str, config: &StorageConfig, size: u64, runs: usize) -> Row {
    let storage = Storage::from_uri(uri, config).await.unwrap();
    // Warm-up: connections, DNS, the JIT of the server.
    let report = check_jar(&storage, uri, Some(CLASS)).await.unwrap();
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let storage = Storage::from_uri(uri, config).await.unwrap();
        let r = check_jar(&storage, uri, Some(CLASS)).await.unwrap();
        times.push(t.elapsed());
        assert_eq!(r.bytes_read, report.bytes_read);
    }
    let whole_runs = if size >= 512 << 20 { 1 } else { runs.min(3) };
    let mut whole = Vec::new();
    let mut whole_bytes = 0;
    for _ in 0..whole_runs {
        let t = Instant::now();
        let storage = Storage::from_uri(uri, config).await.unwrap();
        whole_bytes = whole_jar(&storage, uri).await;
        whole.push(t.elapsed());
    }
    let row = Row {
        store,
        size,
        check_bytes: report.bytes_read,
        check_reads: report.reads,
        check_median: median(times),
        whole_bytes,
        whole_median: median(whole),
    };
    eprintln!(
        "  {store:<14} {:>6} MB: check {} B in {:?}; whole jar {} B in {:?}",
        size >> 20,
        row.check_bytes,
        row.check_median,
        row.whole_bytes,
        row.whole_median
    );
    row
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut sizes_mb: Vec<u64> = vec![1, 100, 1024];
    let mut runs = 5usize;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--sizes-mb" => {
                sizes_mb = args[i + 1].split(',').map(|s| s.trim().parse().expect("sizes in MB")).collect();
                i += 1;
            }
            "--runs" => {
                runs = args[i + 1].parse().expect("a number of runs");
                i += 1;
            }
            other => panic!("unknown argument {other}; use --sizes-mb 1,100,1024 --runs 5"),
        }
        i += 1;
    }

    eprintln!("starting the Hadoop minicluster and moto ...");
    let (hdfs, s3, s3s) =
        tokio::task::spawn_blocking(|| (Hdfs::start(0), S3::start(), S3::start_s3s_fs())).await.unwrap();
    s3.create_bucket("bench").await;
    let hdfs_config = hdfs.config("bench");
    let s3_config = s3.config();
    if let Some(s3s) = &s3s {
        s3s.create_bucket("bench").await;
    } else {
        eprintln!("s3s-fs is not installed under the cache; measuring S3 on moto only");
    }

    let mut rows = Vec::new();
    for mb in sizes_mb {
        let target = mb << 20;
        let filler = target.saturating_sub(64 << 10);
        let jar = build_jar(JarSpec { filler, extra_entries: 200, ..JarSpec::default() });
        let size = jar.len() as u64;
        eprintln!("jar of {size} bytes: uploading ...");
        let path = format!("/bench/app-{mb}mb.jar");
        hdfs.put(&path, &jar).await;
        if let Some(s3s) = &s3s {
            s3s.put("bench", &path[1..], jar.clone()).await;
        }
        s3.put("bench", &path[1..], jar).await;

        let ns = &hdfs.nameservice;
        rows.push(measure("hdfs (RPC)", &format!("hdfs://{ns}{path}"), &hdfs_config, size, runs).await);
        rows.push(measure("webhdfs", &format!("webhdfs://{ns}{path}"), &hdfs_config, size, runs).await);
        rows.push(measure("s3 (moto)", &format!("s3://bench{path}"), &s3_config, size, runs).await);
        if let Some(s3s) = &s3s {
            rows.push(measure("s3 (s3s-fs)", &format!("s3://bench{path}"), &s3s.config(), size, runs).await);
        }
    }

    println!(
        "| store | jar size | consort: bytes read | range reads | consort: median time | whole jar (upstream): bytes read | whole jar: time |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {:.1} ms | {} | {:.1} ms |",
            r.store,
            r.size,
            r.check_bytes,
            r.check_reads,
            r.check_median.as_secs_f64() * 1e3,
            r.whole_bytes,
            r.whole_median.as_secs_f64() * 1e3
        );
    }
}
