//! Capped queues stepping aside: a bulk queue whose cap (`ID2META_QUEUE_CAPS`)
//! has no room for its next call is passed over until that room comes, so the
//! calls it cannot make go to the other queues (work-conserving: a cap bounds a
//! queue, it never holds up another).
//!
//! Only when every queue with waiters is deferred does one of them get the turn
//! anyway: the one whose room comes first, whose holder then waits for it. The
//! turn is never left free while someone waits, so no wake-up can be lost, and
//! that holder steps aside again as soon as a waiter of a queue with room
//! arrives.

use tokio::time::Instant;

use super::Stride;

/// Until when each bulk queue is passed over (`None`: not deferred).
#[derive(Debug, Clone)]
pub struct Deferral {
    until: Vec<Option<Deferred>>,
}

/// How long a queue is passed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Deferred {
    /// Its cap has room again at this moment.
    Until(Instant),
    /// Its cap allows nothing now: until the allowance changes.
    Closed,
}

impl Deferral {
    pub fn new(queues: usize) -> Self {
        Self {
            until: vec![None; queues],
        }
    }

    /// Passes `queue` over until `until`; an index out of range is ignored.
    pub fn defer(&mut self, queue: usize, until: Deferred) {
        if let Some(slot) = self.until.get_mut(queue) {
            *slot = Some(until);
        }
    }

    /// Forgets every deferral (a cap's allowance changed).
    pub fn clear(&mut self) {
        self.until.iter_mut().for_each(|u| *u = None);
    }

    /// Whether `queue` may be served at `now`.
    pub fn ready(&self, queue: usize, now: Instant) -> bool {
        match self.until.get(queue).copied().flatten() {
            None => true,
            Some(Deferred::Until(at)) => at <= now,
            Some(Deferred::Closed) => false,
        }
    }

    /// The queue to serve next among those with waiters: the scheduler's pick
    /// among the ready ones, else the deferred one whose room comes first.
    pub fn pick(
        &self,
        stride: &Stride,
        waiting: impl Fn(usize) -> bool,
        now: Instant,
    ) -> Option<usize> {
        stride
            .next(|i| waiting(i) && self.ready(i, now))
            .or_else(|| {
                (0..stride.len())
                    .filter(|i| waiting(*i))
                    .min_by_key(|i| (self.until.get(*i).copied().flatten(), *i))
            })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_deferred_queue_is_passed_over_while_another_waits_and_served_once_ready() {
        let now = Instant::now();
        let stride = Stride::new(&[10, 1]);
        let mut deferral = Deferral::new(2);
        assert_eq!(deferral.pick(&stride, |_| true, now), Some(0));
        deferral.defer(0, Deferred::Until(now + Duration::from_millis(50)));
        assert_eq!(deferral.pick(&stride, |_| true, now), Some(1));
        let later = now + Duration::from_millis(50);
        assert_eq!(deferral.pick(&stride, |_| true, later), Some(0));
    }

    #[test]
    fn when_every_waiting_queue_is_deferred_the_earliest_room_gets_the_turn() {
        let now = Instant::now();
        let stride = Stride::new(&[1, 1, 1]);
        let mut deferral = Deferral::new(3);
        deferral.defer(0, Deferred::Closed);
        deferral.defer(1, Deferred::Until(now + Duration::from_millis(90)));
        deferral.defer(2, Deferred::Until(now + Duration::from_millis(30)));
        assert_eq!(deferral.pick(&stride, |_| true, now), Some(2));
        assert_eq!(deferral.pick(&stride, |i| i == 0, now), Some(0));
        assert_eq!(deferral.pick(&stride, |_| false, now), None);
        deferral.clear();
        assert!(deferral.ready(0, now));
        deferral.defer(9, Deferred::Closed);
    }
}
