//! `/metrics` parses as Prometheus text and its counters agree with the rows;
//! `/healthz` and `/readyz` answer. Its own test binary: the metrics recorder is
//! process-wide, so no other worker may count into it.

#[path = "worker/helpers.rs"]
mod helpers;

use std::collections::BTreeMap;
use std::time::Duration;

use helpers::{person_job, TestEnv};
use id2meta::mock::MockConfig;
use serde_json::json;

/// One sample: metric name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// A strict reader of the Prometheus text format (what a scraper needs of it).
fn parse_prometheus(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix('#') {
            let words: Vec<&str> = comment.split_whitespace().collect();
            assert!(
                matches!(words.first(), Some(&"HELP") | Some(&"TYPE")),
                "bad comment: {line}"
            );
            if words[0] == "TYPE" {
                assert!(
                    matches!(
                        words.get(2),
                        Some(&"counter" | &"gauge" | &"histogram" | &"summary" | &"untyped")
                    ),
                    "{line}"
                );
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels: {line}"));
                let labels = body
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (k, v) = pair
                            .split_once("=\"")
                            .unwrap_or_else(|| panic!("bad label: {line}"));
                        (k.to_string(), v.trim_end_matches('"').to_string())
                    })
                    .collect();
                (name.to_string(), labels)
            }
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name: {line}"
        );
        samples.push((name, labels, value));
    }
    samples
}

fn sum(samples: &[Sample], name: &str, label: Option<(&str, &str)>) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| {
            n == name && label.is_none_or(|(k, v)| l.get(k).map(String::as_str) == Some(v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_agree_with_the_rows() {
    let env = TestEnv::new(MockConfig::default()).await;
    let (_, retry_id, _) = id2meta::mock::population::person(1);
    env.mock.script(&retry_id, ["InternalError"]);
    let worker = env.start_worker().await;
    let base = format!("http://{}", worker.running.http_addr);
    let http = id2meta::tls::http_client().build().expect("an HTTP client");
    let mut jobs: Vec<_> = (0..30).map(|i| person_job(&format!("m-{i}"), i)).collect();
    jobs.push(json!({"job_id": "m-invalid", "name": "张三", "id_number": "123"}));
    env.publish_jobs(&jobs).await;
    env.publish_raw(b"not json").await;
    let rows = env.wait_for_rows(jobs.len(), Duration::from_secs(30)).await;

    // The dead letter is counted once it is acknowledged; wait for it through the metric.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let samples = loop {
        let text = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let samples = parse_prometheus(&text);
        if sum(&samples, "id2meta_dead_lettered_total", None) >= 1.0
            || tokio::time::Instant::now() > deadline
        {
            break samples;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for status in ["match", "mismatch", "not_found", "invalid"] {
        let stored = rows.iter().filter(|r| r.status == status).count() as f64;
        assert_eq!(
            sum(&samples, "id2meta_jobs_total", Some(("status", status))),
            stored,
            "{status}"
        );
    }
    let stats = env.mock.stats();
    assert_eq!(
        sum(&samples, "id2meta_upstream_calls_total", None),
        stats.calls as f64
    );
    assert_eq!(
        sum(
            &samples,
            "id2meta_upstream_calls_total",
            Some(("code", "InternalError"))
        ),
        1.0
    );
    assert_eq!(sum(&samples, "id2meta_retries_total", None), 1.0);
    let attempts: i32 = rows.iter().map(|r| r.attempts).sum();
    assert_eq!(
        sum(&samples, "id2meta_job_attempts_sum", None),
        attempts as f64
    );
    assert_eq!(
        sum(&samples, "id2meta_upstream_latency_seconds_count", None),
        stats.calls as f64
    );
    assert_eq!(
        sum(
            &samples,
            "id2meta_dead_lettered_total",
            Some(("reason", "not_json"))
        ),
        1.0
    );
    assert_eq!(sum(&samples, "id2meta_consumer_paused", None), 0.0);
    assert!(samples.iter().any(|(n, _, _)| n == "id2meta_qps_share"));

    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    worker.stop().await;
    env.cleanup().await;
}
