//! Retention (`ID2META_RESULTS_RETENTION`): result rows completed longer ago
//! are scrubbed: `name_masked`, `id_number_masked`, `identity_digest` and
//! `metadata` become NULL and `scrubbed_at` is set; status, codes, attempts and
//! times stay, so counts and spend stay right. The claims of scrubbed jobs go in
//! the same transaction, and their dead letters after it.
//!
//! The sweep runs inside every worker as a background task, never on a job's
//! path, and is made to stay out of the fleet's way:
//! - bounded batches ([`SCRUB_BATCH`] rows), each its own short transaction with
//!   server-side `statement_timeout` and `lock_timeout`; it locks only the rows
//!   it scrubs (`FOR UPDATE SKIP LOCKED`), which no job touches again;
//! - a pause as long as each batch took, so it never holds the database more
//!   than half the time;
//! - one replica at a time: each batch first takes a transaction-scoped advisory
//!   lock (`pg_try_advisory_xact_lock`), and a replica that finds it taken ends
//!   its sweep (another is sweeping). No session state: it works behind
//!   PgBouncer's transaction pooling.
//!
//! A sweep that scrubbed something writes one audit row (`retention`) with its
//! count, in the transaction of its last batch; a sweep cut short (shutdown, an
//! error) records what it did in its own transaction. Sweeps that find nothing
//! leave no row.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::audit::{self, Action, Actor};
use crate::queue::dead_letters::{DeadLetterQueue, Selection};
use crate::store::Store;

/// Rows scrubbed per transaction.
pub const SCRUB_BATCH: i64 = 1_000;
/// How often a worker looks for rows past the retention (the first look is at start).
pub const SWEEP_EVERY: Duration = Duration::from_secs(300);
/// The advisory lock every replica's sweep takes per batch: one sweeper at a time.
pub const SWEEP_LOCK: i64 = 0x6964_326d_6574_6152; // "id2metaR"
/// A scrub statement that takes longer than this is cancelled by the server.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
/// A row lock the scrub waits for longer than this fails the batch (none should exist).
const LOCK_TIMEOUT: Duration = Duration::from_secs(1);

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub rows: u64,
    pub claims: u64,
    /// False when the sweep was cut short (shutdown, or another replica took it over).
    pub finished: bool,
}

/// One batch: how many rows and claims went.
struct Batch {
    rows: u64,
    claims: u64,
}

/// Scrubs, a batch at a time, every row completed more than `retention` ago,
/// until none is left, another replica holds the sweep, or `stop`. Writes the
/// sweep's audit row (when it scrubbed anything) naming `actor`.
pub async fn sweep(
    store: &Store,
    retention: Duration,
    actor: &Actor,
    stop: &CancellationToken,
) -> anyhow::Result<Swept> {
    let mut swept = Swept::default();
    let outcome = loop {
        if stop.is_cancelled() {
            break Ok(());
        }
        let started = Instant::now();
        match scrub_batch(store, retention, SCRUB_BATCH, actor, swept).await {
            Ok(None) => break Ok(()),
            Ok(Some(batch)) => {
                swept.rows += batch.rows;
                swept.claims += batch.claims;
                if batch.rows < SCRUB_BATCH as u64 {
                    // The last batch recorded the sweep in its own transaction.
                    swept.finished = true;
                    return Ok(swept);
                }
            }
            Err(error) => break Err(error),
        }
        // Yield the database for as long as the batch held it.
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(started.elapsed()) => {}
        }
    };
    if swept.rows > 0 {
        // Cut short after scrubbing something: the record of what was done.
        let detail = detail(swept, retention, false);
        audit::record(store.db(), actor, Action::Retention, None, &detail).await?;
    }
    outcome.map(|()| swept)
}

/// Scrubs up to `limit` rows in one transaction. `None` if another replica holds
/// the sweep. A short batch is the sweep's last: its audit row (counting
/// `before` too) is written in the same transaction.
async fn scrub_batch(
    store: &Store,
    retention: Duration,
    limit: i64,
    actor: &Actor,
    before: Swept,
) -> anyhow::Result<Option<Batch>> {
    let mut tx = store
        .db()
        .begin_bounded(STATEMENT_TIMEOUT, Some(LOCK_TIMEOUT))
        .await
        .context("beginning a bounded scrub")?;
    let ours: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(SWEEP_LOCK)
        .persistent(store.named())
        .fetch_one(&mut *tx)
        .await
        .context("taking the retention sweep")?;
    if !ours {
        return Ok(None);
    }
    let job_ids: Vec<String> = sqlx::query_scalar(
        "WITH doomed AS (
             SELECT job_id FROM verification_results
              WHERE scrubbed_at IS NULL AND completed_at < now() - make_interval(secs => $1)
              ORDER BY completed_at
              LIMIT $2
                FOR UPDATE SKIP LOCKED)
         UPDATE verification_results v
            SET name_masked = NULL, id_number_masked = NULL, identity_digest = NULL,
                metadata = NULL, scrubbed_at = now()
           FROM doomed WHERE v.job_id = doomed.job_id
         RETURNING v.job_id",
    )
    .bind(retention.as_secs_f64())
    .bind(limit)
    .persistent(store.named())
    .fetch_all(&mut *tx)
    .await
    .context("scrubbing rows past the retention")?;
    let claims = sqlx::query("DELETE FROM job_claims WHERE job_id = ANY($1)")
        .bind(&job_ids)
        .persistent(store.named())
        .execute(&mut *tx)
        .await
        .context("deleting the claims of scrubbed rows")?
        .rows_affected();
    let batch = Batch {
        rows: job_ids.len() as u64,
        claims,
    };
    let total = Swept {
        rows: before.rows + batch.rows,
        claims: before.claims + batch.claims,
        finished: true,
    };
    if batch.rows < limit as u64 && total.rows > 0 {
        let detail = detail(total, retention, true);
        audit::record(&mut *tx, actor, Action::Retention, None, &detail).await?;
    }
    tx.commit().await.context("committing a scrub")?;
    Ok(Some(batch))
}

/// The audit row's detail: counts and the setting, nothing else.
fn detail(swept: Swept, retention: Duration, finished: bool) -> serde_json::Value {
    serde_json::json!({
        "rows": swept.rows,
        "claims": swept.claims,
        "retention_seconds": retention.as_secs(),
        "finished": finished,
    })
}

/// Deletes the dead letters whose job's row is scrubbed (at most one scan of the
/// dead-letter queue); returns how many went.
pub async fn purge_scrubbed_letters(
    store: &Store,
    letters: &DeadLetterQueue,
) -> anyhow::Result<usize> {
    let held: Vec<String> = letters
        .list(usize::from(u16::MAX))
        .await?
        .into_iter()
        .filter_map(|letter| letter.job_id)
        .collect();
    if held.is_empty() {
        return Ok(0);
    }
    let scrubbed: BTreeSet<String> = sqlx::query_scalar(
        "SELECT job_id FROM verification_results WHERE job_id = ANY($1) AND scrubbed_at IS NOT NULL",
    )
    .bind(&held)
    .fetch_all(store.db())
    .await
    .context("finding the dead letters of scrubbed jobs")?
    .into_iter()
    .collect();
    if scrubbed.is_empty() {
        return Ok(0);
    }
    Ok(letters.purge(&Selection::JobIds(scrubbed)).await?.done)
}

/// Sweeps every [`SWEEP_EVERY`] (at once at start) until `stop`; a failed sweep
/// is logged and tried again next time. After a sweep that scrubbed rows, the
/// dead letters of scrubbed jobs are purged over a connection made for it.
pub async fn sweep_until(
    store: Store,
    retention: Duration,
    actor: Actor,
    config: crate::config::Config,
    stop: CancellationToken,
) {
    let mut every = crate::shutdown::Every::new(SWEEP_EVERY, stop.clone());
    while every.tick().await {
        match sweep(&store, retention, &actor, &stop).await {
            Ok(swept) if swept.rows == 0 => {}
            Ok(swept) => {
                tracing::info!(
                    rows = swept.rows,
                    claims = swept.claims,
                    "results past the retention scrubbed"
                );
                let letters = async {
                    let queue = DeadLetterQueue::from_config(&config).await?;
                    purge_scrubbed_letters(&store, &queue).await
                };
                match letters.await {
                    Ok(0) => {}
                    Ok(purged) => tracing::info!(purged, "dead letters of scrubbed jobs purged"),
                    Err(error) => {
                        tracing::warn!(error = %format!("{error:#}"), "purging the dead letters of scrubbed jobs failed")
                    }
                }
            }
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "the retention sweep failed; tried again next time")
            }
        }
    }
}
