//! One replica's budget loop: heartbeat, apply the allotment to the limiter
//! (with its lease), stand by without a share, close on silence, leave on stop.
//! The rules of when to raise, lower and close are [`super::standing`]'s; this
//! file runs them against the database and the limiter.

use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::caps::{self, CapStanding, Capped};
use super::membership::{self, Heartbeat};
use super::standing::{Action, Standing};
use super::{BudgetSettings, Quota};
use crate::pipeline::limiter::Limiter;

/// The loop's state, built by [`super::Budget::start_capped`].
pub(super) struct Replica {
    pub(super) pool: PgPool,
    pub(super) owner: Uuid,
    pub(super) quota: Quota,
    pub(super) limiter: Limiter,
    pub(super) settings: BudgetSettings,
    pub(super) window: Duration,
    pub(super) standing: Standing,
    /// The capped queues, and what the limiter allows each.
    pub(super) caps: Vec<Capped>,
    pub(super) cap_standing: CapStanding,
    /// In a streak of failed heartbeats (logged once per streak).
    pub(super) failing: bool,
    /// On standby: the last heartbeat gave no share.
    pub(super) standby: bool,
    /// The smallest and largest `ID2META_QPS` in force, while they differ.
    pub(super) disagreement: Option<(f64, f64)>,
    /// Told once the first heartbeat is over ([`super::Budget::first_heartbeat`]).
    pub(super) spoke: Option<oneshot::Sender<()>>,
}

impl Replica {
    pub(super) async fn run(mut self, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(self.settings.heartbeat);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let pause_at = self.standing.pause_at();
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = ticks.tick() => {}
                // Between ticks too: stopping late could overlap another's raise.
                _ = sleep_until_some(pause_at) => {
                    let action = self.standing.on_silence(Instant::now());
                    self.apply(action);
                    continue;
                }
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.beat() => {}
            }
            if let Some(spoke) = self.spoke.take() {
                let _ = spoke.send(());
            }
        }
        self.leave().await;
    }

    fn heartbeat(&self, leaving: bool) -> Heartbeat {
        Heartbeat {
            replica: self.owner,
            qps: self.quota.qps,
            budget: self.quota.calls,
            period: self.quota.period,
            applied: self.standing.applied(),
            window: self.window,
            expiry: self.settings.pause_after + self.window,
            forget_after: self.settings.forget_after,
            leaving,
        }
    }

    /// One heartbeat (and at once another after a lowering, to report it).
    async fn beat(&mut self) {
        // First what time says: a replica resumed after a freeze past its deadline
        // reports that it holds nothing (its limiter already refuses tokens).
        let action = self.standing.on_silence(Instant::now());
        self.apply(action);
        loop {
            let sent_at = Instant::now();
            let time_left = self.standing.time_left(sent_at);
            let beat = self.heartbeat(false);
            let applied = self.cap_standing.applied().to_vec();
            let wants = caps::demand(&self.limiter, &self.caps);
            let heartbeat =
                membership::heartbeat_capped(&self.pool, beat, &self.caps, &applied, &wants);
            let outcome = tokio::time::timeout(time_left, heartbeat).await;
            match outcome {
                Ok(Ok((seen, cap_allotments))) => {
                    if self.failing {
                        tracing::info!("QPS budget heartbeats succeed again");
                        self.failing = false;
                    }
                    let allotment = seen.allotment;
                    self.show_share(&seen);
                    let now = Instant::now();
                    let late = now.saturating_duration_since(sent_at) >= self.settings.pause_after;
                    let action = self.standing.on_allotment(sent_at, now, allotment.allowed);
                    // The caps' allowances come with the budget's (a late reply is
                    // applied to neither; a closed budget closes them below).
                    if !late && self.standing.is_active() {
                        let changes = self
                            .cap_standing
                            .on_allotment(&caps::allowed(&cap_allotments));
                        caps::show(&self.caps, &cap_allotments, &changes);
                        caps::set_limiter(&self.limiter, &self.caps, changes);
                    }
                    if action != Action::Keep {
                        tracing::info!(
                            live = allotment.live,
                            target = allotment.target,
                            allowed = allotment.allowed,
                            "QPS budget allowance set"
                        );
                    }
                    // The share's lease runs from this heartbeat's sending.
                    if action == Action::Keep {
                        self.renew_lease();
                    }
                    self.apply(action);
                    if self.standing.wants_quick_beat() || self.cap_standing.wants_quick_beat() {
                        continue;
                    }
                }
                Ok(Err(error)) => self.failed(&format!("{error:#}")),
                Err(_) => self.failed("the heartbeat timed out"),
            }
            let action = self.standing.on_silence(Instant::now());
            self.apply(action);
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

    /// Standby (no share: more replicas than shares), the share in `/metrics`, and
    /// a disagreement on `ID2META_QPS` in the log (once per change).
    fn show_share(&mut self, seen: &membership::Sighting) {
        let target = seen.allotment.target;
        self.limiter.set_standby(target == 0);
        let period = self.quota.period.as_secs_f64();
        metrics::gauge!(crate::instrumentation::QPS_SHARE_TARGET).set(f64::from(target) / period);
        metrics::gauge!(crate::instrumentation::BUDGET_STANDBY)
            .set(f64::from(u8::from(target == 0)));
        metrics::gauge!(crate::instrumentation::FLEET_QPS).set(seen.qps_min);
        let disagreement = seen.disagreement().then_some((seen.qps_min, seen.qps_max));
        if disagreement != self.disagreement {
            if let Some((smallest, largest)) = disagreement {
                tracing::warn!(
                    own = self.quota.qps,
                    smallest,
                    largest,
                    "replicas disagree on ID2META_QPS; the fleet keeps to the smallest"
                );
            } else {
                tracing::info!(qps = seen.qps_min, "replicas agree on ID2META_QPS again");
            }
            self.disagreement = disagreement;
        }
        if (target == 0) != self.standby {
            self.standby = target == 0;
            if self.standby {
                tracing::info!(
                    live = seen.allotment.live,
                    budget = seen.budget,
                    "no share of the QPS budget (more replicas than shares of it): standing by, taking no jobs"
                );
            } else {
                tracing::info!(target, "a share of the QPS budget: taking jobs");
            }
        }
    }

    /// Gives the limiter the allowance in force with its deadline (the standing's
    /// pause moment), which the limiter enforces by itself under its lock.
    fn renew_lease(&self) {
        if let Some(pause_at) = self.standing.pause_at() {
            let until = tokio::time::Instant::from_std(pause_at);
            self.limiter.set_share(self.standing.applied(), Some(until));
        }
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::Keep => {}
            Action::Allow(calls) => {
                self.renew_lease();
                let share = f64::from(calls) / self.quota.period.as_secs_f64();
                metrics::gauge!(crate::instrumentation::QPS_SHARE).set(share);
            }
            Action::Close => {
                self.limiter.close();
                let changes = self.cap_standing.close();
                caps::set_limiter(&self.limiter, &self.caps, changes);
                metrics::gauge!(crate::instrumentation::QPS_SHARE).set(0.0);
                if self.failing {
                    tracing::warn!(
                        "QPS budget heartbeats failing for too long: calls paused until they succeed"
                    );
                }
            }
        }
    }

    /// Closes the limiter, then marks the row as left: its claim is held one more
    /// window (for the calls just made) and the others take the share after that.
    async fn leave(&mut self) {
        self.limiter.close();
        self.standing
            .on_silence(Instant::now() + self.settings.pause_after);
        let changes = self.cap_standing.close();
        caps::set_limiter(&self.limiter, &self.caps, changes);
        metrics::gauge!(crate::instrumentation::QPS_SHARE).set(0.0);
        let beat = self.heartbeat(true);
        let applied = self.cap_standing.applied().to_vec();
        let left = tokio::time::timeout(
            self.settings.pause_after,
            membership::heartbeat_capped(&self.pool, beat, &self.caps, &applied, &[]),
        )
        .await;
        match left {
            Ok(Ok(_)) => tracing::info!("left the QPS budget"),
            Ok(Err(error)) => tracing::warn!(
                error = %format!("{error:#}"),
                "could not mark the replica row as left; it expires on its own"
            ),
            Err(_) => {
                tracing::warn!("leaving the QPS budget timed out; the row expires on its own")
            }
        }
    }
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
