//! Standing by (no share of the budget, more replicas than shares) while holding
//! the broker connection.
//!
//! A replica on standby takes no jobs, but it is ready: it is spare capacity the
//! moment a share frees, not a fault. So it connects and declares like any
//! session and keeps that connection while it waits: `/readyz` then reports the
//! broker as it is. (Waiting before connecting, as 0.2's first standby did, left
//! a replica that *started* on standby "not ready: broker channel not open" for
//! as long as it stood by: an orchestrator never counted it, and a rollout that
//! waits for readiness stalled.)

use std::time::Duration;

use anyhow::anyhow;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::SessionEnd;
use crate::health::Health;

/// What the session waits on while standing by.
pub(super) struct Standby<'a> {
    pub connection: &'a lapin::Connection,
    pub health: &'a Health,
    pub shutdown: &'a CancellationToken,
    pub standby: &'a mut watch::Receiver<bool>,
    pub refused: &'a mut watch::Receiver<bool>,
}

impl Standby<'_> {
    /// Waits, beating, until a share comes (`Ok(None)`: consume now), or the
    /// session must end for another reason: shutdown, or a pause (`Ok(Some)`).
    /// A lost connection is the session's error, as everywhere else.
    pub async fn wait_for_a_share(self) -> anyhow::Result<Option<SessionEnd>> {
        // The broker answered and the topology is declared.
        self.health.set_broker(true);
        let mut beat = tokio::time::interval(Duration::from_secs(1));
        loop {
            if !*self.standby.borrow_and_update() {
                return Ok(None);
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return Ok(Some(SessionEnd::Shutdown)),
                changed = self.refused.changed() => {
                    if changed.is_ok() && *self.refused.borrow_and_update() {
                        return Ok(Some(SessionEnd::Paused));
                    }
                }
                changed = self.standby.changed() => {
                    if changed.is_err() {
                        // The budget is gone (shutdown): nothing will give a share.
                        self.shutdown.cancelled().await;
                        return Ok(Some(SessionEnd::Shutdown));
                    }
                }
                _ = beat.tick() => {
                    self.health.beat();
                    if !self.connection.status().connected() {
                        return Err(anyhow!("the broker connection closed while standing by"));
                    }
                }
            }
        }
    }
}
