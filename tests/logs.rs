//! The contract's "Logs": a real worker process, started as an operator starts it
//! (`RUST_LOG` unset), writes one INFO line per settled job with its `job_id`,
//! `batch_id`, `queue`, `status`, `attempts` and `request_id`, in both formats,
//! and never a name or an ID number.

#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::time::Duration;

use id2meta::mock::{population, MockConfig};

use support::{WorkerProcess, World};

/// Bulk jobs in the jobs queue, and interactive ones in its `.interactive` lane.
const BULK: u64 = 60;
const INTERACTIVE: std::ops::Range<u64> = 1000..1005;

/// Settles every job on one worker logging in `format`; returns its log and the world.
async fn settle_jobs_logging(format: &str) -> (String, World, Vec<String>) {
    let world = World::new(MockConfig::default()).await;
    let mut job_ids = world.publish_people(BULK).await;
    let lane = world.config.interactive_queue();
    job_ids.extend(world.publish_people_to(&lane, "urgent-", INTERACTIVE).await);
    let worker = WorkerProcess::start(
        &world,
        &[("ID2META_LOG_FORMAT", format), ("ID2META_QPS", "200")],
    )
    .await;
    world
        .wait_for_rows(job_ids.len() as i64, Duration::from_secs(60))
        .await;
    let log = worker.log.clone();
    worker.stop(Duration::from_secs(15)).await;
    let text = std::fs::read_to_string(&log).expect("the worker's log");
    (text, world, job_ids)
}

/// Every plaintext name and ID number the jobs carried.
fn plaintexts() -> Vec<String> {
    (0..BULK)
        .chain(INTERACTIVE)
        .flat_map(|i| {
            let (name, id_number, _) = population::person(i);
            [name, id_number]
        })
        .collect()
}

fn assert_no_plaintext(log: &str) {
    for secret in plaintexts() {
        assert!(!log.contains(&secret), "a name or ID number was logged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_worker_at_the_default_filter_logs_one_line_per_settled_job_with_its_fields() {
    let (log, world, job_ids) = settle_jobs_logging("json").await;
    let mut settled: HashMap<String, serde_json::Value> = HashMap::new();
    for line in log.lines() {
        let event: serde_json::Value = serde_json::from_str(line).expect("every line is JSON");
        if event["message"] != "job settled" {
            continue;
        }
        assert_eq!(event["level"], "INFO", "{line}");
        let job_id = event["job_id"].as_str().expect("job_id").to_string();
        assert!(
            settled.insert(job_id, event.clone()).is_none(),
            "two lines for one job: {line}"
        );
    }
    assert_eq!(settled.len(), job_ids.len(), "one line per job:\n{log}");
    for job_id in &job_ids {
        let event = &settled[job_id];
        let queue = if job_id.starts_with("urgent-") {
            world.config.interactive_queue()
        } else {
            world.config.jobs_queue.clone()
        };
        assert_eq!(event["queue"], queue.as_str(), "{event}");
        assert_eq!(event["batch_id"], "b1", "{event}");
        assert!(
            ["match", "mismatch", "not_found"].contains(&event["status"].as_str().unwrap_or("")),
            "{event}"
        );
        assert_eq!(event["attempts"], 1, "{event}");
        assert!(
            !event["request_id"].as_str().unwrap_or("").is_empty(),
            "{event}"
        );
    }
    assert_no_plaintext(&log);
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pretty_worker_at_the_default_filter_logs_one_line_per_settled_job_with_its_fields() {
    let (log, world, job_ids) = settle_jobs_logging("pretty").await;
    assert!(!log.contains('\u{1b}'), "no colours in a file:\n{log}");
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("job settled")).collect();
    assert_eq!(lines.len(), job_ids.len(), "one line per job:\n{log}");
    for job_id in &job_ids {
        let field = format!("job_id={job_id} ");
        let of_job: Vec<&&str> = lines.iter().filter(|l| l.contains(&field)).collect();
        assert_eq!(of_job.len(), 1, "one line for {job_id}:\n{log}");
        let line = of_job[0];
        assert!(line.contains(" INFO "), "{line}");
        let queue = if job_id.starts_with("urgent-") {
            world.config.interactive_queue()
        } else {
            world.config.jobs_queue.clone()
        };
        for wanted in [
            format!("queue={queue} "),
            "batch_id=b1 ".to_string(),
            "attempts=1 ".to_string(),
            "status=".to_string(),
            "request_id=".to_string(),
        ] {
            assert!(line.contains(&wanted), "{wanted} missing: {line}");
        }
        assert!(!line.contains("request_id= "), "{line}");
    }
    assert_no_plaintext(&log);
    world.cleanup().await;
}

/// A rollout stops every replica with SIGTERM: a clean stop must not page anyone.
/// (Consuming channels left to close on their last handle's drop raced the
/// connection's close, and lapin logged "Connection error: invalid channel state"
/// at ERROR on every stop and every move to standby.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_with_sigterm_after_settling_jobs_logs_no_error() {
    let (log, world, _) = settle_jobs_logging("json").await;
    let errors: Vec<&str> = log
        .lines()
        .filter(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .map(|event| event["level"] == "ERROR")
                .unwrap_or(true)
        })
        .collect();
    assert!(
        errors.is_empty(),
        "ERROR lines on a clean stop:\n{}",
        errors.join("\n")
    );
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_pii_key_differs_from_another_replicas_warns_without_naming_either_key() {
    let world = World::new(MockConfig::default()).await;
    // Another replica, holding another key, marked its fingerprint moments ago.
    let other = id2meta::secret::Secret::new("another-replicas-pii-key-987654");
    let fingerprint = id2meta::identity::key_fingerprint(&other);
    world
        .store
        .mark_pii_key(&fingerprint, id2meta::key_agreement::WITHIN)
        .await
        .expect("the other key marked");
    let worker = WorkerProcess::start(&world, &[]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let warning = loop {
        let tail = worker.log_tail(200);
        if let Some(line) = tail
            .lines()
            .find(|line| line.contains("replicas disagree on ID2META_PII_KEY"))
        {
            break line.to_string();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no warning about the keys:\n{tail}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(warning.contains("\"level\":\"WARN\""), "{warning}");
    assert!(warning.contains("\"keys_in_use\":2"), "{warning}");
    let log = worker.log.clone();
    worker.stop(Duration::from_secs(15)).await;
    let text = std::fs::read_to_string(&log).expect("the worker's log");
    assert!(!text.contains(support::world::PII_KEY) && !text.contains(other.expose()));
    assert!(
        !text.contains(&fingerprint),
        "the other key's fingerprint was logged"
    );
}
