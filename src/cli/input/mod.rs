//! Reading `enqueue`'s input: JSON Lines or CSV into message bodies, without a broker.
//!
//! Every line is checked with [`Job::parse`], the worker's own reading, so what is
//! refused here is exactly what the worker would dead-letter: it is reported by
//! line number and never published. A line the worker would store as `invalid`
//! (bad ID number, empty name) is a job and is published: that is the contract.
//!
//! The input holds names and ID numbers, so a report names the line and the
//! reason, never the line's content.
//!
//! Inputs of any size are read as streams, twice, in constant memory: [`index`]
//! (pass 1) checks every line and finds the repeated job_ids ([`duplicates`]);
//! [`replay`] (pass 2) hands over each line again, in order, as a job or a bad
//! line. Only one line (at most just over 16 KiB; a CSV row at most 1 MiB) and
//! the duplicate check's fixed buffers are held at a time.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::Context;
use serde_json::Value;

use crate::job::{Job, Priority};
use crate::secret::Pii;
use duplicates::DuplicateFinder;
pub use duplicates::Duplicates;

mod csv_rows;
pub mod duplicates;
mod json_lines;
mod line_marks;
mod sorted_runs;

/// How the input is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON job object a line (JSON Lines, also called NDJSON).
    Jsonl,
    /// `job_id,name,id_number[,batch_id][,priority]` with a header row.
    Csv,
}

impl Format {
    /// From a file's extension: `.csv`, or `.jsonl` / `.ndjson` / `.json`.
    pub fn from_path(path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            _ => None,
        }
    }

    /// From the content: JSON Lines when the first non-blank character is `{`.
    pub fn sniff(input: &[u8]) -> Format {
        match without_bom(input).iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Format::Jsonl,
            _ => Format::Csv,
        }
    }

    /// [`Format::sniff`] on a stream: reads up to the first non-blank byte.
    pub fn sniff_stream(input: impl Read) -> std::io::Result<Format> {
        let mut input = BufReader::new(input);
        skip_bom(&mut input)?;
        loop {
            let available = input.fill_buf()?;
            if available.is_empty() {
                return Ok(Format::Csv);
            }
            if let Some(first) = available.iter().find(|b| !b.is_ascii_whitespace()) {
                return Ok(if *first == b'{' {
                    Format::Jsonl
                } else {
                    Format::Csv
                });
            }
            let used = available.len();
            input.consume(used);
        }
    }
}

/// One job ready to publish.
#[derive(Clone, PartialEq)]
pub struct ParsedLine {
    /// 1-based line number in the input (0 for jobs that did not come from a file).
    pub line: usize,
    pub job_id: String,
    /// The batch as the worker will read it from `body`.
    pub batch_id: Option<String>,
    /// The message body; holds the plaintext name and ID number.
    pub body: Vec<u8>,
    /// The priority the worker will read from `body`: `enqueue` publishes an
    /// interactive job to the interactive queue, so it overtakes the backlog.
    pub priority: Priority,
}

impl ParsedLine {
    /// A job built in code (the demo, tests), as `enqueue` would publish it.
    pub fn from_job(line: usize, job: &Job) -> ParsedLine {
        ParsedLine {
            line,
            job_id: job.job_id.clone(),
            batch_id: job.batch_id.clone(),
            body: job.to_body(),
            priority: job.priority,
        }
    }
}

impl fmt::Debug for ParsedLine {
    // The body holds personal data: show its size only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedLine")
            .field("line", &self.line)
            .field("job_id", &self.job_id)
            .field("batch_id", &self.batch_id)
            .field("priority", &self.priority)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// A line that is not a job; `reason` never quotes the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// What a whole input came to (the in-memory form, for tests and small inputs).
#[derive(Debug, Default)]
pub struct Input {
    pub jobs: Vec<ParsedLine>,
    pub bad: Vec<BadLine>,
}

/// What pass 1 learnt of an input.
pub struct Index {
    /// Lines that are jobs, duplicates included.
    pub jobs: u64,
    /// Lines that are not jobs (duplicates not included).
    pub bad: u64,
    pub duplicates: Duplicates,
}

impl Index {
    /// Jobs pass 2 will hand over: every job line but the duplicates.
    pub fn to_publish(&self) -> u64 {
        self.jobs.saturating_sub(self.duplicates.count())
    }

    /// Lines pass 2 will report.
    pub fn bad_lines(&self) -> u64 {
        self.bad + self.duplicates.count()
    }
}

/// Pass 1: reads the whole input once, checks every line, and finds the lines
/// whose job_id repeats an earlier line's, in constant memory ([`duplicates`]).
///
/// Errors only when the input as a whole cannot be read (a CSV header without the
/// required columns, an I/O error).
pub fn index(input: impl Read, format: Format, batch_id: Option<&str>) -> anyhow::Result<Index> {
    let mut finder = DuplicateFinder::default();
    let (mut jobs, mut bad) = (0u64, 0u64);
    scan(input, format, batch_id, |line, parsed| {
        match parsed {
            Ok(job) => {
                jobs += 1;
                finder.add(line, &job.job_id).context("indexing job_ids")?;
            }
            Err(_) => bad += 1,
        }
        Ok(())
    })?;
    let duplicates = finder.finish().context("sorting job_ids")?;
    Ok(Index {
        jobs,
        bad,
        duplicates,
    })
}

/// Pass 2: reads the same input again and hands over each line in order, a job
/// to publish or a [`BadLine`] (a repeated job_id is one, naming the first line).
pub fn replay(
    input: impl Read,
    format: Format,
    batch_id: Option<&str>,
    duplicates: &mut Duplicates,
    mut visit: impl FnMut(Result<ParsedLine, BadLine>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    scan(input, format, batch_id, |line, parsed| match parsed {
        Err(reason) => visit(Err(BadLine { line, reason })),
        Ok(job) => match duplicates
            .first_line_of(line)
            .context("reading duplicates")?
        {
            Some(first) => visit(Err(BadLine {
                line,
                reason: format!("duplicate job_id of line {first}"),
            })),
            None => visit(Ok(job)),
        },
    })
}

/// Reads a whole input held in memory: both passes, collected.
pub fn read_jobs(input: &[u8], format: Format, batch_id: Option<&str>) -> anyhow::Result<Input> {
    let mut index = index(input, format, batch_id)?;
    let mut read = Input::default();
    replay(input, format, batch_id, &mut index.duplicates, |line| {
        match line {
            Ok(job) => read.jobs.push(job),
            Err(bad) => read.bad.push(bad),
        }
        Ok(())
    })?;
    Ok(read)
}

/// Every line of the input, checked alone, in order: `visit(line, job or reason)`.
fn scan(
    input: impl Read,
    format: Format,
    batch_id: Option<&str>,
    mut visit: impl FnMut(usize, Result<ParsedLine, String>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut check = |line: usize, body: Result<Vec<u8>, String>| visit(line, checked(line, body));
    let mut input = BufReader::with_capacity(64 * 1024, input);
    skip_bom(&mut input).context("reading the input")?;
    match format {
        Format::Jsonl => json_lines::read(input, batch_id, &mut check),
        Format::Csv => csv_rows::read(input, batch_id, &mut check),
    }
}

/// A body as the worker will read it: a job, or why not.
fn checked(line: usize, body: Result<Vec<u8>, String>) -> Result<ParsedLine, String> {
    let body = body?;
    match Job::parse(&body, None) {
        Ok(job) => Ok(ParsedLine {
            line,
            job_id: job.job_id,
            batch_id: job.batch_id,
            body,
            priority: job.priority,
        }),
        Err(not_a_job) => Err(not_a_job.to_string()),
    }
}

/// A CSV row's body: built like the demo's, then checked like any other. The
/// priority is copied as written: an unknown one makes the job `invalid` at the
/// worker, as the same value in a JSON line would.
fn csv_body(
    job_id: &str,
    name: &str,
    id_number: &str,
    batch_id: Option<String>,
    priority: Option<&str>,
) -> Vec<u8> {
    let body = Job::new(job_id, Pii::new(name), Pii::new(id_number), batch_id, None).to_body();
    match priority {
        None => body,
        Some(priority) => insert_first_field(&body, "priority", priority),
    }
}

/// `{...}` with `"key":"value",` added right after the opening brace.
fn insert_first_field(object: &[u8], key: &str, value: &str) -> Vec<u8> {
    // Callers pass a parsed, non-empty object; anything else is returned as is
    // rather than indexed past its end.
    let Some(brace) = object.iter().position(|b| *b == b'{') else {
        return object.to_vec();
    };
    let field = format!("{}:{},", Value::from(key), Value::from(value));
    let mut body = Vec::with_capacity(object.len() + field.len());
    body.extend_from_slice(&object[..=brace]);
    body.extend_from_slice(field.as_bytes());
    body.extend_from_slice(&object[brace + 1..]);
    body
}

fn without_bom(input: &[u8]) -> &[u8] {
    input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input)
}

/// Consumes a UTF-8 byte-order mark at the start, if there is one.
fn skip_bom(input: &mut impl BufRead) -> std::io::Result<()> {
    let mut start = [0u8; 3];
    let mut have = 0;
    while have < 3 {
        let available = input.fill_buf()?;
        if available.is_empty() {
            break;
        }
        let take = available.len().min(3 - have);
        start[have..have + take].copy_from_slice(&available[..take]);
        if start[..have + take] != b"\xEF\xBB\xBF"[..have + take] {
            return Ok(());
        }
        input.consume(take);
        have += take;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
