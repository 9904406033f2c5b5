//! `GET/POST /login`, `POST /logout`: the token in, a server-side session out,
//! and the session ended.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use maud::Markup;

use super::{field, form_pairs, see_other, viewer, Acting, Caller, ConsoleState, PageError};
use crate::console::pages::{self, login};

pub async fn form(
    State(state): State<ConsoleState>,
    Query(query): Query<HashMap<String, String>>,
    Extension(caller): Extension<Caller>,
) -> Markup {
    let next = post_login_target(query.get("next").map(String::as_str));
    login::render(&viewer(&state, &caller), false, next)
}

pub async fn submit(
    State(state): State<ConsoleState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, PageError> {
    let pairs = form_pairs(&body);
    let next = post_login_target(field(&pairs, "next"));
    let given = field(&pairs, "token").unwrap_or("");
    let client_addr = caller.client_addr;
    let now = Instant::now();
    if let Err(wait) = state.throttle.check(client_addr, now) {
        return Ok(throttled(&state, &caller, wait, now));
    }
    match &state.sessions {
        Some(sessions) if state.auth.token_matches(given) => {
            state.throttle.succeeded(client_addr);
            let (session, secret) = sessions.begin(client_addr).await?;
            if let Err(error) = sessions.sweep().await {
                tracing::warn!(error = %format!("{error:#}"), "sweeping console sessions failed");
            }
            tracing::info!(session = %session.id(), %client_addr, "console login");
            let mut response = see_other(next);
            set_cookie(&mut response, &sessions.cookie(Some(&secret)));
            Ok(response)
        }
        _ => {
            state.throttle.failed(client_addr, now);
            if let Some(refused) = state.throttle.to_log(client_addr, now) {
                tracing::warn!(%client_addr, refused, "console login refused (wrong token; logged once a minute per address)");
            }
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
        set_cookie(&mut response, &sessions.cookie(None));
    }
    Ok(response)
}

/// 429 with `Retry-After` (whole seconds, rounded up): the token was not compared.
fn throttled(state: &ConsoleState, caller: &Caller, wait: Duration, now: Instant) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let client_addr = caller.client_addr;
    if let Some(refused) = state.throttle.to_log(client_addr, now) {
        tracing::warn!(%client_addr, refused, retry_after = seconds, "console logins throttled (429; logged once a minute per address)");
    }
    let message =
        format!("Too many wrong tokens from your address: try again in {seconds} seconds.");
    let page = pages::problem("Too many attempts", &viewer(state, caller), &message);
    let mut response = (StatusCode::TOO_MANY_REQUESTS, page).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

fn set_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
}

/// The one rule for where a login leads: a path of this console, else `/`.
///
/// Browsers drop tabs, CR and LF from a URL and read `\\` as `/`, so
/// `/\t/evil.example` or `/\\evil.example` would leave for `//evil.example`.
/// So the target must start with one `/` (no scheme, no `//`), and every
/// character must be visible ASCII other than a backslash: a control character
/// (stripped or not), a space or a backslash anywhere makes it `/`.
pub fn post_login_target(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            path
        }
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::post_login_target;

    /// Targets a browser would take off this console, each with every character
    /// a browser strips (tab, CR, LF) or reads as a slash (backslash).
    #[test]
    fn every_target_that_could_leave_the_console_becomes_the_overview() {
        let mut hostile = vec![
            "//evil.example".to_string(),
            "https://evil.example".into(),
            "http:evil.example".into(),
            "javascript:alert(1)".into(),
            "evil.example".into(),
            " /batches".into(),
            "".into(),
            "/\\evil.example".into(),
            "\\/evil.example".into(),
            "/\\/evil.example".into(),
            "/batches\\..\\..\\evil".into(),
            "/\u{0}x".into(),
            "/\u{7f}x".into(),
            "/ba tches".into(),
            "/\u{2028}/evil.example".into(),
        ];
        for stripped in ['\t', '\r', '\n'] {
            hostile.push(format!("/{stripped}/evil.example"));
            hostile.push(format!("{stripped}//evil.example"));
            hostile.push(format!("/{stripped}{stripped}/evil.example"));
            hostile.push(format!("/batches{stripped}"));
        }
        for target in &hostile {
            assert_eq!(post_login_target(Some(target)), "/", "{target:?}");
        }
        assert_eq!(post_login_target(None), "/");
    }

    #[test]
    fn a_path_of_the_console_is_kept() {
        for path in [
            "/",
            "/batches",
            "/batches/b%2F1?after_id=x&after_at=1",
            "/dead-letters",
            "/jobs/a.b~c",
            "/javascript:x",
        ] {
            assert_eq!(post_login_target(Some(path)), path);
        }
    }
}
