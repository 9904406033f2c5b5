//! The batched result writer: one task that commits whatever results arrived
//! while the previous commit ran, in one transaction (`UNNEST` insert + claim
//! update). Single-row upserts top out near 2-6k/s here; 200-row batches reach
//! 43-77k rows/s (field notes), so batching is what keeps the store off the
//! critical path.
//!
//! A result arriving here was paid for: a failed commit is retried (with a
//! capped pause) rather than dropped, so a PostgreSQL restart delays jobs but
//! never makes them call upstream again.
//!
//! Except when the database refuses the data itself (SQLSTATE class 22, data
//! exception, or 23, integrity violation: a NUL in a `jsonb` or `text` value,
//! say): retrying that forever would stop every result behind it. So a batch
//! refused for its data is split in halves (bisection), each half committed on
//! its own, down to the single rows that can never be stored, which come back
//! [`StoredOutcome::Unstorable`]. One bad row among 256 costs about 16 extra
//! round trips, and the good rows commit. Any other error (the connection, a
//! restart) is retried whole, as before. The claim of an unstorable row ends
//! `unstorable` with its outcome kept (`kept.rs`), so a replay never pays twice.

use std::collections::HashMap;

use anyhow::Context;

use super::batcher::{Batcher, OnError};
use super::results::COLUMNS;
use super::{ResultRow, Store, StoredOutcome};

/// Sends rows to the writer task; cheap to clone.
#[derive(Clone)]
pub struct ResultWriter {
    batcher: Batcher<ResultRow, StoredOutcome>,
}

impl ResultWriter {
    /// Starts the writer task. It ends when every `ResultWriter` clone is dropped,
    /// after committing what it holds.
    pub fn spawn(store: Store) -> (Self, tokio::task::JoinHandle<()>) {
        let (batcher, handle) = Batcher::spawn(
            store,
            "committing results",
            |store, rows| Box::pin(commit_isolating(store, rows)),
            OnError::Retry,
        );
        (Self { batcher }, handle)
    }

    /// Commits `row` (unless a row for its job_id exists) and marks its claim done.
    /// Returns once committed: the caller may publish and acknowledge.
    pub async fn write(&self, row: ResultRow) -> anyhow::Result<StoredOutcome> {
        self.batcher.call(row).await
    }
}

/// The dead-letter reason of a job whose result PostgreSQL refuses.
pub const UNSTORABLE: &str = "unstorable_result";

/// Commits `rows`, bisecting around the rows the database refuses for their
/// data; outcomes in the order of `rows`. Any other error ends the call (the
/// batcher retries it whole; halves already committed then answer `Existing`).
async fn commit_isolating(store: &Store, rows: &[ResultRow]) -> anyhow::Result<Vec<StoredOutcome>> {
    let mut outcomes: Vec<Option<StoredOutcome>> = vec![None; rows.len()];
    let mut pending = Vec::new();
    pending.push(0..rows.len());
    while let Some(range) = pending.pop() {
        match commit(store, &rows[range.clone()]).await {
            Ok(answers) => {
                for (slot, answer) in outcomes[range].iter_mut().zip(answers) {
                    *slot = Some(answer);
                }
            }
            Err(error) => match data_error_code(&error) {
                Some(code) if range.len() == 1 => {
                    tracing::warn!(sqlstate = %code, "a result the database refuses; its job is dead-lettered");
                    // Paid for: the claim ends settled with the outcome, so a replay
                    // stores the row without a second call (`kept.rs`).
                    store.keep_outcome(&rows[range.start]).await?;
                    outcomes[range.start] = Some(StoredOutcome::Unstorable(UNSTORABLE));
                }
                Some(_) => {
                    let middle = range.start + range.len() / 2;
                    pending.push(middle..range.end);
                    pending.push(range.start..middle);
                }
                None => return Err(error),
            },
        }
    }
    // Every range was answered or the loop returned early.
    Ok(outcomes
        .into_iter()
        .map(|o| o.unwrap_or(StoredOutcome::Unstorable(UNSTORABLE)))
        .collect())
}

/// The SQLSTATE of an error the data caused (class 22 or 23), if it is one.
pub(super) fn data_error_code(error: &anyhow::Error) -> Option<String> {
    error.chain().find_map(|cause| {
        let database = cause.downcast_ref::<sqlx::Error>()?.as_database_error()?;
        let code = database.code()?;
        (code.starts_with("22") || code.starts_with("23")).then(|| code.into_owned())
    })
}

/// One transaction for the whole batch; outcomes in the order of `rows`.
async fn commit(store: &Store, rows: &[ResultRow]) -> anyhow::Result<Vec<StoredOutcome>> {
    let col = |f: fn(&ResultRow) -> Option<String>| rows.iter().map(f).collect::<Vec<_>>();
    let job_ids: Vec<String> = rows.iter().map(|r| r.job_id.clone()).collect();
    let mut tx = store
        .db()
        .begin()
        .await
        .context("beginning a result transaction")?;
    let written: Vec<(String,)> = sqlx::query_as(&format!(
        "INSERT INTO verification_results ({COLUMNS})
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                              $7::text[], $8::int[], $9::text[], $10::text[], $11::text[], $12::jsonb[],
                              $13::timestamptz[], $14::timestamptz[], $15::text[], $16::text[],
                              $17::text[])
         ON CONFLICT (job_id) DO NOTHING
         RETURNING job_id"
    ))
    .bind(&job_ids)
    .bind(col(|r| r.batch_id.clone()))
    .bind(rows.iter().map(|r| r.status.clone()).collect::<Vec<_>>())
    .bind(col(|r| r.biz_code.clone()))
    .bind(col(|r| r.upstream_code.clone()))
    .bind(col(|r| r.upstream_message.clone()))
    .bind(col(|r| r.request_id.clone()))
    .bind(rows.iter().map(|r| r.attempts).collect::<Vec<_>>())
    .bind(col(|r| r.name_masked.clone()))
    .bind(col(|r| r.id_number_masked.clone()))
    .bind(rows.iter().map(|r| r.identity_digest.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.metadata.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.received_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.completed_at).collect::<Vec<_>>())
    .bind(col(|r| r.priority.clone()))
    .bind(col(|r| r.reused_from_job_id.clone()))
    .bind(col(|r| r.queue.clone()))
    .persistent(store.named())
    .fetch_all(&mut *tx)
    .await
    .context("inserting results")?;
    // `unstorable`: a replayed job whose row now fits (its kept outcome, `kept.rs`).
    sqlx::query(
        "UPDATE job_claims SET state = 'done' WHERE job_id = ANY($1) AND state IN ('active', 'unstorable')",
    )
        .bind(&job_ids)
        .persistent(store.named())
        .execute(&mut *tx)
        .await
        .context("settling claims")?;
    let written: std::collections::HashSet<String> = written.into_iter().map(|(id,)| id).collect();
    let missing: Vec<&String> = job_ids.iter().filter(|id| !written.contains(*id)).collect();
    let mut existing: HashMap<String, ResultRow> = HashMap::new();
    if !missing.is_empty() {
        let found: Vec<ResultRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM verification_results WHERE job_id = ANY($1)"
        ))
        .bind(&missing)
        .persistent(store.named())
        .fetch_all(&mut *tx)
        .await
        .context("reading existing results")?;
        existing = found.into_iter().map(|r| (r.job_id.clone(), r)).collect();
    }
    tx.commit().await.context("committing results")?;
    // The first row of a job_id in this batch is the one written; a later copy sees it.
    let mut first_written: HashMap<&str, &ResultRow> = HashMap::new();
    Ok(rows
        .iter()
        .map(|row| {
            if written.contains(&row.job_id) {
                if let Some(first) = first_written.get(row.job_id.as_str()) {
                    return StoredOutcome::Existing(Box::new((*first).clone()));
                }
                first_written.insert(&row.job_id, row);
                StoredOutcome::Written(Box::new((*row).clone()))
            } else {
                let stored = existing
                    .get(&row.job_id)
                    .cloned()
                    .unwrap_or_else(|| (*row).clone());
                StoredOutcome::Existing(Box::new(stored))
            }
        })
        .collect())
}
