//! The console's handlers: read what a page needs, render it, or act after the
//! access checks of [`crate::console::auth`].
//!
//! Every request first meets [`identify`], which puts a [`Caller`] (the client's
//! address and its live session, if any) into the request; an action handler
//! takes an [`Acting`], which holds the [`Session`] that acts and its form, or
//! has already answered 403.

mod acting;
mod audit;
mod batches;
mod dead_letters;
mod jobs;
mod login;
mod lookup;
mod overview;

use std::net::{IpAddr, Ipv4Addr};

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use super::auth::Refusal;
use super::pages::{self, Viewer};
use super::sessions::Session;
use super::{assets, ConsoleState};
pub use acting::Acting;

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
        .route("/audit", get(audit::page))
        .route("/lookup", get(lookup::form).post(lookup::submit))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/assets/console.css", get(assets::stylesheet))
        .route("/assets/live.js", get(assets::live_script))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            gate_reads,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            identify,
        ))
        .with_state(state)
}

/// Who sent a request: its address, and the live session its cookie names.
#[derive(Debug, Clone)]
pub struct Caller {
    pub client_addr: IpAddr,
    pub session: Option<Session>,
}

impl Caller {
    /// Who the audit log names for what this request does: its session (or
    /// `none` on a loopback console read without login) and its address.
    pub fn actor(&self) -> crate::audit::Actor {
        let session = self.session.as_ref().map_or("none", Session::id);
        crate::audit::Actor::console(session, &self.client_addr.to_string())
    }
}

impl From<&Session> for Caller {
    fn from(session: &Session) -> Self {
        Self {
            client_addr: session.client_addr(),
            session: Some(session.clone()),
        }
    }
}

/// Looks the request's session up (once per request) and records the [`Caller`].
/// A session that cannot be read counts as none: actions fail closed.
async fn identify(State(state): State<ConsoleState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let client_addr = crate::http::server::client_addr(&parts)
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip());
    let session = match &state.sessions {
        Some(sessions) => match sessions.find(&parts.headers, client_addr).await {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), %client_addr, "a console session could not be read; treated as logged out");
                None
            }
        },
        None => None,
    };
    parts.extensions.insert(Caller {
        client_addr,
        session,
    });
    next.run(Request::from_parts(parts, body)).await
}

/// Off loopback, every page but the login form (and its stylesheet) needs the token.
async fn gate_reads(State(state): State<ConsoleState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let open = path == "/login" || path.starts_with(super::headers::ASSETS);
    let session = caller(request.extensions()).session;
    if open
        || state
            .auth
            .may_read(state.loopback, request.headers(), session.as_ref())
    {
        next.run(request).await
    } else {
        Redirect::to("/login").into_response()
    }
}

/// The request's [`Caller`] ([`identify`] always sets one; a bare address otherwise).
fn caller(extensions: &axum::http::Extensions) -> Caller {
    extensions.get::<Caller>().cloned().unwrap_or(Caller {
        client_addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        session: None,
    })
}

/// Who is looking: logged in (with a CSRF token for forms) or not.
fn viewer(state: &ConsoleState, caller: &Caller) -> Viewer {
    Viewer {
        csrf: caller
            .session
            .as_ref()
            .and_then(|s| s.csrf())
            .map(str::to_owned),
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
        let shown = "The console could not read what this page shows (is PostgreSQL reachable?). The console's log says more.";
        tracing::warn!(error = %format!("{:#}", self.0), page_said = shown, "a console page failed (503)");
        let page = pages::problem("Unavailable", &Viewer::default(), shown);
        (StatusCode::SERVICE_UNAVAILABLE, page).into_response()
    }
}

/// Whether an id from a URL could name a job or a batch at all: 1 to 128
/// characters, none of them a control character (the contract's rule for both).
/// Anything else is answered 404 without a query (PostgreSQL refuses a NUL).
fn plausible_id(id: &str) -> bool {
    let chars = id.chars().count();
    (1..=128).contains(&chars) && !id.chars().any(char::is_control)
}

/// The answer for an id that cannot exist: 404, said in the log as on the page.
fn no_such(kind: &str, state: &ConsoleState, caller: &Caller) -> Response {
    tracing::info!(kind, client_addr = %caller.client_addr, "a console page asked for an id that cannot exist (404)");
    let message =
        format!("No {kind} has this id: an id is 1 to 128 characters without control characters.");
    let page = pages::problem("Not found", &viewer(state, caller), &message);
    (StatusCode::NOT_FOUND, page).into_response()
}

/// The answer to a refused action: 403, with a way forward for a person; the
/// log says the same, with the address.
fn refused(refusal: Refusal, state: &ConsoleState, caller: &Caller) -> Response {
    tracing::info!(%refusal, client_addr = %caller.client_addr, "a console action was refused (403)");
    let message = match refusal {
        Refusal::NotLoggedIn => format!("{refusal}: /login"),
        _ => refusal.to_string(),
    };
    let page = pages::problem("Not allowed", &viewer(state, caller), &message);
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
/// A location that is no valid header value (it cannot be, from our own paths)
/// goes to `/`, never to an error page that has already set a cookie.
fn see_other(location: &str) -> Response {
    let location = header::HeaderValue::from_str(location)
        .unwrap_or_else(|_| header::HeaderValue::from_static("/"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
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
