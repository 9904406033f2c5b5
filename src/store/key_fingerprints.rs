//! The `pii_key_fingerprints` table: which `ID2META_PII_KEY` the replicas use,
//! as keyed fingerprints ([`crate::identity::key_fingerprint`]), so that a fleet
//! whose replicas disagree on the key says so ([`crate::key_agreement`]).

use std::time::Duration;

use anyhow::Context;

use super::Store;

/// Rows not marked for this long are deleted by the next mark.
const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);

impl Store {
    /// Marks `fingerprint` as in use now and returns how many *other* fingerprints
    /// were marked within `within`. One statement: the mark, the count and the
    /// pruning of old rows.
    pub async fn mark_pii_key(&self, fingerprint: &str, within: Duration) -> anyhow::Result<i64> {
        // The CTEs' writes are not visible to the outer SELECT (one snapshot): the
        // count sees the rows as they were, which is why it excludes our own.
        sqlx::query_scalar(
            "WITH mark AS (
                 INSERT INTO pii_key_fingerprints (fingerprint, seen_at) VALUES ($1, now())
                 ON CONFLICT (fingerprint) DO UPDATE SET seen_at = EXCLUDED.seen_at
             ), pruned AS (
                 DELETE FROM pii_key_fingerprints
                 WHERE seen_at < now() - make_interval(secs => $3) AND fingerprint <> $1
             )
             SELECT count(*) FROM pii_key_fingerprints
             WHERE fingerprint <> $1 AND seen_at > now() - make_interval(secs => $2)",
        )
        .bind(fingerprint)
        .bind(within.as_secs_f64())
        .bind(FORGET_AFTER.as_secs_f64())
        .persistent(self.named())
        .fetch_one(self.db())
        .await
        .context("marking this replica's PII key fingerprint")
    }
}
