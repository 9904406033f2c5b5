//! An external sort of fixed-width records, in a fixed amount of memory.
//!
//! Records are byte arrays compared as bytes (callers write numbers big-endian, so
//! byte order is numeric order). Up to [`RunSorter::new`]'s budget they stay in
//! memory; beyond it each full buffer is sorted and written to an anonymous temp
//! file (a *run*, unlinked at creation, so nothing is left behind even on a crash),
//! and the runs are merged [`FAN_IN`] at a time until one merge yields them all in
//! order. Memory: the buffer, plus [`FAN_IN`] read buffers while merging, whatever
//! the number of records.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

/// Runs merged at once: 64 read buffers of [`READ_BUFFER`] bytes.
pub const FAN_IN: usize = 64;
const READ_BUFFER: usize = 32 * 1024;

/// Collects records, then hands them back sorted.
pub struct RunSorter<const W: usize> {
    buffer: Vec<[u8; W]>,
    capacity: usize,
    runs: Vec<File>,
}

impl<const W: usize> RunSorter<W> {
    /// A sorter keeping at most `budget_bytes` of records in memory (at least one).
    pub fn new(budget_bytes: usize) -> Self {
        let capacity = (budget_bytes / W.max(1)).max(1);
        RunSorter {
            // Reserved whole (untouched pages cost no memory until filled), so the
            // buffer never reallocates and never holds two copies of itself.
            buffer: Vec::with_capacity(capacity),
            capacity,
            runs: Vec::new(),
        }
    }

    pub fn push(&mut self, record: [u8; W]) -> io::Result<()> {
        if self.buffer.len() >= self.capacity {
            self.spill()?;
        }
        self.buffer.push(record);
        Ok(())
    }

    /// Every record pushed, in byte order (equal records all kept).
    pub fn finish(mut self) -> io::Result<Sorted<W>> {
        if self.runs.is_empty() {
            self.buffer.sort_unstable();
            return Ok(Sorted::Memory(std::mem::take(&mut self.buffer).into_iter()));
        }
        if !self.buffer.is_empty() {
            self.spill()?;
        }
        self.buffer = Vec::new();
        let mut runs = std::mem::take(&mut self.runs);
        while runs.len() > FAN_IN {
            let mut merged = Vec::with_capacity(runs.len().div_ceil(FAN_IN));
            let mut rest = runs.into_iter();
            loop {
                let group: Vec<File> = rest.by_ref().take(FAN_IN).collect();
                if group.is_empty() {
                    break;
                }
                merged.push(write_run(Merge::<W>::open(group)?)?);
            }
            runs = merged;
        }
        Ok(Sorted::Merge(Merge::open(runs)?))
    }

    fn spill(&mut self) -> io::Result<()> {
        self.buffer.sort_unstable();
        let records = self.buffer.drain(..).map(Ok);
        let run = write_run(records)?;
        self.runs.push(run);
        Ok(())
    }
}

/// Writes records to a new anonymous file, rewound for reading.
fn write_run<const W: usize>(
    records: impl Iterator<Item = io::Result<[u8; W]>>,
) -> io::Result<File> {
    let mut out = BufWriter::new(tempfile::tempfile()?);
    for record in records {
        out.write_all(&record?)?;
    }
    let mut file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(file)
}

/// The records in order.
pub enum Sorted<const W: usize> {
    Memory(std::vec::IntoIter<[u8; W]>),
    Merge(Merge<W>),
}

impl<const W: usize> Iterator for Sorted<W> {
    type Item = io::Result<[u8; W]>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Sorted::Memory(records) => records.next().map(Ok),
            Sorted::Merge(merge) => merge.next(),
        }
    }
}

/// A k-way merge of sorted runs: the smallest head first.
pub struct Merge<const W: usize> {
    readers: Vec<BufReader<File>>,
    heads: BinaryHeap<Reverse<([u8; W], usize)>>,
    failed: bool,
}

impl<const W: usize> Merge<W> {
    fn open(runs: Vec<File>) -> io::Result<Self> {
        let mut merge = Merge {
            readers: runs
                .into_iter()
                .map(|run| BufReader::with_capacity(READ_BUFFER, run))
                .collect(),
            heads: BinaryHeap::new(),
            failed: false,
        };
        for index in 0..merge.readers.len() {
            merge.refill(index)?;
        }
        Ok(merge)
    }

    fn refill(&mut self, index: usize) -> io::Result<()> {
        let Some(reader) = self.readers.get_mut(index) else {
            return Ok(());
        };
        let mut record = [0u8; W];
        match reader.read_exact(&mut record) {
            Ok(()) => {
                self.heads.push(Reverse((record, index)));
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl<const W: usize> Iterator for Merge<W> {
    type Item = io::Result<[u8; W]>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let Reverse((record, index)) = self.heads.pop()?;
        if let Err(e) = self.refill(index) {
            self.failed = true;
            return Some(Err(e));
        }
        Some(Ok(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(values: &[u32], budget_bytes: usize) -> Vec<u32> {
        let mut sorter = RunSorter::<4>::new(budget_bytes);
        for v in values {
            sorter.push(v.to_be_bytes()).unwrap();
        }
        sorter
            .finish()
            .unwrap()
            .map(|r| u32::from_be_bytes(r.unwrap()))
            .collect()
    }

    fn scrambled(n: u32) -> Vec<u32> {
        // A fixed permutation with repeats: i * 7919 mod n, then every tenth value twice.
        let mut values: Vec<u32> = (0..n).map(|i| (i * 7919) % n).collect();
        values.extend((0..n).step_by(10));
        values
    }

    #[test]
    fn records_that_fit_in_memory_come_back_sorted_with_repeats_kept() {
        let values = scrambled(1000);
        let mut expected = values.clone();
        expected.sort_unstable();
        assert_eq!(sorted(&values, 1 << 20), expected);
    }

    #[test]
    fn records_spilled_to_many_runs_merge_in_order_even_beyond_the_fan_in() {
        // 4-byte records, 16 per run: 5,500 records make 344 runs, merged in two rounds.
        let values = scrambled(5000);
        let mut expected = values.clone();
        expected.sort_unstable();
        assert_eq!(sorted(&values, 64), expected);
    }

    #[test]
    fn nothing_pushed_is_nothing_returned() {
        assert!(sorted(&[], 64).is_empty());
    }
}
