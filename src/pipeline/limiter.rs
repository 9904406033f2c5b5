//! The local pacer: a `governor` token bucket every upstream attempt waits on.
//!
//! Its rate is this replica's share of the account budget (see [`crate::budget`]).
//! The budget changes that share while calls are waiting, and may close the limiter
//! altogether (a replica still joining, or one that lost the database), so:
//!
//! - a change of rate takes effect for every waiter at once: a token taken from a
//!   bucket that was replaced meanwhile is thrown away and the waiter asks the new
//!   one, so two rates never pace calls side by side;
//! - a bucket installed by [`Limiter::set_rate`] starts empty: its first token comes
//!   one period after the change, so changing the rate never hands out an extra burst;
//! - a closed limiter hands out nothing until it is opened again.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::watch;

/// The current bucket, or `None` while closed.
type Current = Option<Arc<DefaultDirectRateLimiter>>;

/// A rate limiter whose rate can change and which can be closed; cheap to clone.
#[derive(Clone)]
pub struct Limiter {
    current: Arc<watch::Sender<Current>>,
    burst: NonZeroU32,
}

impl Limiter {
    /// An open limiter at `rate` calls per second, its burst available at once.
    pub fn new(rate: f64, burst: u32) -> Self {
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let (current, _) = watch::channel(Some(Arc::new(bucket(rate, burst))));
        Self {
            current: Arc::new(current),
            burst,
        }
    }

    /// A closed limiter: [`Limiter::acquire`] waits until [`Limiter::set_rate`] opens it.
    pub fn closed(burst: u32) -> Self {
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let (current, _) = watch::channel(None);
        Self {
            current: Arc::new(current),
            burst,
        }
    }

    /// Replaces the bucket with an empty one at `rate` calls per second (opening
    /// the limiter if it was closed). Waiters switch to it at once.
    pub fn set_rate(&self, rate: f64) {
        let fresh = bucket(rate, self.burst);
        // Start empty: the old bucket may just have handed out its burst.
        let _ = fresh.check_n(self.burst);
        self.current.send_replace(Some(Arc::new(fresh)));
    }

    /// Stops handing out tokens until the next [`Limiter::set_rate`].
    pub fn close(&self) {
        self.current.send_replace(None);
    }

    pub fn is_open(&self) -> bool {
        self.current.borrow().is_some()
    }

    /// Waits for a token; returns how long it waited.
    pub async fn acquire(&self) -> Duration {
        let started = Instant::now();
        let mut changes = self.current.subscribe();
        loop {
            let current = changes.borrow_and_update().clone();
            let granted = match current {
                // The sender lives in `self`, so `changed` cannot fail while we wait.
                None => changes.changed().await.is_err(),
                Some(bucket) => tokio::select! {
                    _ = bucket.until_ready() => !changes.has_changed().unwrap_or(false),
                    _ = changes.changed() => false,
                },
            };
            if granted {
                break;
            }
        }
        let waited = started.elapsed();
        metrics::histogram!(crate::instrumentation::LIMITER_WAIT).record(waited.as_secs_f64());
        waited
    }
}

/// A GCRA bucket emitting `rate` tokens per second, `burst` at once at most.
/// A rate that is not a positive number is a very slow bucket (use
/// [`Limiter::close`] to hand out nothing).
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

    #[tokio::test]
    async fn a_closed_limiter_hands_out_nothing_until_opened() {
        let limiter = Limiter::closed(1);
        assert!(!limiter.is_open());
        let waiting = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.acquire().await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiting.is_finished());
        limiter.set_rate(1000.0);
        let waited = tokio::time::timeout(Duration::from_secs(1), waiting).await;
        assert!(matches!(waited, Ok(Ok(_))), "the waiter got its token");
    }

    #[tokio::test]
    async fn a_waiter_on_a_slow_bucket_moves_to_a_faster_one_at_once() {
        let limiter = Limiter::new(0.01, 1);
        limiter.acquire().await; // the burst
        let waiting = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.acquire().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        limiter.set_rate(100.0);
        let waited = tokio::time::timeout(Duration::from_secs(1), waiting).await;
        assert!(matches!(waited, Ok(Ok(_))), "not left on the 100 s bucket");
    }

    #[tokio::test]
    async fn a_new_rate_starts_without_a_fresh_burst() {
        let limiter = Limiter::new(1000.0, 5);
        limiter.set_rate(10.0);
        let started = Instant::now();
        limiter.acquire().await;
        // Empty at the change: the first token comes a period (100 ms) later.
        assert!(started.elapsed() >= Duration::from_millis(90));
    }
}
