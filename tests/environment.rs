//! Environment errors (issue 8): an endpoint that is not the API, a clock out of
//! the window, a signer the upstream does not speak. In each case no row is
//! written, the jobs stay queued, `/readyz` answers 503 naming the cause; once the
//! environment is fixed the batch completes with one call per job.
//!
//! And the pause's own defects (issue 9): a broker session opened after the gate
//! tripped must not take jobs, and the liveness beat goes on while a pause waits
//! for the jobs in flight.

#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "worker/helpers.rs"]
mod helpers;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fault_proxy::FaultProxy;
use helpers::{eventually, person_job, person_jobs, TestEnv, Worker};
use id2meta::config::Config;
use id2meta::mock::{MockConfig, ScriptStep};
use id2meta::upstream::signing::Scheme;

const JOBS: u64 = 20;
const WITHIN: Duration = Duration::from_secs(30);

/// A server that answers every request with an HTML page and HTTP 200, as a
/// captive portal or a wrong host would; counts the requests it saw.
async fn html_server() -> (SocketAddr, Arc<AtomicU64>) {
    let hits = Arc::new(AtomicU64::new(0));
    let seen = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let seen = seen.clone();
        async move {
            seen.fetch_add(1, Ordering::SeqCst);
            (
                [(axum::http::header::CONTENT_TYPE, "text/html")],
                "<html><body>Welcome to nginx!</body></html>",
            )
        }
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("the HTML server listens");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, hits)
}

/// The body of one of the worker's HTTP endpoints, with its status.
async fn endpoint(worker: &Worker, path: &str) -> (u16, String) {
    let url = format!("http://{}{path}", worker.running.http_addr);
    let response = reqwest::get(url).await.expect("the HTTP endpoints answer");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

/// Waits until the worker is paused with `/readyz` naming `cause`, and every job
/// is back in the queue (ready, not held unacknowledged by the worker).
async fn assert_paused_with_the_jobs_queued(env: &TestEnv, worker: &Worker, cause: &str) {
    let reason = eventually("not ready, naming the cause", WITHIN, || async {
        let (status, reason) = worker.readyz().await;
        (status == 503 && reason.contains(cause)).then_some(reason)
    })
    .await;
    assert!(reason.contains("environment"), "{reason}");
    eventually("every job back in the queue", WITHIN, || async {
        (env.jobs_ready().await == JOBS as u32).then_some(())
    })
    .await;
    assert!(env.rows().await.is_empty(), "a row was written");
    assert_eq!(
        endpoint(worker, "/healthz").await.0,
        200,
        "alive while paused"
    );
}

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
            let answer = reqwest::Client::new()
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
async fn a_session_opened_after_the_gate_tripped_takes_no_jobs_and_the_probe_still_resumes() {
    // A slow budget keeps jobs waiting for a token: after the broker connection is
    // cut they still call, and meet the refusal while the worker is away.
    let env = TestEnv::new(MockConfig::default()).await;
    let broker = FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], 5672))).await;
    let mut config = env.config.clone();
    config.amqp_url = config
        .amqp_url
        .replace("127.0.0.1:5672", &broker.addr().to_string());
    config.concurrency = 4;
    config.qps = 4.0;
    let worker = env.start_worker_with(config).await;
    let jobs = person_jobs("reconnect", JOBS);
    env.publish_jobs(&jobs).await;
    eventually("calls under way", WITHIN, || async {
        (env.mock.stats().calls >= 2).then_some(())
    })
    .await;

    // The connection goes, and while the worker is away the jobs it still holds
    // meet the refusal: the gate trips between two sessions.
    broker.cut();
    env.mock
        .set_account_denied(Some("Forbidden.AccountAccessDenied"));
    eventually("the gate tripped while disconnected", WITHIN, || async {
        worker.running.health.account_refused().then_some(())
    })
    .await;
    broker.restore();

    // No session takes jobs while paused: every job not stored waits in the queue,
    // and the probe keeps going (it is what ends the pause).
    eventually("the jobs queued", WITHIN, || async {
        let stored = env.rows().await.len() as u32;
        (env.jobs_ready().await + stored >= JOBS as u32).then_some(())
    })
    .await;
    let refused = env.mock.stats().calls;
    eventually("a probe after the reconnect", WITHIN, || async {
        (env.mock.stats().calls > refused).then_some(())
    })
    .await;
    env.mock.set_account_denied(None);
    env.wait_for_rows(JOBS as usize, WITHIN).await;
    worker.stop().await;
    let batch = env.assert_batch_settled(&jobs).await;
    assert_eq!(batch.rows.len(), JOBS as usize);
    assert_eq!(
        env.mock.stats().verdict_calls,
        JOBS,
        "one billed call per job"
    );
    env.cleanup().await;
}

#[tokio::test]
async fn the_worker_stays_alive_while_a_pause_waits_for_a_slow_call() {
    let env = TestEnv::new(MockConfig::default()).await;
    // One call that outlasts /healthz's 10 s of grace, and a client that waits for it.
    let slow = person_job("slow", 0);
    let slow_number = slow["id_number"].as_str().expect("a number").to_string();
    env.mock.script(
        &slow_number,
        [ScriptStep {
            latency_ms: Some(14_000),
            ..ScriptStep::code("Success")
        }],
    );
    let mut config = env.config.clone();
    config.request_timeout = Duration::from_secs(30);
    config.lease = Duration::from_secs(60);
    let worker = env.start_worker_with(config).await;
    env.publish_jobs(std::slice::from_ref(&slow)).await;
    eventually("the slow call under way", WITHIN, || async {
        (env.mock.stats().calls == 1).then_some(())
    })
    .await;

    // A refusal pauses the worker while the slow call is in flight.
    env.mock
        .set_account_denied(Some("Forbidden.AccountAccessDenied"));
    env.publish_jobs(&[person_job("refused", 1)]).await;
    eventually("paused", WITHIN, || async {
        worker.running.health.account_refused().then_some(())
    })
    .await;
    // The drain waits for the slow job; the worker must stay alive all along.
    let deadline = tokio::time::Instant::now() + WITHIN;
    while env.rows().await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow job never settled"
        );
        let (status, body) = endpoint(&worker, "/healthz").await;
        assert_eq!(status, 200, "not alive during the pause's drain: {body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let rows = env.rows().await;
    assert_eq!(rows.len(), 1, "only the slow job's verdict is stored");
    assert_eq!(rows[0].job_id, "slow");
    env.mock.set_account_denied(None);
    env.wait_for_rows(2, WITHIN).await;
    worker.stop().await;
    env.cleanup().await;
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

#[tokio::test]
async fn after_a_pause_the_worker_resumes_with_one_job_before_the_rest() {
    const BATCH: u64 = 10;
    let env = TestEnv::new(MockConfig::default()).await;
    env.mock
        .set_account_denied(Some("Forbidden.AccountAccessDenied"));
    let jobs = person_jobs("probation", BATCH);
    // Every verdict takes 3 s (the refusals before it are answered at once).
    for job in &jobs {
        let number = job["id_number"].as_str().expect("a number");
        env.mock.script(
            number,
            [ScriptStep {
                latency_ms: Some(3_000),
                ..ScriptStep::code("Success")
            }],
        );
    }
    let mut config = env.config.clone();
    config.request_timeout = Duration::from_secs(15);
    config.lease = Duration::from_secs(30);
    let worker = env.start_worker_with(config).await;
    env.publish_jobs(&jobs).await;
    eventually("paused with the jobs queued", WITHIN, || async {
        (worker.running.health.account_refused() && env.jobs_ready().await == BATCH as u32)
            .then_some(())
    })
    .await;

    env.mock.set_account_denied(None);
    let verdicts = || {
        env.mock
            .stats()
            .by_code
            .get("Success")
            .copied()
            .unwrap_or(0)
    };
    eventually("the first call after the pause", WITHIN, || async {
        (verdicts() >= 1).then_some(())
    })
    .await;
    // While that first job is under way, the rest stay in the queue.
    assert_eq!(
        env.jobs_ready().await,
        BATCH as u32 - 1,
        "more than one job taken"
    );
    assert_eq!(verdicts(), 1, "more than one call after the pause");

    env.wait_for_rows(BATCH as usize, WITHIN).await;
    worker.stop().await;
    let batch = env.assert_batch_settled(&jobs).await;
    assert!(batch.rows.iter().all(|r| r.attempts == 1));
    assert_eq!(env.mock.stats().verdict_calls, BATCH);
    env.cleanup().await;
}
