//! Login throttling, per client address (the TCP peer: behind a proxy every
//! client shares the proxy's address, so the proxy should throttle too).
//!
//! Five wrong tokens within a minute block the address: every login from it is
//! answered `429` with `Retry-After` (the token is not even compared) for a
//! minute, then two, four, ... up to an hour for each block that follows; a
//! right token clears the record. The refusals are logged once per address and
//! minute, with the address and how many there were, so a guessing run is one
//! line a minute, not one per guess.
//!
//! In memory: one console process's view. Replicas of the console each allow
//! five a minute, still far from a guessable rate for a 32-character token.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Wrong tokens allowed within [`WINDOW`] before the address is blocked.
pub const FREE_FAILURES: u32 = 5;
/// The window the wrong tokens are counted in.
pub const WINDOW: Duration = Duration::from_secs(60);
/// The first block; each further one doubles, up to [`LONGEST_BLOCK`].
pub const FIRST_BLOCK: Duration = Duration::from_secs(60);
pub const LONGEST_BLOCK: Duration = Duration::from_secs(3600);
/// Addresses remembered before idle ones are forgotten (memory stays bounded).
const REMEMBERED: usize = 10_000;

/// What is known of one address.
#[derive(Debug, Clone)]
struct Entry {
    window_start: Instant,
    failures: u32,
    /// Blocks so far: the next one lasts twice as long.
    blocks: u32,
    blocked_until: Option<Instant>,
    last_seen: Instant,
    /// When the last log line for this address was written, and refusals since.
    logged_at: Option<Instant>,
    unlogged: u32,
}

/// The throttle of one console process.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

impl LoginThrottle {
    /// `Err(wait)` while `client` is blocked: answer 429 with `Retry-After: wait`.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(&client).and_then(|e| e.blocked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Records a wrong token from `client`; blocks it at the fifth in a window.
    pub fn failed(&self, client: IpAddr, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= REMEMBERED {
            entries.retain(|_, e| now.saturating_duration_since(e.last_seen) < LONGEST_BLOCK);
        }
        let entry = entries.entry(client).or_insert_with(|| Entry {
            window_start: now,
            failures: 0,
            blocks: 0,
            blocked_until: None,
            last_seen: now,
            logged_at: None,
            unlogged: 0,
        });
        entry.last_seen = now;
        if now.saturating_duration_since(entry.window_start) >= WINDOW {
            entry.window_start = now;
            entry.failures = 0;
        }
        entry.failures += 1;
        if entry.failures >= FREE_FAILURES {
            let block = FIRST_BLOCK
                .saturating_mul(2u32.saturating_pow(entry.blocks))
                .min(LONGEST_BLOCK);
            entry.blocks = entry.blocks.saturating_add(1);
            entry.blocked_until = Some(now + block);
            entry.failures = 0;
            entry.window_start = now;
        }
    }

    /// A right token: the address starts afresh.
    pub fn succeeded(&self, client: IpAddr) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(&client);
    }

    /// Counts a refusal (wrong or throttled) for the log: `Some(n)` when a line
    /// is due (the first of this address in a minute), with the refusals it covers.
    pub fn to_log(&self, client: IpAddr, now: Instant) -> Option<u32> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get_mut(&client)?;
        entry.unlogged = entry.unlogged.saturating_add(1);
        let due = entry
            .logged_at
            .is_none_or(|at| now.saturating_duration_since(at) >= WINDOW);
        due.then(|| {
            entry.logged_at = Some(now);
            std::mem::take(&mut entry.unlogged)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    fn fail(throttle: &LoginThrottle, client: IpAddr, times: u32, now: Instant) {
        for _ in 0..times {
            throttle.failed(client, now);
        }
    }

    #[test]
    fn five_wrong_tokens_in_a_minute_block_that_address_only() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        fail(&throttle, A, 4, t0);
        assert_eq!(throttle.check(A, t0), Ok(()));
        fail(&throttle, A, 1, t0 + Duration::from_secs(59));
        let wait = throttle.check(A, t0 + Duration::from_secs(59));
        assert_eq!(wait, Err(FIRST_BLOCK));
        assert_eq!(
            throttle.check(B, t0),
            Ok(()),
            "another address is not blocked"
        );
        // Four in one minute and one in the next do not block.
        fail(&throttle, B, 4, t0);
        fail(&throttle, B, 1, t0 + WINDOW);
        assert_eq!(throttle.check(B, t0 + WINDOW), Ok(()));
    }

    #[test]
    fn each_block_lasts_twice_the_last_up_to_an_hour_and_a_right_token_clears_it() {
        let throttle = LoginThrottle::default();
        let mut now = Instant::now();
        let mut blocks = Vec::new();
        for _ in 0..9 {
            fail(&throttle, A, FREE_FAILURES, now);
            let Err(wait) = throttle.check(A, now) else {
                panic!("blocked")
            };
            blocks.push(wait.as_secs());
            now += wait;
            assert_eq!(throttle.check(A, now), Ok(()), "free again after the wait");
        }
        assert_eq!(blocks, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        throttle.succeeded(A);
        fail(&throttle, A, FREE_FAILURES, now);
        assert_eq!(throttle.check(A, now), Err(FIRST_BLOCK));
    }

    #[test]
    fn refusals_are_logged_once_per_address_and_minute_with_their_count() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        let mut lines = Vec::new();
        for second in 0..150 {
            let now = t0 + Duration::from_secs(second);
            throttle.failed(A, now);
            if let Some(count) = throttle.to_log(A, now) {
                lines.push((second, count));
            }
        }
        assert_eq!(lines, [(0, 1), (60, 60), (120, 60)]);
    }
}
