//! Batches: the list (keyset by batch_id), a batch's masked rows (keyset by
//! completion time and job_id) and its CSV export, read page by page.

use crate::store::Db;
use anyhow::Context;
use chrono::{DateTime, Utc};

/// Rows a page shows.
pub const PAGE: i64 = 50;

/// One line of the batch list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BatchLine {
    pub batch_id: String,
    pub enqueued: Option<i64>,
    pub created_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

/// Up to [`PAGE`] batches after `after`, by batch_id: those `enqueue` recorded and
/// those only the results know (found by a skip scan of the batch index, one probe
/// per batch, instead of a scan of every row).
pub async fn list(pool: &Db, after: &str) -> anyhow::Result<Vec<BatchLine>> {
    sqlx::query_as(
        "WITH RECURSIVE seen(batch_id, n) AS (
             (SELECT batch_id, 1 FROM verification_results
               WHERE batch_id > $1 ORDER BY batch_id LIMIT 1)
             UNION ALL
             SELECT (SELECT v.batch_id FROM verification_results v
                      WHERE v.batch_id > seen.batch_id ORDER BY v.batch_id LIMIT 1), n + 1
               FROM seen WHERE seen.batch_id IS NOT NULL AND n < $2
         ),
         ids AS (
             SELECT batch_id FROM seen WHERE batch_id IS NOT NULL
             UNION
             (SELECT batch_id FROM batches WHERE batch_id > $1 ORDER BY batch_id LIMIT $2)
         )
         SELECT ids.batch_id, b.enqueued, b.created_at, c.cancelled_at
           FROM ids
           LEFT JOIN batches b USING (batch_id)
           LEFT JOIN batch_cancellations c USING (batch_id)
          ORDER BY ids.batch_id LIMIT $2",
    )
    .bind(after)
    .bind(PAGE)
    .fetch_all(pool)
    .await
    .context("listing batches")
}

/// A settled row as the console shows it: masks only.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MaskedRow {
    pub job_id: String,
    pub batch_id: Option<String>,
    pub status: String,
    pub biz_code: Option<String>,
    pub upstream_code: Option<String>,
    pub attempts: i32,
    pub name_masked: Option<String>,
    pub id_number_masked: Option<String>,
    pub received_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
}

/// Where a page of rows starts: after this (completed_at, job_id).
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub completed_at: DateTime<Utc>,
    pub job_id: String,
}

/// Up to `limit` rows of a batch after `cursor`, oldest completion first.
pub async fn rows(
    pool: &Db,
    batch_id: &str,
    cursor: Option<&Cursor>,
    limit: i64,
) -> anyhow::Result<Vec<MaskedRow>> {
    // The cursor as a row comparison over the whole index key: an index range
    // (`verification_results_batch_completed`) that starts at the cursor. Written
    // `$2 IS NULL OR (completed_at, job_id) > …` instead, the planner could only
    // filter, reading every row before a deep page (bench section 7).
    sqlx::query_as(
        "SELECT job_id, batch_id, status, biz_code, upstream_code, attempts, name_masked,
                id_number_masked, received_at, completed_at
           FROM verification_results
          WHERE batch_id = $1
            AND (batch_id, completed_at, job_id) > ($1, coalesce($2, '-infinity'::timestamptz), $3)
          ORDER BY batch_id, completed_at, job_id LIMIT $4",
    )
    .bind(batch_id)
    .bind(cursor.map(|c| c.completed_at))
    .bind(cursor.map(|c| c.job_id.as_str()).unwrap_or(""))
    .bind(limit)
    .fetch_all(pool)
    .await
    .context("reading a batch's rows")
}

/// The cursor that continues after `row`.
pub fn cursor_after(row: &MaskedRow) -> Cursor {
    Cursor {
        completed_at: row.completed_at,
        job_id: row.job_id.clone(),
    }
}
