//! `GET /dead-letters`, `POST /dead-letters/replay`, `POST /dead-letters/purge`.
//!
//! The dead-letter queue's list, replay and purge belong to the dead-letter tools
//! (`crate::queue::dead_letters`); this page renders their masked view.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::{field, form_pairs, now, refused, viewer, ConsoleState, PageError};
use crate::console::pages::dead_letters::{self as page};

/// Until the dead-letter tools are part of this build.
const NOT_BUILT: &str = "The dead-letter tools are not part of this build.";

pub async fn page(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let viewer = viewer(&state, &headers);
    Ok(page::render(Err(NOT_BUILT), None, &viewer, chrono::Utc::now()).into_response())
}

pub async fn replay(
    state: State<ConsoleState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    act(state, headers, body).await
}

pub async fn purge(
    state: State<ConsoleState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    act(state, headers, body).await
}

async fn act(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let pairs = form_pairs(&body);
    if let Err(refusal) = state.auth.may_act(&headers, field(&pairs, "csrf"), now()) {
        return Ok(refused(refusal, &state, &headers));
    }
    let viewer = viewer(&state, &headers);
    Ok(page::render(Err(NOT_BUILT), Some(NOT_BUILT), &viewer, chrono::Utc::now()).into_response())
}
