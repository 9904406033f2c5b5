//! The rule behind the limiter, free of clocks and tasks: at most `allowance`
//! sends in any window of `window` length (our own count), and, under a backlog,
//! sends on an even cadence of about one per `window / allowance` (governor's).
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
//! (measured: p90 436 ms of limiter wait in `bench --only 7`). So within the count,
//! sends go on an even cadence of one per `1.002 · window / allowance`: `governor`'s
//! GCRA ([`cadence`] says how it is fitted: the window's clock, a rebuild per
//! allowance that keeps the rhythm, a tolerance for sends woken late, the 0.2 %
//! slack). The count remains the bound; the cadence only decides when, within it,
//! sends go.

mod cadence;

use std::time::Duration;

use cadence::Cadence;

/// Sends in the trailing window, by tick, and the cadence within it.
#[derive(Debug)]
pub struct SendWindow {
    /// `counts[k % len]` is the number of sends in tick `k`, for the
    /// `len = window_ticks + 1` ticks up to `newest`.
    counts: Vec<u32>,
    newest: u64,
    total: u64,
    /// When, within the count, the next send may go (governor's GCRA).
    cadence: Cadence,
}

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
        let len = window_ticks as u64 + 1;
        Self {
            counts: vec![0; window_ticks + 1],
            newest: 0,
            total: 0,
            cadence: Cadence::new(len, u64::try_from(tick_ns).unwrap_or(u64::MAX)),
        }
    }

    fn len(&self) -> u64 {
        self.counts.len() as u64
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
        let slot = self.cadence.due(now, allowance).max(now);
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
    /// `allowance`, and moves the cadence's next slot on.
    pub fn record(&mut self, now: u64, allowance: u32) {
        self.advance(now);
        let slot = (now % self.len()) as usize;
        self.counts[slot] += 1;
        self.total += 1;
        self.cadence.take(now, allowance);
    }
}

#[cfg(test)]
mod tests;
