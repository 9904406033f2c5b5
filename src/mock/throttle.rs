//! The mock's QPS limit: a token bucket of rate Q and capacity Q.
//!
//! Alibaba limits ID_2META to a number of calls per second per account. A bucket
//! holding one second's worth lets a well-behaved client burst up to Q at once and
//! no more, so a client that exceeds its budget over any second is caught.

use std::time::Instant;

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
}
