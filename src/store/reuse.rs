//! Verdict reuse (`ID2META_REUSE_WITHIN`): the lookup of a recent paid verdict for
//! the same identity, so a person resubmitted under a new job_id is not paid for
//! again.
//!
//! Only a `match` or `mismatch` that made a call counts (`attempts > 0`, not itself
//! reused: a reuse never chains on a reuse, so the verdict's age is its call's age),
//! and only one completed before the new job was received, within the window.
//! `not_found` is never reused: a number without a record today may have one
//! tomorrow. A scrubbed row (retention, `forget`) is never a source: its digest is
//! gone, and `scrubbed_at IS NULL` says so again should a digest ever be kept.
//! The index `(identity_digest, completed_at)` serves the lookup.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Store;

/// The latest reusable verdict for `$1` (digest) completed in `[$2 - $3 s, $2]`.
const REUSABLE: &str = "SELECT job_id, status, biz_code FROM verification_results
              WHERE identity_digest = $1
                AND completed_at <= $2
                AND completed_at >= $2 - make_interval(secs => $3::float8)
                AND status IN ('match', 'mismatch')
                AND attempts > 0
                AND reused_from_job_id IS NULL
                AND scrubbed_at IS NULL
              ORDER BY completed_at DESC
              LIMIT 1";

/// What the lookup of a claimed job came to (`Store::reuse_or_count`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReuseLookup {
    /// A verdict to repeat; no attempt was counted.
    Reuse(Reusable),
    /// None: the first attempt is counted (this many now), and the lease renewed.
    Counted(i32),
    /// None, and the claim is no longer this owner's: it must not call.
    Lost,
}

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
        sqlx::query_as(REUSABLE)
            .bind(identity_digest)
            .bind(received_at)
            .bind(within.as_secs_f64())
            .fetch_optional(self.db())
            .await
            .context("looking up a reusable verdict")
    }
}

/// The claimed job's lookup, one statement: the reusable verdict, or else its
/// first attempt counted. Counting in the claim instead would leave a counted
/// attempt behind a lookup that never answered (shutdown through an outage, a
/// lost reply), and its redelivery would skip reuse and pay.
#[derive(Debug, Clone)]
pub struct ClaimedLookup<'a> {
    pub identity_digest: &'a str,
    pub received_at: DateTime<Utc>,
    pub within: Duration,
    pub job_id: &'a str,
    pub owner: Uuid,
    pub lease: Duration,
}

impl Store {
    /// See [`ClaimedLookup`].
    pub async fn reuse_or_count(&self, lookup: &ClaimedLookup<'_>) -> anyhow::Result<ReuseLookup> {
        let (job_id, status, biz_code, counted): (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i32>,
        ) = sqlx::query_as(&format!(
            "WITH found AS ({REUSABLE}),
                  counted AS (
                      UPDATE job_claims
                         SET attempts = attempts + 1, expiry_seen_at = NULL,
                             lease_until = now() + make_interval(secs => $6::float8)
                       WHERE job_id = $4 AND owner = $5 AND state = 'active'
                         AND NOT EXISTS (SELECT 1 FROM found)
                       RETURNING attempts)
             SELECT (SELECT job_id FROM found), (SELECT status FROM found),
                    (SELECT biz_code FROM found), (SELECT attempts FROM counted)"
        ))
        .bind(lookup.identity_digest)
        .bind(lookup.received_at)
        .bind(lookup.within.as_secs_f64())
        .bind(lookup.job_id)
        .bind(lookup.owner)
        .bind(lookup.lease.as_secs_f64())
        .fetch_one(self.db())
        .await
        .context("looking up a reusable verdict")?;
        Ok(match (job_id, status, counted) {
            (Some(job_id), Some(status), _) => ReuseLookup::Reuse(Reusable {
                job_id,
                status,
                biz_code,
            }),
            (_, _, Some(attempts)) => ReuseLookup::Counted(attempts),
            _ => ReuseLookup::Lost,
        })
    }
}
