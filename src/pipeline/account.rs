//! The pause gate: when the upstream refuses the account or the environment (keys,
//! signature, clock, endpoint: not the job), the worker stops taking jobs, hands
//! back the ones it holds without spending their deliveries, reports not-ready with
//! the cause, logs it once, and probes until the upstream accepts it again.
//!
//! The probe is an unbilled call (business parameters left out: the API answers
//! `MissingParameter` when all is well), so no job is spent on it and no job's
//! delivery count grows while the worker is paused. Its delay keeps growing across
//! repeated pauses ([`ProbeDelay`]).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::probe_delay::ProbeDelay;
use crate::health::Health;
use crate::instrumentation::{CONSUMER_PAUSED, PAUSE_CAUSE};
use crate::upstream::{pause_cause, Client, FailureClass, Outcome};

/// How long a probe that met an expired STS token waits for the forced refresh.
const PROBE_REFRESH_WAIT: Duration = Duration::from_secs(10);

/// Shared by the processors (which trip it) and the consumer (which waits on it).
#[derive(Clone)]
pub struct AccountGate {
    refused: watch::Sender<bool>,
    state: Arc<Mutex<State>>,
    health: Arc<Health>,
}

#[derive(Default)]
struct State {
    /// The code that paused consumption, while paused.
    code: Option<String>,
    delay: ProbeDelay,
}

impl AccountGate {
    pub fn new(health: Arc<Health>) -> Self {
        let (refused, _) = watch::channel(false);
        // Exported from the start, so an alert on it has a series to watch.
        metrics::gauge!(CONSUMER_PAUSED).set(0.0);
        Self {
            refused,
            state: Arc::new(Mutex::new(State::default())),
            health,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Pauses consumption for `code`; logs only the first refusal of a pause.
    pub fn trip(&self, code: &str, message: &str) {
        {
            let mut state = self.state();
            if state.code.is_none() {
                tracing::error!(
                    code,
                    cause = pause_cause(code),
                    message,
                    "the upstream refuses the account or the environment; pausing consumption"
                );
                state.delay.paused(Instant::now());
                self.show(None, code);
                state.code = Some(code.to_string());
            }
        }
        self.refused.send_replace(true);
    }

    /// Whether consumption is paused now.
    pub fn is_refused(&self) -> bool {
        *self.refused.borrow()
    }

    /// Changes of the pause; read the current state at once with `borrow_and_update`.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.refused.subscribe()
    }

    /// Probes with a growing delay until the upstream accepts the account and the
    /// environment again; `false` if `shutdown` came first.
    pub async fn probe_until_accepted(
        &self,
        client: &Client,
        shutdown: &CancellationToken,
    ) -> bool {
        loop {
            let delay = self.state().delay.next_delay();
            if !self.health.idle(delay, shutdown).await {
                return false;
            }
            match client.probe().await {
                Outcome::Failure(f) if f.class == FailureClass::Pause => {
                    tracing::debug!(code = %f.code, "probe: still refused");
                    self.still_refused(&f.code);
                }
                Outcome::Failure(f) if f.class == FailureClass::RefreshCredentials => {
                    tracing::debug!(code = %f.code, "probe: the STS token is refused; refreshing");
                    self.still_refused(&f.code);
                    if let Some(stale) = client.credentials().current() {
                        let _ = client
                            .credentials()
                            .force_refresh(&stale, PROBE_REFRESH_WAIT)
                            .await;
                    }
                }
                Outcome::Failure(f) if matches!(f.class, FailureClass::Transient { .. }) => {
                    tracing::debug!(code = %f.code, "probe: upstream unavailable");
                }
                _ => {
                    self.resume();
                    return true;
                }
            }
        }
    }

    /// A probe met `code`: the pause goes on, under this cause if it changed.
    fn still_refused(&self, code: &str) {
        let mut state = self.state();
        if state.code.as_deref() != Some(code) {
            self.show(state.code.as_deref(), code);
            state.code = Some(code.to_string());
        }
    }

    fn resume(&self) {
        let mut state = self.state();
        tracing::info!("the upstream accepts the account and the environment again; resuming");
        state.delay.resumed(Instant::now());
        if let Some(code) = state.code.take() {
            metrics::gauge!(PAUSE_CAUSE, "cause" => pause_cause(&code)).set(0.0);
        }
        metrics::gauge!(CONSUMER_PAUSED).set(0.0);
        self.health.set_paused(None);
        self.refused.send_replace(false);
    }

    /// Reports the pause's cause (`/readyz`, metrics), replacing `previous`.
    fn show(&self, previous: Option<&str>, code: &str) {
        if let Some(previous) = previous {
            metrics::gauge!(PAUSE_CAUSE, "cause" => pause_cause(previous)).set(0.0);
        }
        let cause = pause_cause(code);
        metrics::gauge!(PAUSE_CAUSE, "cause" => cause).set(1.0);
        metrics::gauge!(CONSUMER_PAUSED).set(1.0);
        self.health.set_paused(Some(format!("{code} ({cause})")));
    }
}
