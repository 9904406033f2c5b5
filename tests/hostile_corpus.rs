//! Every body in `tests/corpus/hostile/` meets the fate `EXPECTED.tsv` gives
//! it: `dead:<reason>` (not a job), `invalid` (a job settled without an
//! upstream call) or `valid` (a job worth a call).
//!
//! The same corpus is fed through the real worker by the end-to-end tests;
//! this test pins what the parsing rules alone decide.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use id2meta::identity::Identity;
use id2meta::job::Job;

const MANIFEST: &str = "EXPECTED.tsv";

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/hostile")
}

/// The fate of one body, in the manifest's notation.
fn fate(body: &[u8]) -> String {
    match Job::parse(body, None) {
        Err(not_a_job) => format!("dead:{}", not_a_job.reason()),
        Ok(job) if job.field_problem.is_some() => "invalid".to_owned(),
        Ok(job) => match Identity::parse(job.name.expose(), job.id_number.expose()) {
            Ok(_) => "valid".to_owned(),
            Err(_) => "invalid".to_owned(),
        },
    }
}

fn manifest() -> Vec<(String, String)> {
    let text = fs::read_to_string(corpus_dir().join(MANIFEST)).unwrap();
    text.lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (file, fate) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("no tab: {line}"));
            (file.to_owned(), fate.to_owned())
        })
        .collect()
}

#[test]
fn every_hostile_body_meets_its_expected_fate() {
    let mut wrong = Vec::new();
    for (file, expected) in manifest() {
        let body = fs::read(corpus_dir().join(&file)).unwrap();
        let actual = fate(&body);
        if actual != expected {
            wrong.push(format!("{file}: expected {expected}, got {actual}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_manifest_lists_every_file_in_the_corpus_once() {
    let listed: Vec<String> = manifest().into_iter().map(|(file, _)| file).collect();
    let unique: BTreeSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "a file is listed twice");
    let on_disk: BTreeSet<String> = fs::read_dir(corpus_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != MANIFEST)
        .collect();
    assert_eq!(on_disk, listed.iter().cloned().collect::<BTreeSet<_>>());
}

#[test]
fn the_corpus_covers_every_fate() {
    let fates: BTreeSet<String> = manifest().into_iter().map(|(_, fate)| fate).collect();
    for needed in [
        "valid",
        "invalid",
        "dead:too_large",
        "dead:not_utf8",
        "dead:not_json",
        "dead:not_an_object",
        "dead:duplicate_key",
        "dead:missing_job_id",
        "dead:invalid_job_id",
        "dead:wrong_type",
    ] {
        assert!(fates.contains(needed), "no body is {needed}");
    }
}
