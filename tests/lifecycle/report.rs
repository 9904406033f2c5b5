//! `id2meta report --month`: every number equals a count taken by SQL.

use std::time::Duration;

use id2meta::mock::MockConfig;
use id2meta::upstream::Verdict;

use crate::commands::{id2meta, succeeded};
use crate::helpers::{people_with, person_job, TestEnv};

async fn count(env: &TestEnv, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(env.store.pool())
        .await
        .expect(sql)
}

#[tokio::test]
async fn the_months_report_equals_counts_taken_by_sql() {
    let env = TestEnv::new(MockConfig::default()).await;
    let mut jobs = Vec::new();
    for verdict in [Verdict::Match, Verdict::Mismatch, Verdict::NotFound] {
        for (n, i) in people_with(verdict).take(3).enumerate() {
            jobs.push(person_job(&format!("{verdict:?}-{n}"), i));
        }
    }
    let mut config = env.config.clone();
    config.reuse_within = Some(Duration::from_secs(3600));
    let worker = env.start_worker_with(config).await;
    env.publish_jobs(&jobs).await;
    env.wait_for_rows(jobs.len(), Duration::from_secs(30)).await;
    let matched = people_with(Verdict::Match).next().expect("a match");
    env.publish_jobs(&[person_job("again", matched)]).await;
    env.wait_for_rows(jobs.len() + 1, Duration::from_secs(30))
        .await;
    worker.stop().await;
    let (name, id_number, _) = id2meta::mock::population::person(matched);
    succeeded(&id2meta(
        &env.config,
        &["forget"],
        &format!("{name},{id_number}\n"),
        &[],
    ));
    succeeded(&id2meta(&env.config, &["batch", "b1", "--cancel"], "", &[]));

    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let printed = succeeded(&id2meta(
        &env.config,
        &["report", "--month", &month, "--format", "json"],
        "",
        &[],
    ));
    let report: serde_json::Value = serde_json::from_str(&printed).expect("JSON");
    let sql = |s: &'static str| count(&env, s);
    assert_eq!(
        report["calls"],
        sql("SELECT sum(attempts)::bigint FROM verification_results").await
    );
    assert_eq!(
        report["billed_calls"],
        sql("SELECT count(*) FROM verification_results WHERE biz_code IN ('1', '2') AND attempts > 0").await
    );
    assert_eq!(report["billed_calls"], 6);
    assert_eq!(report["spend"], "USD 0.18");
    assert_eq!(
        report["reused"],
        sql("SELECT count(*) FROM verification_results WHERE reused_from_job_id IS NOT NULL").await
    );
    assert_eq!(report["batches"], 1);
    assert_eq!(
        report["rows_scrubbed"],
        sql("SELECT count(*) FROM verification_results WHERE scrubbed_at IS NOT NULL").await
    );
    assert_eq!(report["rows_scrubbed"], 2);
    assert_eq!(report["identities_forgotten"], 1);
    let jobs_total: i64 = report["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| j[2].as_i64().expect("a count"))
        .sum();
    assert_eq!(
        jobs_total,
        sql("SELECT count(*) FROM verification_results").await
    );
    let actions: Vec<(String, i64)> =
        serde_json::from_value(report["audit_actions"].clone()).expect("pairs");
    assert_eq!(
        actions,
        [("cancel".to_string(), 1), ("forget".to_string(), 1)]
    );

    let csv = succeeded(&id2meta(
        &env.config,
        &["report", "--month", &month, "--format", "csv"],
        "",
        &[],
    ));
    assert!(csv.starts_with("section,what,value\n"), "{csv}");
    assert!(csv.contains("totals,billed calls,6"), "{csv}");
    env.cleanup().await;
}
