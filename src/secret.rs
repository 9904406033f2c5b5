//! Wrapper types for values that must never reach a log, a panic message or a
//! completion: credentials ([`Secret`]) and personal data ([`Pii`]).
//!
//! Both redact themselves in `Debug` and `Display`; the only way to the value is
//! an explicit `expose()`, which is easy to grep for in review.

use std::fmt;

/// A credential or key: `ALIBABA_CLOUD_ACCESS_KEY_SECRET`, `ID2META_PII_KEY`, ...
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The plaintext. Call it only where the value is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Personal data as it arrived: a name or an ID number before (or after) validation.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Pii(String);

impl Pii {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The plaintext, for validation, hashing and the upstream request only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Pii {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pii([redacted])")
    }
}

impl fmt::Display for Pii {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("testsecret");
        let p = Pii::new("11010519491231002X");
        for text in [
            format!("{s:?}"),
            format!("{s}"),
            format!("{p:?}"),
            format!("{p}"),
        ] {
            assert!(
                !text.contains("testsecret") && !text.contains("1101"),
                "{text}"
            );
        }
        assert_eq!(s.expose(), "testsecret");
        assert_eq!(p.expose(), "11010519491231002X");
    }
}
