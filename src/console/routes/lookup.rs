//! `GET /lookup` (the empty form) and `POST /lookup` (a person's masked rows).
//!
//! The identity arrives in a POST body only and is answered on the same
//! response, never with a redirect that would carry it; it becomes
//! [`Pseudonyms`](crate::identity::Pseudonyms) at once and is neither logged
//! nor stored. The rows and the audit row come from
//! [`crate::lifecycle::lookup`], the one place the CLI's `lookup` uses too.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;

use super::{viewer, Acting, Caller, ConsoleState, PageError};
use crate::console::pages::{self, lookup::Answer};
use crate::lifecycle::{lookup, people::Person};
use crate::secret::Pii;

pub async fn form(
    State(state): State<ConsoleState>,
    Extension(caller): Extension<Caller>,
) -> Response {
    pages::lookup::render(None, &viewer(&state, &caller)).into_response()
}

pub async fn submit(
    State(state): State<ConsoleState>,
    Extension(caller): Extension<Caller>,
    acting: Acting,
) -> Result<Response, PageError> {
    let viewer = viewer(&state, &caller);
    let typed = |name: &str| acting.field(name).map(str::trim).filter(|v| !v.is_empty());
    let (Some(name), Some(id_number)) = (typed("name"), typed("id_number")) else {
        let page = pages::problem(
            "Look a person up",
            &viewer,
            "A lookup needs a name and an ID number.",
        );
        return Ok((StatusCode::BAD_REQUEST, page).into_response());
    };
    let person = Person {
        name: Pii::new(name),
        id_number: Pii::new(id_number),
    };
    let Ok(key) = state.config.require_pii_key() else {
        tracing::warn!("a console lookup was refused: ID2META_PII_KEY is not set (503)");
        let page = pages::problem(
            "Look a person up",
            &viewer,
            "The console has no ID2META_PII_KEY: set the workers' key to look people up.",
        );
        return Ok((StatusCode::SERVICE_UNAVAILABLE, page).into_response());
    };
    let who = person.pseudonyms(key);
    drop(person);
    let found = lookup::lookup(&state.store, &who, &acting.actor()).await?;
    tracing::info!(session = %acting.session.id(), client_addr = %acting.session.client_addr(), rows = found.len(), "a person was looked up from the console");
    let answer = Answer {
        name_masked: &who.name_masked,
        id_number_masked: &who.id_number_masked,
        found: &found,
    };
    Ok(pages::lookup::render(Some(&answer), &viewer).into_response())
}
