//! Next-fire and parse speed of consort-cron beside the `cron` and `croner` crates
//! and (when `scripts/bench cron` hands in its figures) Quartz 2.5.2 itself.
//!
//! Method, identical for every implementation and for the Java harness
//! (`rigs/quartz/.../CronBench.java`): next-fire calls are chained
//! (`t = next(t)`) from 2026-01-01T00:00:00Z, restarting there whenever the
//! expression stops firing or reaches 2099; one warm-up round, then the best of
//! five rounds of 200,000 calls. Parsing: best of five rounds of 20,000 parses.
//! Rounds are timed in thread CPU time (on both sides), so that other work on a
//! shared machine does not count; on an idle machine it equals wall time.
//! Heap allocations per consort call are counted over 10,000 chained calls.
//!
//! Environment: `CONSORT_BENCH_QUARTZ` names the Java harness's output (TSV
//! `next|parse<TAB>shape<TAB>zone<TAB>ns`); `CONSORT_BENCH_CALLS` shrinks the
//! rounds for a quick look, `CONSORT_BENCH_PEERS=0` measures consort alone and
//! `CONSORT_BENCH_ONLY=TEXT` only the shapes containing TEXT. Prints one markdown table. Never a test: nothing here
//! asserts on time.

use std::collections::HashMap;
use std::hint::black_box;

use chrono::{DateTime, TimeZone as _};
use consort_cron::{Cron, Zone};

/// The seven shapes of `quartz.md` §3.4.
const SHAPES: [&str; 7] = [
    "0 0 12 * * ?",
    "0/5 * * * * ?",
    "0 0/30 8-17 ? * MON-FRI",
    "0 15 10 ? * 6L",
    "0 0 12 LW * ?",
    "0 0 0 ? * 6#3",
    "0 0 0 1 1 ?",
];
const ZONES: [&str; 2] = ["UTC", "America/New_York"];

/// 2026-01-01T00:00:00Z: where every chain starts.
const START: i64 = 1_767_225_600;
/// 2099-01-01T00:00:00Z: a chain that gets here starts again (`cron` stops at 2100).
const END: i64 = 4_070_908_800;
const ROUNDS: usize = 5;

fn calls_per_round() -> usize {
    std::env::var("CONSORT_BENCH_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000)
}

/// Nanoseconds per call of each of `ROUNDS` timed rounds (after one warm-up round).
fn rounds(calls: usize, mut round: impl FnMut(usize)) -> Vec<f64> {
    round(calls);
    (0..ROUNDS)
        .map(|_| {
            let started = cpu_time::ThreadTime::now();
            round(calls);
            started.elapsed().as_nanos() as f64 / calls as f64
        })
        .collect()
}

fn best(ns: &[f64]) -> f64 {
    ns.iter().copied().fold(f64::INFINITY, f64::min)
}

fn median(ns: &[f64]) -> f64 {
    let mut sorted = ns.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn consort_next(cron: &Cron, zone: &Zone, calls: usize) -> Vec<f64> {
    rounds(calls, |n| {
        let mut t = START;
        for _ in 0..n {
            t = match cron.next_after_epoch(black_box(t), zone) {
                Some(next) if next < END => next,
                _ => START,
            };
        }
        black_box(t);
    })
}

/// Heap allocations per chained consort call.
fn consort_allocations(cron: &Cron, zone: &Zone) -> f64 {
    const CALLS: u64 = 10_000;
    let info = allocation_counter::measure(|| {
        let mut t = START;
        for _ in 0..CALLS {
            t = match cron.next_after_epoch(black_box(t), zone) {
                Some(next) if next < END => next,
                _ => START,
            };
        }
        black_box(t);
    });
    info.count_total as f64 / CALLS as f64
}

fn cron_next(schedule: &cron::Schedule, tz: chrono_tz::Tz, calls: usize) -> Option<Vec<f64>> {
    let start = tz.timestamp_opt(START, 0).single()?;
    schedule.after(&start).next()?;
    Some(rounds(calls, |n| {
        let mut t: DateTime<chrono_tz::Tz> = start;
        for _ in 0..n {
            t = match black_box(schedule).after(&t).next() {
                Some(next) if next.timestamp() < END => next,
                _ => start,
            };
        }
        black_box(t);
    }))
}

fn croner_next(pattern: &croner::Cron, tz: chrono_tz::Tz, calls: usize) -> Option<Vec<f64>> {
    let start = tz.timestamp_opt(START, 0).single()?;
    pattern.find_next_occurrence(&start, false).ok()?;
    Some(rounds(calls, |n| {
        let mut t: DateTime<chrono_tz::Tz> = start;
        for _ in 0..n {
            t = match black_box(pattern).find_next_occurrence(&t, false) {
                Ok(next) if next.timestamp() < END => next,
                _ => start,
            };
        }
        black_box(t);
    }))
}

/// croner configured for Quartz syntax, as in `quartz.md` §3.3.
fn croner_parser() -> croner::parser::CronParser {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .year(croner::parser::Year::Optional)
        .alternative_weekdays(true)
        .sloppy_ranges(true)
        .dom_and_dow(false)
        .build()
}

fn parse_ns<T, E>(calls: usize, parse: impl Fn(&str) -> Result<T, E>, expr: &str) -> Option<f64> {
    parse(expr).ok()?;
    let calls = (calls / 10).max(1);
    Some(best(&rounds(calls, |n| {
        for _ in 0..n {
            let _ = black_box(parse(black_box(expr)));
        }
    })))
}

fn cell(ns: Option<f64>) -> String {
    match ns {
        Some(ns) if ns >= 100.0 => format!("{ns:.0}"),
        Some(ns) => format!("{ns:.1}"),
        None => "unsupported".into(),
    }
}

/// A peer's cell, or "skipped" when peers are not measured.
fn peer(measure: bool, ns: impl FnOnce() -> Option<f64>) -> String {
    if measure { cell(ns()) } else { "skipped".into() }
}

fn ratio(quartz: Option<f64>, ours: f64) -> String {
    quartz.map_or("–".into(), |q| format!("{:.0}×", q / ours))
}

/// The Java harness's figures, keyed by (kind, shape, zone).
fn quartz_figures() -> HashMap<(String, String, String), f64> {
    let Ok(path) = std::env::var("CONSORT_BENCH_QUARTZ") else {
        return HashMap::new();
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    text.lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let [kind, shape, zone, ns] = cols[..] else { return None };
            Some(((kind.into(), shape.into(), zone.into()), ns.parse().ok()?))
        })
        .collect()
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter we do not offer.
    let calls = calls_per_round();
    let peers = std::env::var("CONSORT_BENCH_PEERS").map_or(true, |v| v != "0");
    let quartz = quartz_figures();
    let quartz_ns =
        |kind: &str, shape: &str, zone: &str| quartz.get(&(kind.into(), shape.into(), zone.into())).copied();
    let cron_parse = |e: &str| e.parse::<cron::Schedule>();
    let croner = croner_parser();
    let croner_parse = |e: &str| croner.parse(e);

    println!(
        "| shape | zone | consort ns (best / median) | cron ns | croner ns | Quartz ns | Quartz / consort | consort allocs/call |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut worst_ratio = f64::INFINITY;
    let only = std::env::var("CONSORT_BENCH_ONLY").unwrap_or_default();
    let shapes: Vec<&str> = SHAPES.into_iter().filter(|s| s.contains(only.as_str())).collect();
    for &shape in &shapes {
        let ours = Cron::parse(shape).expect("benchmark shapes are valid");
        let theirs = shape.parse::<cron::Schedule>().ok();
        let croner_pattern = croner.parse(shape).ok();
        for zone_name in ZONES {
            let zone = Zone::get(zone_name).expect("known zone");
            let tz: chrono_tz::Tz = zone_name.parse().expect("known zone");
            let consort = consort_next(&ours, &zone, calls);
            let allocations = consort_allocations(&ours, &zone);
            let cron = peer(peers, || theirs.as_ref().and_then(|s| cron_next(s, tz, calls)).map(|r| best(&r)));
            let croner =
                peer(peers, || croner_pattern.as_ref().and_then(|p| croner_next(p, tz, calls)).map(|r| best(&r)));
            let q = quartz_ns("next", shape, zone_name);
            let consort_best = best(&consort);
            if let Some(q) = q {
                worst_ratio = worst_ratio.min(q / consort_best);
            }
            println!(
                "| `{shape}` | {zone_name} | {} / {} | {} | {} | {} | {} | {allocations} |",
                cell(Some(consort_best)),
                cell(Some(median(&consort))),
                cron,
                croner,
                q.map_or("not run".into(), |q| cell(Some(q))),
                ratio(q, consort_best),
            );
        }
    }
    println!();
    println!("| shape | consort parse ns | cron parse ns | croner parse ns | Quartz parse ns | Quartz / consort |");
    println!("|---|---|---|---|---|---|");
    for &shape in &shapes {
        let ours = parse_ns(calls, Cron::parse, shape).expect("benchmark shapes are valid");
        let q = quartz_ns("parse", shape, "-");
        println!(
            "| `{shape}` | {} | {} | {} | {} | {} |",
            cell(Some(ours)),
            peer(peers, || parse_ns(calls, cron_parse, shape)),
            peer(peers, || parse_ns(calls, croner_parse, shape)),
            q.map_or("not run".into(), |q| cell(Some(q))),
            ratio(q, ours),
        );
    }
    println!();
    println!(
        "ns per call in thread CPU time: chained calls from 2026-01-01T00:00:00Z, one warm-up round, best of {ROUNDS} \
         rounds of {calls} (parse: {}); consort median of the same rounds beside its best; allocations counted \
         over 10,000 chained calls.",
        (calls / 10).max(1)
    );
    if worst_ratio.is_finite() {
        println!();
        println!("Smallest Quartz / consort next-fire ratio: {worst_ratio:.0}×");
    }
}
