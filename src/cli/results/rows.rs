//! How result rows are printed: a table for people, JSON Lines or CSV for programs.

use std::io::Write;

use anyhow::Context;
use chrono::SecondsFormat;

use super::OutputFormat;
use crate::cli::table;
use crate::csv_writer::CsvWriter;
use crate::store::ResultRow;

/// Rows a table page holds (and the table's default `--limit`).
pub const TABLE_PAGE: u64 = 1000;

/// Prints rows in a format (all of them; for a few rows held in memory).
pub fn write_rows(
    out: &mut dyn Write,
    rows: &[ResultRow],
    format: OutputFormat,
) -> anyhow::Result<()> {
    let mut writer = RowWriter::new(out, format)?;
    for row in rows {
        writer.row(row)?;
    }
    writer.finish()
}

/// Writes rows as they come: JSON Lines and CSV a row at a time; the table a
/// page of [`TABLE_PAGE`] rows at a time (its columns are aligned within a page,
/// each page under its own header), so memory holds a page at most.
pub struct RowWriter<W: Write> {
    output: Output<W>,
}

enum Output<W: Write> {
    Table {
        out: W,
        page: Vec<Vec<String>>,
        pages: u64,
    },
    Json(W),
    // Boxed: csv's writer holds its buffer state inline (hundreds of bytes).
    Csv(Box<CsvWriter<W>>),
}

impl<W: Write> RowWriter<W> {
    /// Starts the output (CSV writes its header now, so an empty result has one).
    pub fn new(out: W, format: OutputFormat) -> anyhow::Result<Self> {
        let output = match format {
            OutputFormat::Table => Output::Table {
                out,
                page: Vec::new(),
                pages: 0,
            },
            OutputFormat::Json => Output::Json(out),
            OutputFormat::Csv => {
                let mut writer = CsvWriter::new(out);
                writer.write_record(CSV_COLUMNS)?;
                Output::Csv(Box::new(writer))
            }
        };
        Ok(RowWriter { output })
    }

    pub fn row(&mut self, row: &ResultRow) -> anyhow::Result<()> {
        match &mut self.output {
            Output::Table { page, .. } => {
                page.push(table_row(row));
                if page.len() as u64 >= TABLE_PAGE {
                    self.flush_page()?;
                }
            }
            Output::Json(out) => {
                serde_json::to_writer(&mut *out, row).context("writing a row as JSON")?;
                out.write_all(b"\n")?;
            }
            Output::Csv(writer) => writer.write_record(csv_row(row))?,
        }
        Ok(())
    }

    /// Writes what is held and flushes.
    pub fn finish(mut self) -> anyhow::Result<()> {
        self.flush_page()?;
        match &mut self.output {
            Output::Table { out, .. } | Output::Json(out) => out.flush()?,
            Output::Csv(writer) => writer.flush()?,
        }
        Ok(())
    }

    fn flush_page(&mut self) -> anyhow::Result<()> {
        if let Output::Table { out, page, pages } = &mut self.output {
            // An empty result still prints its header, once.
            if page.is_empty() && *pages > 0 {
                return Ok(());
            }
            if *pages > 0 {
                out.write_all(b"\n")?;
            }
            out.write_all(table::render(&TABLE_COLUMNS, page).as_bytes())?;
            page.clear();
            *pages += 1;
        }
        Ok(())
    }
}

const TABLE_COLUMNS: [&str; 10] = [
    "job_id",
    "batch_id",
    "queue",
    "status",
    "biz_code",
    "upstream_code",
    "attempts",
    "name_masked",
    "id_number_masked",
    "completed_at",
];

/// `queue` (revision 3) comes last, so the positions readers already use hold.
const CSV_COLUMNS: [&str; 15] = [
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
    "queue",
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
        text(&row.queue),
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
        text(&row.queue),
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
            priority: None,
            reused_from_job_id: None,
            queue: Some("id2meta.jobs".into()),
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
            lines[0].starts_with(
                "job_id  batch_id  queue         status  biz_code  upstream_code  attempts"
            ),
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
        assert_eq!(value["queue"], "id2meta.jobs");
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
        assert_eq!(&record[14], "id2meta.jobs");
    }

    #[test]
    fn csv_cells_that_start_like_a_formula_are_written_as_text() {
        let mut hostile = row();
        hostile.job_id = "=HYPERLINK(\"http://evil.example\",\"x\")".into();
        hostile.batch_id = Some("@SUM(1+1)*cmd|' /C calc'!A0".into());
        hostile.name_masked = Some("=*".into());
        let mut out = Vec::new();
        write_rows(&mut out, &[hostile], OutputFormat::Csv).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(&record[0], "'=HYPERLINK(\"http://evil.example\",\"x\")");
        assert_eq!(&record[1], "'@SUM(1+1)*cmd|' /C calc'!A0");
        assert_eq!(&record[8], "'=*");
    }

    #[test]
    fn a_long_table_is_printed_in_pages_each_under_its_header() {
        let rows = vec![row(); TABLE_PAGE as usize + 1];
        let mut out = Vec::new();
        write_rows(&mut out, &rows, OutputFormat::Table).unwrap();
        let text = String::from_utf8(out).unwrap();
        let headers = text.lines().filter(|l| l.starts_with("job_id ")).count();
        assert_eq!(headers, 2);
        assert_eq!(text.lines().count(), TABLE_PAGE as usize + 1 + 2 + 1);
    }

    #[test]
    fn an_empty_table_is_its_header_and_an_empty_csv_its_header_row() {
        for (format, lines) in [
            (OutputFormat::Table, 1),
            (OutputFormat::Csv, 1),
            (OutputFormat::Json, 0),
        ] {
            let mut out = Vec::new();
            write_rows(&mut out, &[], format).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap().lines().count(),
                lines,
                "{format:?}"
            );
        }
    }
}
