//! The benchmark's table: one row per figure, with the target beside it and
//! whether it was met, as Markdown so it can be pasted into docs/benchmarks.md.
//!
//! Here: each section's figures and targets; what a row is and how the table
//! is written, in [`table`].

mod host;
mod table;

pub use table::Table;

use super::lanes::Lanes;
use super::pipeline::{Capped, Latency, Throughput};
use super::raw::Raw;
use super::resources::Resources;

/// The targets.
const PIPELINE_OVER_RAW: f64 = 0.90;
const CPU_SECONDS_PER_THOUSAND: f64 = 0.4;
const PEAK_MIB: f64 = 20.0;

impl Table {
    pub fn raw(&mut self, raw: &Raw) {
        self.row(
            format!(
                "(1) raw quorum queue, publish: {} msgs of {:.0} B, persistent, {} confirms outstanding",
                raw.messages,
                raw.mean_body_bytes,
                super::jobs::OUTSTANDING_CONFIRMS
            ),
            format!("{:.0} msgs/s", raw.publish_rate()),
            "",
            None,
        );
        self.row(
            format!(
                "(1) raw quorum queue, end to end: first publish → last ack, prefetch {}, one ack per message",
                raw.prefetch
            ),
            format!("{:.0} msgs/s", raw.rate()),
            "",
            None,
        );
    }

    pub fn pipeline(&mut self, run: &Throughput, raw: Option<&Raw>) {
        self.row(
            format!(
                "(2) pipeline, upstream unlimited: first publish → last completion, {} jobs, concurrency {}",
                run.jobs, run.concurrency
            ),
            format!("{:.0} jobs/s", run.rate()),
            "",
            None,
        );
        self.row(
            "(2) pipeline, publishing alone (while the worker consumes)".into(),
            format!(
                "{:.0} jobs/s",
                run.jobs as f64 / run.publish.as_secs_f64().max(1e-9)
            ),
            "",
            None,
        );
        if let Some(raw) = raw {
            let ratio = run.rate() / raw.rate();
            self.row(
                "(2) pipeline / raw".into(),
                format!("{:.1} %", 100.0 * ratio),
                "≥ 90 %",
                Some(ratio >= PIPELINE_OVER_RAW),
            );
        }
        self.host_cpu(run, raw);
        self.calls_per_job("(2)", &run.upstream, run.jobs);
        let statuses: Vec<String> = run
            .by_status
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        self.row(
            "(2) completions by status (duplicates)".into(),
            format!("{} ({})", statuses.join(", "), run.duplicates),
            "",
            None,
        );
    }

    pub fn capped(&mut self, run: &Capped) {
        let value = match run.steady_rate {
            Some(rate) => format!(
                "{rate:.1} / {} calls/s ({:.1} %)",
                run.budget,
                100.0 * rate / run.budget
            ),
            None => "run too short".into(),
        };
        self.row(
            format!(
                "(3) at the cap: steady calls/s over the budget ({} jobs, mock 200±50 ms, limit {})",
                run.jobs, run.budget
            ),
            value,
            "90-100 %",
            run.steady_rate
                .map(|r| r <= run.budget * 1.001 && r >= run.budget * 0.9),
        );
        self.row(
            "(3) most calls in any one second".into(),
            run.upstream.max_calls_in_one_second.to_string(),
            "≤ budget",
            Some(run.upstream.max_calls_in_one_second as f64 <= run.budget),
        );
        self.row(
            "(3) throttled by the upstream".into(),
            run.upstream.throttled.to_string(),
            "0",
            Some(run.upstream.throttled == 0),
        );
        self.calls_per_job("(3)", &run.upstream, run.jobs);
    }

    /// (6): the strict reading of the limit, at most 50 calls in any sliding second.
    pub fn strict(&mut self, run: &Capped) {
        let n = run.replicas;
        let used = run.steady_rate.map(|rate| rate / run.budget);
        self.row(
            format!(
                "(6) strict window, {n} replica(s): budget used ({} jobs, mock 200±50 ms)",
                run.jobs
            ),
            used.map_or("run too short".into(), |u| format!("{:.1} %", 100.0 * u)),
            "≥ 99 %",
            used.map(|u| (0.99..=1.001).contains(&u)),
        );
        self.row(
            format!("(6) {n} replica(s): most calls in any sliding second"),
            run.upstream.max_calls_in_sliding_second.to_string(),
            "≤ budget",
            Some(run.upstream.max_calls_in_sliding_second as f64 <= run.budget),
        );
        self.row(
            format!("(6) {n} replica(s): throttled by the upstream"),
            run.upstream.throttled.to_string(),
            "0",
            Some(run.upstream.throttled == 0),
        );
    }

    pub fn lanes(&mut self, run: &Lanes) {
        let [p50, p99, max] = run.percentiles_ms;
        let target = run.target_ms();
        self.row(
            format!(
                "(7) lanes: interactive publish → completion under a {}-job bulk backlog, 3 replicas, strict window of {}, upstream {} ms, {} interactive jobs at {}/s: p50 / p99 (max)",
                run.bulk, run.budget, run.upstream_latency_ms, run.interactive, run.interactive_rate
            ),
            format!("{p50:.0} / {p99:.0} ms ({max:.0}); p99 / target {:.2}", p99 / target),
            "p99 ≤ upstream + 100 ms",
            Some(run.interactive > 0 && p99 <= target),
        );
        let used = run.steady_rate.map(|rate| rate / run.budget);
        self.row(
            "(7) lanes: budget used while interactive jobs overtake".into(),
            used.map_or("run too short".into(), |u| format!("{:.1} %", 100.0 * u)),
            "≥ 99 %",
            used.map(|u| (0.99..=1.001).contains(&u)),
        );
        self.row(
            "(7) lanes: most calls in any sliding second".into(),
            run.upstream.max_calls_in_sliding_second.to_string(),
            "≤ budget",
            Some(run.upstream.max_calls_in_sliding_second as f64 <= run.budget),
        );
        self.row(
            "(7) lanes: throttled by the upstream".into(),
            run.upstream.throttled.to_string(),
            "0",
            Some(run.upstream.throttled == 0),
        );
    }

    pub fn latency(&mut self, run: &Latency) {
        let [p50, p95, p99, max] = run.percentiles_ms;
        self.row(
            format!(
                "(4) latency publish → completion, {} jobs at {} jobs/s offered, budget {}, upstream {} ms: p50 / p95 / p99 (max)",
                run.jobs, run.offered_rate, run.budget, run.upstream_latency_ms
            ),
            format!("{p50:.0} / {p95:.0} / {p99:.0} ms ({max:.0})"),
            "",
            None,
        );
        self.row(
            "(4) throttled by the upstream".into(),
            run.upstream.throttled.to_string(),
            "0",
            Some(run.upstream.throttled == 0),
        );
    }

    pub fn resources(&mut self, run: &Resources) {
        let cpu = run.cpu_per_thousand();
        self.row(
            format!(
                "(5) one worker process, {} jobs, concurrency {}: CPU per 1000 jobs (user+sys, start-up excluded)",
                run.jobs, run.concurrency
            ),
            format!("{cpu:.2} CPU-s"),
            "≤ 0.4 CPU-s",
            Some(cpu <= CPU_SECONDS_PER_THOUSAND),
        );
        let peak = run.done.peak_rss_kib as f64 / 1024.0;
        self.row(
            "(5) peak resident memory (VmHWM)".into(),
            format!(
                "{peak:.1} MiB (at ready {:.1}; at end {:.1} = heap {:.1} + file {:.1})",
                run.ready.peak_rss_kib as f64 / 1024.0,
                run.done.rss_kib as f64 / 1024.0,
                run.done.rss_anon_kib as f64 / 1024.0,
                run.done.rss_file_kib as f64 / 1024.0
            ),
            "≤ 20 MiB",
            Some(peak <= PEAK_MIB),
        );
        self.row(
            "(5) throughput of the worker process (bench in another process)".into(),
            format!("{:.0} jobs/s", run.rate()),
            "",
            None,
        );
        self.row(
            "(5) start-up CPU (to consuming), log lines written, exit on SIGTERM".into(),
            format!(
                "{:.2} CPU-s, {} lines, {}",
                run.ready.cpu_seconds,
                run.log_lines,
                if run.clean_exit { "clean" } else { "NOT clean" }
            ),
            "clean",
            Some(run.clean_exit),
        );
        self.calls_per_job("(5)", &run.upstream, run.jobs);
    }
}
