//! `id2meta results`: read settled rows from `verification_results`.
//!
//! The table holds masks and a keyed digest, never a plaintext name or ID
//! number, so every format can print whole rows. A table for people on a
//! terminal; JSON Lines or CSV for programs (the default when piped).
//!
//! Exports stream: rows are written as PostgreSQL sends them, so a batch of
//! millions costs the memory of one row (and a table page of [`TABLE_PAGE`]).

mod rows;

use std::io::{BufWriter, IsTerminal};

use anyhow::{bail, Context};
use futures_util::StreamExt;

use crate::config::Config;
use crate::store::Store;
pub use rows::{write_rows, RowWriter, TABLE_PAGE};

/// Read stored results (masked; as a table, JSON Lines or CSV)
///
/// With --job-id, the one row of that job (exits non-zero if the job has no
/// settled row yet). With --batch-id, the rows of that batch; with neither,
/// every row. Rows come oldest completion first.
///
/// Formats: `table` (aligned columns: job_id, batch_id, status, biz_code,
/// upstream_code, attempts, name_masked, id_number_masked, completed_at; the
/// default on a terminal), `json` (JSON Lines of whole rows; the default
/// otherwise), `csv` (a header, then whole rows). Rows hold masked names and
/// ID numbers only. Reads DATABASE_URL.
///
/// `json` and `csv` export every row by default, streamed as they are read
/// (constant memory at any size). The table shows one page of 1000 rows by
/// default and says how to see the next (--offset); with --limit 0 it prints
/// every row, a page at a time, each page aligned under its own header.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ResultsArgs {
    /// The result of this job only.
    #[arg(long, value_name = "ID", conflicts_with = "batch_id")]
    pub job_id: Option<String>,
    /// The results of this batch.
    #[arg(long, value_name = "ID")]
    pub batch_id: Option<String>,
    /// Output format (default: table on a terminal, else json).
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// At most this many rows; 0 for all of them. Default: 1000 for the table,
    /// every row for json and csv.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Skip this many rows first (the next table page: --offset 1000).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub offset: u64,
}

/// How rows are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
}

pub async fn run(args: ResultsArgs) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let store = Store::open(&config.database(), 2).await?;
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        OutputFormat::Table
    } else {
        OutputFormat::Json
    });
    match print(&store, &args, format).await {
        // The reader has all it wanted (`results | head`): a normal end, quietly.
        Err(error) if is_broken_pipe(&error) => Ok(()),
        Err(error) => Err(error),
        Ok(Printed::All) => Ok(()),
        Ok(Printed::Page { first, last }) => {
            eprintln!(
                "showing rows {first} to {last}; --offset {last} shows the next ones, --limit 0 shows them all"
            );
            Ok(())
        }
    }
}

/// Whether rows were left out by the limit.
enum Printed {
    All,
    /// 1-based numbers of the first and last row shown; more follow.
    Page {
        first: u64,
        last: u64,
    },
}

async fn print(store: &Store, args: &ResultsArgs, format: OutputFormat) -> anyhow::Result<Printed> {
    let out = BufWriter::with_capacity(64 * 1024, std::io::stdout());
    let mut writer = RowWriter::new(out, format).context("writing results")?;
    if let Some(job_id) = &args.job_id {
        let Some(row) = store.result(job_id).await? else {
            bail!("no result for job_id {job_id:?}: it is not settled yet, or was never enqueued");
        };
        writer.row(&row).context("writing results")?;
        writer.finish().context("writing results")?;
        return Ok(Printed::All);
    }
    let limit = match args.limit {
        Some(0) => None,
        Some(n) => Some(n),
        None if format == OutputFormat::Table => Some(TABLE_PAGE),
        None => None,
    };
    // One row past the limit tells whether there are more.
    let fetch = limit.map(|n| i64::try_from(n.saturating_add(1)).unwrap_or(i64::MAX));
    let offset = i64::try_from(args.offset).unwrap_or(i64::MAX);
    let rows = store.results_stream(args.batch_id.as_deref(), fetch, offset);
    let mut rows = std::pin::pin!(rows);
    let mut written = 0u64;
    let mut more = false;
    while let Some(row) = rows.next().await {
        let row = row?;
        if limit.is_some_and(|limit| written >= limit) {
            more = true;
            break;
        }
        writer.row(&row).context("writing results")?;
        written += 1;
    }
    writer.finish().context("writing results")?;
    Ok(if more {
        Printed::Page {
            first: args.offset + 1,
            last: args.offset + written,
        }
    } else {
        Printed::All
    })
}

/// Whether writing failed because the reading end of stdout was closed.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let kind = if let Some(csv_error) = cause.downcast_ref::<csv::Error>() {
            match csv_error.kind() {
                csv::ErrorKind::Io(io) => Some(io.kind()),
                _ => None,
            }
        } else if let Some(json_error) = cause.downcast_ref::<serde_json::Error>() {
            // A buffered writer meets the closed pipe inside serde_json's own write.
            json_error.io_error_kind()
        } else {
            cause
                .downcast_ref::<std::io::Error>()
                .map(std::io::Error::kind)
        };
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}
