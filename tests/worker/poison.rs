//! Messages that are not jobs go to the dead-letter queue, intact, with their
//! reason in a header, and the worker keeps going; the hostile corpus, fed
//! through the real worker, meets the fates its manifest gives.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use id2meta::job::Job;
use id2meta::mock::MockConfig;
use serde_json::json;

use crate::helpers::{person_job, TestEnv};

const WITHIN: Duration = Duration::from_secs(60);

/// (body, reason) pairs, sorted, so two lists compare regardless of order.
fn sorted(mut pairs: Vec<(Vec<u8>, Option<String>)>) -> Vec<(Vec<u8>, Option<String>)> {
    pairs.sort();
    pairs
}

#[tokio::test]
async fn messages_that_are_not_jobs_are_dead_lettered_with_their_reason_and_the_worker_keeps_going()
{
    let env = TestEnv::new(MockConfig::default()).await;
    let worker = env.start_worker().await;
    let job = |id: &str| person_job(id, 0);
    let mut oversized = job("big");
    oversized["metadata"] = json!({ "pad": "x".repeat(17 * 1024) });
    let mut no_job_id = job("x");
    no_job_id.as_object_mut().unwrap().remove("job_id");
    let mut wrong_type = job("typed");
    wrong_type["name"] = json!(12345);
    let long_id = job(&"j".repeat(129));
    let text = |v: &serde_json::Value| serde_json::to_vec(v).unwrap();
    let poison: Vec<(Vec<u8>, &str)> = vec![
        (b"this is not json".to_vec(), "not_json"),
        (
            b"{\"job_id\":\"utf8\",\"name\":\"\xff\xfe\"}".to_vec(),
            "not_utf8",
        ),
        (text(&no_job_id), "missing_job_id"),
        (text(&wrong_type), "wrong_type"),
        (text(&oversized), "too_large"),
        (text(&long_id), "invalid_job_id"),
        (
            br#"{"job_id":"a","job_id":"b","name":"x","id_number":"y"}"#.to_vec(),
            "duplicate_key",
        ),
    ];
    for (body, _) in &poison {
        env.publish_raw(body).await;
    }
    // Published after the poison: they settle only if the worker kept going.
    let good: Vec<_> = (1..6)
        .map(|i| person_job(&format!("after-{i}"), i))
        .collect();
    env.publish_jobs(&good).await;

    let dead = env.dead_letters_until(poison.len(), WITHIN).await;
    let rows = env.wait_for_rows(good.len(), WITHIN).await;
    worker.stop().await;

    let expected = poison
        .iter()
        .map(|(body, reason)| (body.clone(), Some(reason.to_string())))
        .collect();
    assert_eq!(sorted(dead), sorted(expected));
    assert_eq!(
        rows.len(),
        good.len(),
        "no row for a message that is not a job"
    );
    assert_eq!(env.mock.stats().calls, good.len() as u64);
    assert_eq!(env.jobs_ready().await, 0);
    env.cleanup().await;
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/hostile")
}

/// The manifest: file name → fate (`dead:<reason>`, `invalid`, `valid`).
fn corpus() -> Vec<(String, Vec<u8>, String)> {
    let manifest = fs::read_to_string(corpus_dir().join("EXPECTED.tsv")).expect("the manifest");
    manifest
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (file, fate) = line.split_once('\t').expect("file<TAB>fate");
            let body = fs::read(corpus_dir().join(file)).expect("a corpus file");
            (file.to_string(), body, fate.to_string())
        })
        .collect()
}

#[tokio::test]
async fn every_hostile_body_meets_its_expected_fate_through_the_real_worker() {
    let env = TestEnv::new(MockConfig::default()).await;
    let worker = env.start_worker().await;
    let corpus = corpus();
    let mut expected_dead = Vec::new();
    // job_id → (file, fate) for the bodies that are jobs.
    let mut expected_rows: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (file, body, fate) in &corpus {
        match fate.strip_prefix("dead:") {
            Some(reason) => expected_dead.push((body.clone(), Some(reason.to_string()))),
            None => {
                let job = Job::parse(body, None).expect("a job by the manifest");
                let clash = expected_rows.insert(job.job_id, (file.clone(), fate.clone()));
                assert!(
                    clash.is_none(),
                    "{file} shares a job_id: the test needs unique ones"
                );
            }
        }
        env.publish_raw(body).await;
    }

    let dead = env.dead_letters_until(expected_dead.len(), WITHIN).await;
    let rows = env.wait_for_rows(expected_rows.len(), WITHIN).await;
    worker.stop().await;

    assert_eq!(sorted(dead), sorted(expected_dead));
    assert_eq!(rows.len(), expected_rows.len());
    let mut wrong = Vec::new();
    for row in &rows {
        let (file, fate) = &expected_rows[&row.job_id];
        let ok = match fate.as_str() {
            f if f.starts_with("invalid") => row.status == "invalid",
            _ => ["match", "mismatch", "not_found"].contains(&row.status.as_str()),
        };
        if !ok {
            wrong.push(format!("{file}: expected {fate}, stored {}", row.status));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let valid = expected_rows.values().filter(|(_, f)| f == "valid").count();
    assert_eq!(
        env.mock.stats().calls,
        valid as u64,
        "only valid jobs are called"
    );
    assert_eq!(env.jobs_ready().await, 0, "nothing stays in the jobs queue");
    env.cleanup().await;
}
