//! When a failed delivery is tried again: exponential back-off, capped, with a last attempt.

use std::time::Duration;

/// Exponential back-off: the first retry after `first`, each next one twice as late, never
/// more than `max_delay` apart, `attempts` tries in all (the first delivery included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Tries in all, the first included (at least 1).
    pub attempts: u32,
    /// The delay before the first retry.
    pub first: Duration,
    /// The longest delay between two tries.
    pub max_delay: Duration,
}

impl Default for Backoff {
    /// 6 tries over about a minute: 1 s, 2 s, 4 s, 8 s, 16 s, then nothing more.
    fn default() -> Self {
        Backoff { attempts: 6, first: Duration::from_secs(1), max_delay: Duration::from_secs(60) }
    }
}

impl Backoff {
    /// The delay before try `attempt` (1-based: try 1 is the first delivery, without delay);
    /// `None` once every try is spent.
    pub fn delay_before(&self, attempt: u32) -> Option<Duration> {
        if attempt == 0 || attempt > self.attempts.max(1) {
            return None;
        }
        if attempt == 1 {
            return Some(Duration::ZERO);
        }
        let factor = 1u32.checked_shl(attempt - 2).unwrap_or(u32::MAX);
        Some(self.first.saturating_mul(factor).min(self.max_delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_then_stops() {
        let b = Backoff { attempts: 5, first: Duration::from_millis(100), max_delay: Duration::from_millis(500) };
        let delays: Vec<_> = (1..=6).map(|a| b.delay_before(a).map(|d| d.as_millis())).collect();
        assert_eq!(delays, [Some(0), Some(100), Some(200), Some(400), Some(500), None]);
        assert_eq!(b.delay_before(0), None);
        let long = Backoff { attempts: 100, ..b };
        assert_eq!(long.delay_before(90), Some(Duration::from_millis(500)), "no overflow");
    }
}
