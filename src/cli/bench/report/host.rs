//! Rows for where (1)'s and (2)'s CPU went: what bounds the pipeline's ratio to
//! the raw queue on a host where both are bound by CPU.

use super::super::host_cpu::{cores, HostCpu};
use super::super::pipeline::Throughput;
use super::super::raw::Raw;
use super::Table;

fn parts(cpu: &HostCpu) -> String {
    format!(
        "{:.2} / {:.2} / {:.2} CPU-s",
        cpu.broker, cpu.database, cpu.bench
    )
}

impl Table {
    /// CPU per 1000 messages and per 1000 jobs, and the ratios that follow.
    pub fn host_cpu(&mut self, run: &Throughput, raw: Option<&Raw>) {
        let job = run.cpu.per_unit_ms(run.jobs);
        self.row(
            "(2) CPU per 1000 jobs: RabbitMQ / PostgreSQL / this process (worker, mock, bench)"
                .into(),
            parts(&job),
            "",
            None,
        );
        let Some(raw) = raw else { return };
        let message = raw.cpu.per_unit_ms(raw.messages);
        self.row(
            "(1) CPU per 1000 messages: RabbitMQ / PostgreSQL / this process (publisher, consumer)"
                .into(),
            parts(&message),
            "",
            None,
        );
        if message.broker <= 0.0 || message.total() <= 0.0 {
            self.row(
                "(2) ceiling from CPU".into(),
                "not measured (the services' processes cannot be read)".into(),
                "",
                None,
            );
            return;
        }
        // On a host bound by CPU a rate is at most cores / CPU per unit, so the
        // best ratio is the inverse ratio of the costs.
        self.row(
            format!(
                "(2) best pipeline / raw the host allows at these costs ({} cores): all CPU / RabbitMQ's alone",
                cores()
            ),
            format!(
                "{:.1} % / {:.1} %",
                100.0 * message.total() / job.total().max(1e-9),
                100.0 * message.broker / job.broker.max(1e-9)
            ),
            "",
            None,
        );
    }
}
