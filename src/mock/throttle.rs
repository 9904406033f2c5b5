//! The mock's QPS limit, in one of two readings of "Q calls per second":
//!
//! - `bucket` (the default): a token bucket of rate Q and capacity Q. A client may
//!   burst up to Q at once and no more, so one that exceeds its budget over any
//!   second is caught; it admits up to 2Q in a second that follows an idle one.
//! - `sliding`: the strictest reading: at most Q calls admitted in *any* trailing
//!   one-second window. Alibaba does not say how it counts, so the worker must be
//!   safe against this one; every sequence it admits, the bucket admits too.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How the QPS limit counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum QpsWindow {
    #[default]
    Bucket,
    Sliding,
}

/// The limit in force.
#[derive(Debug, Clone)]
pub enum Throttle {
    Bucket(TokenBucket),
    Sliding(SlidingWindow),
}

impl Throttle {
    pub fn new(qps: u32, window: QpsWindow, now: Instant) -> Self {
        match window {
            QpsWindow::Bucket => Self::Bucket(TokenBucket::new(qps, now)),
            QpsWindow::Sliding => Self::Sliding(SlidingWindow::new(qps)),
        }
    }

    /// Admits one call at `now`, or refuses it (a throttle).
    pub fn try_take(&mut self, now: Instant) -> bool {
        match self {
            Self::Bucket(bucket) => bucket.try_take(now),
            Self::Sliding(window) => window.try_take(now),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket for `qps` calls per second (at least one).
    pub fn new(qps: u32, now: Instant) -> Self {
        let rate = f64::from(qps.max(1));
        Self {
            rate,
            tokens: rate,
            last: now,
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The admitted calls of the trailing second.
#[derive(Debug, Clone)]
pub struct SlidingWindow {
    limit: usize,
    admitted: VecDeque<Instant>,
}

impl SlidingWindow {
    pub fn new(qps: u32) -> Self {
        let limit = qps.max(1) as usize;
        Self {
            limit,
            admitted: VecDeque::with_capacity(limit.min(4096)),
        }
    }

    /// Admits a call if fewer than Q were admitted in the second up to `now`.
    pub fn try_take(&mut self, now: Instant) -> bool {
        forget_older(&mut self.admitted, now);
        if self.admitted.len() >= self.limit {
            return false;
        }
        self.admitted.push_back(now);
        true
    }
}

/// Drops the instants more than one second before `now`: what remains is the
/// window `(now - 1 s, now]`.
pub fn forget_older(times: &mut VecDeque<Instant>, now: Instant) {
    while let Some(&oldest) = times.front() {
        if now.saturating_duration_since(oldest) >= Duration::from_secs(1) {
            times.pop_front();
        } else {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_admits_one_seconds_worth_at_once_and_no_more() {
        let t = Instant::now();
        let mut b = TokenBucket::new(5, t);
        assert_eq!((0..10).filter(|_| b.try_take(t)).count(), 5);
    }

    #[test]
    fn tokens_come_back_at_the_rate() {
        let t = Instant::now();
        let mut b = TokenBucket::new(10, t);
        while b.try_take(t) {}
        assert!(!b.try_take(t + Duration::from_millis(50)));
        assert!(b.try_take(t + Duration::from_millis(160)));
        let later = t + Duration::from_secs(100);
        assert_eq!((0..20).filter(|_| b.try_take(later)).count(), 10);
    }

    #[test]
    fn the_sliding_window_refuses_a_call_the_bucket_would_admit() {
        let t = Instant::now();
        let mut bucket = Throttle::new(10, QpsWindow::Bucket, t);
        let mut sliding = Throttle::new(10, QpsWindow::Sliding, t);
        // Ten calls spread over the first 900 ms, then one at 950 ms.
        for i in 0..10 {
            let at = t + Duration::from_millis(i * 100);
            assert!(bucket.try_take(at) && sliding.try_take(at));
        }
        let at = t + Duration::from_millis(950);
        assert!(bucket.try_take(at), "the bucket refilled a token");
        assert!(
            !sliding.try_take(at),
            "ten calls are within the last second"
        );
        // The first call leaves the window a second after it was made.
        assert!(sliding.try_take(t + Duration::from_millis(1000)));
        assert!(!sliding.try_take(t + Duration::from_millis(1050)));
    }
}
