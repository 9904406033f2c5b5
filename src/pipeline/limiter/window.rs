//! The rule behind the limiter, free of clocks and tasks: at most `allowance`
//! sends in any window of `window` length, and, under a backlog, sends on an even
//! cadence of one per `window / allowance`.
//!
//! Sends are counted in buckets of one tick (the limiter's is 100 µs), so the
//! memory is the same (one counter per tick of the window) whether the allowance
//! is 5 or a million. A send is counted as if it happened anywhere in its bucket:
//! a bucket stays in the count until the *end* of it is a whole window old, which
//! can only count a send for up to a tick too long, never too short (at 100 µs
//! that costs 0.01 % of the budget; whole milliseconds cost 0.1 %).
//!
//! Why this bound holds for any window `[a, a + window)`: take its last send, at
//! tick `k`. Every other send in it is less than `window` earlier, so in a
//! bucket from `k - window_ticks` to `k`. That send was allowed only because those
//! buckets held fewer than the allowance *then in force*, so the window holds at
//! most that allowance, whatever the allowance was before. Lowering it therefore
//! takes effect for every window whose last send comes after the change.
//!
//! Why a cadence, and not only the count: under a backlog a window-only limiter
//! sends whenever the oldest call leaves the window, so whatever shape the first
//! window had repeats for ever. Sends at least half a share apart made that shape
//! a burst over half the window and a hole over the other half, and an interactive
//! job arriving in the hole waited up to half a second for the next free call
//! (measured: p90 436 ms of limiter wait in `bench --only 7`). The cadence is a
//! GCRA schedule: each send moves the next slot one spacing on from the previous
//! *slot*, not from the send, so a send woken a little late (up to half a spacing,
//! or 10 ms if that is longer: at hundreds of calls per second a timer's
//! millisecond is several spacings) keeps the rhythm instead of losing budget,
//! and a long idle restarts it from the send.
//!
//! Why the cadence is 0.2 % slower than `window / allowance`: under a backlog the
//! count binds too, and a send woken late pushes the one a window later by as
//! much. With an exact cadence that lateness never drained; every wake-up added
//! its own, and gaps of 80 to 90 ms opened on a 59 ms spacing (p99 206 ms for an
//! interactive job in `bench --only 7`). The slack drains 2 ms of lateness per
//! window, so a late send echoes for a few windows, not for ever. It costs 0.2 %
//! of the budget. The count remains the bound; the cadence only decides when,
//! within it, sends go.

use std::time::Duration;

/// Sends in the trailing window, by tick.
#[derive(Debug, Clone)]
pub struct SendWindow {
    /// `counts[k % len]` is the number of sends in tick `k`, for the
    /// `len = window_ticks + 1` ticks up to `newest`.
    counts: Vec<u32>,
    newest: u64,
    total: u64,
    /// Where the cadence's next send is due, in [`SUB`]-ths of a tick (a
    /// spacing is rarely a whole number of ticks); `None` before any send.
    next_slot: Option<u64>,
    /// How late (sub-ticks) a send may be and still keep the rhythm, at least.
    catch_up: u64,
}

/// Sub-ticks per tick: the cadence's resolution.
const SUB: u64 = 1024;

/// The cadence is this much slower than `window / allowance` (in thousandths):
/// see the module doc for why an exact cadence lets lateness pile up.
const SLACK_PER_MILLE: u64 = 2;

/// A send later than its slot by up to this keeps the rhythm (and the next sends
/// go early to make up), even when a spacing is shorter: a timer wakes up to a
/// millisecond late, which at hundreds of calls per second is several spacings.
const CATCH_UP: Duration = Duration::from_millis(10);

/// When a send may happen, given the state of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Now,
    /// Not before this tick.
    At(u64),
    /// The allowance is zero: not until it changes.
    Never,
}

impl SendWindow {
    /// An empty window of `window`, counted in buckets of `tick` (the window is
    /// rounded up to whole ticks, at least one).
    pub fn new(window: Duration, tick: Duration) -> Self {
        let tick_ns = tick.as_nanos().max(1);
        let window_ticks = window.as_nanos().div_ceil(tick_ns).max(1) as usize;
        let catch_up_ticks = (CATCH_UP.as_nanos() / tick_ns) as u64;
        Self {
            counts: vec![0; window_ticks + 1],
            newest: 0,
            total: 0,
            next_slot: None,
            catch_up: catch_up_ticks.saturating_mul(SUB),
        }
    }

    fn len(&self) -> u64 {
        self.counts.len() as u64
    }

    /// The cadence under `allowance`, in sub-ticks: the counted span shared
    /// evenly, plus the slack.
    fn spacing(&self, allowance: u32) -> u64 {
        let span = u128::from(self.len()) * u128::from(SUB) * u128::from(1000 + SLACK_PER_MILLE);
        let spacing = span / (1000 * u128::from(allowance.max(1)));
        u64::try_from(spacing).unwrap_or(u64::MAX)
    }

    /// Moves the window's end to tick `now`, forgetting older buckets.
    fn advance(&mut self, now: u64) {
        if now <= self.newest {
            return;
        }
        let steps = (now - self.newest).min(self.len());
        for k in (now - steps + 1)..=now {
            let slot = (k % self.len()) as usize;
            self.total -= u64::from(self.counts[slot]);
            self.counts[slot] = 0;
        }
        self.newest = now;
    }

    /// Sends counted in the window ending at tick `now`.
    pub fn in_window(&mut self, now: u64) -> u64 {
        self.advance(now);
        self.total
    }

    /// Whether a send may happen at tick `now` under `allowance`: the window has
    /// room and the cadence's next slot has come.
    pub fn check(&mut self, now: u64, allowance: u32) -> Verdict {
        if allowance == 0 {
            return Verdict::Never;
        }
        self.advance(now);
        let slot = self
            .next_slot
            .map_or(now, |next| next.div_ceil(SUB).max(now));
        if self.total < u64::from(allowance) {
            return if slot <= now {
                Verdict::Now
            } else {
                Verdict::At(slot)
            };
        }
        // Full: the earliest moment enough old buckets have left the window.
        let excess = self.total + 1 - u64::from(allowance);
        let oldest = now + 1 - self.len().min(now + 1);
        let mut freed = 0u64;
        for k in oldest..=now {
            freed += u64::from(self.counts[(k % self.len()) as usize]);
            if freed >= excess {
                // Bucket k leaves the window once it is `len` ticks old.
                return Verdict::At((k + self.len()).max(slot));
            }
        }
        Verdict::At(now + self.len())
    }

    /// Records a send at tick `now` (after [`SendWindow::check`] said `Now`) under
    /// `allowance`, and sets the cadence's next slot.
    pub fn record(&mut self, now: u64, allowance: u32) {
        self.advance(now);
        let slot = (now % self.len()) as usize;
        self.counts[slot] += 1;
        self.total += 1;
        let spacing = self.spacing(allowance);
        // Late by less than half a spacing (or the catch-up, if longer): the rhythm
        // holds (the next slot is one spacing after this one's). Later: it restarts
        // from this send.
        let on_cadence = now
            .saturating_mul(SUB)
            .saturating_sub((spacing / 2).max(self.catch_up));
        let from = self
            .next_slot
            .map_or(on_cadence, |next| next.max(on_cadence));
        self.next_slot = Some(from.saturating_add(spacing));
    }
}

#[cfg(test)]
mod tests;
