//! The local pacer: a `governor` token bucket every upstream attempt waits on.
//!
//! Its rate is this replica's share of the account budget (see [`crate::budget`]);
//! when the share changes the bucket is replaced, so a new rate takes effect at
//! the next token.

use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// A rate limiter whose rate can change; cheap to clone.
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<RwLock<Arc<DefaultDirectRateLimiter>>>,
    burst: NonZeroU32,
}

impl Limiter {
    pub fn new(rate: f64, burst: u32) -> Self {
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self {
            inner: Arc::new(RwLock::new(Arc::new(bucket(rate, burst)))),
            burst,
        }
    }

    /// Replaces the bucket with one at `rate` calls per second.
    pub fn set_rate(&self, rate: f64) {
        let fresh = Arc::new(bucket(rate, self.burst));
        match self.inner.write() {
            Ok(mut guard) => *guard = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
    }

    /// Waits for a token; returns how long it waited.
    pub async fn acquire(&self) -> Duration {
        let started = Instant::now();
        let bucket = match self.inner.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        bucket.until_ready().await;
        let waited = started.elapsed();
        metrics::histogram!(crate::instrumentation::LIMITER_WAIT).record(waited.as_secs_f64());
        waited
    }
}

/// A GCRA bucket emitting `rate` tokens per second, `burst` at once at most.
/// A rate of zero (no share yet) is a very slow bucket, not a closed one: the
/// budget module withholds calls itself while it has no share.
fn bucket(rate: f64, burst: NonZeroU32) -> DefaultDirectRateLimiter {
    let rate = if rate.is_finite() && rate > 0.0 {
        rate
    } else {
        0.01
    };
    let period = Duration::from_secs_f64(1.0 / rate).max(Duration::from_nanos(1));
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst);
    RateLimiter::direct(quota)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tokens_arrive_at_the_configured_rate() {
        let limiter = Limiter::new(100.0, 1);
        let started = Instant::now();
        for _ in 0..21 {
            limiter.acquire().await;
        }
        // 20 intervals of 10 ms after the first token.
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(190), "{elapsed:?}");
    }
}
