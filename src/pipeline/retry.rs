//! The retry policy: how long a job waits before its next upstream attempt.
//!
//! The only module that touches the `backoff` crate (RUSTSEC-2025-0012:
//! unmaintained; kept at the owner's request). Swapping it is a change here only.

use std::time::Duration;

use backoff::backoff::Backoff;
use backoff::ExponentialBackoff;

use crate::upstream::outcome::THROTTLE_PAUSE;

/// Exponential backoff with jitter, per job.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
    pub multiplier: f64,
    /// ± this fraction of each delay, so a storm's retries do not arrive together.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: 0.5,
        }
    }
}

/// The delays of one job's retries.
pub struct RetrySchedule {
    inner: ExponentialBackoff,
    max: Duration,
}

impl RetryPolicy {
    pub fn schedule(&self) -> RetrySchedule {
        let inner = ExponentialBackoff {
            current_interval: self.initial,
            initial_interval: self.initial,
            randomization_factor: self.jitter,
            multiplier: self.multiplier,
            max_interval: self.max,
            // The attempt budget (ID2META_MAX_ATTEMPTS) ends a job, not elapsed time.
            max_elapsed_time: None,
            ..ExponentialBackoff::default()
        };
        RetrySchedule {
            inner,
            max: self.max,
        }
    }
}

impl RetrySchedule {
    /// The pause before the next attempt; a throttled answer asks for at least
    /// [`THROTTLE_PAUSE`], so the account's budget recovers before we ask again.
    pub fn next_delay(&mut self, throttled: bool) -> Duration {
        let delay = self.inner.next_backoff().unwrap_or(self.max);
        if throttled {
            delay.max(THROTTLE_PAUSE)
        } else {
            delay
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_within_the_cap_with_jitter() {
        let policy = RetryPolicy::default();
        let mut s = policy.schedule();
        let delays: Vec<Duration> = (0..12).map(|_| s.next_delay(false)).collect();
        assert!(delays[0] >= Duration::from_millis(100) && delays[0] <= Duration::from_millis(300));
        assert!(delays.iter().all(|d| *d <= policy.max.mul_f64(1.5)));
        assert!(delays[6] > delays[0]);
    }

    #[test]
    fn a_throttled_answer_waits_at_least_the_throttle_pause() {
        let mut s = RetryPolicy::default().schedule();
        assert!(s.next_delay(true) >= THROTTLE_PAUSE);
    }
}
