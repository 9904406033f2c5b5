//! The benchmark's jobs: the mock population's people (so every job is valid and
//! makes exactly one upstream call), in bodies the size of a typical job, stamped
//! with their publish time so a completion tells its own latency.

use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use serde_json::json;

use crate::mock::population;
use crate::queue::Publisher;

/// Confirms awaited at once when publishing (the broker's pipelining sweet spot here).
pub const OUTSTANDING_CONFIRMS: usize = 512;

/// The metadata key that carries the publish time, microseconds since the epoch.
pub const PUBLISHED_KEY: &str = "bench_published_us";

/// Microseconds since the Unix epoch (0 if the clock is before it).
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// The job id of job `i` of a batch.
pub fn job_id(batch_id: &str, i: u64) -> String {
    format!("{batch_id}-{i:06}")
}

/// The body of job `i`, stamped now: about 250 bytes, like an onboarding job.
pub fn body(batch_id: &str, i: u64) -> Vec<u8> {
    let (name, id_number, _) = population::person(i);
    json!({
        "job_id": job_id(batch_id, i),
        "name": name,
        "id_number": id_number,
        "batch_id": batch_id,
        "metadata": {"source": "id2meta-bench", "applicant": format!("a-{i:08}"), PUBLISHED_KEY: now_micros()},
    })
    .to_string()
    .into_bytes()
}

/// Publishes jobs `0..count` to `queue` with pipelined confirms; returns the bytes sent.
/// Bodies are made (and stamped) as they are sent, not in advance.
pub async fn publish(
    publisher: &Publisher,
    queue: &str,
    batch_id: &str,
    count: u64,
) -> anyhow::Result<u64> {
    let sent = futures_util::stream::iter((0..count).map(|i| {
        let job_id = job_id(batch_id, i);
        let body = body(batch_id, i);
        async move {
            publisher.publish_job(queue, &job_id, &body).await?;
            anyhow::Ok(body.len() as u64)
        }
    }))
    .buffer_unordered(OUTSTANDING_CONFIRMS)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<anyhow::Result<Vec<u64>>>()?;
    Ok(sent.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_body_is_a_valid_job_of_about_250_bytes_with_its_publish_time() {
        let before = now_micros();
        let body = body("bench-20260101t000000abcdef-pipeline", 123_456);
        let job = crate::job::Job::parse(&body, None).expect("a job");
        assert!(job.field_problem.is_none());
        assert_eq!(job.job_id, "bench-20260101t000000abcdef-pipeline-123456");
        assert!((200..=300).contains(&body.len()), "{} bytes", body.len());
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let stamped = value["metadata"][PUBLISHED_KEY].as_u64().unwrap();
        assert!(stamped >= before && stamped <= now_micros());
    }
}
