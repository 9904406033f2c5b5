//! The `verification_results` table: the row type and the reads users make.

use std::sync::LazyLock;

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt, TryStreamExt};
use sqlx::FromRow;

use super::Store;

/// One settled job, as stored (masks and a keyed digest; never plaintext).
#[derive(Debug, Clone, PartialEq, FromRow, serde::Serialize)]
pub struct ResultRow {
    pub job_id: String,
    pub batch_id: Option<String>,
    pub status: String,
    pub biz_code: Option<String>,
    pub upstream_code: Option<String>,
    pub upstream_message: Option<String>,
    pub request_id: Option<String>,
    pub attempts: i32,
    pub name_masked: Option<String>,
    pub id_number_masked: Option<String>,
    /// NULL once the row was scrubbed (retention or `forget`).
    pub identity_digest: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub received_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    /// `interactive` or `bulk` (contract revision 2); NULL on rows from before it.
    pub priority: Option<String>,
    /// The job whose verdict this row repeats without a call (verdict reuse).
    pub reused_from_job_id: Option<String>,
    /// The queue the job was consumed from (a bulk queue or `<jobs>.interactive`;
    /// contract revision 3); NULL on rows from before it.
    pub queue: Option<String>,
    /// When retention or `forget` scrubbed the masks, digest and metadata (rev 3);
    /// read where a user sees rows (`SELECT {COLUMNS}, scrubbed_at`), absent (None)
    /// from the writer's own reads.
    #[sqlx(default)]
    pub scrubbed_at: Option<DateTime<Utc>>,
}

impl ResultRow {
    /// Whether this settled row can be the job that another copy with `digest` is:
    /// the same identity, or a scrubbed row, whose identity can no longer be told
    /// (its job_id stays settled: a copy gets the stored completion, never a call).
    pub fn may_be_of(&self, digest: &str) -> bool {
        self.identity_digest.as_deref().is_none_or(|d| d == digest)
    }
}

/// What writing a result came to.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredOutcome {
    /// This row was written now.
    Written(Box<ResultRow>),
    /// A row for the job_id already existed (a duplicate or a redelivery): here it is.
    Existing(Box<ResultRow>),
    /// PostgreSQL refuses this row for its data (SQLSTATE class 22 or 23) and
    /// always will: the job ends as a dead letter with this reason, never as an
    /// endless retry that stops every row behind it.
    Unstorable(&'static str),
}

impl StoredOutcome {
    /// The stored row; `None` for a row that cannot be stored.
    pub fn row(&self) -> Option<&ResultRow> {
        match self {
            Self::Written(r) | Self::Existing(r) => Some(r),
            Self::Unstorable(_) => None,
        }
    }
}

pub(super) const COLUMNS: &str = "job_id, batch_id, status, biz_code, upstream_code, upstream_message, \
     request_id, attempts, name_masked, id_number_masked, identity_digest, metadata, received_at, completed_at, \
     priority, reused_from_job_id, queue";

/// Rows oldest completion first; `LIMIT NULL` is no limit.
static RESULTS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {COLUMNS}, scrubbed_at FROM verification_results
          WHERE ($1::text IS NULL OR batch_id = $1)
          ORDER BY completed_at, job_id LIMIT $2 OFFSET $3"
    )
});

/// A batch's first job received, last completed, and billed calls.
static BATCH_TIMES_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT min(received_at), max(completed_at), count(*) FILTER (WHERE {})
           FROM verification_results WHERE batch_id = $1",
        crate::spend::BILLED_ROWS
    )
});

impl Store {
    /// The row of one job, if it is settled.
    pub async fn result(&self, job_id: &str) -> anyhow::Result<Option<ResultRow>> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS}, scrubbed_at FROM verification_results WHERE job_id = $1"
        ))
        .bind(job_id)
        .fetch_optional(self.db())
        .await
        .context("reading a result")
    }

    /// Rows of a batch (or every row when `batch_id` is `None`), oldest first, at most `limit`.
    pub async fn results(
        &self,
        batch_id: Option<&str>,
        limit: i64,
    ) -> anyhow::Result<Vec<ResultRow>> {
        self.results_stream(batch_id, Some(limit), 0)
            .try_collect()
            .await
    }

    /// The same rows as a stream, read as PostgreSQL sends them (one connection
    /// held until the stream ends or is dropped), so a caller can write millions
    /// of rows in constant memory. `limit` `None` is every row; `offset` skips rows.
    pub fn results_stream<'a>(
        &'a self,
        batch_id: Option<&'a str>,
        limit: Option<i64>,
        offset: i64,
    ) -> impl Stream<Item = anyhow::Result<ResultRow>> + Send + 'a {
        sqlx::query_as(&RESULTS_SQL)
            .bind(batch_id)
            .bind(limit)
            .bind(offset)
            .fetch(self.db())
            .map(|row| row.context("reading results"))
    }

    /// Counts by status of a batch, with the first and last completion time.
    pub async fn batch_counts(&self, batch_id: &str) -> anyhow::Result<BatchCounts> {
        let by_status: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, count(*) FROM verification_results WHERE batch_id = $1 GROUP BY status ORDER BY status",
        )
        .bind(batch_id)
        .fetch_all(self.db())
        .await
        .context("counting a batch")?;
        let (first, last, billed): (Option<DateTime<Utc>>, Option<DateTime<Utc>>, i64) =
            sqlx::query_as(&BATCH_TIMES_SQL)
                .bind(batch_id)
                .fetch_one(self.db())
                .await
                .context("timing a batch")?;
        let enqueued: Option<(i64,)> =
            sqlx::query_as("SELECT enqueued FROM batches WHERE batch_id = $1")
                .bind(batch_id)
                .fetch_optional(self.db())
                .await
                .context("reading a batch's size")?;
        Ok(BatchCounts {
            by_status,
            first_received: first,
            last_completed: last,
            billed,
            enqueued: enqueued.map(|(n,)| n),
        })
    }
}

impl Store {
    /// The queues a batch's settled jobs were consumed from, with their counts,
    /// by name; `None` for rows stored before queues were recorded.
    pub async fn batch_queues(&self, batch_id: &str) -> anyhow::Result<Vec<(Option<String>, i64)>> {
        sqlx::query_as(
            "SELECT queue, count(*) FROM verification_results WHERE batch_id = $1
              GROUP BY queue ORDER BY queue NULLS LAST",
        )
        .bind(batch_id)
        .fetch_all(self.db())
        .await
        .context("counting a batch's queues")
    }
}

/// `id2meta batch`'s numbers.
#[derive(Debug, Clone, Default)]
pub struct BatchCounts {
    pub by_status: Vec<(String, i64)>,
    pub first_received: Option<DateTime<Utc>>,
    pub last_completed: Option<DateTime<Utc>>,
    /// Billed calls of the batch (BizCode 1 or 2 from the upstream, not reused).
    pub billed: i64,
    /// Jobs `enqueue` published for the batch, when it could record them.
    pub enqueued: Option<i64>,
}

impl BatchCounts {
    pub fn total(&self) -> i64 {
        self.by_status.iter().map(|(_, n)| n).sum()
    }
}

impl Store {
    /// Adds `count` to the jobs known to be enqueued for a batch (`id2meta batch` reads it).
    pub async fn record_enqueued(&self, batch_id: &str, count: i64) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO batches (batch_id, enqueued) VALUES ($1, $2)
             ON CONFLICT (batch_id) DO UPDATE SET enqueued = batches.enqueued + EXCLUDED.enqueued,
                                                  updated_at = now()",
        )
        .bind(batch_id)
        .bind(count)
        .execute(self.db())
        .await
        .context("recording an enqueued batch")?;
        Ok(())
    }
}
