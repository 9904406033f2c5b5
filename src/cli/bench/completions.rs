//! Reads a section's results queue while the jobs run: counts distinct completed
//! jobs (completions are at-least-once), notes when the last one arrived, and the
//! latency each one carries (publish stamp in its metadata → received now).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::StreamExt;
use lapin::options::BasicConsumeOptions;
use lapin::types::FieldTable;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::jobs::{now_micros, PUBLISHED_KEY};
use crate::queue::Completion;

/// What has been received so far.
#[derive(Debug, Default, Clone)]
pub struct Received {
    pub jobs: HashSet<String>,
    pub duplicates: u64,
    pub by_status: BTreeMap<String, u64>,
    pub last: Option<Instant>,
    /// Publish → receipt, microseconds, one per distinct job.
    pub latencies_us: Vec<u64>,
    /// The same, for the interactive jobs only (the lanes section).
    pub interactive_latencies_us: Vec<u64>,
}

/// A running reader of one results queue.
pub struct Completions {
    received: Arc<Mutex<Received>>,
    count: watch::Receiver<usize>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Completions {
    /// Starts consuming `results_queue` (auto-ack: the bench is its only reader).
    pub async fn start(
        connection: &lapin::Connection,
        results_queue: &str,
    ) -> anyhow::Result<Self> {
        let channel = connection
            .create_channel()
            .await
            .context("opening the results channel")?;
        let mut deliveries = channel
            .basic_consume(
                results_queue.into(),
                "id2meta-bench".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .context("consuming the results queue")?;
        let received = Arc::new(Mutex::new(Received::default()));
        let (tell, count) = watch::channel(0usize);
        let shared = received.clone();
        let task = tokio::spawn(async move {
            // The channel lives as long as the consumer.
            let _channel = channel;
            while let Some(delivery) = deliveries.next().await {
                let delivery = delivery.context("reading completions")?;
                let now = (Instant::now(), now_micros());
                let completion: Completion = serde_json::from_slice(&delivery.data)
                    .context("a completion that is not the contract's")?;
                let mut seen = shared.lock().unwrap_or_else(PoisonError::into_inner);
                record(&mut seen, completion, now);
                tell.send_replace(seen.jobs.len());
            }
            anyhow::Ok(())
        });
        Ok(Self {
            received,
            count,
            task,
        })
    }

    /// Waits until `expected` distinct jobs completed; fails if none arrives for `stall`.
    pub async fn wait_for(&mut self, expected: usize, stall: Duration) -> anyhow::Result<Received> {
        loop {
            let got = *self.count.borrow_and_update();
            if got >= expected {
                break;
            }
            match tokio::time::timeout(stall, self.count.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => bail!("the results reader stopped after {got} of {expected} jobs"),
                Err(_) => bail!(
                    "no completion for {} s: {got} of {expected} jobs completed",
                    stall.as_secs()
                ),
            }
        }
        Ok(self.snapshot())
    }

    /// Distinct jobs completed so far.
    pub fn count(&self) -> usize {
        *self.count.borrow()
    }

    pub fn snapshot(&self) -> Received {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops reading (the channel closes with the task).
    pub fn stop(self) {
        self.task.abort();
    }
}

fn record(seen: &mut Received, completion: Completion, (at, at_us): (Instant, u64)) {
    if !seen.jobs.insert(completion.job_id) {
        seen.duplicates += 1;
        return;
    }
    *seen.by_status.entry(completion.status).or_default() += 1;
    let interactive = completion.priority.as_deref() == Some("interactive");
    seen.last = Some(at);
    let published = completion
        .metadata
        .as_ref()
        .and_then(|m| m.get(PUBLISHED_KEY))
        .and_then(serde_json::Value::as_u64);
    if let Some(published) = published {
        let latency = at_us.saturating_sub(published);
        seen.latencies_us.push(latency);
        if interactive {
            seen.interactive_latencies_us.push(latency);
        }
    }
}

/// The nearest-rank percentile `p` (0..=100) of `values`, sorted in place.
pub fn percentile(values: &mut [u64], p: f64) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completion(job_id: &str, published: Option<u64>) -> Completion {
        Completion {
            job_id: job_id.into(),
            batch_id: None,
            status: "match".into(),
            biz_code: Some("1".into()),
            upstream_code: Some("Success".into()),
            request_id: None,
            attempts: 1,
            completed_at: "2026-01-01T00:00:00Z".into(),
            metadata: published.map(|p| serde_json::json!({ PUBLISHED_KEY: p })),
            reused_from_job_id: None,
            priority: None,
            queue: None,
        }
    }

    #[test]
    fn a_duplicate_completion_is_counted_once_and_latency_comes_from_the_stamp() {
        let mut seen = Received::default();
        let now = Instant::now();
        record(&mut seen, completion("a", Some(1_000)), (now, 251_000));
        record(&mut seen, completion("a", Some(1_000)), (now, 999_000));
        record(&mut seen, completion("b", None), (now, 5_000));
        assert_eq!(seen.jobs.len(), 2);
        assert_eq!(seen.duplicates, 1);
        assert_eq!(seen.by_status["match"], 2);
        assert_eq!(seen.latencies_us, vec![250_000]);
    }

    #[test]
    fn an_interactive_completion_counts_in_the_lanes_latencies_too() {
        let mut seen = Received::default();
        let now = Instant::now();
        let mut interactive = completion("i", Some(1_000));
        interactive.priority = Some("interactive".into());
        let mut bulk = completion("b", Some(1_000));
        bulk.priority = Some("bulk".into());
        record(&mut seen, interactive, (now, 181_000));
        record(&mut seen, bulk, (now, 901_000));
        assert_eq!(seen.interactive_latencies_us, vec![180_000]);
        assert_eq!(seen.latencies_us, vec![180_000, 900_000]);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(percentile(&mut v, 50.0), Some(50));
        assert_eq!(percentile(&mut v, 95.0), Some(95));
        assert_eq!(percentile(&mut v, 99.0), Some(99));
        assert_eq!(percentile(&mut v, 100.0), Some(100));
        assert_eq!(percentile(&mut [7], 99.0), Some(7));
        assert_eq!(percentile(&mut [], 50.0), None);
    }
}
