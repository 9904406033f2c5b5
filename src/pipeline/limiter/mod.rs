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
//! - Under a backlog, sends go on an even cadence (one per window / allowance), so
//!   the next free call is never more than one spacing away; a call woken a little
//!   late keeps the rhythm, so the cadence costs no budget ([`window`] says why a
//!   window-only limiter left a hole of half a second in every window).
//! - Waiters are served one at a time, so a freed slot wakes one task, not all
//!   of them: interactive waiters first, then bulk, each queue in arrival order
//!   and the bulk queues shared by weight ([`turn`], with the order among bulk
//!   queues from [`crate::pipeline::scheduler`]). A bulk waiter holding the turn while it waits for room steps
//!   aside when an interactive one arrives, so an interactive call waits for no
//!   more than the next free call of this replica's allowance. The window's
//!   bound is the same for both lanes: the order changes, the count does not.

mod caps;
mod turn;
mod window;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::job::Priority;
use crate::pipeline::scheduler::Class;
use caps::QueueCaps;
use turn::{Held, Turn};
use window::{SendWindow, Verdict};

/// The window's bucket: a send is counted for up to one tick too long, so a
/// millisecond would cost 0.1 % of the budget; 100 µs costs 0.01 % and 40 KB.
const TICK_MICROS: u64 = 100;
const TICK: Duration = Duration::from_micros(TICK_MICROS);

/// A sliding-window limiter whose allowance can change; cheap to clone.
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<Inner>,
}

struct Inner {
    epoch: Instant,
    window_len: Duration,
    /// The sends and the allowance they are checked against, under one lock: a
    /// check can never pair the window with an allowance already replaced.
    sends: Mutex<Book>,
    /// Woken whenever the allowance changes (its value is only a hint: the
    /// allowance in force is the one in `sends`).
    changes: watch::Sender<u32>,
    /// One waiter at a time asks the window, interactive ones first.
    turn: Turn,
    /// This replica holds no share of the fleet's budget (more replicas than
    /// calls): it takes no jobs and hands back the ones it holds ([`Limiter::standby`]).
    standby: watch::Sender<bool>,
}

/// What the limiter's lock guards.
struct Book {
    window: SendWindow,
    /// Calls allowed per window; 0 is closed.
    allowance: u32,
    /// The allowance's deadline (the share's lease): from then on the limiter is
    /// closed until a new share comes, whatever any timer did or did not do.
    until: Option<Instant>,
    /// The capped queues' own windows ([`caps`]).
    caps: QueueCaps,
}

impl Book {
    /// The allowance in force at `now`.
    fn allowance_at(&self, now: Instant) -> u32 {
        match self.until {
            Some(until) if now >= until => 0,
            _ => self.allowance,
        }
    }
}

impl Limiter {
    /// A limiter allowing `allowance` calls in any window of `window_len`.
    pub fn new(allowance: u32, window_len: Duration) -> Self {
        Self::weighted(allowance, window_len, &[1])
    }

    /// The same, its bulk calls shared among bulk queues by `weights` (one per
    /// queue, in the order of [`Class::Bulk`]'s index).
    pub fn weighted(allowance: u32, window_len: Duration, weights: &[u32]) -> Self {
        let (changes, _) = watch::channel(allowance);
        Self {
            inner: Arc::new(Inner {
                epoch: Instant::now(),
                window_len,
                sends: Mutex::new(Book {
                    window: SendWindow::new(window_len, TICK),
                    allowance,
                    until: None,
                    caps: QueueCaps::default(),
                }),
                changes,
                turn: Turn::new(weights),
                standby: watch::channel(false).0,
            }),
        }
    }

    /// A closed limiter: [`Limiter::acquire`] waits until [`Limiter::set_allowance`] opens it.
    pub fn closed(window_len: Duration) -> Self {
        Self::new(0, window_len)
    }

    /// A closed limiter sharing bulk calls by `weights` (see [`Limiter::weighted`]).
    pub fn closed_weighted(window_len: Duration, weights: &[u32]) -> Self {
        Self::weighted(0, window_len, weights)
    }

    /// The window the allowance is counted over.
    pub fn window(&self) -> Duration {
        self.inner.window_len
    }

    /// Allows `calls` per window from now on (0 closes). Calls already made stay
    /// counted, so lowering never lets a window exceed the new allowance once its
    /// last call was made after this.
    /// Once this returns, no token is handed out under the old allowance.
    pub fn set_allowance(&self, calls: u32) {
        self.set_share(calls, None);
    }

    /// Allows `calls` per window until `until` (checked under the lock, by the
    /// monotonic clock, before every token): a replica frozen past its share's
    /// deadline takes no token when it resumes, whether or not the task that
    /// would close the limiter has run yet. `None`: until changed.
    pub fn set_share(&self, calls: u32, until: Option<Instant>) {
        {
            let mut book = self.lock_sends();
            book.allowance = calls;
            book.until = until;
        }
        self.inner.changes.send_replace(calls);
    }

    /// Hands out nothing until the next [`Limiter::set_allowance`] above zero.
    pub fn close(&self) {
        self.set_allowance(0);
    }

    /// Puts this replica on standby (no share of the budget: take no jobs, hand
    /// back the ones held) or off it. Only the budget says so.
    pub fn set_standby(&self, standby: bool) {
        self.inner.standby.send_if_modified(|now| {
            let changed = *now != standby;
            *now = standby;
            changed
        });
    }

    /// Whether this replica is on standby now; watch the receiver for changes.
    pub fn standby(&self) -> watch::Receiver<bool> {
        self.inner.standby.subscribe()
    }

    /// The allowance in force now (0 once its deadline passed).
    pub fn allowance(&self) -> u32 {
        self.lock_sends().allowance_at(Instant::now())
    }

    pub fn is_open(&self) -> bool {
        self.allowance() > 0
    }

    /// Sends counted in the current window (for tests and the budget's report).
    pub fn in_window(&self) -> u64 {
        let now = self.ticks(Instant::now());
        self.lock_sends().window.in_window(now)
    }

    /// [`Limiter::acquire_as`] for a bulk job.
    pub async fn acquire(&self) -> Duration {
        self.acquire_as(Priority::Bulk).await
    }

    /// Waits for a token and takes it; returns how long it waited. Take it
    /// immediately before the request: the window counts the call from this moment.
    /// Interactive callers are served before bulk ones.
    pub async fn acquire_as(&self, lane: Priority) -> Duration {
        self.acquire_for(lane_class(lane)).await
    }

    /// Waits for a token for a job of `class` and takes it (see
    /// [`Limiter::acquire_as`]): interactive first, bulk queues by weight.
    pub async fn acquire_for(&self, class: Class) -> Duration {
        self.reserve_for(class).await.take().await
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
        self.reserve_for(lane_class(lane)).await
    }

    /// [`Limiter::reserve_as`] for a job of `class`.
    pub async fn reserve_for(&self, class: Class) -> Permit<'_> {
        let class = self.inner.turn.known(self.capped_as_bulk(class));
        // A capped queue's share of its cap follows its demand.
        let _wanting = self.wanting(class);
        let started = Instant::now();
        // A bulk holder that stepped aside goes back to the front of its queue.
        let mut front = false;
        loop {
            let turn = self.inner.turn.take(class, front).await;
            let yield_to = (!class.is_interactive()).then_some(&self.inner.turn);
            if self.until_free(false, class, yield_to).await {
                return Permit {
                    limiter: self,
                    _turn: turn,
                    class,
                    started,
                };
            }
            front = true;
        }
    }

    /// Waits until the window has room under the allowance in force (and, for a
    /// capped queue, its own window under its allowance); counts the call then
    /// if `take`. Only the holder of the turn calls this. With `yield_to`, gives
    /// up (false) as soon as an interactive waiter queues there while no call may
    /// be made yet, or, when its queue's cap is what it waits for, a waiter of
    /// another queue with room (its queue is passed over until its room comes);
    /// true once there is room.
    async fn until_free(&self, take: bool, class: Class, yield_to: Option<&Turn>) -> bool {
        let capped = match class {
            Class::Bulk(queue) => Some(queue),
            _ => None,
        };
        let mut changes = self.inner.changes.subscribe();
        loop {
            // Enabled before the check, so an arrival after it still wakes us.
            let arrival = yield_to.map(|turn| turn.arrivals().notified());
            tokio::pin!(arrival);
            if let Some(notified) = arrival.as_mut().as_pin_mut() {
                notified.enable();
            }
            // Marked seen before the lock: a change after the check wakes us.
            changes.borrow_and_update();
            let (budget, queue) = {
                let mut book = self.lock_sends();
                let instant = Instant::now();
                let now = self.ticks(instant);
                let allowance = book.allowance_at(instant);
                let budget = book.window.check(now, allowance);
                let queue = capped.map_or(Verdict::Now, |q| book.caps.check(q, now));
                if take && budget == Verdict::Now && queue == Verdict::Now {
                    book.window.record(now, allowance);
                    if let Some(q) = capped {
                        book.caps.record(q, now);
                    }
                }
                (budget, queue)
            };
            let verdict = caps::later(budget, queue);
            if verdict == Verdict::Now {
                return true;
            }
            if yield_to.is_some_and(Turn::interactive_waiting) {
                return false;
            }
            if let (Some(turn), Some(q)) = (yield_to, capped) {
                if caps::binding(queue, budget) && turn.other_ready(q) {
                    turn.defer(q, self.deferred(queue));
                    return false;
                }
            }
            let arrived = async {
                match arrival.as_mut().as_pin_mut() {
                    Some(notified) => notified.await,
                    None => std::future::pending().await,
                }
            };
            let at = match verdict {
                Verdict::At(tick) => Some(self.at_tick(tick)),
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

    /// The moment tick `tick` begins.
    fn at_tick(&self, tick: u64) -> Instant {
        self.inner.epoch + Duration::from_micros(tick.saturating_mul(TICK_MICROS))
    }

    /// Ticks since the limiter's epoch.
    fn ticks(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.inner.epoch);
        (since.as_micros() / u128::from(TICK_MICROS)) as u64
    }

    fn lock_sends(&self) -> std::sync::MutexGuard<'_, Book> {
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
    class: Class,
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
        self.limiter.until_free(true, self.class, None).await;
        // Counted in the scheduler when made, while this permit still holds the
        // turn: the next pick sees it.
        self.limiter.inner.turn.charge(self.class);
        let waited = self.started.elapsed();
        metrics::histogram!(crate::instrumentation::LIMITER_WAIT).record(waited.as_secs_f64());
        waited
    }
}

/// The class of a caller that names only its lane.
fn lane_class(lane: Priority) -> Class {
    match lane {
        Priority::Interactive => Class::Interactive,
        Priority::Bulk => Class::Bulk(0),
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod weighted_tests;
