//! Spend: billed calls are BizCode 1 and 2 answered by the upstream (`not_found`
//! is free, a reused verdict made no call), priced by `ID2META_PRICE_PER_CALL`.

use std::time::Duration;

use id2meta::mock::MockConfig;
use id2meta::upstream::Verdict;

use crate::commands::{id2meta, succeeded};
use crate::helpers::{people_with, person_job, TestEnv};

#[tokio::test]
async fn spend_is_the_price_times_the_bizcode_1_and_2_calls_of_a_mixed_batch() {
    let env = TestEnv::new(MockConfig::default()).await;
    let mut jobs = Vec::new();
    for (verdict, count) in [
        (Verdict::Match, 5),
        (Verdict::Mismatch, 3),
        (Verdict::NotFound, 4),
    ] {
        for (n, i) in people_with(verdict).take(count).enumerate() {
            jobs.push(person_job(&format!("{verdict:?}-{n}"), i));
        }
    }
    jobs.push(
        serde_json::json!({"job_id": "bad", "name": "张三", "id_number": "123", "batch_id": "b1"}),
    );
    // A second job for a matched person, reused: no call, not billed.
    let matched = people_with(Verdict::Match).next().expect("a match");
    let mut config = env.config.clone();
    config.reuse_within = Some(Duration::from_secs(3600));
    let worker = env.start_worker_with(config).await;
    env.publish_jobs(&jobs).await;
    env.wait_for_rows(jobs.len(), Duration::from_secs(30)).await;
    env.publish_jobs(&[person_job("again", matched)]).await;
    let rows = env
        .wait_for_rows(jobs.len() + 1, Duration::from_secs(30))
        .await;
    worker.stop().await;
    assert!(rows.iter().any(|r| r.reused_from_job_id.is_some()));

    let stats = env.mock.stats();
    assert_eq!(stats.verdict_calls, 12, "every verdict was a call");
    assert_eq!(stats.billed_calls, 8, "BizCode 1 and 2 only");
    let counts = env.store.batch_counts("b1").await.expect("counts");
    assert_eq!(counts.billed, 8);

    let shown = succeeded(&id2meta(
        &env.config,
        &["batch", "b1"],
        "",
        &[
            ("ID2META_PRICE_PER_CALL", "0.25"),
            ("ID2META_CURRENCY", "CNY"),
        ],
    ));
    assert!(shown.contains("billed     8"), "{shown}");
    assert!(shown.contains("spend      CNY 2.00"), "{shown}");
    let default_price = succeeded(&id2meta(&env.config, &["batch", "b1"], "", &[]));
    assert!(default_price.contains("USD 0.24"), "{default_price}");
    env.cleanup().await;
}
