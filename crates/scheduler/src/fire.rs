//! Pure firing decisions: first fire time, the next fire after a fire, misfire handling,
//! and which due triggers of a batch may fire given non-concurrent jobs.
//!
//! Every function takes `now` as an argument; none reads the clock or does I/O. Both
//! stores call these, so SQLite and PostgreSQL make identical decisions.

use std::collections::HashSet;

use crate::error::ModelError;
use crate::model::{
    DataMap, JobKey, MisfireInstruction, RECOVERING_GROUP, Run, Schedule, Trigger, TriggerKey, TriggerState,
};

/// Data-map key of a recovery trigger naming the run it re-executes.
pub const RECOVERS_RUN_KEY: &str = "consort.recovers_run";

/// A trigger's mutable firing status: what the store keeps beside the definition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FireStatus {
    /// Next scheduled fire time; `None` once it will never fire again.
    pub next_fire_ms: Option<i64>,
    /// How many times it fired (or, after a misfire that skipped fires, how many it used up).
    pub times_triggered: i64,
}

impl FireStatus {
    /// WAITING while there is a next fire, COMPLETE after.
    pub fn state(&self) -> TriggerState {
        if self.next_fire_ms.is_some() { TriggerState::Waiting } else { TriggerState::Complete }
    }
}

fn within_end(trigger: &Trigger, at_ms: i64) -> Option<i64> {
    match trigger.end_ms() {
        Some(end) if at_ms > end => None,
        _ => Some(at_ms),
    }
}

fn cron_after(trigger: &Trigger, after_ms: i64) -> Option<i64> {
    let Schedule::Cron { cron, zone } = trigger.schedule() else { return None };
    // Quartz works in whole seconds: the next fire strictly after the second holding `after_ms`.
    let seconds = after_ms.div_euclid(1000);
    let next = cron.next_after_epoch(seconds, zone)?.checked_mul(1000)?;
    within_end(trigger, next)
}

/// The first fire time of a new trigger, or `None` if it would never fire (Quartz refuses those).
///
/// A cron trigger's start is truncated to the second and may itself fire; a simple trigger
/// first fires at its start.
pub fn first_fire(trigger: &Trigger) -> Option<i64> {
    match trigger.schedule() {
        Schedule::Cron { .. } => {
            let start_second = trigger.start_ms().div_euclid(1000) * 1000;
            cron_after(trigger, start_second - 1000)
        }
        Schedule::Simple { .. } => within_end(trigger, trigger.start_ms()),
    }
}

/// The status after the trigger fires at its scheduled time `scheduled_ms`.
pub fn after_fire(trigger: &Trigger, scheduled_ms: i64, status: FireStatus) -> FireStatus {
    let times_triggered = status.times_triggered + 1;
    let next_fire_ms = match trigger.schedule() {
        Schedule::Cron { .. } => cron_after(trigger, scheduled_ms),
        Schedule::Simple { repeat_count, interval_ms } => match repeat_count {
            Some(r) if times_triggered > i64::from(*r) => None,
            _ => scheduled_ms.checked_add(*interval_ms).and_then(|t| within_end(trigger, t)),
        },
    };
    FireStatus { next_fire_ms, times_triggered }
}

/// Whether a trigger whose next fire is `next_fire_ms` has misfired at `now_ms`.
pub fn is_misfired(misfire: MisfireInstruction, next_fire_ms: i64, now_ms: i64, threshold_ms: i64) -> bool {
    misfire != MisfireInstruction::Ignore && next_fire_ms < now_ms - threshold_ms
}

/// The effective instruction for a simple schedule, following Quartz's `SimpleTriggerImpl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SimpleMisfire {
    FireNow,
    RescheduleNowExistingCount,
    RescheduleNowRemainingCount,
    RescheduleNextRemainingCount,
}

fn simple_misfire(instruction: MisfireInstruction, repeat_count: Option<u32>) -> SimpleMisfire {
    match (instruction, repeat_count) {
        (MisfireInstruction::Smart, Some(0)) | (MisfireInstruction::FireOnceNow, Some(0)) => SimpleMisfire::FireNow,
        (MisfireInstruction::Smart, None) => SimpleMisfire::RescheduleNextRemainingCount,
        (MisfireInstruction::Smart, Some(_)) => SimpleMisfire::RescheduleNowExistingCount,
        // Quartz treats FIRE_NOW on a repeating trigger as RESCHEDULE_NOW_WITH_REMAINING_REPEAT_COUNT.
        (MisfireInstruction::FireOnceNow, _) => SimpleMisfire::RescheduleNowRemainingCount,
        (MisfireInstruction::DoNothing, _) | (MisfireInstruction::Ignore, _) => {
            SimpleMisfire::RescheduleNextRemainingCount
        }
    }
}

/// Applies the trigger's misfire instruction at `now_ms`. Returns `None` when the trigger has
/// not misfired (it is then simply fired late); otherwise its new status (COMPLETE when no
/// next fire remains).
///
/// Cron: smart = fire-once-now (next fire = now, then the schedule resumes); do-nothing = the
/// first scheduled time after now. Simple (Quartz's smart policy): a one-shot fires now; a
/// forever-repeating trigger skips to its next scheduled time, counting the missed fires as
/// used; a counted one fires now keeping every unfired repetition. Fire-once-now on a counted
/// trigger fires now with the remaining count; do-nothing skips to the next scheduled time.
pub fn apply_misfire(trigger: &Trigger, status: FireStatus, now_ms: i64, threshold_ms: i64) -> Option<FireStatus> {
    let next = status.next_fire_ms?;
    if !is_misfired(trigger.misfire(), next, now_ms, threshold_ms) {
        return None;
    }
    let fire_now = |times_triggered: i64| FireStatus { next_fire_ms: within_end(trigger, now_ms), times_triggered };
    Some(match trigger.schedule() {
        Schedule::Cron { .. } => match trigger.misfire() {
            MisfireInstruction::DoNothing => {
                FireStatus { next_fire_ms: cron_after(trigger, now_ms), times_triggered: status.times_triggered }
            }
            _ => fire_now(status.times_triggered),
        },
        Schedule::Simple { repeat_count, interval_ms } => {
            let missed_before_now = |from: i64| -> i64 {
                // Scheduled times from, from+i, ... that are <= now.
                if *interval_ms <= 0 || from > now_ms { 0 } else { (now_ms - from) / interval_ms + 1 }
            };
            let count_left = |used: i64| repeat_count.is_none_or(|r| used <= i64::from(r));
            match simple_misfire(trigger.misfire(), *repeat_count) {
                SimpleMisfire::FireNow | SimpleMisfire::RescheduleNowExistingCount => fire_now(status.times_triggered),
                SimpleMisfire::RescheduleNowRemainingCount => {
                    // The missed fires are used up, yet it always fires once now (Quartz clamps
                    // the remaining repeat count at zero).
                    let used = status.times_triggered + missed_before_now(next);
                    fire_now(repeat_count.map_or(used, |r| used.min(i64::from(r))))
                }
                SimpleMisfire::RescheduleNextRemainingCount => {
                    let missed = missed_before_now(next);
                    let used = status.times_triggered + missed;
                    let candidate = if *interval_ms > 0 { next.checked_add(missed * interval_ms) } else { None };
                    let next_fire_ms = candidate.filter(|_| count_left(used)).and_then(|t| within_end(trigger, t));
                    FireStatus { next_fire_ms, times_triggered: used }
                }
            }
        }
    })
}

/// One due trigger offered to [`plan_batch`], in firing order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The job the trigger fires.
    pub job: JobKey,
    /// Whether that job is non-concurrent.
    pub non_concurrent: bool,
}

/// Decides which due triggers of one batch fire: a non-concurrent job fires at most once per
/// batch and never while `running` (its jobs with a run executing anywhere in the cluster).
/// Returns one flag per candidate; a trigger not fired stays WAITING (shown BLOCKED) with its
/// fire time unchanged, exactly as Quartz's blocked triggers.
pub fn plan_batch(candidates: &[Candidate], running: &HashSet<JobKey>) -> Vec<bool> {
    let mut started: HashSet<&JobKey> = HashSet::new();
    candidates
        .iter()
        .map(|c| {
            if !c.non_concurrent {
                return true;
            }
            if running.contains(&c.job) || started.contains(&c.job) {
                return false;
            }
            started.insert(&c.job);
            true
        })
        .collect()
}

/// The one-shot trigger that re-fires `run` of a job requesting recovery after its instance
/// died, as Quartz does: group `RECOVERING_JOBS`, at the original scheduled time, misfire
/// policy ignore (so it fires at once), carrying the original trigger's data plus Quartz's
/// `QRTZ_FAILED_JOB_ORIG_TRIGGER_*` entries and [`RECOVERS_RUN_KEY`].
pub fn recovery_trigger(run: &Run, original_data: &DataMap) -> Result<Trigger, ModelError> {
    let name: String = format!("recover_{}_{}", run.instance, run.id).chars().take(190).collect();
    let mut data = original_data.clone();
    data.insert("QRTZ_FAILED_JOB_ORIG_TRIGGER_NAME".into(), run.trigger.name().into());
    data.insert("QRTZ_FAILED_JOB_ORIG_TRIGGER_GROUP".into(), run.trigger.group().into());
    data.insert(
        "QRTZ_FAILED_JOB_ORIG_TRIGGER_FIRETIME_IN_MILLISECONDS_AS_STRING".into(),
        run.fired_ms.to_string().into(),
    );
    data.insert(
        "QRTZ_FAILED_JOB_ORIG_TRIGGER_SCHEDULED_FIRETIME_IN_MILLISECONDS_AS_STRING".into(),
        run.scheduled_ms.to_string().into(),
    );
    data.insert(RECOVERS_RUN_KEY.into(), run.id.into());
    Ok(Trigger::new(TriggerKey::new(RECOVERING_GROUP, name)?, run.job.clone(), Schedule::once(), run.scheduled_ms)
        .with_misfire(MisfireInstruction::Ignore)
        .with_data(data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TriggerKey;
    use proptest::prelude::*;

    const HOUR: i64 = 3_600_000;
    // 2026-01-01T00:00:00Z
    const T0: i64 = 1_767_225_600_000;

    fn job() -> JobKey {
        JobKey::in_default_group("j").unwrap()
    }

    fn trig(schedule: Schedule, start: i64) -> Trigger {
        Trigger::new(TriggerKey::in_default_group("t").unwrap(), job(), schedule, start)
    }

    fn status(next: i64, times: i64) -> FireStatus {
        FireStatus { next_fire_ms: Some(next), times_triggered: times }
    }

    #[test]
    fn cron_first_fire_includes_the_start_second() {
        let t = trig(Schedule::cron("0 0 * * * ?", "UTC").unwrap(), T0 + 500);
        assert_eq!(first_fire(&t), Some(T0));
        let t = trig(Schedule::cron("0 0 * * * ?", "UTC").unwrap(), T0 + 1000);
        assert_eq!(first_fire(&t), Some(T0 + HOUR));
    }

    #[test]
    fn cron_end_time_is_inclusive() {
        let t = trig(Schedule::cron("0 0 * * * ?", "UTC").unwrap(), T0).with_end_ms(Some(T0 + HOUR));
        let s = after_fire(&t, T0, status(T0, 0));
        assert_eq!(s.next_fire_ms, Some(T0 + HOUR));
        let s = after_fire(&t, T0 + HOUR, s);
        assert_eq!(s, FireStatus { next_fire_ms: None, times_triggered: 2 });
        assert_eq!(s.state(), TriggerState::Complete);
    }

    #[test]
    fn cron_in_a_zone_follows_dst() {
        // 02:30 local does not exist on 2026-03-08 in New York: Quartz skips that day.
        let t = trig(Schedule::cron("0 30 2 * * ?", "America/New_York").unwrap(), T0);
        let mar7 = 1_772_868_600_000; // 2026-03-07T07:30:00Z = 02:30 EST
        let s = after_fire(&t, mar7, status(mar7, 0));
        assert_eq!(s.next_fire_ms, Some(mar7 + 2 * 24 * HOUR - HOUR));
    }

    #[test]
    fn one_shot_fires_once() {
        let t = trig(Schedule::once(), T0);
        assert_eq!(first_fire(&t), Some(T0));
        assert_eq!(after_fire(&t, T0, status(T0, 0)).next_fire_ms, None);
    }

    #[test]
    fn cron_misfire_instructions() {
        let now = T0 + 10 * HOUR + 123;
        let base = trig(Schedule::cron("0 0 * * * ?", "UTC").unwrap(), T0);
        let st = status(T0 + HOUR, 1);
        // Inside the threshold: not a misfire, fired late.
        assert_eq!(apply_misfire(&base, status(now - 500, 1), now, 60_000), None);
        let smart = apply_misfire(&base, st, now, 60_000).unwrap();
        assert_eq!(smart.next_fire_ms, Some(now));
        let once = apply_misfire(&base.clone().with_misfire(MisfireInstruction::FireOnceNow), st, now, 60_000);
        assert_eq!(once.unwrap().next_fire_ms, Some(now));
        let skip = apply_misfire(&base.clone().with_misfire(MisfireInstruction::DoNothing), st, now, 60_000);
        assert_eq!(skip.unwrap().next_fire_ms, Some(T0 + 11 * HOUR));
        let ignore = apply_misfire(&base.clone().with_misfire(MisfireInstruction::Ignore), st, now, 60_000);
        assert_eq!(ignore, None);
        // Past the end: complete.
        let ended = base.clone().with_end_ms(Some(T0 + 2 * HOUR));
        assert_eq!(apply_misfire(&ended, st, now, 60_000).unwrap().next_fire_ms, None);
        let ended_skip = ended.with_misfire(MisfireInstruction::DoNothing);
        assert_eq!(apply_misfire(&ended_skip, st, now, 60_000).unwrap().next_fire_ms, None);
    }

    #[test]
    fn simple_misfire_instructions_follow_quartz() {
        let now = T0 + 10_500;
        // One-shot: smart fires now; do-nothing completes it.
        let once = trig(Schedule::once(), T0);
        assert_eq!(apply_misfire(&once, status(T0, 0), now, 1000).unwrap().next_fire_ms, Some(now));
        let once_skip = once.with_misfire(MisfireInstruction::DoNothing);
        assert_eq!(apply_misfire(&once_skip, status(T0, 0), now, 1000).unwrap().next_fire_ms, None);
        // Forever, every second: smart skips to the next slot and counts the missed ones.
        let forever = trig(Schedule::simple(None, 1000).unwrap(), T0);
        let s = apply_misfire(&forever, status(T0, 0), now, 1000).unwrap();
        assert_eq!(s, FireStatus { next_fire_ms: Some(T0 + 11_000), times_triggered: 11 });
        // Counted (5 repeats = 6 fires), 2 fired, missed from T0+2s: smart fires now, keeps 4 left.
        let counted = trig(Schedule::simple(Some(5), 1000).unwrap(), T0);
        let s = apply_misfire(&counted, status(T0 + 2000, 2), now, 1000).unwrap();
        assert_eq!(s, FireStatus { next_fire_ms: Some(now), times_triggered: 2 });
        // Fire-once-now on a counted trigger: the missed fires are used up.
        let fon = counted.clone().with_misfire(MisfireInstruction::FireOnceNow);
        let s = apply_misfire(&fon, status(T0 + 2000, 2), now, 1000).unwrap();
        assert_eq!(s, FireStatus { next_fire_ms: Some(now), times_triggered: 5 });
        assert_eq!(after_fire(&fon, now, s).next_fire_ms, None, "that was the last one");
        let s = apply_misfire(&fon, status(T0 + 2000, 2), T0 + 3500, 1000).unwrap();
        assert_eq!(s, FireStatus { next_fire_ms: Some(T0 + 3500), times_triggered: 4 });
        // Do-nothing on a counted trigger: next slot if count remains.
        let dn = counted.with_misfire(MisfireInstruction::DoNothing);
        let s = apply_misfire(&dn, status(T0 + 2000, 2), T0 + 3500, 1000).unwrap();
        assert_eq!(s, FireStatus { next_fire_ms: Some(T0 + 4000), times_triggered: 4 });
    }

    #[test]
    fn non_concurrent_job_fires_once_per_batch_and_never_while_running() {
        let a = JobKey::in_default_group("a").unwrap();
        let b = JobKey::in_default_group("b").unwrap();
        let c = |job: &JobKey, nc| Candidate { job: job.clone(), non_concurrent: nc };
        let batch = [c(&a, true), c(&a, true), c(&b, false), c(&b, false)];
        assert_eq!(plan_batch(&batch, &HashSet::new()), [true, false, true, true]);
        let running: HashSet<JobKey> = [a.clone()].into();
        assert_eq!(plan_batch(&batch, &running), [false, false, true, true]);
    }

    proptest! {
        #[test]
        fn simple_trigger_fires_exactly_repeat_count_plus_one_times(
            repeat in 0u32..50, interval in 1i64..10_000, start in 0i64..1_000_000_000,
        ) {
            let t = trig(Schedule::simple(Some(repeat), interval).unwrap(), start);
            let mut s = FireStatus { next_fire_ms: first_fire(&t), times_triggered: 0 };
            let mut fires = vec![];
            while let Some(at) = s.next_fire_ms {
                fires.push(at);
                s = after_fire(&t, at, s);
                prop_assert!(fires.len() <= 51);
            }
            prop_assert_eq!(fires.len() as u32, repeat + 1);
            for (i, at) in fires.iter().enumerate() {
                prop_assert_eq!(*at, start + i as i64 * interval);
            }
        }

        #[test]
        fn after_a_misfire_the_trigger_is_no_longer_misfired(
            repeat in proptest::option::of(0u32..20), interval in 1i64..100_000,
            behind in 0i64..10_000_000, threshold in 0i64..120_000,
            instr in prop_oneof![Just(MisfireInstruction::Smart), Just(MisfireInstruction::FireOnceNow),
                                 Just(MisfireInstruction::DoNothing)],
            cron in any::<bool>(),
        ) {
            let now = T0 + 50 * HOUR;
            let schedule = if cron { Schedule::cron("0/7 * * * * ?", "Europe/Rome").unwrap() }
                           else { Schedule::simple(repeat, interval).unwrap() };
            let t = trig(schedule, T0).with_misfire(instr);
            let before = status(now - behind, 0);
            match apply_misfire(&t, before, now, threshold) {
                None => prop_assert!(now - behind >= now - threshold),
                Some(after) => {
                    prop_assert!(behind > threshold);
                    if let Some(next) = after.next_fire_ms {
                        prop_assert!(next >= now, "next {} now {}", next, now);
                        prop_assert!(apply_misfire(&t, after, now, threshold).is_none());
                    }
                    prop_assert!(after.times_triggered >= before.times_triggered);
                }
            }
        }

        #[test]
        fn cron_fires_strictly_increase_and_respect_the_end(start in 0i64..2_000_000_000_000, span in 0i64..(30 * HOUR)) {
            let t = trig(Schedule::cron("0 */17 * ? * MON-FRI", "Europe/Rome").unwrap(), start)
                .with_end_ms(Some(start + span));
            let mut s = FireStatus { next_fire_ms: first_fire(&t), times_triggered: 0 };
            let mut last = start - 1000;
            while let Some(at) = s.next_fire_ms {
                prop_assert!(at > last && at <= start + span);
                last = at;
                s = after_fire(&t, at, s);
            }
        }
    }
}
