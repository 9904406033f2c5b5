//! Where a measurement's CPU went on this host: RabbitMQ, PostgreSQL and the
//! bench's own process (which runs the in-process worker and the mock).
//!
//! Why: the pipeline's rate is compared with the raw queue's, and on a host of
//! two cores both are bound by CPU, not by waiting. What each spends per job
//! says how far any worker code could take the ratio: the pipeline's broker and
//! database work alone puts a ceiling on it (docs/benchmarks.md).
//!
//! PostgreSQL runs a process per connection; a backend that exits during the
//! measurement is counted through its parent's `cutime`/`cstime` (the
//! postmaster reaps it), so the total is every `postgres` process's own and
//! reaped children's CPU. RabbitMQ is the `beam.smp` process. Only processes
//! this user may read are seen (the bench runs as the services' owner or root
//! in CI); a service that cannot be read counts 0 and the report says so.

use super::process_stats::{clock_ticks, stat_times};

/// CPU seconds spent so far by each party.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HostCpu {
    pub broker: f64,
    pub database: f64,
    pub bench: f64,
}

impl HostCpu {
    /// The counters now.
    pub fn now() -> HostCpu {
        let ticks = clock_ticks().max(1) as f64;
        let mut cpu = HostCpu::default();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return cpu;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let Some(times) = stat_times(&stat) else {
                continue;
            };
            let seconds = (times.own + times.reaped) as f64 / ticks;
            match times.command {
                "beam.smp" => cpu.broker += seconds,
                "postgres" => cpu.database += seconds,
                _ if pid == std::process::id().to_string() => cpu.bench += times.own as f64 / ticks,
                _ => {}
            }
        }
        cpu
    }

    /// What was spent between `before` and `self`.
    pub fn since(&self, before: &HostCpu) -> HostCpu {
        HostCpu {
            broker: (self.broker - before.broker).max(0.0),
            database: (self.database - before.database).max(0.0),
            bench: (self.bench - before.bench).max(0.0),
        }
    }

    pub fn total(&self) -> f64 {
        self.broker + self.database + self.bench
    }

    /// Per `units` (jobs or messages), in milliseconds.
    pub fn per_unit_ms(&self, units: u64) -> HostCpu {
        let per = 1000.0 / units.max(1) as f64;
        HostCpu {
            broker: self.broker * per,
            database: self.database * per,
            bench: self.bench * per,
        }
    }
}

/// The number of CPUs this process may run on.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_never_goes_negative_when_a_process_left() {
        let before = HostCpu {
            broker: 2.0,
            database: 5.0,
            bench: 1.0,
        };
        let after = HostCpu {
            broker: 3.0,
            database: 4.0,
            bench: 1.5,
        };
        let spent = after.since(&before);
        assert_eq!((spent.broker, spent.database, spent.bench), (1.0, 0.0, 0.5));
    }

    #[test]
    fn this_process_is_seen_spending_cpu() {
        let before = HostCpu::now();
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut x = 0u64;
        // Spin until a clock tick of CPU is charged to this process.
        while HostCpu::now().since(&before).bench == 0.0 {
            assert!(std::time::Instant::now() < give_up, "no CPU seen in 30 s");
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
    }
}
