//! One job, from its message body to a [`Disposition`]:
//! parse → validate → claim → (pace → call → classify → retry)* → store → publish.
//!
//! The claim is taken in PostgreSQL before any upstream call, so duplicates of
//! one job, on any replica, make at most one paid call; a stale claim (its
//! worker died) is taken over once its lease ends, attempts counted across.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use super::account::AccountGate;
use super::limiter::Limiter;
use super::retry::RetryPolicy;
use super::settle::{self, Settlement, CONFLICT};
use super::Disposition;
use crate::health::Health;
use crate::identity::{identity_digest, Identity};
use crate::job::Job;
use crate::queue::Publisher;
use crate::secret::Secret;
use crate::status::Status;
use crate::store::{Claim, Claimer, ResultWriter, Store};
use crate::upstream::{Client, Failure, FailureClass, Outcome};

/// How often a duplicate checks whether the job's holder has finished.
const HOLDER_POLL: Duration = Duration::from_millis(500);

/// Everything a job needs; cheap to clone (one per task).
#[derive(Clone)]
pub struct Processor {
    inner: Arc<Parts>,
}

/// The processor's collaborators and settings.
pub struct Parts {
    pub store: Store,
    pub claimer: Claimer,
    pub writer: ResultWriter,
    pub client: Client,
    pub limiter: Limiter,
    pub retry: RetryPolicy,
    pub gate: AccountGate,
    pub health: Arc<Health>,
    pub pii_key: Secret,
    /// This process's identity (logs; claims are held per job task, see `process_job`).
    pub owner: Uuid,
    pub lease: Duration,
    pub max_attempts: u32,
    /// Cancelled at shutdown: waiting jobs are returned, calls in progress finish.
    pub shutdown: CancellationToken,
}

impl std::ops::Deref for Processor {
    type Target = Parts;
    fn deref(&self) -> &Parts {
        &self.inner
    }
}

/// Why a step stopped short of a result: the job goes back to the queue.
struct Returned;

impl Processor {
    pub fn new(parts: Parts) -> Self {
        Self {
            inner: Arc::new(parts),
        }
    }

    /// Processes one delivery body. `message_id` is the AMQP property.
    pub async fn process(
        &self,
        body: &[u8],
        message_id: Option<&str>,
        publisher: &Publisher,
    ) -> Disposition {
        let received_at = Utc::now();
        let job = match Job::parse(body, message_id) {
            Ok(job) => job,
            Err(not_a_job) => {
                tracing::warn!(
                    reason = not_a_job.reason(),
                    bytes = body.len(),
                    "message is not a job"
                );
                return Disposition::DeadLetter(not_a_job.reason().to_string());
            }
        };
        let span = tracing::info_span!(
            "job",
            job_id = %job.job_id,
            batch_id = job.batch_id.as_deref().unwrap_or(""),
            attempt = tracing::field::Empty,
            upstream_code = tracing::field::Empty,
            request_id = tracing::field::Empty,
        );
        self.process_job(job, received_at, publisher)
            .instrument(span)
            .await
    }

    async fn process_job(
        &self,
        job: Job,
        received_at: chrono::DateTime<Utc>,
        publisher: &Publisher,
    ) -> Disposition {
        let validated = match &job.field_problem {
            Some(problem) => Err(problem.clone()),
            None => Identity::parse(job.name.expose(), job.id_number.expose())
                .map_err(|e| e.code().to_string()),
        };
        let identity = match validated {
            Ok(identity) => identity,
            Err(reason) => {
                // Invalid: settled without a claim or a call. The digest is of the trimmed
                // raw fields, so a reuse of the job_id for other input is still detected.
                let digest = identity_digest(
                    &self.pii_key,
                    job.id_number.expose().trim(),
                    job.name.expose().trim(),
                );
                let row = settle::row(
                    &job,
                    settle::raw_masks(&job),
                    digest,
                    received_at,
                    Settlement::invalid(&reason),
                );
                return self.settle(row, publisher).await;
            }
        };
        let digest = identity.digest(&self.pii_key);
        let masked = (identity.name.masked(), identity.id_number.masked());
        // Claims belong to this task, not to the process: a claim whose reply was lost
        // is retaken by the retry (same token), while a second copy of the job in this
        // same process (another token) still waits for the first.
        let token = Uuid::new_v4();
        loop {
            let claim = match self
                .retry_database("claiming", || {
                    self.claimer.claim(&job.job_id, &digest, token, self.lease)
                })
                .await
            {
                Ok(claim) => claim,
                Err(Returned) => return Disposition::Requeue,
            };
            match claim {
                Claim::Done(row) if row.identity_digest == digest => {
                    metrics::counter!(crate::instrumentation::REPUBLISHED).increment(1);
                    return self.publish(&row, publisher).await;
                }
                Claim::Done(_) | Claim::Conflict => {
                    tracing::warn!("job_id already used for another identity");
                    return Disposition::DeadLetter(CONFLICT.into());
                }
                Claim::HeldByOther => {
                    // A duplicate: its twin is being processed elsewhere. Wait for its row.
                    if self.pause(HOLDER_POLL).await.is_err() {
                        return Disposition::Requeue;
                    }
                }
                Claim::Claimed {
                    attempts,
                    last_code,
                    last_message,
                } => {
                    let last = last_code.map(|code| (code, last_message.unwrap_or_default()));
                    match self
                        .call_until_settled(&job, &identity, token, attempts, last)
                        .await
                    {
                        Ok(Some(settlement)) => {
                            let row = settle::row(&job, masked, digest, received_at, settlement);
                            return self.settle(row, publisher).await;
                        }
                        // The claim was taken over while we waited: see who holds it now.
                        Ok(None) => continue,
                        Err(Returned) => return Disposition::Requeue,
                    }
                }
            }
        }
    }

    /// Calls upstream until an answer settles the job. `Ok(None)`: the claim was lost.
    /// `attempts` were made before this worker claimed the job; the claim already
    /// counted the next one.
    async fn call_until_settled(
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
            let attempt = if counted {
                counted = false;
                attempts + 1
            } else {
                match self
                    .retry_database("starting an attempt", || {
                        self.store.begin_attempt(&job.job_id, token, self.lease)
                    })
                    .await?
                {
                    Some(attempt) => attempt,
                    None => return Ok(None),
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
            // After a long wait (a paused budget) the lease may have passed to another
            // worker: renew it, and call only if it is still ours.
            if waited > self.lease / 3 {
                let ours = self
                    .retry_database("renewing a claim", || {
                        self.store.renew(&job.job_id, token, self.lease)
                    })
                    .await?;
                if !ours {
                    return Ok(None);
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

    /// Ends this worker's claim without a result, so the job can be redelivered and
    /// claimed again at once. `uncount`: the last attempt was refused for account reasons.
    async fn give_back<T>(&self, job: &Job, token: Uuid, uncount: bool) -> Result<T, Returned> {
        if let Err(error) = self.store.release(&job.job_id, token, uncount).await {
            // The lease will expire on its own; the job is merely delayed.
            tracing::warn!(error = %format!("{error:#}"), "releasing a claim failed");
        }
        Err(Returned)
    }

    /// Sleeps, unless shutdown comes first.
    async fn pause(&self, delay: Duration) -> Result<(), Returned> {
        tokio::select! {
            _ = self.shutdown.cancelled() => Err(Returned),
            _ = tokio::time::sleep(delay) => Ok(()),
        }
    }

    /// Runs a database step, retrying through an outage (a restart must not cost a
    /// job a delivery) until it succeeds or the worker shuts down.
    async fn retry_database<T, F, Fut>(&self, what: &str, mut step: F) -> Result<T, Returned>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = anyhow::Result<T>>,
    {
        let mut delay = Duration::from_millis(100);
        loop {
            match step().await {
                Ok(value) => {
                    self.health.set_database(true);
                    return Ok(value);
                }
                Err(error) => {
                    self.health.set_database(false);
                    tracing::warn!(error = %format!("{error:#}"), "{what} failed; retrying");
                    self.pause(delay).await?;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
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
