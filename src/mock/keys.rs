//! The access keys the mock accepts, and the one lookup of a key id's secret.
//!
//! Both signature schemes authenticate through [`Keys::secret_for`] and nothing
//! else, so a new kind of key (temporary STS keys with a security token) is
//! accepted everywhere by changing this one function.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use super::issued::{IssuedKey, KeyCheck, Registry};
use super::request::Answer;
use crate::secret::Secret;

/// The key pairs the mock knows: the static pair it was started with, and the
/// temporary keys its STS / metadata / URI stand-ins issued.
pub struct Keys {
    access_key_id: String,
    access_key_secret: Secret,
    /// Issued keys, behind their own lock: a lookup never waits on the state lock.
    issued: Mutex<Registry>,
    /// `--sts-only`: the static pair is refused.
    sts_only: AtomicBool,
}

impl Keys {
    pub fn new(access_key_id: String, access_key_secret: Secret) -> Self {
        Self {
            access_key_id,
            access_key_secret,
            issued: Mutex::new(Registry::default()),
            sts_only: AtomicBool::new(false),
        }
    }

    pub fn set_sts_only(&self, sts_only: bool) {
        self.sts_only.store(sts_only, Ordering::Relaxed);
    }

    /// A temporary key valid `ttl_secs` from `now`, accepted from then on.
    pub fn issue(&self, ttl_secs: u64, now: DateTime<Utc>) -> IssuedKey {
        self.registry().issue(ttl_secs, now)
    }

    /// Calls signed with an issued key after its expiry, since start or reset.
    pub fn expired_calls(&self) -> u64 {
        self.registry().expired_calls()
    }

    pub fn reset_counts(&self) {
        self.registry().reset_counts();
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves keys and a count: keep serving.
        self.issued
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The secret that signs for `key_id`, given the security token the call carried
    /// (`SecurityToken` under V2, `x-acs-security-token` under V3), at `now`; or the
    /// gateway's refusal. A static pair ignores a token, as Alibaba does; an issued
    /// key needs its own token and answers `InvalidSecurityToken.*` otherwise.
    pub fn secret_for(
        &self,
        key_id: &str,
        security_token: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Secret, Answer> {
        if let KeyCheck::Issued(secret) = self.registry().key_for(key_id, security_token, now)? {
            return Ok(secret);
        }
        if key_id == self.access_key_id && self.sts_only.load(Ordering::Relaxed) {
            return Err(Answer::error(
                404,
                "InvalidAccessKeyId.NotFound",
                "Specified access key is not found (this mock accepts STS credentials only).",
            ));
        }
        if key_id == self.access_key_id {
            return Ok(self.access_key_secret.clone());
        }
        Err(Answer::error(
            404,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_static_pair_is_found_and_any_other_key_is_not() {
        let keys = Keys::new("testid".into(), Secret::new("testsecret"));
        let found = keys.secret_for("testid", None, Utc::now()).expect("known");
        assert_eq!(found.expose(), "testsecret");
        let refused = keys.secret_for("other", None, Utc::now()).unwrap_err();
        assert_eq!(
            (refused.status, refused.code.as_str()),
            (404, "InvalidAccessKeyId.NotFound")
        );
    }

    #[test]
    fn issued_keys_are_found_with_their_token_and_sts_only_refuses_the_static_pair() {
        let keys = Keys::new("testid".into(), Secret::new("testsecret"));
        let now = Utc::now();
        let issued = keys.issue(20, now);
        let token = issued.security_token.expose().to_string();
        let found = keys
            .secret_for(&issued.access_key_id, Some(&token), now)
            .expect("an issued key");
        assert_eq!(found, issued.access_key_secret);
        let late = now + chrono::TimeDelta::seconds(30);
        let expired = keys
            .secret_for(&issued.access_key_id, Some(&token), late)
            .unwrap_err();
        assert_eq!(expired.code, "InvalidSecurityToken.Expired");
        assert_eq!(keys.expired_calls(), 1);
        keys.set_sts_only(true);
        assert!(keys.secret_for("testid", None, now).is_err());
    }
}
