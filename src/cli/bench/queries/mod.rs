//! Section (8), `queries`: the console's pages and the CLI's reads on a large
//! results table. The contract promises pages under 100 ms on millions of rows;
//! this fills a scratch database by SQL (`generate_series`, no worker involved),
//! then times each page through the real console (its router, on a loopback
//! port) and the reads of `id2meta batch` and `id2meta results`, and reads
//! `pg_stat_user_indexes` / `pg_stat_user_tables` to name the indexes each one
//! used and show that none scans the table.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_util::sync::CancellationToken;

mod fill;
mod statistics;

use fill::{batch_id, deep_page, fill, job_id, BATCH_ROWS};
use statistics::scans;

use super::scratch::Scratch;
use crate::config::Config;
use crate::console::{self, ConsoleSettings};
use crate::store::Store;

/// Timed requests per page, after two untimed ones (a cold cache is not the case
/// that matters: an operator reloads a page).
const RUNS: usize = 20;
/// The contract's bound for a console page.
pub const TARGET: Duration = Duration::from_millis(100);

/// One timed read.
#[derive(Debug, Clone)]
pub struct Timed {
    pub what: String,
    pub p50: Duration,
    pub max: Duration,
    /// Indexes it scanned (from the statistics), and whether it scanned the table.
    pub indexes: Vec<String>,
    pub seq_scans: i64,
}

/// What the section measured.
#[derive(Debug, Clone)]
pub struct Measured {
    pub rows: i64,
    pub fill: Duration,
    pub reads: Vec<Timed>,
}

impl Measured {
    /// Every read's p50 under [`TARGET`] and no table scanned (the maxima are
    /// reported: on a shared machine one slow request is the machine's).
    pub fn all_met(&self) -> bool {
        self.reads.iter().all(met)
    }

    /// A Markdown table: one line per read.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "(8) queries on {} rows in `verification_results` (filled in {:.0} s), {RUNS} requests each\n\n\
             | read | p50 | max | under 100 ms | indexes used | table scans |\n|---|---|---|---|---|---|\n",
            self.rows,
            self.fill.as_secs_f64()
        );
        for r in &self.reads {
            let met = if met(r) { "yes" } else { "**no**" };
            out.push_str(&format!(
                "| {} | {:.1} ms | {:.1} ms | {met} | {} | {} |\n",
                r.what,
                r.p50.as_secs_f64() * 1e3,
                r.max.as_secs_f64() * 1e3,
                if r.indexes.is_empty() {
                    "-".to_string()
                } else {
                    r.indexes.join(", ")
                },
                r.seq_scans
            ));
        }
        out
    }
}

/// Fills a scratch database with `rows` results and times every read.
pub async fn measure(base: &Config, run_id: &str, rows: i64) -> anyhow::Result<Measured> {
    let scratch = Scratch::open(base, run_id, "queries").await?;
    let measured = fill_and_time(&scratch.config, rows).await;
    scratch.remove().await?;
    measured
}

async fn fill_and_time(config: &Config, rows: i64) -> anyhow::Result<Measured> {
    // The fill's own connection closes before timing, so its counters (flushed at
    // exit) are not counted against the first page.
    let filler = Store::connect(&config.database_url, 1).await?;
    filler.migrate().await?;
    let started = Instant::now();
    fill(&filler, rows).await?;
    let fill = started.elapsed();
    let batches = (rows / BATCH_ROWS).max(1);
    let batch = batch_id(batches / 2);
    let deep = deep_page(&filler, &batch, rows).await?;
    filler.pool().close().await;
    // Statistics are read on a connection of their own that touches no user table.
    let observer = Store::connect(&config.database_url, 1).await?;
    let http = crate::tls::http_client()
        .build()
        .context("building an HTTP client")?;
    let pages = [
        ("GET /".to_string(), "/".to_string()),
        ("GET /batches".into(), "/batches".into()),
        (
            "GET /batches (a late page)".into(),
            format!("/batches?after={}", batch_id(batches * 9 / 10)),
        ),
        ("GET /batches/{id}".into(), format!("/batches/{batch}")),
        ("GET /batches/{id} (a deep page)".into(), deep),
        (
            "GET /jobs/{id} (a row)".into(),
            format!("/jobs/{}", job_id(rows / 3)),
        ),
        ("GET /jobs/{id} (a claim)".into(), "/jobs/claimed-1".into()),
        ("GET /dead-letters".into(), "/dead-letters".into()),
    ];
    let mut reads = Vec::new();
    for (what, path) in pages {
        // A console of its own per page: its connections close after the page's
        // runs, and a closing backend flushes its counters at once.
        let shutdown = CancellationToken::new();
        let settings = ConsoleSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: None,
            management_url: None,
        };
        let running = console::start(config.clone(), settings, shutdown.clone())
            .await
            .map_err(anyhow::Error::from)?;
        let url = format!("http://{}{path}", running.addr);
        let before = scans(&observer).await?;
        let (p50, max) = timed(&what, || {
            let request = http.get(&url);
            let url = url.clone();
            async move {
                let answer = request.send().await.context("requesting a page")?;
                anyhow::ensure!(
                    answer.status().is_success(),
                    "{url} answered {}",
                    answer.status()
                );
                answer.bytes().await.context("reading a page")?;
                Ok(())
            }
        })
        .await?;
        shutdown.cancel();
        running.wait().await;
        reads.push(attributed(&observer, what, p50, max, before).await?);
    }
    let cli_reads: [(&str, Read); 3] = [
        ("`id2meta batch` (counts)", Read::Counts),
        ("`id2meta results --batch-id` (1000 rows)", Read::Batch),
        ("`id2meta results` (1000 rows)", Read::All),
    ];
    for (what, read) in cli_reads {
        let store = Store::connect(&config.database_url, 1).await?;
        let before = scans(&observer).await?;
        let (p50, max) = timed(what, || async {
            match read {
                Read::Counts => store.batch_counts(&batch).await.map(drop),
                Read::Batch => store.results(Some(&batch), 1000).await.map(drop),
                Read::All => store.results(None, 1000).await.map(drop),
            }
        })
        .await?;
        store.pool().close().await;
        reads.push(attributed(&observer, what.to_string(), p50, max, before).await?);
    }
    Ok(Measured { rows, fill, reads })
}

fn met(read: &Timed) -> bool {
    read.p50 < TARGET && read.seq_scans == 0
}

/// Runs `read` twice untimed and [`RUNS`] times timed: its p50 and max.
async fn timed<F, Fut>(what: &str, mut read: F) -> anyhow::Result<(Duration, Duration)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    for _ in 0..2 {
        read().await.with_context(|| format!("warming {what}"))?;
    }
    let mut took = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        read().await.with_context(|| format!("timing {what}"))?;
        took.push(started.elapsed());
    }
    took.sort();
    let p50 = took[took.len() / 2];
    let max = took[took.len() - 1];
    eprintln!("(8) {what}: p50 {p50:?}, max {max:?}");
    Ok((p50, max))
}

/// The CLI's reads, as `id2meta batch` and `id2meta results` make them.
#[derive(Clone, Copy)]
enum Read {
    Counts,
    Batch,
    All,
}

/// A timed read with the indexes (and table scans) its runs used.
async fn attributed(
    observer: &Store,
    what: String,
    p50: Duration,
    max: Duration,
    before: BTreeMap<String, i64>,
) -> anyhow::Result<Timed> {
    let (indexes, seq_scans) = statistics::scanned_since(observer, before).await?;
    Ok(Timed {
        what,
        p50,
        max,
        indexes,
        seq_scans,
    })
}
