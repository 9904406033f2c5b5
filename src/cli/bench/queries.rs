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

use super::scratch::Scratch;
use crate::config::Config;
use crate::console::{self, ConsoleSettings};
use crate::store::Store;

/// Rows per batch in the fill: 1,000 batches at 10M rows.
const BATCH_ROWS: i64 = 10_000;
/// Rows inserted per statement (each its own transaction, so progress shows).
const CHUNK: i64 = 500_000;
/// Timed requests per page, after two untimed ones (a cold cache is not the case
/// that matters: an operator reloads a page).
const RUNS: usize = 20;
/// The contract's bound for a console page.
pub const TARGET: Duration = Duration::from_millis(100);
/// How long to wait for the statistics collector to show a page's index scans
/// (PostgreSQL flushes an idle backend's counters within about 10 s).
const STATS_WAIT: Duration = Duration::from_secs(15);

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
    let http = reqwest::Client::new();
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

/// The path of a deep page of `batch`: after the row 90% into it.
async fn deep_page(store: &Store, batch: &str, rows: i64) -> anyhow::Result<String> {
    let (at, job): (chrono::DateTime<chrono::Utc>, String) = sqlx::query_as(
        "SELECT completed_at, job_id FROM verification_results WHERE batch_id = $1
          ORDER BY completed_at, job_id OFFSET $2 LIMIT 1",
    )
    .bind(batch)
    .bind(BATCH_ROWS.min(rows) * 9 / 10)
    .fetch_one(store.pool())
    .await
    .context("finding a deep page's cursor")?;
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let encode = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    Ok(format!(
        "/batches/{batch}?after_at={}&after_id={}",
        encode(&at),
        encode(&job)
    ))
}

fn met(read: &Timed) -> bool {
    read.p50 < TARGET && read.seq_scans == 0
}

fn batch_id(n: i64) -> String {
    format!("bench-{n:05}")
}

fn job_id(n: i64) -> String {
    format!("job-{n:09}")
}

/// The rows, the batches table, recent claims and three replicas, by SQL only.
/// Completions are 20 ms apart ending now (50 per second, the default budget),
/// so the overview's last minutes hold a realistic count.
async fn fill(store: &Store, rows: i64) -> anyhow::Result<()> {
    let mut from = 0;
    while from < rows {
        let to = (from + CHUNK).min(rows);
        sqlx::query(
            "INSERT INTO verification_results (job_id, batch_id, status, biz_code, upstream_code,
                 request_id, attempts, name_masked, id_number_masked, identity_digest, received_at,
                 completed_at, priority)
             SELECT 'job-' || lpad(i::text, 9, '0'), 'bench-' || lpad((i / $3)::text, 5, '0'),
                    (ARRAY['match','mismatch','not_found','invalid','rejected','failed'])[1 + i % 6],
                    CASE WHEN i % 6 < 3 THEN (1 + i % 3)::text END,
                    CASE WHEN i % 6 = 3 THEN NULL WHEN i % 6 < 3 THEN 'Success' ELSE 'InternalError' END,
                    md5('r' || i), 1 + (i % 7 = 0)::int, '张*', '1101**********001X', md5(i::text),
                    now() - make_interval(secs => ($4 - i) * 0.02 + 0.2),
                    now() - make_interval(secs => ($4 - i) * 0.02),
                    'bulk'
               FROM generate_series($1::bigint, $2::bigint - 1) AS i",
        )
        .bind(from)
        .bind(to)
        .bind(BATCH_ROWS)
        .bind(rows)
        .execute(store.pool())
        .await
        .context("filling verification_results")?;
        eprintln!("(8) filled {to} of {rows} rows");
        from = to;
    }
    let statements = [
        "INSERT INTO batches (batch_id, enqueued, created_at)
         SELECT batch_id, count(*), min(received_at) FROM verification_results GROUP BY batch_id",
        // A day of claims at 50/s is 4.3M; the newest 1% of rows stand for them here.
        "INSERT INTO job_claims (job_id, identity_digest, owner, state, lease_until, attempts, claimed_at, replica_id)
         SELECT job_id, identity_digest, gen_random_uuid(), 'done', completed_at, attempts, received_at,
                '00000000-0000-0000-0000-000000000001'
           FROM verification_results ORDER BY completed_at DESC
          LIMIT (SELECT greatest(count(*) / 100, 1) FROM verification_results)",
        "INSERT INTO job_claims (job_id, identity_digest, owner, lease_until, attempts, replica_id)
         SELECT 'claimed-' || i, md5('c' || i), gen_random_uuid(), now() + interval '1 hour', 1,
                '00000000-0000-0000-0000-000000000001'
           FROM generate_series(1, 32) AS i",
        "INSERT INTO worker_replicas (replica_id, heartbeat_at, active_since, counted_at, calls, ready)
         SELECT ('00000000-0000-0000-0000-00000000000' || i)::uuid, now() + interval '1 hour', now(), now(), 16, true
           FROM generate_series(1, 3) AS i",
        // What autovacuum does to an insert-only table soon after: statistics, and
        // the visibility map that lets index-only scans skip the heap.
        "VACUUM ANALYZE",
    ];
    for statement in statements {
        sqlx::query(statement)
            .execute(store.pool())
            .await
            .with_context(|| format!("filling: {}", first_line(statement)))?;
    }
    Ok(())
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
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

/// The indexes (and table scans) counted since `before`, once the closed
/// connections' counters have arrived and stopped changing.
async fn attributed(
    observer: &Store,
    what: String,
    p50: Duration,
    max: Duration,
    before: BTreeMap<String, i64>,
) -> anyhow::Result<Timed> {
    let deadline = Instant::now() + STATS_WAIT;
    let mut after = scans(observer).await?;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let again = scans(observer).await?;
        if (again == after && after != before) || Instant::now() >= deadline {
            break;
        }
        after = again;
    }
    let mut indexes = Vec::new();
    let mut seq_scans = 0;
    for (name, count) in &after {
        let grew = count - before.get(name).copied().unwrap_or(0);
        if grew > 0 {
            match name.strip_prefix("seq:") {
                Some(_) => seq_scans += grew,
                None => indexes.push(name.clone()),
            }
        }
    }
    Ok(Timed {
        what,
        p50,
        max,
        indexes,
        seq_scans,
    })
}

/// Index scans per index, and sequential scans of the large tables (`seq:<table>`).
async fn scans(store: &Store) -> anyhow::Result<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT indexrelname::text, idx_scan FROM pg_stat_user_indexes
          UNION ALL
         SELECT 'seq:' || relname, seq_scan FROM pg_stat_user_tables
          WHERE relname IN ('verification_results', 'job_claims')",
    )
    .fetch_all(store.pool())
    .await
    .context("reading index statistics")?;
    Ok(rows.into_iter().collect())
}
