//! Whose turn it is at the limiter: one holder at a time, interactive waiters
//! before bulk waiters, each lane in arrival order.
//!
//! A fair mutex serves in arrival order only, so one interactive job would queue
//! behind every bulk job already waiting: with a backlog, a whole window or
//! more. Two queues of waiters instead: a freed turn goes to the oldest
//! interactive waiter if there is one, else to the oldest bulk waiter. A bulk
//! holder still waiting for room is asked to step aside ([`Turn::interactive_waiting`],
//! [`Turn::arrivals`]) and goes back to the *front* of the bulk queue, so an
//! interactive job takes the very next free call, and bulk keeps its order.
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

use crate::job::Priority;

/// The turn and its two queues of waiters.
#[derive(Default)]
pub(super) struct Turn {
    state: Mutex<State>,
    /// Woken whenever an interactive waiter queues (a bulk holder steps aside).
    arrivals: Notify,
}

#[derive(Default)]
struct State {
    held: bool,
    next_id: u64,
    interactive: VecDeque<(u64, oneshot::Sender<()>)>,
    bulk: VecDeque<(u64, oneshot::Sender<()>)>,
}

impl State {
    fn queue(&mut self, lane: Priority) -> &mut VecDeque<(u64, oneshot::Sender<()>)> {
        match lane {
            Priority::Interactive => &mut self.interactive,
            Priority::Bulk => &mut self.bulk,
        }
    }

    /// Hands the turn to the next live waiter, interactive first; else frees it.
    fn pass_on(&mut self) {
        while let Some((_, waiter)) = self
            .interactive
            .pop_front()
            .or_else(|| self.bulk.pop_front())
        {
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
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A queue of wakers, no invariant a panic could break halfway: keep going.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for the turn in `lane`'s queue; `front`: ahead of the lane's other
    /// waiters (a bulk holder that stepped aside keeps its place).
    pub async fn take(&self, lane: Priority, front: bool) -> Held<'_> {
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
            let queue = state.queue(lane);
            if front {
                queue.push_front((id, sender));
            } else {
                queue.push_back((id, sender));
            }
            if lane == Priority::Interactive {
                self.arrivals.notify_waiters();
            }
            Waiting {
                turn: self,
                lane,
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

    /// Woken when an interactive waiter queues. Enable it before checking
    /// [`Turn::interactive_waiting`], so an arrival in between is not missed.
    pub fn arrivals(&self) -> &Notify {
        &self.arrivals
    }
}

/// A waiter in a queue, until the turn is handed to it.
struct Waiting<'a> {
    turn: &'a Turn,
    lane: Priority,
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
            state.queue(self.lane).retain(|(queued, _)| *queued != id);
        }
    }
}
