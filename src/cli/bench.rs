//! `id2meta bench`: the numbers a user chooses a job system on, measured in one run
//! against the mock upstream, printed as a Markdown table (see docs/benchmarks.md).
//!
//! Why each section exists:
//! 1. the raw quorum-queue rate is the ceiling the pipeline is judged against
//!    (same queue arguments, persistence, confirms and prefetch, same run, same machine);
//! 2. the pipeline rate with an unlimited upstream shows what the worker adds on top;
//! 3. at the account's cap, what matters is using the budget fully and never exceeding it;
//! 4. below the cap, the end-to-end latency a caller sees;
//! 5. one worker *process*, measured from /proc, for CPU and memory per job;
//! 6. the budget under the strictest reading of the upstream's limit;
//! 7. priority lanes: what an interactive job waits behind a bulk backlog;
//! 8. the console's pages and the CLI's reads on a large results table;
//! 9. the user's commands at size: `enqueue` and `results` exports must not grow with the input;
//! 10. the fleet at its edges, as worker processes: many replicas, more replicas than calls,
//!     a frozen replica, interactive jobs behind a backlog;
//! 11. weighted queues and caps: a partner's batch behind a backfill (src/cli/bench/queues.rs);
//! 12. a retention sweep of old rows must not take the QPS budget from a running fleet.
//!
//! Every section uses its own queues and database, named after the run, deleted at the end.

mod completions;
mod fleet;
mod harness;
mod host_cpu;
mod jobs;
mod lanes;
mod machine;
mod memory;
mod pipeline;
mod process_stats;
mod processes;
mod queries;
mod queues;
mod raw;
mod report;
mod resources;
mod retention;
mod scratch;
mod trickle;

use std::time::Duration;

use crate::config::Config;
use crate::mock::QpsWindow;

/// Options of the benchmark.
#[derive(Debug, Clone, clap::Args)]
#[command(
    long_about = "Measure id2meta against the in-process mock upstream and print a Markdown table: \
(1) raw quorum-queue throughput (publish with pipelined confirms, consume with one ack per message), \
(2) pipeline throughput with an unlimited upstream and its ratio to (1), upstream calls per job, \
(3) QPS-budget use at a cap (mock 200 ms latency, 50 QPS), \
(4) end-to-end latency percentiles at a fixed offered load below the cap, \
(5) CPU time and peak memory of one worker process, \
(6) the budget under the strictest limit (at most 50 calls in any sliding second), 1 and 3 replicas, \
(7) priority lanes: interactive publish → completion p50/p99 while a bulk backlog drains across 3 replicas, \
(8) the console's pages and the CLI's reads on --query-rows results filled by SQL (p50/max against 100 ms, the indexes used), \
(9) peak memory of `enqueue` and of `results` csv/json exports at two sizes ten times apart, \
(11) weighted queues and a cap: a partner batch beside a backfill, with interactive p50/p99 meanwhile, \
(12) a retention sweep of --retention-rows old rows beside 2 replicas at the budget (calls/s before and during, rows/s). Needs PostgreSQL (DATABASE_URL) and RabbitMQ \
(AMQP_URL) only; every section uses fresh queues and a fresh database, removed at the end. \
Build with --release: a debug build measures the compiler, not the worker."
)]
pub struct BenchArgs {
    /// Jobs (and raw messages) for the throughput and resource sections.
    #[arg(long, default_value_t = 20_000)]
    pub jobs: u64,
    /// A small run for CI and smoke tests (a few hundred jobs, a few seconds per section).
    #[arg(long)]
    pub quick: bool,
    /// Skip (5) and (9), the child processes (e.g. when the binary is not the one to measure).
    #[arg(long)]
    pub skip_resources: bool,
    /// Skip (3) and (4), the runs paced by the QPS budget (they take about 40 s).
    #[arg(long)]
    pub skip_paced: bool,
    /// Run only these sections (e.g. `--only 5`, `--only 1 --only 2`); default all.
    #[arg(long, value_name = "SECTION", value_parser = clap::value_parser!(u8).range(1..=13))]
    pub only: Vec<u8>,
    /// Jobs in flight per worker in (1), (2) and (5); default: the worker's own default
    /// for an unlimited budget (ID2META_CONCURRENCY derived from ID2META_QPS = 1e6).
    #[arg(long)]
    pub concurrency: Option<u16>,
    /// Rows in `verification_results` for (8), the query benchmark (--quick: 100,000).
    #[arg(long, default_value_t = 10_000_000)]
    pub query_rows: i64,
    /// Lines (and result rows) of (9)'s larger size; the smaller is a tenth of it.
    #[arg(long, default_value_t = 1_000_000)]
    pub memory_lines: u64,
    /// Jobs for (3), the run at the QPS cap.
    #[arg(long, default_value_t = 1000)]
    pub capped_jobs: u64,
    /// The bulk backlog of (7), the lanes run (`--quick`: at most 600).
    #[arg(long, default_value_t = 20_000)]
    pub lanes_jobs: u64,
    /// Interactive jobs per second trickled in during (7) and (11)'s capped run.
    #[arg(long, default_value_t = 2.0)]
    pub interactive_rate: f64,
    /// Offered load of (4), jobs per second (below the 50 QPS cap).
    #[arg(long, default_value_t = 30.0)]
    pub offered_rate: f64,
    /// Duration of (4), seconds.
    #[arg(long, default_value_t = 20)]
    pub offered_secs: u64,
    /// Run only the (10) fleet scenarios whose label contains this text (e.g. `interactive`).
    #[arg(long, value_name = "TEXT")]
    pub fleet_scenario: Option<String>,
    /// Old rows scrubbed by (12), the retention sweep (--quick: 20,000).
    #[arg(long, default_value_t = 1_000_000)]
    pub retention_rows: i64,
    /// Record a CPU profile of the worker process in (5) with `perf record --call-graph dwarf` into this
    /// file (its CPU figure then includes perf's overhead: profile and measure separately).
    #[arg(long, value_name = "FILE")]
    pub perf_record: Option<std::path::PathBuf>,
}

impl BenchArgs {
    /// The arguments after `--quick`: small enough for CI, large enough to exercise every path.
    fn effective(&self) -> Self {
        let mut args = self.clone();
        if self.quick {
            args.jobs = self.jobs.min(200);
            args.capped_jobs = self.capped_jobs.min(150);
            args.offered_secs = self.offered_secs.min(4);
            // 12 s at the budget: long enough for a steady state and a dozen
            // interactive jobs, short enough for the CI smoke run.
            args.lanes_jobs = self.lanes_jobs.min(600);
            args.query_rows = self.query_rows.min(100_000);
            args.memory_lines = self.memory_lines.min(100_000);
            args.retention_rows = self.retention_rows.min(20_000);
        }
        args
    }

    fn runs(&self, section: u8) -> bool {
        let skipped = match section {
            3 | 4 | 6 | 7 | 11 | 12 => self.skip_paced,
            10 => self.skip_paced || self.skip_resources,
            5 | 9 => self.skip_resources,
            _ => false,
        };
        !skipped && (self.only.is_empty() || self.only.contains(&section))
    }

    fn concurrency(&self) -> u16 {
        self.concurrency
            .unwrap_or_else(|| crate::config::default_concurrency(pipeline::UNLIMITED_QPS))
    }
}

/// Where the bench's own log goes (the in-process workers and mock log as in
/// production, thousands of lines): `$TMPDIR/id2meta-bench-<pid>.log`, kept
/// after the run for a look when a section fails.
pub fn log_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("id2meta-bench-{}.log", std::process::id()))
}

/// Runs every section in turn and prints the machine and the table.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let args = args.effective();
    let base = Config::from_env()?;
    let run_id = scratch::run_id();
    let machine = machine::describe();
    if cfg!(debug_assertions) {
        eprintln!("id2meta bench: WARNING: a debug build; use --release for numbers worth keeping");
    }
    eprintln!("id2meta bench: run {run_id} on {}", machine.one_line());
    eprintln!("id2meta bench: logs in {}", log_path().display());
    let mut table = report::Table::default();
    let concurrency = args.concurrency();

    let mut raw = None;
    if args.runs(1) {
        eprintln!(
            "(1) raw queue: {} messages, prefetch {concurrency}",
            args.jobs
        );
        let measured = raw::measure(&base, &run_id, args.jobs, concurrency).await?;
        table.raw(&measured);
        raw = Some(measured);
    }
    if args.runs(2) {
        eprintln!("(2) pipeline, unlimited upstream: {} jobs", args.jobs);
        let throughput =
            pipeline::throughput(&base, &run_id, args.jobs, concurrency, Duration::ZERO).await?;
        table.pipeline(&throughput, raw.as_ref());
    }
    if args.runs(3) {
        eprintln!(
            "(3) QPS cap: {} jobs, mock 200±50 ms, limit 50",
            args.capped_jobs
        );
        let capped =
            pipeline::capped(&base, &run_id, args.capped_jobs, QpsWindow::Bucket, 1).await?;
        table.capped(&capped);
    }
    if args.runs(4) {
        eprintln!(
            "(4) latency: {} jobs/s offered for {} s",
            args.offered_rate, args.offered_secs
        );
        let window = Duration::from_secs(args.offered_secs);
        let latency = pipeline::latency(&base, &run_id, args.offered_rate, window).await?;
        table.latency(&latency);
    }
    if args.runs(6) {
        for replicas in [1, 3] {
            eprintln!(
                "(6) strict window: {} jobs, {replicas} replica(s), at most 50 calls in any sliding second",
                args.capped_jobs
            );
            let strict = pipeline::capped(
                &base,
                &run_id,
                args.capped_jobs,
                QpsWindow::Sliding,
                replicas,
            )
            .await?;
            table.strict(&strict);
        }
    }
    if args.runs(7) {
        eprintln!(
            "(7) lanes: {} bulk jobs, 3 replicas, interactive jobs at {}/s",
            args.lanes_jobs, args.interactive_rate
        );
        let measured =
            lanes::measure(&base, &run_id, args.lanes_jobs, args.interactive_rate).await?;
        table.lanes(&measured);
    }
    if args.runs(5) {
        eprintln!("(5) one worker process: {} jobs", args.jobs);
        let profile = args.perf_record.as_deref();
        let used = resources::measure(&base, &run_id, args.jobs, concurrency, profile).await?;
        table.resources(&used);
    }
    if args.runs(9) {
        eprintln!(
            "(9) memory of enqueue and results: {} and {} lines",
            (args.memory_lines / 10).max(1),
            args.memory_lines
        );
        let memory = memory::measure(&base, &run_id, args.memory_lines).await?;
        table.memory(&memory);
    }

    if args.runs(10) {
        for run in
            fleet::measure(&base, &run_id, args.quick, args.fleet_scenario.as_deref()).await?
        {
            table.fleet(&run);
        }
    }

    if args.runs(11) {
        eprintln!(
            "(11) queues: a partner batch behind a backfill, weights 1:1, then capped with interactive jobs at {}/s",
            args.interactive_rate
        );
        queues::measure(&base, &run_id, args.quick, args.interactive_rate)
            .await?
            .report(&mut table);
    }
    if args.runs(12) {
        eprintln!(
            "(12) retention sweep of {} rows beside 2 replicas",
            args.retention_rows
        );
        let window = Duration::from_secs(if args.quick { 3 } else { 10 });
        let sweep = retention::measure(&base, &run_id, args.retention_rows, window).await?;
        sweep.report(&mut table);
    }

    let mut queried = None;
    if args.runs(8) {
        eprintln!("(8) queries: {} rows", args.query_rows);
        queried = Some(queries::measure(&base, &run_id, args.query_rows).await?);
    }

    let command: Vec<String> = std::env::args().collect();
    println!("{}", machine.markdown());
    println!("Command: `{}`; run `{run_id}`.\n", command.join(" "));
    println!("{}", table.markdown());
    if let Some(queried) = &queried {
        println!("{}", queried.markdown());
    }
    if !table.all_met() || queried.as_ref().is_some_and(|q| !q.all_met()) {
        eprintln!("id2meta bench: some targets were missed (marked **no** in the table)");
    }
    Ok(())
}
