//! Why an expression was rejected, with the field, the offending text and the fix.

use std::fmt;

use crate::field::Field;

/// A cron expression Quartz 2.5.2 would not accept.
///
/// `Display` names the field, quotes the text, says what is wrong and what Quartz
/// accepts there, e.g. ``day-of-week field (6th) `MON#6`: the week after '#' must be
/// 1-5 …``.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct CronError {
    field: Option<Field>,
    text: String,
    problem: Problem,
}

/// What exactly was wrong. Each variant's message also says how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// Fewer than six fields.
    TooFewFields { found: usize },
    /// More than seven fields.
    TooManyFields { found: usize },
    /// A number outside the field's range.
    OutOfRange,
    /// A letter sequence where only numbers are allowed, or an unknown name.
    UnknownName { name: String },
    /// Fewer than three letters where a month or day name was expected.
    ShortName,
    /// `?` outside day-of-month/day-of-week.
    QuestionMarkNotAllowed,
    /// `?` followed by more text.
    TextAfterQuestionMark,
    /// `?` in both day fields.
    QuestionMarkInBothDays,
    /// Neither day field is `?`.
    BothDaysSpecified,
    /// `/` with no number after it.
    StepMissing,
    /// A step that is not a number.
    StepNotNumber,
    /// A step larger than the field allows.
    StepTooLarge { step: i64, max: i64 },
    /// `L` in seconds, minutes or hours, or after a number outside day-of-week.
    LastNotAllowed,
    /// `L-n` with n > 30.
    LastOffsetTooLarge,
    /// `L` combined with a list in day-of-week.
    LastWithList,
    /// `W` outside day-of-month.
    WeekdayNotAllowed,
    /// `nW` with n > 31.
    WeekdayDayTooLarge,
    /// `#` outside day-of-week.
    NthNotAllowed,
    /// `#` not followed by 1-5.
    NthOutOfRange,
    /// Two `#` in day-of-week.
    MultipleNth,
    /// A range `a-` without an end, or with a non-numeric end.
    RangeEndMissing,
    /// A reversed range in the year field.
    ReversedYearRange,
    /// A number too large to read.
    NumberTooLarge,
    /// A character that cannot start a value.
    UnexpectedCharacter { found: char },
    /// The field parses to no values, which Quartz cannot evaluate.
    NoValues,
}

impl CronError {
    pub(crate) fn new(field: Option<Field>, text: impl Into<String>, problem: Problem) -> Self {
        CronError { field, text: text.into(), problem }
    }

    /// The field at fault, or `None` for an expression-level problem (field count).
    pub fn field(&self) -> Option<Field> {
        self.field
    }

    /// The text that was rejected: the field's item, or the whole expression.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// What was wrong.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }

    fn render(&self) -> String {
        let what = self.problem.describe(self.field);
        match self.field {
            Some(field) => format!(
                "{field} field ({}) `{}`: {what}; Quartz accepts {} there",
                ordinal(field.position()),
                self.text,
                field.accepts()
            ),
            None => format!("cron expression `{}`: {what}", self.text),
        }
    }
}

impl Problem {
    fn describe(&self, field: Option<Field>) -> String {
        let range = match field {
            Some(Field::Seconds | Field::Minutes) => "0-59",
            Some(Field::Hours) => "0-23",
            Some(Field::DayOfMonth) => "1-31",
            Some(Field::Month) => "1-12",
            Some(Field::DayOfWeek) => "1-7",
            _ => "the field's range",
        };
        match self {
            Problem::TooFewFields { found } => format!(
                "has {found} field(s), Quartz needs 6 or 7: seconds minutes hours day-of-month month day-of-week [year], e.g. `0 15 10 ? * MON-FRI`"
            ),
            Problem::TooManyFields { found } => format!(
                "has {found} fields, Quartz allows at most 7: seconds minutes hours day-of-month month day-of-week [year]"
            ),
            Problem::OutOfRange => format!("a value is outside {range}"),
            Problem::UnknownName { name } => match field {
                Some(Field::Month) => format!("`{name}` is not a month name; use JAN-DEC"),
                Some(Field::DayOfWeek) => format!("`{name}` is not a day name; use SUN-SAT"),
                _ => format!("names like `{name}` are only allowed in the month and day-of-week fields"),
            },
            Problem::ShortName => "a name must have three letters (JAN-DEC, SUN-SAT)".into(),
            Problem::QuestionMarkNotAllowed => "`?` is only allowed in day-of-month or day-of-week".into(),
            Problem::TextAfterQuestionMark => "`?` must stand alone".into(),
            Problem::QuestionMarkInBothDays => {
                "`?` can be in day-of-month or day-of-week, not both; put a value in one of them".into()
            }
            Problem::BothDaysSpecified => {
                "day-of-month and day-of-week are both set; Quartz needs `?` in exactly one of them, e.g. `0 0 12 ? * MON` or `0 0 12 15 * ?`".into()
            }
            Problem::StepMissing => "`/` must be followed by a number, e.g. `0/15`".into(),
            Problem::StepNotNumber => "the step after `/` must be a number, e.g. `0/15`".into(),
            Problem::StepTooLarge { step, max } => format!("step {step} is larger than {max}"),
            Problem::LastNotAllowed => {
                "`L` is only allowed in day-of-month (`L`, `L-3`, `LW`) and day-of-week (`L`, `6L`)".into()
            }
            Problem::LastOffsetTooLarge => "the offset in `L-n` must be 0-30".into(),
            Problem::LastWithList => {
                "`L` cannot be combined with a list in day-of-week; use a single `nL`, e.g. `6L` for the last Friday".into()
            }
            Problem::WeekdayNotAllowed => "`W` (nearest weekday) is only allowed in day-of-month, e.g. `15W`".into(),
            Problem::WeekdayDayTooLarge => "`nW` needs a day of 1-31".into(),
            Problem::NthNotAllowed => "`#` is only allowed in day-of-week, e.g. `6#3` for the third Friday".into(),
            Problem::NthOutOfRange => {
                "the week after `#` must be a number 1-5, e.g. `6#3` for the third Friday".into()
            }
            Problem::MultipleNth => "only one `n#k` is supported in day-of-week".into(),
            Problem::RangeEndMissing => format!("a range needs a numeric end, e.g. `1-5` (values {range})"),
            Problem::ReversedYearRange => "a year range must not end before it starts, e.g. `2025-2030`".into(),
            Problem::NumberTooLarge => "a number is too large".into(),
            Problem::UnexpectedCharacter { found } => format!("unexpected character `{found}`"),
            Problem::NoValues => "the field has no values (only commas, or `L` where it means nothing)".into(),
        }
    }
}

fn ordinal(n: usize) -> String {
    let suffix = match n {
        1 => "st",
        2 => "nd",
        3 => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cron;

    /// One expression per [`Problem`] variant: the message names the field (or
    /// the expression), quotes the text, and says what Quartz accepts.
    #[test]
    fn every_problem_names_its_field_and_what_quartz_accepts() {
        let cases: &[(&str, Option<Field>, &str)] = &[
            ("0 0 12 * *", None, "has 5 field(s), Quartz needs 6 or 7"),
            ("0 0 12 * * ? 2030 x", None, "has 8 fields, Quartz allows at most 7"),
            ("60 * * * * ?", Some(Field::Seconds), "a value is outside 0-59"),
            ("0 0 12 ? * FOO", Some(Field::DayOfWeek), "`FOO` is not a day name; use SUN-SAT"),
            ("0 0 12 1 FOO ?", Some(Field::Month), "`FOO` is not a month name; use JAN-DEC"),
            ("0 FOO 12 * * ?", Some(Field::Minutes), "names like `FOO` are only allowed in the month and day-of-week"),
            ("0 0 12 ? * MO", Some(Field::DayOfWeek), "a name must have three letters"),
            ("? 0 12 * * ?", Some(Field::Seconds), "`?` is only allowed in day-of-month or day-of-week"),
            ("0 0 12 ??? * MON", Some(Field::DayOfMonth), "`?` must stand alone"),
            ("0 0 12 ? * ?", Some(Field::DayOfWeek), "not both"),
            ("0 0 12 15 * MON", Some(Field::DayOfWeek), "both set; Quartz needs `?` in exactly one"),
            ("0/ * * * * ?", Some(Field::Seconds), "`/` must be followed by a number"),
            ("*/x * * * * ?", Some(Field::Seconds), "the step after `/` must be a number"),
            ("*/61 * * * * ?", Some(Field::Seconds), "step 61 is larger than 59"),
            ("0 L 12 * * ?", Some(Field::Minutes), "`L` is only allowed in day-of-month"),
            ("0 0 12 L-31 * ?", Some(Field::DayOfMonth), "the offset in `L-n` must be 0-30"),
            ("0 0 12 ? * 5L,6", Some(Field::DayOfWeek), "`L` cannot be combined with a list"),
            ("0 0 12W * * ?", Some(Field::Hours), "`W` (nearest weekday) is only allowed in day-of-month"),
            ("0 0 12 32W * ?", Some(Field::DayOfMonth), "`nW` needs a day of 1-31"),
            ("0 0 12 1#2 * ?", Some(Field::DayOfMonth), "`#` is only allowed in day-of-week"),
            ("0 0 12 ? * MON#6", Some(Field::DayOfWeek), "the week after `#` must be a number 1-5"),
            ("0 0 12 ? * 1#1,2#2", Some(Field::DayOfWeek), "only one `n#k`"),
            ("0 0 1- * * ?", Some(Field::Hours), "a range needs a numeric end"),
            ("0 0 12 ? * 1 2030-2020", Some(Field::Year), "a year range must not end before it starts"),
            ("0 0 99999999999 * * ?", Some(Field::Hours), "a number is too large"),
            ("0 0 -1 * * ?", Some(Field::Hours), "unexpected character `-`"),
            ("0 0 12 1 L ?", Some(Field::Month), "the field has no values"),
        ];
        let mut variants = std::collections::HashSet::new();
        for &(expr, field, says) in cases {
            let err = Cron::parse(expr).expect_err(expr);
            let message = err.to_string();
            assert_eq!(err.field(), field, "{expr}: {message}");
            assert!(message.contains(says), "{expr}: {message:?} does not say {says:?}");
            assert!(message.contains(&format!("`{}`", err.text())), "{expr}: {message:?} does not quote the text");
            match field {
                Some(field) => {
                    let names = format!("{field} field ({}) ", ordinal(field.position()));
                    assert!(message.starts_with(&names), "{expr}: {message:?} does not name the field");
                    assert!(
                        message.ends_with(&format!("Quartz accepts {} there", field.accepts())),
                        "{expr}: {message:?}"
                    );
                }
                None => assert!(message.starts_with("cron expression `"), "{expr}: {message:?}"),
            }
            variants.insert(std::mem::discriminant(err.problem()));
        }
        // Every variant of `Problem` is covered above.
        assert_eq!(variants.len(), 25);
    }

    #[test]
    fn a_full_message_reads_well() {
        let err = Cron::parse("0 0 12 ? * MON#6").unwrap_err();
        assert_eq!(
            err.to_string(),
            "day-of-week field (6th) `MON#6`: the week after `#` must be a number 1-5, e.g. `6#3` for the third \
             Friday; Quartz accepts 1-7 (1=SUN) or SUN-SAT with , - * / ? L nL n#k there"
        );
    }
}
