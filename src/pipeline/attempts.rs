//! The attempts of one claimed job: pace (a token from the shared budget), call,
//! classify, and retry transient failures with backoff until an answer settles it,
//! the attempts run out, or the job must go back to the queue.

use std::time::Instant;

use uuid::Uuid;

use super::processor::Returned;
use super::settle::Settlement;
use super::Processor;
use crate::identity::Identity;
use crate::job::Job;
use crate::status::Status;
use crate::upstream::{Failure, FailureClass, Outcome};

impl Processor {
    /// Calls upstream until an answer settles the job. `Ok(None)`: the claim was lost.
    /// `attempts` were made before this worker claimed the job; the claim already
    /// counted the next one.
    pub(super) async fn call_until_settled(
        &self,
        job: &Job,
        identity: &Identity,
        token: Uuid,
        mut attempts: i32,
        mut last: Option<(String, String)>,
    ) -> Result<Option<Settlement>, Returned> {
        let mut schedule = self.retry.schedule();
        // An attempt counted in the claim but not made yet: given back uncounted.
        let mut counted = true;
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
            // The token last, right before the request: a slow database step cannot
            // make granted calls go out late and bunched. Given back uncounted if the
            // worker stops while waiting for it.
            let waited = tokio::select! {
                _ = self.shutdown.cancelled() => return self.give_back(job, token, true).await,
                waited = self.limiter.acquire() => waited,
            };
            if self.gate.is_refused() {
                return self.give_back(job, token, true).await;
            }
            // The wait may have been long: a cancel seen meanwhile still spares the call.
            if self.cancellations.is_cancelled(job.batch_id.as_deref()) {
                return Ok(Some(cancelled(attempt - 1)));
            }
            // After a long wait (a paused budget) the lease may have passed to another
            // worker: renew it, and call only if it is still ours.
            if waited > self.lease / 3 {
                let ours = self
                    .retry_database("renewing a claim", || {
                        self.store.renew(&job.job_id, token, self.lease)
                    })
                    .await;
                match ours {
                    Ok(true) => {}
                    Ok(false) => return Ok(None),
                    Err(Returned) => return self.give_back(job, token, true).await,
                }
            }
            let span = tracing::Span::current();
            span.record("attempt", attempt);
            if attempt > 1 {
                metrics::counter!(crate::instrumentation::RETRIES).increment(1);
            }
            let started = Instant::now();
            let outcome = self.client.verify(identity).await;
            crate::instrumentation::upstream_call(outcome.code(), started.elapsed());
            span.record("upstream_code", outcome.code());
            match outcome {
                Outcome::Verdict {
                    verdict,
                    request_id,
                } => {
                    span.record("request_id", request_id.as_str());
                    return Ok(Some(Settlement {
                        status: verdict.into(),
                        biz_code: Some(verdict.biz_code().to_string()),
                        upstream_code: Some("Success".into()),
                        upstream_message: None,
                        request_id: Some(request_id),
                        attempts: attempt,
                    }));
                }
                Outcome::Failure(f) => {
                    if let Some(id) = &f.request_id {
                        span.record("request_id", id.as_str());
                    }
                    match f.class {
                        FailureClass::Permanent => {
                            tracing::info!(code = %f.code, "upstream rejected the job");
                            return Ok(Some(settlement_of(Status::Rejected, f, attempt)));
                        }
                        FailureClass::Account => {
                            self.gate.trip(&f.code, &f.message);
                            return self.give_back(job, token, true).await;
                        }
                        FailureClass::Transient { throttled } => {
                            tracing::info!(code = %f.code, attempt, "transient upstream failure");
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
