//! What `/healthz` and `/readyz` report, shared by the parts that know it.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Flags the worker's parts set; the HTTP endpoints read them.
#[derive(Debug, Default)]
pub struct Health {
    broker: AtomicBool,
    database: AtomicBool,
    /// Why consumption is paused (an account or environment error), if it is.
    pause: Mutex<Option<String>>,
    /// On standby: no share of the QPS budget (more replicas than shares). Still
    /// ready (spare capacity, not a fault); `/readyz` says so.
    standby: AtomicBool,
    /// Unix millis of the consumer loop's last turn.
    heartbeat_ms: AtomicI64,
    /// Unix millis until which the credentials held are valid; `0`: valid with no
    /// known expiry (the default, a static pair); [`NO_CREDENTIALS`]: none held.
    credentials_until_ms: AtomicI64,
}

/// [`Health::credentials_until_ms`] when no credentials are held.
const NO_CREDENTIALS: i64 = i64::MIN;

/// Why the worker is not ready, or `None`.
pub type NotReady = Option<String>;

impl Health {
    pub fn new() -> Arc<Self> {
        let h = Arc::new(Self::default());
        h.beat();
        h
    }

    pub fn set_broker(&self, up: bool) {
        self.broker.store(up, Ordering::Relaxed);
    }

    pub fn set_standby(&self, standby: bool) {
        self.standby.store(standby, Ordering::Relaxed);
    }

    /// Whether this replica stands by without a share of the budget.
    pub fn standby(&self) -> bool {
        self.standby.load(Ordering::Relaxed)
    }

    pub fn set_database(&self, up: bool) {
        self.database.store(up, Ordering::Relaxed);
    }

    /// Consumption paused because of `cause` (an account or environment error), or
    /// resumed (`None`). The pause metrics are set by the gate, which knows the code.
    pub fn set_paused(&self, cause: Option<String>) {
        let mut held = match self.pause.lock() {
            Ok(held) => held,
            Err(poisoned) => poisoned.into_inner(),
        };
        *held = cause;
    }

    /// Whether an account or environment error pauses consumption.
    pub fn account_refused(&self) -> bool {
        self.pause_cause().is_some()
    }

    /// What pauses consumption, if anything.
    pub fn pause_cause(&self) -> Option<String> {
        match self.pause.lock() {
            Ok(held) => held.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The credentials held: `None` none, `Some(None)` valid with no expiry,
    /// `Some(Some(t))` valid until `t`.
    pub fn set_credentials(&self, held: Option<Option<chrono::DateTime<chrono::Utc>>>) {
        let value = match held {
            None => NO_CREDENTIALS,
            Some(None) => 0,
            Some(Some(until)) => until.timestamp_millis().max(1),
        };
        self.credentials_until_ms.store(value, Ordering::Relaxed);
    }

    fn credentials_valid(&self) -> bool {
        match self.credentials_until_ms.load(Ordering::Relaxed) {
            0 => true,
            NO_CREDENTIALS => false,
            until => chrono::Utc::now().timestamp_millis() < until,
        }
    }

    /// The loop is alive: called on every turn of the supervisor (at least once a second).
    pub fn beat(&self) {
        self.heartbeat_ms
            .store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    /// Sleeps for `delay` while still beating (waiting out an outage is progress too:
    /// an orchestrator must not restart a worker for the broker's or the upstream's
    /// outage). Returns `false` if `shutdown` came first.
    pub async fn idle(
        &self,
        delay: Duration,
        shutdown: &tokio_util::sync::CancellationToken,
    ) -> bool {
        let wake = tokio::time::Instant::now() + delay;
        loop {
            self.beat();
            let now = tokio::time::Instant::now();
            if now >= wake {
                return true;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                _ = tokio::time::sleep_until(wake.min(now + Duration::from_secs(1))) => {}
            }
        }
    }

    /// `/healthz`: the loop turned within `within`.
    pub fn alive(&self, within: Duration) -> bool {
        let age = chrono::Utc::now().timestamp_millis() - self.heartbeat_ms.load(Ordering::Relaxed);
        age <= within.as_millis() as i64
    }

    /// `/readyz`: broker channel open, database reachable, valid credentials held, no
    /// account or environment error in force (the answer names it).
    pub fn not_ready(&self) -> NotReady {
        if !self.broker.load(Ordering::Relaxed) {
            Some("broker channel not open".into())
        } else if !self.database.load(Ordering::Relaxed) {
            Some("database unreachable".into())
        } else if !self.credentials_valid() {
            Some("no valid upstream credentials held".into())
        } else {
            self.pause_cause()
                .map(|cause| format!("paused by an account or environment error: {cause}"))
        }
    }
}
