//! The access keys the mock accepts, and the one lookup of a key id's secret.
//!
//! Both signature schemes authenticate through [`Keys::secret_for`] and nothing
//! else, so a new kind of key (temporary STS keys with a security token) is
//! accepted everywhere by changing this one function.

use chrono::{DateTime, Utc};

use super::request::Answer;
use crate::secret::Secret;

/// The key pairs the mock knows: today the static pair it was started with.
pub struct Keys {
    access_key_id: String,
    access_key_secret: Secret,
}

impl Keys {
    pub fn new(access_key_id: String, access_key_secret: Secret) -> Self {
        Self {
            access_key_id,
            access_key_secret,
        }
    }

    /// The secret that signs for `key_id`, given the security token the call carried
    /// (`SecurityToken` under V2, `x-acs-security-token` under V3), at `now`; or the
    /// gateway's refusal. A static pair ignores a token, as Alibaba does.
    pub fn secret_for(
        &self,
        key_id: &str,
        _security_token: Option<&str>,
        _now: DateTime<Utc>,
    ) -> Result<Secret, Answer> {
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
}
