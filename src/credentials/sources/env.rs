//! The static pair from `ALIBABA_CLOUD_ACCESS_KEY_ID` / `_SECRET` (and, if set,
//! `ALIBABA_CLOUD_SECURITY_TOKEN`): first in the chain, never refreshed.
//!
//! A token given this way was issued by someone else; the worker cannot renew it,
//! so it is used as it is, without an expiry of its own (the upstream says when it
//! stops working, and that is an environment error).

use super::super::settings::StaticKeys;
use super::super::Credentials;

pub const NAME: &str = "environment";

/// What the chain names when this source is not set.
pub const VARIABLES: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID + ALIBABA_CLOUD_ACCESS_KEY_SECRET";

/// The pair as the signer uses it.
pub fn credentials(keys: &StaticKeys) -> Credentials {
    Credentials::fixed(
        keys.access_key_id.clone(),
        keys.access_key_secret.clone(),
        keys.security_token.clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn the_static_pair_never_expires_and_keeps_its_token() {
        let c = credentials(&StaticKeys {
            access_key_id: "id".into(),
            access_key_secret: Secret::new("s"),
            security_token: Some(Secret::new("t")),
        });
        assert_eq!(c.expires_at, None);
        assert_eq!(c.security_token, Some(Secret::new("t")));
    }
}
