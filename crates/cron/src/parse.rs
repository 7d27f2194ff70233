//! A scanner that accepts exactly what Quartz 2.5.2's `CronExpression` accepts.
//!
//! Quartz reads each comma-separated item left to right and often stops early,
//! ignoring the rest of the item (`MON-FRI/2` is `MON-FRI`, `1.5` is `1`). Those
//! quirks are part of the contract: an expression that works in Quartz must work
//! here with the same meaning, and one Quartz rejects must be rejected. So this
//! module follows Quartz's scanner branch by branch, but reports each failure as
//! a [`CronError`] that names the field and the fix.

use crate::civil::{Civil, SECS_PER_DAY, days_from_civil};
use crate::error::{CronError, Problem};
use crate::eval::{EmptyField, time_after};
use crate::field::{
    ALL_SPEC, Bits, Field, LAST_DAY_OFFSET_END, MAX_LAST_DAY_OFFSET, MAX_YEAR, MIN_YEAR, NO_SPEC, Years,
};
use crate::shortcut::Shortcut;
use crate::zone::Zone;

/// The value sets of a parsed expression, in Quartz's own encoding.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Spec {
    pub(crate) seconds: Bits,
    pub(crate) minutes: Bits,
    pub(crate) hours: Bits,
    /// Plain days 1..=31, `L-n` as 62-n, and the markers 98 (`?`) / 99 (`*`).
    pub(crate) days_of_month: Bits,
    /// `nW` days and `L-nW` as 62-n.
    pub(crate) nearest_weekdays: Bits,
    pub(crate) months: Bits,
    /// 1 = Sunday … 7 = Saturday, plus markers; `n#k` may add any number.
    pub(crate) days_of_week: Bits,
    /// The smallest day-of-week value of 128 or more (only `n#k` can add one).
    pub(crate) days_of_week_overflow: Option<i32>,
    pub(crate) years: Years,
    /// Day-of-week `nL`: the last such weekday of the month.
    pub(crate) last_day_of_week: bool,
    /// Day-of-week `n#k`: k, or 0.
    pub(crate) nth_day_of_week: i32,
    /// Masks for the common case, when the walk can be skipped (see [`Shortcut`]).
    pub(crate) shortcut: Option<Shortcut>,
    /// Where a search that starts earlier may start instead (Unix seconds):
    /// January 1st, two years before the first listed year. Quartz's walk from
    /// any earlier start reaches that year in the same state (it moves a month
    /// or a year at a time and keeps nothing else), so the answers agree, and a
    /// start in year -10^9 no longer walks a billion years. `None`: no year.
    pub(crate) earliest_start: Option<i64>,
}

impl Spec {
    /// The smallest day-of-week value, like `daysOfWeek.first()`.
    pub(crate) fn first_day_of_week(&self) -> Option<i32> {
        match (self.days_of_week.first(), self.days_of_week_overflow) {
            (Some(a), _) => Some(a),
            (None, b) => b,
        }
    }

    pub(crate) fn day_of_month_specified(&self) -> bool {
        !self.days_of_month.contains(NO_SPEC)
    }

    pub(crate) fn day_of_week_specified(&self) -> bool {
        !self.days_of_week.contains(NO_SPEC)
    }
}

/// Parses `expression` the way `new CronExpression(expression)` does.
pub(crate) fn parse(expression: &str) -> Result<Spec, CronError> {
    let upper: Vec<char> = expression.to_uppercase().chars().collect();
    let mut tokens: [&[char]; 7] = [&[]; 7];
    let mut count = 0;
    for token in upper.split(|&c| c == ' ' || c == '\t').filter(|t| !t.is_empty()) {
        if count < tokens.len() {
            tokens[count] = token;
        }
        count += 1;
    }
    if count > 7 {
        return Err(CronError::new(None, expression, Problem::TooManyFields { found: count }));
    }
    let mut parser = Parser { spec: Spec::default() };
    for (&token, field) in tokens[..count].iter().zip(Field::ALL) {
        let fail = |problem| CronError::new(Some(field), text(token), problem);
        if field == Field::DayOfWeek {
            if token.contains(&'L') && token.len() > 1 && token.contains(&',') {
                return Err(fail(Problem::LastWithList));
            }
            if token.iter().filter(|&&c| c == '#').count() > 1 {
                return Err(fail(Problem::MultipleNth));
            }
        }
        for item in token.split(|&c| c == ',').filter(|i| !i.is_empty()) {
            parser.item(item, field).map_err(|problem| CronError::new(Some(field), text(item), problem))?;
        }
    }
    if count < 6 {
        return Err(CronError::new(None, expression, Problem::TooFewFields { found: count }));
    }
    if count < 7 {
        tokens[Field::Year as usize] = &['*'];
        parser.item(&['*'], Field::Year).expect("`*` is a valid year");
    }
    let mut spec = parser.spec;
    if spec.day_of_month_specified() == spec.day_of_week_specified() {
        let both = format!("{} {}", text(tokens[Field::DayOfMonth as usize]), text(tokens[Field::DayOfWeek as usize]));
        return Err(CronError::new(Some(Field::DayOfWeek), both, Problem::BothDaysSpecified));
    }
    if let Some(field) = unevaluable(&spec) {
        return Err(CronError::new(Some(field), text(tokens[field as usize]), Problem::NoValues));
    }
    spec.shortcut = Shortcut::new(&spec);
    spec.earliest_start = spec.years.first().map(|year| days_from_civil(i64::from(year) - 2, 1, 1) * SECS_PER_DAY);
    Ok(spec)
}

fn text(chars: &[char]) -> String {
    chars.iter().collect()
}

/// Quartz parses some expressions it then cannot evaluate: a field left with no
/// values (`,` alone, or `L` in the month field) makes the first
/// `getNextValidTimeAfter` throw. Whether it throws does not depend on the start
/// time, so one probe decides; such expressions are refused at parse time.
fn unevaluable(spec: &Spec) -> Option<Field> {
    let may_throw = spec.seconds.is_empty()
        || spec.minutes.is_empty()
        || spec.hours.is_empty()
        || spec.months.is_empty()
        || (spec.day_of_week_specified() && spec.first_day_of_week().is_none());
    if !may_throw {
        return None;
    }
    let utc = Zone::utc();
    let probe = Civil::lenient(2000, 1, 1, 0, 0, 0);
    match time_after(spec, probe, 946_684_800, &mut utc.wall_clock()) {
        Ok(_) => None,
        Err(EmptyField(field)) => Some(field),
    }
}

struct Parser {
    spec: Spec,
}

type Step<T = ()> = Result<T, Problem>;

/// `s.charAt(i)`, where Java would throw `StringIndexOutOfBoundsException`.
fn char_at(s: &[char], i: usize, missing: Problem) -> Step<char> {
    s.get(i).copied().ok_or(missing)
}

/// `Integer.parseInt(String.valueOf(c))` for one character.
fn digit(c: char, not_digit: Problem) -> Step<i32> {
    c.to_digit(10).map(|d| d as i32).ok_or(not_digit)
}

/// `Integer.parseInt(s)`: an optional sign and at least one digit, within `i32`.
fn java_parse_int(s: &[char]) -> Option<i32> {
    let (negative, digits) = match s.first() {
        Some('-') => (true, &s[1..]),
        Some('+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    for c in digits {
        value = value * 10 + i64::from(c.to_digit(10)?);
        if value > i64::from(i32::MAX) + 1 {
            return None;
        }
    }
    let value = if negative { -value } else { value };
    i32::try_from(value).ok()
}

/// Quartz's `getValue`: `prefix` followed by the digits from `i`, and the position after them.
///
/// The position is one past the end when the digits reach the end of the item.
fn get_value(prefix: i32, s: &[char], i: usize) -> Step<(i32, usize)> {
    char_at(s, i, Problem::RangeEndMissing)?;
    let mut value = i64::from(prefix);
    let mut at = i;
    while let Some(d) = s.get(at).and_then(|c| c.to_digit(10)) {
        value = value * 10 + i64::from(d);
        if value > i64::from(i32::MAX) {
            return Err(Problem::NumberTooLarge);
        }
        at += 1;
    }
    let pos = if at < s.len() { at } else { at + 1 };
    Ok((value as i32, pos))
}

fn month_number(name: &[char]) -> Option<i32> {
    const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
    MONTHS.iter().position(|m| m.chars().eq(name.iter().copied())).map(|i| i as i32 + 1)
}

fn day_number(name: &[char]) -> Option<i32> {
    const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    DAYS.iter().position(|d| d.chars().eq(name.iter().copied())).map(|i| i as i32 + 1)
}

/// `s.matches("^L-[0-9]*[W]?")`.
fn is_last_day_offset(s: &[char]) -> bool {
    let Some(rest) = s.strip_prefix(&['L', '-']) else {
        return false;
    };
    let rest = rest.strip_suffix(&['W']).unwrap_or(rest);
    rest.iter().all(char::is_ascii_digit)
}

fn name(s: &[char]) -> String {
    s.iter().collect()
}

fn check_step(step: i32, field: Field) -> Step {
    let max = match field {
        Field::Seconds | Field::Minutes => 59,
        Field::Hours => 23,
        Field::DayOfMonth => 31,
        Field::DayOfWeek => 7,
        Field::Month => 12,
        Field::Year => return Ok(()),
    };
    if step > max { Err(Problem::StepTooLarge { step: i64::from(step), max: i64::from(max) }) } else { Ok(()) }
}

impl Parser {
    fn set(&mut self, field: Field) -> &mut Bits {
        match field {
            Field::Seconds => &mut self.spec.seconds,
            Field::Minutes => &mut self.spec.minutes,
            Field::Hours => &mut self.spec.hours,
            Field::DayOfMonth => &mut self.spec.days_of_month,
            Field::Month => &mut self.spec.months,
            Field::DayOfWeek => &mut self.spec.days_of_week,
            Field::Year => unreachable!("years are stored in `Years`"),
        }
    }

    /// `set.add(value)` without any range check, as Quartz does for `nL`, `n#k`, `?`.
    fn add(&mut self, field: Field, value: i32) {
        match field {
            Field::Year => self.spec.years.insert(value),
            Field::DayOfWeek if value >= 128 => {
                let low = self.spec.days_of_week_overflow.map_or(value, |m| m.min(value));
                self.spec.days_of_week_overflow = Some(low);
            }
            _ => {
                self.set(field).insert(value);
            }
        }
    }

    /// Quartz's `storeExpressionVals` for one comma-separated item.
    fn item(&mut self, s: &[char], field: Field) -> Step {
        let Some(&c) = s.first() else { return Ok(()) };
        let is_last_day = s == ['L'] || s == ['L', 'W'] || is_last_day_offset(s);
        if c.is_ascii_uppercase() && !is_last_day {
            return self.named(s, field);
        }
        match c {
            '?' => self.no_specific_value(s, field),
            '*' | '/' => self.every(s, field),
            'L' => self.last(s, field),
            '0'..='9' => {
                let mut value = digit(c, Problem::UnexpectedCharacter { found: c })?;
                let mut i = 1;
                if i >= s.len() {
                    return self.add_to_set(field, value, -1, -1);
                }
                if s[i].is_ascii_digit() {
                    (value, i) = get_value(value, s, i)?;
                }
                self.after_number(i, s, value, field)
            }
            found => Err(Problem::UnexpectedCharacter { found }),
        }
    }

    /// Month and day names: `JAN`, `MON-FRI`, `FRI#3`, `FRIL`. Text after the name is ignored.
    fn named(&mut self, s: &[char], field: Field) -> Step {
        let sub = s.get(0..3).ok_or(Problem::ShortName)?;
        let lookup: fn(&[char]) -> Option<i32> = match field {
            Field::Month => month_number,
            Field::DayOfWeek => day_number,
            _ => return Err(Problem::UnknownName { name: name(sub) }),
        };
        let start = lookup(sub).ok_or_else(|| Problem::UnknownName { name: name(sub) })?;
        let mut end = -1;
        match s.get(3) {
            Some('-') => {
                let sub = s.get(4..7).ok_or(Problem::ShortName)?;
                end = lookup(sub).ok_or_else(|| Problem::UnknownName { name: name(sub) })?;
            }
            Some('#') if field == Field::DayOfWeek => {
                let nth = java_parse_int(&s[4..]).filter(|n| (1..=5).contains(n));
                self.spec.nth_day_of_week = nth.ok_or(Problem::NthOutOfRange)?;
            }
            Some('L') if field == Field::DayOfWeek => self.spec.last_day_of_week = true,
            _ => {}
        }
        let step = if end != -1 { 1 } else { 0 };
        self.add_to_set(field, start, end, step)
    }

    fn no_specific_value(&mut self, s: &[char], field: Field) -> Step {
        // Quartz only looks at the two characters after `?`.
        if s.len() > 2 && s[1] != ' ' && s[2] != '\t' {
            return Err(Problem::TextAfterQuestionMark);
        }
        if !matches!(field, Field::DayOfMonth | Field::DayOfWeek) {
            return Err(Problem::QuestionMarkNotAllowed);
        }
        if field == Field::DayOfWeek && self.spec.days_of_month.last() == Some(NO_SPEC) {
            return Err(Problem::QuestionMarkInBothDays);
        }
        self.add_to_set(field, NO_SPEC, -1, 0)
    }

    /// `*`, `*/n`, `/n`.
    fn every(&mut self, s: &[char], field: Field) -> Step {
        let mut i = 0;
        if s[0] == '*' && s.len() == 1 {
            return self.add_to_set(field, ALL_SPEC, -1, 0);
        }
        if s[0] == '/' && (s.len() == 1 || s[1] == ' ' || s[1] == '\t') {
            return Err(Problem::StepMissing);
        }
        if s[0] == '*' {
            i += 1;
        }
        let step = if s[i] == '/' {
            i += 1;
            if i >= s.len() {
                return Err(Problem::StepMissing);
            }
            let step = java_parse_int(&s[i..]).ok_or(Problem::StepNotNumber)?;
            check_step(step, field)?;
            step
        } else {
            1
        };
        self.add_to_set(field, ALL_SPEC, -1, step)
    }

    /// `L`, `LW`, `L-n`, `L-nW` (day-of-month) and `L` (day-of-week: Saturday).
    fn last(&mut self, s: &[char], field: Field) -> Step {
        if field < Field::DayOfMonth {
            return Err(Problem::LastNotAllowed);
        }
        let mut i = 1;
        match field {
            Field::DayOfWeek => self.add_to_set(field, 7, 7, 0)?,
            Field::DayOfMonth => {
                let mut day = LAST_DAY_OFFSET_END;
                let mut nearest_weekday = false;
                if s.len() > i {
                    if s[i] == '-' {
                        let (offset, pos) = get_value(0, s, i + 1)?;
                        if offset > MAX_LAST_DAY_OFFSET {
                            return Err(Problem::LastOffsetTooLarge);
                        }
                        day -= offset;
                        i = pos;
                    }
                    if s.len() > i && s[i] == 'W' {
                        nearest_weekday = true;
                    }
                }
                if nearest_weekday {
                    self.spec.nearest_weekdays.insert(day);
                } else {
                    self.spec.days_of_month.insert(day);
                }
            }
            // `L` in month or year adds nothing (see `Problem::NoValues`).
            _ => {}
        }
        Ok(())
    }

    /// Quartz's `checkNext`: what follows a number (`L`, `W`, `#`, `-`, `/` or nothing).
    fn after_number(&mut self, i: usize, s: &[char], value: i32, field: Field) -> Step {
        let Some(&c) = s.get(i) else {
            return self.add_to_set(field, value, -1, -1);
        };
        match c {
            'L' => {
                if field != Field::DayOfWeek {
                    return Err(Problem::LastNotAllowed);
                }
                if !(1..=7).contains(&value) {
                    return Err(Problem::OutOfRange);
                }
                self.spec.last_day_of_week = true;
                self.add(field, value);
                Ok(())
            }
            'W' => {
                if field != Field::DayOfMonth {
                    return Err(Problem::WeekdayNotAllowed);
                }
                if value > 31 {
                    return Err(Problem::WeekdayDayTooLarge);
                }
                self.spec.nearest_weekdays.insert(value);
                Ok(())
            }
            '#' => {
                if field != Field::DayOfWeek {
                    return Err(Problem::NthNotAllowed);
                }
                let nth = java_parse_int(&s[i + 1..]).filter(|n| (1..=5).contains(n));
                self.spec.nth_day_of_week = nth.ok_or(Problem::NthOutOfRange)?;
                self.add(field, value);
                Ok(())
            }
            '-' => {
                let mut i = i + 1;
                let first = digit(char_at(s, i, Problem::RangeEndMissing)?, Problem::RangeEndMissing)?;
                let mut end = first;
                i += 1;
                if i >= s.len() {
                    return self.add_to_set(field, value, end, 1);
                }
                if s[i].is_ascii_digit() {
                    (end, i) = get_value(first, s, i)?;
                }
                if s.get(i) != Some(&'/') {
                    return self.add_to_set(field, value, end, 1);
                }
                i += 1;
                let step = digit(char_at(s, i, Problem::StepMissing)?, Problem::StepNotNumber)?;
                i += 1;
                let step = match s.get(i) {
                    Some(c) if c.is_ascii_digit() => get_value(step, s, i)?.0,
                    _ => step,
                };
                self.add_to_set(field, value, end, step)
            }
            '/' => {
                if matches!(s.get(i + 1), None | Some(' ' | '\t')) {
                    return Err(Problem::StepMissing);
                }
                let first = digit(s[i + 1], Problem::StepNotNumber)?;
                let step = match s.get(i + 2) {
                    None => first,
                    Some(c) if c.is_ascii_digit() => get_value(first, s, i + 2)?.0,
                    Some(&found) => return Err(Problem::UnexpectedCharacter { found }),
                };
                check_step(step, field)?;
                self.add_to_set(field, value, -1, step)
            }
            _ => self.add_to_set(field, value, -1, 0),
        }
    }

    /// Quartz's `addToSet`: range checks, then the values `value..=end` every `step`,
    /// wrapping around the field's maximum when `end < value`.
    fn add_to_set(&mut self, field: Field, value: i32, end: i32, step: i32) -> Step {
        let marker = value == ALL_SPEC || (value == NO_SPEC && matches!(field, Field::DayOfMonth | Field::DayOfWeek));
        let (min, max) = match field {
            Field::Seconds | Field::Minutes => (0, 59),
            Field::Hours => (0, 23),
            Field::DayOfMonth => (1, 31),
            Field::Month => (1, 12),
            Field::DayOfWeek => (1, 7),
            Field::Year => (i32::MIN, i32::MAX),
        };
        if !marker && (value < min || value > max || end > max) {
            return Err(Problem::OutOfRange);
        }
        if (step == 0 || step == -1) && value != ALL_SPEC {
            self.add(field, if value != -1 { value } else { NO_SPEC });
            return Ok(());
        }
        let mut step = step;
        if value == ALL_SPEC && step <= 0 {
            step = 1;
            self.add(field, ALL_SPEC);
        }
        let (default_start, default_stop) = match field {
            Field::Year => (MIN_YEAR, MAX_YEAR),
            _ => (min, max),
        };
        let start = if value == -1 || value == ALL_SPEC { default_start } else { value };
        let mut stop = if end == -1 { default_stop } else { end };
        let modulus = if stop < start {
            let modulus = match field {
                Field::Seconds | Field::Minutes => 60,
                Field::Hours => 24,
                Field::Month => 12,
                Field::DayOfWeek => 7,
                Field::DayOfMonth => 31,
                Field::Year => return Err(Problem::ReversedYearRange),
            };
            stop += modulus;
            Some(modulus)
        } else {
            None
        };
        if field == Field::Year {
            // Years past MAX_YEAR never fire, so the walk can stop there.
            stop = stop.min(MAX_YEAR);
        }
        let step = i64::from(step);
        if field == Field::Year {
            self.spec.years.insert_every(i64::from(start), i64::from(stop), step);
            return Ok(());
        }
        let mut v = i64::from(start);
        while v <= i64::from(stop) {
            let value = match modulus {
                // Values of 128 and more are not stored (only the smallest one,
                // for day-of-week `n#k`), and without a wrap-around every later
                // value is larger: stop there rather than count to `i32::MAX`.
                None if v >= 128 => {
                    self.add(field, v as i32);
                    break;
                }
                None => v as i32,
                Some(m) => {
                    let wrapped = (v % i64::from(m)) as i32;
                    if wrapped == 0 && matches!(field, Field::Month | Field::DayOfWeek | Field::DayOfMonth) {
                        m
                    } else {
                        wrapped
                    }
                }
            };
            self.add(field, value);
            v += step;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(expr: &str) -> Spec {
        parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    fn values(b: Bits) -> Vec<i32> {
        b.iter().collect()
    }

    #[test]
    fn wrap_around_ranges() {
        assert_eq!(values(spec("0 0 22-2 * * ?").hours), vec![0, 1, 2, 22, 23]);
        assert_eq!(values(spec("0 0 0 ? * FRI-MON").days_of_week), vec![1, 2, 6, 7]);
        assert_eq!(values(spec("0 0 0 ? NOV-FEB *").months), vec![1, 2, 11, 12]);
        assert_eq!(values(spec("50-10/5 * * * * ?").seconds), vec![0, 5, 10, 50, 55]);
    }

    #[test]
    fn steps() {
        assert_eq!(values(spec("0 0 0 ? 7/6 *").months), vec![7]);
        assert_eq!(values(spec("*/20 * * * * ?").seconds), vec![0, 20, 40]);
        assert_eq!(values(spec("/20 * * * * ?").seconds), vec![0, 20, 40]);
        assert_eq!(values(spec("5/0 * * * * ?").seconds), vec![5]);
        assert_eq!(values(spec("0 0 0 1-31/40 * ?").days_of_month), vec![1]);
    }

    #[test]
    fn quartz_quirks_are_mirrored() {
        assert_eq!(values(spec("0 0 0 ? * MON-FRI/2").days_of_week), vec![2, 3, 4, 5, 6]);
        assert_eq!(values(spec("1.5 0 0 * * ?").seconds), vec![1]);
        assert_eq!(values(spec("0 0 0 ? JANUARY *").months), vec![1]);
        assert!(spec("0 0 0 ?? * MON").days_of_month.contains(NO_SPEC));
        let s = spec("0 0 0 ? * 3,2#1");
        assert_eq!((s.first_day_of_week(), s.nth_day_of_week), (Some(2), 1));
        // `99` is Quartz's own `*` marker, so it means "every second".
        assert_eq!(spec("99 0 0 * * ?").seconds.count_in(0, 59), 60);
        let s = spec("0 0 0 L-2W * ?");
        assert!(s.nearest_weekdays.contains(60));
    }

    #[test]
    fn rejections_name_the_field() {
        for (expr, field) in [
            ("60 * * * * ?", Field::Seconds),
            ("0 0 24 * * ?", Field::Hours),
            ("0 0 12 ? * MON#6", Field::DayOfWeek),
            ("0 0 12 L-31 * ?", Field::DayOfMonth),
            ("0 0 12 1 JAN-FOO ?", Field::Month),
            ("0 0 12 ? * 1 2030-2020", Field::Year),
            ("0 L 12 * * ?", Field::Minutes),
        ] {
            let err = parse(expr).unwrap_err();
            assert_eq!(err.field(), Some(field), "{expr}: {err}");
        }
        assert_eq!(parse("0 0 12 * *").unwrap_err().field(), None);
    }
}
