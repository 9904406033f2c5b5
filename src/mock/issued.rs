//! The temporary credentials the mock has issued (through its STS, metadata and
//! credentials-URI stand-ins), and the check a call signed with one must pass.
//!
//! A call with an `STS.` key is accepted only with the security token issued
//! with that key, and only until the key's expiry; after it, the answer is the
//! gateway's `InvalidSecurityToken.Expired`, which the worker must never provoke
//! if it refreshes in time.
//!
//! The registry lives in [`super::keys::Keys`], the one lookup both signature
//! schemes use; [`Issuer`] keeps what the stand-ins need besides the keys.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use super::keys::Keys;
use super::request::Answer;
use crate::secret::Secret;

/// One issued set.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub access_key_id: String,
    pub access_key_secret: Secret,
    pub security_token: Secret,
    pub expires_at: DateTime<Utc>,
}

impl IssuedKey {
    /// A fresh set valid `ttl_secs` from `now` (to the second, as STS writes it).
    fn new(ttl_secs: u64, now: DateTime<Utc>) -> Self {
        let ttl = TimeDelta::seconds(ttl_secs.min(86_400 * 365) as i64);
        let expires_at = DateTime::from_timestamp((now + ttl).timestamp(), 0).unwrap_or(now + ttl);
        Self {
            access_key_id: format!("STS.{}", random_text()),
            access_key_secret: Secret::new(random_text()),
            security_token: Secret::new(format!("CAIS{}{}", random_text(), random_text())),
            expires_at,
        }
    }

    /// `YYYY-MM-DDThh:mm:ssZ`.
    pub fn expiration(&self) -> String {
        self.expires_at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    /// The body a credentials URI or the metadata service answers.
    pub fn metadata_body(&self, now: DateTime<Utc>) -> serde_json::Value {
        json!({
            "Code": "Success",
            "AccessKeyId": self.access_key_id,
            "AccessKeySecret": self.access_key_secret.expose(),
            "SecurityToken": self.security_token.expose(),
            "Expiration": self.expiration(),
            "LastUpdated": now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        })
    }
}

/// Every set issued since start (a mock runs for minutes; nothing is pruned).
#[derive(Debug, Default)]
pub struct Registry {
    by_key: HashMap<String, IssuedKey>,
    /// Token → key id, to tell a token of another key from a forged one.
    by_token: HashMap<String, String>,
    /// Calls signed with an issued key after its expiry.
    expired_calls: u64,
}

/// What the signature must be checked with.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyCheck {
    /// An issued key, valid with its token: verify with this secret.
    Issued(Secret),
    /// Not an issued key: the static pair's check applies.
    NotIssued,
}

impl Registry {
    pub fn issue(&mut self, ttl_secs: u64, now: DateTime<Utc>) -> IssuedKey {
        let key = IssuedKey::new(ttl_secs, now);
        self.by_token.insert(
            key.security_token.expose().to_string(),
            key.access_key_id.clone(),
        );
        self.by_key.insert(key.access_key_id.clone(), key.clone());
        key
    }

    pub fn expired_calls(&self) -> u64 {
        self.expired_calls
    }

    pub fn reset_counts(&mut self) {
        self.expired_calls = 0;
    }

    /// The check of `access_key_id` with `security_token` at `now`; an expired
    /// key is counted.
    pub fn key_for(
        &mut self,
        access_key_id: &str,
        security_token: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<KeyCheck, Answer> {
        let Some(key) = self.by_key.get(access_key_id) else {
            return Ok(KeyCheck::NotIssued);
        };
        if now >= key.expires_at {
            self.expired_calls += 1;
            return Err(Answer::error(
                400,
                "InvalidSecurityToken.Expired",
                "Specified SecurityToken is expired.",
            ));
        }
        match security_token {
            Some(token) if token == key.security_token.expose() => {
                Ok(KeyCheck::Issued(key.access_key_secret.clone()))
            }
            Some(token) if self.by_token.contains_key(token) => Err(Answer::error(
                400,
                "InvalidSecurityToken.MismatchWithAccessKey",
                "Specified SecurityToken mismatch with the AccessKey.",
            )),
            _ => Err(Answer::error(
                400,
                "InvalidSecurityToken.Malformed",
                "Specified SecurityToken is malformed.",
            )),
        }
    }
}

/// The issuing side of the mock besides the keys: the metadata service's session
/// tokens, and what was issued (for `/__stats`).
#[derive(Debug, Default)]
pub struct Issuer {
    metadata_tokens: HashSet<String>,
    oidc_tokens: HashSet<String>,
    pub counts: IssuerCounts,
}

/// The issuing counts `/__stats` shows.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IssuerCounts {
    /// `AssumeRoleWithOIDC` calls answered with credentials.
    pub sts_calls: u64,
    /// Credentials issued by the metadata service or the credentials URI.
    pub credential_calls: u64,
    /// Distinct OIDC tokens presented to STS.
    pub oidc_tokens_seen: u64,
}

/// The role the metadata service says the instance has.
pub const ECS_ROLE: &str = "id2meta-mock-role";

impl Issuer {
    /// STS: a set for a well-formed `AssumeRoleWithOIDC`.
    pub fn assume_role(
        &mut self,
        keys: &Keys,
        request: &super::sts::Request<'_>,
        ttl_secs: u64,
    ) -> Answer {
        if self.oidc_tokens.insert(request.oidc_token.to_string()) {
            self.counts.oidc_tokens_seen += 1;
        }
        self.counts.sts_calls += 1;
        let key = keys.issue(ttl_secs, Utc::now());
        super::sts::answer(&key, request)
    }

    /// The metadata service's session token (`PUT /latest/api/token`).
    pub fn metadata_session(&mut self) -> String {
        let token = random_text();
        self.metadata_tokens.insert(token.clone());
        token
    }

    pub fn knows_metadata_session(&self, token: Option<&str>) -> bool {
        token.is_some_and(|t| self.metadata_tokens.contains(t))
    }

    /// A set for the metadata service's role or the credentials URI.
    pub fn credentials_body(&mut self, keys: &Keys, ttl_secs: u64) -> serde_json::Value {
        self.counts.credential_calls += 1;
        let now = Utc::now();
        keys.issue(ttl_secs, now).metadata_body(now)
    }

    pub fn reset_counts(&mut self) {
        self.counts = IssuerCounts::default();
        self.oidc_tokens.clear();
    }
}

fn random_text() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(result: Result<KeyCheck, Answer>) -> String {
        result.err().map(|a| a.code).unwrap_or_default()
    }

    #[test]
    fn an_issued_key_works_with_its_own_token_until_it_expires() {
        let now = Utc::now();
        let mut registry = Registry::default();
        let a = registry.issue(20, now);
        let b = registry.issue(20, now);
        assert!(a.access_key_id.starts_with("STS."));
        assert!(a.expires_at <= now + TimeDelta::seconds(20));
        let token = |k: &IssuedKey| k.security_token.expose().to_string();
        assert_eq!(
            registry.key_for(&a.access_key_id, Some(&token(&a)), now),
            Ok(KeyCheck::Issued(a.access_key_secret.clone()))
        );
        assert_eq!(
            code(registry.key_for(&a.access_key_id, Some(&token(&b)), now)),
            "InvalidSecurityToken.MismatchWithAccessKey"
        );
        assert_eq!(
            code(registry.key_for(&a.access_key_id, None, now)),
            "InvalidSecurityToken.Malformed"
        );
        let later = now + TimeDelta::seconds(21);
        assert_eq!(
            code(registry.key_for(&a.access_key_id, Some(&token(&a)), later)),
            "InvalidSecurityToken.Expired"
        );
        assert_eq!(
            registry.key_for("testid", None, now),
            Ok(KeyCheck::NotIssued)
        );
    }

    #[test]
    fn the_metadata_body_has_the_fields_the_sdks_read() {
        let key = Registry::default().issue(60, Utc::now());
        let body = key.metadata_body(Utc::now());
        for field in [
            "Code",
            "AccessKeyId",
            "AccessKeySecret",
            "SecurityToken",
            "Expiration",
        ] {
            assert!(body.get(field).is_some(), "{field}");
        }
        assert!(key.expiration().ends_with('Z'));
    }
}
