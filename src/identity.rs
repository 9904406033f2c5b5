//! ID numbers and names (STUB: to be written).

use crate::secret::Secret;

/// A validated, normalised GB 11643 number. `Debug`/`Display` redact.
#[derive(Clone, PartialEq, Eq)]
pub struct IdNumber(String);

/// A validated, trimmed name. `Debug`/`Display` redact.
#[derive(Clone, PartialEq, Eq)]
pub struct PersonName(String);

/// A name and number that passed local validation.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Identity {
    pub name: PersonName,
    pub id_number: IdNumber,
}

/// Why an identity is `invalid`. Messages name the rule, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("id_number must be 18 characters")]
    IdNumberLength,
}

impl std::fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdNumber([redacted])")
    }
}
impl std::fmt::Debug for PersonName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PersonName([redacted])")
    }
}

impl IdentityError {
    /// A short, stable code for the stored row.
    pub fn code(&self) -> &'static str {
        "id_number_length"
    }
}

impl IdNumber {
    pub fn parse(_raw: &str) -> Result<Self, IdentityError> {
        todo!()
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn masked(&self) -> String {
        mask_id_number(&self.0)
    }
}

impl PersonName {
    pub fn parse(_raw: &str) -> Result<Self, IdentityError> {
        todo!()
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn masked(&self) -> String {
        mask_name(&self.0)
    }
}

impl Identity {
    pub fn parse(name: &str, id_number: &str) -> Result<Self, IdentityError> {
        Ok(Self { name: PersonName::parse(name)?, id_number: IdNumber::parse(id_number)? })
    }
    /// Hex HMAC-SHA256 under the PII key of the normalised number and name.
    pub fn digest(&self, key: &Secret) -> String {
        identity_digest(key, self.id_number.expose(), self.name.expose())
    }
}

/// The keyed digest of a number and a name (normalised if they were valid, trimmed otherwise).
pub fn identity_digest(_key: &Secret, _id_number: &str, _name: &str) -> String {
    todo!()
}

/// `张三` → `张*`: the first character kept.
pub fn mask_name(_raw: &str) -> String {
    todo!()
}

/// `11010519491231002X` → `110***********002X`: first 3 and last 4 kept.
pub fn mask_id_number(_raw: &str) -> String {
    todo!()
}
