//! The duplicate job_id check of `enqueue`, in constant memory at any input size.
//!
//! Pass 1 adds every valid line's job_id as a fixed 24-byte record: a 128-bit
//! fingerprint (HMAC-SHA256 under a key drawn at random for this run, truncated)
//! and the line number. The records are sorted externally ([`RunSorter`]), so equal
//! fingerprints meet, lowest line first: that line is the job's first appearance,
//! every later one a duplicate of it. The duplicates, as (line, first line) pairs,
//! are sorted again by line, and pass 2 reads them in step with the input.
//! Memory is the sorters' budgets whatever the input; disk is 24 bytes per job
//! plus 16 per duplicate, in unlinked temp files.
//!
//! Fingerprints instead of job_ids keep the records fixed-width and free of user
//! data. Two different job_ids collide with probability 2^-128 per pair under a
//! secret random key (no input can aim for a collision): for n jobs, at most
//! n²/2^129, about 1.5·10^-25 at ten million lines. A collision would report a
//! line as a duplicate (and not publish it): it is never silent.

use std::io;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::sorted_runs::{RunSorter, Sorted};

/// Memory for the fingerprints of pass 1 (about 350,000 lines a run).
const FINGERPRINT_BUDGET: usize = 8 * 1024 * 1024;
/// Memory for the duplicates found, before they spill to disk.
const DUPLICATE_BUDGET: usize = 1024 * 1024;

/// Pass 1's side: fingerprints every job_id with its line.
pub struct DuplicateFinder {
    mac: Hmac<Sha256>,
    records: RunSorter<24>,
}

impl Default for DuplicateFinder {
    fn default() -> Self {
        let key: [u8; 32] = rand::random();
        DuplicateFinder {
            mac: <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
                .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length")),
            records: RunSorter::new(FINGERPRINT_BUDGET),
        }
    }
}

impl DuplicateFinder {
    /// Lines must come in increasing order (each line once).
    pub fn add(&mut self, line: usize, job_id: &str) -> io::Result<()> {
        let mut mac = self.mac.clone();
        mac.update(job_id.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut record = [0u8; 24];
        record[..16].copy_from_slice(&digest[..16]);
        record[16..].copy_from_slice(&(line as u64).to_be_bytes());
        self.records.push(record)
    }

    /// Every line whose job_id appeared on an earlier line, in line order.
    pub fn finish(self) -> io::Result<Duplicates> {
        let mut found = RunSorter::<16>::new(DUPLICATE_BUDGET);
        let mut count = 0u64;
        let mut first: Option<([u8; 16], u64)> = None;
        for record in self.records.finish()? {
            let record = record?;
            let (fingerprint, line) = split(&record);
            match first {
                Some((seen, first_line)) if seen == fingerprint => {
                    let mut pair = [0u8; 16];
                    pair[..8].copy_from_slice(&line.to_be_bytes());
                    pair[8..].copy_from_slice(&first_line.to_be_bytes());
                    found.push(pair)?;
                    count += 1;
                }
                _ => first = Some((fingerprint, line)),
            }
        }
        Ok(Duplicates {
            sorted: found.finish()?,
            next: None,
            count,
        })
    }
}

fn split(record: &[u8; 24]) -> ([u8; 16], u64) {
    let mut fingerprint = [0u8; 16];
    fingerprint.copy_from_slice(&record[..16]);
    let mut line = [0u8; 8];
    line.copy_from_slice(&record[16..]);
    (fingerprint, u64::from_be_bytes(line))
}

/// Pass 2's side: the duplicate lines, in order.
pub struct Duplicates {
    sorted: Sorted<16>,
    next: Option<(u64, u64)>,
    count: u64,
}

impl Duplicates {
    /// How many lines repeat an earlier job_id.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The first line of `line`'s job_id if `line` repeats it. Ask in increasing
    /// line order: the list is read once, front to back.
    pub fn first_line_of(&mut self, line: usize) -> io::Result<Option<usize>> {
        let line = line as u64;
        loop {
            if self.next.is_none() {
                self.next = match self.sorted.next() {
                    None => return Ok(None),
                    Some(pair) => {
                        let pair = pair?;
                        let (mut a, mut b) = ([0u8; 8], [0u8; 8]);
                        a.copy_from_slice(&pair[..8]);
                        b.copy_from_slice(&pair[8..]);
                        Some((u64::from_be_bytes(a), u64::from_be_bytes(b)))
                    }
                };
            }
            match self.next {
                Some((duplicate, first)) if duplicate == line => {
                    self.next = None;
                    return Ok(Some(usize::try_from(first).unwrap_or(usize::MAX)));
                }
                Some((duplicate, _)) if duplicate < line => self.next = None,
                _ => return Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_repeat_names_the_first_line_of_its_job_id_however_far_apart() {
        let mut finder = DuplicateFinder::default();
        let ids = |line: usize| match line {
            7 | 90_000 | 199_999 => "same".to_string(),
            150_000 => "job-3".to_string(),
            n => format!("job-{n}"),
        };
        for line in 1..200_000 {
            finder.add(line, &ids(line)).unwrap();
        }
        let mut duplicates = finder.finish().unwrap();
        assert_eq!(duplicates.count(), 3);
        let found: Vec<(usize, usize)> = (1..200_000)
            .filter_map(|line| duplicates.first_line_of(line).unwrap().map(|f| (line, f)))
            .collect();
        assert_eq!(found, [(90_000, 7), (150_000, 3), (199_999, 7)]);
    }

    #[test]
    fn distinct_job_ids_have_no_duplicates() {
        let mut finder = DuplicateFinder::default();
        for line in 1..1000 {
            finder.add(line, &format!("j{line}")).unwrap();
        }
        let mut duplicates = finder.finish().unwrap();
        assert_eq!(duplicates.count(), 0);
        assert_eq!(duplicates.first_line_of(5).unwrap(), None);
    }
}
