//! JSON Lines input, read a line at a time. A line is kept only up to just past
//! the 16 KiB a job may be: a longer one is reported as too large without being
//! held, so memory stays bounded whatever the input holds.

use std::io::{self, BufRead};

use anyhow::Context;
use serde_json::Value;

use super::bodies::insert_first_field;
use crate::job::{Job, NotAJob, MAX_BODY_BYTES};

/// Bytes of a line kept: the largest body, a `\r`, and one more to see it is over.
const KEPT: usize = MAX_BODY_BYTES + 2;

pub(super) fn read(
    mut input: impl BufRead,
    batch_id: Option<&str>,
    check: &mut dyn FnMut(usize, Result<Vec<u8>, String>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut line = Vec::with_capacity(1024);
    let mut number = 0usize;
    while let Some(whole) = next_line(&mut input, &mut line).context("reading the input")? {
        number += 1;
        let kept = line.strip_suffix(b"\r").unwrap_or(&line);
        if whole.blank {
            continue;
        }
        let body = if whole.too_long {
            Err(NotAJob::TooLarge.to_string())
        } else {
            json_line(kept, batch_id)
        };
        check(number, body)?;
    }
    Ok(())
}

/// What [`next_line`] saw of the whole line.
struct Whole {
    /// Only white space (a blank line is skipped).
    blank: bool,
    /// Longer than [`KEPT`]: `line` holds its start only.
    too_long: bool,
}

/// The next line (without its `\n`) into `line`; `None` at the end of the input.
fn next_line(input: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<Option<Whole>> {
    line.clear();
    let mut whole = Whole {
        blank: true,
        too_long: false,
    };
    let mut any = false;
    loop {
        let available = input.fill_buf()?;
        if available.is_empty() {
            return Ok(any.then_some(whole));
        }
        any = true;
        let (part, used, done) = match available.iter().position(|b| *b == b'\n') {
            Some(end) => (&available[..end], end + 1, true),
            None => (available, available.len(), false),
        };
        whole.blank &= part.iter().all(u8::is_ascii_whitespace);
        let room = KEPT.saturating_sub(line.len());
        if part.len() > room {
            whole.too_long = true;
        }
        line.extend_from_slice(&part[..part.len().min(room)]);
        input.consume(used);
        if done {
            return Ok(Some(whole));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<(bool, bool, usize)> {
        let mut input = io::BufReader::with_capacity(7, input);
        let mut line = Vec::new();
        let mut seen = Vec::new();
        while let Some(whole) = next_line(&mut input, &mut line).unwrap() {
            seen.push((whole.blank, whole.too_long, line.len()));
        }
        seen
    }

    #[test]
    fn lines_are_read_across_buffer_ends_and_a_long_one_is_kept_short() {
        let mut input = b"{\"a\":1}\n  \r\n".to_vec();
        input.extend(vec![b'x'; KEPT + 10]);
        input.extend_from_slice(b"\nlast");
        assert_eq!(
            lines(&input),
            [
                (false, false, 7),
                (true, false, 3),
                (false, true, KEPT),
                (false, false, 4)
            ]
        );
        assert_eq!(lines(b"a\n"), [(false, false, 1)]);
        assert!(lines(b"").is_empty());
    }
}
