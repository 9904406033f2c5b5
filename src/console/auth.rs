//! Who may act on the console: reading is open on loopback; the actions (cancel,
//! replay, purge, logout) need `ID2META_CONSOLE_TOKEN`.
//!
//! The token arrives either as `Authorization: Bearer <token>` (scripts: not an
//! ambient credential, so no CSRF check is needed) or once through the login form,
//! which starts a server-side session ([`super::sessions`]). A cookie-borne POST
//! must also carry the session's CSRF token and come from this origin (`Origin`,
//! else `Referer`). Every token comparison is constant-time.

use axum::http::{header, HeaderMap};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::sessions::Session;
use crate::secret::Secret;

/// The shortest `ID2META_CONSOLE_TOKEN` the console accepts (the contract's rule:
/// a token short enough to guess is no lock).
pub const MIN_TOKEN_CHARS: usize = 32;

/// The configured token (if any) and the checks made with it.
#[derive(Clone)]
pub struct Auth {
    token: Option<Secret>,
}

/// Why an action was refused; each maps to one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No `ID2META_CONSOLE_TOKEN` is configured: actions are off (403).
    #[error("actions are disabled: no ID2META_CONSOLE_TOKEN is configured")]
    NotConfigured,
    /// No valid bearer token or live session: log in first (403, with a link to the form).
    #[error("log in with the console token first")]
    NotLoggedIn,
    /// A session, but the form's CSRF token or the request's origin is wrong (403).
    #[error("the request did not come from this console's own form")]
    Forged,
}

impl Auth {
    pub fn new(token: Option<Secret>) -> Self {
        Self { token }
    }

    pub fn configured(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `given` is the configured token, in time independent of where they differ
    /// (both are hashed first, so their lengths leak nothing either).
    pub fn token_matches(&self, given: &str) -> bool {
        let Some(token) = &self.token else {
            return false;
        };
        let expected = Sha256::digest(token.expose().as_bytes());
        let given = Sha256::digest(given.as_bytes());
        expected.ct_eq(&given).into()
    }

    /// Whether the request carries the token as `Authorization: Bearer`.
    pub fn bearer(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| self.token_matches(given.trim()))
    }

    /// May this request read? On loopback anyone may; elsewhere only with the
    /// token or a live session.
    pub fn may_read(&self, loopback: bool, headers: &HeaderMap, session: Option<&Session>) -> bool {
        loopback || session.is_some() || self.bearer(headers)
    }

    /// May this POST act? `session` is the cookie's live session, if any, and
    /// `csrf` the form's field, if it had one. A bearer request needs neither.
    pub fn may_act(
        &self,
        headers: &HeaderMap,
        session: Option<&Session>,
        csrf: Option<&str>,
    ) -> Result<(), Refusal> {
        if !self.configured() {
            return Err(Refusal::NotConfigured);
        }
        if self.bearer(headers) {
            return Ok(());
        }
        let expected = session
            .and_then(Session::csrf)
            .ok_or(Refusal::NotLoggedIn)?;
        let csrf_ok =
            csrf.is_some_and(|given| bool::from(expected.as_bytes().ct_eq(given.as_bytes())));
        if csrf_ok && same_origin(headers) {
            Ok(())
        } else {
            Err(Refusal::Forged)
        }
    }
}

/// Whether the request says it comes from a page of this host: `Origin` when the
/// browser names one; else the Fetch Metadata header `Sec-Fetch-Site` (the
/// console's `Referrer-Policy: no-referrer` makes browsers send `Origin: null`
/// and no `Referer` on its own form posts); else `Referer`. A POST with none of
/// them is refused.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let ours = |url: &str| {
        ["http://", "https://"].iter().any(|scheme| {
            url.strip_prefix(scheme)
                .and_then(|rest| rest.strip_prefix(host))
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    };
    match (
        text("origin").filter(|o| *o != "null"),
        text("sec-fetch-site"),
    ) {
        (Some(origin), _) => ours(origin),
        (None, Some(site)) => site == "same-origin",
        (None, None) => text("referer").is_some_and(ours),
    }
}

#[cfg(test)]
mod tests;
