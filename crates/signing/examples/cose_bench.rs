//! COSE governance requests verified per second, per algorithm, on one core: the
//! server's whole per-request cost in this crate (`parse_request` + `verify` +
//! the freshness and replay decision against an in-memory `seen` map).
//!
//! 256 distinct requests per algorithm (a ~70-byte JSON body, like a ballot) are
//! signed first; then rounds of parse+verify+admit over them, interleaved across
//! algorithms so machine noise hits each alike. Each round's rate is
//! requests / elapsed; the median round is reported. On Linux the rate per second
//! of this thread's CPU time (`/proc/thread-self/schedstat`) is reported beside it:
//! on a shared, loaded machine the wall-clock rate understates what one core does.
//!
//! `cargo run --release -p consort-signing --example cose_bench`;
//! `CONSORT_BENCH_ROUNDS` (7) and `CONSORT_BENCH_REQUESTS` (4000 per algorithm per
//! round) size it. Ends with one `cose_verify_per_s …` line.

use std::hint::black_box;
use std::time::Instant;

use consort_signing::{
    KeyAlgorithm, MemberKeyPair, ReplayGuard, RequestHeader, SeenDigests, parse_request, sign_request,
};

const CREATED_AT: i64 = 1_790_000_000;
const DISTINCT: usize = 256;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// This thread's time on a CPU so far, in nanoseconds (Linux); `None` elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn median(rates: &mut [f64]) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates.get(rates.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let rounds = env_usize("CONSORT_BENCH_ROUNDS", 7).max(1);
    let per_round = env_usize("CONSORT_BENCH_REQUESTS", 4000).max(1);
    let guard = ReplayGuard::default();

    let arms: Vec<(KeyAlgorithm, MemberKeyPair, Vec<Vec<u8>>)> = KeyAlgorithm::ALL
        .iter()
        .map(|&algorithm| {
            let key = MemberKeyPair::generate(algorithm).expect("generate a key");
            let requests = (0..DISTINCT)
                .map(|i| {
                    let header = RequestHeader {
                        member_id: "m-1".to_owned(),
                        msg_type: "ballot".to_owned(),
                        cleanroom: "room-a".to_owned(),
                        created_at: CREATED_AT,
                        proposal_id: Some(format!("p-{i}")),
                        subject: None,
                    };
                    let body = format!(r#"{{"ballot":"approve","proposal":"p-{i}","note":"benchmark request"}}"#);
                    sign_request(&key, &header, body.as_bytes()).expect("sign")
                })
                .collect();
            (algorithm, key, requests)
        })
        .collect();

    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); arms.len()];
    let mut cpu_rates: Vec<Vec<f64>> = vec![Vec::new(); arms.len()];
    for _ in 0..=rounds {
        for (arm, (_, key, requests)) in arms.iter().enumerate() {
            let mut seen = SeenDigests::new();
            let start = Instant::now();
            let cpu_start = thread_cpu_ns();
            for i in 0..per_round {
                let bytes = &requests[i % DISTINCT];
                let verified = parse_request(bytes).expect("parse").verify(key.public_key()).expect("verify");
                // Every DISTINCT-th request repeats one already seen: clear the map so each is admitted.
                if i % DISTINCT == 0 {
                    seen = SeenDigests::new();
                }
                black_box(seen.admit(&guard, &verified, CREATED_AT).expect("admit"));
            }
            let elapsed = start.elapsed().as_secs_f64();
            rates[arm].push(per_round as f64 / elapsed);
            if let (Some(a), Some(b)) = (cpu_start, thread_cpu_ns()) {
                cpu_rates[arm].push(per_round as f64 / ((b.saturating_sub(a)).max(1) as f64 / 1e9));
            }
        }
    }

    let mut summary = Vec::new();
    let mut cpu_summary = Vec::new();
    for (((algorithm, key, requests), arm_rates), arm_cpu_rates) in
        arms.iter().zip(rates.iter_mut()).zip(cpu_rates.iter_mut())
    {
        // The first round is warm-up.
        arm_rates.remove(0);
        let wall = median(arm_rates);
        let (min, max) = (arm_rates[0], arm_rates[arm_rates.len() - 1]);
        let cpu = if arm_cpu_rates.len() > 1 {
            arm_cpu_rates.remove(0);
            median(arm_cpu_rates)
        } else {
            f64::NAN
        };
        println!(
            "{:<6} {wall:>9.0} requests/s wall-clock, {cpu:>9.0} per CPU-second (median of {rounds} rounds of \
             {per_round}; wall min {min:.0}, max {max:.0}; request {} bytes; key {})",
            algorithm.cose_name(),
            requests[0].len(),
            &key.key_id()[..12],
        );
        let name = algorithm.cose_name().to_ascii_lowercase();
        summary.push(format!("{name}={wall:.0}"));
        cpu_summary.push(format!("{name}={cpu:.0}"));
    }
    println!("cose_verify_per_s {} (per CPU-second: {})", summary.join(" "), cpu_summary.join(" "));
}
