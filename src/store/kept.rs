//! Kept outcomes: what a paid call answered, kept in the job's claim when
//! PostgreSQL refuses the job's row (the writer's `unstorable_result`).
//!
//! Such a job ends as a dead letter, but its call was made and billed. Were its
//! claim left `active`, the lease would run out and a replay of the dead letter
//! would call upstream again: billed twice. So the claim ends `unstorable` with
//! the outcome (status, codes, request id, attempts; never a name, an ID number
//! or the metadata, which come back with the replayed message), and a replay
//! stores the row from it with no call: one call per job, one row per job.

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::{ResultRow, Store};

/// The settled part of a row that could not be stored: no PII, no metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeptOutcome {
    pub status: String,
    #[serde(default)]
    pub biz_code: Option<String>,
    #[serde(default)]
    pub upstream_code: Option<String>,
    #[serde(default)]
    pub upstream_message: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub attempts: i32,
    #[serde(default)]
    pub reused_from_job_id: Option<String>,
}

impl KeptOutcome {
    /// The outcome of `row`. NUL characters are replaced: `jsonb` refuses them,
    /// and the claim must take the outcome whatever the row held.
    pub fn of(row: &ResultRow) -> Self {
        let clean = |s: &Option<String>| s.as_deref().map(without_nul);
        Self {
            status: without_nul(&row.status),
            biz_code: clean(&row.biz_code),
            upstream_code: clean(&row.upstream_code),
            upstream_message: clean(&row.upstream_message),
            request_id: clean(&row.request_id),
            attempts: row.attempts,
            reused_from_job_id: clean(&row.reused_from_job_id),
        }
    }

    /// An outcome the claim should hold but does not (a hand-edited row): the job
    /// settles `failed` rather than being called a second time.
    pub fn lost(attempts: i32) -> Self {
        Self {
            status: "failed".into(),
            biz_code: None,
            upstream_code: Some("UnstorableResult".into()),
            upstream_message: Some("the outcome of a paid call was not kept".into()),
            request_id: None,
            attempts,
            reused_from_job_id: None,
        }
    }

    /// Reads a claim's `outcome` column.
    pub(super) fn from_column(outcome: Option<serde_json::Value>, attempts: i32) -> Self {
        outcome
            .and_then(|value| serde_json::from_value(value).ok())
            .unwrap_or_else(|| Self::lost(attempts))
    }
}

fn without_nul(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

impl Store {
    /// Ends the claim of a job whose row cannot be stored, keeping its outcome.
    /// An `active` claim takes the outcome; a repeat of the refusal (a replay refused
    /// again) keeps the first outcome. Either way `kept_at` moves to now: the job has
    /// just gone to the dead letters again, and the claim must outlive that letter.
    pub(super) async fn keep_outcome(&self, row: &ResultRow) -> anyhow::Result<()> {
        let outcome =
            serde_json::to_value(KeptOutcome::of(row)).context("encoding a kept outcome")?;
        sqlx::query(
            "UPDATE job_claims
                SET outcome = CASE WHEN state = 'active' THEN $2 ELSE outcome END,
                    state = 'unstorable', kept_at = now()
              WHERE job_id = $1 AND state IN ('active', 'unstorable')",
        )
        .bind(&row.job_id)
        .bind(outcome)
        .execute(self.db())
        .await
        .context("keeping the outcome of an unstorable result")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_outcome_replaces_nul_characters_and_keeps_no_masks_or_metadata() {
        let row = ResultRow {
            job_id: "j".into(),
            batch_id: Some("b".into()),
            status: "match".into(),
            biz_code: Some("1".into()),
            upstream_code: Some("Success".into()),
            upstream_message: Some("a\0b".into()),
            request_id: Some("r".into()),
            attempts: 2,
            name_masked: Some("张*".into()),
            id_number_masked: Some("1101**********0011".into()),
            identity_digest: "d".into(),
            metadata: Some(serde_json::json!({"k": "v"})),
            received_at: chrono::Utc::now(),
            completed_at: chrono::Utc::now(),
            priority: None,
            reused_from_job_id: None,
            queue: None,
        };
        let kept = KeptOutcome::of(&row);
        assert_eq!(kept.upstream_message.as_deref(), Some("a\u{FFFD}b"));
        assert_eq!(kept.attempts, 2);
        let text = serde_json::to_string(&kept).unwrap();
        assert!(!text.contains("张") && !text.contains("1101") && !text.contains("\"k\""));
    }

    #[test]
    fn a_missing_or_unreadable_outcome_settles_failed_instead_of_calling_again() {
        assert_eq!(KeptOutcome::from_column(None, 1).status, "failed");
        let garbage = Some(serde_json::json!({"nope": 1}));
        assert_eq!(KeptOutcome::from_column(garbage, 3).attempts, 3);
    }
}
