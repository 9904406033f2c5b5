//! Jobs confirmed per batch, added to the `batches` table so that `id2meta batch`
//! can show what is pending. Best effort: PostgreSQL being away costs the ETA, not
//! the enqueue. The counts are written at the end, and sooner whenever
//! [`MAX_BATCHES`] batches are waiting, so an input of a million one-job batches
//! does not hold a million counts.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::Config;
use crate::store::Store;

/// Batches counted in memory before they are written.
const MAX_BATCHES: usize = 4096;

/// How long writing the counts may take before `enqueue` gives up on them.
const RECORD_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct Tally {
    per_batch: BTreeMap<String, i64>,
    store: Option<Store>,
    /// Set at the first failure: nothing more is tried, one warning is printed.
    gave_up: bool,
}

impl Tally {
    /// Counts one confirmed job.
    pub async fn count(&mut self, config: &Config, batch: Option<String>) {
        let Some(batch) = batch else { return };
        if self.gave_up {
            return;
        }
        *self.per_batch.entry(batch).or_default() += 1;
        if self.per_batch.len() >= MAX_BATCHES {
            self.flush(config).await;
        }
    }

    /// Writes the counts held (at the end of the input, and when many are held).
    pub async fn flush(&mut self, config: &Config) {
        if self.per_batch.is_empty() || self.gave_up {
            return;
        }
        let counts = std::mem::take(&mut self.per_batch);
        let outcome = match tokio::time::timeout(RECORD_TIMEOUT, self.record(config, &counts)).await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(anyhow::anyhow!(
                "PostgreSQL did not answer within {RECORD_TIMEOUT:?}"
            )),
        };
        if let Err(e) = outcome {
            self.gave_up = true;
            eprintln!("warning: could not record the batch sizes, so `id2meta batch` will not know what is pending: {e:#}");
        }
    }

    async fn record(
        &mut self,
        config: &Config,
        counts: &BTreeMap<String, i64>,
    ) -> anyhow::Result<()> {
        if self.store.is_none() {
            let store = Store::open(&config.database(), 1).await?;
            store.migrate().await?;
            self.store = Some(store);
        }
        if let Some(store) = &self.store {
            for (batch, count) in counts {
                store.record_enqueued(batch, *count).await?;
            }
        }
        Ok(())
    }
}
