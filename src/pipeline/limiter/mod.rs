//! The local pacer every upstream attempt waits on: at most `allowance` calls in
//! any sliding window (one second plus a margin), counted from the moment each
//! token is handed out, which is immediately before its request.
//!
//! The allowance is this replica's whole number of calls per window, granted by
//! the budget (see [`crate::budget`]); the budget changes it while calls wait, and
//! may close the limiter (a replica still joining, or one that lost the database).
//! Why a sliding window and not a token bucket: an upstream that counts calls in
//! any trailing second admits exactly the sequences with at most Q calls in every
//! such window, and a whole-call allowance per window adds up across replicas
//! (`docs/qps-budget.md` has the proof); rates in calls per second do not (three
//! shares of 6.67/s can put 7 + 7 + 7 calls in one second).
//!
//! - The history of sends is kept across changes, so a lower allowance binds every
//!   window whose last call comes after the change ([`window`] says why).
//! - Sends are also kept at least half a window's share apart, so an allowance is
//!   not spent in one burst, while a call woken late can still be caught up.
//! - Waiters are served one at a time in arrival order (a fair mutex), so a freed
//!   slot wakes one task, not all of them.

mod window;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use window::{SendWindow, Verdict};

/// A sliding-window limiter whose allowance can change; cheap to clone.
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<Inner>,
}

struct Inner {
    epoch: Instant,
    window_len: Duration,
    sends: Mutex<SendWindow>,
    /// Calls allowed per window; 0 is closed.
    allowance: watch::Sender<u32>,
    /// One waiter at a time asks the window, in arrival order.
    turn: tokio::sync::Mutex<()>,
}

impl Limiter {
    /// A limiter allowing `allowance` calls in any window of `window_len`.
    pub fn new(allowance: u32, window_len: Duration) -> Self {
        let (sender, _) = watch::channel(allowance);
        Self {
            inner: Arc::new(Inner {
                epoch: Instant::now(),
                window_len,
                sends: Mutex::new(SendWindow::new(window_len)),
                allowance: sender,
                turn: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// A closed limiter: [`Limiter::acquire`] waits until [`Limiter::set_allowance`] opens it.
    pub fn closed(window_len: Duration) -> Self {
        Self::new(0, window_len)
    }

    /// The window the allowance is counted over.
    pub fn window(&self) -> Duration {
        self.inner.window_len
    }

    /// Allows `calls` per window from now on (0 closes). Calls already made stay
    /// counted, so lowering never lets a window exceed the new allowance once its
    /// last call was made after this.
    pub fn set_allowance(&self, calls: u32) {
        self.inner.allowance.send_replace(calls);
    }

    /// Hands out nothing until the next [`Limiter::set_allowance`] above zero.
    pub fn close(&self) {
        self.set_allowance(0);
    }

    pub fn allowance(&self) -> u32 {
        *self.inner.allowance.borrow()
    }

    pub fn is_open(&self) -> bool {
        self.allowance() > 0
    }

    /// Sends counted in the current window (for tests and the budget's report).
    pub fn in_window(&self) -> u64 {
        let now = self.millis(Instant::now());
        self.lock_sends().in_window(now)
    }

    /// Waits for a token and takes it; returns how long it waited. Take it
    /// immediately before the request: the window counts the call from this moment.
    pub async fn acquire(&self) -> Duration {
        self.reserve().await.take().await
    }

    /// Waits until a call may be made now, and holds this replica's turn without
    /// counting a call yet: for a caller that has a short step to do (renewing a
    /// claim after a long wait) between the wait and the request. Other callers
    /// wait behind the permit; dropping it counts nothing.
    pub async fn reserve(&self) -> Permit<'_> {
        let started = Instant::now();
        let turn = self.inner.turn.lock().await;
        self.until_free(false).await;
        Permit {
            limiter: self,
            _turn: turn,
            started,
        }
    }

    /// Waits until the window has room under the allowance in force; counts the
    /// call then if `take`. Only the holder of the turn calls this.
    async fn until_free(&self, take: bool) {
        let mut changes = self.inner.allowance.subscribe();
        loop {
            let allowance = *changes.borrow_and_update();
            let verdict = {
                let now = self.millis(Instant::now());
                let mut sends = self.lock_sends();
                let verdict = sends.check(now, allowance, self.gap_ms(allowance));
                if take && verdict == Verdict::Now {
                    sends.record(now);
                }
                verdict
            };
            match verdict {
                Verdict::Now => return,
                // The sender lives in `self`, so `changed` cannot fail while we wait.
                Verdict::Never => {
                    let _ = changes.changed().await;
                }
                Verdict::At(ms) => {
                    let at = self.inner.epoch + Duration::from_millis(ms);
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = changes.changed() => {}
                    }
                }
            }
        }
    }

    /// Half of the even spacing of `allowance` calls over the window.
    fn gap_ms(&self, allowance: u32) -> u64 {
        let window_ms = self.inner.window_len.as_millis() as u64;
        window_ms / (2 * u64::from(allowance.max(1)))
    }

    fn millis(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.inner.epoch).as_millis() as u64
    }

    fn lock_sends(&self) -> std::sync::MutexGuard<'_, SendWindow> {
        // Counts, not invariants, live behind this lock: keep going after a panic.
        self.inner
            .sends
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// This replica's turn at the limiter, with room for one call (see [`Limiter::reserve`]).
pub struct Permit<'a> {
    limiter: &'a Limiter,
    _turn: tokio::sync::MutexGuard<'a, ()>,
    started: Instant,
}

impl Permit<'_> {
    /// How long the caller has waited so far.
    pub fn waited(&self) -> Duration {
        self.started.elapsed()
    }

    /// Counts the call (waiting again only if the allowance was lowered meanwhile)
    /// and returns how long the caller waited in all.
    pub async fn take(self) -> Duration {
        self.limiter.until_free(true).await;
        let waited = self.started.elapsed();
        metrics::histogram!(crate::instrumentation::LIMITER_WAIT).record(waited.as_secs_f64());
        waited
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test(start_paused = true)]
    async fn no_second_holds_more_calls_than_the_allowance() {
        let limiter = Limiter::new(10, SECOND);
        let started = Instant::now();
        let mut sent = Vec::new();
        while started.elapsed() < Duration::from_secs(5) {
            limiter.acquire().await;
            sent.push(Instant::now());
        }
        for (i, &t) in sent.iter().enumerate() {
            let in_second = sent[i..].iter().take_while(|&&s| s < t + SECOND).count();
            assert!(in_second <= 10, "{in_second} calls from {i}");
        }
        assert!(sent.len() >= 49, "the allowance is used: {}", sent.len());
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_limiter_hands_out_nothing_until_opened() {
        let limiter = Limiter::closed(SECOND);
        assert!(!limiter.is_open());
        let waiting = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.acquire().await }
        });
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(!waiting.is_finished());
        limiter.set_allowance(5);
        let waited = tokio::time::timeout(SECOND, waiting).await;
        assert!(matches!(waited, Ok(Ok(_))), "the waiter got its token");
    }

    #[tokio::test(start_paused = true)]
    async fn a_lower_allowance_counts_the_calls_already_made() {
        let limiter = Limiter::new(20, SECOND);
        for _ in 0..20 {
            limiter.acquire().await;
        }
        limiter.set_allowance(5);
        let lowered = Instant::now();
        // Twenty calls are still in the window: the next waits until sixteen aged out.
        limiter.acquire().await;
        assert!(lowered.elapsed() >= Duration::from_millis(400));
        assert_eq!(limiter.in_window(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_permit_counts_nothing_and_others_wait_behind_a_held_one() {
        let limiter = Limiter::new(1, SECOND);
        let permit = limiter.reserve().await;
        let behind = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.acquire().await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!behind.is_finished(), "the permit holds the turn");
        drop(permit);
        let waited = tokio::time::timeout(Duration::from_millis(10), behind).await;
        assert!(
            matches!(waited, Ok(Ok(_))),
            "the dropped permit used no room"
        );
        assert_eq!(limiter.in_window(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_on_a_closed_limiter_goes_as_soon_as_it_opens() {
        let limiter = Limiter::new(1, SECOND);
        limiter.acquire().await;
        limiter.close();
        let waiting = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.acquire().await }
        });
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(!waiting.is_finished());
        limiter.set_allowance(2);
        let waited = tokio::time::timeout(Duration::from_millis(10), waiting).await;
        assert!(
            matches!(waited, Ok(Ok(_))),
            "the old call aged out long ago"
        );
    }
}
