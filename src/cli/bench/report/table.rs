//! The table itself: its rows, how a figure is added and how the table is
//! written as Markdown; the figures of each section are added in `mod.rs` (and
//! `memory.rs`), so this file says only what a row is.

use crate::mock::Stats;

struct Row {
    measure: String,
    value: String,
    target: &'static str,
    met: Option<bool>,
}

#[derive(Default)]
pub struct Table {
    rows: Vec<Row>,
}

impl Table {
    /// One figure: what was measured, its value, the target and whether it was met.
    pub(in crate::cli::bench) fn row(
        &mut self,
        measure: String,
        value: String,
        target: &'static str,
        met: Option<bool>,
    ) {
        self.rows.push(Row {
            measure,
            value,
            target,
            met,
        });
    }

    /// Upstream calls per job, whose target is exactly one.
    pub(in crate::cli::bench) fn calls_per_job(
        &mut self,
        section: &str,
        upstream: &Stats,
        jobs: u64,
    ) {
        let per_job = upstream.calls as f64 / jobs.max(1) as f64;
        self.row(
            format!("{section} upstream calls per job"),
            format!("{per_job:.3}"),
            "= 1.000",
            Some(upstream.calls == jobs),
        );
    }

    pub fn markdown(&self) -> String {
        let mut out = String::from("| measure | value | target | met |\n|---|---|---|---|\n");
        for row in &self.rows {
            let met = match row.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            out.push_str(&format!(
                "| {} | {} | {} | {met} |\n",
                row.measure, row.value, row.target
            ));
        }
        out
    }

    /// Whether every figure with a target met it.
    pub fn all_met(&self) -> bool {
        self.rows.iter().all(|r| r.met != Some(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missed_target_is_marked_and_counted() {
        let mut table = Table::default();
        table.calls_per_job(
            "(2)",
            &Stats {
                calls: 1001,
                ..Stats::default()
            },
            1000,
        );
        table.calls_per_job(
            "(3)",
            &Stats {
                calls: 1000,
                ..Stats::default()
            },
            1000,
        );
        let md = table.markdown();
        assert!(
            md.contains("| (2) upstream calls per job | 1.001 | = 1.000 | **no** |"),
            "{md}"
        );
        assert!(
            md.contains("| (3) upstream calls per job | 1.000 | = 1.000 | yes |"),
            "{md}"
        );
        assert!(!table.all_met());
    }
}
