//! Reading `enqueue`'s input: JSON Lines or CSV into message bodies, without a broker.
//!
//! Every line is checked with [`Job::parse`], the worker's own reading, so what is
//! refused here is exactly what the worker would dead-letter: it is reported by
//! line number and never published. A line the worker would store as `invalid`
//! (bad ID number, empty name) is a job and is published: that is the contract.
//!
//! The input holds names and ID numbers, so a report names the line and the
//! reason, never the line's content.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde_json::Value;

use crate::job::{Job, Priority};
use crate::secret::Pii;

mod csv_rows;

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

/// What an input came to.
#[derive(Debug, Default)]
pub struct Input {
    pub jobs: Vec<ParsedLine>,
    pub bad: Vec<BadLine>,
}

/// Reads a whole input. `batch_id` is given to jobs that have none.
///
/// Errors only when the input as a whole cannot be read (a CSV header without the
/// required columns); a bad line is a [`BadLine`].
pub fn read_jobs(input: &[u8], format: Format, batch_id: Option<&str>) -> anyhow::Result<Input> {
    let mut checker = Checker::default();
    let input = without_bom(input);
    match format {
        Format::Jsonl => {
            for (index, line) in input.split(|b| *b == b'\n').enumerate() {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if !line.iter().all(u8::is_ascii_whitespace) {
                    checker.check(index + 1, json_line(line, batch_id));
                }
            }
        }
        Format::Csv => csv_rows::read(input, batch_id, &mut checker)?,
    }
    Ok(checker.input)
}

/// Validates bodies and refuses a job_id seen on an earlier line.
#[derive(Default)]
struct Checker {
    input: Input,
    first_line_of: HashMap<String, usize>,
}

impl Checker {
    fn check(&mut self, line: usize, body: Result<Vec<u8>, String>) {
        let parsed = body.and_then(|body| match Job::parse(&body, None) {
            Ok(job) => Ok((job, body)),
            Err(not_a_job) => Err(not_a_job.to_string()),
        });
        match parsed {
            Err(reason) => self.input.bad.push(BadLine { line, reason }),
            Ok((job, body)) => {
                if let Some(first) = self.first_line_of.get(&job.job_id) {
                    let reason = format!("duplicate job_id of line {first}");
                    self.input.bad.push(BadLine { line, reason });
                    return;
                }
                self.first_line_of.insert(job.job_id.clone(), line);
                self.input.jobs.push(ParsedLine {
                    line,
                    job_id: job.job_id,
                    batch_id: job.batch_id,
                    priority: job.priority,
                    body,
                });
            }
        }
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

/// One JSON Lines line, with `batch_id` added when the object has none.
fn json_line(line: &[u8], batch_id: Option<&str>) -> Result<Vec<u8>, String> {
    // First as the worker would read the line itself: a line that is not a job
    // is reported as such, whatever --batch-id says.
    Job::parse(line, None).map_err(|e| e.to_string())?;
    let Some(batch_id) = batch_id else {
        return Ok(line.to_vec());
    };
    let mut object: serde_json::Map<String, Value> =
        serde_json::from_slice(line).map_err(|_| "body is not JSON".to_string())?;
    match object.get("batch_id") {
        Some(Value::Null) => {
            object.insert("batch_id".into(), batch_id.into());
            Ok(Value::Object(object).to_string().into_bytes())
        }
        Some(_) => Ok(line.to_vec()),
        // Inserted as text, so the rest of the line (numbers in metadata
        // especially) reaches the worker byte for byte. The object is not
        // empty: it has a job_id.
        None => Ok(insert_first_field(line, "batch_id", batch_id)),
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

#[cfg(test)]
mod tests;
