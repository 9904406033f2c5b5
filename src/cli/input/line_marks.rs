//! Line numbers of CSV records read from a stream.
//!
//! csv's own line count lags by one after a `\r\n` (it takes the `\n` as the start
//! of the next record), so the line a record starts on is counted from the bytes:
//! the newlines before the record's first byte. The reader below passes the input
//! to csv and remembers where each `\r` and `\n` is, from the start of the record
//! last numbered on, so memory stays the size of one row plus csv's buffer. A row
//! longer than [`MAX_ROW_BYTES`] ends the input with an error (a job is at most
//! 16 KiB anyway), which also bounds that memory.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::rc::Rc;

/// The longest CSV row (from its start to the next row) read before giving up.
pub const MAX_ROW_BYTES: u64 = 1024 * 1024;

#[derive(Default)]
struct Marks {
    /// Bytes passed to csv so far.
    read: u64,
    /// Where the last numbered record starts; breaks before it are counted only.
    window_start: u64,
    newlines_before_window: u64,
    /// Offsets of the `\r` and `\n` bytes at or after `window_start`, and which.
    breaks: VecDeque<(u64, u8)>,
}

/// The reading end, given to csv.
pub struct MarkedReader<R> {
    inner: R,
    marks: Rc<RefCell<Marks>>,
}

/// The numbering end, kept by the caller.
pub struct LineNumbers {
    marks: Rc<RefCell<Marks>>,
}

pub fn marked<R: Read>(inner: R) -> (MarkedReader<R>, LineNumbers) {
    let marks = Rc::new(RefCell::new(Marks::default()));
    (
        MarkedReader {
            inner,
            marks: marks.clone(),
        },
        LineNumbers { marks },
    )
}

impl<R: Read> Read for MarkedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut marks = self.marks.borrow_mut();
        if marks.read.saturating_sub(marks.window_start) > MAX_ROW_BYTES {
            let place = if marks.window_start == 0 {
                "in the header row".to_string()
            } else {
                format!("after line {}", marks.newlines_before_window + 1)
            };
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a CSV row longer than {} MiB {place}", MAX_ROW_BYTES >> 20),
            ));
        }
        let n = self.inner.read(buf)?;
        let start = marks.read;
        for (offset, byte) in buf[..n].iter().enumerate() {
            if matches!(byte, b'\r' | b'\n') {
                marks.breaks.push_back((start + offset as u64, *byte));
            }
        }
        marks.read += n as u64;
        Ok(n)
    }
}

impl LineNumbers {
    /// The 1-based line of the first byte that is not a line break at or after
    /// `record_start`. Records must be numbered in the order they are read.
    pub fn line_of(&self, record_start: u64) -> usize {
        let mut marks = self.marks.borrow_mut();
        while let Some(&(offset, byte)) = marks.breaks.front() {
            if offset >= record_start {
                break;
            }
            if byte == b'\n' {
                marks.newlines_before_window += 1;
            }
            marks.breaks.pop_front();
        }
        marks.window_start = marks.window_start.max(record_start);
        let mut leading = 0;
        for (expected, &(offset, byte)) in (record_start..).zip(marks.breaks.iter()) {
            if offset != expected {
                break;
            }
            leading += u64::from(byte == b'\n');
        }
        usize::try_from(1 + marks.newlines_before_window + leading).unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_counts_the_newlines_before_the_first_byte_of_its_record() {
        let input = b"h\r\na\r\n\r\nb\nc";
        let (mut reader, numbers) = marked(&input[..]);
        let mut all = Vec::new();
        reader.read_to_end(&mut all).unwrap();
        // "a" starts at 3; "b" (line 4, after a blank line) may be reported from
        // offset 5, the `\n` of a's `\r\n`; "c" starts at 10.
        assert_eq!(numbers.line_of(3), 2);
        assert_eq!(numbers.line_of(5), 4);
        assert_eq!(numbers.line_of(10), 5);
    }
}
