//! The result writer isolates what a batch cannot store: a row PostgreSQL
//! refuses for its data (a NUL in `jsonb` or `text`) ends `Unstorable`, the
//! rows batched with it commit, and the writer keeps going. On today's main
//! one such row made the writer retry its batch forever.

#[path = "support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::time::Duration;

use chrono::Utc;
use id2meta::mock::MockConfig;
use id2meta::store::{ResultRow, ResultWriter, StoredOutcome, UNSTORABLE};
use serde_json::json;

use support::World;

fn row(job_id: &str) -> ResultRow {
    ResultRow {
        job_id: job_id.to_string(),
        batch_id: Some("b".into()),
        status: "match".into(),
        biz_code: Some("1".into()),
        upstream_code: Some("Success".into()),
        upstream_message: Some("ok".into()),
        request_id: Some("r".into()),
        attempts: 1,
        name_masked: Some("张*".into()),
        id_number_masked: Some("110***********002X".into()),
        identity_digest: Some(format!("digest-{job_id}")),
        metadata: Some(json!({"k": job_id})),
        received_at: Utc::now(),
        completed_at: Utc::now(),
        priority: None,
        reused_from_job_id: None,
        scrubbed_at: None,
        queue: Some("id2meta.jobs".into()),
    }
}

const WITHIN: Duration = Duration::from_secs(60);

#[tokio::test]
async fn rows_the_database_refuses_are_isolated_and_the_rest_of_their_batch_commits() {
    let world = World::new(MockConfig::default()).await;
    let (writer, _task) = ResultWriter::spawn(world.store.clone());
    let mut rows: Vec<ResultRow> = (0..200).map(|i| row(&format!("good-{i:03}"))).collect();
    let mut nul_in_jsonb = row("bad-jsonb");
    nul_in_jsonb.metadata = Some(json!({"note": "a\u{0}b"}));
    let mut nul_in_text = row("bad-text");
    nul_in_text.upstream_message = Some("up\u{0}stream".into());
    rows.insert(17, nul_in_jsonb);
    rows.insert(150, nul_in_text);

    let writes = rows.iter().cloned().map(|r| {
        let writer = writer.clone();
        async move { (r.job_id.clone(), writer.write(r).await.expect("an answer")) }
    });
    let outcomes = tokio::time::timeout(WITHIN, futures_util::future::join_all(writes))
        .await
        .expect("the writer answers every row instead of retrying forever");

    for (job_id, outcome) in &outcomes {
        match outcome {
            StoredOutcome::Unstorable(reason) => {
                assert!(job_id.starts_with("bad-"), "{job_id} refused");
                assert_eq!(*reason, UNSTORABLE);
            }
            StoredOutcome::Written(_) => assert!(job_id.starts_with("good-"), "{job_id} stored"),
            StoredOutcome::Existing(_) => panic!("{job_id} was not there before"),
        }
    }
    let unstorable = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, StoredOutcome::Unstorable(_)))
        .count();
    assert_eq!(unstorable, 2);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM verification_results")
        .fetch_one(world.store.pool())
        .await
        .expect("a count");
    assert_eq!(stored, 200);
    // The batch writer stores every column, the queue (revision 3) included.
    let read = world
        .store
        .result("good-042")
        .await
        .expect("a read")
        .expect("the row");
    assert_eq!(read.queue.as_deref(), Some("id2meta.jobs"));

    // The writer is not wedged: a row after them commits.
    let later = tokio::time::timeout(WITHIN, writer.write(row("later")))
        .await
        .expect("the writer still answers")
        .expect("an answer");
    assert!(matches!(later, StoredOutcome::Written(_)));
    world.cleanup().await;
}
