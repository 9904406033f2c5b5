//! Interactive jobs trickled into `<jobs>.interactive` at a fixed rate while a
//! section's bulk backlogs run (section 11: the lane under weighted queues),
//! and what each waited, publish → completion, read from the section's
//! completions with the same stamps and percentiles as sections 7 and 10.
//!
//! The trickle is a task of its own, so the section goes on waiting for its
//! rows as it does without one, and the schedule does not drift with it.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::completions::{percentile, Completions};
use super::jobs;
use super::scratch::Scratch;

/// The first of the people interactive jobs are made for: none of the
/// backlogs' (a section's bulk people are far below), and never of the
/// partner's region (every fifth), whose calls the mock counts apart.
const FIRST_PERSON: u64 = 1_000_001;

/// What the interactive jobs waited.
#[derive(Debug, Clone, Copy)]
pub struct Interactive {
    pub jobs: u64,
    pub rate: f64,
    /// Publish → completion: p50, p99, max in milliseconds.
    pub percentiles_ms: [f64; 3],
}

/// A running trickle and the reader of the section's completions.
pub struct Trickle {
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<u64>>,
    completions: Completions,
}

impl Trickle {
    /// Starts reading the section's completions and publishing one interactive
    /// job every `1 / rate` seconds, the first at once.
    pub async fn start(scratch: &Scratch, batch: String, rate: f64) -> anyhow::Result<Self> {
        let completions =
            Completions::start(&scratch.connection, &scratch.topology.results_queue).await?;
        let stop = CancellationToken::new();
        let (publisher, queue) = (
            scratch.publisher.clone(),
            scratch.topology.interactive_queue.clone(),
        );
        let until = stop.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            let mut people = (FIRST_PERSON..).filter(|i| i % 5 != 0);
            let mut sent = 0;
            loop {
                tokio::select! {
                    _ = until.cancelled() => return Ok(sent),
                    _ = tick.tick() => {}
                }
                let i = people.next().unwrap_or(FIRST_PERSON);
                let (job_id, body) = (jobs::job_id(&batch, i), jobs::body(&batch, i));
                publisher.publish_job(&queue, &job_id, &body).await?;
                sent += 1;
            }
        });
        Ok(Self {
            stop,
            task,
            completions,
        })
    }

    /// Stops publishing and waits for every interactive job's completion (failing
    /// when none arrives for `stall`); returns what they waited.
    pub async fn finish(self, rate: f64, stall: Duration) -> anyhow::Result<Interactive> {
        self.stop.cancel();
        let sent = self.task.await.context("the trickle panicked")??;
        let (mut seen, mut progress_at) = (0, Instant::now());
        let mut received = loop {
            let received = self.completions.snapshot();
            let done = received.interactive_latencies_us.len();
            if done as u64 >= sent {
                break received;
            }
            if done != seen {
                (seen, progress_at) = (done, Instant::now());
            } else if progress_at.elapsed() > stall {
                bail!("no interactive completion for {stall:?}: {done} of {sent}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        self.completions.stop();
        let mut ms =
            |p| percentile(&mut received.interactive_latencies_us, p).unwrap_or(0) as f64 / 1000.0;
        Ok(Interactive {
            jobs: sent,
            rate,
            percentiles_ms: [ms(50.0), ms(99.0), ms(100.0)],
        })
    }
}
