//! Plain-English descriptions of parsed expressions.
//!
//! Explanations are built from the parsed value sets, not from the text, so they
//! describe what Quartz will really do (`MON-FRI/2` is explained as Monday
//! through Friday, because that is what it means to Quartz).

use crate::field::{Bits, LAST_DAY_OFFSET_END, LAST_DAY_OFFSET_START, MAX_YEAR, MIN_YEAR};
use crate::parse::Spec;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const NTH: [&str; 5] = ["first", "second", "third", "fourth", "fifth"];

pub(crate) fn explain(spec: &Spec) -> String {
    let time = time_of_day(spec);
    let day = day_part(spec);
    let month = month_part(spec.months);
    let mut out = time;
    match (day, month) {
        (None, None) => {
            if !is_all(spec.hours, 0, 23) {
                out.push_str(" every day");
            }
        }
        (None, Some(m)) => out.push_str(&format!(" every day in {m}")),
        (Some(d), None) => {
            out.push(' ');
            out.push_str(&d.text);
            if d.monthly {
                out.push_str(" of every month");
            }
        }
        (Some(d), Some(m)) => {
            out.push(' ');
            out.push_str(&d.text);
            out.push_str(if d.monthly { " of " } else { " in " });
            out.push_str(&m);
        }
    }
    if let Some(years) = year_part(spec) {
        out.push_str(&format!(" in {years}"));
    }
    out
}

fn is_all(set: Bits, lo: i32, hi: i32) -> bool {
    set.count_in(lo, hi) == (hi - lo + 1) as u32
}

fn single(set: Bits) -> Option<i32> {
    let mut it = set.iter().filter(|&v| v < 98);
    let first = it.next()?;
    it.next().is_none().then_some(first)
}

/// `Some(step)` when the set is `lo, lo+step, …` up to the field's end.
fn every_nth(set: Bits, lo: i32, hi: i32) -> Option<i32> {
    let values: Vec<i32> = set.iter().filter(|&v| (lo..=hi).contains(&v)).collect();
    if values.len() < 2 || values[0] != lo {
        return None;
    }
    let step = values[1] - values[0];
    let regular = values.windows(2).all(|w| w[1] - w[0] == step);
    (regular && values.last().is_some_and(|&last| last + step > hi)).then_some(step)
}

/// "1-5, 10 and 20" with runs of three or more collapsed to ranges.
fn list(values: &[i32], name: impl Fn(i32) -> String) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let mut j = i;
        while j + 1 < values.len() && values[j + 1] == values[j] + 1 {
            j += 1;
        }
        if j >= i + 2 {
            parts.push(format!("{} through {}", name(values[i]), name(values[j])));
        } else {
            parts.extend(values[i..=j].iter().map(|&v| name(v)));
        }
        i = j + 1;
    }
    match parts.len() {
        0 => String::new(),
        1 => parts.remove(0),
        n => format!("{} and {}", parts[..n - 1].join(", "), parts[n - 1]),
    }
}

fn values(set: Bits, lo: i32, hi: i32) -> Vec<i32> {
    set.iter().filter(|&v| (lo..=hi).contains(&v)).collect()
}

fn plural(n: i32, unit: &str) -> String {
    if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") }
}

/// One time field as a phrase, e.g. "every 15 minutes", "at minutes 0 and 30".
fn unit_phrase(set: Bits, lo: i32, hi: i32, unit: &str) -> String {
    if is_all(set, lo, hi) {
        return format!("every {unit}");
    }
    if let Some(step) = every_nth(set, lo, hi) {
        return format!("every {}", plural(step, unit));
    }
    let vals = values(set, lo, hi);
    let label = if vals.len() == 1 { unit.to_string() } else { format!("{unit}s") };
    format!("at {label} {}", list(&vals, |v| v.to_string()))
}

fn time_of_day(spec: &Spec) -> String {
    let (s, m, h) = (single(spec.seconds), single(spec.minutes), single(spec.hours));
    if let (Some(s), Some(m), Some(h)) = (s, m, h) {
        return if s == 0 { format!("at {h:02}:{m:02}") } else { format!("at {h:02}:{m:02}:{s:02}") };
    }
    let every_second = is_all(spec.seconds, 0, 59);
    let on_the_minute = s == Some(0);
    let every_minute = is_all(spec.minutes, 0, 59);
    let mut parts = Vec::new();
    if !on_the_minute {
        parts.push(unit_phrase(spec.seconds, 0, 59, "second"));
    }
    if every_minute {
        if on_the_minute {
            parts.push("every minute".to_string());
        } else if !every_second && every_nth(spec.seconds, 0, 59).is_none() {
            parts.push("of every minute".to_string());
        }
    } else if let (Some(m), None) = (m, h) {
        parts.push(format!("at minute {m}"));
    } else {
        parts.push(unit_phrase(spec.minutes, 0, 59, "minute"));
    }
    if let Some(h) = h {
        parts.push(format!("during the {h:02}:00 hour"));
    } else if !is_all(spec.hours, 0, 23) {
        parts.push(match every_nth(spec.hours, 0, 23) {
            Some(step) => format!("every {}", plural(step, "hour")),
            None => format!("during hours {}", list(&values(spec.hours, 0, 23), |v| format!("{v:02}"))),
        });
    } else if m.is_some() {
        parts.push("of every hour".to_string());
    }
    parts.join(", ").replace(", of every", " of every")
}

struct DayPhrase {
    text: String,
    /// Whether the phrase reads "… of <month>" (a rule within the month).
    monthly: bool,
}

fn ordinal(n: i32) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn from_last(offset: i32) -> String {
    match offset {
        0 => "the last day".to_string(),
        1 => "the day before the last day".to_string(),
        n => format!("{} days before the last day", n),
    }
}

fn day_part(spec: &Spec) -> Option<DayPhrase> {
    if spec.day_of_month_specified() {
        let dom = spec.days_of_month;
        if is_all(dom, 1, 31) && spec.nearest_weekdays.is_empty() {
            return None;
        }
        let mut parts = Vec::new();
        let plain = values(dom, 1, 31);
        if !plain.is_empty() {
            let noun = if plain.len() == 1 { "day" } else { "days" };
            parts.push(format!("on {noun} {}", list(&plain, |d| d.to_string())));
        }
        for encoded in values(dom, LAST_DAY_OFFSET_START, LAST_DAY_OFFSET_END).into_iter().rev() {
            parts.push(format!("on {}", from_last(LAST_DAY_OFFSET_END - encoded)));
        }
        for w in values(spec.nearest_weekdays, 0, LAST_DAY_OFFSET_END) {
            if w >= LAST_DAY_OFFSET_START {
                let offset = LAST_DAY_OFFSET_END - w;
                parts.push(if offset == 0 {
                    "on the last weekday".to_string()
                } else {
                    format!("on the weekday nearest {}", from_last(offset))
                });
            } else {
                parts.push(format!("on the weekday nearest the {}", ordinal(w)));
            }
        }
        if parts.is_empty() {
            parts.push("never (no day of the month matches)".to_string());
        }
        return Some(DayPhrase { text: parts.join(" and "), monthly: true });
    }
    let first = spec.first_day_of_week().unwrap_or(1);
    let day_name = |d: i32| DAYS.get((d - 1) as usize).map_or_else(|| format!("day {d}"), |s| s.to_string());
    if spec.last_day_of_week {
        return Some(DayPhrase { text: format!("on the last {}", day_name(first)), monthly: true });
    }
    if spec.nth_day_of_week != 0 {
        let name = if first == 0 { "Saturday".to_string() } else { day_name(first) };
        let nth = NTH[(spec.nth_day_of_week - 1) as usize];
        return Some(DayPhrase { text: format!("on the {nth} {name}"), monthly: true });
    }
    let days = values(spec.days_of_week, 1, 7);
    if days.len() == 7 {
        return None;
    }
    Some(DayPhrase { text: format!("on {}", list(&days, day_name)), monthly: false })
}

fn month_part(months: Bits) -> Option<String> {
    if is_all(months, 1, 12) {
        return None;
    }
    Some(list(&values(months, 1, 12), |m| MONTHS[(m - 1) as usize].to_string()))
}

fn year_part(spec: &Spec) -> Option<String> {
    if spec.years.is_every_year() {
        return None;
    }
    let years: Vec<i32> = spec.years.iter().filter(|&y| (MIN_YEAR..=MAX_YEAR).contains(&y)).collect();
    if years.is_empty() {
        return Some(format!("no year between {MIN_YEAR} and {MAX_YEAR} (never fires)"));
    }
    Some(list(&years, |y| y.to_string()))
}

#[cfg(test)]
mod tests {
    use crate::Cron;

    fn explain(expr: &str) -> String {
        Cron::parse(expr).unwrap().explain()
    }

    #[test]
    fn common_shapes_read_naturally() {
        let cases = [
            ("0 15 10 ? * 6L", "at 10:15 on the last Friday of every month"),
            ("0 0 12 * * ?", "at 12:00 every day"),
            ("0 0 12 LW * ?", "at 12:00 on the last weekday of every month"),
            ("0 0 0 ? * 6#3", "at 00:00 on the third Friday of every month"),
            ("0 0 0 1 1 ?", "at 00:00 on day 1 of January"),
            ("0/5 * * * * ?", "every 5 seconds"),
            ("* * * * * ?", "every second"),
            ("0 * * * * ?", "every minute"),
            ("0 0/30 8-17 ? * MON-FRI", "every 30 minutes, during hours 08 through 17 on Monday through Friday"),
            ("0 15 10 ? * MON-FRI/2", "at 10:15 on Monday through Friday"),
            ("0 15 * * * ?", "at minute 15 of every hour"),
            ("30 * * * * ?", "at second 30 of every minute"),
            ("0 15 10 L-2 * ? 2027-2030", "at 10:15 on 2 days before the last day of every month in 2027 through 2030"),
            ("0 0 12 15W * ?", "at 12:00 on the weekday nearest the 15th of every month"),
            ("0 0 0 ? NOV-FEB SAT,SUN", "at 00:00 on Sunday and Saturday in January, February, November and December"),
        ];
        for (expr, want) in cases {
            assert_eq!(explain(expr), want, "{expr}");
        }
    }
}
