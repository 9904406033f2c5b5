//! Every status, end to end: rows, completions, and no plaintext anywhere.

use std::time::Duration;

use id2meta::mock::{population, MockConfig};
use id2meta::upstream::Verdict;
use serde_json::json;

use crate::helpers::{person_job, TestEnv};

fn person_with(verdict: Verdict) -> u64 {
    (0..100)
        .find(|i| population::person(*i).2 == verdict)
        .expect("the population has every verdict")
}

#[tokio::test]
async fn every_status_ends_in_one_row_and_one_matching_completion_without_plaintext() {
    let env = TestEnv::new(MockConfig::default()).await;
    let (reject_name, reject_id, _) = population::person(person_with(Verdict::Match) + 10);
    let (fail_name, fail_id, _) = population::person(person_with(Verdict::Match) + 20);
    env.mock.script(&reject_id, ["InvalidParameter"]);
    env.mock.script(&fail_id, vec!["InternalError"; 10]);
    let mut jobs = vec![
        person_job("j-match", person_with(Verdict::Match)),
        person_job("j-mismatch", person_with(Verdict::Mismatch)),
        person_job("j-not-found", person_with(Verdict::NotFound)),
        json!({"job_id": "j-invalid", "name": "张三", "id_number": "110105194912310021"}),
        json!({"job_id": "j-rejected", "name": reject_name, "id_number": reject_id}),
        json!({"job_id": "j-failed", "name": fail_name, "id_number": fail_id, "metadata": {"applicant": "a-77"}}),
    ];
    jobs[0]["metadata"] = json!({"k": 1});
    let mut config = env.config.clone();
    config.max_attempts = 3;
    let worker = env.start_worker_with(config).await;
    env.publish_jobs(&jobs).await;

    let rows = env.wait_for_rows(6, Duration::from_secs(30)).await;
    let status = |id: &str| {
        rows.iter()
            .find(|r| r.job_id == id)
            .map(|r| r.status.clone())
            .unwrap()
    };
    assert_eq!(status("j-match"), "match");
    assert_eq!(status("j-mismatch"), "mismatch");
    assert_eq!(status("j-not-found"), "not_found");
    assert_eq!(status("j-invalid"), "invalid");
    assert_eq!(status("j-rejected"), "rejected");
    assert_eq!(status("j-failed"), "failed");
    let failed = rows.iter().find(|r| r.job_id == "j-failed").unwrap();
    assert_eq!(failed.attempts, 3);
    assert_eq!(failed.upstream_code.as_deref(), Some("InternalError"));

    worker.stop().await;
    let completions = env.completions().await;
    assert_eq!(completions.len(), 6);
    for c in &completions {
        let row = rows
            .iter()
            .find(|r| r.job_id == c.job_id)
            .expect("a row per completion");
        assert_eq!(c.status, row.status);
        assert_eq!(c.attempts, row.attempts);
        assert_eq!(c.metadata, row.metadata);
        // Every status, `invalid` included, records and announces its queue.
        assert_eq!(row.queue.as_deref(), Some(env.config.jobs_queue.as_str()));
        assert_eq!(c.queue, row.queue);
    }
    // Upstream calls: 3 verdicts + 1 rejected + 3 failed attempts; none for the invalid job.
    assert_eq!(env.mock.stats().calls, 7);

    let everything = format!("{rows:?}{completions:?}");
    for job in &jobs {
        for field in ["name", "id_number"] {
            let plain = job[field].as_str().unwrap();
            assert!(
                !everything.contains(plain),
                "plaintext {field} stored or published"
            );
        }
    }
    env.cleanup().await;
}
