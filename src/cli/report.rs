//! `id2meta report --month YYYY-MM`: the month's records of processing.

use std::io::Write;

use anyhow::Context;

use super::table;
use crate::config::Config;
use crate::csv_writer::CsvWriter;
use crate::lifecycle::report;
use crate::store::Store;

/// Print a month's records of processing (PIPL): jobs, calls, spend, lifecycle
///
/// For the UTC month given: jobs by status and queue, upstream calls made,
/// billed calls (BizCode 1 and 2) and their spend (ID2META_PRICE_PER_CALL,
/// ID2META_CURRENCY), reused verdicts, cancelled jobs, batches, rows scrubbed
/// (retention, forget), identities forgotten, and audit actions by kind.
/// Reads DATABASE_URL.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ReportArgs {
    /// The month, YYYY-MM (UTC).
    #[arg(long)]
    pub month: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ReportFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Csv,
}

pub async fn run(args: ReportArgs) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    report::month_span(&args.month)?;
    let store = Store::open(&config.database(), 1).await?;
    store.migrate().await?;
    let month = report::month(&store, &args.month, &config.pricing).await?;
    let mut out = std::io::stdout().lock();
    match args.format {
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &month).context("writing JSON")?;
            writeln!(out)?;
        }
        ReportFormat::Table => {
            writeln!(out, "records of processing, {}", month.month)?;
            let rows: Vec<Vec<String>> = month.lines().into_iter().map(Vec::from).collect();
            out.write_all(table::render(&["section", "what", "value"], &rows).as_bytes())?;
        }
        ReportFormat::Csv => {
            // The project's one CSV writer: every cell formula-safe.
            let mut csv = CsvWriter::new(&mut out);
            csv.write_record(["section", "what", "value"])?;
            for line in month.lines() {
                csv.write_record(line)?;
            }
            csv.flush()?;
        }
    }
    out.flush().context("writing the report")
}
