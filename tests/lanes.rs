//! Priority lanes (issue 11, contract rev 2): interactive jobs overtake a bulk
//! backlog, through `<jobs>.interactive` or the body's `priority` field, and
//! their rows and completions say `interactive`.

#[path = "worker/helpers.rs"]
mod helpers;

use std::time::Duration;

use helpers::{eventually, person_job, TestEnv};
use id2meta::mock::{MockConfig, QpsWindow};
use id2meta::store::ResultRow;

const WITHIN: Duration = Duration::from_secs(60);
const BULK: u64 = 300;

/// A mock that allows 20 calls in any sliding second, as the worker's budget.
fn strict_mock() -> MockConfig {
    MockConfig {
        qps_limit: Some(20),
        qps_window: QpsWindow::Sliding,
        latency: Duration::from_millis(20),
        ..MockConfig::default()
    }
}

fn job_with(job_id: &str, i: u64, priority: Option<&str>) -> serde_json::Value {
    let mut job = person_job(job_id, i);
    if let Some(priority) = priority {
        job["priority"] = priority.into();
    }
    job
}

fn row<'a>(rows: &'a [ResultRow], job_id: &str) -> &'a ResultRow {
    rows.iter()
        .find(|r| r.job_id == job_id)
        .unwrap_or_else(|| panic!("no row for {job_id}"))
}

#[tokio::test]
async fn interactive_jobs_complete_while_a_bulk_backlog_still_waits() {
    let env = TestEnv::new(strict_mock()).await;
    let mut config = env.config.clone();
    config.qps = 20.0;
    config.concurrency = 20;
    let bulk: Vec<_> = (0..BULK)
        .map(|i| job_with(&format!("bulk-{i}"), i, None))
        .collect();
    env.publish_jobs(&bulk).await;
    let worker = env.start_worker_with(config).await;
    // The backlog is draining at the budget: every bulk slot is taken.
    env.wait_for_rows(20, WITHIN).await;

    // Published to the interactive queue; one says `bulk` (the queue wins).
    let interactive: Vec<_> = (0..6)
        .map(|i| {
            let field = if i == 0 { Some("bulk") } else { None };
            job_with(&format!("interactive-{i}"), 1_000 + i, field)
        })
        .collect();
    env.publish_jobs_to(&env.config.interactive_queue(), &interactive)
        .await;
    let rows = eventually("the interactive rows", WITHIN, || async {
        let rows = env.rows().await;
        let done = rows
            .iter()
            .filter(|r| r.job_id.starts_with("interactive-"))
            .count();
        (done == interactive.len()).then_some(rows)
    })
    .await;

    let bulk_done_before = |at: chrono::DateTime<chrono::Utc>| {
        rows.iter()
            .filter(|r| r.job_id.starts_with("bulk-") && r.completed_at <= at)
            .count() as u64
    };
    for job in &interactive {
        let job_id = job["job_id"].as_str().unwrap_or_default();
        let r = row(&rows, job_id);
        assert_eq!(r.priority.as_deref(), Some("interactive"), "{job_id}");
        assert_eq!(r.queue, Some(env.config.interactive_queue()), "{job_id}");
        let unsettled = BULK - bulk_done_before(r.completed_at);
        // At 20 calls a second the backlog takes 15 s; an interactive job that
        // queued behind it would find fewer than 150 left.
        assert!(
            unsettled > 150,
            "{job_id} completed with only {unsettled} bulk jobs unsettled"
        );
    }
    let bulk_rows: Vec<_> = rows
        .iter()
        .filter(|r| r.job_id.starts_with("bulk-"))
        .collect();
    assert!(bulk_rows
        .iter()
        .all(|r| r.priority.as_deref() == Some("bulk")
            && r.queue.as_deref() == Some(env.config.jobs_queue.as_str())));
    let completions = env.completions().await;
    let interactive_completions = completions
        .iter()
        .filter(|c| c.job_id.starts_with("interactive-"))
        .inspect(|c| {
            assert_eq!(c.priority.as_deref(), Some("interactive"));
            assert_eq!(c.queue, Some(env.config.interactive_queue()));
        })
        .count();
    assert!(interactive_completions >= interactive.len());
    assert_eq!(env.mock.stats().throttled, 0, "the budget was kept");
    worker.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_priority_field_on_the_main_queue_is_honoured() {
    let env = TestEnv::new(MockConfig::default()).await;
    let worker = env.start_worker().await;
    let jobs = [
        job_with("field-interactive", 1, Some("interactive")),
        job_with("field-bulk", 2, Some("bulk")),
        job_with("field-absent", 3, None),
        job_with("field-unknown", 4, Some("urgent")),
    ];
    env.publish_jobs(&jobs).await;
    // On the interactive queue a known field is overruled, an unknown one is not.
    let lane = [job_with("lane-unknown", 5, Some("urgent"))];
    env.publish_jobs_to(&env.config.interactive_queue(), &lane)
        .await;
    let rows = env.wait_for_rows(jobs.len() + lane.len(), WITHIN).await;
    let priority = |job_id: &str| row(&rows, job_id).priority.clone();
    assert_eq!(
        priority("field-interactive").as_deref(),
        Some("interactive")
    );
    assert_eq!(priority("field-bulk").as_deref(), Some("bulk"));
    assert_eq!(priority("field-absent").as_deref(), Some("bulk"));
    assert_eq!(row(&rows, "field-unknown").status, "invalid");
    assert_eq!(row(&rows, "lane-unknown").status, "invalid");
    assert_eq!(priority("lane-unknown").as_deref(), Some("interactive"));
    worker.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_message_on_the_interactive_queue_that_is_not_a_job_is_sealed_naming_that_queue() {
    let env = TestEnv::new(MockConfig::default()).await;
    let worker = env.start_worker().await;
    let lane = env.config.interactive_queue();
    env.publisher
        .publish_job(&lane, "not-a-job", b"this is not JSON")
        .await
        .expect("published");
    let letters = eventually("the dead letter", WITHIN, || async {
        let letters = env.dead_letter_messages().await;
        (!letters.is_empty()).then_some(letters)
    })
    .await;
    let (body, properties) = &letters[0];
    let restored = env.sealer().open(body, properties).expect("it opens");
    // `dead-letters replay` restores it where it came from.
    assert_eq!(restored.source_queue, lane);
    assert_eq!(restored.body, b"this is not JSON");
    worker.stop().await;
    env.cleanup().await;
}
