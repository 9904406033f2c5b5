//! Who may act on the console: reading is open on loopback; the actions (cancel,
//! replay, purge) need `ID2META_CONSOLE_TOKEN`.
//!
//! The token arrives either as `Authorization: Bearer <token>` (scripts: not an
//! ambient credential, so no CSRF check is needed) or once through the login form,
//! which sets a session cookie (`HttpOnly`, `SameSite=Strict`). The cookie is
//! stateless: `<issued>.<nonce>.<mac>` with the MAC keyed by the token itself, so a
//! console restart keeps sessions and a new token ends them all. A cookie-borne POST
//! must also carry the session's CSRF token (a second MAC of the session) and come
//! from this origin (`Origin`, else `Referer`). Every token comparison is constant-time.

use axum::http::{header, HeaderMap};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::secret::Secret;

/// The session cookie's name.
pub const COOKIE: &str = "id2meta_console";
/// How long a login lasts.
const SESSION_SECONDS: i64 = 12 * 3600;

/// The configured token (if any) and the checks made with it.
#[derive(Clone)]
pub struct Auth {
    token: Option<Secret>,
}

/// A verified login session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    id: String,
}

/// Why an action was refused; each maps to one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No `ID2META_CONSOLE_TOKEN` is configured: actions are off (403).
    #[error("actions are disabled: no ID2META_CONSOLE_TOKEN is configured")]
    NotConfigured,
    /// No valid bearer token or session: log in first (403, with a link to the form).
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

    /// A new session cookie value, when a token is configured.
    pub fn new_session(&self, now: i64) -> Option<String> {
        let id = format!("{now}.{}", uuid::Uuid::new_v4().simple());
        let mac = self.mac("session", &id)?;
        Some(format!("{id}.{mac}"))
    }

    /// The `Set-Cookie` value for a new session, or one that ends it (`None`).
    pub fn cookie(value: Option<&str>) -> String {
        match value {
            Some(v) => format!(
                "{COOKIE}={v}; HttpOnly; SameSite=Strict; Path=/; Max-Age={SESSION_SECONDS}"
            ),
            None => format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
        }
    }

    /// The session the request's cookie proves, if it is genuine and not expired.
    pub fn session(&self, headers: &HeaderMap, now: i64) -> Option<Session> {
        let value = cookie_value(headers, COOKIE)?;
        let (id, mac) = value.rsplit_once('.')?;
        let issued: i64 = id.split_once('.')?.0.parse().ok()?;
        if !(0..=SESSION_SECONDS).contains(&(now - issued)) {
            return None;
        }
        let expected = self.mac("session", id)?;
        bool::from(expected.as_bytes().ct_eq(mac.as_bytes())).then(|| Session { id: id.into() })
    }

    /// The CSRF token the session's forms carry.
    pub fn csrf(&self, session: &Session) -> String {
        self.mac("csrf", &session.id).unwrap_or_default()
    }

    /// Whether the request carries the token as `Authorization: Bearer`.
    pub fn bearer(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| self.token_matches(given.trim()))
    }

    /// May this request read? On loopback anyone may; elsewhere only with the token.
    pub fn may_read(&self, loopback: bool, headers: &HeaderMap, now: i64) -> bool {
        loopback || self.bearer(headers) || self.session(headers, now).is_some()
    }

    /// May this POST act? `csrf` is the form's field, if it had one.
    pub fn may_act(
        &self,
        headers: &HeaderMap,
        csrf: Option<&str>,
        now: i64,
    ) -> Result<(), Refusal> {
        if !self.configured() {
            return Err(Refusal::NotConfigured);
        }
        if self.bearer(headers) {
            return Ok(());
        }
        let session = self.session(headers, now).ok_or(Refusal::NotLoggedIn)?;
        let expected = self.csrf(&session);
        let csrf_ok =
            csrf.is_some_and(|given| bool::from(expected.as_bytes().ct_eq(given.as_bytes())));
        if csrf_ok && same_origin(headers) {
            Ok(())
        } else {
            Err(Refusal::Forged)
        }
    }

    fn mac(&self, label: &str, data: &str) -> Option<String> {
        let token = self.token.as_ref()?;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(token.expose().as_bytes()).ok()?;
        mac.update(label.as_bytes());
        mac.update(b"\0");
        mac.update(data.as_bytes());
        Some(hex::encode(mac.finalize().into_bytes()))
    }
}

/// A cookie's value from the `Cookie` headers.
fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// Whether the request says it comes from a page of this host: `Origin` when the
/// browser sends it, else `Referer`; a POST with neither is refused.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let ours = |url: &str| {
        ["http://", "https://"].iter().any(|scheme| {
            url.strip_prefix(scheme)
                .and_then(|rest| rest.strip_prefix(host))
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    };
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) => ours(origin),
        None => headers
            .get(header::REFERER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(ours),
    }
}

#[cfg(test)]
mod tests;
