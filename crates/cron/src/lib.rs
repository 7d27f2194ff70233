//! Quartz 2.5.2-compatible cron expressions.
//!
//! ```
//! use consort_cron::{Cron, Zone};
//! let cron: Cron = "0 15 10 ? * 6L".parse()?;
//! let zone = Zone::get("America/New_York")?;
//! let after = "2026-01-01T00:00:00Z".parse()?;
//! let next = cron.next_after(after, &zone).expect("fires again");
//! assert_eq!(next.to_string(), "2026-01-30T15:15:00Z"); // last Friday of January, 10:15 EST
//! assert_eq!(cron.explain(), "at 10:15 on the last Friday of every month");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Everything Quartz accepts is accepted with the same meaning, everything it
//! rejects is rejected (with a [`CronError`] that names the field and the fix),
//! and fire times are identical, daylight-saving transitions included: a wall
//! time the clock skips never fires, a wall time the clock shows twice fires
//! once, on the second pass. Fire times lie in 1970..=[`MAX_YEAR`].
//!
//! This crate is pure: it never reads the clock and never does I/O. Zone data
//! comes from `jiff`'s bundled tz database.

pub mod batch;
mod civil;
mod error;
mod eval;
mod explain;
mod field;
mod parse;
mod shortcut;
mod zone;

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;

pub use error::{CronError, Problem};
pub use field::{Field, MAX_YEAR, MIN_YEAR};
pub use zone::{UnknownZone, Zone};

use parse::Spec;

/// 3000-01-01T00:00:00Z: from here on the walk gives up (Quartz stops past 2999),
/// and no fire time lies after [`MAX_YEAR`] anyway.
const LAST_START: i64 = 32_503_680_000;

/// A parsed Quartz cron expression.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Cron {
    source: String,
    spec: Spec,
}

impl Cron {
    /// Parses and validates an expression exactly as Quartz 2.5.2 does.
    pub fn parse(expression: &str) -> Result<Cron, CronError> {
        let spec = parse::parse(expression)?;
        Ok(Cron { source: expression.to_string(), spec })
    }

    /// The expression as it was given.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The first fire time strictly after `after` (Quartz's `getNextValidTimeAfter`).
    ///
    /// Sub-second precision is dropped, as in Quartz. `None` when the expression
    /// never fires again before the end of [`MAX_YEAR`].
    #[inline]
    pub fn next_after(&self, after: Timestamp, zone: &Zone) -> Option<Timestamp> {
        let seconds = after.as_second() - i64::from(after.subsec_nanosecond() < 0);
        self.next_after_epoch(seconds, zone).and_then(|s| Timestamp::from_second(s).ok())
    }

    /// [`Cron::next_after`] on Unix seconds.
    #[inline]
    pub fn next_after_epoch(&self, after: i64, zone: &Zone) -> Option<i64> {
        let start = after.checked_add(1)?;
        if start >= LAST_START {
            return None;
        }
        let start = start.max(self.spec.earliest_start?);
        let (from, mut clock) = zone.start(start);
        if let Some(shortcut) = &self.spec.shortcut
            && let Some(instant) = shortcut.answer(&self.spec.years, from, start, &mut clock)
        {
            return Some(instant);
        }
        // Only the walk needs the wall time's fields.
        let from = civil::Civil::from_local_seconds(from);
        let wall = eval::time_after(&self.spec, from, start, &mut clock).ok()??;
        Some(clock.instant(wall))
    }

    /// Fire times after `after`, in order; ends when the expression stops firing.
    pub fn upcoming<'a>(&'a self, after: Timestamp, zone: &'a Zone) -> impl Iterator<Item = Timestamp> + 'a {
        std::iter::successors(self.next_after(after, zone), move |&t| self.next_after(t, zone))
    }

    /// Whether `instant` (to the second) is a fire time (Quartz's `isSatisfiedBy`).
    pub fn is_fire_time(&self, instant: Timestamp, zone: &Zone) -> bool {
        let second = instant.as_second() - i64::from(instant.subsec_nanosecond() < 0);
        self.next_after_epoch(second - 1, zone) == Some(second)
    }

    /// A plain-English description, e.g. "at 10:15 on the last Friday of every month".
    pub fn explain(&self) -> String {
        explain::explain(&self.spec)
    }
}

impl FromStr for Cron {
    type Err = CronError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cron::parse(s)
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Cron").field(&self.source).finish()
    }
}
