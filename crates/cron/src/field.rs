//! The seven positions of a Quartz cron expression and the value sets they parse into.

use std::fmt;

/// One position of a cron expression, in the order Quartz reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// 0–59.
    Seconds,
    /// 0–59.
    Minutes,
    /// 0–23.
    Hours,
    /// 1–31, `?`, `L`, `L-n`, `LW`, `nW`.
    DayOfMonth,
    /// 1–12 or `JAN`–`DEC`.
    Month,
    /// 1–7 (1 = Sunday) or `SUN`–`SAT`, `?`, `L`, `nL`, `n#k`.
    DayOfWeek,
    /// Optional; 1970–2199.
    Year,
}

impl Field {
    /// All fields in expression order.
    pub const ALL: [Field; 7] =
        [Field::Seconds, Field::Minutes, Field::Hours, Field::DayOfMonth, Field::Month, Field::DayOfWeek, Field::Year];

    /// 1-based position of the field in the expression.
    pub fn position(self) -> usize {
        self as usize + 1
    }

    /// What Quartz accepts in this field, for error messages.
    pub fn accepts(self) -> &'static str {
        match self {
            Field::Seconds | Field::Minutes => "0-59 with , - * /",
            Field::Hours => "0-23 with , - * /",
            Field::DayOfMonth => "1-31 with , - * / ? L L-n LW nW",
            Field::Month => "1-12 or JAN-DEC with , - * /",
            Field::DayOfWeek => "1-7 (1=SUN) or SUN-SAT with , - * / ? L nL n#k",
            Field::Year => "1970-2199 with , - * / (or leave it out)",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Seconds => "seconds",
            Field::Minutes => "minutes",
            Field::Hours => "hours",
            Field::DayOfMonth => "day-of-month",
            Field::Month => "month",
            Field::DayOfWeek => "day-of-week",
            Field::Year => "year",
        })
    }
}

/// Quartz's marker for `*`, stored in a set next to the values it expands to.
pub(crate) const ALL_SPEC: i32 = 99;
/// Quartz's marker for `?`.
pub(crate) const NO_SPEC: i32 = 98;
/// Day-of-month `L-n` is stored as `LAST_DAY_OFFSET_END - n` (32..=62).
pub(crate) const LAST_DAY_OFFSET_START: i32 = 32;
pub(crate) const LAST_DAY_OFFSET_END: i32 = 62;
/// The largest `n` in `L-n`.
pub(crate) const MAX_LAST_DAY_OFFSET: i32 = 30;
/// No fire time after this year (Quartz documents 1970–2199).
pub const MAX_YEAR: i32 = 2199;
/// `*` in the year field starts here: no fire time before 1970.
pub const MIN_YEAR: i32 = 1970;

/// A set of small non-negative integers (0..128), ordered like Java's `TreeSet<Integer>`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct Bits(u128);

impl Bits {
    #[inline]
    pub(crate) fn insert(&mut self, v: i32) -> bool {
        if (0..128).contains(&v) {
            self.0 |= 1u128 << v;
            true
        } else {
            false
        }
    }

    #[inline]
    pub(crate) fn contains(self, v: i32) -> bool {
        (0..128).contains(&v) && self.0 & (1u128 << v) != 0
    }

    /// The members as bits (bit v for member v).
    #[inline]
    pub(crate) fn raw(self) -> u128 {
        self.0
    }

    #[inline]
    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The smallest member, like `TreeSet::first` (`None` where Java throws).
    #[inline]
    pub(crate) fn first(self) -> Option<i32> {
        (self.0 != 0).then(|| self.0.trailing_zeros() as i32)
    }

    /// The largest member, like `TreeSet::last`.
    #[inline]
    pub(crate) fn last(self) -> Option<i32> {
        (self.0 != 0).then(|| 127 - self.0.leading_zeros() as i32)
    }

    /// The smallest member `>= v`, like `TreeSet::ceiling` / `tailSet(v).first()`.
    #[inline]
    pub(crate) fn ceil(self, v: i32) -> Option<i32> {
        if v >= 128 {
            return None;
        }
        let masked = if v <= 0 { self.0 } else { self.0 & (!0u128 << v) };
        (masked != 0).then(|| masked.trailing_zeros() as i32)
    }

    /// Members in increasing order.
    pub(crate) fn iter(self) -> impl Iterator<Item = i32> {
        (0..128).filter(move |&v| self.0 & (1u128 << v) != 0)
    }

    /// Number of members in `lo..=hi`.
    pub(crate) fn count_in(self, lo: i32, hi: i32) -> u32 {
        (lo..=hi).filter(|&v| self.contains(v)).count() as u32
    }
}

impl fmt::Debug for Bits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// The year set: a bitmap over 1970..=2199 plus the rare explicit years below 1970.
///
/// Years above [`MAX_YEAR`] are dropped: Quartz never fires past its maximum year.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct Years {
    span: [u64; 4],
    below: Vec<i32>,
}

impl Years {
    pub(crate) fn insert(&mut self, year: i32) {
        if (MIN_YEAR..=MAX_YEAR).contains(&year) {
            let i = (year - MIN_YEAR) as usize;
            self.span[i / 64] |= 1 << (i % 64);
        } else if year < MIN_YEAR
            && let Err(at) = self.below.binary_search(&year)
        {
            self.below.insert(at, year);
        }
    }

    /// Inserts `start`, `start + step`, … up to `stop` (`step >= 1`).
    pub(crate) fn insert_every(&mut self, start: i64, stop: i64, step: i64) {
        let mut year = start;
        if step == 1 {
            while year <= stop && year < i64::from(MIN_YEAR) {
                self.insert(year as i32);
                year += 1;
            }
            // Whole words at a time for the common `*` and `a-b`.
            let (lo, hi) = (year.max(i64::from(MIN_YEAR)), stop.min(i64::from(MAX_YEAR)));
            for (w, word) in self.span.iter_mut().enumerate() {
                let base = i64::from(MIN_YEAR) + 64 * w as i64;
                let (from, to) = ((lo - base).clamp(0, 64), (hi - base + 1).clamp(0, 64));
                if from < to {
                    *word |= (!0u64 >> (64 - (to - from))) << from;
                }
            }
            return;
        }
        while year <= stop {
            self.insert(year as i32);
            year += step;
        }
    }

    /// Inlined: every next-fire search asks it at least once.
    #[inline]
    pub(crate) fn contains(&self, year: i32) -> bool {
        if (MIN_YEAR..=MAX_YEAR).contains(&year) {
            let i = (year - MIN_YEAR) as usize;
            self.span[i / 64] & (1 << (i % 64)) != 0
        } else {
            self.contains_below(year)
        }
    }

    /// Whether year `MIN_YEAR + offset` is listed, for an offset that may lie past
    /// [`MAX_YEAR`] (never listed) but not below [`MIN_YEAR`].
    #[inline]
    pub(crate) fn contains_from_min(&self, offset: usize) -> bool {
        self.span.get(offset / 64).is_some_and(|word| word >> (offset % 64) & 1 != 0)
    }

    #[inline(never)]
    fn contains_below(&self, year: i32) -> bool {
        self.below.binary_search(&year).is_ok()
    }

    /// The smallest member `>= year`, or `None` when no year at or after it can fire.
    #[inline]
    pub(crate) fn ceil(&self, year: i64) -> Option<i64> {
        if year < i64::from(MIN_YEAR)
            && let Some(&y) = self.below.iter().find(|&&y| i64::from(y) >= year)
        {
            return Some(i64::from(y));
        }
        let from = (year.max(i64::from(MIN_YEAR)) - i64::from(MIN_YEAR)) as usize;
        let mut word = from / 64;
        if word >= 4 {
            return None;
        }
        let mut bits = self.span[word] & (!0u64 << (from % 64));
        loop {
            if bits != 0 {
                return Some(i64::from(MIN_YEAR) + (word * 64) as i64 + i64::from(bits.trailing_zeros()));
            }
            word += 1;
            if word == 4 {
                return None;
            }
            bits = self.span[word];
        }
    }

    /// The smallest member.
    pub(crate) fn first(&self) -> Option<i32> {
        self.iter().next()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = i32> + '_ {
        self.below.iter().copied().chain((MIN_YEAR..=MAX_YEAR).filter(|&y| self.contains(y)))
    }

    pub(crate) fn is_every_year(&self) -> bool {
        (MIN_YEAR..=MAX_YEAR).all(|y| self.contains(y))
    }
}

impl fmt::Debug for Years {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_behave_like_a_tree_set() {
        let mut b = Bits::default();
        for v in [5, 0, 99, 62, 127, 128, -1] {
            b.insert(v);
        }
        assert_eq!(b.first(), Some(0));
        assert_eq!(b.last(), Some(127));
        assert_eq!(b.ceil(1), Some(5));
        assert_eq!(b.ceil(63), Some(99));
        assert_eq!(b.ceil(128), None);
        assert!(!b.contains(128));
        assert_eq!(Bits::default().first(), None);
    }

    #[test]
    fn years_ceil_spans_words_and_low_years() {
        let mut y = Years::default();
        for v in [1969, 2199, 2034, 1500, 2300] {
            y.insert(v);
        }
        assert_eq!(y.ceil(1000), Some(1500));
        assert_eq!(y.ceil(1600), Some(1969));
        assert_eq!(y.ceil(1970), Some(2034));
        assert_eq!(y.ceil(2035), Some(2199));
        assert_eq!(y.ceil(2200), None);
        assert!(!y.contains(2300));
    }

    #[test]
    fn insert_every_matches_one_by_one() {
        for (start, stop, step) in [
            (1960, 2199, 1),
            (1970, 2199, 1),
            (2000, 2063, 1),
            (2033, 2034, 1),
            (1965, 2100, 7),
            (2100, 2199, 1),
            (1969, 1969, 1),
        ] {
            let (mut bulk, mut single) = (Years::default(), Years::default());
            bulk.insert_every(start, stop, step);
            let mut y = start;
            while y <= stop {
                single.insert(y as i32);
                y += step;
            }
            assert_eq!(bulk, single, "{start}-{stop}/{step}");
        }
    }
}
