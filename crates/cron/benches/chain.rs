//! A bare loop of chained next-fire calls on one shape in one zone, for profilers
//! (`perf record`, `valgrind --tool=cachegrind`): no timing, no peers, no parse.
//! Run twice with N and 2N calls under cachegrind, the difference over N is the
//! instruction count of one call, which does not depend on the machine's load.
//!
//! `cargo bench -p consort-cron --bench chain -- SHAPE ZONE CALLS`, e.g.
//! `-- '0 0 12 LW * ?' America/New_York 1000000`. Never a test.

use std::hint::black_box;

use consort_cron::{Cron, Zone};

/// 2026-01-01T00:00:00Z and 2099-01-01T00:00:00Z, as in `next_fire.rs`.
const START: i64 = 1_767_225_600;
const END: i64 = 4_070_908_800;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let [shape, zone, calls] = &args[..] else {
        eprintln!("usage: chain SHAPE ZONE CALLS");
        std::process::exit(2);
    };
    let cron = Cron::parse(shape).unwrap_or_else(|e| panic!("{shape}: {e}"));
    let zone = Zone::get(zone).unwrap_or_else(|e| panic!("{e}"));
    let calls: u64 = calls.parse().expect("CALLS is a number");
    let mut t = START;
    for _ in 0..calls {
        t = match cron.next_after_epoch(black_box(t), &zone) {
            Some(next) if next < END => next,
            _ => START,
        };
    }
    println!("{t}");
}
