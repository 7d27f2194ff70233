//! COSE governance requests verified per second, per algorithm, on one core: the
//! server's whole per-request cost in this crate (`parse_request` + `verify` +
//! the freshness and replay decision against an in-memory `seen` map).
//!
//! 256 distinct requests per algorithm (a ~70-byte JSON body, like a ballot) are
//! signed first; then rounds of parse+verify+admit over them, interleaved across
//! algorithms so machine noise hits each alike. Each round's rate is
//! requests / elapsed; the median round is reported.
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
                    };
                    let body = format!(r#"{{"ballot":"approve","proposal":"p-{i}","note":"benchmark request"}}"#);
                    sign_request(&key, &header, body.as_bytes()).expect("sign")
                })
                .collect();
            (algorithm, key, requests)
        })
        .collect();

    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); arms.len()];
    for _ in 0..=rounds {
        for (arm, (_, key, requests)) in arms.iter().enumerate() {
            let mut seen = SeenDigests::new();
            let start = Instant::now();
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
        }
    }

    let mut summary = Vec::new();
    for ((algorithm, key, requests), arm_rates) in arms.iter().zip(rates.iter_mut()) {
        // The first round is warm-up.
        arm_rates.remove(0);
        arm_rates.sort_by(f64::total_cmp);
        let median = arm_rates[arm_rates.len() / 2];
        let (min, max) = (arm_rates[0], arm_rates[arm_rates.len() - 1]);
        println!(
            "{:<6} {:>9.0} requests/s (median of {rounds} rounds of {per_round}; min {min:.0}, max {max:.0}; \
             request {} bytes; key {})",
            algorithm.cose_name(),
            median,
            requests[0].len(),
            &key.key_id()[..12],
        );
        summary.push(format!("{}={median:.0}", algorithm.cose_name().to_ascii_lowercase()));
    }
    println!("cose_verify_per_s {}", summary.join(" "));
}
