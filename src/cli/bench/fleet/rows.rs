//! The fleet section's rows in the benchmark's table, beside the issue's
//! targets: ≥ 98 % of the budget used, 0 throttled, at most Q calls in any
//! sliding second, interactive p99 ≤ the upstream's latency + 100 ms, every job
//! done within 1.15 × its time at the full budget when replicas outnumber calls,
//! and at least 60 % of the budget flowing while a replica is frozen.

use super::FleetRun;
use crate::cli::bench::report::Table;

const BUDGET_USED: f64 = 0.98;
const WHILE_FROZEN: f64 = 0.60;
const OUTNUMBERED_SLACK: f64 = 1.15;

impl Table {
    pub fn fleet(&mut self, run: &FleetRun) {
        let name = format!(
            "(10) {}: {} processes, Q = {}",
            run.label, run.replicas, run.qps
        );
        let budget = f64::from(run.qps);
        if run.replicas > run.qps as usize {
            let ideal = run.jobs as f64 / budget;
            self.row(
                format!("{name}: {} jobs, first publish → last completion", run.jobs),
                format!("{:.1} s (ideal {ideal:.1} s)", run.elapsed.as_secs_f64()),
                "≤ 1.15 × ideal",
                Some(run.elapsed.as_secs_f64() <= OUTNUMBERED_SLACK * ideal),
            );
        } else {
            let value = match run.steady_rate {
                Some(rate) => format!("{rate:.1} calls/s ({:.1} %)", 100.0 * rate / budget),
                None => "run too short".into(),
            };
            self.row(
                format!("{name}: budget used over the steady part"),
                value,
                "≥ 98 %",
                run.steady_rate.map(|r| r >= BUDGET_USED * budget),
            );
        }
        if let Some(rate) = run.rate_while_frozen {
            self.row(
                format!("{name}: calls/s while one replica was frozen"),
                format!("{rate:.1} ({:.1} %)", 100.0 * rate / budget),
                "≥ 60 %",
                Some(rate >= WHILE_FROZEN * budget),
            );
        }
        if let Some([p50, p99]) = run.interactive_ms {
            let target = run.upstream_latency_ms as f64 + 100.0;
            self.row(
                format!(
                    "{name}: interactive p50 / p99 behind the backlog (upstream {} ms)",
                    run.upstream_latency_ms
                ),
                format!("{p50:.0} / {p99:.0} ms"),
                "p99 ≤ latency + 100 ms",
                Some(p99 <= target),
            );
        }
        let stats = &run.upstream;
        self.row(
            format!("{name}: most calls in any sliding second / throttled"),
            format!(
                "{} / {}",
                stats.max_calls_in_sliding_second, stats.throttled
            ),
            "≤ Q / 0",
            Some(stats.max_calls_in_sliding_second <= u64::from(run.qps) && stats.throttled == 0),
        );
        self.row(
            format!("{name}: clean exits on SIGTERM"),
            format!("{} of {}", run.clean_exits, run.replicas),
            "all",
            Some(run.clean_exits == run.replicas),
        );
        self.calls_per_job(&name, stats, run.jobs);
    }
}
