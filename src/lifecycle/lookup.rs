//! `lookup`: "was this person verified, when, with what result?", answered
//! from the digest without SQL or the key in the operator's hands.
//!
//! The identity never leaves the process: it is turned into its pseudonyms at
//! once, and the audit row (written in the same transaction as the read) holds
//! the masks and the number of rows found. Scrubbed rows have no digest and are
//! never found.

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::audit::{self, Action, Actor};
use crate::identity::Pseudonyms;
use crate::store::Store;

/// One row of the identity, masked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct Found {
    pub job_id: String,
    pub batch_id: Option<String>,
    pub queue: Option<String>,
    pub status: String,
    pub completed_at: DateTime<Utc>,
    pub reused_from_job_id: Option<String>,
}

/// The most rows one lookup returns (the oldest first).
pub const MAX_FOUND: i64 = 1_000;

/// The rows of the identity `who` names, oldest first, and the audit row
/// naming `actor`, in one transaction.
pub async fn lookup(store: &Store, who: &Pseudonyms, actor: &Actor) -> anyhow::Result<Vec<Found>> {
    let mut tx = store.db().begin().await.context("beginning a lookup")?;
    let found: Vec<Found> = sqlx::query_as(
        "SELECT job_id, batch_id, queue, status, completed_at, reused_from_job_id
           FROM verification_results
          WHERE identity_digest = $1
          ORDER BY completed_at, job_id
          LIMIT $2",
    )
    .bind(&who.digest)
    .bind(MAX_FOUND)
    .persistent(store.named())
    .fetch_all(&mut *tx)
    .await
    .context("looking an identity up")?;
    let detail = serde_json::json!({
        "name_masked": who.name_masked,
        "id_number_masked": who.id_number_masked,
        "rows": found.len(),
    });
    audit::record(&mut *tx, actor, Action::Lookup, None, &detail).await?;
    tx.commit().await.context("committing a lookup")?;
    Ok(found)
}
