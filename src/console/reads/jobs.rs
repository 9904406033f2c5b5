//! Where a job is: its settled row, or its claim (work in progress).

use crate::store::Db;
use anyhow::Context;
use chrono::{DateTime, Utc};

use super::batches::MaskedRow;

/// A claim from `job_claims`: the job is being (or was being) called.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimLine {
    pub state: String,
    /// The replica (its `worker_replicas.replica_id`) that holds the claim; NULL on
    /// a claim taken by a worker older than migration 20261202000200.
    pub replica_id: Option<uuid::Uuid>,
    pub lease_until: DateTime<Utc>,
    pub lease_left_ms: i64,
    pub attempts: i32,
    pub last_code: Option<String>,
    pub claimed_at: DateTime<Utc>,
}

/// What the console knows of a job_id.
#[derive(Debug, Clone)]
pub enum JobWhere {
    Settled(Box<MaskedRow>),
    Claimed(ClaimLine),
    /// No row and no claim: still queued, or never enqueued.
    Unknown,
}

pub async fn find(pool: &Db, job_id: &str) -> anyhow::Result<JobWhere> {
    let row: Option<MaskedRow> = sqlx::query_as(
        "SELECT job_id, batch_id, status, biz_code, upstream_code, attempts, name_masked,
                id_number_masked, received_at, completed_at
           FROM verification_results WHERE job_id = $1",
    )
    .bind(job_id)
    .fetch_optional(pool)
    .await
    .context("reading a job's row")?;
    if let Some(row) = row {
        return Ok(JobWhere::Settled(Box::new(row)));
    }
    let claim: Option<ClaimLine> = sqlx::query_as(
        "SELECT state, replica_id, lease_until,
                (extract(epoch FROM lease_until - now()) * 1000)::bigint AS lease_left_ms,
                attempts, last_code, claimed_at
           FROM job_claims WHERE job_id = $1",
    )
    .bind(job_id)
    .fetch_optional(pool)
    .await
    .context("reading a job's claim")?;
    Ok(claim.map_or(JobWhere::Unknown, JobWhere::Claimed))
}
