//! Environment errors (issue 8): an endpoint that is not the API, a clock out of
//! the window, a signer the upstream does not speak, an STS token refused. In each
//! case no row is written, the jobs stay queued, `/readyz` answers 503 naming the
//! cause; once the environment is fixed the batch completes with one call per job.
//!
//! And the pause's own mechanics (issue 9): a broker session opened after the gate
//! tripped takes no jobs, the liveness beat goes on while a pause waits for the jobs
//! in flight, and the worker resumes with one job before the rest.

#[path = "../support/fault_proxy.rs"]
mod fault_proxy;
#[path = "../worker/helpers.rs"]
mod helpers;

mod errors;
mod pause;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use helpers::{eventually, TestEnv, Worker};

const JOBS: u64 = 20;
const WITHIN: Duration = Duration::from_secs(30);

/// A server that answers every request with an HTML page and HTTP 200, as a
/// captive portal or a wrong host would; counts the requests it saw.
pub async fn html_server() -> (SocketAddr, Arc<AtomicU64>) {
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
pub async fn endpoint(worker: &Worker, path: &str) -> (u16, String) {
    let url = format!("http://{}{path}", worker.running.http_addr);
    let response = id2meta::tls::get(url)
        .await
        .expect("the HTTP endpoints answer");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

/// Waits until the worker is paused with `/readyz` naming `cause`, and every job
/// is back in the queue (ready, not held unacknowledged by the worker).
pub async fn assert_paused_with_the_jobs_queued(env: &TestEnv, worker: &Worker, cause: &str) {
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
