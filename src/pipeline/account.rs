//! The account gate: when the upstream refuses the account (not the job), the
//! worker stops taking jobs, reports not-ready, logs the cause once, and probes
//! with backoff until the upstream accepts it again.
//!
//! The probe is an unbilled call (business parameters left out: the API answers
//! `MissingParameter` when the account is fine), so no job is spent on it and no
//! job's delivery count grows while the account is down.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::health::Health;
use crate::upstream::{Client, FailureClass, Outcome};

/// Shared by the processors (which trip it) and the consumer (which waits on it).
#[derive(Clone)]
pub struct AccountGate {
    refused: watch::Sender<bool>,
    cause: Arc<Mutex<Option<String>>>,
    health: Arc<Health>,
}

impl AccountGate {
    pub fn new(health: Arc<Health>) -> Self {
        let (refused, _) = watch::channel(false);
        Self {
            refused,
            cause: Arc::new(Mutex::new(None)),
            health,
        }
    }

    /// Records a refusal; logs it only the first time.
    pub fn trip(&self, code: &str, message: &str) {
        let mut cause = match self.cause.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if cause.is_none() {
            tracing::error!(
                code,
                message,
                "upstream refuses the account; pausing consumption"
            );
            *cause = Some(code.to_string());
        }
        self.health.set_account_refused(true);
        self.refused.send_replace(true);
    }

    pub fn is_refused(&self) -> bool {
        *self.refused.borrow()
    }

    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.refused.subscribe()
    }

    /// Probes with backoff (1 s doubling to 60 s) until the account is accepted.
    pub async fn probe_until_accepted(
        &self,
        client: &Client,
        shutdown: &tokio_util::sync::CancellationToken,
    ) {
        let mut pause = Duration::from_secs(1);
        loop {
            if !self.health.idle(pause, shutdown).await {
                return;
            }
            match client.probe().await {
                Outcome::Failure(f) if f.class == FailureClass::Account => {
                    tracing::debug!(code = %f.code, "probe: account still refused");
                }
                Outcome::Failure(f) if matches!(f.class, FailureClass::Transient { .. }) => {
                    tracing::debug!(code = %f.code, "probe: upstream unavailable");
                }
                _ => {
                    tracing::info!("upstream accepts the account again; resuming consumption");
                    if let Ok(mut cause) = self.cause.lock() {
                        *cause = None;
                    }
                    self.health.set_account_refused(false);
                    self.refused.send_replace(false);
                    return;
                }
            }
            pause = (pause * 2).min(Duration::from_secs(60));
        }
    }
}
