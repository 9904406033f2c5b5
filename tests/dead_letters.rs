//! Dead letters rest sealed, with the contract's masked headers and an
//! expiration, however they got there (the worker's refusals and the broker's
//! own delivery limit); the tools replay and purge exactly what was selected;
//! a broker declared by the first release keeps working and is swept.

#[path = "worker/helpers.rs"]
mod helpers;

use std::time::Duration;

use id2meta::mock::{population, MockConfig};
use id2meta::queue::dead_letters::{headers, DeadLetterQueue, Selection, Summary};
use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::BasicProperties;

use helpers::{eventually, person_job, TestEnv};

const WITHIN: Duration = Duration::from_secs(60);

/// Every byte a message carries outside its body: header names and values
/// (nested tables and arrays too), and the text properties.
fn property_bytes(properties: &BasicProperties) -> Vec<u8> {
    fn value(out: &mut Vec<u8>, v: &AMQPValue) {
        match v {
            AMQPValue::LongString(s) => out.extend_from_slice(s.as_bytes()),
            AMQPValue::ShortString(s) => out.extend_from_slice(s.as_str().as_bytes()),
            AMQPValue::ByteArray(b) => out.extend_from_slice(b.as_slice()),
            AMQPValue::FieldTable(t) => table(out, t),
            AMQPValue::FieldArray(a) => a.as_slice().iter().for_each(|v| value(out, v)),
            other => out.extend_from_slice(format!("{other:?}").as_bytes()),
        }
    }
    fn table(out: &mut Vec<u8>, t: &FieldTable) {
        for (name, v) in t {
            out.extend_from_slice(name.as_str().as_bytes());
            out.push(b'\n');
            value(out, v);
            out.push(b'\n');
        }
    }
    let mut out = Vec::new();
    if let Some(t) = properties.headers() {
        table(&mut out, t);
    }
    for text in [
        properties.message_id(),
        properties.correlation_id(),
        properties.content_type(),
        properties.expiration(),
    ]
    .into_iter()
    .flatten()
    {
        out.extend_from_slice(text.as_str().as_bytes());
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The plaintext forms of person `i`: name, number, and the number's 17 digits.
fn plaintext_of(i: u64) -> Vec<String> {
    let (name, id_number, _) = population::person(i);
    vec![name.clone(), id_number.clone(), id_number[..17].to_string()]
}

fn header(properties: &BasicProperties, name: &str) -> Option<String> {
    headers::text(properties.headers().as_ref()?, name)
}

/// Waits until the dead-letter queue lists `count` sealed letters.
async fn sealed_letters(queue: &DeadLetterQueue, count: usize) -> Vec<Summary> {
    eventually(&format!("{count} sealed dead letters"), WITHIN, || async {
        let letters = queue.list(1000).await.expect("list");
        (letters.len() == count && letters.iter().all(|l| l.sealed)).then_some(letters)
    })
    .await
}

#[tokio::test]
async fn a_conflict_a_truncated_body_a_body_that_is_not_json_and_a_broker_dead_letter_rest_sealed_and_masked(
) {
    let env = TestEnv::new(MockConfig::default()).await;
    // The broker's own dead-lettering: spent its delivery limit before any worker ran.
    env.publish_jobs(&[person_job("spent", 4)]).await;
    env.exhaust_delivery_limit().await;
    let worker = env.start_worker().await;
    env.publish_jobs(&[person_job("taken", 0)]).await;
    env.wait_for_rows(1, WITHIN).await;
    env.publish_jobs(&[person_job("taken", 1)]).await;
    let whole = person_job("cut", 2).to_string();
    let truncated: String = whole.chars().take(whole.chars().count() - 3).collect();
    env.publish_raw(truncated.as_bytes()).await;
    let (name, number, _) = population::person(3);
    env.publish_raw(format!("name={name} id_number={number}").as_bytes())
        .await;

    let dead =
        helpers::collect_until("dead letters", 4, WITHIN, || env.dead_letter_messages()).await;
    worker.stop().await;

    let ttl = env.config.dead_letter_ttl.as_millis().to_string();
    let mut reasons = Vec::new();
    for (body, properties) in &dead {
        let clear = property_bytes(properties);
        for secret in (0..5).flat_map(plaintext_of) {
            assert!(
                !contains(body, &secret),
                "plaintext in a dead letter's body"
            );
            assert!(
                !contains(&clear, &secret),
                "plaintext in a dead letter's headers"
            );
        }
        assert_eq!(
            properties.expiration().as_ref().map(|e| e.as_str()),
            Some(ttl.as_str())
        );
        for name in [
            headers::REASON,
            headers::SOURCE_QUEUE,
            headers::DEAD_LETTER_ID,
            headers::SEALED,
        ] {
            assert!(header(properties, name).is_some(), "{name} missing");
        }
        assert_eq!(
            header(properties, headers::SOURCE_QUEUE).unwrap(),
            env.config.jobs_queue
        );
        let reason = header(properties, headers::REASON).unwrap();
        if ["job_id_conflict", "delivery_limit"].contains(&reason.as_str()) {
            // A job: its id, masks and digest are in the clear headers.
            for name in [
                headers::JOB_ID,
                headers::NAME_MASKED,
                headers::ID_NUMBER_MASKED,
                headers::IDENTITY_DIGEST,
            ] {
                assert!(
                    header(properties, name).is_some(),
                    "{reason}: {name} missing"
                );
            }
            assert!(header(properties, headers::ID_NUMBER_MASKED)
                .unwrap()
                .contains('*'));
        }
        reasons.push(reason);
        // And each opens into what was published.
        env.sealer().open(body, properties).expect("opens");
    }
    reasons.sort();
    assert_eq!(
        reasons,
        ["delivery_limit", "job_id_conflict", "not_json", "not_json"]
    );
    assert_eq!(env.mock.stats().calls, 1, "only the first job was called");
    env.cleanup().await;
}

/// Runs `id2meta dead-letters ARGS` as an operator would, against this test's queues.
fn dead_letters_command(env: &TestEnv, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_id2meta"))
        .arg("dead-letters")
        .args(args)
        .env("AMQP_URL", &env.config.amqp_url)
        .env("ID2META_JOBS_QUEUE", &env.config.jobs_queue)
        .env("ID2META_RESULTS_EXCHANGE", &env.config.results_exchange)
        .env("ID2META_PII_KEY", helpers::PII_KEY)
        .env("ID2META_LOG_FORMAT", "json")
        .output()
        .expect("the binary runs")
}

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

/// The jobs queue exactly as the first release declared it.
fn first_release_arguments(env: &TestEnv) -> FieldTable {
    let text = |v: &str| AMQPValue::LongString(LongString::from(v));
    let mut jobs = FieldTable::default();
    jobs.insert("x-queue-type".into(), text("quorum"));
    jobs.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongInt(env.config.delivery_limit as i32),
    );
    jobs.insert("x-dead-letter-exchange".into(), text(""));
    jobs.insert(
        "x-dead-letter-routing-key".into(),
        text(&env.config.dead_letter_queue()),
    );
    jobs.insert("x-dead-letter-strategy".into(), text("at-least-once"));
    jobs.insert("x-overflow".into(), text("reject-publish"));
    jobs
}

#[tokio::test]
async fn a_first_release_topology_is_kept_and_its_plaintext_dead_letters_are_sealed_in_place() {
    let env = TestEnv::new(MockConfig::default()).await;
    let channel = env.publisher.channel();
    let jobs = env.config.jobs_queue.as_str();
    channel
        .queue_delete(jobs.into(), QueueDeleteOptions::default())
        .await
        .expect("delete");
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .queue_declare(jobs.into(), durable, first_release_arguments(&env))
        .await
        .expect("the first release's jobs queue");
    // The broker writes this one to `<jobs>.dead` in plaintext.
    env.publish_jobs(&[person_job("legacy", 6)]).await;
    env.exhaust_delivery_limit().await;

    let mut config = env.config.clone();
    config.dead_letter_sweep = Duration::from_secs(1);
    let worker = env.start_worker_with(config).await;
    // The worker's own (sealed) dead letter, which the sweep must leave alone.
    env.publish_raw(b"not json").await;
    let queue = DeadLetterQueue::from_config(&env.config)
        .await
        .expect("connect");
    let letters = sealed_letters(&queue, 2).await;
    let mine = letters
        .iter()
        .find(|l| l.reason.as_deref() == Some("not_json"))
        .unwrap();
    let swept = letters
        .iter()
        .find(|l| l.reason.as_deref() == Some("delivery_limit"))
        .unwrap();
    assert_eq!(swept.job_id.as_deref(), Some("legacy"));
    assert_eq!(swept.source_queue.as_deref(), Some(jobs));

    // The raw bytes at rest hold no plaintext.
    let raw = eventually("the letters, unheld", WITHIN, || async {
        let raw = env.dead_letter_messages().await;
        (raw.len() == 2).then_some(raw)
    })
    .await;
    for (body, properties) in &raw {
        for secret in plaintext_of(6) {
            assert!(!contains(body, &secret) && !contains(&property_bytes(properties), &secret));
        }
    }
    let ids: Vec<_> = raw
        .iter()
        .filter_map(|(_, p)| header(p, headers::DEAD_LETTER_ID))
        .collect();
    assert!(
        ids.contains(mine.id.as_ref().unwrap()),
        "a sealed letter keeps its id"
    );
    // Put them back (the drain took them) and replay the swept one: it completes.
    for (body, properties) in raw {
        env.publisher
            .publish_to_queue(&env.config.dead_letter_queue(), &body, properties)
            .await
            .expect("restore");
    }
    let report = queue
        .replay(&Selection::Ids(vec![swept.id.clone().unwrap()]))
        .await
        .expect("replay");
    assert_eq!(report.done, 1, "{report:?}");
    let rows = env.wait_for_rows(1, WITHIN).await;
    assert_eq!(rows[0].job_id, "legacy");
    worker.stop().await;
    assert_eq!(env.mock.stats().calls, 1);
    env.cleanup().await;
}

/// Whether `job_id`'s claim is still held by a live lease (a replay during it
/// would only wait).
async fn lease_live(env: &TestEnv, job_id: &str) -> bool {
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM job_claims WHERE job_id = $1 AND state = 'active' AND lease_until > now()",
    )
    .bind(job_id)
    .fetch_one(env.store.pool())
    .await
    .expect("claims");
    live > 0
}

#[tokio::test]
async fn a_result_the_database_refuses_rests_sealed_and_its_replay_stores_the_row_without_a_second_call(
) {
    let env = TestEnv::new(MockConfig::default()).await;
    // The database refuses one job's row for its data (SQLSTATE 23514), as it
    // would a value the contract let through but PostgreSQL cannot hold.
    sqlx::query(
        "ALTER TABLE verification_results ADD CONSTRAINT test_refuses_one CHECK (job_id <> 'refused')",
    )
    .execute(env.store.pool())
    .await
    .expect("constraint");
    let mut jobs = helpers::person_jobs("stored", 20);
    jobs.push(person_job("refused", 20));
    let worker = env.start_worker().await;
    env.publish_jobs(&jobs).await;

    let queue = DeadLetterQueue::from_config(&env.config)
        .await
        .expect("connect");
    let letters = sealed_letters(&queue, 1).await;
    assert_eq!(letters[0].job_id.as_deref(), Some("refused"));
    assert_eq!(letters[0].reason.as_deref(), Some("unstorable_result"));
    let rows = env.wait_for_rows(20, WITHIN).await;
    assert!(rows.iter().all(|r| r.job_id.starts_with("stored")));
    assert_eq!(env.mock.stats().calls, 21, "every job called once");
    // A replay once the claim's lease is over (the moment a claim left active
    // would be taken over and called again) while the row is still refused:
    // dead-lettered again, no call.
    eventually("the refused job's lease over", WITHIN, || async {
        (!lease_live(&env, "refused").await).then_some(())
    })
    .await;
    let id = letters[0].id.clone().expect("an id");
    let report = queue
        .replay(&Selection::Ids(vec![id]))
        .await
        .expect("replay");
    assert_eq!(report.done, 1, "{report:?}");
    let again = sealed_letters(&queue, 1).await;
    assert_eq!(again[0].reason.as_deref(), Some("unstorable_result"));
    assert_eq!(env.mock.stats().calls, 21, "the replay made no call");

    // Now the database takes it: the replay stores the kept outcome, still no call.
    sqlx::query("ALTER TABLE verification_results DROP CONSTRAINT test_refuses_one")
        .execute(env.store.pool())
        .await
        .expect("drop constraint");
    let id = again[0].id.clone().expect("an id");
    let report = queue
        .replay(&Selection::Ids(vec![id]))
        .await
        .expect("replay");
    assert_eq!(report.done, 1, "{report:?}");
    let rows = env.wait_for_rows(21, WITHIN).await;
    env.completions_until(21, WITHIN).await;
    worker.stop().await;

    let refused: Vec<_> = rows.iter().filter(|r| r.job_id == "refused").collect();
    assert_eq!(refused.len(), 1, "one row for the replayed job");
    assert!(
        refused[0].request_id.is_some(),
        "the kept verdict's request id"
    );
    assert_eq!(refused[0].attempts, 1);
    assert_eq!(env.mock.stats().calls, 21, "one upstream call per job");
    let state: String = sqlx::query_scalar("SELECT state FROM job_claims WHERE job_id = 'refused'")
        .fetch_one(env.store.pool())
        .await
        .expect("claim");
    assert_eq!(state, "done");
    assert!(queue.list(100).await.expect("list").is_empty());
    env.cleanup().await;
}
