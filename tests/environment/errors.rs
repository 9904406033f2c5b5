//! The environment errors, each from broken to fixed.

use std::sync::atomic::Ordering;
use std::time::Duration;

use id2meta::config::Config;
use id2meta::mock::{MockConfig, ScriptStep};
use id2meta::upstream::signing::Scheme;

use crate::helpers::{eventually, person_job, person_jobs, TestEnv};
use crate::{assert_paused_with_the_jobs_queued, endpoint, html_server, JOBS, WITHIN};

#[tokio::test]
async fn an_endpoint_answering_html_pauses_without_a_row_and_the_fixed_endpoint_completes_the_batch(
) {
    let env = TestEnv::new(MockConfig::default()).await;
    let (html, hits) = html_server().await;
    let mut wrong = env.config.clone();
    wrong.endpoint = format!("http://{html}");
    let worker = env.start_worker_with(wrong).await;
    let jobs = person_jobs("html", JOBS);
    env.publish_jobs(&jobs).await;

    assert_paused_with_the_jobs_queued(&env, &worker, "NotAlibabaAnswer (endpoint)").await;
    let metrics = endpoint(&worker, "/metrics").await.1;
    assert!(
        metrics.contains(r#"id2meta_pause_cause{cause="endpoint"} 1"#),
        "{metrics}"
    );
    // Paused, not spinning: the jobs are not taken again and again, only probes go out.
    let seen = hits.load(Ordering::SeqCst);
    eventually("a probe after the pause", WITHIN, || async {
        (hits.load(Ordering::SeqCst) > seen).then_some(())
    })
    .await;
    assert!(
        hits.load(Ordering::SeqCst) <= seen + 3,
        "more than probes reached the wrong endpoint"
    );
    assert_eq!(env.jobs_ready().await, JOBS as u32);
    worker.stop().await;

    // Pointed right (as an operator fixes ID2META_ENDPOINT and redeploys).
    let worker = env.start_worker().await;
    env.wait_for_rows(JOBS as usize, WITHIN).await;
    worker.stop().await;
    let batch = env.assert_batch_settled(&jobs).await;
    assert_eq!(batch.calls, JOBS, "one call per job");
    assert!(batch.rows.iter().all(|r| r.attempts == 1));
    env.cleanup().await;
}

/// Breaks the mock with `broken` (a `/__config` patch), runs a batch into the
/// pause it causes, then fixes the mock with `fixed`: the same worker finds out by
/// its probe and completes the batch with one billed call per job.
async fn paused_then_fixed(
    name: &str,
    config: impl FnOnce(&mut Config),
    broken: serde_json::Value,
    cause: &str,
    metric_cause: &str,
    fixed: serde_json::Value,
) {
    let env = TestEnv::new(MockConfig::default()).await;
    let patch = |body: serde_json::Value| {
        let url = format!("{}/__config", env.mock.endpoint());
        async move {
            let answer = id2meta::tls::http_client()
                .build()
                .expect("an HTTP client")
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("the mock answers");
            assert!(answer.status().is_success(), "{}", answer.status());
        }
    };
    patch(broken).await;
    let mut settings = env.config.clone();
    config(&mut settings);
    let worker = env.start_worker_with(settings).await;
    let jobs = person_jobs(name, JOBS);
    env.publish_jobs(&jobs).await;

    assert_paused_with_the_jobs_queued(&env, &worker, cause).await;
    let metrics = endpoint(&worker, "/metrics").await.1;
    let gauge = format!(r#"id2meta_pause_cause{{cause="{metric_cause}"}} 1"#);
    assert!(metrics.contains(&gauge), "{gauge} not in {metrics}");
    assert_eq!(
        env.mock.stats().verdict_calls,
        0,
        "nothing billed while paused"
    );

    patch(fixed).await;
    env.wait_for_rows(JOBS as usize, Duration::from_secs(90))
        .await;
    assert_eq!(worker.readyz().await.0, 200);
    worker.stop().await;
    let batch = env.assert_batch_settled(&jobs).await;
    assert_eq!(
        env.mock.stats().verdict_calls,
        JOBS,
        "one billed call per job"
    );
    assert!(
        batch.rows.iter().all(|r| r.attempts == 1),
        "a refused call was counted as an attempt"
    );
    env.cleanup().await;
}

#[tokio::test]
async fn a_clock_twenty_minutes_off_pauses_without_a_row_and_the_batch_completes_once_it_is_right()
{
    paused_then_fixed(
        "clock",
        |_| {},
        serde_json::json!({ "clock_offset_secs": 1200 }),
        "InvalidTimeStamp.Expired (clock)",
        "clock",
        serde_json::json!({ "clock_offset_secs": 0 }),
    )
    .await;
}

#[tokio::test]
async fn a_v2_signer_against_a_v3_only_upstream_pauses_and_completes_once_v2_is_accepted() {
    paused_then_fixed(
        "v3only",
        |config| config.signature = Scheme::V2,
        serde_json::json!({ "accept_signatures": ["v3"] }),
        "IncompleteSignature (signature)",
        "signature",
        serde_json::json!({ "accept_signatures": ["v2", "v3"] }),
    )
    .await;
}

#[tokio::test]
async fn an_expired_sts_token_that_cannot_be_refreshed_pauses_and_is_not_counted_as_an_attempt() {
    let env = TestEnv::new(MockConfig::default()).await;
    let job = person_job("sts", 3);
    let number = job["id_number"].as_str().expect("a number").to_string();
    env.mock
        .script(&number, [ScriptStep::code("InvalidSecurityToken.Expired")]);
    // A fixed pair with a token: no refresh can bring anything new.
    let mut config = env.config.clone();
    config.security_token = Some(id2meta::secret::Secret::new("sts-token"));
    let worker = env.start_worker_with(config).await;
    env.publish_jobs(std::slice::from_ref(&job)).await;

    let rows = env.wait_for_rows(1, WITHIN).await;
    let metrics = endpoint(&worker, "/metrics").await.1;
    worker.stop().await;
    // Paused on the refusal (not repeated without new credentials), resumed by the
    // probe, then verified once: the refused call is no attempt of the job's.
    assert!(
        metrics.contains(r#"id2meta_pause_cause{cause="credentials"}"#),
        "{metrics}"
    );
    let stats = env.mock.stats();
    assert_eq!(stats.by_code.get("InvalidSecurityToken.Expired"), Some(&1));
    assert_eq!(stats.verdict_calls, 1);
    assert_eq!(
        (rows[0].upstream_code.as_deref(), rows[0].attempts),
        (Some("Success"), 1)
    );
    env.cleanup().await;
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_pauses_as_a_wrong_endpoint() {
    let env = TestEnv::new(MockConfig::default()).await;
    // The redirect points at a server that counts what reaches it.
    let (target, hits) = html_server().await;
    let location = format!("http://{target}/elsewhere");
    let app = axum::Router::new().fallback(move || {
        let location = location.clone();
        async move {
            (
                axum::http::StatusCode::FOUND,
                [(axum::http::header::LOCATION, location)],
            )
        }
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("the redirecting server listens");
    let redirecting = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut upstream = env.config.upstream().expect("an upstream config");
    upstream.endpoint = format!("http://{redirecting}");
    let client = id2meta::upstream::Client::new(upstream).expect("a client");
    let (name, id_number, _) = id2meta::mock::population::person(0);
    let who = id2meta::identity::Identity::parse(&name, &id_number).expect("an identity");
    match client.verify(&who).await {
        id2meta::upstream::Outcome::Failure(f) => assert_eq!(
            (f.code.as_str(), f.class, f.http_status),
            (
                "NotAlibabaAnswer",
                id2meta::upstream::FailureClass::Pause,
                Some(302)
            )
        ),
        verdict => panic!("a redirect gave {verdict:?}"),
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the signed query went elsewhere"
    );
    env.cleanup().await;
}
