//! Verdict reuse (`ID2META_REUSE_WITHIN`): the lookup of a recent paid verdict for
//! the same identity, so a person resubmitted under a new job_id is not paid for
//! again.
//!
//! Only a `match` or `mismatch` that made a call counts (`attempts > 0`, not itself
//! reused: a reuse never chains on a reuse, so the verdict's age is its call's age),
//! and only one completed before the new job was received, within the window.
//! `not_found` is never reused: a number without a record today may have one
//! tomorrow. The index `(identity_digest, completed_at)` serves the lookup.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::Store;

/// The verdict a new job may repeat.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Reusable {
    pub job_id: String,
    pub status: String,
    pub biz_code: Option<String>,
}

impl Store {
    /// The latest reusable verdict for `identity_digest` completed in
    /// `[received_at - within, received_at]`, if any.
    pub async fn reusable_verdict(
        &self,
        identity_digest: &str,
        received_at: DateTime<Utc>,
        within: Duration,
    ) -> anyhow::Result<Option<Reusable>> {
        sqlx::query_as(
            "SELECT job_id, status, biz_code FROM verification_results
              WHERE identity_digest = $1
                AND completed_at <= $2
                AND completed_at >= $2 - make_interval(secs => $3::float8)
                AND status IN ('match', 'mismatch')
                AND attempts > 0
                AND reused_from_job_id IS NULL
              ORDER BY completed_at DESC
              LIMIT 1",
        )
        .bind(identity_digest)
        .bind(received_at)
        .bind(within.as_secs_f64())
        .fetch_optional(self.db())
        .await
        .context("looking up a reusable verdict")
    }
}
