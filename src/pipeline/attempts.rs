//! The attempts of one claimed job: pace (a token from the shared budget), call,
//! classify, and retry transient failures with backoff until an answer settles it,
//! the attempts run out, or the job must go back to the queue. An STS token the
//! upstream refuses gets one forced refresh and one uncounted repeat.

use std::time::{Duration, Instant};

use tracing::Instrument;
use uuid::Uuid;

use super::processor::Returned;
use super::scheduler::Class;
use super::settle::Settlement;
use super::{Disposition, Processor};
use crate::identity::Identity;
use crate::job::Job;
use crate::status::Status;
use crate::traces::spans;
use crate::upstream::{Failure, FailureClass, Outcome};

/// The longest a job waits for a forced credentials refresh (bounded below by the
/// lease, which must not run out meanwhile).
const REFRESH_WAIT: Duration = Duration::from_secs(15);

/// How waiting for a rate-limit token ended.
enum Paced {
    /// The token is taken: call now, with nothing awaited in between.
    Granted,
    /// The claim passed to another worker while waiting.
    Lost,
    /// Shutdown or a pause: give the job back, this attempt uncounted.
    GiveBack,
}

/// Where a claimed job stands before its calls.
pub(super) struct Made {
    /// Attempts made before this task claimed the job.
    pub attempts: i32,
    /// The last transient failure among them.
    pub last: Option<(String, String)>,
    /// Whether the next attempt is already counted (by the claim, or by the reuse
    /// lookup); if not, it is counted before its call.
    pub counted: bool,
}

impl Processor {
    /// Calls upstream until an answer settles the job. `Ok(None)`: the claim was lost.
    pub(super) async fn call_until_settled(
        &self,
        job: &Job,
        identity: &Identity,
        token: Uuid,
        made: Made,
    ) -> Result<Option<Settlement>, Returned> {
        let Made {
            mut attempts,
            mut last,
            // An attempt counted but not made yet: given back uncounted.
            mut counted,
        } = made;
        let mut schedule = self.retry.schedule();
        // The contract's one forced refresh and one repeat per job.
        let mut refreshed = false;
        loop {
            if attempts >= self.max_attempts as i32 {
                let (code, message) =
                    last.unwrap_or_else(|| ("MaxAttempts".into(), "attempts exhausted".into()));
                return Ok(Some(failure_settlement(
                    Status::Failed,
                    code,
                    message,
                    None,
                    attempts,
                )));
            }
            if self.gate.is_refused() {
                return self.give_back(job, token, counted).await;
            }
            if self.cancellations.is_cancelled(job.batch_id.as_deref()) {
                return Ok(Some(cancelled(attempts)));
            }
            let attempt = if counted {
                counted = false;
                attempts + 1
            } else {
                // Counts the attempt and renews the lease, before the wait for a token.
                match self
                    .retry_database("starting an attempt", || {
                        self.store.begin_attempt(&job.job_id, token, self.lease)
                    })
                    .await
                {
                    Ok(Some(attempt)) => attempt,
                    Ok(None) => return Ok(None),
                    // Shutdown while the database was away: release what we can.
                    Err(Returned) => return self.give_back(job, token, false).await,
                }
            };
            attempts = attempt;
            match self.paced(job, token).await {
                Paced::Granted => {}
                Paced::Lost => return Ok(None),
                Paced::GiveBack => return self.give_back(job, token, true).await,
            }
            // From the token to the request nothing is awaited: a slow database step
            // here would send granted calls late and bunched, above the budget.
            if self.gate.is_refused() {
                return self.give_back(job, token, true).await;
            }
            // A replica frozen between its token and here (SIGSTOP, a paused VM)
            // finds its share expired: the call would land in windows the others
            // now use. The token stays counted (the safe side); the job goes back.
            if !self.limiter.is_open() {
                return self.give_back(job, token, true).await;
            }
            // The wait may have been long: a cancel seen meanwhile still spares the call
            // (a check of an in-memory set: nothing is awaited between token and request).
            if self.cancellations.is_cancelled(job.batch_id.as_deref()) {
                return Ok(Some(cancelled(attempt - 1)));
            }
            let used = self.client.credentials().current();
            let span = tracing::Span::current();
            span.record("attempt", attempt);
            if attempt > 1 {
                metrics::counter!(crate::instrumentation::RETRIES).increment(1);
            }
            metrics::counter!(
                crate::instrumentation::QUEUE_CALLS,
                "queue" => job.queue.clone().unwrap_or_default()
            )
            .increment(1);
            let started = Instant::now();
            let call = spans::upstream_call(self.client.host(), attempt);
            let outcome = self.client.verify(identity).instrument(call.clone()).await;
            crate::instrumentation::upstream_call(outcome.code(), started.elapsed());
            span.record("upstream_code", outcome.code());
            spans::record_call(&call, &outcome);
            let f = match outcome {
                Outcome::Verdict {
                    verdict,
                    request_id,
                } => {
                    span.record("request_id", request_id.as_str());
                    crate::instrumentation::verdict_answered(verdict);
                    return Ok(Some(Settlement {
                        status: verdict.into(),
                        biz_code: Some(verdict.biz_code().to_string()),
                        upstream_code: Some("Success".into()),
                        upstream_message: None,
                        request_id: Some(request_id),
                        attempts: attempt,
                    }));
                }
                Outcome::Failure(f) => f,
            };
            if let Some(id) = &f.request_id {
                span.record("request_id", id.as_str());
            }
            match f.class {
                FailureClass::Permanent => {
                    tracing::info!(job_id = %job.job_id, code = %f.code, "upstream rejected the job");
                    return Ok(Some(settlement_of(Status::Rejected, f, attempt)));
                }
                FailureClass::Pause => {
                    self.gate.trip(&f.code, &f.message);
                    return self.give_back(job, token, true).await;
                }
                FailureClass::RefreshCredentials => {
                    let fresh = match (&used, refreshed) {
                        (Some(stale), false) => {
                            let within = REFRESH_WAIT.min(self.lease / 3);
                            self.client.credentials().force_refresh(stale, within).await
                        }
                        _ => None,
                    };
                    refreshed = true;
                    if fresh.is_none() {
                        self.gate
                            .trip(&f.code, "refused again, or no new credentials came");
                        return self.give_back(job, token, true).await;
                    }
                    tracing::info!(code = %f.code, "new credentials after a forced refresh; repeating the call");
                    // The wait may have used up part of the lease: renew it.
                    match self.renew(job, token).await {
                        Paced::Granted => {}
                        Paced::Lost => return Ok(None),
                        Paced::GiveBack => return self.give_back(job, token, true).await,
                    }
                    // Repeated under the same attempt number (the claim counted it):
                    // no data source was reached, so it is not an attempt of the job's.
                    attempts = attempt - 1;
                    counted = true;
                }
                FailureClass::Transient { throttled } => {
                    let retrying = attempt < self.max_attempts as i32;
                    tracing::info!(job_id = %job.job_id, code = %f.code, attempt, retrying, "transient upstream failure");
                    let Failure { code, message, .. } = &f;
                    // Best effort: losing this note only loses the reason of a takeover.
                    let _ = self
                        .store
                        .note_failure(&job.job_id, token, code, message)
                        .await;
                    if attempt >= self.max_attempts as i32 {
                        return Ok(Some(settlement_of(Status::Failed, f, attempt)));
                    }
                    last = Some((f.code.clone(), f.message.clone()));
                    if self.pause(schedule.next_delay(throttled)).await.is_err() {
                        return self.give_back(job, token, false).await;
                    }
                }
            }
        }
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
    async fn renew(&self, job: &Job, token: Uuid) -> Paced {
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

    /// What a job handed back becomes: during a pause or on standby it goes back
    /// to its queue without spending a delivery; otherwise (shutdown, an outage)
    /// it is requeued.
    pub(super) fn returned(&self) -> Disposition {
        if self.gate.is_refused() || *self.limiter.standby().borrow() {
            Disposition::Return
        } else {
            Disposition::Requeue
        }
    }
}

/// Its batch was cancelled: `attempts` calls were made, no further one will be.
fn cancelled(attempts: i32) -> Settlement {
    Settlement {
        status: Status::Cancelled,
        biz_code: None,
        upstream_code: None,
        upstream_message: Some("batch cancelled".into()),
        request_id: None,
        attempts,
    }
}

fn settlement_of(status: Status, f: Failure, attempts: i32) -> Settlement {
    failure_settlement(status, f.code, f.message, f.request_id, attempts)
}

fn failure_settlement(
    status: Status,
    code: String,
    message: String,
    request_id: Option<String>,
    attempts: i32,
) -> Settlement {
    Settlement {
        status,
        biz_code: None,
        upstream_code: Some(code),
        upstream_message: Some(message),
        request_id,
        attempts,
    }
}
