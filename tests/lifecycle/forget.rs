//! `id2meta forget` and `id2meta lookup`: a person is found by the digest from
//! standard input; forget removes them from rows, claims and dead letters (and a
//! repeat job calls again); lookup shows the masked rows and writes the identity
//! nowhere (tables, logs).

use std::time::Duration;

use id2meta::mock::MockConfig;
use id2meta::queue::dead_letters::DeadLetterQueue;
use id2meta::upstream::Verdict;

use crate::commands::{audited, id2meta, letters_resting, succeeded};
use crate::helpers::{people_with, person_job, TestEnv};
use crate::rows::{digest_of, every_table_as_text, scrub_states};

const WAIT: Duration = Duration::from_secs(30);

/// Settles p-1 (called), p-2 (reused) for person `p` and q-1 for person `q`,
/// then dead-letters q-1 sent again for `p` (a sealed letter with p's digest).
async fn settled(env: &TestEnv, p: u64, q: u64) {
    let mut config = env.config.clone();
    config.reuse_within = Some(Duration::from_secs(3600));
    let worker = env.start_worker_with(config).await;
    env.publish_jobs(&[person_job("p-1", p), person_job("q-1", q)])
        .await;
    env.wait_for_rows(2, WAIT).await;
    env.publish_jobs(&[person_job("p-2", p), person_job("q-1", p)])
        .await;
    env.wait_for_rows(3, WAIT).await;
    let _letters = letters_resting(&env.config, 1).await;
    worker.stop().await;
}

fn csv_of(i: u64) -> String {
    let (name, id_number, _) = id2meta::mock::population::person(i);
    format!("name,id_number\n{name},{id_number}\n")
}

#[tokio::test]
async fn forget_removes_an_identity_from_rows_claims_and_dead_letters_and_a_repeat_job_calls_again()
{
    let env = TestEnv::new(MockConfig::default()).await;
    let mut matched = people_with(Verdict::Match);
    let (p, q) = (matched.next().expect("p"), matched.next().expect("q"));
    settled(&env, p, q).await;

    let output = id2meta(&env.config, &["forget"], &csv_of(p), &[]);
    let printed = succeeded(&output);
    assert!(
        printed.starts_with("forgot 1 identities: 2 rows scrubbed,")
            && printed.contains("and 1 dead letters deleted"),
        "{printed}"
    );
    let (name, id_number, _) = id2meta::mock::population::person(p);
    let stderr = String::from_utf8_lossy(&output.stderr);
    for text in [printed.as_str(), &stderr] {
        assert!(
            !text.contains(&name) && !text.contains(&id_number),
            "{text}"
        );
    }
    assert_eq!(
        scrub_states(&env.store).await,
        [
            ("p-1".to_string(), true, false),
            ("p-2".to_string(), true, false),
            ("q-1".to_string(), false, true),
        ]
    );
    let digest = digest_of(p);
    let claims: i64 =
        sqlx::query_scalar("SELECT count(*) FROM job_claims WHERE identity_digest = $1")
            .bind(&digest)
            .fetch_one(env.store.pool())
            .await
            .expect("claims");
    assert_eq!(claims, 0);
    let letters = DeadLetterQueue::from_config(&env.config)
        .await
        .expect("tools");
    assert!(letters.list(10).await.expect("letters").is_empty());
    let forgets = audited(&env.store, "forget").await;
    assert_eq!(forgets.len(), 1);
    assert_eq!(forgets[0].detail["identities"], 1);
    assert_eq!(forgets[0].detail["rows"], 2);
    assert_eq!(forgets[0].detail["dead_letters"], 1);
    assert!(
        !every_table_as_text(&env.store).await.contains(&digest),
        "the digest is gone everywhere"
    );

    // The person comes back: called again, no reuse of the forgotten verdict.
    let calls = env.mock.stats().verdict_calls;
    let mut config = env.config.clone();
    config.reuse_within = Some(Duration::from_secs(3600));
    let worker = env.start_worker_with(config).await;
    env.publish_jobs(&[person_job("p-3", p)]).await;
    let rows = env.wait_for_rows(4, WAIT).await;
    worker.stop().await;
    let again = rows.iter().find(|r| r.job_id == "p-3").expect("a row");
    assert_eq!(
        (again.attempts, again.reused_from_job_id.as_deref()),
        (1, None)
    );
    assert_eq!(env.mock.stats().verdict_calls, calls + 1);
    env.cleanup().await;
}

#[tokio::test]
async fn lookup_prints_the_masked_rows_and_writes_the_identity_in_no_table_or_log() {
    let env = TestEnv::new(MockConfig::default()).await;
    let mut matched = people_with(Verdict::Match);
    let (p, q) = (matched.next().expect("p"), matched.next().expect("q"));
    settled(&env, p, q).await;

    let output = id2meta(
        &env.config,
        &["lookup", "--format", "json"],
        &csv_of(p),
        &[("RUST_LOG", "debug")],
    );
    let printed = succeeded(&output);
    let found: Vec<serde_json::Value> = printed
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON Lines"))
        .collect();
    let ids: Vec<&str> = found.iter().filter_map(|r| r["job_id"].as_str()).collect();
    assert_eq!(ids, ["p-1", "p-2"]);
    assert_eq!(found[1]["reused_from_job_id"], "p-1");
    assert_eq!(found[0]["status"], "match");
    assert_eq!(found[0]["queue"], env.config.jobs_queue.as_str());

    let (name, id_number, _) = id2meta::mock::population::person(p);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tables = every_table_as_text(&env.store).await;
    for (place, text) in [
        ("stdout", &printed),
        ("log", &stderr.into_owned()),
        ("tables", &tables),
    ] {
        assert!(!text.contains(&name), "the name is in the {place}");
        assert!(
            !text.contains(&id_number),
            "the ID number is in the {place}"
        );
    }
    let lookups = audited(&env.store, "lookup").await;
    assert_eq!(lookups.len(), 1);
    assert_eq!(lookups[0].detail["rows"], 2);
    assert_eq!(
        lookups[0].detail["id_number_masked"],
        id2meta::identity::mask_id_number(&id_number)
    );

    // Exactly one person, from standard input only.
    let two = id2meta(
        &env.config,
        &["lookup"],
        &format!("{}{}", csv_of(p), csv_of(q).lines().nth(1).unwrap_or("")),
        &[],
    );
    assert!(!two.status.success());
    env.cleanup().await;
}
