//! Console sessions, kept in PostgreSQL (`console_sessions`).
//!
//! A login gives the browser a cookie holding 32 random bytes: not the token,
//! nothing derived from it, so a leaked cookie tells nothing about the token and
//! cannot be guessed offline. The server keeps the secret's SHA-256, a CSRF token,
//! the client's address and an expiry (12 hours). So:
//!
//! - `POST /logout` deletes the row: the cookie is dead at once and for good,
//!   on every console replica;
//! - a changed `ID2META_CONSOLE_TOKEN` ends every session: each row carries a
//!   fingerprint (an HMAC keyed by the token) of the token it logged in with,
//!   a session of another token is no session, and a console that starts with a
//!   new token deletes them (changing back does not revive them);
//! - expired rows are swept (at start, at each login, and every few minutes).
//!
//! Every console action sees the acting [`Session`]: its id (safe to log and to
//! audit; never the cookie) and the client's address.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::Context;
use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::secret::Secret;
use crate::store::Db;

/// The session cookie's name.
pub const COOKIE: &str = "id2meta_console";
/// How long a login lasts.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// The id of the session a bearer-token request acts as (no cookie, no row).
pub const BEARER: &str = "bearer";

/// Who acts on the console: the session and the address of the request.
///
/// For the audit log: [`Session::id`] and [`Session::client_addr`] (or
/// [`Session::actor`], both in one line).
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    id: String,
    client_addr: IpAddr,
    csrf: Option<String>,
}

impl Session {
    /// A request that carried the token itself (`Authorization: Bearer`).
    pub fn bearer(client_addr: IpAddr) -> Self {
        Self {
            id: BEARER.to_string(),
            client_addr,
            csrf: None,
        }
    }

    /// A login session as the table holds it (for the access checks' unit tests).
    #[cfg(test)]
    pub(crate) fn logged_in(id: &str, csrf: &str) -> Self {
        Self {
            id: id.to_string(),
            client_addr: IpAddr::from([127, 0, 0, 1]),
            csrf: Some(csrf.to_string()),
        }
    }

    /// The session's id: the UUID given at login (its row's primary key), or
    /// [`BEARER`] for a request with the token itself. Never the cookie.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The address of the client that sent this request: the TCP peer (behind a
    /// proxy, the proxy's address; no forwarding header is trusted).
    pub fn client_addr(&self) -> IpAddr {
        self.client_addr
    }

    /// `console session <id> from <address>`: an audit row's actor.
    pub fn actor(&self) -> String {
        self.to_string()
    }

    /// The CSRF token the session's forms carry (none for a bearer request).
    pub fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

impl fmt::Display for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "console session {} from {}", self.id, self.client_addr)
    }
}

/// The CSRF token stays out of logs.
impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("client_addr", &self.client_addr)
            .finish_non_exhaustive()
    }
}

/// The session table, for one configured token.
#[derive(Clone)]
pub struct Sessions {
    /// Through the store's executor, so it works behind a transaction pooler
    /// (no named statements left on a server session another client gets).
    db: Db,
    token_fingerprint: String,
    /// `ID2META_CONSOLE_SECURE_COOKIE`: cookies only over HTTPS.
    secure: bool,
}

impl Sessions {
    pub fn new(db: Db, token: &Secret, secure: bool) -> Self {
        Self {
            db,
            token_fingerprint: fingerprint(token),
            secure,
        }
    }

    /// At start: ends the sessions of any other token, and the expired ones.
    pub async fn prepare(&self) -> anyhow::Result<()> {
        let ended = sqlx::query("DELETE FROM console_sessions WHERE token_fingerprint <> $1")
            .bind(&self.token_fingerprint)
            .execute(&self.db)
            .await
            .context("ending the sessions of another console token")?
            .rows_affected();
        if ended > 0 {
            tracing::info!(
                ended,
                "the console token changed: its earlier sessions ended"
            );
        }
        self.sweep().await.map(|_| ())
    }

    /// A new session for `client_addr`, and the cookie secret that names it.
    pub async fn begin(&self, client_addr: IpAddr) -> anyhow::Result<(Session, String)> {
        let secret = hex::encode(rand::random::<[u8; 32]>());
        let csrf = hex::encode(rand::random::<[u8; 32]>());
        let id = Uuid::new_v4();
        let lifetime = i64::try_from(LIFETIME.as_secs()).unwrap_or(i64::MAX);
        sqlx::query(
            "INSERT INTO console_sessions
                 (id, secret_sha256, csrf, token_fingerprint, client_addr, expires_at)
             VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))",
        )
        .bind(id)
        .bind(Sha256::digest(secret.as_bytes()).to_vec())
        .bind(&csrf)
        .bind(&self.token_fingerprint)
        .bind(client_addr.to_string())
        .bind(lifetime as f64)
        .execute(&self.db)
        .await
        .context("storing a console session")?;
        let session = Session {
            id: id.to_string(),
            client_addr,
            csrf: Some(csrf),
        };
        Ok((session, secret))
    }

    /// The live session the request's cookie names, if any.
    pub async fn find(
        &self,
        headers: &HeaderMap,
        client_addr: IpAddr,
    ) -> anyhow::Result<Option<Session>> {
        let Some(secret) = cookie_value(headers, COOKIE).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let found: Option<(Uuid, String)> = sqlx::query_as(
            "SELECT id, csrf FROM console_sessions
              WHERE secret_sha256 = $1 AND token_fingerprint = $2 AND expires_at > now()",
        )
        .bind(Sha256::digest(secret.as_bytes()).to_vec())
        .bind(&self.token_fingerprint)
        .fetch_optional(&self.db)
        .await
        .context("reading a console session")?;
        Ok(found.map(|(id, csrf)| Session {
            id: id.to_string(),
            client_addr,
            csrf: Some(csrf),
        }))
    }

    /// Ends a session for good (logout). A bearer "session" has nothing to end.
    pub async fn end(&self, session: &Session) -> anyhow::Result<()> {
        let Ok(id) = session.id.parse::<Uuid>() else {
            return Ok(());
        };
        sqlx::query("DELETE FROM console_sessions WHERE id = $1")
            .bind(id)
            .execute(&self.db)
            .await
            .context("ending a console session")?;
        Ok(())
    }

    /// Deletes expired sessions; returns how many.
    pub async fn sweep(&self) -> anyhow::Result<u64> {
        sqlx::query("DELETE FROM console_sessions WHERE expires_at <= now()")
            .execute(&self.db)
            .await
            .map(|done| done.rows_affected())
            .context("sweeping expired console sessions")
    }

    /// The `Set-Cookie` value for a new session, or one that removes it (`None`).
    pub fn cookie(&self, secret: Option<&str>) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        match secret {
            Some(v) => format!(
                "{COOKIE}={v}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
                LIFETIME.as_secs()
            ),
            None => format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}"),
        }
    }
}

/// An HMAC of a fixed label keyed by the token: tells tokens apart, reveals none.
fn fingerprint(token: &Secret) -> String {
    match <Hmac<Sha256> as KeyInit>::new_from_slice(token.expose().as_bytes()) {
        Ok(mut mac) => {
            mac.update(b"id2meta console sessions v1");
            hex::encode(mac.finalize().into_bytes())
        }
        // HMAC takes keys of any length; were it ever refused, no session would match.
        Err(_) => String::new(),
    }
}

/// A cookie's value from the `Cookie` headers.
pub fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_distinct_fingerprints_that_do_not_contain_them() {
        let a = fingerprint(&Secret::new("a".repeat(32)));
        let b = fingerprint(&Secret::new("b".repeat(32)));
        assert_ne!(a, b);
        assert!(!a.contains("aaaa"));
    }

    #[test]
    fn the_actor_names_the_session_and_the_address_and_debug_hides_the_csrf_token() {
        let session = Session {
            id: "0f0e".into(),
            client_addr: "10.1.2.3".parse().expect("an address"),
            csrf: Some("csrf-secret".into()),
        };
        assert_eq!(session.actor(), "console session 0f0e from 10.1.2.3");
        assert!(!format!("{session:?}").contains("csrf-secret"));
        assert_eq!(Session::bearer(session.client_addr()).id(), BEARER);
    }
}
