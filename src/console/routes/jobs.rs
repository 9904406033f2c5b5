//! `GET /jobs/{job_id}` and the search form's `GET /jobs?job_id=…`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;

use super::{no_such, plausible_id, viewer, Caller, ConsoleState, PageError};
use crate::console::pages::{batches::enc, job};
use crate::console::reads::jobs;

pub async fn search(Query(query): Query<HashMap<String, String>>) -> Response {
    match query
        .get("job_id")
        .map(|id| id.trim())
        .filter(|id| !id.is_empty())
    {
        Some(job_id) => Redirect::to(&format!("/jobs/{}", enc(job_id))).into_response(),
        None => Redirect::to("/batches").into_response(),
    }
}

pub async fn page(
    State(state): State<ConsoleState>,
    Path(job_id): Path<String>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, PageError> {
    if !plausible_id(&job_id) {
        return Ok(no_such("job", &state, &caller));
    }
    let found = jobs::find(state.store.db(), &job_id).await?;
    Ok(job::render(&job_id, &found, &viewer(&state, &caller)).into_response())
}
