//! The QPS budget shared by all replicas, coordinated through PostgreSQL.
//!
//! Alibaba allows `ID2META_QPS` calls per second per *account*, so every replica
//! shares it. Each replica heartbeats a row in `worker_replicas`; its share is the
//! budget divided by the live rows, and its local [`Limiter`] paces calls at that
//! share. Joining, leaving, dying and losing the database are handled so that the
//! replicas' rates never add up to more than the budget; see `docs/qps-budget.md`
//! for the argument and the measured numbers, and [`standing`] for the rules.

pub mod membership;
pub mod standing;

use std::time::{Duration, Instant};

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::pipeline::limiter::Limiter;
use membership::Heartbeat;
use standing::{Action, Standing};

/// The budget's timing. The defaults give a dead replica's share back within
/// about `ttl + 2 × heartbeat` (3 s).
#[derive(Debug, Clone, Copy)]
pub struct BudgetSettings {
    /// How often each replica writes its row and re-reads the others.
    pub heartbeat: Duration,
    /// A row older than this is a dead replica.
    pub ttl: Duration,
    /// A replica that has not heartbeated for `ttl - margin` stops calling, so it
    /// is silent before anyone may count it dead.
    pub margin: Duration,
    /// Dead rows are deleted after this long (they stopped counting at `ttl`).
    pub forget_after: Duration,
}

impl Default for BudgetSettings {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_millis(500),
            ttl: Duration::from_secs(2),
            margin: Duration::from_millis(500),
            forget_after: Duration::from_secs(60),
        }
    }
}

/// A running budget loop for one replica.
pub struct Budget {
    task: JoinHandle<()>,
}

impl Budget {
    /// Starts heartbeating for `owner` and pacing `limiter` at its share of
    /// `total_qps`. The limiter is closed until this replica has joined. When
    /// `stop` is cancelled the loop closes the limiter and deletes the row; cancel
    /// it only once no more calls will be made (after the consumer finished).
    pub fn start(
        pool: PgPool,
        owner: Uuid,
        total_qps: f64,
        limiter: Limiter,
        settings: BudgetSettings,
        stop: CancellationToken,
    ) -> Self {
        limiter.close();
        metrics::gauge!(crate::instrumentation::QPS_SHARE).set(0.0);
        let replica = Replica {
            pool,
            owner,
            limiter,
            settings,
            standing: Standing::new(total_qps, settings.ttl.saturating_sub(settings.margin)),
            failing: false,
        };
        Self {
            task: tokio::spawn(replica.run(stop)),
        }
    }

    /// Waits for the loop to end (after its `stop` token was cancelled): by then
    /// the row is deleted, or will expire within the TTL if the database refused.
    pub async fn wait(self) {
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "the QPS budget loop ended abnormally");
        }
    }

    /// Stops the loop without leaving, as a crash would: the row stays until it
    /// expires. For tests of a dying replica.
    pub fn kill(self) {
        self.task.abort();
    }
}

/// A small pool of its own, so a heartbeat never queues behind job traffic for a
/// connection (a late heartbeat would needlessly suspend the replica).
pub fn dedicated_pool(pool: &PgPool) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with((*pool.connect_options()).clone())
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

struct Replica {
    pool: PgPool,
    owner: Uuid,
    limiter: Limiter,
    settings: BudgetSettings,
    standing: Standing,
    /// In a streak of failed heartbeats (logged once per streak).
    failing: bool,
}

impl Replica {
    async fn run(mut self, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(self.settings.heartbeat);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let sweep_every = (self.settings.forget_after.as_millis()
            / self.settings.heartbeat.as_millis().max(1))
        .clamp(1, 1000) as u64;
        let mut turns: u64 = 0;
        loop {
            let pause_at = self.standing.pause_at();
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = ticks.tick() => {}
                // Between ticks too: stopping late could overlap a survivor's takeover.
                _ = sleep_until_some(pause_at) => {
                    let action = self.standing.on_silence(Instant::now());
                    self.apply(action, 0);
                    continue;
                }
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.beat() => {}
            }
            turns += 1;
            if turns % sweep_every == 0 && self.standing.is_active() {
                self.sweep().await;
            }
        }
        self.leave().await;
    }

    /// One heartbeat (two in a row while joining, see [`Standing::wants_quick_beat`]).
    async fn beat(&mut self) {
        loop {
            let sent_at = Instant::now();
            let beat = Heartbeat {
                replica: self.owner,
                ttl: self.settings.ttl,
                counted_at: self.standing.counted_at(),
                visible_since: self.standing.visible_since(),
                active: self.standing.is_active(),
            };
            let time_left = self.standing.time_left(sent_at, self.settings.ttl);
            let outcome =
                tokio::time::timeout(time_left, membership::heartbeat(&self.pool, beat)).await;
            match outcome {
                Ok(Ok(seen)) => {
                    if self.failing {
                        tracing::info!("QPS budget heartbeats succeed again");
                        self.failing = false;
                    }
                    let action = self.standing.on_sighting(sent_at, seen);
                    self.apply(action, seen.live);
                    if self.standing.wants_quick_beat() {
                        continue;
                    }
                }
                Ok(Err(error)) => self.failed(&format!("{error:#}")),
                Err(_) => self.failed("the heartbeat timed out"),
            }
            let action = self.standing.on_silence(Instant::now());
            self.apply(action, 0);
            return;
        }
    }

    fn failed(&mut self, error: &str) {
        if !self.failing {
            tracing::warn!(%error, "QPS budget heartbeat failed; retrying");
            self.failing = true;
        } else {
            tracing::debug!(%error, "QPS budget heartbeat failed again");
        }
    }

    fn apply(&self, action: Action, live: i64) {
        match action {
            Action::Keep => {}
            Action::Rate(share) => {
                self.limiter.set_rate(share);
                metrics::gauge!(crate::instrumentation::QPS_SHARE).set(share);
                tracing::info!(live, share, "QPS budget share set");
            }
            Action::Close => {
                self.limiter.close();
                metrics::gauge!(crate::instrumentation::QPS_SHARE).set(0.0);
                tracing::warn!(
                    "QPS budget heartbeats failing for too long: calls paused until they succeed"
                );
            }
        }
    }

    async fn sweep(&self) {
        match membership::sweep(&self.pool, self.settings.forget_after).await {
            Ok(0) => {}
            Ok(swept) => tracing::info!(swept, "forgot dead replicas"),
            Err(error) => tracing::debug!(error = %format!("{error:#}"), "sweep failed"),
        }
    }

    async fn leave(&self) {
        self.limiter.close();
        metrics::gauge!(crate::instrumentation::QPS_SHARE).set(0.0);
        let left =
            tokio::time::timeout(self.settings.ttl, membership::leave(&self.pool, self.owner))
                .await;
        match left {
            Ok(Ok(())) => tracing::info!("left the QPS budget"),
            Ok(Err(error)) => tracing::warn!(
                error = %format!("{error:#}"),
                "could not remove the replica row; it expires on its own"
            ),
            Err(_) => tracing::warn!("removing the replica row timed out; it expires on its own"),
        }
    }
}
