//! `id2meta results`: read settled rows from `verification_results`.
//!
//! The table holds masks and a keyed digest, never a plaintext name or ID
//! number, so every format can print whole rows. A table for people on a
//! terminal; JSON Lines or CSV for programs (the default when piped).

use std::io::{IsTerminal, Write};

use anyhow::{bail, Context};
use chrono::SecondsFormat;

use super::table;
use crate::config::Config;
use crate::store::{ResultRow, Store};

/// Read stored results (masked; as a table, JSON Lines or CSV)
///
/// With --job-id, the one row of that job (exits non-zero if the job has no
/// settled row yet). With --batch-id, the rows of that batch; with neither,
/// every row. Rows come oldest completion first, at most --limit of them.
///
/// Formats: `table` (aligned columns: job_id, batch_id, status, biz_code,
/// upstream_code, attempts, name_masked, id_number_masked, completed_at; the
/// default on a terminal), `json` (JSON Lines of whole rows; the default
/// otherwise), `csv` (a header, then whole rows). Rows hold masked names and
/// ID numbers only. Reads DATABASE_URL.
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
    /// At most this many rows; 0 for all of them.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub limit: u64,
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
    let store = Store::connect(&config.database_url, 2).await?;
    let rows = match &args.job_id {
        Some(job_id) => match store.result(job_id).await? {
            Some(row) => vec![row],
            None => bail!(
                "no result for job_id {job_id:?}: it is not settled yet, or was never enqueued"
            ),
        },
        None => {
            let limit = if args.limit == 0 {
                i64::MAX
            } else {
                i64::try_from(args.limit).unwrap_or(i64::MAX)
            };
            store.results(args.batch_id.as_deref(), limit).await?
        }
    };
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        OutputFormat::Table
    } else {
        OutputFormat::Json
    });
    let mut out = std::io::stdout().lock();
    let written =
        write_rows(&mut out, &rows, format).and_then(|()| out.flush().context("writing results"));
    match written {
        // The reader has all it wanted (`results | head`): a normal end, quietly.
        Err(error) if is_broken_pipe(&error) => return Ok(()),
        other => other?,
    }
    if args.job_id.is_none() && args.limit != 0 && rows.len() as u64 == args.limit {
        eprintln!(
            "showing the first {} rows; --limit 0 shows them all",
            args.limit
        );
    }
    Ok(())
}

/// Whether writing failed because the reading end of stdout was closed.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let io = match cause.downcast_ref::<csv::Error>() {
            Some(csv_error) => match csv_error.kind() {
                csv::ErrorKind::Io(io) => Some(io),
                _ => None,
            },
            None => cause.downcast_ref::<std::io::Error>(),
        };
        io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Prints rows in a format.
pub fn write_rows(
    out: &mut dyn Write,
    rows: &[ResultRow],
    format: OutputFormat,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Table => {
            let cells: Vec<Vec<String>> = rows.iter().map(table_row).collect();
            out.write_all(table::render(&TABLE_COLUMNS, &cells).as_bytes())?;
        }
        OutputFormat::Json => {
            for row in rows {
                serde_json::to_writer(&mut *out, row).context("writing a row as JSON")?;
                out.write_all(b"\n")?;
            }
        }
        OutputFormat::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record(CSV_COLUMNS)?;
            for row in rows {
                writer.write_record(csv_row(row))?;
            }
            writer.flush()?;
        }
    }
    Ok(())
}

const TABLE_COLUMNS: [&str; 9] = [
    "job_id",
    "batch_id",
    "status",
    "biz_code",
    "upstream_code",
    "attempts",
    "name_masked",
    "id_number_masked",
    "completed_at",
];

const CSV_COLUMNS: [&str; 14] = [
    "job_id",
    "batch_id",
    "status",
    "biz_code",
    "upstream_code",
    "upstream_message",
    "request_id",
    "attempts",
    "name_masked",
    "id_number_masked",
    "identity_digest",
    "metadata",
    "received_at",
    "completed_at",
];

fn text(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

fn time(value: &chrono::DateTime<chrono::Utc>) -> String {
    value.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn table_row(row: &ResultRow) -> Vec<String> {
    vec![
        row.job_id.clone(),
        text(&row.batch_id),
        row.status.clone(),
        text(&row.biz_code),
        text(&row.upstream_code),
        row.attempts.to_string(),
        text(&row.name_masked),
        text(&row.id_number_masked),
        row.completed_at.to_rfc3339_opts(SecondsFormat::Secs, true),
    ]
}

fn csv_row(row: &ResultRow) -> Vec<String> {
    vec![
        row.job_id.clone(),
        text(&row.batch_id),
        row.status.clone(),
        text(&row.biz_code),
        text(&row.upstream_code),
        text(&row.upstream_message),
        text(&row.request_id),
        row.attempts.to_string(),
        text(&row.name_masked),
        text(&row.id_number_masked),
        row.identity_digest.clone(),
        row.metadata
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        time(&row.received_at),
        time(&row.completed_at),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn row() -> ResultRow {
        let at = chrono::Utc
            .with_ymd_and_hms(2026, 11, 28, 13, 9, 58)
            .unwrap();
        ResultRow {
            job_id: "onb-1".into(),
            batch_id: Some("b1".into()),
            status: "match".into(),
            biz_code: Some("1".into()),
            upstream_code: Some("Success".into()),
            upstream_message: Some("OK, fine".into()),
            request_id: Some("R-1".into()),
            attempts: 1,
            name_masked: Some("张*".into()),
            id_number_masked: Some("110***********002X".into()),
            identity_digest: "ab12".into(),
            metadata: Some(serde_json::json!({"applicant": "a-77"})),
            received_at: at,
            completed_at: at,
        }
    }

    fn printed(format: OutputFormat) -> String {
        let mut out = Vec::new();
        write_rows(&mut out, &[row()], format).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_table_shows_the_summary_columns_aligned() {
        let text = printed(OutputFormat::Table);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].starts_with("job_id  batch_id  status  biz_code  upstream_code  attempts"),
            "{text}"
        );
        assert!(
            lines[1].contains("张*") && lines[1].ends_with("2026-11-28T13:09:58Z"),
            "{text}"
        );
        // Each header starts where its value starts (by display width).
        let at = table::width(&lines[0][..lines[0].find("completed_at").unwrap()]);
        let value = table::width(&lines[1][..lines[1].find("2026-").unwrap()]);
        assert_eq!(at, value);
    }

    #[test]
    fn json_prints_whole_rows_one_a_line() {
        let text = printed(OutputFormat::Json);
        let value: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(value["identity_digest"], "ab12");
        assert_eq!(value["metadata"]["applicant"], "a-77");
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn csv_prints_a_header_and_every_column_quoted_where_needed() {
        let text = printed(OutputFormat::Csv);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(header, CSV_COLUMNS);
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(&record[5], "OK, fine");
        assert_eq!(&record[11], r#"{"applicant":"a-77"}"#);
        assert_eq!(&record[13], "2026-11-28T13:09:58.000Z");
    }
}
