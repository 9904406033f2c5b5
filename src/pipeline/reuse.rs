//! Verdict reuse (contract revision 2, off unless `ID2META_REUSE_WITHIN` is set): a
//! job whose identity has a recent paid `match` or `mismatch` settles with that
//! verdict and no upstream call.
//!
//! The lookup runs once this task holds the job's claim and before its first call,
//! so a duplicate of the job_id waits for this task's row (and gets its completion
//! again: a duplicate is not a reuse), and a job that already paid for a call is
//! never turned into a reuse. What counts as reusable is decided in
//! [`crate::store::Store::reusable_verdict`].

use chrono::{DateTime, Utc};

use super::processor::Returned;
use super::settle::{self, Settlement};
use super::Processor;
use crate::job::Job;
use crate::status::Status;
use crate::store::ResultRow;

impl Processor {
    /// The row that settles `job` with a reused verdict, if reuse is on and there
    /// is one; `Err` only when the worker shuts down while the database is away.
    pub(super) async fn reuse(
        &self,
        job: &Job,
        masked: &(String, String),
        digest: &str,
        received_at: DateTime<Utc>,
    ) -> Result<Option<ResultRow>, Returned> {
        let Some(within) = self.reuse_within else {
            return Ok(None);
        };
        let found = self
            .retry_database("looking up a reusable verdict", || {
                self.store.reusable_verdict(digest, received_at, within)
            })
            .await?;
        let Some(found) = found else {
            return Ok(None);
        };
        let Ok(status) = found.status.parse::<Status>() else {
            return Ok(None);
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
        Ok(Some(row))
    }
}
