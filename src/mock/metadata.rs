//! Stand-ins for the ECS metadata service (hardened mode: a session token first)
//! and for a credentials URI, on the mock's own port, so the worker's ECS-role and
//! URI sources are tested end to end against something strict about headers.
//!
//! Point the worker at them with `ID2META_ECS_METADATA_ENDPOINT=http://<mock>` or
//! `ALIBABA_CLOUD_CREDENTIALS_URI=http://<mock>/__credentials`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};

use super::issued::ECS_ROLE;
use super::state::Shared;

const TTL_HEADER: &str = "x-aliyun-ecs-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "x-aliyun-ecs-metadata-token";

/// The routes, to merge into the mock's router.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/latest/api/token", put(session_token))
        .route("/latest/meta-data/ram/security-credentials/", get(role))
        .route(
            "/latest/meta-data/ram/security-credentials/{role}",
            get(role_credentials),
        )
        .route("/__credentials", get(uri_credentials))
}

/// `PUT /latest/api/token` with a TTL of 1 to 21600 seconds, as the real service demands.
async fn session_token(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let ttl = header(&headers, TTL_HEADER).and_then(|v| v.trim().parse::<u32>().ok());
    match ttl {
        Some(1..=21_600) => shared
            .with_issuer(|issuer, _, _| issuer.metadata_session())
            .into_response(),
        _ => (StatusCode::BAD_REQUEST, "missing or invalid token TTL").into_response(),
    }
}

/// The instance's role name, for a caller holding a session token.
async fn role(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !shared
        .with_issuer(|issuer, _, _| issuer.knows_metadata_session(header(&headers, TOKEN_HEADER)))
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    ECS_ROLE.into_response()
}

/// The role's credentials, for a caller holding a session token.
async fn role_credentials(
    State(shared): State<Arc<Shared>>,
    Path(role): Path<String>,
    headers: HeaderMap,
) -> Response {
    let token = header(&headers, TOKEN_HEADER);
    let body = shared.with_issuer(|issuer, settings, keys| {
        if !issuer.knows_metadata_session(token) {
            Err(StatusCode::UNAUTHORIZED)
        } else if role != ECS_ROLE {
            Err(StatusCode::NOT_FOUND)
        } else {
            Ok(issuer.credentials_body(keys, settings.sts_ttl_secs))
        }
    });
    match body {
        Ok(body) => Json(body).into_response(),
        Err(status) => status.into_response(),
    }
}

/// `GET /__credentials`: what a credentials URI answers.
async fn uri_credentials(State(shared): State<Arc<Shared>>) -> Response {
    let body = shared
        .with_issuer(|issuer, settings, keys| issuer.credentials_body(keys, settings.sts_ttl_secs));
    Json(body).into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
