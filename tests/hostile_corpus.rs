//! Every body in `tests/corpus/hostile/` meets the fate `EXPECTED.tsv` gives
//! it: `dead:<reason>` (not a job: dead-lettered with that reason),
//! `invalid[:<reason>]` (a job settled `invalid`, its reason stored, no
//! upstream call) or `valid` (a job worth a call). The bodies in
//! `hostile/message_id/` are published with the AMQP `message_id` their
//! manifest gives, to pin the fallbacks.
//!
//! `tests/corpus/generate.py` writes the `gen_*` boundary bodies; the others
//! are written by hand. The parsing rules alone are checked first, then the
//! whole corpus goes through a real worker (PostgreSQL, RabbitMQ, the mock).

#[path = "support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use id2meta::identity::Identity;
use id2meta::job::Job;
use id2meta::mock::MockConfig;
use id2meta::queue::{self, Publisher, REASON_HEADER};
use tokio_util::sync::CancellationToken;

use support::World;

const MANIFEST: &str = "EXPECTED.tsv";
const WITHIN: Duration = Duration::from_secs(120);

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/hostile")
}

/// One body: its file, the `message_id` it is published with, its expected fate.
struct Case {
    file: String,
    body: Vec<u8>,
    message_id: Option<String>,
    fate: String,
}

/// The fate of one body, in the manifest's notation (always with a reason).
fn fate(body: &[u8], message_id: Option<&str>) -> String {
    match Job::parse(body, message_id) {
        Err(not_a_job) => format!("dead:{}", not_a_job.reason()),
        Ok(job) => match &job.field_problem {
            Some(problem) => format!("invalid:{problem}"),
            None => match Identity::parse(job.name.expose(), job.id_number.expose()) {
                Ok(_) => "valid".to_owned(),
                Err(error) => format!("invalid:{}", error.code()),
            },
        },
    }
}

/// `invalid` without a reason accepts any reason.
fn meets(actual: &str, expected: &str) -> bool {
    actual == expected || (expected == "invalid" && actual.starts_with("invalid:"))
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .expect("a manifest")
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

fn corpus() -> Vec<Case> {
    let mut cases: Vec<Case> = lines(&corpus_dir().join(MANIFEST))
        .into_iter()
        .map(|line| {
            let (file, fate) = line.split_once('\t').expect("file<TAB>fate");
            Case {
                body: fs::read(corpus_dir().join(file)).expect("a corpus file"),
                file: file.to_owned(),
                message_id: None,
                fate: fate.to_owned(),
            }
        })
        .collect();
    let dir = corpus_dir().join("message_id");
    for line in lines(&dir.join(MANIFEST)) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [file, message_id, fate] = fields[..] else {
            panic!("file<TAB>message_id as JSON<TAB>fate: {line}");
        };
        cases.push(Case {
            body: fs::read(dir.join(file)).expect("a corpus file"),
            file: format!("message_id/{file}"),
            message_id: Some(serde_json::from_str(message_id).expect("a JSON string")),
            fate: fate.to_owned(),
        });
    }
    cases
}

#[test]
fn every_hostile_body_meets_its_expected_fate_by_the_parsing_rules() {
    let mut wrong = Vec::new();
    for case in corpus() {
        let actual = fate(&case.body, case.message_id.as_deref());
        if !meets(&actual, &case.fate) {
            wrong.push(format!(
                "{}: expected {}, got {actual}",
                case.file, case.fate
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_corpus_holds_at_least_200_bodies_each_listed_once() {
    let listed: Vec<String> = corpus().into_iter().map(|case| case.file).collect();
    assert!(listed.len() >= 200, "only {} bodies", listed.len());
    let unique: BTreeSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "a file is listed twice");
    let mut on_disk = BTreeSet::new();
    for (dir, prefix) in [
        (corpus_dir(), ""),
        (corpus_dir().join("message_id"), "message_id/"),
    ] {
        for entry in fs::read_dir(dir).expect("the corpus") {
            let entry = entry.expect("an entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            if name != MANIFEST && entry.file_type().expect("a type").is_file() {
                on_disk.insert(format!("{prefix}{name}"));
            }
        }
    }
    assert_eq!(on_disk, listed.iter().cloned().collect::<BTreeSet<_>>());
}

#[test]
fn the_corpus_covers_every_fate() {
    let fates: BTreeSet<String> = corpus().into_iter().map(|case| case.fate).collect();
    for needed in [
        "valid",
        "invalid:metadata_contains_nul",
        "invalid:metadata_too_large",
        "invalid:batch_id_invalid",
        "invalid:priority_invalid",
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_body_meets_its_expected_fate_through_the_real_worker() {
    let world = World::new(MockConfig::default()).await;
    let shutdown = CancellationToken::new();
    let worker = id2meta::app::start(world.config.clone(), shutdown.clone())
        .await
        .expect("the worker starts");
    let cases = corpus();
    let mut expected_dead: Vec<String> = Vec::new();
    // job_id → (file, fate) for the bodies that are jobs.
    let mut expected_rows: BTreeMap<String, (String, String)> = BTreeMap::new();
    let connection = queue::connect(&world.config.amqp_url, "corpus")
        .await
        .expect("broker");
    let publisher = Publisher::open(
        &connection,
        &world.config.results_exchange,
        &world.config.dead_letter_queue(),
    )
    .await
    .expect("publisher");
    for case in &cases {
        match case.fate.strip_prefix("dead:") {
            Some(reason) => expected_dead.push(reason.to_owned()),
            None => {
                let job = Job::parse(&case.body, case.message_id.as_deref())
                    .expect("a job by the manifest");
                let clash =
                    expected_rows.insert(job.job_id, (case.file.clone(), case.fate.clone()));
                assert!(clash.is_none(), "{} shares a job_id", case.file);
            }
        }
        let message_id = case.message_id.as_deref().unwrap_or("");
        publisher
            .publish_job(&world.config.jobs_queue, message_id, &case.body)
            .await
            .expect("published");
    }

    // Dead letters are compared by reason (their bodies may be sealed).
    let channel = connection.create_channel().await.expect("channel");
    let mut dead: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + WITHIN;
    while dead.len() < expected_dead.len() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} dead letters",
            dead.len()
        );
        for (_, properties) in
            support::queues::drain(&channel, &world.config.dead_letter_queue()).await
        {
            let reason = properties
                .headers()
                .as_ref()
                .and_then(|h| h.inner().get(REASON_HEADER).cloned())
                .and_then(|v| v.as_long_string().map(|s| s.to_string()))
                .unwrap_or_default();
            dead.push(reason);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    world
        .wait_for_rows(expected_rows.len() as i64, WITHIN)
        .await;
    shutdown.cancel();
    worker.wait().await.expect("the worker stops cleanly");

    dead.sort();
    expected_dead.sort();
    assert_eq!(dead, expected_dead);
    let rows = world.store.results(None, 10_000).await.expect("rows");
    assert_eq!(rows.len(), expected_rows.len(), "one row per job");
    let mut wrong = Vec::new();
    for row in &rows {
        let (file, fate) = &expected_rows[&row.job_id];
        let ok = match fate.split_once(':') {
            Some(("invalid", reason)) => {
                row.status == "invalid" && row.upstream_message.as_deref() == Some(reason)
            }
            None if fate == "invalid" => row.status == "invalid",
            _ => ["match", "mismatch", "not_found"].contains(&row.status.as_str()),
        };
        if !ok {
            wrong.push(format!(
                "{file}: expected {fate}, stored {} ({:?})",
                row.status, row.upstream_message
            ));
        }
        if fate.starts_with("invalid:") && !fate.ends_with("name_empty") {
            // Fields that made the job invalid are not echoed.
            if [
                "metadata_contains_nul",
                "metadata_too_large",
                "batch_id_invalid",
                "priority_invalid",
            ]
            .iter()
            .any(|r| fate.ends_with(r))
            {
                assert_eq!(row.metadata, None, "{file}: metadata kept");
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let valid = expected_rows.values().filter(|(_, f)| f == "valid").count();
    assert_eq!(
        world.mock.stats().calls,
        valid as u64,
        "only valid jobs are called"
    );
    assert_eq!(
        world.jobs_waiting().await,
        0,
        "nothing stays in the jobs queue"
    );
    let _ = connection.close(200, "done".into()).await;
    world.cleanup().await;
}
