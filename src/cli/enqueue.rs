//! `id2meta enqueue`: publish jobs from a file (or stdin) to the jobs queue.
//!
//! A line that is not a job is reported and not published; the good ones are
//! published anyway, and the command exits non-zero so a pipeline notices.
//! Confirms are pipelined ([`IN_FLIGHT`] publishes awaiting theirs at once):
//! waiting for each in turn caps near 1.2k jobs/s, pipelined near 20k.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::{stream, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};

use super::input::{read_jobs, Format, ParsedLine};
use crate::config::Config;
use crate::job::Priority;
use crate::queue::{connect, declare, Publisher, Topology};
use crate::store::Store;

/// Publishes awaiting their confirm at once.
pub const IN_FLIGHT: usize = 512;

/// How long recording the batch size may take before `enqueue` gives up on it.
const RECORD_TIMEOUT: Duration = Duration::from_secs(5);

/// Publish jobs from JSON Lines or CSV to the jobs queue, with publisher confirms
///
/// Input is JSON Lines (one job object a line:
/// {"job_id": "...", "name": "...", "id_number": "...", "batch_id": "...", "metadata": {...}};
/// blank lines are skipped) or CSV with a header row naming job_id, name,
/// id_number and optionally batch_id. Each line is checked as the worker will
/// read it: a line that is not a job (bad JSON, no job_id, wrong types, over
/// 16 KiB, a job_id repeated in the input) is reported on stderr as
/// `line N: reason` (never its content) and not published; the command then
/// exits non-zero after publishing the good lines. A job whose name or ID
/// number is wrong is published: the worker stores it as `invalid`.
///
/// Jobs go to ID2META_JOBS_QUEUE on AMQP_URL (the topology is declared first)
/// with publisher confirms; a job whose priority is `interactive` (its field,
/// a CSV priority column, or --priority interactive) goes to
/// ID2META_JOBS_QUEUE.interactive, the lane that overtakes a bulk backlog. The number of jobs per batch is recorded in
/// DATABASE_URL so that `id2meta batch` can show pending jobs and an ETA
/// (skipped with a warning if PostgreSQL is unreachable). A progress bar is
/// drawn on stderr when it is a terminal; at the end stderr gets a summary:
/// `published N jobs (M bad lines) to QUEUE in X.Xs (R/s)`.
///
/// Exit status: 0 when every line was published; 1 when a line was bad or
/// the broker failed (the error says how many jobs were confirmed).
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct EnqueueArgs {
    /// The input file; `-` or nothing reads stdin.
    #[arg(value_name = "FILE|-")]
    pub file: Option<PathBuf>,
    /// Put jobs that have no batch_id in this batch.
    #[arg(long, value_name = "ID", value_parser = batch_id)]
    pub batch_id: Option<String>,
    /// The input format. Default: from the extension (.csv; .jsonl, .ndjson,
    /// .json), else JSON Lines if the first non-blank character is `{`, else CSV.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Publish every job to this lane: `interactive` to the interactive queue
    /// (its jobs are interactive whatever their field says), `bulk` to the jobs
    /// queue. Default: each job by its own `priority` field.
    #[arg(long, value_parser = priority)]
    pub priority: Option<Priority>,
}

pub async fn run(args: EnqueueArgs) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let (input, format) = read_input(&args)?;
    let mut read = read_jobs(&input, format, args.batch_id.as_deref())?;
    drop(input);
    if let Some(lane) = args.priority {
        // Routing only: the body is published as written.
        read.jobs.iter_mut().for_each(|job| job.priority = lane);
    }
    let interactive = read
        .jobs
        .iter()
        .filter(|job| job.priority == Priority::Interactive)
        .count();
    for bad in &read.bad {
        eprintln!("{bad}");
    }
    let started = Instant::now();
    let published = if read.jobs.is_empty() {
        0
    } else {
        enqueue_bodies(&config, &read.jobs, std::io::stderr().is_terminal()).await?
    };
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "published {published} jobs ({} bad lines) to {} ({interactive} of them to {}) in {seconds:.1}s ({:.0}/s)",
        read.bad.len(),
        config.jobs_queue,
        config.interactive_queue(),
        published as f64 / seconds.max(f64::EPSILON),
    );
    record_batches(&config, &read.jobs).await;
    if !read.bad.is_empty() {
        bail!(
            "{} bad lines were not published (see above)",
            read.bad.len()
        );
    }
    Ok(())
}

/// Publishes bodies to the configured jobs queue (interactive jobs to the
/// interactive queue) with pipelined confirms, after
/// declaring the topology. Returns how many the broker confirmed: all of them,
/// or an error saying how many made it before the first failure.
pub async fn enqueue_bodies(
    config: &Config,
    jobs: &[ParsedLine],
    progress: bool,
) -> anyhow::Result<usize> {
    let connection = connect(&config.amqp_url, "id2meta-enqueue").await?;
    let publisher = Publisher::open(
        &connection,
        &config.results_exchange,
        &config.dead_letter_queue(),
    )
    .await?;
    declare(&connection, &Topology::from_config(config)).await?;
    let bar = progress_bar(jobs.len(), progress);
    let interactive_queue = config.interactive_queue();
    let queue_of = |job: &ParsedLine| match job.priority {
        Priority::Interactive => interactive_queue.as_str(),
        Priority::Bulk => config.jobs_queue.as_str(),
    };
    let mut confirms = stream::iter(jobs)
        .map(|job| publisher.publish_job(queue_of(job), &job.job_id, &job.body))
        .buffer_unordered(IN_FLIGHT);
    let mut confirmed = 0;
    while let Some(result) = confirms.next().await {
        if let Err(e) = result {
            bar.abandon();
            return Err(e.context(format!(
                "{confirmed} of {} jobs were confirmed before this failure",
                jobs.len()
            )));
        }
        confirmed += 1;
        bar.inc(1);
    }
    bar.finish_and_clear();
    // Every publish is confirmed: a failure to close cleanly loses nothing.
    let _ = connection.close(200, "done".into()).await;
    Ok(confirmed)
}

/// Adds the published jobs of each batch to `batches` (best effort).
pub async fn record_batches(config: &Config, jobs: &[ParsedLine]) {
    let mut per_batch: BTreeMap<&str, i64> = BTreeMap::new();
    for batch in jobs.iter().filter_map(|job| job.batch_id.as_deref()) {
        *per_batch.entry(batch).or_default() += 1;
    }
    if per_batch.is_empty() {
        return;
    }
    let record = async {
        let store = Store::connect(&config.database_url, 1).await?;
        store.migrate().await?;
        for (batch, count) in &per_batch {
            store.record_enqueued(batch, *count).await?;
        }
        anyhow::Ok(())
    };
    let outcome = match tokio::time::timeout(RECORD_TIMEOUT, record).await {
        Ok(outcome) => outcome,
        Err(_) => Err(anyhow::anyhow!(
            "PostgreSQL did not answer within {RECORD_TIMEOUT:?}"
        )),
    };
    if let Err(e) = outcome {
        eprintln!("warning: could not record the batch sizes, so `id2meta batch` will not know what is pending: {e:#}");
    }
}

/// The whole input and its format.
fn read_input(args: &EnqueueArgs) -> anyhow::Result<(Vec<u8>, Format)> {
    let path = args.file.as_ref().filter(|p| p.as_os_str() != "-");
    let mut input = Vec::new();
    match path {
        Some(path) => {
            std::fs::File::open(path)
                .and_then(|mut file| file.read_to_end(&mut input))
                .with_context(|| format!("reading {}", path.display()))?;
        }
        None => {
            std::io::stdin()
                .lock()
                .read_to_end(&mut input)
                .context("reading stdin")?;
        }
    }
    let format = args
        .format
        .or_else(|| path.and_then(|p| Format::from_path(p)))
        .unwrap_or_else(|| Format::sniff(&input));
    Ok((input, format))
}

fn progress_bar(len: usize, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} jobs confirmed  {per_sec}  eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

/// `--priority`: the contract's spelling exactly, as in a job's field.
fn priority(value: &str) -> Result<Priority, String> {
    Priority::from_name(value).ok_or_else(|| "a priority is `interactive` or `bulk`".into())
}

/// `--batch-id`: what the worker accepts as a batch_id, so a typo does not make
/// every job `invalid`.
fn batch_id(value: &str) -> Result<String, String> {
    let chars = value.chars().count();
    if (1..=crate::job::MAX_BATCH_ID_CHARS).contains(&chars)
        && !value.chars().any(crate::identity::is_hidden_or_control)
    {
        Ok(value.to_string())
    } else {
        Err("a batch_id is 1 to 128 characters without control characters".into())
    }
}
