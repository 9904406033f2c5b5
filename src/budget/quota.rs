//! The budget's two inputs: the account's allowance as whole calls per period
//! ([`Quota`], from `ID2META_QPS`) and the loop's timing ([`BudgetSettings`]),
//! apart from the loop so what the budget is told is read in one place.

use std::time::Duration;

/// The budget as whole calls per period: `ID2META_QPS` calls per second, or for a
/// budget under one per second, one call per `1 / QPS` seconds. A fraction of a
/// call is dropped: 20.5 QPS is 20 calls per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    pub calls: u32,
    pub period: Duration,
    /// `ID2META_QPS` as configured: the fleet's budget is the smallest in force.
    pub qps: f64,
}

impl Quota {
    pub fn from_qps(qps: f64) -> Self {
        if qps.is_finite() && qps >= 1.0 {
            Self {
                calls: qps.min(f64::from(u32::MAX)).floor() as u32,
                period: Duration::from_secs(1),
                qps,
            }
        } else {
            let period = if qps.is_finite() && qps > 0.0 {
                Duration::from_secs_f64((1.0 / qps).min(86_400.0))
            } else {
                Duration::from_secs(86_400)
            };
            Self {
                calls: 1,
                period,
                qps,
            }
        }
    }

    /// The window a limiter counts over: the period plus the latency spread.
    pub fn window(&self, settings: &BudgetSettings) -> Duration {
        self.period + settings.spread
    }
}

/// The budget's timing.
#[derive(Debug, Clone, Copy)]
pub struct BudgetSettings {
    /// How often each replica writes its row and reads the others.
    pub heartbeat: Duration,
    /// A replica that has not heartbeated for this long stops calling.
    pub pause_after: Duration,
    /// How much later than another a call may reach the upstream, relative to
    /// when their tokens were taken: every window is this much longer than the
    /// upstream's, so what one replica sends in any window is all the upstream
    /// can see of it in any of its seconds (`ID2META_QPS_MARGIN_MS`).
    pub spread: Duration,
    /// Rows silent for this long are deleted (they stopped counting long before).
    pub forget_after: Duration,
}

impl BudgetSettings {
    /// How long after its last heartbeat a replica's row still counts, for a
    /// one-second period: its pause deadline plus one window.
    pub fn ttl(&self) -> Duration {
        self.pause_after + Duration::from_secs(1) + self.spread
    }
}

/// The default spread (`ID2META_QPS_MARGIN_MS`), in milliseconds: what the even
/// cadence makes safe on a loaded host (docs/qps-budget.md, "The margin").
pub const DEFAULT_SPREAD_MS: u64 = 5;

impl Default for BudgetSettings {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_millis(500),
            pause_after: Duration::from_millis(1500),
            spread: Duration::from_millis(DEFAULT_SPREAD_MS),
            forget_after: Duration::from_secs(60),
        }
    }
}
