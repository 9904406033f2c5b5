//! The completion message: what a settled job publishes. No name, no ID number.

use serde::{Deserialize, Serialize};

use crate::store::ResultRow;

/// The contract's completion body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub job_id: String,
    pub batch_id: Option<String>,
    pub status: String,
    pub biz_code: Option<String>,
    pub upstream_code: Option<String>,
    pub request_id: Option<String>,
    pub attempts: i32,
    /// `YYYY-MM-DDThh:mm:ssZ`.
    pub completed_at: String,
    pub metadata: Option<serde_json::Value>,
    /// The job whose verdict this one reused (verdict reuse); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from_job_id: Option<String>,
    /// The job's effective priority (`interactive` or `bulk`), as in its row;
    /// absent for rows stored before lanes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// The queue the job was consumed from (contract revision 3); absent for
    /// rows stored before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
}

impl From<&ResultRow> for Completion {
    fn from(row: &ResultRow) -> Self {
        Self {
            job_id: row.job_id.clone(),
            batch_id: row.batch_id.clone(),
            status: row.status.clone(),
            biz_code: row.biz_code.clone(),
            upstream_code: row.upstream_code.clone(),
            request_id: row.request_id.clone(),
            attempts: row.attempts,
            completed_at: row.completed_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            metadata: row.metadata.clone(),
            reused_from_job_id: row.reused_from_job_id.clone(),
            priority: row.priority.clone(),
            queue: row.queue.clone(),
        }
    }
}

impl Completion {
    /// The routing key: `result.<status>`.
    pub fn routing_key(&self) -> String {
        format!("result.{}", self.status)
    }
}
