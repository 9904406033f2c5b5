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
use std::io::{BufReader, Read};

use anyhow::Context;

use crate::job::{Job, Priority};
use duplicates::DuplicateFinder;
pub use duplicates::Duplicates;
use format::skip_bom;
pub use format::Format;

mod bodies;
mod csv_rows;
pub mod duplicates;
mod format;
mod json_lines;
mod line_marks;
mod sorted_runs;

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

#[cfg(test)]
mod tests;
