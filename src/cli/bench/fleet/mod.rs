//! (10) The fleet at its edges, with worker *processes* against the mock's strict
//! sliding window (at most Q calls in any trailing second): many replicas at a
//! small and a large budget, more replicas than calls per second, a replica
//! frozen with SIGSTOP while the others go on, what an interactive job waits
//! behind a bulk backlog at ten replicas, and a cold start through slow
//! handshakes. Each scenario reports the budget used over its steady part, the
//! most calls in any sliding second and the throttled calls, beside the issue's
//! targets (see `rows.rs`).

mod rows;
mod scenario;

use std::time::Duration;

use crate::config::Config;
use crate::mock::Stats;
use scenario::{Freeze, Scenario};

/// What one scenario measured.
#[derive(Debug, Clone)]
pub struct FleetRun {
    pub label: String,
    pub replicas: usize,
    pub qps: u32,
    pub jobs: u64,
    /// First publish → last completion.
    pub elapsed: Duration,
    /// Upstream calls per second over the steady part (`None`: too short).
    pub steady_rate: Option<f64>,
    /// Calls per second over the freezes, when the scenario froze a replica.
    pub rate_while_frozen: Option<f64>,
    /// Interactive publish → completion p50 and p99, ms, when it sent any.
    pub interactive_ms: Option<[f64; 2]>,
    pub upstream_latency_ms: u64,
    /// Replicas that exited cleanly on SIGTERM at the end.
    pub clean_exits: usize,
    pub upstream: Stats,
}

/// The scenarios of the issue (`quick`: scaled down for CI, same shapes).
fn scenarios(quick: bool) -> Vec<Scenario> {
    let plain = |label: &str, replicas, qps, seconds| Scenario {
        label: label.into(),
        replicas,
        qps,
        jobs: u64::from(qps) * seconds,
        freeze: None,
        interactive_rate: 0.0,
        connect_delay: Duration::ZERO,
    };
    // Issue 19, item 3: one replica whose connection pool is cold meets a backlog
    // through 200 ms handshakes; the token is taken before the connection exists.
    let cold = |seconds| Scenario {
        connect_delay: Duration::from_millis(200),
        ..plain("cold start, 200 ms handshake", 1, 50, seconds)
    };
    if quick {
        return vec![
            Scenario {
                jobs: 24,
                ..plain("more replicas than calls", 6, 4, 0)
            },
            plain("many replicas, Q = 50", 6, 50, 6),
            Scenario {
                freeze: Some(Freeze {
                    times: 1,
                    length: Duration::from_secs(3),
                }),
                ..plain("a replica frozen (SIGSTOP)", 3, 30, 12)
            },
            Scenario {
                interactive_rate: 2.0,
                ..plain("interactive behind a backlog", 4, 50, 8)
            },
            cold(4),
        ];
    }
    vec![
        Scenario {
            jobs: 120,
            ..plain("more replicas than calls", 8, 4, 0)
        },
        plain("30 replicas, Q = 50", 30, 50, 30),
        plain("30 replicas, Q = 500", 30, 500, 20),
        Scenario {
            freeze: Some(Freeze {
                times: 3,
                length: Duration::from_secs(8),
            }),
            // Three freezes of 8 s, 4 s apart, and 10 s around them.
            ..plain("a replica frozen (SIGSTOP) 3 × 8 s", 3, 30, 46)
        },
        Scenario {
            interactive_rate: 2.0,
            ..plain("interactive behind a backlog, 10 replicas", 10, 50, 30)
        },
        cold(10),
    ]
}

/// Runs every scenario in turn (only those whose label contains `only`, if given).
pub async fn measure(
    base: &Config,
    run_id: &str,
    quick: bool,
    only: Option<&str>,
) -> anyhow::Result<Vec<FleetRun>> {
    let mut runs = Vec::new();
    let chosen = scenarios(quick)
        .into_iter()
        .enumerate()
        .filter(|(_, s)| only.is_none_or(|text| s.label.contains(text)));
    for (index, scenario) in chosen {
        eprintln!(
            "(10) fleet: {}: {} worker processes at Q = {}, {} jobs",
            scenario.label, scenario.replicas, scenario.qps, scenario.jobs
        );
        runs.push(scenario.run(base, run_id, index).await?);
    }
    Ok(runs)
}
