//! `GET/POST /login`, `POST /logout`: the token in, a server-side session out,
//! and the session ended.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use maud::Markup;

use super::{field, form_pairs, see_other, viewer, Acting, Caller, ConsoleState, PageError};
use crate::audit::{self, Actor};
use crate::console::pages::login;
use serde_json::json;

pub async fn form(
    State(state): State<ConsoleState>,
    Query(query): Query<HashMap<String, String>>,
    Extension(caller): Extension<Caller>,
) -> Markup {
    let next = local(query.get("next").map(String::as_str));
    login::render(&viewer(&state, &caller), false, next)
}

pub async fn submit(
    State(state): State<ConsoleState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, PageError> {
    let pairs = form_pairs(&body);
    let next = local(field(&pairs, "next"));
    let given = field(&pairs, "token").unwrap_or("");
    let client_addr = caller.client_addr;
    match &state.sessions {
        Some(sessions) if state.auth.token_matches(given) => {
            let (session, secret) = sessions.begin(client_addr).await?;
            if let Err(error) = sessions.sweep().await {
                tracing::warn!(error = %format!("{error:#}"), "sweeping console sessions failed");
            }
            tracing::info!(session = %session.id(), %client_addr, "console login");
            let actor = Actor::console(session.id(), &client_addr.to_string());
            audit::record(
                state.store.pool(),
                &actor,
                audit::Action::Login,
                None,
                &json!({}),
            )
            .await?;
            let mut response = see_other(next);
            set_cookie(&mut response, &sessions.cookie(Some(&secret)));
            Ok(response)
        }
        _ => {
            tracing::warn!(%client_addr, "console login refused");
            // Who tried, never what they typed.
            let actor = Actor::console("none", &client_addr.to_string());
            let detail = json!({ "token_given": !given.is_empty() });
            audit::record(
                state.store.pool(),
                &actor,
                audit::Action::LoginRefused,
                None,
                &detail,
            )
            .await?;
            let page = login::render(&viewer(&state, &caller), true, next);
            Ok((StatusCode::FORBIDDEN, page).into_response())
        }
    }
}

/// Ends the session for good (its row is deleted): an action like any other,
/// so it needs the CSRF field.
pub async fn logout(
    State(state): State<ConsoleState>,
    acting: Acting,
) -> Result<Response, PageError> {
    let mut response = see_other("/");
    if let Some(sessions) = &state.sessions {
        sessions.end(&acting.session).await?;
        tracing::info!(session = %acting.session.id(), client_addr = %acting.session.client_addr(), "console logout");
        audit::record(
            state.store.pool(),
            &acting.actor(),
            audit::Action::Logout,
            None,
            &json!({}),
        )
        .await?;
        set_cookie(&mut response, &sessions.cookie(None));
    }
    Ok(response)
}

fn set_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
}

/// Where to go after logging in: a path on this console only (no open redirect).
fn local(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path
        }
        _ => "/",
    }
}
