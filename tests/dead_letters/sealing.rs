//! Every way a message becomes a dead letter leaves it sealed and masked: the
//! worker's refusals and the broker's own delivery limit.

use id2meta::mock::{population, MockConfig};
use id2meta::queue::dead_letters::headers;

use crate::helpers;
use crate::helpers::{person_job, TestEnv};
use crate::letters::*;

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
