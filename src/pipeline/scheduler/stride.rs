//! Start-time fair queuing over the bulk queues (stride scheduling): which
//! queue's waiter gets the next free call of this replica.
//!
//! Each queue has a *pass*, its virtual time: serving one call of a queue
//! advances its pass by its stride, `STRIDE_ONE / weight`, so over any run of
//! calls a queue of weight 3 is served three times as often as one of weight 1.
//! The next call goes to the queue with waiters whose pass is lowest (ties to
//! the queue named first). That is work-conserving: a queue with no waiter is
//! simply not a candidate, and its share goes to the others at once.
//!
//! A queue that comes back after an idle spell must not cash in the calls it
//! did not make (a burst that would starve the others for as long as it was
//! away): its pass is lifted to the scheduler's virtual time, the pass of the
//! latest call served, as start-time fair queuing lifts a flow's start tag to
//! the system's virtual time. A queue kept busy never falls behind that time,
//! so the lift only ever touches queues that were idle.
//!
//! Calls are counted when made ([`Stride::charge`]), not when a waiter is
//! picked: a picked waiter can still step aside (an interactive job arrived) or
//! give up (shutdown), and neither costs its queue anything.

/// The pass of one call at weight 1. Divisible by every weight up to 16 and
/// large enough that rounding the stride of weight 1000 costs under 1e-6.
const STRIDE_ONE: u128 = 720_720 * 1_000_000;

/// The fair-queuing state of a replica's bulk queues; indices are the order of
/// the weights given to [`Stride::new`].
#[derive(Debug, Clone)]
pub struct Stride {
    strides: Vec<u128>,
    passes: Vec<u128>,
    /// The pass of the latest call served: where an idle queue resumes.
    virtual_time: u128,
}

impl Stride {
    /// One entry per queue, weights above zero (a zero weight counts as 1).
    pub fn new(weights: &[u32]) -> Self {
        let strides: Vec<u128> = weights
            .iter()
            .map(|w| STRIDE_ONE / u128::from((*w).max(1)))
            .collect();
        Self {
            passes: vec![0; strides.len()],
            strides,
            virtual_time: 0,
        }
    }

    /// How many queues it schedules.
    pub fn len(&self) -> usize {
        self.strides.len()
    }

    pub fn is_empty(&self) -> bool {
        self.strides.is_empty()
    }

    /// The queue to serve next among those for which `waiting` holds (lowest
    /// pass, the first named on a tie); `None` when no queue waits.
    pub fn next(&self, waiting: impl Fn(usize) -> bool) -> Option<usize> {
        (0..self.len())
            .filter(|i| waiting(*i))
            .min_by_key(|i| (self.start(*i), *i))
    }

    /// Counts one call made for `queue`. An index out of range is ignored (a
    /// job of a queue this replica does not schedule is not fair-queued).
    pub fn charge(&mut self, queue: usize) {
        if queue >= self.len() {
            return;
        }
        let start = self.start(queue);
        self.virtual_time = self.virtual_time.max(start);
        self.passes[queue] = start + self.strides[queue];
    }

    /// Where `queue` stands if served now: its pass, lifted to the virtual
    /// time if it fell behind while idle.
    fn start(&self, queue: usize) -> u128 {
        self.passes[queue].max(self.virtual_time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves `calls` calls with every queue in `busy` always waiting; returns
    /// the calls each queue got.
    fn serve(stride: &mut Stride, busy: &[usize], calls: usize) -> Vec<usize> {
        let mut got = vec![0; stride.len()];
        for _ in 0..calls {
            let queue = stride.next(|i| busy.contains(&i)).expect("a busy queue");
            stride.charge(queue);
            got[queue] += 1;
        }
        got
    }

    #[test]
    fn backlogged_queues_are_served_in_proportion_to_their_weights() {
        let mut stride = Stride::new(&[3, 1]);
        assert_eq!(serve(&mut stride, &[0, 1], 400), vec![300, 100]);
        let mut stride = Stride::new(&[1, 3, 1]);
        assert_eq!(serve(&mut stride, &[0, 1, 2], 500), vec![100, 300, 100]);
    }

    #[test]
    fn the_split_holds_over_every_short_run_not_only_on_average() {
        // Weights 3:1: every run of 4 consecutive calls has 3 of the heavy queue
        // (smooth interleaving, not 300 then 100).
        let mut stride = Stride::new(&[3, 1]);
        let mut order = Vec::new();
        for _ in 0..40 {
            let queue = stride.next(|_| true).expect("both wait");
            stride.charge(queue);
            order.push(queue);
        }
        for run in order.windows(4) {
            assert_eq!(run.iter().filter(|q| **q == 1).count(), 1, "{order:?}");
        }
    }

    #[test]
    fn a_queue_without_waiters_leaves_its_share_to_the_others() {
        let mut stride = Stride::new(&[3, 1]);
        assert_eq!(serve(&mut stride, &[1], 50), vec![0, 50]);
        assert_eq!(stride.next(|_| false), None);
    }

    #[test]
    fn a_queue_back_from_idle_gets_its_share_but_no_catch_up_burst() {
        let mut stride = Stride::new(&[1, 1]);
        // Queue 1 alone for a long while, then queue 0 returns.
        serve(&mut stride, &[1], 1_000);
        let got = serve(&mut stride, &[0, 1], 100);
        // Its share, give or take the one call of its fresh start: no burst.
        assert!(got[0].abs_diff(50) <= 1, "{got:?}");
    }

    #[test]
    fn calls_picked_but_not_made_cost_nothing() {
        let mut stride = Stride::new(&[1, 1]);
        // Picked, then stepped aside without a call: still first in line.
        assert_eq!(stride.next(|_| true), Some(0));
        assert_eq!(stride.next(|_| true), Some(0));
        stride.charge(0);
        assert_eq!(stride.next(|_| true), Some(1));
    }

    #[test]
    fn equal_weights_alternate_and_unknown_queues_are_ignored() {
        let mut stride = Stride::new(&[2, 2]);
        stride.charge(7);
        let order: Vec<usize> = (0..6)
            .map(|_| {
                let q = stride.next(|_| true).expect("waiting");
                stride.charge(q);
                q
            })
            .collect();
        assert_eq!(order, vec![0, 1, 0, 1, 0, 1]);
    }

    #[test]
    fn the_heaviest_weight_still_rounds_to_its_share() {
        let mut stride = Stride::new(&[1000, 1]);
        assert_eq!(serve(&mut stride, &[0, 1], 1001), vec![1000, 1]);
    }
}
