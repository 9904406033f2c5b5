//! The nonce window: a `SignatureNonce` may be used once within the timestamp window.
//!
//! A replayed signed request is exactly what a nonce exists to stop, and a client
//! that reuses nonces (a fixed one, a weak generator) must be caught by the mock
//! before it is caught in production. The window is bounded in time and in size so
//! a long load run cannot grow it without end.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

/// How long a nonce stays spent: as long as a timestamp stays acceptable.
pub const NONCE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Nonces seen recently, oldest first.
#[derive(Debug)]
pub struct NonceWindow {
    window: Duration,
    capacity: usize,
    seen: HashSet<String>,
    order: VecDeque<(Instant, String)>,
}

impl NonceWindow {
    pub fn new(window: Duration, capacity: usize) -> Self {
        Self {
            window,
            capacity: capacity.max(1),
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Records `nonce` at `now`; `false` if it was already used within the window.
    pub fn admit(&mut self, nonce: &str, now: Instant) -> bool {
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at) < self.window && self.order.len() < self.capacity {
                break;
            }
            if let Some((_, old)) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        if !self.seen.insert(nonce.to_string()) {
            return false;
        }
        self.order.push_back((now, nonce.to_string()));
        true
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.order.len()
    }
}

impl Default for NonceWindow {
    fn default() -> Self {
        Self::new(NONCE_WINDOW, 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_refused_the_second_time_within_the_window() {
        let mut w = NonceWindow::new(Duration::from_secs(60), 10);
        let t = Instant::now();
        assert!(w.admit("a", t));
        assert!(w.admit("b", t));
        assert!(!w.admit("a", t + Duration::from_secs(59)));
    }

    #[test]
    fn a_nonce_is_accepted_again_once_the_window_has_passed() {
        let mut w = NonceWindow::new(Duration::from_secs(60), 10);
        let t = Instant::now();
        assert!(w.admit("a", t));
        assert!(w.admit("a", t + Duration::from_secs(61)));
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn the_window_never_holds_more_than_its_capacity() {
        let mut w = NonceWindow::new(Duration::from_secs(60), 3);
        let t = Instant::now();
        for n in ["a", "b", "c", "d", "e"] {
            assert!(w.admit(n, t));
        }
        assert_eq!(w.len(), 3);
        assert!(!w.admit("e", t));
        assert!(w.admit("a", t), "the oldest was evicted to stay bounded");
    }
}
