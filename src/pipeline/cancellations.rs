//! Which batches are cancelled, as this replica last read them.
//!
//! The processor asks [`Cancellations::is_cancelled`] on a job's path, so the answer
//! must cost no I/O: a background task reads `batch_cancellations` every [`REFRESH`]
//! and adds what it finds to the set. A cancel is therefore seen by every replica
//! within a refresh (plus one query), well inside the contract's second, with no
//! broker fan-out to set up and nothing lost when a replica was down at the moment
//! of the cancel: it reads the whole table when it starts.
//!
//! Each refresh reads only the rows written since the previous one (a cursor on the
//! writing transaction, `Store::cancelled_since`): with nothing new, a refresh is one
//! index probe returning nothing, however many batches were ever cancelled. Every
//! [`FULL_READ`] the replica prunes the cancellations older than [`KEEP`] and reads
//! the whole table again, so pruned batches leave its set too.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// How often every replica reads the newly cancelled batches.
pub const REFRESH: Duration = Duration::from_millis(250);

/// How often a replica prunes and reads the whole table again.
pub const FULL_READ: Duration = Duration::from_secs(600);

/// How long a cancellation is kept: a job of the batch arriving later (a message
/// that waited in a queue, a dead letter replayed within its 14-day default TTL) is
/// still cancelled within this time. The age is the only bound a replica can know:
/// jobs still in RabbitMQ are invisible to the database. The audit log keeps the
/// record of the cancel after its row goes.
pub const KEEP: Duration = Duration::from_secs(30 * 24 * 3600);

/// The cancelled batch_ids; cheap to clone and to ask.
#[derive(Clone, Default)]
pub struct Cancellations {
    batches: Arc<RwLock<Arc<HashSet<String>>>>,
}

impl Cancellations {
    /// A set nothing refreshes (tests, tools): cancels nothing unless [`Self::replace`]d.
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads the table once (so the first job already sees earlier cancels), then keeps
    /// reading what is new until `stop`. A failed read keeps the last set (and the
    /// cursor): the database being away must not un-cancel a batch, and the jobs' own
    /// steps will wait for it anyway.
    pub async fn start(store: Store, stop: CancellationToken) -> anyhow::Result<Self> {
        let cancellations = Self::none();
        let first = store.cancelled_since(None).await?;
        cancellations.replace(first.batches);
        let refreshed = cancellations.clone();
        tokio::spawn(async move {
            let mut horizon = first.horizon;
            let mut full_at = Instant::now() + FULL_READ;
            let mut tick = tokio::time::interval(REFRESH);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let full = Instant::now() >= full_at;
                match refreshed.refresh(&store, horizon, full).await {
                    Ok(next) => {
                        failing = false;
                        horizon = next;
                        if full {
                            full_at = Instant::now() + FULL_READ;
                        }
                    }
                    // Once per outage, not four times a second.
                    Err(error) if !failing => {
                        failing = true;
                        tracing::warn!(error = %format!("{error:#}"), "reading cancelled batches failed; keeping the last set");
                    }
                    Err(_) => {}
                }
            }
        });
        Ok(cancellations)
    }

    /// One refresh: the rows written since `horizon` added to the set, or (`full`)
    /// the old ones pruned and the whole table read again. Returns the next horizon.
    async fn refresh(&self, store: &Store, horizon: i64, full: bool) -> anyhow::Result<i64> {
        if !full {
            let read = store.cancelled_since(Some(horizon)).await?;
            if !read.batches.is_empty() {
                self.add(read.batches);
            }
            return Ok(read.horizon);
        }
        let pruned = store.prune_cancellations(KEEP).await?;
        if pruned > 0 {
            tracing::info!(pruned, "old batch cancellations pruned");
        }
        let read = store.cancelled_since(None).await?;
        self.replace(read.batches);
        Ok(read.horizon)
    }

    /// Adds `batches` to the cancelled set.
    fn add(&self, batches: Vec<String>) {
        let current = self.current();
        if batches.iter().all(|b| current.contains(b)) {
            return;
        }
        self.replace(current.iter().cloned().chain(batches));
    }

    fn current(&self) -> Arc<HashSet<String>> {
        match self.batches.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Whether the batch a job belongs to is cancelled (a job without a batch never is).
    pub fn is_cancelled(&self, batch_id: Option<&str>) -> bool {
        let Some(batch_id) = batch_id else {
            return false;
        };
        self.current().contains(batch_id)
    }

    /// Sets the cancelled batches to exactly `batches`.
    pub fn replace(&self, batches: impl IntoIterator<Item = String>) {
        let next = Arc::new(batches.into_iter().collect::<HashSet<_>>());
        match self.batches.write() {
            Ok(mut guard) => *guard = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_batches_are_cancelled_and_jobs_without_a_batch_never_are() {
        let cancellations = Cancellations::none();
        assert!(!cancellations.is_cancelled(Some("b1")));
        cancellations.replace(["b1".to_string()]);
        assert!(cancellations.is_cancelled(Some("b1")));
        assert!(!cancellations.is_cancelled(Some("b2")));
        assert!(!cancellations.is_cancelled(None));
        cancellations.replace(Vec::new());
        assert!(!cancellations.is_cancelled(Some("b1")));
    }
}
