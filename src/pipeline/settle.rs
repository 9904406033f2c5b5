//! Settling a job: build its row, commit it, publish its completion.
//! Store, then publish: a crash between the two is healed by the redelivery,
//! which finds the row and publishes again.
//!
//! A claimed job keeps its claim while its row waits for the writer, however long
//! the database is away ([`Processor::settle_held`]): its lease is renewed every
//! quarter lease, and a renewal that cannot reach the database is tried again.
//! While the database is away nobody can take the claim over; once it is back the
//! first renewal lands within half a lease, before any duplicate's grace (a lease
//! after it first saw the lease ended, `store/claims.rs`) runs out.

use std::convert::Infallible;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Disposition, Processor};
use crate::identity::{mask_id_number, mask_name};
use crate::job::Job;
use crate::queue::Publisher;
use crate::status::Status;
use crate::store::{KeptOutcome, ResultRow, StoredOutcome};

/// The dead-letter reason for a job_id reused with another identity.
pub const CONFLICT: &str = "job_id_conflict";

/// What a settled job says about itself, beside its identity.
pub(super) struct Settlement {
    pub status: Status,
    pub biz_code: Option<String>,
    pub upstream_code: Option<String>,
    pub upstream_message: Option<String>,
    pub request_id: Option<String>,
    pub attempts: i32,
}

impl Settlement {
    pub fn invalid(reason: &str) -> Self {
        Self {
            status: Status::Invalid,
            biz_code: None,
            upstream_code: None,
            upstream_message: Some(reason.to_string()),
            request_id: None,
            attempts: 0,
        }
    }

    /// The outcome a claim kept when the job's row was refused (`store::KeptOutcome`).
    pub fn kept(outcome: KeptOutcome) -> Self {
        Self {
            // Written by this code from a `Status`; an unknown name is not a verdict.
            status: outcome.status.parse().unwrap_or(Status::Failed),
            biz_code: outcome.biz_code,
            upstream_code: outcome.upstream_code,
            upstream_message: outcome.upstream_message,
            request_id: outcome.request_id,
            attempts: outcome.attempts,
        }
    }
}

/// The row for a job: masks of what arrived (normalised when it was valid), never plaintext.
pub(super) fn row(
    job: &Job,
    masked: (String, String),
    identity_digest: String,
    received_at: DateTime<Utc>,
    s: Settlement,
) -> ResultRow {
    let (name_masked, id_number_masked) = masked;
    ResultRow {
        job_id: job.job_id.clone(),
        batch_id: job.batch_id.clone(),
        status: s.status.as_str().to_string(),
        biz_code: s.biz_code,
        upstream_code: s.upstream_code,
        upstream_message: s.upstream_message,
        request_id: s.request_id,
        attempts: s.attempts,
        name_masked: Some(name_masked),
        id_number_masked: Some(id_number_masked),
        identity_digest: Some(identity_digest),
        metadata: job.metadata.clone(),
        received_at,
        completed_at: Utc::now(),
        // The effective priority: the queue's when it imposes one, else the field's.
        priority: Some(job.priority.as_str().to_string()),
        reused_from_job_id: None,
        scrubbed_at: None,
        queue: job.queue.clone(),
    }
}

/// Masks of the raw fields, for a job that never became an `Identity`.
pub(super) fn raw_masks(job: &Job) -> (String, String) {
    (
        mask_name(job.name.expose()),
        mask_id_number(job.id_number.expose()),
    )
}

impl Processor {
    /// [`Self::settle`] for a job this task holds the claim of (`token`): the claim is
    /// renewed until the row is committed, so a paid verdict waiting through a
    /// database outage is never called again by a duplicate.
    pub(super) async fn settle_held(
        &self,
        row: ResultRow,
        token: Uuid,
        queue: &str,
        publisher: &Publisher,
    ) -> Disposition {
        let job_id = row.job_id.clone();
        tokio::select! {
            biased;
            disposition = self.settle(row, queue, publisher) => disposition,
            never = self.hold_claim(&job_id, token) => match never {},
        }
    }

    /// Renews the claim every quarter lease, each try bounded by a quarter lease (a
    /// stalled connection must not delay the next one); never returns. Stops renewing
    /// once the claim is no longer active and ours (the row committed: `done`).
    async fn hold_claim(&self, job_id: &str, token: Uuid) -> Infallible {
        let every = (self.lease / 4).max(Duration::from_millis(50));
        loop {
            tokio::time::sleep(every).await;
            let renewal = self.store.renew(job_id, token, self.lease);
            match tokio::time::timeout(every, renewal).await {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => return std::future::pending().await,
                // The database is away: nobody else can take the claim meanwhile.
                Ok(Err(_)) | Err(_) => {}
            }
        }
    }

    /// Commits `row` (or finds the one already there), then publishes its completion.
    /// `queue`: the one the job was consumed from, for its log line.
    pub(super) async fn settle(
        &self,
        row: ResultRow,
        queue: &str,
        publisher: &Publisher,
    ) -> Disposition {
        let digest = row.identity_digest.clone();
        let stored = match self.writer.write(row).await {
            Ok(stored) => stored,
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "result writer unavailable; returning the job");
                return Disposition::Requeue;
            }
        };
        match &stored {
            StoredOutcome::Written(r) => {
                crate::instrumentation::job_settled(&r.status, r.attempts);
                if r.reused_from_job_id.is_some() {
                    metrics::counter!(crate::instrumentation::REUSED).increment(1);
                }
                // The job's one line (the contract's "Logs"): what it became, never who.
                tracing::info!(
                    job_id = %r.job_id,
                    batch_id = %r.batch_id.as_deref().unwrap_or(""),
                    queue = %queue,
                    status = %r.status,
                    attempts = r.attempts,
                    request_id = %r.request_id.as_deref().unwrap_or(""),
                    reused = r.reused_from_job_id.is_some(),
                    "job settled"
                );
            }
            StoredOutcome::Existing(r) if !digest.as_deref().is_some_and(|d| r.may_be_of(d)) => {
                tracing::warn!("job_id already settled for another identity");
                return Disposition::DeadLetter(CONFLICT.into());
            }
            StoredOutcome::Existing(r) => return self.republish(r, queue, publisher).await,
            StoredOutcome::Unstorable(reason) => {
                tracing::warn!(
                    reason,
                    "the result cannot be stored; dead-lettering the job"
                );
                return Disposition::DeadLetter((*reason).to_string());
            }
        }
        match stored.row() {
            Some(row) => self.publish(row, publisher).await,
            None => Disposition::Requeue,
        }
    }

    /// A redelivery of a job settled before: its completion again, no new row.
    pub(super) async fn republish(
        &self,
        row: &ResultRow,
        queue: &str,
        publisher: &Publisher,
    ) -> Disposition {
        metrics::counter!(crate::instrumentation::REPUBLISHED).increment(1);
        tracing::info!(
            job_id = %row.job_id,
            queue,
            status = %row.status,
            "job already settled; publishing its completion again"
        );
        self.publish(row, publisher).await
    }

    /// Publishes the completion of a settled row; the job may then be acknowledged.
    pub(super) async fn publish(&self, row: &ResultRow, publisher: &Publisher) -> Disposition {
        match publisher.publish_completion(row).await {
            Ok(()) => Disposition::Ack,
            Err(error) => {
                // The row is committed: the redelivery will find it and publish again.
                tracing::warn!(error = %format!("{error:#}"), "publishing a completion failed; returning the job");
                Disposition::Requeue
            }
        }
    }
}
