//! `GET/POST /login`, `POST /logout`: the token in, a session cookie out.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::Markup;

use super::{field, form_pairs, now, see_other, viewer, ConsoleState};
use crate::console::auth::Auth;
use crate::console::pages::login;

pub async fn form(
    State(state): State<ConsoleState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Markup {
    let next = local(query.get("next").map(String::as_str));
    login::render(&viewer(&state, &headers), false, next)
}

pub async fn submit(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    let next = local(field(&pairs, "next"));
    let given = field(&pairs, "token").unwrap_or("");
    match state.auth.new_session(now()) {
        Some(session) if state.auth.token_matches(given) => {
            tracing::info!("console login");
            let mut response = see_other(next);
            if let Ok(value) = Auth::cookie(Some(&session)).parse() {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        _ => {
            tracing::warn!("console login refused");
            let page = login::render(&viewer(&state, &headers), true, next);
            (StatusCode::FORBIDDEN, page).into_response()
        }
    }
}

pub async fn logout() -> Response {
    let mut response = see_other("/");
    if let Ok(value) = Auth::cookie(None).parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
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
