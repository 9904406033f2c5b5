//! Whose turn it is at the limiter: one holder at a time, interactive waiters
//! before bulk waiters, each queue in arrival order, the bulk queues by weight
//! (the order among them is the scheduler's, [`crate::pipeline::scheduler`]).
//!
//! A fair mutex serves in arrival order only, so one interactive job would queue
//! behind every bulk job already waiting: with a backlog, a whole window or
//! more. Queues of waiters instead: a freed turn goes to the oldest
//! interactive waiter if there is one, else to the oldest waiter of the bulk
//! queue the scheduler picks among those with waiters. A bulk
//! holder still waiting for room is asked to step aside ([`Turn::interactive_waiting`],
//! [`Turn::arrivals`]) and goes back to the *front* of the bulk queue, so an
//! interactive job takes the very next free call, and bulk keeps its order.
//! A bulk holder whose queue's cap has no room steps aside the same way for a
//! waiter of another queue, and its queue is passed over until the room comes
//! ([`crate::pipeline::scheduler::Deferral`]).
//!
//! Cancellation: a waiter dropped before it was served leaves its queue; one
//! dropped after it was served (between the hand-over and its next poll) passes
//! the turn on, so a turn is never lost.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use tokio::sync::{oneshot, Notify};

use crate::pipeline::scheduler::{Class, Deferral, Deferred, Stride};

type Waiters = VecDeque<(u64, oneshot::Sender<()>)>;

/// The turn and its queues of waiters.
pub(super) struct Turn {
    state: Mutex<State>,
    /// Woken whenever a waiter queues (a bulk holder steps aside for an
    /// interactive one, or, its cap without room, for another queue's).
    arrivals: Notify,
}

struct State {
    held: bool,
    next_id: u64,
    interactive: Waiters,
    /// One queue of waiters per bulk queue, in the scheduler's order.
    bulk: Vec<Waiters>,
    scheduler: Stride,
    /// Capped queues without room, passed over meanwhile.
    deferral: Deferral,
}

impl State {
    fn queue(&mut self, class: Class) -> &mut Waiters {
        match class {
            Class::Interactive | Class::Urgent(_) => &mut self.interactive,
            Class::Bulk(i) => &mut self.bulk[i],
        }
    }

    /// The next waiter: the oldest interactive one, else the oldest of the bulk
    /// queue the scheduler picks.
    fn next_waiter(&mut self) -> Option<oneshot::Sender<()>> {
        if let Some((_, waiter)) = self.interactive.pop_front() {
            return Some(waiter);
        }
        let bulk = &self.bulk;
        let now = tokio::time::Instant::now();
        let queue = self
            .deferral
            .pick(&self.scheduler, |i| !bulk[i].is_empty(), now)?;
        self.bulk[queue].pop_front().map(|(_, waiter)| waiter)
    }

    /// Hands the turn to the next live waiter, interactive first; else frees it.
    fn pass_on(&mut self) {
        while let Some(waiter) = self.next_waiter() {
            // A waiter whose receiver is gone was dropped: try the next one.
            if waiter.send(()).is_ok() {
                return;
            }
        }
        self.held = false;
    }
}

/// Holding the turn; dropping it passes the turn on.
pub(super) struct Held<'a> {
    turn: &'a Turn,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.turn.lock().pass_on();
    }
}

impl Turn {
    /// A turn over `weights.len()` bulk queues (at least one) shared by those weights.
    pub fn new(weights: &[u32]) -> Self {
        let weights = if weights.is_empty() {
            &[1][..]
        } else {
            weights
        };
        Self {
            state: Mutex::new(State {
                held: false,
                next_id: 0,
                interactive: VecDeque::new(),
                bulk: weights.iter().map(|_| VecDeque::new()).collect(),
                scheduler: Stride::new(weights),
                deferral: Deferral::new(weights.len()),
            }),
            arrivals: Notify::new(),
        }
    }

    /// `class` with a bulk queue this turn does not know served as the first.
    pub fn known(&self, class: Class) -> Class {
        match class {
            Class::Bulk(i) if i >= self.lock().bulk.len() => Class::Bulk(0),
            known => known,
        }
    }

    /// Counts a call made for `class` in the scheduler's shares.
    pub fn charge(&self, class: Class) {
        if let Class::Bulk(i) = class {
            self.lock().scheduler.charge(i);
        }
    }

    /// Passes bulk queue `queue` over until `until` (its cap has no room).
    pub fn defer(&self, queue: usize, until: Deferred) {
        self.lock().deferral.defer(queue, until);
    }

    /// Serves every queue again by the scheduler alone (a cap's allowance changed).
    pub fn clear_deferrals(&self) {
        self.lock().deferral.clear();
    }

    /// Whether a waiter of a bulk queue other than `queue`, not deferred, waits:
    /// a holder whose cap has no room should leave it the turn.
    pub fn other_ready(&self, queue: usize) -> bool {
        let state = self.lock();
        let now = tokio::time::Instant::now();
        (0..state.bulk.len())
            .any(|i| i != queue && !state.bulk[i].is_empty() && state.deferral.ready(i, now))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A queue of wakers, no invariant a panic could break halfway: keep going.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for the turn in `class`'s queue (a class [`Turn::known`] made
    /// known); `front`: ahead of that queue's other waiters (a bulk holder that
    /// stepped aside keeps its place).
    pub async fn take(&self, class: Class, front: bool) -> Held<'_> {
        let receiver = {
            let mut state = self.lock();
            // Free only when nobody waits: `pass_on` frees it with both queues empty.
            if !state.held {
                state.held = true;
                return Held { turn: self };
            }
            let (sender, receiver) = oneshot::channel();
            let id = state.next_id;
            state.next_id += 1;
            let queue = state.queue(class);
            if front {
                queue.push_front((id, sender));
            } else {
                queue.push_back((id, sender));
            }
            // The holder may step aside: for an interactive job always, for a
            // bulk one when the holder's cap has no room.
            self.arrivals.notify_waiters();
            Waiting {
                turn: self,
                class,
                id,
                receiver: Some(receiver),
            }
        };
        receiver.await;
        Held { turn: self }
    }

    /// Whether an interactive job waits for the turn (a bulk holder should step aside).
    pub fn interactive_waiting(&self) -> bool {
        !self.lock().interactive.is_empty()
    }

    /// Woken when a waiter queues. Enable it before checking
    /// [`Turn::interactive_waiting`], so an arrival in between is not missed.
    pub fn arrivals(&self) -> &Notify {
        &self.arrivals
    }
}

/// A waiter in a queue, until the turn is handed to it.
struct Waiting<'a> {
    turn: &'a Turn,
    class: Class,
    id: u64,
    receiver: Option<oneshot::Receiver<()>>,
}

impl Future for Waiting<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(receiver) = self.receiver.as_mut() else {
            return Poll::Ready(());
        };
        match Pin::new(receiver).poll(cx) {
            // Served (or, impossibly, its sender dropped without a hand-over:
            // senders are only dropped by `pass_on` after sending or when the
            // receiver is gone). Either way the turn is ours now.
            Poll::Ready(_) => {
                self.receiver = None;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let Some(mut receiver) = self.receiver.take() else {
            // Completed: the `Held` made from it owns the turn now.
            return;
        };
        let mut state = self.turn.lock();
        // Under the lock no hand-over can race: either it already happened
        // (pass the turn on) or this waiter is still queued (leave the queue).
        if receiver.try_recv().is_ok() {
            state.pass_on();
        } else {
            let id = self.id;
            state.queue(self.class).retain(|(queued, _)| *queued != id);
        }
    }
}
