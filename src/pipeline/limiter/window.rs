//! The rule behind the limiter, free of clocks and tasks: at most `allowance`
//! sends in any window of `window` length, and sends at least `gap` apart.
//!
//! Sends are counted in buckets of one millisecond, so the memory is the same
//! (one counter per millisecond of the window) whether the allowance is 5 or a
//! million. A send is counted as if it happened anywhere in its bucket: a bucket
//! stays in the count until the *end* of it is a whole window old, which can only
//! count a send for up to a millisecond too long, never too short.
//!
//! Why this bound holds for any window `[a, a + window)`: take its last send, at
//! millisecond `k`. Every other send in it is less than `window` earlier, so in a
//! bucket from `k - window_ms` to `k`. That send was allowed only because those
//! buckets held fewer than the allowance *then in force*, so the window holds at
//! most that allowance, whatever the allowance was before. Lowering it therefore
//! takes effect for every window whose last send comes after the change.

use std::time::Duration;

/// Sends in the trailing window, by millisecond.
#[derive(Debug, Clone)]
pub struct SendWindow {
    /// `counts[k % len]` is the number of sends in millisecond `k`, for the
    /// `len = window_ms + 1` milliseconds up to `newest`.
    counts: Vec<u32>,
    newest: u64,
    total: u64,
    /// Milliseconds of the last send, for the gap.
    last_send: Option<u64>,
}

/// When a send may happen, given the state of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Now,
    /// Not before this millisecond.
    At(u64),
    /// The allowance is zero: not until it changes.
    Never,
}

impl SendWindow {
    /// An empty window of `window` (rounded up to whole milliseconds, at least one).
    pub fn new(window: Duration) -> Self {
        let window_ms = window.as_nanos().div_ceil(1_000_000).max(1) as usize;
        Self {
            counts: vec![0; window_ms + 1],
            newest: 0,
            total: 0,
            last_send: None,
        }
    }

    fn len(&self) -> u64 {
        self.counts.len() as u64
    }

    /// Moves the window's end to millisecond `now`, forgetting older buckets.
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

    /// Sends counted in the window ending at millisecond `now`.
    pub fn in_window(&mut self, now: u64) -> u64 {
        self.advance(now);
        self.total
    }

    /// Whether a send may happen at millisecond `now` under `allowance`, with
    /// sends at least `gap_ms` apart.
    pub fn check(&mut self, now: u64, allowance: u32, gap_ms: u64) -> Verdict {
        if allowance == 0 {
            return Verdict::Never;
        }
        self.advance(now);
        let spaced = self.last_send.map_or(now, |last| (last + gap_ms).max(now));
        if self.total < u64::from(allowance) {
            return if spaced <= now {
                Verdict::Now
            } else {
                Verdict::At(spaced)
            };
        }
        // Full: the earliest moment enough old buckets have left the window.
        let excess = self.total + 1 - u64::from(allowance);
        let oldest = now + 1 - self.len().min(now + 1);
        let mut freed = 0u64;
        for k in oldest..=now {
            freed += u64::from(self.counts[(k % self.len()) as usize]);
            if freed >= excess {
                // Bucket k leaves the window once it is `len` milliseconds old.
                return Verdict::At((k + self.len()).max(spaced));
            }
        }
        Verdict::At(now + self.len())
    }

    /// Records a send at millisecond `now` (after [`SendWindow::check`] said `Now`).
    pub fn record(&mut self, now: u64) {
        self.advance(now);
        let slot = (now % self.len()) as usize;
        self.counts[slot] += 1;
        self.total += 1;
        self.last_send = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends as early as the window allows from `start`, for `until` ms.
    fn drive(w: &mut SendWindow, allowance: u32, gap: u64, start: u64, until: u64) -> Vec<u64> {
        let mut sent = Vec::new();
        let mut now = start;
        while now < until {
            match w.check(now, allowance, gap) {
                Verdict::Now => {
                    w.record(now);
                    sent.push(now);
                }
                Verdict::At(at) => now = at,
                Verdict::Never => break,
            }
        }
        sent
    }

    /// The most sends in any window of `len` ms.
    fn busiest(sent: &[u64], len: u64) -> usize {
        (0..sent.len())
            .map(|i| sent[i..].iter().take_while(|&&t| t < sent[i] + len).count())
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn no_window_ever_holds_more_than_the_allowance() {
        let mut w = SendWindow::new(Duration::from_millis(1005));
        let sent = drive(&mut w, 20, 0, 0, 10_000);
        assert_eq!(busiest(&sent, 1005), 20);
        // And the allowance is used: 20 per 1006 ms (a bucket's rounding).
        assert!(sent.len() >= 9 * 20, "{}", sent.len());
    }

    #[test]
    fn a_gap_spreads_the_sends_without_lowering_the_rate() {
        let mut w = SendWindow::new(Duration::from_millis(1000));
        let sent = drive(&mut w, 10, 50, 0, 10_000);
        assert!(sent.windows(2).all(|p| p[1] - p[0] >= 50));
        assert_eq!(busiest(&sent, 1000), 10);
        assert!(sent.len() >= 98, "{}", sent.len());
    }

    #[test]
    fn lowering_the_allowance_binds_every_window_that_ends_after_the_change() {
        let mut w = SendWindow::new(Duration::from_millis(1000));
        let mut sent = drive(&mut w, 30, 0, 0, 2_500);
        let lowered_at = *sent.last().unwrap_or(&0) + 1;
        sent.extend(drive(&mut w, 10, 0, lowered_at, 6_000));
        let after: Vec<u64> = sent.iter().copied().filter(|&t| t >= lowered_at).collect();
        for (i, &t) in sent.iter().enumerate() {
            let in_window: Vec<u64> = sent[i..]
                .iter()
                .copied()
                .take_while(|&s| s < t + 1000)
                .collect();
            if in_window.last().is_some_and(|&s| s >= lowered_at) {
                assert!(in_window.len() <= 10, "{} sends from {t}", in_window.len());
            }
        }
        assert!(after.len() >= 30, "the lower allowance is still used");
    }

    #[test]
    fn a_zero_allowance_sends_nothing_and_a_million_needs_no_more_memory() {
        let mut w = SendWindow::new(Duration::from_millis(1000));
        assert_eq!(w.check(5, 0, 0), Verdict::Never);
        let sent = drive(&mut w, 1_000_000, 0, 0, 3);
        assert_eq!(sent.len(), 1_000_000);
        assert_eq!(w.counts.len(), 1001);
    }

    #[test]
    fn a_long_silence_empties_the_window() {
        let mut w = SendWindow::new(Duration::from_millis(1000));
        drive(&mut w, 5, 0, 0, 10);
        assert_eq!(w.in_window(10), 5);
        assert_eq!(w.in_window(1000), 5);
        assert_eq!(w.in_window(1001), 0);
        assert_eq!(w.check(50_000, 5, 0), Verdict::Now);
    }
}
