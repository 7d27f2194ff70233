//! The next fire time straight from bit masks, for the expressions and searches
//! where that provably gives the answer Quartz's walk gives.
//!
//! [`crate::eval`] replays Quartz's walk step for step, which is exact but slow.
//! When every field is a plain set (no list mixing plain days with `L-n`, no
//! value Quartz stores outside a field's range) each step of that walk moves to
//! the first value its own field allows and restarts the fields below it, so the
//! walk ends on the earliest wall time whose fields all match, and it carries no
//! state but the wall time it has reached. Daylight saving changes that only
//! where a step lands in a gap and is moved past it:
//! - if no transition lies between the start and that earliest wall time, no
//!   step can land in a gap, and the wall time maps to its instant with the
//!   offset in force at the start ([`WallClock::instant_in_stretch`]);
//! - if gaps lie in between but each ends at least its own length plus an hour
//!   before that wall time, a step moved past a gap still lands at or before it,
//!   and the walk, starting afresh from there, reaches the same wall time
//!   ([`WallClock::instant_across_gaps`]).
//!
//! A lone nearest-weekday rule (`15W`, `LW`, `L-2W`) is not an earliest-match
//! rule (the day found keeps the time of day the walk had reached), so for it
//! the walk itself is replayed on masks, while no wall time it visits lies in a
//! daylight-saving gap.
//! Everywhere else the shortcut declines and the walk runs.
//! `tests::shortcut_agrees_with_the_walk` checks the two against each other.

use crate::civil::{Civil, SECS_PER_DAY, days_in_month, days_to_weekday, month_start, weekday_from_days};
use crate::eval::nearest_weekday_to;
use crate::field::{Bits, LAST_DAY_OFFSET_END, LAST_DAY_OFFSET_START, MAX_YEAR, MIN_YEAR, NO_SPEC, Years};
use crate::parse::Spec;
use crate::zone::WallClock;

/// Listed months searched before giving the question to the walk (covers yearly shapes).
const SEARCH_MONTHS: usize = 26;

/// The masks of an expression the shortcut can answer for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Shortcut {
    /// Bit s: second s (0..=59).
    seconds: u64,
    /// Bit m: minute m (0..=59).
    minutes: u64,
    /// Bit h: hour h (0..=23).
    hours: u32,
    /// Bit m: month m (1..=12).
    months: u16,
    day: DayRule,
    /// Seconds after midnight of the first matching time of day.
    first_time: i64,
}

/// Which days of a month match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum DayRule {
    /// Day-of-month list: bit d is day d.
    Days(u32),
    /// Day-of-month `L`, `L-n` list: bit n is `L-n`.
    FromLast(u32),
    /// Day-of-week list: bit w is weekday w (1 = Sunday).
    Weekdays(u8),
    /// Day-of-week `nL`: the last such weekday of the month.
    LastWeekday(i64),
    /// Day-of-week `n#k`.
    NthWeekday { weekday: i64, nth: i64 },
    /// Day-of-month `nW` (`from_last` false) or `L-nW` / `LW` (true), alone.
    /// Not an earliest-match rule: answered by [`Shortcut::nearest_weekday`].
    NearestWeekday { n: i64, from_last: bool },
}

/// The members of `bits` in `lo..=hi`, when the members outside that range
/// cannot change any step of the walk: there are none, or the range is full
/// (Quartz's `*` marker, 99, comes with every value of the field).
fn plain_range(bits: Bits, lo: i32, hi: i32) -> Option<u128> {
    let range = (!0u128 >> (127 - hi)) & (!0u128 << lo);
    let inside = bits.raw() & range;
    let outside = bits.raw() & !range;
    (inside != 0 && (outside == 0 || inside == range)).then_some(inside)
}

impl Shortcut {
    /// The shortcut for `spec`, or `None` when only the walk can answer for it.
    pub(crate) fn new(spec: &Spec) -> Option<Shortcut> {
        let seconds = plain_range(spec.seconds, 0, 59)? as u64;
        let minutes = plain_range(spec.minutes, 0, 59)? as u64;
        let hours = plain_range(spec.hours, 0, 23)? as u32;
        let months = plain_range(spec.months, 1, 12)? as u16;
        let day = if spec.day_of_month_specified() {
            if !spec.nearest_weekdays.is_empty() {
                // One `nW` or `L-nW` and nothing else in the field.
                let w = spec.nearest_weekdays.raw();
                if !spec.days_of_month.is_empty() || w.count_ones() != 1 {
                    return None;
                }
                let v = w.trailing_zeros() as i32;
                let rule = match v {
                    1..=31 => DayRule::NearestWeekday { n: i64::from(v), from_last: false },
                    LAST_DAY_OFFSET_START..=LAST_DAY_OFFSET_END => {
                        DayRule::NearestWeekday { n: i64::from(LAST_DAY_OFFSET_END - v), from_last: true }
                    }
                    _ => return None,
                };
                let first_time = i64::from(hours.trailing_zeros()) * 3600
                    + i64::from(minutes.trailing_zeros()) * 60
                    + i64::from(seconds.trailing_zeros());
                return Some(Shortcut { seconds, minutes, hours, months, day: rule, first_time });
            }
            let dom = spec.days_of_month.raw();
            let offsets = (LAST_DAY_OFFSET_START..=LAST_DAY_OFFSET_END).fold(0u128, |m, b| m | 1 << b);
            if dom & offsets == dom {
                // Only `L` / `L-n` entries: bit n for `L-n`.
                let mut from_last = 0u32;
                for n in 0..=LAST_DAY_OFFSET_END - LAST_DAY_OFFSET_START {
                    if dom & 1 << (LAST_DAY_OFFSET_END - n) != 0 {
                        from_last |= 1 << n;
                    }
                }
                if from_last == 0 {
                    return None;
                }
                DayRule::FromLast(from_last)
            } else {
                DayRule::Days(plain_range(spec.days_of_month, 1, 31)? as u32)
            }
        } else {
            if spec.days_of_week.contains(NO_SPEC) || spec.days_of_week_overflow.is_some() {
                return None;
            }
            let wanted = i64::from(spec.first_day_of_week()?);
            if spec.last_day_of_week || spec.nth_day_of_week != 0 {
                if !(1..=7).contains(&wanted) {
                    return None;
                }
                if spec.last_day_of_week {
                    DayRule::LastWeekday(wanted)
                } else {
                    DayRule::NthWeekday { weekday: wanted, nth: i64::from(spec.nth_day_of_week) }
                }
            } else {
                DayRule::Weekdays(plain_range(spec.days_of_week, 1, 7)? as u8)
            }
        };
        let first_time = i64::from(hours.trailing_zeros()) * 3600
            + i64::from(minutes.trailing_zeros()) * 60
            + i64::from(seconds.trailing_zeros());
        Some(Shortcut { seconds, minutes, hours, months, day, first_time })
    }

    /// The instant of the next fire time at or after wall time `from` (the wall
    /// time of instant `start`), or `None` when the shortcut cannot tell and the
    /// walk must run.
    #[inline]
    pub(crate) fn answer(&self, years: &Years, from: Civil, start: i64, clock: &mut WallClock<'_>) -> Option<i64> {
        if let DayRule::NearestWeekday { n, from_last } = self.day {
            return self.nearest_weekday(years, from, start, n, from_last, clock);
        }
        let wall = self.wall_time_from(years, from)?;
        let from = from.local_seconds();
        clock.instant_in_stretch(from, wall).or_else(|| clock.instant_across_gaps(from, wall))
    }

    /// Quartz's walk for a lone nearest-weekday rule, replayed on masks, as long
    /// as no wall time the walk visits lies in a daylight-saving gap (where the
    /// walk would be moved past the gap). The rule is not "the earliest match":
    /// the day found keeps the time of day the walk had reached, and a candidate
    /// before the start (instant `start`) is dropped for the whole month
    /// (`eval::day_of_month`). Returns the fire time's instant, or `None` when
    /// the replay would visit a gap or leave the years the shortcut covers.
    fn nearest_weekday(
        &self,
        years: &Years,
        from: Civil,
        start: i64,
        n: i64,
        from_last: bool,
        clock: &mut WallClock<'_>,
    ) -> Option<i64> {
        let (mut month, mut d) = (Month::of(from), from.day);
        let (mut hour, mut minute, mut second) = (from.hour, from.minute, from.second);
        // The last wall time the walk has reached (a real one: never in a gap).
        let mut reached = from.local_seconds();
        for _ in 0..SEARCH_MONTHS * 2 {
            if !(i64::from(MIN_YEAR)..=i64::from(MAX_YEAR)).contains(&month.year) {
                return None;
            }
            // Seconds, minutes, hours (with the carry into the next day): every wall
            // time the walk visits on the way lies between the two ends.
            let time = match self.next_time(hour, minute, second) {
                Some(t) => t,
                None => {
                    (month, d) = month.day_after(d);
                    self.first_time
                }
            };
            let now = month.local(d, time);
            if !clock.gap_free(reached, now)? {
                return None;
            }
            // Day of month.
            let last = month.length;
            let base = if from_last { last - n } else { n };
            let mut day = None;
            if base >= d && base <= last {
                let midnight = month.local(base, 0);
                if !clock.gap_free(midnight, midnight)? {
                    return None;
                }
                let shifted = nearest_weekday_to(base, last, month.weekday(base));
                let candidate = month.local(shifted, time);
                if !clock.gap_free(candidate, candidate)? {
                    return None;
                }
                if clock.instant_of_local(candidate) >= start {
                    day = Some(shifted);
                }
            }
            let Some(day) = day else {
                (month, d) = (month.next(), 1);
                (hour, minute, second) = (0, 0, 0);
                reached = month.local(1, 0);
                continue;
            };
            d = day;
            reached = month.local(d, time);
            // Month.
            if self.months & 1 << month.month == 0 {
                (month, d) = (self.next_listed_month(month), 1);
                (hour, minute, second) = (0, 0, 0);
                reached = month.local(1, 0);
                continue;
            }
            // Year.
            if !years.contains(month.year as i32) {
                return None;
            }
            return Some(clock.instant_of_local(reached));
        }
        None
    }

    /// The earliest matching wall time at or after `from`, as local seconds
    /// (seconds since 1970-01-01T00:00 on the wall clock), or `None` when the
    /// shortcut cannot tell (the walk then decides).
    #[inline]
    pub(crate) fn wall_time_from(&self, years: &Years, from: Civil) -> Option<i64> {
        if !(i64::from(MIN_YEAR)..=i64::from(MAX_YEAR)).contains(&from.year) {
            return None;
        }
        let (month, d) = (Month::of(from), from.day);
        let (date, time) = match self.next_time(from.hour, from.minute, from.second) {
            // A time is left today: today, if it matches, else the first time of a later day.
            Some(time) => match self.next_date(years, month, d)? {
                (m, day) if day == d && m.first == month.first => ((month, d), time),
                later => (later, self.first_time),
            },
            // No time is left today (as after a chained fire time): whether today
            // matches does not matter, so it is not worked out.
            None => {
                let (month, d) = month.day_after(d);
                (self.next_date(years, month, d)?, self.first_time)
            }
        };
        Some(date.0.local(date.1, time))
    }

    /// The earliest matching date at or after day `d` of `month`. Inlined into
    /// its two callers: as a call its prologue and the month passed through
    /// memory cost as much as the search.
    #[inline(always)]
    fn next_date(&self, years: &Years, mut month: Month, mut d: i64) -> Option<(Month, i64)> {
        for _ in 0..SEARCH_MONTHS {
            if !(i64::from(MIN_YEAR)..=i64::from(MAX_YEAR)).contains(&month.year) {
                return None;
            }
            if self.months & 1 << month.month != 0
                && years.contains(month.year as i32)
                && let Some(day) = self.day.first_day(month, d)
            {
                return Some((month, day));
            }
            d = 1;
            month = self.next_listed_month(month);
        }
        None
    }

    /// The next month after `month` that the month field lists (a yearly shape
    /// skips eleven at once).
    #[inline(always)]
    fn next_listed_month(&self, month: Month) -> Month {
        let next = month.next();
        if self.months & 1 << next.month != 0 {
            return next;
        }
        let later = self.months & (!0u16 << (month.month + 1));
        if later != 0 {
            Month::new(month.year, i64::from(later.trailing_zeros()))
        } else {
            Month::new(month.year + 1, i64::from(self.months.trailing_zeros()))
        }
    }

    /// The earliest matching time of day at or after `h:m:s`, in seconds after midnight.
    #[inline]
    fn next_time(&self, h: i64, m: i64, s: i64) -> Option<i64> {
        let first_second = i64::from(self.seconds.trailing_zeros());
        if self.hours & 1 << h != 0 {
            if self.minutes & 1 << m != 0
                && let Some(second) = ceil64(self.seconds, s)
            {
                return Some(h * 3600 + m * 60 + second);
            }
            if let Some(minute) = ceil64(self.minutes, m + 1) {
                return Some(h * 3600 + minute * 60 + first_second);
            }
        }
        let first_minute = i64::from(self.minutes.trailing_zeros());
        ceil64(u64::from(self.hours), h + 1).map(|hour| hour * 3600 + first_minute * 60 + first_second)
    }
}

/// One calendar month with the facts the day rules read (where it starts, its
/// length, the weekday of its first day), so that a search moves from a month to
/// the next with a few additions instead of converting a date each time.
#[derive(Clone, Copy, Debug)]
struct Month {
    year: i64,
    /// 1..=12.
    month: i64,
    /// Days from 1970-01-01 to its first day.
    first: i64,
    /// Weekday of its first day, 1 = Sunday … 7 = Saturday.
    first_weekday: i64,
    /// Number of days.
    length: i64,
}

impl Month {
    #[inline]
    fn new(year: i64, month: i64) -> Month {
        let (first, length) = month_start(year, month);
        Month { year, month, first, first_weekday: weekday_from_days(first), length }
    }

    /// The month of `wall`, from the day count it already carries.
    #[inline]
    fn of(wall: Civil) -> Month {
        let first = wall.days() - (wall.day - 1);
        let length = days_in_month(wall.year, wall.month);
        Month { year: wall.year, month: wall.month, first, first_weekday: weekday_from_days(first), length }
    }

    /// The following month: its first weekday moves on by the length beyond four weeks.
    #[inline]
    fn next(self) -> Month {
        let (year, month) = if self.month < 12 { (self.year, self.month + 1) } else { (self.year + 1, 1) };
        let mut first_weekday = self.first_weekday + self.length - 28;
        if first_weekday > 7 {
            first_weekday -= 7;
        }
        Month { year, month, first: self.first + self.length, first_weekday, length: days_in_month(year, month) }
    }

    /// The day after day `d` (1..=length).
    #[inline]
    fn day_after(self, d: i64) -> (Month, i64) {
        if d < self.length { (self, d + 1) } else { (self.next(), 1) }
    }

    /// Weekday of day `d` (`d >= 1`), 1 = Sunday … 7 = Saturday.
    #[inline]
    fn weekday(self, d: i64) -> i64 {
        // A small non-negative number: the 32-bit unsigned remainder is a multiply.
        ((self.first_weekday + d - 2) as u32 % 7) as i64 + 1
    }

    /// Wall time `time` seconds after midnight of day `d`, as local seconds.
    #[inline]
    fn local(self, d: i64, time: i64) -> i64 {
        (self.first + d - 1) * SECS_PER_DAY + time
    }
}

/// The smallest member of `mask` that is `>= v` (`v` in 0..=64).
#[inline]
fn ceil64(mask: u64, v: i64) -> Option<i64> {
    let masked = if v >= 64 { 0 } else { mask & (!0u64 << v) };
    (masked != 0).then(|| i64::from(masked.trailing_zeros()))
}

impl DayRule {
    /// The first matching day of `month` that is `>= d`.
    #[inline]
    fn first_day(self, month: Month, d: i64) -> Option<i64> {
        let last = month.length;
        let day = match self {
            DayRule::Days(mask) => {
                let later = mask & (!0u32 << d);
                if later == 0 {
                    return None;
                }
                i64::from(later.trailing_zeros())
            }
            DayRule::FromLast(offsets) => {
                // `L-n` falls on day `last - n`, which is `>= d` for n <= last - d.
                let reachable = offsets & (!0u32 >> (31 - (last - d)));
                if reachable == 0 {
                    return None;
                }
                last - i64::from(31 - reachable.leading_zeros())
            }
            DayRule::Weekdays(mask) => {
                let wd = month.weekday(d);
                let week = u32::from(mask >> 1) * 0x81; // the 7 weekday bits, twice in a row
                let ahead = (week >> (wd - 1)) & 0x7f;
                d + i64::from(ahead.trailing_zeros())
            }
            DayRule::LastWeekday(wanted) => {
                let day = last - days_to_weekday(wanted, month.weekday(last));
                if day < d {
                    return None;
                }
                day
            }
            DayRule::NthWeekday { weekday, nth } => {
                let day = 1 + days_to_weekday(month.first_weekday, weekday) + 7 * (nth - 1);
                if day < d {
                    return None;
                }
                day
            }
            DayRule::NearestWeekday { .. } => return None,
        };
        (day <= last).then_some(day)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::{Cron, Zone, eval};

    /// The answer of the walk alone, without the shortcut.
    fn by_walk(cron: &Cron, after: i64, zone: &Zone) -> Option<i64> {
        let start = after + 1;
        let (from, mut clock) = zone.start(start);
        let wall = eval::time_after(&cron.spec, from, start, &mut clock).ok()??;
        Some(clock.instant(wall))
    }

    fn time_field(hi: u32) -> impl Strategy<Value = String> {
        prop_oneof![
            (0..=hi).prop_map(|v| v.to_string()),
            Just("*".to_string()),
            (0..=hi, 1..=hi).prop_map(|(a, n)| format!("{a}/{n}")),
            (0..=hi, 0..=hi).prop_map(|(a, b)| format!("{a}-{b}")),
            (0..=hi, 0..=hi, 0..=hi).prop_map(|(a, b, c)| format!("{a},{b},{c}")),
            (1..=hi).prop_map(|n| format!("*/{n}")),
        ]
    }

    fn day_fields() -> impl Strategy<Value = (String, String)> {
        let q = || Just("?".to_string());
        prop_oneof![
            (time_field(31).prop_map(|f| f.replace('0', "1")), q()),
            (prop::sample::select(vec!["L", "L-3", "L-0", "L,L-1", "L-30", "L-15,L-2"]).prop_map(String::from), q()),
            (
                prop::sample::select(vec![
                    "15W", "LW", "1,L", "L-2W", "2W,16", "1W", "31W", "30W", "L-5W", "16W", "0W", "LW,L"
                ])
                .prop_map(String::from),
                q()
            ),
            (q(), prop::sample::select(vec!["*", "MON-FRI", "2,4,6", "SAT-MON", "1", "7", "L"]).prop_map(String::from)),
            (q(), (1..=7u32, 1..=5u32).prop_map(|(d, k)| format!("{d}#{k}"))),
            (q(), (1..=7u32).prop_map(|d| format!("{d}L"))),
            (q(), prop::sample::select(vec!["2#1,3", "0#1", "FRIL", "MON#2"]).prop_map(String::from)),
        ]
    }

    fn expression() -> impl Strategy<Value = String> {
        let month = prop_oneof![
            Just("*".to_string()),
            (1..=12u32).prop_map(|m| m.to_string()),
            Just("NOV-FEB".to_string()),
            Just("3,11".to_string()),
            (1..=12u32, 1..=5u32).prop_map(|(a, n)| format!("{a}/{n}")),
        ];
        let year = prop_oneof![
            Just(String::new()),
            Just(" *".to_string()),
            (1990..2120u32).prop_map(|y| format!(" {y}")),
            (1990..2100u32, 0..30u32).prop_map(|(y, n)| format!(" {y}-{}", y + n)),
            (1..5u32).prop_map(|n| format!(" */{n}")),
        ];
        (time_field(59), time_field(59), time_field(23), day_fields(), month, year)
            .prop_map(|(s, m, h, (dom, dow), mo, y)| format!("{s} {m} {h} {dom} {mo} {dow}{y}"))
    }

    /// Half-hour and 45-minute shifts, and gaps at midnight (Havana, Santiago, Beirut).
    const ZONES: [&str; 10] = [
        "UTC",
        "America/New_York",
        "Europe/Rome",
        "Australia/Lord_Howe",
        "America/Sao_Paulo",
        "Pacific/Chatham",
        "Asia/Kathmandu",
        "America/Havana",
        "America/Santiago",
        "Asia/Beirut",
    ];

    /// Nearest-weekday rules chained over decades in zones with gaps at 02:00 and at
    /// midnight: wherever the replay crosses transitions it must land where the walk does.
    #[test]
    fn nearest_weekday_across_transitions_agrees_with_the_walk() {
        let expressions = [
            "0 0 12 LW * ?",
            "0 30 2 15W * ?",
            "0 0 0 1W * ?",
            "0 15 1 LW * ?",
            "0 0 2 L-2W * ?",
            "0 0 0 LW * ?",
            "0 * 0-3 8W 3,11 ?",
        ];
        for zone in ZONES {
            let zone = Zone::get(zone).unwrap();
            for expr in expressions {
                let cron = Cron::parse(expr).unwrap();
                let mut t = 946_684_800; // 2000-01-01T00:00:00Z
                for _ in 0..400 {
                    let ours = cron.next_after_epoch(t, &zone);
                    assert_eq!(ours, by_walk(&cron, t, &zone), "{expr} in {} after {t}", zone.name());
                    match ours {
                        Some(next) => t = next,
                        None => break,
                    }
                }
            }
        }
    }

    proptest! {
        // `CONSORT_SHORTCUT_CASES` widens the search (default 4000).
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("CONSORT_SHORTCUT_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(4000)
        ))]

        /// Whenever the shortcut answers, it gives the walk's answer (ten
        /// chained calls from a random start, many of them near a transition).
        #[test]
        fn shortcut_agrees_with_the_walk(
            expr in expression(),
            zone in prop::sample::select(ZONES.to_vec()),
            start in -100_000i64..4_200_000_000,
            near_transition in any::<bool>(),
            nudge in -7_200i64..7_200,
        ) {
            let Ok(cron) = Cron::parse(&expr) else { return Ok(()) };
            let zone = Zone::get(zone).unwrap();
            let mut t = start;
            if near_transition {
                let from = jiff::Timestamp::from_second(start).unwrap();
                if let Some(tr) = zone.time_zone().following(from).next() {
                    t = tr.timestamp().as_second() + nudge;
                }
            }
            for _ in 0..10 {
                let ours = cron.next_after_epoch(t, &zone);
                prop_assert_eq!(ours, by_walk(&cron, t, &zone), "{} in {} after {}", expr, zone.name(), t);
                match ours {
                    Some(next) => t = next,
                    None => break,
                }
            }
        }
    }
}
