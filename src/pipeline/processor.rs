//! One job, from its message body to a [`Disposition`]:
//! parse → validate → claim → (pace → call → classify → retry)* → store → publish.
//!
//! The claim is taken in PostgreSQL before any upstream call, so duplicates of
//! one job, on any replica, make at most one paid call; a stale claim (its
//! worker died) is taken over once its lease ends, attempts counted across.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::account::AccountGate;
use super::attempts::Made;
use super::cancellations::Cancellations;
use super::limiter::Limiter;
use super::retry::RetryPolicy;
use super::reuse::Looked;
use super::scheduler::BulkQueues;
use super::settle::{self, Settlement, CONFLICT};
use super::Disposition;
use crate::health::Health;
use crate::identity::{identity_digest, Identity};
use crate::job::{Job, Priority};
use crate::queue::Publisher;
use crate::secret::Secret;
use crate::store::{Claim, ClaimRequest, Claimer, ResultWriter, Store};
use crate::upstream::Client;

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
    /// The bulk queues and their weights: which of the limiter's queues a job waits in.
    pub queues: BulkQueues,
    pub retry: RetryPolicy,
    pub gate: AccountGate,
    /// Batches an operator cancelled: their jobs settle without a further call.
    pub cancellations: Cancellations,
    pub health: Arc<Health>,
    pub pii_key: Secret,
    /// This process's identity (logs; claims are held per job task, see `process_job`).
    pub owner: Uuid,
    pub lease: Duration,
    pub max_attempts: u32,
    /// Verdict reuse window (`ID2META_REUSE_WITHIN`); `None` is off.
    pub reuse_within: Option<Duration>,
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
pub(super) struct Returned;

/// The span a delivery is processed and disposed of in: the consumer knows
/// its queue; [`Processor::process`] fills in the job's fields once parsed.
pub fn job_span(queue: &str) -> tracing::Span {
    tracing::info_span!(
        "job",
        queue,
        job_id = tracing::field::Empty,
        batch_id = tracing::field::Empty,
        priority = tracing::field::Empty,
        attempt = tracing::field::Empty,
        upstream_code = tracing::field::Empty,
        request_id = tracing::field::Empty,
    )
}

impl Processor {
    pub fn new(parts: Parts) -> Self {
        Self {
            inner: Arc::new(parts),
        }
    }

    /// Processes one delivery body, in the job's span (opened by the consumer's
    /// task: see [`job_span`]). `message_id` is the AMQP property; `queue` is the
    /// queue it was consumed from (recorded in its row); `lane` is the priority
    /// that queue imposes (`<jobs>.interactive`: the queue wins over the body's
    /// field), `None` for a bulk queue (the field decides).
    pub async fn process(
        &self,
        body: &[u8],
        message_id: Option<&str>,
        queue: &str,
        lane: Option<Priority>,
        publisher: &Publisher,
    ) -> Disposition {
        let received_at = Utc::now();
        let job = match Job::parse(body, message_id) {
            // An unknown field stays a problem (the job is `invalid`) on either queue.
            Ok(job) => match lane {
                Some(priority) => job.with_priority(priority),
                None => job,
            }
            .consumed_from(queue),
            Err(not_a_job) => {
                tracing::warn!(
                    queue,
                    reason = not_a_job.reason(),
                    bytes = body.len(),
                    "message is not a job; dead-lettering it"
                );
                return Disposition::DeadLetter(not_a_job.reason().to_string());
            }
        };
        let span = tracing::Span::current();
        span.record("job_id", job.job_id.as_str());
        span.record("batch_id", job.batch_id.as_deref().unwrap_or(""));
        span.record("priority", job.priority.as_str());
        // And on the job's trace span (`traces::spans::job`), with export on.
        crate::traces::spans::record_job_id(&job.job_id);
        let job_id = job.job_id.clone();
        let disposition = self.process_job(job, queue, received_at, publisher).await;
        match &disposition {
            // Its one line is `job settled` (or `published again`), from `settle`.
            Disposition::Ack => {}
            Disposition::Requeue => tracing::info!(
                job_id,
                queue,
                "job not settled; requeued for a later delivery"
            ),
            Disposition::Return => tracing::info!(
                job_id,
                queue,
                "job not settled while the worker is paused; returned to its queue unchanged"
            ),
            Disposition::DeadLetter(reason) => {
                tracing::warn!(job_id, queue, reason, "job dead-lettered")
            }
        }
        disposition
    }

    async fn process_job(
        &self,
        job: Job,
        queue: &str,
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
                return self.settle(row, queue, publisher).await;
            }
        };
        let digest = identity.digest(&self.pii_key);
        let masked = (identity.name.masked(), identity.id_number.masked());
        // Claims belong to this task, not to the process: a claim whose reply was lost
        // is retaken by the retry (same token), while a second copy of the job in this
        // same process (another token) still waits for the first.
        let token = Uuid::new_v4();
        // With reuse on, the lookup counts the first attempt (`reuse.rs`).
        let counts_attempt = self.reuse_within.is_none();
        loop {
            let claim = match self
                .retry_database("claiming", || {
                    let request = ClaimRequest {
                        job_id: job.job_id.clone(),
                        identity_digest: digest.clone(),
                        replica: self.owner,
                        counts_attempt,
                    };
                    self.claimer.claim(request, token, self.lease)
                })
                .await
            {
                Ok(claim) => claim,
                Err(Returned) => return Disposition::Requeue,
            };
            match claim {
                Claim::Done(row) if row.may_be_of(&digest) => {
                    return self.republish(&row, queue, publisher).await;
                }
                Claim::Done(_) | Claim::Conflict => {
                    tracing::warn!("job_id already used for another identity");
                    return Disposition::DeadLetter(CONFLICT.into());
                }
                Claim::Kept(outcome) => {
                    // Called before, its row refused: store it from the kept outcome
                    // (a replayed dead letter), never calling a second time.
                    let reused_from = outcome.reused_from_job_id.clone();
                    let settlement = Settlement::kept(*outcome);
                    let mut row = settle::row(&job, masked, digest, received_at, settlement);
                    row.reused_from_job_id = reused_from;
                    return self.settle_held(row, token, queue, publisher).await;
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
                    // Reuse only before the first call: once a job has paid, it finishes.
                    // Never for a cancelled batch: a cancel wins over a reused verdict
                    // (the attempts below settle it `cancelled` without a call).
                    let cancelled = self.cancellations.is_cancelled(job.batch_id.as_deref());
                    let mut counted = counts_attempt;
                    if !counts_attempt && attempts == 0 && !cancelled {
                        let looked = self
                            .reuse_or_count(&job, (&masked, &digest), received_at, token)
                            .await;
                        match looked {
                            Ok(Looked::Reused(row)) => {
                                return self.settle_held(*row, token, queue, publisher).await
                            }
                            Ok(Looked::Counted) => counted = true,
                            Ok(Looked::Uncounted) => {}
                            Ok(Looked::Lost) => continue,
                            Err(Returned) => {
                                let _ = self.give_back::<()>(&job, token, false).await;
                                return Disposition::Requeue;
                            }
                        }
                    }
                    let last = last_code.map(|code| (code, last_message.unwrap_or_default()));
                    let made = Made {
                        attempts,
                        last,
                        counted,
                    };
                    match self.call_until_settled(&job, &identity, token, made).await {
                        Ok(Some(settlement)) => {
                            let row = settle::row(&job, masked, digest, received_at, settlement);
                            return self.settle_held(row, token, queue, publisher).await;
                        }
                        // The claim was taken over while we waited: see who holds it now.
                        Ok(None) => continue,
                        Err(Returned) => return self.returned(),
                    }
                }
            }
        }
    }

    /// Ends this worker's claim without a result, so the job can be redelivered and
    /// claimed again at once. `uncount`: the last attempt was refused for account reasons.
    pub(super) async fn give_back<T>(
        &self,
        job: &Job,
        token: Uuid,
        uncount: bool,
    ) -> Result<T, Returned> {
        if let Err(error) = self.store.release(&job.job_id, token, uncount).await {
            // The lease will expire on its own; the job is merely delayed.
            tracing::warn!(error = %format!("{error:#}"), "releasing a claim failed");
        }
        Err(Returned)
    }

    /// Sleeps, unless shutdown comes first.
    pub(super) async fn pause(&self, delay: Duration) -> Result<(), Returned> {
        tokio::select! {
            _ = self.shutdown.cancelled() => Err(Returned),
            _ = tokio::time::sleep(delay) => Ok(()),
        }
    }

    /// Runs a database step, retrying through an outage (a restart must not cost a
    /// job a delivery) until it succeeds or the worker shuts down.
    pub(super) async fn retry_database<T, F, Fut>(
        &self,
        what: &str,
        mut step: F,
    ) -> Result<T, Returned>
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
