//! Differential test against Quartz 2.5.2 itself.
//!
//! Random expressions, drawn from a grammar that covers every operator and every
//! accepted quirk (and plenty of invalid input), random zones and start times
//! (many of them next to DST transitions) are answered by consort and by
//! Quartz's `CronExpression` running in a JVM (`rigs/quartz`, built with Maven on
//! first use). The answers must be identical.
//!
//! `CONSORT_DIFF_ROWS` (default 20000) and `CONSORT_DIFF_SEED` widen the search.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use consort_cron::batch::answer;
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// SplitMix64: a small, seedable generator, so that a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const ZONES: &[&str] = &[
    "UTC",
    "America/New_York",
    "Europe/Rome",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "Pacific/Chatham",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Europe/London",
    "America/Los_Angeles",
    "Australia/Sydney",
    "Asia/Kathmandu",
    "America/St_Johns",
];

const MONTHS: &[&str] = &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A number for a field whose values run `lo..=hi`, now and then just outside.
fn number(rng: &mut Rng, lo: i64, hi: i64) -> i64 {
    match rng.below(100) {
        0..=2 => hi + 1,
        3 if lo > 0 => lo - 1,
        4 => 99,
        _ => rng.range(lo, hi),
    }
}

/// One comma-separated item of a plain numeric field.
fn numeric_item(rng: &mut Rng, lo: i64, hi: i64, names: Option<&[&str]>) -> String {
    if let Some(names) = names
        && rng.chance(30)
    {
        let a = rng.pick(names);
        return match rng.below(6) {
            0 => format!("{a}-{}", rng.pick(names)),
            1 => format!("{a}-{}/{}", rng.pick(names), rng.range(1, 3)),
            2 => format!("{}{}", a.to_lowercase(), if rng.chance(50) { "DAY" } else { "" }),
            _ => a.to_string(),
        };
    }
    let step_max = hi - lo + 2;
    match rng.below(12) {
        0 => "*".into(),
        1 => format!("*/{}", rng.range(0, step_max)),
        2 => format!("/{}", rng.range(1, step_max)),
        3 => format!("{}/{}", number(rng, lo, hi), rng.range(0, step_max)),
        4 | 5 => format!("{}-{}", number(rng, lo, hi), number(rng, lo, hi)),
        6 => format!("{}-{}/{}", number(rng, lo, hi), number(rng, lo, hi), rng.range(0, step_max + 5)),
        7 => match rng.below(8) {
            0 => format!("{}.5", number(rng, lo, hi)),
            1 => format!("{}x", number(rng, lo, hi)),
            2 => format!("{}-", number(rng, lo, hi)),
            3 => format!("{}/", number(rng, lo, hi)),
            4 => "L".into(),
            5 => format!("{}W", number(rng, lo, hi)),
            6 => format!("*/+{}", rng.range(1, 5)),
            _ => format!("{}#{}", number(rng, lo, hi), rng.range(1, 5)),
        },
        _ => number(rng, lo, hi).to_string(),
    }
}

fn numeric_field(rng: &mut Rng, lo: i64, hi: i64, names: Option<&[&str]>) -> String {
    let n = if rng.chance(75) { 1 } else { rng.range(2, 4) };
    let items: Vec<String> = (0..n).map(|_| numeric_item(rng, lo, hi, names)).collect();
    let mut field = items.join(",");
    if rng.chance(1) {
        field.push(',');
    }
    field
}

fn day_of_month(rng: &mut Rng) -> String {
    let item = |rng: &mut Rng| match rng.below(14) {
        0 => "L".to_string(),
        1 => format!("L-{}", rng.range(0, 31)),
        2 => "LW".to_string(),
        3 => format!("L-{}W", rng.range(0, 30)),
        4 | 5 => format!("{}W", rng.range(0, 32)),
        _ => numeric_item(rng, 1, 31, None),
    };
    let n = if rng.chance(80) { 1 } else { rng.range(2, 3) };
    (0..n).map(|_| item(rng)).collect::<Vec<_>>().join(",")
}

fn day_of_week(rng: &mut Rng) -> String {
    match rng.below(12) {
        0 => format!("{}L", rng.range(0, 8)),
        1 => format!("{}L", rng.pick(DAYS)),
        2 => format!("{}#{}", rng.range(0, 9), rng.range(0, 6)),
        3 => format!("{}#{}", rng.pick(DAYS), rng.range(1, 5)),
        4 => "L".into(),
        5 => format!("{}#{},{}", rng.range(1, 7), rng.range(1, 5), rng.range(1, 7)),
        _ => numeric_field(rng, 1, 7, Some(DAYS)),
    }
}

fn year(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => "*".into(),
        1 => format!("{}", rng.range(1965, 2110)),
        2 => format!("{}-{}", rng.range(1965, 2060), rng.range(1965, 2110)),
        3 => format!("{}/{}", rng.range(1965, 2060), rng.range(1, 12)),
        4 => format!("*/{}", rng.range(1, 30)),
        5 => format!("{},{}", rng.range(1970, 2100), rng.range(1970, 2100)),
        6 => "L".into(),
        _ => format!("{}-{}/{}", rng.range(1970, 2040), rng.range(2040, 2100), rng.range(1, 9)),
    }
}

fn expression(rng: &mut Rng) -> String {
    let time_field = |rng: &mut Rng, hi: i64, simple: u64| {
        if rng.chance(simple) { rng.range(0, hi).to_string() } else { numeric_field(rng, 0, hi, None) }
    };
    let seconds = time_field(rng, 59, 60);
    let minutes = time_field(rng, 59, 45);
    let hours = time_field(rng, 23, 40);
    let (dom, dow) = match rng.below(20) {
        0 => (day_of_month(rng), day_of_week(rng)),
        1 => ("?".into(), "?".into()),
        2..=10 => (day_of_month(rng), "?".into()),
        _ => ("?".into(), day_of_week(rng)),
    };
    let month = if rng.chance(60) { "*".into() } else { numeric_field(rng, 1, 12, Some(MONTHS)) };
    let mut fields = vec![seconds, minutes, hours, dom, month, dow];
    if rng.chance(25) {
        fields.push(year(rng));
    }
    if rng.chance(1) {
        fields.truncate(rng.below(6) as usize);
    }
    let sep = if rng.chance(5) { "  " } else { " " };
    fields.join(sep)
}

/// A start time: anywhere in 1969..2100, or within hours of a DST transition.
fn start(rng: &mut Rng, zone: &str) -> i64 {
    let anywhere = rng.range(-604_800, 4_102_405_199);
    if rng.chance(40) {
        let tz = TimeZone::get(zone).unwrap();
        let from = Timestamp::from_second(anywhere).unwrap();
        if let Some(t) = tz.following(from).next() {
            return t.timestamp().as_second() + rng.range(-3 * 3600, 3 * 3600);
        }
    }
    anywhere
}

/// Quartz's MAX_YEAR is "this year + 100" (2126 in 2026); consort uses the
/// documented 2199. Fire times from 2120 on are left out of the comparison.
const COMPARE_UNTIL: i64 = 4_733_510_400; // 2120-01-01T00:00:00Z

fn comparable(answer: &str) -> String {
    if answer == "ERR" || answer == "NONE" {
        return answer.to_string();
    }
    let kept: Vec<&str> = answer.split(',').filter(|t| t.parse::<i64>().unwrap() < COMPARE_UNTIL).collect();
    if kept.is_empty() { "NONE".into() } else { kept.join(",") }
}

fn quartz_classpath() -> String {
    let rig: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rigs/quartz");
    if !rig.join("target/lib/quartz-2.5.2.jar").exists()
        || !rig.join("target/classes/consort/rigs/CronEval.class").exists()
    {
        let status = Command::new("mvn")
            .args(["-q", "-B", "package", "-DskipTests"])
            .current_dir(&rig)
            .status()
            .expect("Maven (mvn) runs: it builds the Quartz rig");
        assert!(status.success(), "building rigs/quartz failed");
    }
    format!("{}:{}/*", rig.join("target/classes").display(), rig.join("target/lib").display())
}

fn quartz_answers(input: &str) -> Vec<String> {
    let mut child = Command::new("java")
        .args(["-cp", &quartz_classpath(), "consort.rigs.CronEval"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("java runs");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("java finishes");
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "CronEval failed");
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
}

#[test]
fn random_expressions_agree_with_quartz() {
    let rows: usize = std::env::var("CONSORT_DIFF_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let seed: u64 = std::env::var("CONSORT_DIFF_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x00C0_4507);
    let mut rng = Rng(seed);
    let mut cases = Vec::with_capacity(rows);
    for _ in 0..rows {
        let zone = rng.pick(ZONES);
        cases.push((expression(&mut rng), zone, start(&mut rng, zone)));
    }
    let input: String = cases.iter().map(|(e, z, s)| format!("{e}\t{z}\t{s}\n")).collect();
    let theirs = quartz_answers(&input);
    assert_eq!(theirs.len(), cases.len());

    let mut failures = Vec::new();
    let (mut errors, mut nones) = (0, 0);
    for ((expr, zone, start), quartz) in cases.iter().zip(&theirs) {
        let ours = answer(expr, zone, *start);
        errors += usize::from(quartz == "ERR");
        nones += usize::from(quartz == "NONE");
        if comparable(&ours) != comparable(quartz) {
            failures.push(format!("{expr:?}\t{zone}\t{start}\n  quartz  {quartz}\n  consort {ours}"));
        }
    }
    // The grammar must exercise all three kinds of answer.
    assert!(errors > rows / 20 && nones > 0 && errors + nones < rows / 2, "errors={errors} nones={nones}");
    assert!(
        failures.is_empty(),
        "{} of {rows} rows differ (seed {seed}):\n{}",
        failures.len(),
        failures.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
}
