//! Stdin's copy for `enqueue`'s second pass, sealed on disk.
//!
//! Stdin can be read only once, and `enqueue` reads its input twice (pass 1
//! checks every line and finds the repeated job_ids before anything is
//! published). The copy holds names and ID numbers. An unlinked temp file has no
//! name, but its blocks stay on the disk until reused (and may reach a swap
//! area, a snapshot or a backup of `/tmp`), so a plaintext copy would be PII at
//! rest. Each chunk is therefore sealed with ChaCha20-Poly1305 under a random
//! key that exists only in this process's memory: what reaches the disk is
//! ciphertext, unreadable once the command ends, however it ends.
//!
//! Layout: chunks of `u32` little-endian length then ciphertext; chunk `i` is
//! sealed with nonce `i` and the associated data `chunk`, and the copy ends
//! with an empty chunk sealed as `end`, so a copy cut short reads as an error,
//! never as a shorter input.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, ErrorKind, Read, Seek, SeekFrom, Write};

use anyhow::{anyhow, Context};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};

/// Plaintext bytes per sealed chunk (memory per pass: one chunk and its seal).
pub const CHUNK: usize = 64 * 1024;
/// Poly1305's tag, the only ciphertext of the final empty chunk.
const TAG: usize = 16;
const MIDDLE: &[u8] = b"chunk";
const END: &[u8] = b"end";

/// A sealed copy of a stream in an unlinked temp file.
pub struct Spool {
    file: File,
    cipher: ChaCha20Poly1305,
}

impl Spool {
    /// Copies `input` to a new unlinked temp file, sealed chunk by chunk.
    pub fn copy(mut input: impl Read) -> anyhow::Result<Spool> {
        let key: [u8; 32] = rand::random();
        let cipher = ChaCha20Poly1305::new(&key.into());
        let mut out = BufWriter::new(tempfile::tempfile().context("creating a temp file")?);
        let mut plain = vec![0u8; CHUNK];
        let mut index = 0u64;
        loop {
            let n = fill(&mut input, &mut plain)?;
            if n == 0 {
                break;
            }
            write_chunk(&mut out, &cipher, index, &plain[..n], MIDDLE)?;
            index += 1;
        }
        write_chunk(&mut out, &cipher, index, &[], END)?;
        let file = out
            .into_inner()
            .map_err(|e| anyhow!("{}", e.error()))
            .context("writing the temp file")?;
        Ok(Spool { file, cipher })
    }

    /// The copy from its start, opened.
    pub fn reader(&self) -> anyhow::Result<SpoolReader> {
        let mut file = self.file.try_clone().context("reopening the temp file")?;
        file.seek(SeekFrom::Start(0))
            .context("rewinding the temp file")?;
        Ok(SpoolReader {
            file: BufReader::new(file),
            cipher: self.cipher.clone(),
            index: 0,
            plain: Vec::new(),
            at: 0,
            ended: false,
        })
    }
}

/// Reads `buf` full unless the input ends first; returns the bytes read.
fn fill(input: &mut impl Read, buf: &mut [u8]) -> anyhow::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(read) => n += read,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("reading the input"),
        }
    }
    Ok(n)
}

fn nonce(index: u64) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&index.to_le_bytes());
    Nonce::from(bytes)
}

fn write_chunk(
    out: &mut impl Write,
    cipher: &ChaCha20Poly1305,
    index: u64,
    plain: &[u8],
    aad: &[u8],
) -> anyhow::Result<()> {
    let sealed = cipher
        .encrypt(&nonce(index), Payload { msg: plain, aad })
        .map_err(|_| anyhow!("sealing a chunk of the input"))?;
    // A chunk is at most CHUNK + TAG bytes: far below u32::MAX.
    let len = u32::try_from(sealed.len()).context("a sealed chunk's length")?;
    out.write_all(&len.to_le_bytes())
        .and_then(|()| out.write_all(&sealed))
        .context("writing the temp file")
}

/// Reads a [`Spool`] back as the plaintext it copied.
pub struct SpoolReader {
    file: BufReader<File>,
    cipher: ChaCha20Poly1305,
    index: u64,
    plain: Vec<u8>,
    at: usize,
    ended: bool,
}

impl SpoolReader {
    /// Opens the next chunk into `plain`; `false` once the end marker is read.
    fn next_chunk(&mut self) -> io::Result<bool> {
        let mut len = [0u8; 4];
        self.file.read_exact(&mut len).map_err(|e| altered(&e))?;
        let len = u32::from_le_bytes(len) as usize;
        if !(TAG..=CHUNK + TAG).contains(&len) {
            return Err(altered(&"a chunk of impossible length"));
        }
        let mut sealed = vec![0u8; len];
        self.file.read_exact(&mut sealed).map_err(|e| altered(&e))?;
        let aad = if len == TAG { END } else { MIDDLE };
        self.plain = self
            .cipher
            .decrypt(&nonce(self.index), Payload { msg: &sealed, aad })
            .map_err(|_| altered(&"a chunk that does not open"))?;
        self.index += 1;
        self.at = 0;
        Ok(len != TAG)
    }
}

fn altered(why: &dyn std::fmt::Display) -> io::Error {
    io::Error::new(
        ErrorKind::InvalidData,
        format!("the temp copy of stdin was cut short or altered ({why})"),
    )
}

impl Read for SpoolReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.plain.len() {
            if self.ended || !self.next_chunk()? {
                self.ended = true;
                return Ok(0);
            }
        }
        let n = out.len().min(self.plain.len() - self.at);
        out[..n].copy_from_slice(&self.plain[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
#[path = "spool_tests.rs"]
mod tests;
