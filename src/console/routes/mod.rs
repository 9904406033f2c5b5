//! The console's handlers: read what a page needs, render it, or act after the
//! access checks of [`crate::console::auth`].

mod batches;
mod dead_letters;
mod jobs;
mod login;
mod overview;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use super::auth::Refusal;
use super::pages::{self, Viewer};
use super::ConsoleState;

pub fn router(state: ConsoleState) -> Router {
    Router::new()
        .route("/", get(overview::page))
        .route("/batches", get(batches::list))
        .route("/batches/{batch_id}", get(batches::detail))
        .route("/batches/{batch_id}/export.csv", get(batches::export))
        .route("/batches/{batch_id}/cancel", post(batches::cancel))
        .route("/jobs", get(jobs::search))
        .route("/jobs/{job_id}", get(jobs::page))
        .route("/dead-letters", get(dead_letters::page))
        .route("/dead-letters/replay", post(dead_letters::replay))
        .route("/dead-letters/purge", post(dead_letters::purge))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            gate_reads,
        ))
        .with_state(state)
}

/// Off loopback, every page but the login form needs the token.
async fn gate_reads(State(state): State<ConsoleState>, request: Request, next: Next) -> Response {
    let open = request.uri().path() == "/login";
    if open
        || state
            .auth
            .may_read(state.loopback, request.headers(), now())
    {
        next.run(request).await
    } else {
        Redirect::to("/login").into_response()
    }
}

/// The clock sessions are checked against (seconds since the epoch).
fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Who is looking: logged in (with a CSRF token for forms) or not.
fn viewer(state: &ConsoleState, headers: &HeaderMap) -> Viewer {
    Viewer {
        csrf: state
            .auth
            .session(headers, now())
            .map(|s| state.auth.csrf(&s)),
        actions: state.auth.configured(),
    }
}

/// A page that failed to read its data: logged, and shown without details.
struct PageError(anyhow::Error);

impl From<anyhow::Error> for PageError {
    fn from(error: anyhow::Error) -> Self {
        Self(error)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        tracing::warn!(error = %format!("{:#}", self.0), "a console page failed");
        let page = pages::problem(
            "Unavailable",
            &Viewer::default(),
            "The console could not read what this page shows (is PostgreSQL reachable?). The console's log says more.",
        );
        (StatusCode::SERVICE_UNAVAILABLE, page).into_response()
    }
}

/// The answer to a refused action: 403, with a way forward for a person.
fn refused(refusal: Refusal, state: &ConsoleState, headers: &HeaderMap) -> Response {
    let message = match refusal {
        Refusal::NotLoggedIn => format!("{refusal}: /login"),
        _ => refusal.to_string(),
    };
    let page = pages::problem("Not allowed", &viewer(state, headers), &message);
    (StatusCode::FORBIDDEN, page).into_response()
}

/// The pairs of an `application/x-www-form-urlencoded` body, repeated names kept
/// (a selection of dead letters is many `id` fields).
fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let spaced = s.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8_lossy()
            .into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => (decode(name), decode(value)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

/// The first value of a form field.
fn field<'f>(pairs: &'f [(String, String)], name: &str) -> Option<&'f str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// After a successful action: back to a page, by GET (so a reload does not repeat it).
fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_decode_with_repeated_names_kept() {
        let pairs = form_pairs(b"csrf=a%2Bb&id=1&id=2&next=%2Fbatches+x&flag");
        assert_eq!(field(&pairs, "csrf"), Some("a+b"));
        let ids: Vec<&str> = pairs
            .iter()
            .filter(|(n, _)| n == "id")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(ids, ["1", "2"]);
        assert_eq!(field(&pairs, "next"), Some("/batches x"));
        assert_eq!(field(&pairs, "flag"), Some(""));
    }
}
