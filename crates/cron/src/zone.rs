//! IANA time zones with fast, allocation-free wall-clock ↔ instant mapping.
//!
//! Zone rules come from `jiff`'s bundled tz database; nothing here is hand-written
//! zone data. At construction the zone's transitions between 1800 and 2201 are
//! copied into a sorted table so that each lookup is one binary search. Outside
//! that window the lookups defer to `jiff` directly. Prepared zones are shared: a clone costs
//! a few reference counts, and [`Zone::get`] prepares each zone once per process, because a
//! store decodes a trigger's zone every time it reads the trigger.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, RwLock};

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};

use crate::civil::Civil;

/// 1800-01-01T00:00:00Z.
const TABLE_START: i64 = -5_364_662_400;
/// 2201-01-01T00:00:00Z: past the last year a cron expression can fire in.
const TABLE_END: i64 = 7_289_654_400;
/// Wall times this close to the table's edges go to `jiff` (offsets are < 1 day).
const EDGE: i64 = 2 * 86_400;
/// Lookups start from a bucket of 2^24 s (about 194 days), so each one scans at
/// most a few transitions instead of searching the whole table.
const BUCKET_SHIFT: u32 = 24;
const BUCKETS: usize = (((TABLE_END - TABLE_START) >> BUCKET_SHIFT) + 2) as usize;

/// A time zone prepared for cron evaluation.
#[derive(Clone)]
pub struct Zone {
    tz: TimeZone,
    name: Arc<str>,
    /// The offset in force at `TABLE_START`.
    initial_offset: i64,
    transitions: Arc<[Transition]>,
    /// For each bucket, how many transitions happen at or before its start (UTC).
    instant_index: Arc<[u32]>,
    /// For each bucket, how many wall boundaries lie at or before its start (wall time).
    wall_index: Arc<[u32]>,
}

/// Zones prepared so far, by the name they were asked for (at most the tz database's names).
static PREPARED: LazyLock<RwLock<HashMap<String, Zone>>> = LazyLock::new(Default::default);

#[derive(Clone, Copy, Debug)]
struct Transition {
    /// The instant the offset changes.
    at: i64,
    /// Offset (seconds east of UTC) after the change.
    after: i64,
    /// Wall times in `[gap_start, wall_boundary)` do not exist (empty unless the
    /// clock jumps forward). Stored rather than derived from the offset before:
    /// every lookup that scans transitions compares with it.
    gap_start: i64,
    /// The first wall time for which a search for the earliest match cannot have
    /// been changed by this transition (see [`WallClock::instant_across_gaps`]):
    /// its gap start when the clock does not jump forward, an hour plus the
    /// gap's length past the gap's end when it does, never for a gap of
    /// seconds. Worked out once here rather than on every search that crosses it.
    settled_from: i64,
}

impl Transition {
    fn new(at: i64, before: i64, after: i64) -> Transition {
        let gap_start = at + before.min(after);
        let length = after - before;
        let settled_from = match length {
            ..=0 => gap_start,
            _ if length % 60 != 0 => i64::MAX,
            _ => at + after + length + 3600,
        };
        Transition { at, after, gap_start, settled_from }
    }

    /// From this wall time on, the new offset is used (`java.util.TimeZone`'s
    /// rule: a wall time before it reads with the old offset).
    #[inline]
    fn wall_boundary(&self) -> i64 {
        self.at + self.after
    }

    /// Whether the clock jumps forward here (a non-empty gap).
    #[inline]
    fn jumps_forward(&self) -> bool {
        self.gap_start < self.wall_boundary()
    }
}

/// A time zone name that is not in the tz database.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone `{name}`: use an IANA name such as `UTC`, `Europe/Rome` or `America/New_York`")]
pub struct UnknownZone {
    name: String,
}

impl Zone {
    /// Looks up an IANA zone name (e.g. `Europe/Rome`) in the bundled tz database.
    /// Each zone is prepared once per process; later calls clone the prepared table.
    pub fn get(name: &str) -> Result<Zone, UnknownZone> {
        if let Some(zone) = PREPARED.read().unwrap_or_else(|e| e.into_inner()).get(name) {
            return Ok(zone.clone());
        }
        let tz = TimeZone::get(name).map_err(|_| UnknownZone { name: name.to_string() })?;
        let zone = Zone::from_time_zone(tz, name);
        PREPARED.write().unwrap_or_else(|e| e.into_inner()).insert(name.to_string(), zone.clone());
        Ok(zone)
    }

    /// The UTC zone.
    pub fn utc() -> Zone {
        Zone::get("UTC").unwrap_or_else(|_| Zone::from_time_zone(TimeZone::UTC, "UTC"))
    }

    /// Wraps a `jiff` time zone, precomputing its transitions.
    pub fn from_time_zone(tz: TimeZone, name: &str) -> Zone {
        let start = Timestamp::from_second(TABLE_START).expect("1800 is in range");
        let initial_offset = i64::from(tz.to_offset(start).seconds());
        let mut transitions = Vec::new();
        let mut before = initial_offset;
        for t in tz.following(start) {
            let at = t.timestamp().as_second();
            if at >= TABLE_END {
                break;
            }
            let after = i64::from(t.offset().seconds());
            transitions.push(Transition::new(at, before, after));
            before = after;
        }
        let bucket_start = |k: usize| TABLE_START + ((k as i64) << BUCKET_SHIFT);
        let instant_index =
            (0..BUCKETS).map(|k| transitions.partition_point(|t| t.at <= bucket_start(k)) as u32).collect();
        let wall_index = (0..BUCKETS)
            .map(|k| transitions.partition_point(|t| t.wall_boundary() <= bucket_start(k)) as u32)
            .collect();
        Zone { tz, name: name.into(), initial_offset, transitions: transitions.into(), instant_index, wall_index }
    }

    /// The name this zone was created with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The underlying `jiff` time zone.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// The offset from UTC, in seconds, in force at `utc_seconds`.
    #[inline]
    pub(crate) fn offset_at(&self, utc_seconds: i64) -> i64 {
        if !(TABLE_START..TABLE_END).contains(&utc_seconds) {
            let ts = Timestamp::from_second(utc_seconds).unwrap_or(Timestamp::MAX);
            return i64::from(self.tz.to_offset(ts).seconds());
        }
        let i = self.instant_index[((utc_seconds - TABLE_START) >> BUCKET_SHIFT) as usize] as usize;
        let i = self.scan(i, |t| t.at <= utc_seconds);
        if i == 0 { self.initial_offset } else { self.transitions[i - 1].after }
    }

    /// The wall time at `utc_seconds`.
    #[inline]
    pub(crate) fn to_civil(&self, utc_seconds: i64) -> Civil {
        Civil::from_local_seconds(utc_seconds + self.offset_at(utc_seconds))
    }

    /// A cursor for mapping wall times to instants, with a cache for the common
    /// case of many lookups between the same two transitions.
    #[inline]
    pub(crate) fn wall_clock(&self) -> WallClock<'_> {
        WallClock { zone: self, lo: i64::MAX, hi: i64::MIN, offset: 0, next: 0 }
    }

    /// The wall time at `utc_seconds` (local seconds), and a cursor already primed for the
    /// stretch of wall time around it (where a search starting there runs).
    ///
    /// The transitions that bound the instant's offset usually bound its wall
    /// time's stretch too, so one lookup serves both; only a wall time the
    /// clock shows twice (read as the later pass) needs a second one.
    #[inline]
    pub(crate) fn start(&self, utc_seconds: i64) -> (i64, WallClock<'_>) {
        let mut clock = self.wall_clock();
        if !(TABLE_START + EDGE..TABLE_END - EDGE).contains(&utc_seconds) {
            let local = utc_seconds + self.offset_at(utc_seconds);
            clock.lookup(local);
            return (local, clock);
        }
        let i = self.instant_index[((utc_seconds - TABLE_START) >> BUCKET_SHIFT) as usize] as usize;
        let i = self.scan(i, |t| t.at <= utc_seconds);
        let (lo, offset) = match i {
            0 => (TABLE_START + EDGE, self.initial_offset),
            _ => (self.transitions[i - 1].wall_boundary(), self.transitions[i - 1].after),
        };
        let hi = self.transitions.get(i).map_or(TABLE_END - EDGE, |t| t.gap_start);
        let local = utc_seconds + offset;
        if lo <= local && local < hi && (TABLE_START + EDGE..TABLE_END - EDGE).contains(&local) {
            (clock.lo, clock.hi, clock.offset, clock.next) = (lo, hi, offset, i);
        } else {
            clock.lookup(local);
        }
        (local, clock)
    }

    /// Index of the first transition whose wall boundary lies after `local`.
    #[inline]
    fn boundary_index(&self, local: i64) -> usize {
        let i = self.wall_index[((local - TABLE_START) >> BUCKET_SHIFT) as usize] as usize;
        self.scan(i, |t| t.wall_boundary() <= local)
    }

    /// The first index from `i` on whose transition is not `passed` (a bucket holds
    /// few transitions).
    #[inline]
    fn scan(&self, mut i: usize, passed: impl Fn(&Transition) -> bool) -> usize {
        while self.transitions.get(i).is_some_and(&passed) {
            i += 1;
        }
        i
    }

    fn jiff_instant(&self, wall: Civil) -> Option<i64> {
        let dt = DateTime::new(
            i16::try_from(wall.year).ok()?,
            wall.month as i8,
            wall.day as i8,
            wall.hour as i8,
            wall.minute as i8,
            wall.second as i8,
            0,
        )
        .ok()?;
        let offset = match self.tz.to_ambiguous_timestamp(dt).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset,
            AmbiguousOffset::Gap { before, .. } => before,
            AmbiguousOffset::Fold { after, .. } => after,
        };
        Some(wall.local_seconds() - i64::from(offset.seconds()))
    }
}

/// Wall time → instant the way a lenient `java.util.GregorianCalendar` does it,
/// which is what Quartz's search runs on:
/// - a wall time the clock shows twice means the later instant;
/// - a wall time the clock skips is read with the offset from before the jump,
///   so it lands after the jump, as if the clock had been moved on by the gap
///   (02:30 on a spring-forward night in New York reads as 03:30).
#[derive(Debug)]
pub(crate) struct WallClock<'z> {
    zone: &'z Zone,
    /// Wall times in `[lo, hi)` exist exactly once and read with `offset`.
    lo: i64,
    hi: i64,
    offset: i64,
    /// Index of the first transition after that stretch.
    next: usize,
}

impl WallClock<'_> {
    /// The instant `wall` stands for.
    #[inline]
    pub(crate) fn instant(&mut self, wall: Civil) -> i64 {
        let local = wall.local_seconds();
        if (self.lo..self.hi).contains(&local) {
            return local - self.offset;
        }
        self.instant_elsewhere(wall, local)
    }

    /// [`WallClock::instant`] for a wall time outside the cached stretch.
    #[inline(never)]
    fn instant_elsewhere(&mut self, wall: Civil, local: i64) -> i64 {
        match self.lookup(local) {
            Some(offset) => local - offset,
            None => self.zone.jiff_instant(wall).unwrap_or(local),
        }
    }

    /// The instant of wall time `local` (seconds since 1970-01-01T00:00 on the
    /// wall clock) when the whole range from wall time `from` to it lies in the
    /// cached stretch, where every wall time exists once and no transition
    /// intervenes; `None` otherwise.
    #[inline]
    pub(crate) fn instant_in_stretch(&self, from: i64, local: i64) -> Option<i64> {
        debug_assert!(from <= local);
        (self.lo <= from && local < self.hi).then_some(local - self.offset)
    }

    /// [`WallClock::instant`] of wall time `local` (seconds since 1970-01-01T00:00 on
    /// the wall clock).
    #[inline]
    pub(crate) fn instant_of_local(&mut self, local: i64) -> i64 {
        if (self.lo..self.hi).contains(&local) {
            return local - self.offset;
        }
        self.instant_of_local_elsewhere(local)
    }

    #[inline(never)]
    fn instant_of_local_elsewhere(&mut self, local: i64) -> i64 {
        match self.lookup(local) {
            Some(offset) => local - offset,
            None => self.zone.jiff_instant(Civil::from_local_seconds(local)).unwrap_or(local),
        }
    }

    /// Whether no wall time in `[from, to]` falls in a daylight-saving gap (wall
    /// times the clock skips); `None` near or beyond the table's years.
    #[inline]
    pub(crate) fn gap_free(&mut self, from: i64, to: i64) -> Option<bool> {
        if self.lo <= from && to < self.hi {
            return Some(true);
        }
        self.gap_free_elsewhere(from, to)
    }

    /// [`WallClock::gap_free`] for a range that leaves the cached stretch. When
    /// the range is gap-free the cursor moves on to the stretch `to` lies in,
    /// where the search goes on.
    #[inline(never)]
    fn gap_free_elsewhere(&mut self, from: i64, to: i64) -> Option<bool> {
        if !(TABLE_START + EDGE..TABLE_END - EDGE).contains(&from)
            || !(TABLE_START + EDGE..TABLE_END - EDGE).contains(&to)
        {
            return None;
        }
        // Transitions from the first whose wall boundary lies after `from`: a gap
        // `[gap_start, wall_boundary)` meets the range when it starts by `to`.
        let transitions = &self.zone.transitions;
        let mut i = if (self.lo..self.hi).contains(&from) { self.next } else { self.zone.boundary_index(from) };
        while let Some(t) = transitions.get(i)
            && t.gap_start <= to
        {
            if t.jumps_forward() {
                return Some(false);
            }
            i += 1;
        }
        // No gap: `to` lies past the wall boundary of every transition before `i`
        // (their gaps are empty) and before the one at `i`.
        self.enter_stretch(i);
        Some(true)
    }

    /// The instant of wall time `local` when the range from wall time `from` to
    /// it may cross transitions, but no daylight-saving gap in that range can
    /// have changed a search for the earliest match (see `shortcut`): each gap
    /// ends at least its own length plus an hour before `local`, and is a whole
    /// number of minutes long. `None` when that does not hold.
    #[inline]
    pub(crate) fn instant_across_gaps(&mut self, from: i64, local: i64) -> Option<i64> {
        if !(self.lo..self.hi).contains(&from) || !(TABLE_START + EDGE..TABLE_END - EDGE).contains(&local) {
            return None;
        }
        // `from` lies in the cached stretch, so the transitions to check start
        // right after it.
        let transitions = &self.zone.transitions;
        let mut i = self.next;
        while let Some(t) = transitions.get(i)
            && t.gap_start <= local
        {
            if local < t.settled_from {
                return None;
            }
            i += 1;
        }
        // Every transition before `i` has its wall boundary at or before `local`
        // (a gap ends more than an hour before it) and the one at `i` starts
        // after it: `local` lies in the stretch between them.
        self.enter_stretch(i);
        debug_assert!(self.lo <= local && local < self.hi);
        Some(local - self.offset)
    }

    /// Caches the stretch of wall time between transitions `i - 1` and `i`.
    #[inline]
    fn enter_stretch(&mut self, i: usize) {
        let transitions = &self.zone.transitions;
        let (lo, offset) = match i {
            0 => (TABLE_START + EDGE, self.zone.initial_offset),
            _ => (transitions[i - 1].wall_boundary(), transitions[i - 1].after),
        };
        let hi = transitions.get(i).map_or(TABLE_END - EDGE, |t| t.gap_start);
        (self.lo, self.hi, self.offset, self.next) = (lo, hi, offset, i);
    }

    /// The wall time a lenient calendar shows after its fields are set to these
    /// (possibly out-of-range) values.
    #[inline]
    pub(crate) fn at(&mut self, year: i64, month: i64, day: i64, hour: i64, minute: i64, second: i64) -> Civil {
        self.settle(Civil::lenient(year, month, day, hour, minute, second))
    }

    /// The wall time a calendar shows after being set to `wall`: the same,
    /// unless `wall` falls in a gap, which moves it past the gap.
    #[inline]
    pub(crate) fn settle(&mut self, wall: Civil) -> Civil {
        let local = wall.local_seconds();
        if (self.lo..self.hi).contains(&local) {
            return wall;
        }
        self.settle_elsewhere(wall, local)
    }

    /// [`WallClock::settle`] for a wall time outside the cached stretch.
    #[inline(never)]
    fn settle_elsewhere(&mut self, wall: Civil, local: i64) -> Civil {
        let instant = match self.lookup(local) {
            Some(_) if (self.lo..self.hi).contains(&local) => return wall,
            Some(offset) => local - offset,
            None => match self.zone.jiff_instant(wall) {
                Some(instant) => instant,
                None => return wall,
            },
        };
        let shown = self.zone.to_civil(instant);
        if shown.local_seconds() == local { wall } else { shown }
    }

    /// The offset for `local` from the table (refreshing the cache when `local`
    /// is not in a gap), or `None` outside the table's years.
    #[inline]
    fn lookup(&mut self, local: i64) -> Option<i64> {
        if !(TABLE_START + EDGE..TABLE_END - EDGE).contains(&local) {
            return None;
        }
        let transitions = &self.zone.transitions;
        let i = self.zone.boundary_index(local);
        let (lo, offset) = match i {
            0 => (TABLE_START + EDGE, self.zone.initial_offset),
            _ => (transitions[i - 1].wall_boundary(), transitions[i - 1].after),
        };
        let hi = transitions.get(i).map_or(TABLE_END - EDGE, |t| t.gap_start);
        if local < hi {
            (self.lo, self.hi, self.offset, self.next) = (lo, hi, offset, i);
        }
        Some(offset)
    }
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Zone").field("name", &self.name).field("transitions", &self.transitions.len()).finish()
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table must agree with `jiff` everywhere, including around every transition.
    #[test]
    fn table_agrees_with_jiff() {
        for name in [
            "America/New_York",
            "Europe/Rome",
            "Australia/Lord_Howe",
            "America/Sao_Paulo",
            "Pacific/Chatham",
            "Asia/Kolkata",
            "UTC",
        ] {
            let zone = Zone::get(name).unwrap();
            let mut clock = zone.wall_clock();
            let mut probes: Vec<i64> = (-100..200).map(|k| k * 37_000_003).collect();
            for t in zone.transitions.iter() {
                probes.extend([t.at - 7201, t.at - 3600, t.at - 1, t.at, t.at + 1, t.at + 1800, t.at + 3600]);
            }
            for utc in probes {
                let ts = Timestamp::from_second(utc).unwrap();
                let expected = zone.tz.to_offset(ts).seconds() as i64;
                assert_eq!(zone.offset_at(utc), expected, "{name} offset at {utc}");
                for wall in [zone.to_civil(utc), Civil::from_local_seconds(utc)] {
                    assert_eq!(Some(clock.instant(wall)), zone.jiff_instant(wall), "{name} wall {wall:?}");
                }
            }
        }
    }

    /// The bucketed lookups must find what a search of the whole table finds.
    #[test]
    fn bucketed_lookups_match_binary_search() {
        for name in ["America/New_York", "Europe/Rome", "Australia/Lord_Howe", "Pacific/Apia", "UTC"] {
            let zone = Zone::get(name).unwrap();
            for t in (TABLE_START + EDGE..TABLE_END - EDGE).step_by(3_600 * 7 + 13) {
                let by_instant = zone.transitions.partition_point(|x| x.at <= t);
                let by_wall = zone.transitions.partition_point(|x| x.wall_boundary() <= t);
                let offset = if by_instant == 0 { zone.initial_offset } else { zone.transitions[by_instant - 1].after };
                assert_eq!(zone.offset_at(t), offset, "{name} at {t}");
                assert_eq!(zone.boundary_index(t), by_wall, "{name} wall {t}");
            }
        }
    }

    #[test]
    fn gaps_move_forward_and_folds_take_the_later_instant() {
        let ny = Zone::get("America/New_York").unwrap();
        let mut clock = ny.wall_clock();
        // 2025-03-09 02:30 does not exist: a calendar set to it shows 03:30.
        let gap = Civil::lenient(2025, 3, 9, 2, 30, 0);
        assert_eq!(clock.settle(gap), Civil::lenient(2025, 3, 9, 3, 30, 0));
        assert_eq!(clock.instant(gap), 1_741_505_400); // 07:30Z
        // 2025-11-02 01:30 happens twice: the EST pass.
        let fold = Civil::lenient(2025, 11, 2, 1, 30, 0);
        assert_eq!(clock.settle(fold), fold);
        assert_eq!(clock.instant(fold), 1_762_065_000); // 06:30Z
    }

    #[test]
    fn unknown_zone_is_an_error() {
        let err = Zone::get("Mars/Olympus").unwrap_err();
        assert!(err.to_string().contains("Mars/Olympus"));
    }
}
