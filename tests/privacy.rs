//! No plaintext name or ID number in the logs (at TRACE), the rows, the
//! completions, or what the worker adds to a dead letter.
//!
//! Its own test binary: the log capture is the process-wide tracing subscriber,
//! and no other test may share (or pollute) it.

#[path = "worker/helpers.rs"]
mod helpers;

use std::io::Write;
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::Duration;

use id2meta::mock::{population, MockConfig, ScriptStep};
use id2meta::upstream::Verdict;
use serde_json::json;

use helpers::{id_number_of, people_with, person_job, TestEnv};

/// Everything logged by this process since [`capture_logs`].
fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(Arc::default)
}

/// A writer into the shared buffer, one per event.
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut buffer = self.0.lock().unwrap_or_else(|p| p.into_inner());
        buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber as the global default, once.
fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("id2meta=trace"))
            .with_writer(|| Capture(log_buffer().clone()))
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
    });
}

fn logged() -> String {
    let buffer = log_buffer().lock().unwrap_or_else(|p| p.into_inner());
    String::from_utf8_lossy(&buffer).into_owned()
}

/// The plaintext forms a leak could take: as sent, normalised, and the 17 digits
/// an ID number's mask must never reveal together.
fn secrets_of(job: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(name) = job["name"].as_str() {
        out.push(name.trim().to_string());
    }
    if let Some(id) = job["id_number"].as_str() {
        let id = id.trim().to_uppercase();
        out.push(id.get(..17).unwrap_or(&id).to_string());
        out.push(id);
    }
    out.retain(|s| !s.is_empty());
    out
}

#[tokio::test]
async fn no_name_or_id_number_appears_in_logs_rows_completions_or_dead_letter_headers() {
    capture_logs();
    let env = TestEnv::new(MockConfig::default()).await;
    let person = |verdict| people_with(verdict).next().unwrap();
    let spare: Vec<u64> = people_with(Verdict::Match).skip(1).take(5).collect();
    let (rejected, failed, throttled, impostor, poisoned) =
        (spare[0], spare[1], spare[2], spare[3], spare[4]);
    env.mock
        .script(&id_number_of(rejected), ["InvalidParameter"]);
    env.mock
        .script(&id_number_of(failed), vec!["InternalError"; 10]);
    env.mock.script(
        &id_number_of(throttled),
        [ScriptStep::code("Throttling.User")],
    );
    let (bad_name, bad_id, _) = population::person(person(Verdict::Mismatch) + 1);
    let wrong_check = format!(
        "{}{}",
        &bad_id[..17],
        if bad_id.ends_with('0') { '1' } else { '0' }
    );
    let jobs = vec![
        person_job("p-match", person(Verdict::Match)),
        person_job("p-mismatch", person(Verdict::Mismatch)),
        person_job("p-not-found", person(Verdict::NotFound)),
        json!({"job_id": "p-invalid", "name": bad_name, "id_number": wrong_check}),
        person_job("p-rejected", rejected),
        person_job("p-failed", failed),
        person_job("p-throttled", throttled),
    ];
    // Not jobs, but carrying an identity: a wrong type, and a job_id reused.
    let mut poison = person_job("p-poison", poisoned);
    poison["batch_id"] = json!(true);
    let conflict = person_job("p-match", impostor);

    let mut config = env.config.clone();
    config.max_attempts = 3;
    let worker = env.start_worker_with(config).await;
    env.publish_jobs(&jobs).await;
    let rows = env.wait_for_rows(jobs.len(), Duration::from_secs(30)).await;
    let poison_body = serde_json::to_vec(&poison).unwrap();
    env.publish_raw(&poison_body).await;
    env.publish_jobs(std::slice::from_ref(&conflict)).await;
    let dead = helpers::collect_until("dead letters", 2, Duration::from_secs(30), || {
        env.dead_letter_messages()
    })
    .await;
    worker.stop().await;
    let completions = env.completions().await;

    let statuses: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(
        statuses.into_iter().collect::<Vec<_>>(),
        [
            "failed",
            "invalid",
            "match",
            "mismatch",
            "not_found",
            "rejected"
        ],
        "the batch covers every status"
    );
    assert_eq!(completions.len(), jobs.len());
    let logs = logged();
    assert!(logs.contains("job settled"), "the capture works");
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "verbose levels captured"
    );

    // A dead letter keeps the producer's message for replay, but only sealed:
    // opened with the key it is the body that was published, nothing more.
    let sealer = env.sealer();
    let conflict_body = serde_json::to_vec(&conflict).unwrap();
    let mut bodies: Vec<Vec<u8>> = dead
        .iter()
        .map(|(b, p)| sealer.open(b, p).expect("a sealed dead letter").body)
        .collect();
    bodies.sort();
    let mut published = vec![poison_body.clone(), conflict_body.clone()];
    published.sort();
    assert_eq!(bodies, published);
    let headers = format!("{:?}", dead.iter().map(|(_, p)| p).collect::<Vec<_>>());
    let sealed_bodies = dead
        .iter()
        .map(|(b, _)| String::from_utf8_lossy(b).into_owned())
        .collect::<Vec<_>>()
        .join("\n");

    let places = [
        ("logs", logs),
        ("rows", format!("{rows:?}")),
        ("completions", format!("{completions:?}")),
        ("dead-letter properties", headers),
        ("dead-letter bodies", sealed_bodies),
    ];
    let all_jobs = jobs.iter().chain([&poison, &conflict]);
    for secret in all_jobs.flat_map(secrets_of) {
        for (place, text) in &places {
            assert!(
                !text.contains(&secret),
                "plaintext identity data in the {place}"
            );
        }
    }
    env.cleanup().await;
}
