//! Warm connections: the idle connections a replica keeps open so that a call
//! granted its rate-limit token writes its request at once (issue 19 item 3).
//!
//! Why: a token is counted from the moment it is handed out. A call that had to
//! open its connection after its token (DNS, TCP, TLS: some 200 ms to Alibaba's
//! public endpoint from far away) went out that much late, while the calls after
//! it, on connections freed meanwhile, went out on time: one upstream second
//! counted both, above the budget. Measured before: 61 calls in a sliding second
//! against 50, 11 throttled (bench (10) "cold start").
//!
//! How many: while one replacement is dialed, the replica can be granted
//! `calls × handshake / window` tokens; the pool keeps twice that idle, plus a
//! spare, never more than a window's calls (nor 512). The handshake is the
//! longest of the recent dials. The caller says what share to keep warm for (the
//! worker: its last share, none on standby). The connections in use come back
//! to the pool after their answers, so under a steady load the pool rarely dials
//! at all; idle, it replaces each connection before it gets old (see
//! [`super::pool`]), so a replica idle for an hour meets a backlog warm.
//!
//! Why not a connection checked out before the token instead (tried first): a
//! call waiting for its token then holds a connection, so a replica under a
//! backlog holds one per job in flight (up to `ID2META_CONCURRENCY`, 256 by
//! default) and thirty replicas nearly eight thousand, where the calls in flight
//! need a few hundred: a load on Alibaba's gateway and on every NAT in between.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::pool::{Pool, MOST_IDLE};

/// How often the warm count is checked.
const TICK: Duration = Duration::from_millis(100);

/// The handshake assumed before any dial was timed.
const ASSUMED_HANDSHAKE: Duration = Duration::from_millis(250);

/// Warm connections beyond the estimate, for calls granted together.
const SPARE: usize = 2;

/// The most dials started at once.
const MOST_DIALS_AT_ONCE: usize = 32;

/// After a failed dial, the warmer waits before it tries again, up to this.
const MOST_BACKOFF: Duration = Duration::from_secs(5);

/// The share to keep connections warm for: the last one held, so that a limiter
/// closed by a database outage meets its backlog warm when the share comes back;
/// none on standby (no share to come back soon).
#[derive(Debug, Default)]
pub struct WarmShare {
    last: AtomicU32,
}

impl WarmShare {
    /// The calls per window to keep warm for, given the limiter's `allowance` now
    /// and whether the replica stands by.
    pub fn follow(&self, allowance: u32, standby: bool) -> u32 {
        if standby {
            self.last.store(0, Ordering::Relaxed);
        } else if allowance > 0 {
            self.last.store(allowance, Ordering::Relaxed);
        }
        self.last.load(Ordering::Relaxed)
    }
}

/// The idle connections to keep for `calls` per `window`.
pub(super) fn target(calls: u32, window: Duration, handshake: Duration) -> usize {
    if calls == 0 || window.is_zero() {
        return 0;
    }
    let during_one =
        (f64::from(calls) * handshake.as_secs_f64() / window.as_secs_f64()).ceil() as usize;
    (2 * during_one + SPARE)
        .min(calls as usize + SPARE)
        .min(MOST_IDLE)
}

/// Keeps the warm count for `calls()` per `window` until `shutdown`.
pub(super) async fn keep(
    pool: &Pool,
    calls: impl Fn() -> u32,
    window: Duration,
    shutdown: CancellationToken,
) {
    let mut pause = TICK;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
        pause = match top_up(pool, calls(), window).await {
            Err(()) => (pause * 2).min(MOST_BACKOFF),
            Ok(_) => TICK,
        };
    }
}

/// Waits until the warm count for `calls` per `window` is met, for at most
/// `within`; `false` at once if a dial fails (an unreachable upstream must not
/// hold a replica's start: its calls fail and are retried like any other).
pub(super) async fn ready(pool: &Pool, calls: u32, window: Duration, within: Duration) -> bool {
    let warmed = async {
        loop {
            match top_up(pool, calls, window).await {
                Ok(true) => return true,
                Ok(false) => {}
                Err(()) => return false,
            }
        }
    };
    tokio::time::timeout(within, warmed).await.unwrap_or(false)
}

/// Dials what is missing of the warm count. `Ok(true)`: it was met already;
/// `Err`: a dial failed (the upstream is unreachable: back off).
async fn top_up(pool: &Pool, calls: u32, window: Duration) -> Result<bool, ()> {
    let handshake = pool.handshake_estimate().unwrap_or(ASSUMED_HANDSHAKE);
    let wanted = target(calls, window, handshake);
    let fresh = pool.fresh_idle();
    if fresh >= wanted {
        return Ok(true);
    }
    let missing = (wanted - fresh).min(MOST_DIALS_AT_ONCE);
    let dials = futures_util::future::join_all((0..missing).map(|_| pool.dial_idle())).await;
    match dials.into_iter().find_map(Result::err) {
        Some(error) => {
            tracing::debug!(%error, "warming an upstream connection failed");
            Err(())
        }
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn the_warm_share_outlasts_a_closed_limiter_but_not_a_standby() {
        let share = WarmShare::default();
        assert_eq!(share.follow(0, false), 0, "no share yet");
        assert_eq!(share.follow(17, false), 17);
        // The database went away: the limiter closed, the share is expected back.
        assert_eq!(share.follow(0, false), 17);
        assert_eq!(share.follow(20, false), 20);
        assert_eq!(share.follow(20, true), 0, "on standby");
        assert_eq!(share.follow(0, false), 0);
    }

    #[test]
    fn the_warm_count_covers_the_calls_of_two_handshakes_and_never_more_than_a_window() {
        // 50 calls a second, 200 ms handshakes: 10 calls per handshake.
        assert_eq!(target(50, SECOND, Duration::from_millis(200)), 22);
        // A quick handshake on loopback still keeps the spare.
        assert_eq!(target(50, SECOND, Duration::from_micros(300)), 4);
        // A slow one is capped by the window's calls.
        assert_eq!(target(4, SECOND, Duration::from_secs(3)), 6);
        // On standby, nothing.
        assert_eq!(target(0, SECOND, Duration::from_millis(200)), 0);
        // Never more than the pool keeps, or the warmer would dial for ever.
        assert_eq!(target(5_000, SECOND, Duration::from_millis(300)), MOST_IDLE);
    }

    /// A server that closes every connection 200 ms after accepting it (an
    /// upstream whose idle timeout is short); counts the connections.
    async fn closing_server() -> (reqwest::Url, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = reqwest::Url::parse(&format!("http://{}/", listener.local_addr().expect("addr")))
            .expect("url");
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    drop(socket);
                });
            }
        });
        (url, accepted)
    }

    #[tokio::test]
    async fn the_pool_is_warmed_to_its_count_and_closed_connections_are_replaced() {
        let (url, accepted) = closing_server().await;
        let dialing =
            super::super::dial::Target::new(&url, Duration::from_secs(2)).expect("target");
        let pool = Pool::new(dialing);
        // 10 calls a second with loopback handshakes: the spare and a little more.
        assert!(
            ready(&pool, 10, SECOND, Duration::from_secs(5)).await,
            "warmed"
        );
        let warm = pool.fresh_idle();
        assert!(warm >= SPARE, "{warm} warm connections");
        let first = accepted.load(std::sync::atomic::Ordering::SeqCst);
        let shutdown = CancellationToken::new();
        let keeper = tokio::spawn({
            let (pool, shutdown) = (pool.clone(), shutdown.clone());
            async move { keep(&pool, || 10, SECOND, shutdown).await }
        });
        // The server closes them; the warmer dials replacements, and the pool is
        // warm again (to the count for the handshakes it has now timed) with
        // connections the server accepted later.
        let replaced = async {
            while accepted.load(std::sync::atomic::Ordering::SeqCst) < 2 * first
                || pool.fresh_idle() < target(10, SECOND, pool.handshake_estimate().unwrap_or(TICK))
            {
                tokio::time::sleep(TICK).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), replaced)
            .await
            .expect("closed connections are replaced");
        shutdown.cancel();
        keeper.await.expect("the warmer ends at shutdown");
    }
}
