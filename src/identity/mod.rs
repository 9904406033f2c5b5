//! ID numbers and names: local validation, masking and the keyed digest.
//!
//! Every call upstream is billed, so a job whose number or name cannot possibly
//! match is settled here as `invalid` without a call. The checks are the ones a
//! GB 11643-1999 number and a printable name must pass; they never say *which*
//! value failed, only which rule (see [`IdentityError::code`]), because the
//! error text reaches logs and the results table.
//!
//! The stored row never holds the plaintext: [`mask_name`] and
//! [`mask_id_number`] give the human-readable hint, and [`identity_digest`]
//! lets an analyst who holds the key test "was this person verified?" without
//! the table revealing who was.

/// `Debug` and `Display` that print the type's name and `[redacted]`, for the
/// validated PII types: a `{:?}` in a log line must never leak the value.
macro_rules! redacted_debug_and_display {
    ($type:ident) => {
        impl std::fmt::Debug for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}([redacted])", stringify!($type))
            }
        }

        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("[redacted]")
            }
        }
    };
}
use redacted_debug_and_display;

mod digest;
mod id_number;
mod masking;
mod person_name;

pub use digest::{identity_digest, key_fingerprint};
pub use id_number::{check_character, IdNumber};
pub use masking::{mask_id_number, mask_name};
pub use person_name::{is_hidden_or_control, PersonName, MAX_NAME_CHARS};

use crate::secret::Secret;

/// A name and number that passed local validation.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Identity {
    pub name: PersonName,
    pub id_number: IdNumber,
}

/// Why an identity is `invalid`. Messages name the rule, never the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("id_number must be 18 characters")]
    IdNumberLength,
    #[error("id_number must be 17 digits followed by a digit or X")]
    IdNumberCharacters,
    #[error("id_number must start with a region code (first digit 1-9)")]
    IdNumberRegion,
    #[error("id_number must hold a real birth date from 1900 up to today")]
    IdNumberBirthDate,
    #[error("id_number check character does not match (GB 11643)")]
    IdNumberCheckCharacter,
    #[error("name must not be empty")]
    NameEmpty,
    #[error("name must be at most 64 characters")]
    NameTooLong,
    #[error("name must not contain control, zero-width or bidi characters")]
    NameControlCharacters,
    #[error("name may hold only single ordinary spaces between words")]
    NameWhiteSpace,
    #[error("name may hold only letters, spaces and the marks · . - '")]
    NameCharacters,
}

impl IdentityError {
    /// A short, stable snake_case code for the stored row and metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            Self::IdNumberLength => "id_number_length",
            Self::IdNumberCharacters => "id_number_characters",
            Self::IdNumberRegion => "id_number_region",
            Self::IdNumberBirthDate => "id_number_birth_date",
            Self::IdNumberCheckCharacter => "id_number_check_character",
            Self::NameEmpty => "name_empty",
            Self::NameTooLong => "name_too_long",
            Self::NameControlCharacters => "name_control_characters",
            Self::NameWhiteSpace => "name_white_space",
            Self::NameCharacters => "name_characters",
        }
    }
}

impl Identity {
    /// Validates both fields; the name is checked first.
    pub fn parse(name: &str, id_number: &str) -> Result<Self, IdentityError> {
        Ok(Self {
            name: PersonName::parse(name)?,
            id_number: IdNumber::parse(id_number)?,
        })
    }

    /// Hex HMAC-SHA256 under the PII key of the normalised number and name.
    pub fn digest(&self, key: &Secret) -> String {
        identity_digest(key, self.id_number.expose(), self.name.expose())
    }
}

/// What the results table and dead letters hold for an input: its masks and
/// its digest (never the plaintext). `forget` and `lookup` find a person by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pseudonyms {
    pub digest: String,
    pub name_masked: String,
    pub id_number_masked: String,
}

impl Pseudonyms {
    /// As a worker computes them: normalised values for a valid identity, the
    /// trimmed raw ones for an invalid one (whose row is `invalid`).
    pub fn of(key: &Secret, name: &str, id_number: &str) -> Self {
        match Identity::parse(name, id_number) {
            Ok(identity) => Self {
                digest: identity.digest(key),
                name_masked: identity.name.masked(),
                id_number_masked: identity.id_number.masked(),
            },
            Err(_) => Self {
                digest: identity_digest(key, id_number.trim(), name.trim()),
                name_masked: mask_name(name),
                id_number_masked: mask_id_number(id_number),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_those_a_worker_stores_for_valid_and_invalid_input() {
        let key = Secret::new("k");
        let valid = Pseudonyms::of(&key, " 张三 ", "11010519491231002x ");
        let identity = Identity::parse("张三", "11010519491231002X").unwrap();
        assert_eq!(valid.digest, identity.digest(&key));
        assert_eq!(valid.id_number_masked, "110***********002X");
        let invalid = Pseudonyms::of(&key, "张三", " 123 ");
        assert_eq!(invalid.digest, identity_digest(&key, "123", "张三"));
        assert!(!format!("{valid:?}{invalid:?}").contains("1101051949"));
    }

    #[test]
    fn an_identity_needs_both_a_valid_name_and_a_valid_number() {
        assert!(Identity::parse("张三", "11010519491231002X").is_ok());
        assert_eq!(
            Identity::parse("", "11010519491231002X"),
            Err(IdentityError::NameEmpty)
        );
        assert_eq!(
            Identity::parse("张三", "110105194912310021"),
            Err(IdentityError::IdNumberCheckCharacter)
        );
    }

    #[test]
    fn debug_of_an_identity_shows_neither_value() {
        let identity = Identity::parse("张三", "11010519491231002X").unwrap();
        let text = format!("{identity:?}");
        assert!(!text.contains('张') && !text.contains("1101"), "{text}");
    }

    #[test]
    fn every_rule_has_its_own_snake_case_code() {
        let all = [
            IdentityError::IdNumberLength,
            IdentityError::IdNumberCharacters,
            IdentityError::IdNumberRegion,
            IdentityError::IdNumberBirthDate,
            IdentityError::IdNumberCheckCharacter,
            IdentityError::NameEmpty,
            IdentityError::NameTooLong,
            IdentityError::NameControlCharacters,
            IdentityError::NameWhiteSpace,
            IdentityError::NameCharacters,
        ];
        let codes: std::collections::HashSet<_> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), all.len());
        for code in codes {
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code}"
            );
        }
    }
}
