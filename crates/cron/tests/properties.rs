//! Properties every answer must have, checked on generated expressions, zones
//! and start times, independently of Quartz:
//! - every fire time matches the expression, field by field, on the zone's wall
//!   clock as `jiff` reads it (simple expressions, without `L`, `W`, `#`);
//! - fire times strictly increase;
//! - a wall time the clock skips (spring forward) never fires, and a wall time the
//!   clock shows twice (fall back) fires once, on the second pass;
//! - no input makes parsing or evaluation panic.

use std::collections::BTreeSet;

use consort_cron::{Cron, Zone};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use proptest::prelude::*;

const ZONES: [&str; 9] = [
    "UTC",
    "America/New_York",
    "Europe/Rome",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "Pacific/Chatham",
    "Asia/Kathmandu",
    "America/St_Johns",
];

/// One field of a generated expression: its text and the values it stands for.
#[derive(Clone, Debug)]
struct Part {
    text: String,
    values: BTreeSet<i32>,
}

fn part(text: String, values: impl IntoIterator<Item = i32>) -> Part {
    Part { text, values: values.into_iter().collect() }
}

/// A field with values `lo..=hi`: a value, a list, a range, a step or `*`.
fn field(lo: i32, hi: i32) -> impl Strategy<Value = Part> {
    prop_oneof![
        (lo..=hi).prop_map(|v| part(v.to_string(), [v])),
        prop::collection::btree_set(lo..=hi, 1..4).prop_map(|set| {
            let text = set.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
            Part { text, values: set }
        }),
        (lo..=hi, lo..=hi).prop_map(|(a, b)| {
            let (a, b) = (a.min(b), a.max(b));
            part(format!("{a}-{b}"), a..=b)
        }),
        (lo..=hi, 1..=(hi - lo).max(1)).prop_map(move |(a, n)| part(format!("{a}/{n}"), (a..=hi).step_by(n as usize))),
        Just(part("*".into(), lo..=hi)),
    ]
}

/// Day-of-month or day-of-week (the other one is `?`), never `L`, `W` or `#`.
fn days() -> impl Strategy<Value = (Part, Part)> {
    let any = || part("?".into(), []);
    prop_oneof![
        field(1, 31).prop_map(move |dom| (dom, any())),
        field(1, 7).prop_map(move |dow| (any(), dow)),
        prop::sample::select(vec![("MON-FRI", vec![2, 3, 4, 5, 6]), ("SAT,SUN", vec![7, 1]), ("TUE", vec![3])])
            .prop_map(move |(t, v)| (any(), part(t.into(), v))),
    ]
}

#[derive(Clone, Debug)]
struct Simple {
    text: String,
    seconds: Part,
    minutes: Part,
    hours: Part,
    dom: Part,
    months: Part,
    dow: Part,
    years: Option<Part>,
}

fn simple_expression() -> impl Strategy<Value = Simple> {
    let years = prop_oneof![
        Just(None),
        (2020..2060i32, 0..40i32).prop_map(|(a, n)| Some(part(format!("{a}-{}", a + n), a..=a + n))),
        (2020..2060i32).prop_map(|a| Some(part(a.to_string(), [a]))),
    ];
    (field(0, 59), field(0, 59), field(0, 23), days(), field(1, 12), years).prop_map(
        |(seconds, minutes, hours, (dom, dow), months, years)| {
            let mut text =
                format!("{} {} {} {} {} {}", seconds.text, minutes.text, hours.text, dom.text, months.text, dow.text);
            if let Some(y) = &years {
                text.push(' ');
                text.push_str(&y.text);
            }
            Simple { text, seconds, minutes, hours, dom, months, dow, years }
        },
    )
}

/// A start anywhere in 1990..2060, or within two hours of a transition of `zone`.
fn start_near(zone: &str, anywhere: i64, near_transition: bool, nudge: i64) -> i64 {
    if near_transition {
        let tz = TimeZone::get(zone).unwrap();
        if let Some(t) = tz.following(Timestamp::from_second(anywhere).unwrap()).next() {
            return t.timestamp().as_second() + nudge;
        }
    }
    anywhere
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// Each fire time's wall-clock fields, read by `jiff` in the zone, are in
    /// the expression's sets; fire times strictly increase.
    #[test]
    fn fire_times_match_the_expression_and_increase(
        e in simple_expression(),
        zone in prop::sample::select(ZONES.to_vec()),
        anywhere in 631_152_000i64..2_840_140_800,
        near_transition in any::<bool>(),
        nudge in -7_200i64..7_200,
    ) {
        let cron = Cron::parse(&e.text).unwrap();
        let ours = Zone::get(zone).unwrap();
        let tz = TimeZone::get(zone).unwrap();
        let mut t = start_near(zone, anywhere, near_transition, nudge);
        for _ in 0..12 {
            let Some(next) = cron.next_after_epoch(t, &ours) else { break };
            prop_assert!(next > t, "{} in {zone}: {next} after {t} is not later", e.text);
            let wall = tz.to_datetime(Timestamp::from_second(next).unwrap());
            let ctx = format!("{} in {zone}: fired at {wall}", e.text);
            prop_assert!(e.seconds.values.contains(&i32::from(wall.second())), "second: {ctx}");
            prop_assert!(e.minutes.values.contains(&i32::from(wall.minute())), "minute: {ctx}");
            prop_assert!(e.hours.values.contains(&i32::from(wall.hour())), "hour: {ctx}");
            prop_assert!(e.months.values.contains(&i32::from(wall.month())), "month: {ctx}");
            if e.dom.text != "?" {
                prop_assert!(e.dom.values.contains(&i32::from(wall.day())), "day-of-month: {ctx}");
            } else {
                // jiff: Monday = 1 … Sunday = 7; Quartz: Sunday = 1 … Saturday = 7.
                let quartz_weekday = i32::from(wall.weekday().to_sunday_one_offset());
                prop_assert!(e.dow.values.contains(&quartz_weekday), "day-of-week: {ctx}");
            }
            if let Some(years) = &e.years {
                prop_assert!(years.values.contains(&i32::from(wall.year())), "year: {ctx}");
            }
            t = next;
        }
    }

    /// Parsing and evaluating any text never panics.
    #[test]
    fn arbitrary_text_never_panics(
        text in prop_oneof![
            any::<String>(),
            "[0-9LW#?*/,\\- A-Z]{0,40}",
            "([0-9*?/LW#,-]{1,6} ){5,7}[0-9A-Z*?/LW#,-]{0,6}",
        ],
        zone in prop::sample::select(ZONES.to_vec()),
        start in prop_oneof![any::<i64>(), -10_000_000_000i64..10_000_000_000],
    ) {
        if let Ok(cron) = Cron::parse(&text) {
            let zone = Zone::get(zone).unwrap();
            let mut t = start;
            for _ in 0..3 {
                match cron.next_after_epoch(t, &zone) {
                    Some(next) => t = next,
                    None => break,
                }
            }
            let _ = cron.explain();
            let _ = cron.is_fire_time(Timestamp::from_second(start.clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second())).unwrap(), &zone);
        }
    }

    /// A daily fire time inside a spring-forward gap never fires on the gap
    /// day; one inside a fall-back overlap fires exactly once that day, at the
    /// later of the two instants.
    #[test]
    fn gaps_never_fire_and_overlaps_fire_once_on_the_second_pass(
        zone in prop::sample::select(vec![
            "America/New_York", "Europe/Rome", "Australia/Sydney", "Australia/Lord_Howe",
            "America/Sao_Paulo", "Pacific/Chatham", "America/St_Johns", "Europe/London",
        ]),
        after in 946_684_800i64..2_524_608_000,
        fraction in 0.0f64..1.0,
    ) {
        let tz = TimeZone::get(zone).unwrap();
        let ours = Zone::get(zone).unwrap();
        let Some(tr) = tz.following(Timestamp::from_second(after).unwrap()).next() else { return Ok(()) };
        let at = tr.timestamp().as_second();
        let before = i64::from(tz.to_offset(Timestamp::from_second(at - 1).unwrap()).seconds());
        let now = i64::from(tr.offset().seconds());
        if before == now {
            return Ok(());
        }
        // The wall times that are skipped or repeated: [at + min, at + max) on the wall clock.
        let (lo, hi) = (at + before.min(now), at + before.max(now));
        let wall = lo + ((hi - lo) as f64 * fraction) as i64 / 60 * 60;
        let civil = TimeZone::UTC.to_datetime(Timestamp::from_second(wall).unwrap());
        let expr = format!("{} {} {} * * ?", civil.second(), civil.minute(), civil.hour());
        let cron = Cron::parse(&expr).unwrap();
        // Every fire time of that calendar day (wall clock), from two days before.
        let day_start = wall - wall.rem_euclid(86_400);
        let mut fires = Vec::new();
        let mut t = at - 2 * 86_400;
        while let Some(next) = cron.next_after_epoch(t, &ours) {
            if next > at + 2 * 86_400 {
                break;
            }
            let local = next + i64::from(tz.to_offset(Timestamp::from_second(next).unwrap()).seconds());
            if (day_start..day_start + 86_400).contains(&local) {
                fires.push(next);
            }
            t = next;
        }
        if now > before {
            prop_assert!(fires.is_empty(), "{expr} in {zone}: skipped wall time fired at {fires:?}");
        } else {
            prop_assert_eq!(fires, vec![wall - now], "{} in {}: repeated wall time", expr, zone);
        }
    }
}

/// Concrete cases of the same rules, with their instants spelled out.
#[test]
fn new_york_2025_spring_forward_and_fall_back() {
    let ny = Zone::get("America/New_York").unwrap();
    let cron = Cron::parse("0 30 2 * * ?").unwrap();
    let fires = |after: &str| -> Vec<String> {
        cron.upcoming(after.parse().unwrap(), &ny).take(2).map(|t| t.to_string()).collect()
    };
    // 2025-03-09 02:30 does not exist in New York: nothing fires that day.
    assert_eq!(fires("2025-03-08T12:00:00Z"), ["2025-03-10T06:30:00Z", "2025-03-11T06:30:00Z"]);
    // 2025-11-02 01:30 happens twice (05:30Z EDT, 06:30Z EST): it fires once, at the second.
    let cron = Cron::parse("0 30 1 * * ?").unwrap();
    let fires: Vec<String> =
        cron.upcoming("2025-11-01T12:00:00Z".parse().unwrap(), &ny).take(2).map(|t| t.to_string()).collect();
    assert_eq!(fires, ["2025-11-02T06:30:00Z", "2025-11-03T06:30:00Z"]);
    // Even when the search starts during the first pass.
    let during_first_pass: Timestamp = "2025-11-02T05:10:00Z".parse().unwrap();
    assert_eq!(cron.next_after(during_first_pass, &ny).unwrap().to_string(), "2025-11-02T06:30:00Z");
}
