//! `id2meta enqueue`: publish jobs from a file (or stdin) to the jobs queue.
//!
//! A line that is not a job is reported and not published; the good ones are
//! published anyway, and the command exits non-zero so a pipeline notices.
//!
//! Any size of input in constant memory: the input is read twice as a stream
//! (stdin is first copied to an unlinked temp file, sealed: [`spool`]). Pass 1 checks every line and
//! finds the repeated job_ids on disk (`input::duplicates`); pass 2 reads it again,
//! reports the bad lines in order and publishes the rest through a bounded window
//! of confirms ([`publishing`]).

mod publishing;
mod spool;
mod tally;

use std::fs::File;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use futures_util::stream;
use tokio::sync::mpsc;

use super::input::{self, Format, ParsedLine};
use crate::config::Config;
use crate::job::Priority;
pub use publishing::IN_FLIGHT;
use spool::Spool;
use tally::Tally;

/// Jobs read ahead of the publishing window in pass 2.
const READ_AHEAD: usize = 1024;

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
/// Jobs go to ID2META_JOBS_QUEUE on AMQP_URL, or to the bulk queue --queue
/// names (the topology is declared first) with publisher confirms; a job whose
/// priority is `interactive` (its field, a CSV priority column, or --priority
/// interactive) goes to ID2META_JOBS_QUEUE.interactive, the lane that
/// overtakes a bulk backlog, whatever --queue says.
/// The number of jobs per batch is recorded in DATABASE_URL so that
/// `id2meta batch` can show pending jobs and an ETA
/// (skipped with a warning if PostgreSQL is unreachable). A progress bar is
/// drawn on stderr when it is a terminal; at the end stderr gets a summary:
/// `published N jobs (M bad lines) to QUEUE in X.Xs (R/s)`.
///
/// Any size of input in constant memory: the input is read twice (stdin is
/// first copied to an unlinked temp file, encrypted under a key only this
/// process holds); repeated job_ids are found by an
/// external sort of keyed fingerprints on disk (docs/reference.md). A line is
/// reported as it is met in the second pass.
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
    /// Publish the bulk jobs to this queue instead of ID2META_JOBS_QUEUE: a
    /// pipeline's own queue, shared with the others by weight (docs/queues.md).
    /// Workers consume it only if their ID2META_QUEUE_WEIGHTS names it.
    #[arg(long, value_name = "NAME")]
    pub queue: Option<String>,
}

pub async fn run(args: EnqueueArgs) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let bulk_queue = target_queue(&config, args.queue.as_deref())?;
    let path = args.file.clone().filter(|p| p.as_os_str() != "-");
    let source = tokio::task::spawn_blocking(move || Source::open(path))
        .await
        .context("reading the input")??;
    let format = match args
        .format
        .or_else(|| source.path().and_then(Format::from_path))
    {
        Some(format) => format,
        None => Format::sniff_stream(source.reader()?).context("reading the input")?,
    };
    let batch_id = args.batch_id.clone();
    let lane = args.priority;
    let (source, mut index) = tokio::task::spawn_blocking(move || {
        let index = input::index(source.reader()?, format, batch_id.as_deref())?;
        anyhow::Ok((source, index))
    })
    .await
    .context("checking the input")??;

    let started = Instant::now();
    let expected = index.to_publish();
    let bar = publishing::progress_bar(expected, std::io::stderr().is_terminal());
    let (jobs, mut received) = mpsc::channel::<ParsedLine>(READ_AHEAD);
    let reporter = {
        let bar = bar.clone();
        let batch_id = args.batch_id.clone();
        tokio::task::spawn_blocking(move || {
            let mut bad = 0u64;
            input::replay(
                source.reader()?,
                format,
                batch_id.as_deref(),
                &mut index.duplicates,
                |line| match line {
                    // Routing only: the body is published as written.
                    Ok(job) => jobs
                        .blocking_send(ParsedLine {
                            priority: lane.unwrap_or(job.priority),
                            ..job
                        })
                        .map_err(|_| anyhow!("publishing stopped")),
                    Err(line) => {
                        bad += 1;
                        bar.suspend(|| eprintln!("{line}"));
                        Ok(())
                    }
                },
            )?;
            anyhow::Ok(bad)
        })
    };
    let mut tally = Tally::default();
    let published = if expected == 0 {
        while received.recv().await.is_some() {}
        0
    } else {
        let jobs = stream::unfold(received, |mut received| async move {
            received.recv().await.map(|job| (job, received))
        });
        publishing::publish(&config, &bulk_queue, jobs, expected, &bar, &mut tally).await?
    };
    let bad = reporter.await.context("reading the input again")??;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "published {published} jobs ({bad} bad lines) to {bulk_queue} in {seconds:.1}s ({:.0}/s)",
        published as f64 / seconds.max(f64::EPSILON),
    );
    tally.flush(&config).await;
    if bad > 0 {
        bail!("{bad} bad lines were not published (see above)");
    }
    Ok(())
}

/// Publishes bodies to the configured jobs queue with pipelined confirms, after
/// declaring the topology, and adds them to their batches' sizes. Returns how many
/// the broker confirmed: all of them, or an error saying how many made it before
/// the first failure.
pub async fn enqueue_bodies(
    config: &Config,
    jobs: &[ParsedLine],
    progress: bool,
) -> anyhow::Result<usize> {
    let bar = publishing::progress_bar(jobs.len() as u64, progress);
    let mut tally = Tally::default();
    let stream = stream::iter(jobs.iter().cloned());
    let confirmed = publishing::publish(
        config,
        &config.jobs_queue,
        stream,
        jobs.len() as u64,
        &bar,
        &mut tally,
    )
    .await?;
    tally.flush(config).await;
    Ok(confirmed)
}

/// Where the input is read from, once per pass.
enum Source {
    /// A file, read again for pass 2; its length must not change in between.
    File { path: PathBuf, len: u64 },
    /// Stdin, copied to an anonymous temp file (unlinked at creation, so no name
    /// on disk and gone when the command ends, however it ends), sealed.
    Spool(Spool),
}

impl Source {
    fn open(path: Option<PathBuf>) -> anyhow::Result<Source> {
        match path {
            Some(path) => {
                let len = std::fs::metadata(&path)
                    .with_context(|| format!("reading {}", path.display()))?
                    .len();
                Ok(Source::File { path, len })
            }
            None => {
                let spool = Spool::copy(std::io::stdin().lock()).context("copying stdin")?;
                Ok(Source::Spool(spool))
            }
        }
    }

    fn path(&self) -> Option<&Path> {
        match self {
            Source::File { path, .. } => Some(path),
            Source::Spool(_) => None,
        }
    }

    /// The input from its start.
    fn reader(&self) -> anyhow::Result<Box<dyn Read + Send>> {
        match self {
            Source::File { path, len } => {
                let file =
                    File::open(path).with_context(|| format!("reading {}", path.display()))?;
                let now = file
                    .metadata()
                    .with_context(|| format!("reading {}", path.display()))?
                    .len();
                if now != *len {
                    bail!(
                        "{} changed while it was read ({len} bytes, now {now}); nothing more is published",
                        path.display()
                    );
                }
                Ok(Box::new(file))
            }
            Source::Spool(spool) => Ok(Box::new(
                spool.reader().context("reading the copy of stdin")?,
            )),
        }
    }
}

/// The bulk queue `--queue` names, or the jobs queue. Not the interactive lane
/// or a dead-letter queue (`--priority interactive` reaches the lane). A queue
/// this environment's ID2META_QUEUE_WEIGHTS does not name is published to with
/// a warning: the workers' environment may name it, and this one cannot know.
fn target_queue(config: &Config, queue: Option<&str>) -> anyhow::Result<String> {
    let Some(queue) = queue else {
        return Ok(config.jobs_queue.clone());
    };
    if queue.is_empty() || queue.len() > 200 {
        bail!("--queue must be 1 to 200 bytes");
    }
    if queue == config.interactive_queue() || queue.starts_with(&config.dead_letter_queue()) {
        bail!("--queue {queue} is not a bulk job queue (use --priority interactive for the interactive lane)");
    }
    if !config.bulk_queues().iter().any(|w| w.queue == queue) {
        eprintln!("warning: ID2META_QUEUE_WEIGHTS here does not name {queue}; a worker consumes it only if its own does");
    }
    Ok(queue.to_string())
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
