//! Proleptic Gregorian calendar arithmetic on plain integers.
//!
//! The evaluator works on wall-clock fields the way `java.util.GregorianCalendar`
//! does in lenient mode: fields may overflow (day 32, hour 24, month 13) and are
//! normalised afterwards. Everything here is pure integer math so that a
//! next-fire computation never allocates and never consults a time zone.

/// Seconds in one civil day.
pub(crate) const SECS_PER_DAY: i64 = 86_400;

/// Days from 1970-01-01 to the given proleptic Gregorian date.
///
/// A table lookup for the years a cron expression can fire in, Howard
/// Hinnant's `days_from_civil` (valid for every `i32` year) elsewhere.
#[inline]
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let k = year - TABLE_FIRST_YEAR;
    if (0..TABLE_YEARS as i64).contains(&k) && (1..=12).contains(&month) {
        let k = k as usize;
        let leap = usize::from(YEAR_DAYS[k + 1] - YEAR_DAYS[k] == 366);
        return i64::from(YEAR_DAYS[k]) + i64::from(DAYS_BEFORE_MONTH[leap][month as usize]) + day - 1;
    }
    hinnant_days_from_civil(year, month, day)
}

fn hinnant_days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The first year of [`YEAR_DAYS`].
const TABLE_FIRST_YEAR: i64 = 1900;
/// Years covered by [`YEAR_DAYS`]: 1900..=2500, past any year a walk can reach.
const TABLE_YEARS: usize = 601;
/// Days from 1970-01-01 to January 1st of `TABLE_FIRST_YEAR + k` (one extra entry
/// so that every year's length can be read off).
static YEAR_DAYS: [i32; TABLE_YEARS + 1] = year_days();

const fn year_days() -> [i32; TABLE_YEARS + 1] {
    let mut table = [0; TABLE_YEARS + 1];
    let mut k = 0;
    while k <= TABLE_YEARS {
        let y = TABLE_FIRST_YEAR + k as i64 - 1;
        // Days from 0000-03-01 (Hinnant's epoch) to January 1st of y + 1.
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + 306;
        table[k] = (era * 146_097 + doe - 719_468) as i32;
        k += 1;
    }
    table
}

/// Days in the year before the first of each month (index 1..=12), common and leap.
const DAYS_BEFORE_MONTH: [[i16; 13]; 2] = [
    [0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334],
    [0, 0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335],
];

/// The civil date (year, month 1..=12, day 1..=31) of a day count since 1970-01-01.
#[inline]
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    if (-i64::from(NS_SHIFT_DAYS)..NS_LIMIT).contains(&days) {
        return neri_schneider(days);
    }
    hinnant(days)
}

/// Howard Hinnant's `civil_from_days`: any day count, a little more work than Neri and
/// Schneider's.
fn hinnant(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Neri and Schneider's "Euclidean affine functions" shift the count by this many
/// days (82 cycles of 400 years) so that every date from 32,800 BC on is positive.
const NS_SHIFT_DAYS: u32 = 719_468 + 146_097 * NS_SHIFT_CYCLES;
const NS_SHIFT_CYCLES: u32 = 82;
/// Above this the 32-bit intermediate values could overflow.
const NS_LIMIT: i64 = 1_000_000_000;

/// [`civil_from_days`] by Neri and Schneider's algorithm (Software: Practice and
/// Experience, 2023): every division is by a constant and most are a multiply
/// and a shift on 32-bit values, about half the work of Hinnant's.
#[inline]
fn neri_schneider(days: i64) -> (i64, i64, i64) {
    let n = (days + i64::from(NS_SHIFT_DAYS)) as u32;
    // Century and day of the century.
    let n1 = 4 * n + 3;
    let century = n1 / 146_097;
    let day_of_century = n1 % 146_097 / 4;
    // Year of the century and day of the (March-based) year.
    let n2 = 4 * day_of_century + 3;
    let p2 = 2_939_745u64 * u64::from(n2);
    let year_of_century = (p2 >> 32) as u32;
    let day_of_year = (p2 as u32) / 2_939_745 / 4;
    // Month and day (months 3..=14 from March).
    let n3 = 2141 * day_of_year + 197_913;
    let month = n3 >> 16;
    let day = (n3 & 0xffff) / 2141 + 1;
    let january_or_february = day_of_year >= 306;
    let year =
        i64::from(100 * century + year_of_century) - i64::from(400 * NS_SHIFT_CYCLES) + i64::from(january_or_february);
    let month = if january_or_february { month - 12 } else { month };
    (year, i64::from(month), i64::from(day))
}

/// The calendar facts of one month that a date search reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MonthFacts {
    /// Days from 1970-01-01 to its first day.
    pub(crate) first: i32,
    /// Years since [`MONTHS_FIRST_YEAR`].
    pub(crate) year_offset: u8,
    /// 1..=12.
    pub(crate) month: u8,
    /// Number of days.
    pub(crate) length: u8,
    /// Weekday of its first day, 1 = Sunday … 7 = Saturday.
    pub(crate) first_weekday: u8,
}

/// The first year of [`MONTHS`], the first a fire time can lie in.
pub(crate) const MONTHS_FIRST_YEAR: i64 = 1970;
/// Months of 1970..=2199, the years a fire time can lie in.
pub(crate) const MONTH_COUNT: usize = 230 * 12;

/// Every month from January 1970 to December 2199, and twelve more, so that a
/// search can step up to a year past the last one and then stop: a date search
/// reads a month's facts with one load instead of converting a date.
pub(crate) static MONTHS: [MonthFacts; MONTH_COUNT + 12] = month_facts();

const fn month_facts() -> [MonthFacts; MONTH_COUNT + 12] {
    let mut table = [MonthFacts { first: 0, year_offset: 0, month: 1, length: 31, first_weekday: 5 }; MONTH_COUNT + 12];
    let (mut k, mut first) = (0, 0i64);
    while k < MONTH_COUNT + 12 {
        let year = MONTHS_FIRST_YEAR + (k / 12) as i64;
        let month = (k % 12) as i64 + 1;
        let length = if month == 2 && is_leap_year(year) { 29 } else { MONTH_LENGTHS[month as usize] as i64 };
        table[k] = MonthFacts {
            first: first as i32,
            year_offset: (k / 12) as u8,
            month: month as u8,
            length: length as u8,
            first_weekday: ((first + 4) % 7 + 1) as u8,
        };
        first += length;
        k += 1;
    }
    table
}

/// Index in [`MONTHS`] of the month holding day `days` (days from 1970-01-01), or
/// `None` outside 1970..=2199.
#[inline]
pub(crate) fn month_index(days: i64) -> Option<usize> {
    if !(0..i64::from(MONTHS[MONTH_COUNT].first)).contains(&days) {
        return None;
    }
    // Months average 30.436875 days, and no month start strays from that line by
    // more than a few days: this estimate is the month or the next one (every day
    // is checked by `month_index_finds_every_day`). One multiply and one load
    // instead of a date conversion.
    let estimate = (((days as u32 + 20) * 2153) >> 16) as usize;
    let next_first = MONTHS.get(estimate)?.first;
    Some(estimate - usize::from(days < i64::from(next_first)))
}

/// Gregorian leap year rule (2100 is not a leap year, 2000 is).
#[inline]
pub(crate) const fn is_leap_year(year: i64) -> bool {
    // Given a multiple of 4, a multiple of 100 is one of 25, and of 400 one of 16:
    // two remainders by powers of two and one by a constant.
    year & 3 == 0 && (year % 25 != 0 || year & 15 == 0)
}

/// Days in each month of a common year (index 1..=12).
const MONTH_LENGTHS: [i8; 13] = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/// Number of days in `month` (1..=12) of `year`.
#[inline]
pub(crate) fn days_in_month(year: i64, month: i64) -> i64 {
    let common = MONTH_LENGTHS.get(month as usize).map_or(31, |&n| i64::from(n));
    if month == 2 && is_leap_year(year) { 29 } else { common }
}

/// Day of week of a day count, in Quartz/Java numbering: 1 = Sunday … 7 = Saturday.
#[inline]
pub(crate) fn weekday_from_days(days: i64) -> i64 {
    // 1970-01-01 was a Thursday (5). Unsigned remainder by a constant is a multiply and a
    // shift, without the sign fix-ups of the Euclidean one (days before 1970 need those).
    match u64::try_from(days + 4) {
        Ok(d) => (d % 7) as i64 + 1,
        Err(_) => (days + 4).rem_euclid(7) + 1,
    }
}

/// Days from weekday `from` forward to weekday `to` (both 1..=7), 0..=6.
#[inline]
pub(crate) fn days_to_weekday(from: i64, to: i64) -> i64 {
    let ahead = to - from;
    if ahead < 0 { ahead + 7 } else { ahead }
}

/// A wall-clock date and time with every field normalised to its usual range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Civil {
    pub(crate) year: i64,
    pub(crate) month: i64,
    pub(crate) day: i64,
    pub(crate) hour: i64,
    pub(crate) minute: i64,
    pub(crate) second: i64,
    /// Days from 1970-01-01 to this date (derived from the three fields above).
    days: i64,
}

impl Civil {
    /// A wall time from fields already in range.
    #[inline]
    fn new(year: i64, month: i64, day: i64, hour: i64, minute: i64, second: i64) -> Civil {
        Civil { year, month, day, hour, minute, second, days: days_from_civil(year, month, day) }
    }

    /// Builds a normalised wall time from fields that may be out of range,
    /// carrying overflow the way a lenient `GregorianCalendar` does.
    #[inline]
    pub(crate) fn lenient(year: i64, month: i64, day: i64, hour: i64, minute: i64, second: i64) -> Civil {
        let in_range = (1..=12).contains(&month)
            && (1..=28).contains(&day)
            && (0..24).contains(&hour)
            && (0..60).contains(&minute)
            && (0..60).contains(&second);
        if in_range {
            return Civil::new(year, month, day, hour, minute, second);
        }
        // The evaluator's overflows are small (minute 60, hour 24, day 32, month
        // 13): carry them field by field, which needs no division.
        let small = (1..=13).contains(&month)
            && (1..=62).contains(&day)
            && (0..=24).contains(&hour)
            && (0..=60).contains(&minute)
            && (0..=60).contains(&second);
        if small {
            return Civil::carry(year, month, day, hour, minute, second);
        }
        let year = year + (month - 1).div_euclid(12);
        let month = (month - 1).rem_euclid(12) + 1;
        let days = days_from_civil(year, month, 1) + day - 1;
        let secs = days * SECS_PER_DAY + hour * 3600 + minute * 60 + second;
        Civil::from_local_seconds(secs)
    }

    /// [`Civil::lenient`] for fields at most one unit (days: one month) out of range.
    #[inline]
    fn carry(year: i64, month: i64, day: i64, hour: i64, minute: i64, second: i64) -> Civil {
        let (mut year, mut month, mut day, mut hour, mut minute, mut second) = (year, month, day, hour, minute, second);
        if second >= 60 {
            second -= 60;
            minute += 1;
        }
        if minute >= 60 {
            minute -= 60;
            hour += 1;
        }
        if hour >= 24 {
            hour -= 24;
            day += 1;
        }
        if month > 12 {
            month -= 12;
            year += 1;
        }
        loop {
            let length = days_in_month(year, month);
            if day <= length {
                break;
            }
            day -= length;
            month += 1;
            if month > 12 {
                month = 1;
                year += 1;
            }
        }
        Civil::new(year, month, day, hour, minute, second)
    }

    /// The wall time `secs` seconds after 1970-01-01T00:00:00 (local). Inlined
    /// into every next-fire call: as a call, its result goes through memory.
    #[inline(always)]
    pub(crate) fn from_local_seconds(secs: i64) -> Civil {
        let (days, rem) = if secs >= 0 {
            // Unsigned division by a constant is cheaper than the Euclidean one.
            let secs = secs as u64;
            ((secs / SECS_PER_DAY as u64) as i64, (secs % SECS_PER_DAY as u64) as i64)
        } else {
            (secs.div_euclid(SECS_PER_DAY), secs.rem_euclid(SECS_PER_DAY))
        };
        let (year, month, day) = civil_from_days(days);
        Civil { year, month, day, hour: rem / 3600, minute: rem / 60 % 60, second: rem % 60, days }
    }

    /// Seconds since 1970-01-01T00:00:00 on the same wall clock.
    #[inline]
    pub(crate) fn local_seconds(&self) -> i64 {
        self.days * SECS_PER_DAY + self.hour * 3600 + self.minute * 60 + self.second
    }

    /// Day of week, 1 = Sunday … 7 = Saturday.
    #[inline]
    pub(crate) fn weekday(&self) -> i64 {
        weekday_from_days(self.days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_counts_round_trip_across_eras() {
        for days in (-1_000_000..1_000_000).step_by(997).chain(-800_000..200_000) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
            assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
        }
    }

    /// The fast conversion must agree with Hinnant's on its whole range and at its edges.
    #[test]
    fn neri_schneider_agrees_with_hinnant() {
        let lo = -i64::from(NS_SHIFT_DAYS);
        let edges = [lo, lo + 1, -1, 0, 1, NS_LIMIT - 1];
        for days in (lo..NS_LIMIT).step_by(9_973).chain(edges).chain(-30_000..120_000) {
            assert_eq!(neri_schneider(days), hinnant(days), "{days}");
        }
    }

    #[test]
    fn table_agrees_with_hinnant() {
        for year in 1850..2600 {
            for month in 1..=12 {
                for day in [1, 28, days_in_month(year, month)] {
                    assert_eq!(days_from_civil(year, month, day), hinnant_days_from_civil(year, month, day));
                }
            }
        }
    }

    #[test]
    fn month_index_finds_every_day() {
        for (k, facts) in MONTHS.iter().enumerate() {
            let (year, month) = (MONTHS_FIRST_YEAR + (k / 12) as i64, (k % 12) as i64 + 1);
            assert_eq!(i64::from(facts.first), days_from_civil(year, month, 1), "{year}-{month}");
            assert_eq!(i64::from(facts.length), days_in_month(year, month), "{year}-{month}");
            assert_eq!(i64::from(facts.first_weekday), weekday_from_days(i64::from(facts.first)), "{year}-{month}");
            assert_eq!((i64::from(facts.year_offset), i64::from(facts.month)), (year - MONTHS_FIRST_YEAR, month));
        }
        let end = days_from_civil(2200, 1, 1);
        for days in -40..end + 40 {
            let expected = (0..end).contains(&days).then(|| {
                let (year, month, _) = civil_from_days(days);
                ((year - MONTHS_FIRST_YEAR) * 12 + month - 1) as usize
            });
            assert_eq!(month_index(days), expected, "{days}");
        }
    }

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(weekday_from_days(days_from_civil(2026, 11, 23)), 2); // a Monday
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
    }

    #[test]
    fn leap_years_and_month_lengths_follow_the_gregorian_rule() {
        for year in -2000..3000 {
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            assert_eq!(is_leap_year(year), leap, "{year}");
            let days: i64 = (1..=12).map(|m| days_in_month(year, m)).sum();
            assert_eq!(days, days_from_civil(year + 1, 1, 1) - days_from_civil(year, 1, 1), "{year}");
        }
    }

    #[test]
    fn lenient_carries_overflow() {
        assert_eq!(Civil::lenient(2025, 13, 1, 0, 0, 0), Civil::lenient(2026, 1, 1, 0, 0, 0));
        let c = Civil::lenient(2025, 2, 29, 24, 60, 60);
        assert_eq!((c.year, c.month, c.day, c.hour, c.minute, c.second), (2025, 3, 2, 1, 1, 0));
        let c = Civil::lenient(2025, 3, 0, 0, 0, 0);
        assert_eq!((c.month, c.day), (2, 28));
    }

    /// The carrying shortcut must agree with the general path everywhere it applies.
    #[test]
    fn carry_agrees_with_day_counting() {
        for year in [1999, 2000, 2024, 2100] {
            for month in 1..=24 {
                for day in [1, 27, 28, 29, 30, 31, 32, 45, 59, 60, 61, 62] {
                    for (hour, minute, second) in [(0, 0, 0), (23, 59, 60), (24, 60, 0), (24, 60, 60), (47, 119, 119)] {
                        let y = year + (month - 1) / 12;
                        let m = (month - 1) % 12 + 1;
                        let days = days_from_civil(y, m, 1) + day - 1;
                        let general =
                            Civil::from_local_seconds(days * SECS_PER_DAY + hour * 3600 + minute * 60 + second);
                        let got = Civil::lenient(year, month, day, hour, minute, second);
                        assert_eq!(got, general, "{year}-{month}-{day} {hour}:{minute}:{second}");
                    }
                }
            }
        }
    }
}
