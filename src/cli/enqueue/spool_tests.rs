use std::io::{Read, Seek, SeekFrom, Write};

use super::*;

fn raw(spool: &Spool) -> Vec<u8> {
    let mut file = spool.file.try_clone().unwrap();
    file.seek(SeekFrom::Start(0)).unwrap();
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).unwrap();
    bytes
}

fn read_back(spool: &Spool) -> std::io::Result<Vec<u8>> {
    let mut plain = Vec::new();
    spool.reader().unwrap().read_to_end(&mut plain)?;
    Ok(plain)
}

/// `len` bytes of JSON Lines jobs, each with a name and an ID number.
fn jobs(len: usize) -> Vec<u8> {
    let line = "{\"job_id\":\"j\",\"name\":\"张三\",\"id_number\":\"11010519491231002X\"}\n";
    line.bytes().cycle().take(len).collect()
}

#[test]
fn a_copy_reads_back_byte_for_byte_at_every_chunk_boundary() {
    for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5] {
        let input = jobs(len);
        let spool = Spool::copy(input.as_slice()).unwrap();
        assert_eq!(read_back(&spool).unwrap(), input, "{len} bytes");
        // Twice: each pass opens its own reader.
        assert_eq!(read_back(&spool).unwrap(), input, "{len} bytes, again");
    }
}

#[test]
fn the_copy_on_disk_holds_no_name_or_id_number() {
    let input = jobs(2 * CHUNK + 100);
    let spool = Spool::copy(input.as_slice()).unwrap();
    let disk = raw(&spool);
    for needle in [
        "11010519491231002X".as_bytes(),
        "张三".as_bytes(),
        b"id_number",
    ] {
        assert!(
            !disk.windows(needle.len()).any(|w| w == needle),
            "plaintext on disk"
        );
    }
}

#[test]
fn an_altered_byte_is_an_error_not_different_input() {
    let spool = Spool::copy(jobs(1000).as_slice()).unwrap();
    let flipped = raw(&spool)[10] ^ 1;
    // The clone shares the file's offset: seek after reading.
    let mut file = spool.file.try_clone().unwrap();
    file.seek(SeekFrom::Start(10)).unwrap();
    file.write_all(&[flipped]).unwrap();
    let error = read_back(&spool).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
}

#[test]
fn a_copy_cut_short_is_an_error_not_a_shorter_input() {
    let spool = Spool::copy(jobs(CHUNK + 10).as_slice()).unwrap();
    let full = raw(&spool).len() as u64;
    // Without the end marker, then without the last chunk and the marker.
    for cut in [full - (4 + TAG as u64), 4 + (CHUNK + TAG) as u64] {
        spool.file.set_len(cut).unwrap();
        let error = read_back(&spool).unwrap_err();
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::InvalidData,
            "cut at {cut}"
        );
    }
}
