//! (9) Memory of the user's commands at size: the peak resident memory (VmHWM) of
//! `id2meta enqueue` over a generated JSON Lines file, and of `id2meta results
//! --format csv` and `--format json` over a batch of result rows filled by SQL
//! (`generate_series`, not through a worker), each a child process started from
//! this very binary, at two sizes ten times apart. Memory that does not grow with
//! the input is a ratio near 1 between the two.

use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

use super::jobs;
use super::process_stats;
use super::report::Table;
use super::scratch::Scratch;
use crate::config::Config;
use crate::store::Store;

/// The largest large/small ratio of peaks that counts as constant memory.
const CONSTANT: f64 = 1.25;
/// How often a child's VmHWM is read while it runs.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// One size's peaks, KiB.
#[derive(Debug, Clone, Copy)]
pub struct Peaks {
    pub lines: u64,
    pub enqueue_kib: u64,
    pub enqueue_elapsed: Duration,
    pub csv_kib: u64,
    pub json_kib: u64,
}

#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub small: Peaks,
    pub large: Peaks,
}

/// Measures at `large / 10` and at `large` lines (and rows).
pub async fn measure(base: &Config, run_id: &str, large: u64) -> anyhow::Result<Memory> {
    let small = at_size(base, run_id, "memsmall", (large / 10).max(1)).await?;
    let large = at_size(base, run_id, "memlarge", large).await?;
    Ok(Memory { small, large })
}

async fn at_size(base: &Config, run_id: &str, section: &str, lines: u64) -> anyhow::Result<Peaks> {
    let scratch = Scratch::open(base, run_id, section).await?;
    let batch = format!("bench-{run_id}-{section}");
    let measured = async {
        let (enqueue_kib, enqueue_elapsed) = enqueue(&scratch.config, &batch, lines).await?;
        fill_results(&scratch.config, &batch, lines).await?;
        let csv_kib = export(&scratch.config, &batch, "csv", lines + 1).await?;
        let json_kib = export(&scratch.config, &batch, "json", lines).await?;
        anyhow::Ok(Peaks {
            lines,
            enqueue_kib,
            enqueue_elapsed,
            csv_kib,
            json_kib,
        })
    }
    .await;
    scratch.remove().await?;
    measured
}

/// `id2meta` with the section's names in its environment, nothing else of ours.
fn command(config: &Config) -> anyhow::Result<Command> {
    let mut command = Command::new(std::env::current_exe().context("finding this binary")?);
    command
        .env("DATABASE_URL", &config.database_url)
        .env("AMQP_URL", &config.amqp_url)
        .env("ID2META_JOBS_QUEUE", &config.jobs_queue)
        .env("ID2META_RESULTS_EXCHANGE", &config.results_exchange)
        .env("ID2META_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    Ok(command)
}

/// Writes `lines` bench jobs to a file and enqueues it; the peak and the time taken.
async fn enqueue(config: &Config, batch: &str, lines: u64) -> anyhow::Result<(u64, Duration)> {
    let file = tempfile::Builder::new()
        .prefix("id2meta-bench-")
        .suffix(".jsonl")
        .tempfile()
        .context("creating the input file")?;
    let path = file.path().to_path_buf();
    let owned_batch = batch.to_string();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        for i in 0..lines {
            out.write_all(&jobs::body(&owned_batch, i))?;
            out.write_all(b"\n")?;
        }
        out.flush()
    })
    .await
    .context("writing the input file")?
    .context("writing the input file")?;
    let started = Instant::now();
    let mut child = command(config)?
        .arg("enqueue")
        .arg(file.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting id2meta enqueue")?;
    let mut stderr = child.stderr.take().context("the child's stderr")?;
    let said = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let (status, peak) = peak_of(&mut child).await?;
    let elapsed = started.elapsed();
    let said = said.await.unwrap_or_default();
    if !status.success() {
        bail!("id2meta enqueue exited with {status}: {said}");
    }
    Ok((peak, elapsed))
}

/// `rows` settled rows in `batch`, written by PostgreSQL itself.
async fn fill_results(config: &Config, batch: &str, rows: u64) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url, 1).await?;
    store.migrate().await?;
    sqlx::query(
        "INSERT INTO verification_results
             (job_id, batch_id, status, biz_code, upstream_code, upstream_message, request_id,
              attempts, name_masked, id_number_masked, identity_digest, metadata, received_at,
              completed_at, priority)
         SELECT $1 || '-' || lpad(n::text, 7, '0'), $1, 'match', '1', 'Success', 'OK',
                md5(n::text), 1, '张*', '110***********002X',
                encode(sha256(n::text::bytea), 'hex'),
                jsonb_build_object('source', 'id2meta-bench', 'applicant', 'a-' || n),
                now() - interval '1 hour', now() - interval '1 hour' + n * interval '1 millisecond',
                'bulk'
           FROM generate_series(1, $2::bigint) AS n",
    )
    .bind(batch)
    .bind(i64::try_from(rows).unwrap_or(i64::MAX))
    .execute(store.pool())
    .await
    .context("filling the results table")?;
    store.pool().close().await;
    Ok(())
}

/// Runs `id2meta results --batch-id BATCH --format FORMAT`, counts its lines; its peak.
async fn export(config: &Config, batch: &str, format: &str, lines: u64) -> anyhow::Result<u64> {
    let mut child = command(config)?
        .args(["results", "--batch-id", batch, "--format", format])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting id2meta results")?;
    let mut stdout = child.stdout.take().context("the child's stdout")?;
    let counting = tokio::spawn(async move {
        let mut buffer = vec![0u8; 64 * 1024];
        let mut newlines = 0u64;
        loop {
            let n = stdout.read(&mut buffer).await?;
            if n == 0 {
                return std::io::Result::Ok(newlines);
            }
            newlines += buffer[..n].iter().filter(|b| **b == b'\n').count() as u64;
        }
    });
    let (status, peak) = peak_of(&mut child).await?;
    let printed = counting
        .await
        .context("reading the export")?
        .context("reading the export")?;
    if !status.success() {
        bail!("id2meta results --format {format} exited with {status}");
    }
    if printed != lines {
        bail!("id2meta results --format {format} printed {printed} lines, not {lines}");
    }
    Ok(peak)
}

/// Waits for the child, reading its VmHWM every [`SAMPLE_EVERY`]; the exit status
/// and the highest VmHWM read (KiB). VmHWM never falls, so the last reading before
/// the exit is the peak but for the last few milliseconds.
async fn peak_of(child: &mut Child) -> anyhow::Result<(ExitStatus, u64)> {
    let pid = child.id().context("the child exited at once")?;
    let mut peak = 0;
    loop {
        if let Some(status) = child.try_wait().context("waiting for the child")? {
            return Ok((status, peak));
        }
        // Unreadable once it has exited (a zombie has no VmHWM): the loop ends next.
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            peak = peak.max(process_stats::kib(&status, "VmHWM").unwrap_or(0));
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
}

/// Which of a size's peaks a row reports.
type PeakOf = fn(&Peaks) -> u64;

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl Table {
    /// (9)'s rows: each command's peak at both sizes and the ratio.
    pub fn memory(&mut self, run: &Memory) {
        let (small, large) = (&run.small, &run.large);
        let peaks: [(&str, &str, PeakOf); 3] = [
            ("`id2meta enqueue FILE`", "lines", |p| p.enqueue_kib),
            ("`id2meta results --format csv`", "rows", |p| p.csv_kib),
            ("`id2meta results --format json`", "rows", |p| p.json_kib),
        ];
        for (command, unit, peak) in peaks {
            let ratio = peak(large) as f64 / peak(small).max(1) as f64;
            self.row(
                format!(
                    "(9) {command}: peak resident memory (VmHWM) at {} → {} {unit}",
                    small.lines, large.lines
                ),
                format!(
                    "{:.1} → {:.1} MiB (×{ratio:.2})",
                    mib(peak(small)),
                    mib(peak(large))
                ),
                "×≤ 1.25 (constant)",
                Some(ratio <= CONSTANT),
            );
        }
        self.row(
            format!(
                "(9) `id2meta enqueue FILE` of {} lines: both passes and every confirm",
                large.lines
            ),
            format!(
                "{:.1} s ({:.0} lines/s)",
                large.enqueue_elapsed.as_secs_f64(),
                large.lines as f64 / large.enqueue_elapsed.as_secs_f64().max(1e-9)
            ),
            "",
            None,
        );
    }
}
