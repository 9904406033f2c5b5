//! `/metrics` (Prometheus text), `/healthz` (the loop turns), `/readyz` (broker,
//! database, account): what an orchestrator and a dashboard read.
//!
//! - [`server`]: the accept loop both HTTP servers share (header-read timeout,
//!   bounded connections, the client's address).
//! - [`hosts`]: the Host allow-list (DNS rebinding), on both servers.

pub mod hosts;
pub mod server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

use crate::health::Health;
use hosts::AllowedHosts;

/// Connections the worker's port serves at once: a scraper and two probes need
/// a handful; the rest wait in the accept queue.
const CONNECTIONS: usize = 32;

#[derive(Clone)]
struct AppState {
    health: Arc<Health>,
    metrics: PrometheusHandle,
}

/// Binds `addr` and serves until `shutdown`; returns the bound address (port 0 picks one).
/// Requests for a host name other than ours and `allowed_hosts` are refused (421).
pub async fn serve(
    addr: SocketAddr,
    allowed_hosts: &[String],
    health: Arc<Health>,
    metrics: PrometheusHandle,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the HTTP endpoints on {addr} (ID2META_HTTP_ADDR)"))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let app = Router::new()
        .route("/metrics", get(render_metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AppState { health, metrics })
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(AllowedHosts::new(bound, allowed_hosts)),
            hosts::refuse_foreign,
        ));
    server::spawn(
        listener,
        app,
        server::Limits::new(CONNECTIONS),
        shutdown,
        "metrics",
    );
    Ok(bound)
}

async fn render_metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    // The supervisor beats every second; 10 s of silence means it is stuck.
    if state.health.alive(Duration::from_secs(10)) {
        (StatusCode::OK, "ok\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the consume loop is not making progress\n",
        )
    }
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.health.not_ready() {
        None if state.health.standby() => (
            StatusCode::OK,
            "ready: standby, no share of the QPS budget (more replicas than shares of at least 15 calls); taking no jobs\n"
                .to_string(),
        ),
        None => (StatusCode::OK, "ready\n".to_string()),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        ),
    }
}
