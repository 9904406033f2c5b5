//! CSV input: a header row naming `job_id`, `name`, `id_number` and optionally
//! `batch_id` and `priority` (in any order; other columns are ignored), then
//! one job a row.
//!
//! Rows become the same JSON body the demo publishes, then go through the same
//! check as a JSON line. A row's line number is the line it starts on (a quoted
//! field may span lines), counted as the rows stream past ([`line_marks`]).

use std::io::Read;

use anyhow::{bail, Context};
use csv::{ByteRecord, ReaderBuilder, Trim};

use super::bodies::csv_body;
use super::line_marks;

/// Where each column is.
struct Columns {
    job_id: usize,
    name: usize,
    id_number: usize,
    batch_id: Option<usize>,
    priority: Option<usize>,
}

impl Columns {
    fn from_header(header: &ByteRecord) -> anyhow::Result<Columns> {
        let find = |wanted: &str| {
            header
                .iter()
                .position(|h| h.eq_ignore_ascii_case(wanted.as_bytes()))
        };
        let (Some(job_id), Some(name), Some(id_number)) =
            (find("job_id"), find("name"), find("id_number"))
        else {
            bail!("the CSV header row must name the columns job_id, name and id_number (and optionally batch_id)");
        };
        Ok(Columns {
            job_id,
            name,
            id_number,
            batch_id: find("batch_id"),
            priority: find("priority"),
        })
    }
}

pub(super) fn read(
    input: impl Read,
    default_batch: Option<&str>,
    check: &mut dyn FnMut(usize, Result<Vec<u8>, String>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let (input, lines) = line_marks::marked(input);
    let mut reader = ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(Trim::All)
        .from_reader(input);
    let header = reader
        .byte_headers()
        .context("reading the CSV header row")?
        .clone();
    let columns = Columns::from_header(&header)?;
    let mut record = ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let line = record.position().map_or(0, |p| lines.line_of(p.byte()));
                if record.iter().all(<[u8]>::is_empty) {
                    continue;
                }
                check(line, body(&record, &columns, default_batch))?;
            }
            // An I/O error, or a row too long to be a job: the input ends here.
            Err(e) => return Err(e).context("reading CSV"),
        }
    }
}

fn body(
    record: &ByteRecord,
    columns: &Columns,
    default_batch: Option<&str>,
) -> Result<Vec<u8>, String> {
    let field = |index: usize, column: &str| -> Result<&str, String> {
        let bytes = record.get(index).ok_or_else(|| {
            format!(
                "missing the {column} column (the row has {} fields)",
                record.len()
            )
        })?;
        std::str::from_utf8(bytes).map_err(|_| format!("the {column} column is not UTF-8"))
    };
    let job_id = field(columns.job_id, "job_id")?;
    let name = field(columns.name, "name")?;
    let id_number = field(columns.id_number, "id_number")?;
    let optional = |index: Option<usize>, column: &str| -> Result<Option<&str>, String> {
        match index.and_then(|index| record.get(index).map(|_| index)) {
            Some(index) => Ok(Some(field(index, column)?).filter(|v| !v.is_empty())),
            None => Ok(None),
        }
    };
    let batch_id = optional(columns.batch_id, "batch_id")?;
    let batch_id = batch_id.or(default_batch).map(str::to_owned);
    let priority = optional(columns.priority, "priority")?;
    Ok(csv_body(job_id, name, id_number, batch_id, priority))
}
