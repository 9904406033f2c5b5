//! The places credentials come from, one file each, behind one [`Source`].
//!
//! A source only knows how to fetch one set; when to fetch (at start, a quarter of
//! the lifetime before expiry, on a forced refresh, again after a failure) is the
//! refresh task's decision ([`super::refresh`]), and which source is used is the
//! chain's ([`super::chain`]).

pub mod ecs;
pub mod env;
pub mod oidc;
pub mod uri;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::Credentials;
use crate::secret::Secret;

/// The source the chain chose.
pub enum Source {
    /// A static pair: fetched once, never refreshed.
    Environment(Credentials),
    Oidc(oidc::Oidc),
    Uri(uri::CredentialsUri),
    Ecs(ecs::EcsRole),
}

impl Source {
    /// The name logged, exported as the `source` label and named in errors.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Environment(_) => env::NAME,
            Self::Oidc(_) => oidc::NAME,
            Self::Uri(_) => uri::NAME,
            Self::Ecs(_) => ecs::NAME,
        }
    }

    /// One fresh set of credentials (the same pair, for a static one).
    pub async fn fetch(&self) -> Result<Credentials, FetchError> {
        match self {
            Self::Environment(credentials) => Ok(credentials.clone()),
            Self::Oidc(oidc) => oidc.fetch().await,
            Self::Uri(uri) => uri.fetch().await,
            Self::Ecs(ecs) => ecs.fetch().await,
        }
    }
}

/// Why a fetch failed. Never carries a secret: at most a Code and a message the
/// service gave, or what was unreadable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Nothing answered (connection refused, timeout): for the ECS role at start,
    /// this means "not on ECS".
    #[error("{0} is unreachable")]
    Unreachable(String),
    /// Something answered, but not with credentials.
    #[error("{0}")]
    Refused(String),
}

/// An HTTP client for credential services: no redirects (a redirect would carry the
/// OIDC token or the metadata token elsewhere), no `Referer`, short timeouts.
pub fn http_client(connect: Duration, whole: Duration) -> anyhow::Result<reqwest::Client> {
    use anyhow::Context;
    crate::tls::http_client()
        .connect_timeout(connect)
        .timeout(whole)
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .user_agent(concat!("id2meta/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build the credentials HTTP client")
}

/// A transport error as a [`FetchError`], without reqwest's text (it names the URL).
pub fn transport(what: &str, error: &reqwest::Error) -> FetchError {
    if error.is_connect() || error.is_timeout() {
        FetchError::Unreachable(what.to_string())
    } else {
        FetchError::Refused(format!("{what}: the request failed"))
    }
}

/// The body of a 2xx answer to `request`; any other status is refused by number.
pub async fn success_text(
    request: reqwest::RequestBuilder,
    what: &str,
) -> Result<String, FetchError> {
    let response = request.send().await.map_err(|e| transport(what, &e))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| transport(what, &e))?;
    if !status.is_success() {
        return Err(FetchError::Refused(format!(
            "{what} answered HTTP {}",
            status.as_u16()
        )));
    }
    Ok(text)
}

/// The answer of a credentials URI and of the ECS metadata service (the same fields).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Issued {
    #[serde(default)]
    pub code: Option<String>,
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: String,
    pub expiration: String,
}

impl Issued {
    /// Reads an answer body; `what` names the service in errors.
    pub fn parse(what: &str, body: &[u8]) -> Result<Credentials, FetchError> {
        let issued: Issued = serde_json::from_slice(body).map_err(|_| {
            FetchError::Refused(format!("{what} answered something that is not credentials"))
        })?;
        if let Some(code) = issued.code.as_deref().filter(|c| *c != "Success") {
            return Err(FetchError::Refused(format!("{what} answered Code {code}")));
        }
        Ok(Credentials {
            access_key_id: issued.access_key_id,
            access_key_secret: Secret::new(issued.access_key_secret),
            security_token: Some(Secret::new(issued.security_token)),
            expires_at: Some(expiration(what, &issued.expiration)?),
        })
    }
}

/// `YYYY-MM-DDThh:mm:ssZ`, as STS and the metadata service write it.
pub fn expiration(what: &str, text: &str) -> Result<DateTime<Utc>, FetchError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| FetchError::Refused(format!("{what} gave an unreadable Expiration")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_credentials_are_read_with_their_expiry() {
        let body = br#"{"Code":"Success","AccessKeyId":"STS.abc","AccessKeySecret":"s",
            "SecurityToken":"t","Expiration":"2026-12-01T22:00:00Z","LastUpdated":"x"}"#;
        let c = Issued::parse("the service", body).expect("credentials");
        assert_eq!(c.access_key_id, "STS.abc");
        assert_eq!(c.access_key_secret.expose(), "s");
        assert_eq!(c.security_token.as_ref().map(Secret::expose), Some("t"));
        assert_eq!(
            c.expires_at.map(|t| t.to_rfc3339()),
            Some("2026-12-01T22:00:00+00:00".into())
        );
    }

    #[test]
    fn a_failed_code_or_a_foreign_body_is_refused_without_echoing_it() {
        let body = br#"{"Code":"Failed","AccessKeyId":"","AccessKeySecret":"leak",
            "SecurityToken":"","Expiration":""}"#;
        let err = Issued::parse("svc", body).unwrap_err();
        assert_eq!(err, FetchError::Refused("svc answered Code Failed".into()));
        let err = Issued::parse("svc", b"<html>secret</html>").unwrap_err();
        assert!(!err.to_string().contains("secret"));
        let bad =
            br#"{"AccessKeyId":"a","AccessKeySecret":"b","SecurityToken":"c","Expiration":"soon"}"#;
        assert!(Issued::parse("svc", bad).is_err());
    }
}
