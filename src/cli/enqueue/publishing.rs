//! Publishing jobs to the jobs queue with pipelined confirms: [`IN_FLIGHT`]
//! publishes await theirs at once, whatever the number of jobs (waiting for each
//! in turn caps near 1.2k jobs/s, pipelined near 20k), and jobs are taken from
//! their stream only as the window frees, so memory holds a window, not a file.

use futures_util::{Stream, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};

use super::tally::Tally;
use crate::cli::input::ParsedLine;
use crate::config::Config;
use crate::job::Priority;
use crate::queue::{connect, declare, declare_job_queue, Publisher, Topology};

/// Publishes awaiting their confirm at once.
pub const IN_FLIGHT: usize = 512;

/// Publishes every bulk job of `jobs` to `bulk_queue` (the jobs queue, or the
/// one `--queue` names) and every interactive job to the interactive queue, the
/// lane that overtakes a bulk backlog, after declaring the topology and
/// `bulk_queue` as a job queue, counting each confirmed one in `tally`. Returns
/// how many the broker confirmed: all of them, or an error saying how many made
/// it before the first failure (of `expected`).
pub async fn publish(
    config: &Config,
    bulk_queue: &str,
    jobs: impl Stream<Item = ParsedLine>,
    expected: u64,
    bar: &ProgressBar,
    tally: &mut Tally,
) -> anyhow::Result<usize> {
    let connection = connect(&config.amqp_url, "id2meta-enqueue").await?;
    let publisher = Publisher::open(
        &connection,
        &config.results_exchange,
        &config.dead_letter_queue(),
    )
    .await?;
    let topology = Topology::from_config(config);
    declare(&connection, &topology).await?;
    // With the job queue's arguments and dead-letter route, as a worker would.
    declare_job_queue(&connection, bulk_queue, &topology).await?;
    let interactive_queue = config.interactive_queue();
    let queues = (bulk_queue, interactive_queue.as_str());
    let publisher = &publisher;
    let confirms = jobs
        .map(|job| async move {
            let queue = match job.priority {
                Priority::Bulk => queues.0,
                Priority::Interactive => queues.1,
            };
            publisher
                .publish_job(queue, &job.job_id, &job.body)
                .await
                .map(|()| job.batch_id)
        })
        .buffer_unordered(IN_FLIGHT);
    let mut confirms = std::pin::pin!(confirms);
    let mut confirmed = 0;
    while let Some(result) = confirms.next().await {
        match result {
            Ok(batch) => {
                confirmed += 1;
                bar.inc(1);
                tally.count(config, batch).await;
            }
            Err(e) => {
                bar.abandon();
                return Err(e.context(format!(
                    "{confirmed} of {expected} jobs were confirmed before this failure"
                )));
            }
        }
    }
    bar.finish_and_clear();
    // Every publish is confirmed: a failure to close cleanly loses nothing.
    let _ = connection.close(200, "done".into()).await;
    Ok(confirmed)
}

/// A bar of `len` confirms on stderr, or a hidden one when stderr is not a terminal.
pub fn progress_bar(len: u64, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} jobs confirmed  {per_sec}  eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}
