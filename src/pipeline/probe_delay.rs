//! How long the paused worker waits before each unbilled probe.
//!
//! The delay doubles with every probe that finds the upstream still refusing, and
//! it is *not* reset when the worker resumes: an environment that flaps (a clock
//! drifting in and out of the 15-minute window, a key revoked and restored) would
//! otherwise be probed every second, and hand jobs back, on every cycle. Only a
//! long healthy spell earns the short delay back.

use std::time::{Duration, Instant};

/// The first delay after a calm period.
pub const FIRST: Duration = Duration::from_secs(1);
/// The longest wait between two probes.
pub const LONGEST: Duration = Duration::from_secs(60);
/// Resumed for this long without a new pause: the next pause starts at [`FIRST`].
pub const HEALTHY_SPELL: Duration = Duration::from_secs(10 * 60);

/// The probe delay's state across pauses.
#[derive(Debug, Clone)]
pub struct ProbeDelay {
    next: Duration,
    resumed_at: Option<Instant>,
}

impl Default for ProbeDelay {
    fn default() -> Self {
        Self {
            next: FIRST,
            resumed_at: None,
        }
    }
}

impl ProbeDelay {
    /// A pause begins at `now`: after a long enough healthy spell the delay starts
    /// over; otherwise it goes on from where the last pause left it.
    pub fn paused(&mut self, now: Instant) {
        if let Some(resumed) = self.resumed_at.take() {
            if now.saturating_duration_since(resumed) >= HEALTHY_SPELL {
                self.next = FIRST;
            }
        }
    }

    /// The wait before the next probe; the one after it is twice as long (at most
    /// [`LONGEST`]).
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(LONGEST);
        delay
    }

    /// A probe passed at `now`: the worker resumes.
    pub fn resumed(&mut self, now: Instant) {
        self.resumed_at = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_within_a_pause_up_to_the_longest() {
        let mut delay = ProbeDelay::default();
        delay.paused(Instant::now());
        let seen: Vec<u64> = (0..9).map(|_| delay.next_delay().as_secs()).collect();
        assert_eq!(seen, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn the_delay_keeps_growing_across_two_pauses_close_together() {
        let start = Instant::now();
        let mut delay = ProbeDelay::default();
        delay.paused(start);
        assert_eq!(delay.next_delay(), Duration::from_secs(1));
        assert_eq!(delay.next_delay(), Duration::from_secs(2));
        delay.resumed(start + Duration::from_secs(3));
        // Refused again a minute later: the second pause does not start over at 1 s.
        delay.paused(start + Duration::from_secs(63));
        assert_eq!(delay.next_delay(), Duration::from_secs(4));
        assert_eq!(delay.next_delay(), Duration::from_secs(8));
    }

    #[test]
    fn a_long_healthy_spell_earns_the_short_delay_back() {
        let start = Instant::now();
        let mut delay = ProbeDelay::default();
        delay.paused(start);
        for _ in 0..5 {
            delay.next_delay();
        }
        delay.resumed(start + Duration::from_secs(60));
        delay.paused(start + Duration::from_secs(60) + HEALTHY_SPELL);
        assert_eq!(delay.next_delay(), FIRST);
    }
}
