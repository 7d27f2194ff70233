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

use crate::civil::{MONTH_COUNT, MONTHS, SECS_PER_DAY, days_to_weekday, month_index};
use crate::eval::nearest_weekday_to;
use crate::field::{Bits, LAST_DAY_OFFSET_END, LAST_DAY_OFFSET_START, NO_SPEC, Years};
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
    /// For month m (1..=12): how many months on the next listed month is (1..=12),
    /// so that a yearly shape skips eleven months with one addition.
    month_steps: [u8; 13],
    day: DayRule,
    /// Seconds after midnight of the first matching time of day.
    first_time: i64,
    /// Seconds after midnight of the last matching time of day: later in a day,
    /// no time of that day is left (every chained call of a daily or rarer shape).
    last_time: i64,
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
        let with = |day| Shortcut::with_masks(seconds, minutes, hours, months, day);
        if spec.day_of_month_specified() {
            if !spec.nearest_weekdays.is_empty() {
                // One `nW` or `L-nW` and nothing else in the field.
                let w = spec.nearest_weekdays.raw();
                if !spec.days_of_month.is_empty() || w.count_ones() != 1 {
                    return None;
                }
                let v = w.trailing_zeros() as i32;
                return match v {
                    1..=31 => Some(with(DayRule::NearestWeekday { n: i64::from(v), from_last: false })),
                    LAST_DAY_OFFSET_START..=LAST_DAY_OFFSET_END => {
                        Some(with(DayRule::NearestWeekday { n: i64::from(LAST_DAY_OFFSET_END - v), from_last: true }))
                    }
                    _ => None,
                };
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
                return Some(with(DayRule::FromLast(from_last)));
            }
            return Some(with(DayRule::Days(plain_range(spec.days_of_month, 1, 31)? as u32)));
        }
        if spec.days_of_week.contains(NO_SPEC) || spec.days_of_week_overflow.is_some() {
            return None;
        }
        let wanted = i64::from(spec.first_day_of_week()?);
        let day = if spec.last_day_of_week || spec.nth_day_of_week != 0 {
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
        };
        Some(with(day))
    }

    /// The shortcut for non-empty field masks and a day rule.
    fn with_masks(seconds: u64, minutes: u64, hours: u32, months: u16, day: DayRule) -> Shortcut {
        let first_time = i64::from(hours.trailing_zeros()) * 3600
            + i64::from(minutes.trailing_zeros()) * 60
            + i64::from(seconds.trailing_zeros());
        let last_time = i64::from(31 - hours.leading_zeros()) * 3600
            + i64::from(63 - minutes.leading_zeros()) * 60
            + i64::from(63 - seconds.leading_zeros());
        let mut month_steps = [12; 13];
        for (month, steps) in month_steps.iter_mut().enumerate().skip(1) {
            let listed = |step: &u8| months & 1 << ((month - 1 + usize::from(*step)) % 12 + 1) != 0;
            *steps = (1..=12).find(listed).unwrap_or(12);
        }
        Shortcut { seconds, minutes, hours, months, month_steps, day, first_time, last_time }
    }

    /// The instant of the next fire time at or after wall time `from` (local
    /// seconds, the wall time of instant `start`), or `None` when the shortcut
    /// cannot tell and the walk must run.
    #[inline]
    pub(crate) fn answer(&self, years: &Years, from: i64, start: i64, clock: &mut WallClock<'_>) -> Option<i64> {
        // Before 1970 the month table ends and the walk answers.
        let from_days = u64::try_from(from).ok()? / SECS_PER_DAY as u64;
        let time = from - from_days as i64 * SECS_PER_DAY;
        let month = Month::containing(from_days as i64)?;
        let day = from_days as i64 - month.first + 1;
        if let DayRule::NearestWeekday { n, from_last } = self.day {
            let at = Reached { month, day, time, local: from };
            return self.nearest_weekday(years, at, start, n, from_last, clock);
        }
        let wall = self.wall_time_from(years, from, month, day, time)?;
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
        from: Reached,
        start: i64,
        n: i64,
        from_last: bool,
        clock: &mut WallClock<'_>,
    ) -> Option<i64> {
        let Reached { mut month, mut day, time: mut time_reached, local: mut reached } = from;
        // `reached`: the last wall time the walk has reached (a real one: never in a gap).
        for _ in 0..SEARCH_MONTHS * 2 {
            if month.index >= MONTH_COUNT {
                return None;
            }
            // Seconds, minutes, hours (with the carry into the next day): every wall
            // time the walk visits on the way lies between the two ends.
            let time = match self.next_time(time_reached) {
                Some(t) => t,
                None => {
                    (month, day) = month.day_after(day)?;
                    self.first_time
                }
            };
            let now = month.local(day, time);
            if !clock.gap_free(reached, now)? {
                return None;
            }
            // Day of month.
            let last = month.length;
            let base = if from_last { last - n } else { n };
            let mut found = None;
            if base >= day && base <= last {
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
                    found = Some(shifted);
                }
            }
            let Some(found) = found else {
                (month, day, time_reached) = (month.next()?, 1, 0);
                reached = month.local(1, 0);
                continue;
            };
            day = found;
            reached = month.local(day, time);
            // Month.
            if self.months & 1 << month.month == 0 {
                (month, day, time_reached) = (self.next_listed_month(month)?, 1, 0);
                reached = month.local(1, 0);
                continue;
            }
            // Year.
            if !years.contains_from_min(month.year_offset) {
                return None;
            }
            return Some(clock.instant_of_local(reached));
        }
        None
    }

    /// The earliest matching wall time at or after `from` (local seconds: day
    /// `day` of `month`, `time` seconds after midnight), as local seconds, or
    /// `None` when the shortcut cannot tell (the walk then decides).
    #[inline]
    fn wall_time_from(&self, years: &Years, from: i64, month: Month, day: i64, time: i64) -> Option<i64> {
        let (date, time) = match self.next_time(time) {
            // A time is left today: today, if it matches, else the first time of a later day.
            Some(next) => match self.next_date(years, month, day)? {
                (m, d) if d == day && m.index == month.index => return Some(from - time + next),
                later => (later, self.first_time),
            },
            // No time is left today (as after a chained fire time): whether today
            // matches does not matter, so it is not worked out.
            None => {
                let (month, day) = month.day_after(day)?;
                (self.next_date(years, month, day)?, self.first_time)
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
            if month.index >= MONTH_COUNT {
                return None;
            }
            if self.months & 1 << month.month != 0
                && years.contains_from_min(month.year_offset)
                && let Some(day) = self.day.first_day(month, d)
            {
                return Some((month, day));
            }
            d = 1;
            month = self.next_listed_month(month)?;
        }
        None
    }

    /// The next month after `month` that the month field lists.
    #[inline(always)]
    fn next_listed_month(&self, month: Month) -> Option<Month> {
        let steps = self.month_steps.get(month.month as usize).copied().unwrap_or(1);
        Month::at(month.index + usize::from(steps))
    }

    /// The earliest matching time of day at or after `time` (seconds after
    /// midnight), in seconds after midnight.
    #[inline]
    fn next_time(&self, time: i64) -> Option<i64> {
        if time > self.last_time {
            return None;
        }
        // 0..86_400: unsigned 32-bit divisions by constants are a multiply each.
        let t = time as u32;
        let (h, m, s) = (i64::from(t / 3600), i64::from(t / 60 % 60), i64::from(t % 60));
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

/// Where the nearest-weekday replay stands: a day of a month, a time of day,
/// and the same wall time as local seconds.
#[derive(Clone, Copy, Debug)]
struct Reached {
    month: Month,
    day: i64,
    time: i64,
    local: i64,
}

/// One calendar month with the facts the day rules read (where it starts, its
/// length, the weekday of its first day), read from the month table, so that a
/// search moves from a month to the next by index instead of converting a date.
#[derive(Clone, Copy, Debug)]
struct Month {
    /// Index in [`MONTHS`]; from [`MONTH_COUNT`] on, past the years a fire time can lie in.
    index: usize,
    /// Years since 1970.
    year_offset: usize,
    /// 1..=12.
    month: u32,
    /// Days from 1970-01-01 to its first day.
    first: i64,
    /// Weekday of its first day, 1 = Sunday … 7 = Saturday.
    first_weekday: i64,
    /// Number of days.
    length: i64,
}

impl Month {
    /// Month `index` of the table, or `None` past its end.
    #[inline]
    fn at(index: usize) -> Option<Month> {
        let facts = MONTHS.get(index)?;
        Some(Month {
            index,
            year_offset: usize::from(facts.year_offset),
            month: u32::from(facts.month),
            first: i64::from(facts.first),
            first_weekday: i64::from(facts.first_weekday),
            length: i64::from(facts.length),
        })
    }

    /// The month of day `days` (days from 1970-01-01), or `None` outside 1970..=2199.
    #[inline]
    fn containing(days: i64) -> Option<Month> {
        Month::at(month_index(days)?)
    }

    /// The following month.
    #[inline]
    fn next(self) -> Option<Month> {
        Month::at(self.index + 1)
    }

    /// The day after day `d` (1..=length).
    #[inline]
    fn day_after(self, d: i64) -> Option<(Month, i64)> {
        if d < self.length { Some((self, d + 1)) } else { Some((self.next()?, 1)) }
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

    use crate::civil::Civil;
    use crate::{Cron, Zone, eval};

    /// The answer of the walk alone, without the shortcut.
    fn by_walk(cron: &Cron, after: i64, zone: &Zone) -> Option<i64> {
        let start = after + 1;
        let (from, mut clock) = zone.start(start);
        let from = Civil::from_local_seconds(from);
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
