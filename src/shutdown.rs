//! Turning SIGTERM and SIGINT into a cancellation every part can watch.
//!
//! Kubernetes sends SIGTERM, waits the grace period, then SIGKILL: the worker
//! stops taking jobs at once and finishes or returns the ones in flight within
//! `ID2META_SHUTDOWN_DEADLINE_SECS`.
//!
//! The contract gives 30 s from SIGTERM to exit (Kubernetes' default grace
//! period). Every step after the drain has its own bound, so the worst case
//! (broker and database both stuck) still fits:
//!
//! | step | bound |
//! |---|---|
//! | drain: jobs in flight finish or return | `ID2META_SHUTDOWN_DEADLINE_SECS`, default 18 s, at most 20 s |
//! | the consumer lets go of the broker (cancel, requeue, close) | [`CONSUMER_CLOSE`] 2 s |
//! | the budget gives this replica's share back | [`BUDGET_LEAVE`] 2 s |
//! | the dead-letter intake finishes the message it is sealing | [`INTAKE_STOP`] 2 s |
//! | the result writer flushes what it holds | [`WRITER_FLUSH`] 3 s |
//! | total | 18 + 9 = 27 s by default, 20 + 9 = 29 s at most |
//!
//! A step cut short loses nothing: an unacknowledged delivery returns to the
//! queue when the connection goes, an uncommitted result's job is redelivered
//! and finds its claim, and a replica that did not leave the budget is expired
//! by the others.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// The contract's limit from SIGTERM to exit.
pub const CONTRACT_LIMIT: Duration = Duration::from_secs(30);
/// After the drain: the consumer's cancel, requeue and close.
pub const CONSUMER_CLOSE: Duration = Duration::from_secs(2);
/// After the consumer: leaving the QPS budget.
pub const BUDGET_LEAVE: Duration = Duration::from_secs(2);
/// After the budget: the dead-letter intake's last seal.
pub const INTAKE_STOP: Duration = Duration::from_secs(2);
/// After the intake: the result writer's last commit.
pub const WRITER_FLUSH: Duration = Duration::from_secs(3);
/// Everything after the drain.
pub const AFTER_DRAIN: Duration =
    Duration::from_secs(CONSUMER_CLOSE.as_secs() + BUDGET_LEAVE.as_secs() + WRITER_FLUSH.as_secs());
/// The longest drain that leaves [`AFTER_DRAIN`] and a second of margin
/// (process exit, scheduling) inside [`CONTRACT_LIMIT`].
pub const MAX_DRAIN: Duration =
    Duration::from_secs(CONTRACT_LIMIT.as_secs() - AFTER_DRAIN.as_secs() - 1);
/// `ID2META_SHUTDOWN_DEADLINE_SECS`'s default.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(18);

/// Runs one shutdown step for at most `limit`; `None` (and a warning naming
/// the step) if it did not finish in time. The step's future is dropped.
pub async fn bounded<F: Future>(what: &str, limit: Duration, step: F) -> Option<F::Output> {
    match tokio::time::timeout(limit, step).await {
        Ok(output) => Some(output),
        Err(_) => {
            tracing::warn!(step = what, limit = ?limit, "shutdown step cut short at its bound");
            None
        }
    }
}

/// A token cancelled at the first SIGTERM or SIGINT.
///
/// The handlers are installed before this returns, not in the task it spawns: a
/// signal that arrives between a process announcing itself (the mock prints its
/// address) and that task's first poll would otherwise meet the default action and
/// kill the process instead of stopping it.
pub fn on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    let signals = Signals::install();
    tokio::spawn(async move {
        signals.first().await;
        tracing::info!("shutdown requested; no new jobs will be taken");
        cancel.cancel();
    });
    token
}

/// SIGTERM and SIGINT, listened to from the moment they were installed.
#[cfg(unix)]
enum Signals {
    Installed(tokio::signal::unix::Signal, tokio::signal::unix::Signal),
    /// Without signal handlers only Ctrl-C is left.
    CtrlC,
}

#[cfg(unix)]
impl Signals {
    fn install() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(term), Ok(int)) => Self::Installed(term, int),
            _ => Self::CtrlC,
        }
    }

    async fn first(self) {
        match self {
            Self::Installed(mut term, mut int) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            Self::CtrlC => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> Self {
        Signals
    }

    async fn first(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The clock of a periodic background task (a sweep): ticks every `period`,
/// the first at once, a late tick delaying the next rather than bunching,
/// until `stop`.
pub struct Every {
    interval: tokio::time::Interval,
    stop: CancellationToken,
}

impl Every {
    pub fn new(period: Duration, stop: CancellationToken) -> Self {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self { interval, stop }
    }

    /// Waits for the next tick; `false` once `stop` is cancelled.
    pub async fn tick(&mut self) -> bool {
        tokio::select! {
            _ = self.stop.cancelled() => false,
            _ = self.interval.tick() => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_case_shutdown_fits_the_contract() {
        assert!(DEFAULT_DRAIN <= MAX_DRAIN);
        assert!(MAX_DRAIN + AFTER_DRAIN < CONTRACT_LIMIT);
    }

    /// A SIGTERM sent the moment `on_signals` returns, before its task ever ran, stops
    /// the process's work instead of killing it (with the handlers installed inside
    /// the task, the default action ends this test binary).
    #[cfg(unix)]
    #[tokio::test]
    async fn a_sigterm_right_after_on_signals_returns_is_caught() {
        let token = on_signals();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        tokio::time::timeout(Duration::from_secs(10), token.cancelled())
            .await
            .expect("the signal cancels the token");
    }

    #[tokio::test]
    async fn a_stuck_step_is_cut_at_its_bound() {
        let limit = Duration::from_millis(10);
        let stuck = bounded("stuck", limit, std::future::pending::<()>()).await;
        assert_eq!(stuck, None);
        assert_eq!(bounded("quick", WRITER_FLUSH, async { 7 }).await, Some(7));
    }
}
