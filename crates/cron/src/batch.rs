//! The batch contract shared with Quartz's own answers (`consort cron eval`).
//!
//! One line in, `EXPR<TAB>ZONE<TAB>START_EPOCH_S`; one line out, exactly what the
//! `expected` column of `quartz-cron-vectors.tsv` holds for it: `ERR`, `NONE`,
//! or up to five comma-separated fire times (epoch seconds), each strictly after
//! the previous one.

use crate::{Cron, Zone};

/// How many fire times one answer lists at most.
pub const ANSWER_LENGTH: usize = 5;

/// The answer for one input line. Fields are split on tabs and never trimmed.
pub fn answer_line(line: &str) -> String {
    let mut cols = line.split('\t');
    match (cols.next(), cols.next(), cols.next(), cols.next()) {
        (Some(expr), Some(zone), Some(start), None) => match start.parse::<i64>() {
            Ok(start) => answer(expr, zone, start),
            Err(_) => "ERR".to_string(),
        },
        _ => "ERR".to_string(),
    }
}

/// The answer for one expression, zone and start.
///
/// Like Quartz (`TimeZone.getTimeZone`), a zone name the tz database does not
/// know is read as UTC; the interactive commands reject it instead.
pub fn answer(expr: &str, zone: &str, start_epoch_s: i64) -> String {
    let Ok(cron) = Cron::parse(expr) else {
        return "ERR".to_string();
    };
    let zone = Zone::get(zone).unwrap_or_else(|_| Zone::utc());
    let mut out = String::new();
    let mut t = start_epoch_s;
    for _ in 0..ANSWER_LENGTH {
        let Some(next) = cron.next_after_epoch(t, &zone) else {
            break;
        };
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&next.to_string());
        t = next;
    }
    if out.is_empty() { "NONE".to_string() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_lines_are_errors_not_panics() {
        assert_eq!(answer_line("0 0 12 * * ?\tUTC"), "ERR");
        assert_eq!(answer_line("0 0 12 * * ?\tUTC\tsoon"), "ERR");
        assert_eq!(answer_line("0 0 12 * * ?\tUTC\t0\textra"), "ERR");
        assert_eq!(answer_line("0 0 12 * * ?\tUTC\t0"), "43200,129600,216000,302400,388800");
        assert_eq!(answer_line("0 0 0 30 2 ?\tUTC\t0"), "NONE");
    }
}
