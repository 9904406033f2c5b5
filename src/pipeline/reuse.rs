//! Verdict reuse (contract revision 2, off unless `ID2META_REUSE_WITHIN` is set): a
//! job whose identity has a recent paid `match` or `mismatch` settles with that
//! verdict and no upstream call.
//!
//! The lookup runs once this task holds the job's claim and before its first call,
//! so a duplicate of the job_id waits for this task's row (and gets its completion
//! again: a duplicate is not a reuse), and a job that already paid for a call is
//! never turned into a reuse. With reuse on, the claim counts no attempt: the lookup
//! counts the first one in the statement that finds nothing to reuse, so a lookup
//! interrupted (shutdown through an outage, a lost reply) leaves the job as it was
//! and its redelivery looks again instead of paying. What counts as reusable is
//! decided in [`crate::store::Store::reusable_verdict`].

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::processor::Returned;
use super::settle::{self, Settlement};
use super::Processor;
use crate::job::Job;
use crate::status::Status;
use crate::store::{ClaimedLookup, ResultRow, ReuseLookup};

/// What the lookup of a claimed job came to.
pub(super) enum Looked {
    /// The row that settles the job with a reused verdict.
    Reused(Box<ResultRow>),
    /// Nothing to reuse, and the first attempt is counted: call.
    Counted,
    /// Nothing to reuse and nothing counted (reuse off, an unreadable status):
    /// the attempts count the first one themselves.
    Uncounted,
    /// The claim passed to another task meanwhile: this one must not call.
    Lost,
}

impl Processor {
    /// Looks for a verdict to reuse for the claimed `job`, counting its first attempt
    /// when there is none; `Err` only when the worker shuts down while the database
    /// is away (nothing counted then).
    pub(super) async fn reuse_or_count(
        &self,
        job: &Job,
        (masked, digest): (&(String, String), &str),
        received_at: DateTime<Utc>,
        token: Uuid,
    ) -> Result<Looked, Returned> {
        let Some(within) = self.reuse_within else {
            return Ok(Looked::Uncounted);
        };
        let lookup = ClaimedLookup {
            identity_digest: digest,
            received_at,
            within,
            job_id: &job.job_id,
            owner: token,
            lease: self.lease,
        };
        let found = match self
            .retry_database("looking up a reusable verdict", || {
                self.store.reuse_or_count(&lookup)
            })
            .await?
        {
            ReuseLookup::Reuse(found) => found,
            ReuseLookup::Counted(_) => return Ok(Looked::Counted),
            ReuseLookup::Lost => return Ok(Looked::Lost),
        };
        let Ok(status) = found.status.parse::<Status>() else {
            return Ok(Looked::Uncounted);
        };
        let settlement = Settlement {
            status,
            biz_code: found.biz_code,
            upstream_code: None,
            upstream_message: None,
            request_id: None,
            attempts: 0,
        };
        let mut row = settle::row(
            job,
            masked.clone(),
            digest.to_string(),
            received_at,
            settlement,
        );
        row.reused_from_job_id = Some(found.job_id);
        Ok(Looked::Reused(Box::new(row)))
    }
}
