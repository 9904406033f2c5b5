//! The keyed digest of an identity: a stable pseudonym for "this number with
//! this name".
//!
//! HMAC rather than a plain hash: ID numbers have so little entropy (region,
//! date, sequence) that an unkeyed SHA-256 is reversed by enumeration in
//! minutes. Without `ID2META_PII_KEY` the digest says nothing.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::secret::Secret;

/// Separates the number from the name, so (`a`, `bc`) and (`ab`, `c`) differ.
const UNIT_SEPARATOR: char = '\u{1f}';

/// Lower-case hex of HMAC-SHA256(key, id_number + U+001F + name).
/// Pass normalised values for a valid identity, trimmed raw ones otherwise.
pub fn identity_digest(key: &Secret, id_number: &str, name: &str) -> String {
    // HMAC takes a key of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(id_number.as_bytes());
    let mut separator = [0u8; 4];
    mac.update(UNIT_SEPARATOR.encode_utf8(&mut separator).as_bytes());
    mac.update(name.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// What the key fingerprint is the digest of: no identity has this number.
const FINGERPRINT_LABEL: &str = "id2meta: ID2META_PII_KEY fingerprint";

/// A fingerprint of the key itself, so that replicas can compare keys without
/// storing or sending one: the first 16 hex digits of a digest of a fixed label.
pub fn key_fingerprint(key: &Secret) -> String {
    let mut digest = identity_digest(key, FINGERPRINT_LABEL, "");
    digest.truncate(16);
    digest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Secret {
        Secret::new("test-pii-key")
    }

    #[test]
    fn the_digest_matches_an_independent_hmac_sha256() {
        // python3 -c "import hmac,hashlib; print(hmac.new(b'test-pii-key',
        //   '11010519491231002X\x1f张三'.encode(), hashlib.sha256).hexdigest())"
        assert_eq!(
            identity_digest(&key(), "11010519491231002X", "张三"),
            "ba53cc7b1e4e228c81977002c83a74ad7de9c50f7c2ada3923b56241a9de56a1"
        );
    }

    #[test]
    fn moving_the_boundary_between_number_and_name_changes_the_digest() {
        assert_ne!(
            identity_digest(&key(), "a", "bc"),
            identity_digest(&key(), "ab", "c")
        );
        assert_ne!(
            identity_digest(&key(), "", "ab"),
            identity_digest(&key(), "ab", "")
        );
    }

    #[test]
    fn another_key_gives_another_digest() {
        let other = Secret::new("another-key");
        assert_ne!(
            identity_digest(&key(), "11010519491231002X", "张三"),
            identity_digest(&other, "11010519491231002X", "张三")
        );
    }

    #[test]
    fn a_key_fingerprint_is_stable_short_and_differs_between_keys() {
        let first = key_fingerprint(&key());
        assert_eq!(first, key_fingerprint(&key()));
        assert_eq!(first.len(), 16);
        assert_ne!(first, key_fingerprint(&Secret::new("another-key")));
        assert!(!first.contains("test-pii-key"));
    }
}
