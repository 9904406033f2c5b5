//! The QPS budget shared by all replicas, coordinated through PostgreSQL.
//!
//! Alibaba allows `ID2META_QPS` calls per second per *account*, so every replica
//! shares it, and an upstream may count them in any sliding second. The budget is
//! therefore handed out as whole calls per window: each replica's row in
//! `worker_replicas` claims the calls its local [`Limiter`] may make in any window,
//! and the claims never add up to more than the budget (the rule runs on the
//! server, see [`membership`]). Joining,
//! leaving, dying and losing the database are handled so that this holds at every
//! moment; see `docs/qps-budget.md` for the proof and the measured numbers, and
//! [`standing`] for the loop's rules.

pub mod caps;
pub mod membership;
mod quota;
pub mod readiness;
mod replica;
pub mod standing;

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::pipeline::limiter::Limiter;
use caps::{CapStanding, Capped};
pub use quota::{BudgetSettings, Quota, DEFAULT_SPREAD_MS};
use replica::Replica;
use standing::Standing;

/// A running budget loop for one replica.
pub struct Budget {
    task: JoinHandle<()>,
    /// Fires once the first heartbeat has answered or failed.
    first_beat: Option<oneshot::Receiver<()>>,
}

impl Budget {
    /// Starts heartbeating for `owner` and setting `limiter`'s allowance to its
    /// share of `quota`. The limiter (built with [`Quota::window`]) is closed until
    /// the first heartbeat grants room. When `stop` is cancelled the loop closes
    /// the limiter and leaves; cancel it only once no more calls will be made.
    pub fn start(
        pool: PgPool,
        owner: Uuid,
        quota: Quota,
        limiter: Limiter,
        settings: BudgetSettings,
        stop: CancellationToken,
    ) -> Self {
        Self::start_capped(pool, owner, quota, Vec::new(), limiter, settings, stop)
    }

    /// [`Budget::start`] with this worker's capped queues (`ID2META_QUEUE_CAPS`):
    /// each heartbeat also claims a share of every cap, and the limiter (whose
    /// queues were capped with [`Limiter::cap_queue`]) allows each queue what
    /// its claim covers.
    pub fn start_capped(
        pool: PgPool,
        owner: Uuid,
        quota: Quota,
        caps: Vec<Capped>,
        limiter: Limiter,
        settings: BudgetSettings,
        stop: CancellationToken,
    ) -> Self {
        limiter.close();
        metrics::gauge!(crate::instrumentation::QPS_SHARE).set(0.0);
        let window = limiter.window();
        let (spoke, first_beat) = oneshot::channel();
        let replica = Replica {
            pool,
            owner,
            quota,
            limiter,
            settings,
            window,
            standing: Standing::new(settings.pause_after),
            cap_standing: CapStanding::new(caps.len()),
            caps,
            failing: false,
            standby: false,
            disagreement: None,
            spoke: Some(spoke),
        };
        Self {
            task: tokio::spawn(replica.run(stop)),
            first_beat: Some(first_beat),
        }
    }

    /// Waits (up to `within`) until the first heartbeat has answered or failed,
    /// so the replica knows whether it stands by before it takes a job: a
    /// replica that joins a full fleet takes none only to hand them back, and it
    /// is ready on standby from its start.
    pub async fn first_heartbeat(&mut self, within: Duration) {
        if let Some(first_beat) = self.first_beat.take() {
            // An error: the loop ended first, and there is nothing to wait for.
            let _ = tokio::time::timeout(within, first_beat).await;
        }
    }

    /// Waits for the loop to end (after its `stop` token was cancelled): by then
    /// the row is marked as left, or expires on its own if the database refused.
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

/// A pool of its own, so a heartbeat never queues behind job traffic for a
/// connection (a late heartbeat would needlessly pause the replica). One
/// connection: the heartbeats are sequential, and it counts against
/// `ID2META_DB_CONNECTIONS` (the job pool has the rest). Built from the job
/// pool's options, so it carries the same server-side bounds.
pub fn dedicated_pool(pool: &PgPool) -> PgPool {
    PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with((*pool.connect_options()).clone())
}
