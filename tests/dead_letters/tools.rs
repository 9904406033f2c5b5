//! The operator's tools: a replay completes a letter once, a purge removes only
//! what was selected.

use id2meta::mock::MockConfig;
use id2meta::queue::dead_letters::{DeadLetterQueue, Selection};

use crate::helpers::{person_job, TestEnv};
use crate::letters::*;

#[tokio::test]
async fn a_replayed_broker_dead_letter_completes_once() {
    let env = TestEnv::new(MockConfig::default()).await;
    env.publish_jobs(&[person_job("replayed", 5)]).await;
    env.exhaust_delivery_limit().await;
    let worker = env.start_worker().await;
    let queue = DeadLetterQueue::from_config(&env.config)
        .await
        .expect("connect");
    let letters = sealed_letters(&queue, 1).await;
    assert_eq!(letters[0].job_id.as_deref(), Some("replayed"));
    assert_eq!(letters[0].reason.as_deref(), Some("delivery_limit"));
    assert!(
        env.rows().await.is_empty(),
        "nothing settled before the replay"
    );

    let id = letters[0].id.clone().expect("an id");
    let listed = dead_letters_command(&env, &["list", "--format", "json"]);
    assert!(listed.status.success());
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let line: serde_json::Value = serde_json::from_str(listed.trim()).expect("one JSON line");
    assert_eq!(line["id"], id.as_str());
    assert_eq!(
        line["name_masked"].as_str().map(|m| m.contains('*')),
        Some(true)
    );
    for secret in plaintext_of(5) {
        assert!(!listed.contains(&secret), "plaintext in `list`");
    }
    let replayed = dead_letters_command(&env, &["replay", &id]);
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&replayed.stdout).trim(),
        "replayed 1 of 1 selected"
    );
    let rows = env.wait_for_rows(1, WITHIN).await;
    env.completions_until(1, WITHIN).await;
    worker.stop().await;

    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].job_id, "replayed");
    assert_eq!(env.mock.stats().calls, 1, "one upstream call");
    assert!(
        queue.list(100).await.expect("list").is_empty(),
        "the letter left the queue"
    );
    env.cleanup().await;
}

#[tokio::test]
async fn purge_removes_only_the_selected_letters() {
    let env = TestEnv::new(MockConfig::default()).await;
    let worker = env.start_worker().await;
    for body in [
        &b"not json 1"[..],
        b"not json 2",
        b"[1,2]",
        br#"{"name":"x"}"#,
    ] {
        env.publish_raw(body).await;
    }
    let queue = DeadLetterQueue::from_config(&env.config)
        .await
        .expect("connect");
    let letters = sealed_letters(&queue, 4).await;
    worker.stop().await;

    let report = queue
        .purge(&Selection::Reason("not_json".into()))
        .await
        .expect("purge");
    assert_eq!((report.selected, report.done), (2, 2));
    let left = queue.list(100).await.expect("list");
    let mut reasons: Vec<_> = left.iter().filter_map(|l| l.reason.clone()).collect();
    reasons.sort();
    assert_eq!(reasons, ["missing_job_id", "not_an_object"]);

    let one = left[0].id.clone().unwrap();
    let report = queue
        .purge(&Selection::Ids(vec![one.clone()]))
        .await
        .expect("purge");
    assert_eq!(report.done, 1);
    let left_now = queue.list(100).await.expect("list");
    assert_eq!(left_now.len(), 1);
    assert_ne!(left_now[0].id.as_deref(), Some(one.as_str()));
    assert!(
        letters.iter().any(|l| l.id == left_now[0].id),
        "the rest is untouched"
    );
    env.cleanup().await;
}
