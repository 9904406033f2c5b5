//! How an input is written ([`Format`]): told by its file name or sniffed from
//! its first bytes, and the UTF-8 byte-order mark either way may start with,
//! apart from the reading so the choice of reader is decided in one place.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

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

/// The input without a leading UTF-8 byte-order mark.
fn without_bom(input: &[u8]) -> &[u8] {
    input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input)
}

/// Consumes a UTF-8 byte-order mark at the start, if there is one.
pub(super) fn skip_bom(input: &mut impl BufRead) -> std::io::Result<()> {
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
