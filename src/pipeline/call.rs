//! One call of a job's: a rate-limit token, then the request at once.
//!
//! A token is counted from the moment it is handed out, so nothing is awaited
//! between the token and the write: no database step, and no connection to open,
//! for the upstream client keeps connections warm ([`crate::upstream::Client::keep_warm`]).
//! Opening one after the token sent a cold replica's first calls one handshake
//! late and bunched with the calls after them, above the budget (issue 19 item 3;
//! bench (10) "cold start").

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;
use uuid::Uuid;

use super::attempts::cancelled;
use super::processor::Returned;
use super::scheduler::Class;
use super::settle::Settlement;
use super::Processor;
use crate::credentials::Credentials;
use crate::identity::Identity;
use crate::job::Job;
use crate::traces::spans;
use crate::upstream::Outcome;

/// How waiting for a rate-limit token ended.
pub(super) enum Paced {
    /// The token is taken: call now, with nothing awaited in between.
    Granted,
    /// The claim passed to another worker while waiting.
    Lost,
    /// Shutdown or a pause: give the job back, this attempt uncounted.
    GiveBack,
}

/// How one call of a job's went.
pub(super) enum Call {
    /// Made (or failed on the way): its outcome, and the credentials in force
    /// when it was signed.
    Made {
        outcome: Outcome,
        used: Option<Arc<Credentials>>,
    },
    /// No call: the job's processing ends here (lost, given back, cancelled).
    Ended(Result<Option<Settlement>, Returned>),
}

impl Processor {
    /// Attempt number `attempt` (already counted) of `job`.
    pub(super) async fn call(
        &self,
        job: &Job,
        identity: &Identity,
        token: Uuid,
        attempt: i32,
    ) -> Call {
        tracing::Span::current().record("attempt", attempt);
        if attempt > 1 {
            metrics::counter!(crate::instrumentation::RETRIES).increment(1);
        }
        match self.paced(job, token).await {
            Paced::Granted => {}
            Paced::Lost => return Call::Ended(Ok(None)),
            Paced::GiveBack => return Call::Ended(self.give_back(job, token, true).await),
        }
        // From the token to the request nothing is awaited: a slow database step
        // here would send granted calls late and bunched, above the budget.
        if self.gate.is_refused() {
            return Call::Ended(self.give_back(job, token, true).await);
        }
        // A replica frozen between its token and here (SIGSTOP, a paused VM)
        // finds its share expired: the call would land in windows the others
        // now use. The token stays counted (the safe side); the job goes back.
        if !self.limiter.is_open() {
            return Call::Ended(self.give_back(job, token, true).await);
        }
        // The wait may have been long: a cancel seen meanwhile still spares the call
        // (a check of an in-memory set: nothing is awaited between token and request).
        if self.cancellations.is_cancelled(job.batch_id.as_deref()) {
            return Call::Ended(Ok(Some(cancelled(attempt - 1))));
        }
        let used = self.client.credentials().current();
        metrics::counter!(
            crate::instrumentation::QUEUE_CALLS,
            "queue" => job.queue.clone().unwrap_or_default()
        )
        .increment(1);
        let started = Instant::now();
        let call = spans::upstream_call(self.client.host(), attempt);
        let outcome = self.client.verify(identity).instrument(call.clone()).await;
        record(&call, started, &outcome);
        Call::Made { outcome, used }
    }

    /// Waits for a rate-limit token, keeping the claim's lease alive meanwhile: the
    /// wait is cut into spans of a third of the lease, each after a renewal, so the
    /// lease cannot run out while waiting and no database step comes after the
    /// token. Gives up at shutdown or a pause (the token never taken).
    async fn paced(&self, job: &Job, token: Uuid) -> Paced {
        let span = (self.lease / 3).max(Duration::from_millis(100));
        let class = Class::of(job.priority, self.queues.index(job.queue.as_deref()));
        let mut pause = self.gate.subscribe();
        let mut standby = self.limiter.standby();
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return Paced::GiveBack,
                _ = pause.wait_for(|refused| *refused) => return Paced::GiveBack,
                // No share here: another replica can call for it.
                _ = standby.wait_for(|standby| *standby) => return Paced::GiveBack,
                // Interactive jobs are served first, bulk queues by weight
                // (see the limiter's turn and the scheduler).
                granted = tokio::time::timeout(span, self.limiter.acquire_for(class)) => {
                    if granted.is_ok() {
                        return Paced::Granted;
                    }
                }
            }
            match self.renew(job, token).await {
                Paced::Granted => {}
                other => return other,
            }
        }
    }

    /// Renews the claim's lease; `Granted` if it is still ours.
    pub(super) async fn renew(&self, job: &Job, token: Uuid) -> Paced {
        let ours = self
            .retry_database("renewing a claim", || {
                self.store.renew(&job.job_id, token, self.lease)
            })
            .await;
        match ours {
            Ok(true) => Paced::Granted,
            Ok(false) => Paced::Lost,
            Err(Returned) => Paced::GiveBack,
        }
    }
}

/// The call's metric, and its code on the job's span and the call's own.
fn record(call: &tracing::Span, started: Instant, outcome: &Outcome) {
    crate::instrumentation::upstream_call(outcome.code(), started.elapsed());
    tracing::Span::current().record("upstream_code", outcome.code());
    spans::record_call(call, outcome);
}
