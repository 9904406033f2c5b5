//! The seal: authenticated encryption of a dead letter's original message.
//!
//! XChaCha20-Poly1305 (RustCrypto) under a key derived with HKDF-SHA256 from
//! `ID2META_PII_KEY` and a label of its own, so the sealing key is never the
//! digest key: a leaked dead letter and a leaked digest do not help each other.
//! XChaCha's 192-bit nonce is random per letter; at that size random nonces
//! never collide in practice, so no counter has to be shared by replicas.
//!
//! The associated data binds the letter's clear headers (its id, reason,
//! job_id and source queue) to the sealed body: a letter whose headers were
//! edited, or a body moved onto another letter, no longer opens. That matters
//! for replay, which publishes to the source queue the headers name.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use sha2::Sha256;

use crate::secret::Secret;

/// HKDF's info label: names the purpose and the format version.
const INFO: &[u8] = b"id2meta dead letters v1 xchacha20poly1305";
/// The first byte of a sealed body: the format, so a later one can be told apart.
pub(super) const VERSION: u8 = 1;
const NONCE_BYTES: usize = 24;

/// The value of the seal header: which format sealed the body.
pub const FORMAT: &str = "xchacha20poly1305-v1";

/// A sealed body did not open: another key, another format, or edited bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the dead letter does not open with this ID2META_PII_KEY (another key, or altered)")]
pub struct SealBroken;

/// The sealing key; holds no plaintext key material in `Debug`.
#[derive(Clone)]
pub struct SealKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey([redacted])")
    }
}

impl SealKey {
    /// Derives the sealing key from the PII key.
    pub fn derive(pii_key: &Secret) -> Self {
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(None, pii_key.expose().as_bytes())
            .expand(INFO, &mut key)
            .unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA256 output length"));
        Self {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// `VERSION || nonce || ciphertext+tag` of `plain`, bound to `associated`.
    pub fn seal(&self, plain: &[u8], associated: &[u8]) -> Vec<u8> {
        let nonce_bytes: [u8; NONCE_BYTES] = rand::random();
        let nonce = XNonce::from(nonce_bytes);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain,
                    aad: associated,
                },
            )
            // Only a message beyond ChaCha's 256 GiB counter fails; AMQP bodies cannot.
            .unwrap_or_else(|_| unreachable!("an AMQP body is far below XChaCha20's limit"));
        let mut out = Vec::with_capacity(1 + NONCE_BYTES + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&sealed);
        out
    }

    /// The plaintext of a body [`SealKey::seal`] made with the same associated data.
    pub fn open(&self, sealed: &[u8], associated: &[u8]) -> Result<Vec<u8>, SealBroken> {
        let (&version, rest) = sealed.split_first().ok_or(SealBroken)?;
        if version != VERSION || rest.len() < NONCE_BYTES {
            return Err(SealBroken);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_BYTES);
        let nonce = XNonce::try_from(nonce).map_err(|_| SealBroken)?;
        self.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: associated,
                },
            )
            .map_err(|_| SealBroken)
    }
}

/// Associated data from several fields, each length-prefixed so that
/// (`ab`, `c`) and (`a`, `bc`) differ.
pub fn associated_data(fields: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields {
        out.extend_from_slice(&(field.len() as u64).to_be_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> SealKey {
        SealKey::derive(&Secret::new(text))
    }

    #[test]
    fn a_sealed_body_opens_with_the_same_key_and_associated_data() {
        let ad = associated_data(&["id-1", "not_json"]);
        let sealed = key("k").seal("张三 11010519491231002X".as_bytes(), &ad);
        assert!(!sealed
            .windows("11010519491231002X".len())
            .any(|w| w == b"11010519491231002X"));
        assert_eq!(
            key("k").open(&sealed, &ad).unwrap(),
            "张三 11010519491231002X".as_bytes()
        );
    }

    #[test]
    fn another_key_other_associated_data_or_an_edited_byte_do_not_open() {
        let ad = associated_data(&["id-1", "not_json"]);
        let sealed = key("k").seal(b"body", &ad);
        assert_eq!(key("other").open(&sealed, &ad), Err(SealBroken));
        let moved = associated_data(&["id-1", "not_jso", "n"]);
        assert_eq!(key("k").open(&sealed, &moved), Err(SealBroken));
        let mut edited = sealed.clone();
        let last = edited.len() - 1;
        edited[last] ^= 1;
        assert_eq!(key("k").open(&edited, &ad), Err(SealBroken));
        assert_eq!(key("k").open(&sealed[..10], &ad), Err(SealBroken));
        assert_eq!(key("k").open(b"", &ad), Err(SealBroken));
    }

    #[test]
    fn two_seals_of_one_body_differ_and_the_key_is_not_debug_printed() {
        let a = key("k").seal(b"same", b"");
        let b = key("k").seal(b"same", b"");
        assert_ne!(a, b, "nonces must be fresh");
        assert_eq!(format!("{:?}", key("k")), "SealKey([redacted])");
    }
}
