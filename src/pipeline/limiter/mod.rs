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
//! - Waiters are served one at a time, so a freed slot wakes one task, not all
//!   of them: interactive waiters first, then bulk, each lane in arrival order
//!   ([`turn`]). A bulk waiter holding the turn while it waits for room steps
//!   aside when an interactive one arrives, so an interactive call waits for no
//!   more than the next free call of this replica's allowance. The window's
//!   bound is the same for both lanes: the order changes, the count does not.

mod turn;
mod window;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::job::Priority;
use turn::{Held, Turn};
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
    /// One waiter at a time asks the window, interactive ones first.
    turn: Turn,
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
                turn: Turn::default(),
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

    /// [`Limiter::acquire_as`] for a bulk job.
    pub async fn acquire(&self) -> Duration {
        self.acquire_as(Priority::Bulk).await
    }

    /// Waits for a token and takes it; returns how long it waited. Take it
    /// immediately before the request: the window counts the call from this moment.
    /// Interactive callers are served before bulk ones.
    pub async fn acquire_as(&self, lane: Priority) -> Duration {
        self.reserve_as(lane).await.take().await
    }

    /// [`Limiter::reserve_as`] for a bulk job.
    pub async fn reserve(&self) -> Permit<'_> {
        self.reserve_as(Priority::Bulk).await
    }

    /// Waits until a call may be made now, and holds this replica's turn without
    /// counting a call yet: for a caller that has a short step to do (renewing a
    /// claim after a long wait) between the wait and the request. Other callers
    /// wait behind the permit; dropping it counts nothing.
    pub async fn reserve_as(&self, lane: Priority) -> Permit<'_> {
        let started = Instant::now();
        // A bulk holder that stepped aside goes back to the front of its lane.
        let mut front = false;
        loop {
            let turn = self.inner.turn.take(lane, front).await;
            let yield_to = (lane == Priority::Bulk).then_some(&self.inner.turn);
            if self.until_free(false, yield_to).await {
                return Permit {
                    limiter: self,
                    _turn: turn,
                    started,
                };
            }
            front = true;
        }
    }

    /// Waits until the window has room under the allowance in force; counts the
    /// call then if `take`. Only the holder of the turn calls this. With
    /// `yield_to`, gives up (false) as soon as an interactive waiter queues
    /// there while no call may be made yet; true once there is room.
    async fn until_free(&self, take: bool, yield_to: Option<&Turn>) -> bool {
        let mut changes = self.inner.allowance.subscribe();
        loop {
            // Enabled before the check, so an arrival after it still wakes us.
            let arrival = yield_to.map(|turn| turn.arrivals().notified());
            tokio::pin!(arrival);
            if let Some(notified) = arrival.as_mut().as_pin_mut() {
                notified.enable();
            }
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
            if verdict == Verdict::Now {
                return true;
            }
            if yield_to.is_some_and(Turn::interactive_waiting) {
                return false;
            }
            let arrived = async {
                match arrival.as_mut().as_pin_mut() {
                    Some(notified) => notified.await,
                    None => std::future::pending().await,
                }
            };
            let at = match verdict {
                Verdict::At(ms) => Some(self.inner.epoch + Duration::from_millis(ms)),
                _ => None,
            };
            let sleep = async {
                match at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            // The sender lives in `self`, so `changed` cannot fail while we wait.
            tokio::select! {
                _ = sleep => {}
                _ = changes.changed() => {}
                _ = arrived => {}
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
    _turn: Held<'a>,
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
        // Not preemptible: the permit's holder is about to call.
        self.limiter.until_free(true, None).await;
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

    /// Spawns a waiter of `lane` that records `label` once it has its token.
    fn waiter(
        limiter: &Limiter,
        lane: Priority,
        label: &'static str,
        order: &Arc<Mutex<Vec<&'static str>>>,
    ) -> tokio::task::JoinHandle<()> {
        let limiter = limiter.clone();
        let order = order.clone();
        tokio::spawn(async move {
            limiter.acquire_as(lane).await;
            order.lock().unwrap().push(label);
        })
    }

    #[tokio::test(start_paused = true)]
    async fn interactive_waiters_overtake_bulk_waiters_already_queued() {
        let limiter = Limiter::new(1, SECOND);
        limiter.acquire().await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for label in ["b1", "b2", "b3"] {
            tasks.push(waiter(&limiter, Priority::Bulk, label, &order));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // b1 holds the turn, waiting for room; b2 and b3 queue behind it.
        tasks.push(waiter(&limiter, Priority::Interactive, "i1", &order));
        tokio::time::sleep(Duration::from_millis(10)).await;
        tasks.push(waiter(&limiter, Priority::Interactive, "i2", &order));
        let started = Instant::now();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["i1", "i2", "b1", "b2", "b3"]);
        // One call per window all along: the order changed, not the bound.
        assert!(started.elapsed() >= Duration::from_millis(4_900));
    }

    #[tokio::test(start_paused = true)]
    async fn an_interactive_waiter_takes_the_next_free_call() {
        let limiter = Limiter::new(2, SECOND);
        limiter.acquire().await;
        limiter.acquire().await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let bulk: Vec<_> = (0..20)
            .map(|_| waiter(&limiter, Priority::Bulk, "b", &order))
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let arrived = Instant::now();
        limiter.acquire_as(Priority::Interactive).await;
        // The window frees its first call one second after it was made.
        assert!(
            arrived.elapsed() <= Duration::from_millis(902),
            "{:?}",
            arrived.elapsed()
        );
        assert!(order.lock().unwrap().is_empty(), "no bulk call went first");
        for task in bulk {
            task.abort();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn bulk_waiters_are_served_in_arrival_order_when_no_interactive_job_waits() {
        let limiter = Limiter::new(5, SECOND);
        let order = Arc::new(Mutex::new(Vec::new()));
        let labels = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"];
        let mut tasks = Vec::new();
        for label in labels {
            tasks.push(waiter(&limiter, Priority::Bulk, label, &order));
            tokio::task::yield_now().await;
        }
        // A burst of interactive work, then none: bulk goes on behind it.
        let interactive = waiter(&limiter, Priority::Interactive, "i", &order);
        let started = Instant::now();
        interactive.await.unwrap();
        for task in tasks {
            task.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        let bulk: Vec<_> = order.iter().filter(|l| **l != "i").copied().collect();
        assert_eq!(bulk, labels);
        // Eleven calls at five per second: the allowance was used, nobody starved.
        assert!(
            started.elapsed() <= Duration::from_millis(2_100),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_dropped_while_queued_or_just_served_loses_no_turn() {
        let limiter = Limiter::new(1, SECOND);
        limiter.acquire().await;
        let queued = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.acquire_as(Priority::Interactive).await }
        });
        let behind = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.acquire().await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        queued.abort();
        let waited = tokio::time::timeout(Duration::from_secs(2), behind).await;
        assert!(matches!(waited, Ok(Ok(_))), "the turn passed on");
        assert_eq!(limiter.in_window(), 1);
    }
}
