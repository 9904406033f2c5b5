//! The mock's HTTP surface: the API at `/` and the control endpoints under `/__`.
//!
//! The API route reads the raw query and body itself (see [`super::request`]) so it
//! decodes exactly what the official SDK sends; the control routes are plain JSON.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::faults::ScriptStep;
use super::request;
use super::settings::SettingsPatch;
use super::state::Shared;

/// The router of one mock.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(api).post(api))
        .route("/__script", post(script))
        .route("/__config", get(config).post(patch_config))
        .route("/__stats", get(stats))
        .route("/__reset", post(reset))
        .with_state(shared)
}

async fn api(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = request::Call::new(
        method.as_str(),
        uri.query(),
        header_map(&headers),
        body.to_vec(),
    );
    let decision = shared.decide(&call);
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    let answer = decision.answer;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let request_id = HeaderValue::from_str(answer.request_id()).ok();
    let mut response = (status, Json(answer.body)).into_response();
    if let Some(id) = request_id {
        response.headers_mut().insert("x-acs-request-id", id);
    }
    response
}

/// Header names (already lower case) to values, a repeated header's values joined
/// by `,` as HTTP allows.
fn header_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut map = BTreeMap::<String, String>::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        map.entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    map
}

/// `{"id_number": "...", "codes": ["InternalError", {"code": "Success", "latency_ms": 3000}]}`
#[derive(Deserialize)]
struct ScriptRequest {
    id_number: String,
    codes: Vec<ScriptStep>,
}

async fn script(
    State(shared): State<Arc<Shared>>,
    Json(script): Json<ScriptRequest>,
) -> StatusCode {
    shared.script(&script.id_number, script.codes);
    StatusCode::NO_CONTENT
}

async fn config(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.settings()).into_response()
}

async fn patch_config(
    State(shared): State<Arc<Shared>>,
    Json(patch): Json<SettingsPatch>,
) -> Response {
    match shared.update(patch) {
        Ok(settings) => Json(settings).into_response(),
        Err(error) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": error.to_string()})),
        )
            .into_response(),
    }
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.stats()).into_response()
}

async fn reset(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.reset();
    StatusCode::NO_CONTENT
}
