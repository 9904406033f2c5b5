//! Which batches are cancelled, as this replica last read them.
//!
//! The processor asks [`Cancellations::is_cancelled`] on a job's path, so the answer
//! must cost no I/O: a background task re-reads the small `batch_cancellations`
//! table every [`REFRESH`] and swaps the set. A cancel is therefore seen by every
//! replica within a refresh (plus one query), well inside the contract's second,
//! with no broker fan-out to set up and nothing lost when a replica was down at the
//! moment of the cancel: it reads the table when it starts.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// How often every replica re-reads the cancelled batches.
pub const REFRESH: Duration = Duration::from_millis(250);

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
    /// re-reading it until `stop`. A failed read keeps the last set: the database being
    /// away must not un-cancel a batch, and the jobs' own steps will wait for it anyway.
    pub async fn start(store: Store, stop: CancellationToken) -> anyhow::Result<Self> {
        let cancellations = Self::none();
        cancellations.replace(store.cancelled_batches().await?);
        let refreshed = cancellations.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REFRESH);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                match store.cancelled_batches().await {
                    Ok(batches) => {
                        failing = false;
                        refreshed.replace(batches);
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

    /// Whether the batch a job belongs to is cancelled (a job without a batch never is).
    pub fn is_cancelled(&self, batch_id: Option<&str>) -> bool {
        let Some(batch_id) = batch_id else {
            return false;
        };
        let current = match self.batches.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        current.contains(batch_id)
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
