//! The next matching wall-clock time, found the way Quartz's `getTimeAfter` finds it.
//!
//! Quartz walks the fields from seconds up to years, and whenever a field has to
//! move it resets the fields below and starts over. Most of the time that finds
//! the smallest matching time, but not always (the nearest-weekday rule, for one,
//! can keep a time of day found for an earlier day). Fire times must be identical
//! to Quartz's, so this is a step-for-step port of that walk on plain integers.
//! Quartz walks a lenient `GregorianCalendar`, which moves a wall time that falls
//! in a daylight-saving gap past the gap; [`WallClock::settle`] does the same
//! after every step, so a skipped wall time never fires.

use crate::civil::{Civil, days_in_month};
use crate::field::{Field, LAST_DAY_OFFSET_END, LAST_DAY_OFFSET_START, MAX_YEAR};
use crate::parse::Spec;
use crate::zone::WallClock;

/// Quartz gives up when the walk passes this year.
const SEARCH_LIMIT_YEAR: i64 = 2999;

const SATURDAY: i64 = 7;
const SUNDAY: i64 = 1;

/// Why Quartz would throw instead of answering: the field has no values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EmptyField(pub(crate) Field);

/// The first wall time at or after `from` that the expression matches (by
/// Quartz's walk), or `None` when there is none up to [`MAX_YEAR`].
///
/// `not_before` is the instant the search started from (`from` is its wall
/// time); Quartz compares nearest-weekday candidates against it.
pub(crate) fn time_after(
    spec: &Spec,
    from: Civil,
    not_before: i64,
    clock: &mut WallClock<'_>,
) -> Result<Option<Civil>, EmptyField> {
    let empty = EmptyField;
    let mut cl = from;
    loop {
        if cl.year > SEARCH_LIMIT_YEAR {
            return Ok(None);
        }

        // Seconds.
        let mut min = cl.minute;
        let sec = match spec.seconds.ceil(cl.second as i32) {
            Some(s) => i64::from(s),
            None => {
                min += 1;
                i64::from(spec.seconds.first().ok_or(empty(Field::Seconds))?)
            }
        };
        // Setting a settled wall time to its own fields changes nothing.
        if (min, sec) != (cl.minute, cl.second) {
            cl = clock.at(cl.year, cl.month, cl.day, cl.hour, min, sec);
        }

        // Minutes.
        let mut hour = cl.hour;
        match spec.minutes.ceil(cl.minute as i32) {
            Some(m) if i64::from(m) == cl.minute => {}
            found => {
                let m = match found {
                    Some(m) => m,
                    None => {
                        hour += 1;
                        spec.minutes.first().ok_or(empty(Field::Minutes))?
                    }
                };
                cl = set_calendar_hour(clock, cl.year, cl.month, cl.day, hour, i64::from(m));
                continue;
            }
        }

        // Hours.
        let mut day = cl.day;
        match spec.hours.ceil(cl.hour as i32) {
            Some(h) if i64::from(h) == cl.hour => {}
            found => {
                let h = match found {
                    Some(h) => h,
                    None => {
                        day += 1;
                        spec.hours.first().ok_or(empty(Field::Hours))?
                    }
                };
                cl = set_calendar_hour(clock, cl.year, cl.month, day, i64::from(h), 0);
                continue;
            }
        }

        // Day of month or day of week.
        let (year, month) = (cl.year, cl.month);
        if spec.day_of_month_specified() {
            match day_of_month(spec, cl, not_before, clock) {
                DayStep::Keep(day) if day == cl.day => {}
                DayStep::Keep(day) => cl = clock.at(year, month, day, cl.hour, cl.minute, cl.second),
                DayStep::Restart(month, day) => {
                    cl = clock.at(year, month, day, 0, 0, 0);
                    continue;
                }
            }
        } else {
            let wanted = spec.first_day_of_week().ok_or(empty(Field::DayOfWeek))?;
            let step = if spec.last_day_of_week {
                last_weekday_of_month(cl, wanted)
            } else if spec.nth_day_of_week != 0 {
                nth_weekday_of_month(cl, wanted, spec.nth_day_of_week)
            } else {
                let current = cl.weekday() as i32;
                let wanted = spec.days_of_week.ceil(current).unwrap_or(wanted);
                weekday(cl, wanted)
            };
            if let DayStep::Restart(month, day) = step {
                cl = clock.at(year, month, day, 0, 0, 0);
                continue;
            }
        }

        if cl.year > i64::from(MAX_YEAR) {
            return Ok(None);
        }

        // Month.
        match spec.months.ceil(cl.month as i32) {
            Some(m) if i64::from(m) == cl.month => {}
            found => {
                let (year, m) = match found {
                    Some(m) => (cl.year, m),
                    None => (cl.year + 1, spec.months.first().ok_or(empty(Field::Month))?),
                };
                cl = clock.at(year, i64::from(m), 1, 0, 0, 0);
                continue;
            }
        }

        // Year.
        match spec.years.ceil(cl.year) {
            Some(y) if y == cl.year => return Ok(Some(cl)),
            Some(y) if y > i64::from(MAX_YEAR) => return Ok(None),
            Some(y) => cl = clock.at(y, 1, 1, 0, 0, 0),
            None => return Ok(None),
        }
    }
}

/// Quartz's `setCalendarHour`: sets the hour (seconds at 0), and when the
/// calendar then shows another hour (a value past 24 from a quirky hour set, or
/// an hour a daylight-saving gap moved) sets `hour + 1` on the normalised
/// calendar. Hour 24 is exempt: it is the carry into the next day.
#[inline]
fn set_calendar_hour(clock: &mut WallClock<'_>, year: i64, month: i64, day: i64, hour: i64, minute: i64) -> Civil {
    let cl = clock.at(year, month, day, hour, minute, 0);
    if cl.hour != hour && hour != 24 {
        return clock.at(cl.year, cl.month, cl.day, hour + 1, cl.minute, cl.second);
    }
    cl
}

/// What the day step decided: keep this day (no restart), or restart the walk
/// at the start of `(month, day)` of the current year (both may overflow).
enum DayStep {
    Keep(i64),
    Restart(i64, i64),
}

/// Quartz's `findSmallestDay`: the first day `>= day` in `set`, where `L-n`
/// entries count from the month's last day.
///
/// Mirrors Quartz exactly, including that a plain day is compared against the
/// `L-n` entry's *encoded* day (`31 - n`), not its real day.
fn smallest_day(day: i64, last_day: i64, set: crate::field::Bits) -> Option<i64> {
    if set.is_empty() {
        return None;
    }
    let from_last = set
        .ceil((i64::from(LAST_DAY_OFFSET_END) - (last_day - day)) as i32)
        .map(|d| i64::from(d - LAST_DAY_OFFSET_START + 1));
    let plain = set.ceil(day as i32).filter(|&d| d < LAST_DAY_OFFSET_START).map(i64::from);
    if let Some(plain) = plain
        && from_last.is_none_or(|l| plain < l)
        && plain <= last_day
    {
        return Some(plain);
    }
    from_last.map(|l| l + last_day - i64::from(LAST_DAY_OFFSET_START) + 1)
}

fn day_of_month(spec: &Spec, cl: Civil, not_before: i64, clock: &mut WallClock<'_>) -> DayStep {
    let (year, month, today) = (cl.year, cl.month, cl.day);
    let last_day = days_in_month(year, month);
    let smallest = smallest_day(today, last_day, spec.days_of_month);
    let mut day = -1;
    if let Some(base) = smallest_day(today, last_day, spec.nearest_weekdays) {
        let dow = clock.settle(Civil::lenient(year, month, base, 0, 0, 0)).weekday();
        day = nearest_weekday_to(base, last_day, dow);
        // Quartz drops the candidate when it lies before the start, keeping the
        // time of day already found (it does not reset it to midnight).
        if clock.instant(Civil::lenient(year, month, day, cl.hour, cl.minute, cl.second)) < not_before {
            day = -1;
        }
    }
    match smallest {
        Some(s) if day == -1 || s < day => {
            if s != today {
                DayStep::Restart(month, s)
            } else {
                DayStep::Keep(s)
            }
        }
        None if day == -1 => DayStep::Restart(month + 1, 1),
        _ => DayStep::Keep(day),
    }
}

/// The weekday nearest to day `base` (weekday `weekday`) of a month of `last` days,
/// without leaving the month (Quartz's `W`): Saturday moves to Friday (the 1st to Monday
/// the 3rd), Sunday to Monday (the last day to Friday).
#[inline]
pub(crate) fn nearest_weekday_to(base: i64, last: i64, weekday: i64) -> i64 {
    match weekday {
        SATURDAY if base == 1 => base + 2,
        SATURDAY => base - 1,
        SUNDAY if base == last => base - 2,
        SUNDAY => base + 1,
        _ => base,
    }
}

/// How many days from weekday `current` to weekday `wanted` (Java int arithmetic).
fn days_until(current: i32, wanted: i32) -> i32 {
    if current < wanted {
        wanted.wrapping_sub(current)
    } else if current > wanted {
        wanted.wrapping_add(7 - current)
    } else {
        0
    }
}

/// Day-of-week `nL`: the last `wanted` weekday of the month.
fn last_weekday_of_month(cl: Civil, wanted: i32) -> DayStep {
    let mut add = days_until(cl.weekday() as i32, wanted);
    let last_day = days_in_month(cl.year, cl.month) as i32;
    let day = cl.day as i32;
    if day.wrapping_add(add) > last_day {
        return DayStep::Restart(cl.month + 1, 1);
    }
    while day.wrapping_add(add).wrapping_add(7) <= last_day {
        add += 7;
    }
    if add > 0 { DayStep::Restart(cl.month, i64::from(day.wrapping_add(add))) } else { DayStep::Keep(cl.day) }
}

/// Day-of-week `n#k`: the k-th `wanted` weekday of the month.
fn nth_weekday_of_month(cl: Civil, wanted: i32, nth: i32) -> DayStep {
    let add = days_until(cl.weekday() as i32, wanted);
    let shifted = add > 0;
    let mut day = (cl.day as i32).wrapping_add(add);
    let mut week = day / 7;
    if day % 7 > 0 {
        week += 1;
    }
    let add = nth.wrapping_sub(week).wrapping_mul(7);
    day = day.wrapping_add(add);
    if add < 0 || i64::from(day) > days_in_month(cl.year, cl.month) {
        DayStep::Restart(cl.month + 1, 1)
    } else if add > 0 || shifted {
        DayStep::Restart(cl.month, i64::from(day))
    } else {
        DayStep::Keep(cl.day)
    }
}

/// Plain day-of-week: the next listed weekday, within this month.
fn weekday(cl: Civil, wanted: i32) -> DayStep {
    let add = days_until(cl.weekday() as i32, wanted);
    let day = (cl.day as i32).wrapping_add(add);
    if i64::from(day) > days_in_month(cl.year, cl.month) {
        DayStep::Restart(cl.month + 1, 1)
    } else if add > 0 {
        DayStep::Restart(cl.month, i64::from(day))
    } else {
        DayStep::Keep(cl.day)
    }
}
