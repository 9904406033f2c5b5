//! The attempts of one claimed job: pace (a token from the shared budget), call,
//! classify, and retry transient failures with backoff until an answer settles it,
//! the attempts run out, or the job must go back to the queue. An STS token the
//! upstream refuses gets one forced refresh and one uncounted repeat.

use std::time::Duration;

use uuid::Uuid;

use super::call::{Call, Paced};
use super::processor::Returned;
use super::settle::Settlement;
use super::{Disposition, Processor};
use crate::identity::Identity;
use crate::job::Job;
use crate::status::Status;
use crate::upstream::{Failure, FailureClass, Outcome};

/// The longest a job waits for a forced credentials refresh (bounded below by the
/// lease, which must not run out meanwhile).
const REFRESH_WAIT: Duration = Duration::from_secs(15);

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
            let (outcome, used) = match self.call(job, identity, token, attempt).await {
                Call::Made { outcome, used } => (outcome, used),
                Call::Ended(ended) => return ended,
            };
            let span = tracing::Span::current();
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
pub(super) fn cancelled(attempts: i32) -> Settlement {
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
