//! GB 11643-1999 resident ID numbers: the shape, the birth date and the check
//! character.
//!
//! The check character catches nearly every single-digit typo and most
//! transpositions, so a number that fails it is settled `invalid` locally
//! instead of paying the upstream to say "no record".

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc};

use super::IdentityError;

/// Characters in a GB 11643-1999 number.
const LENGTH: usize = 18;
/// Weights of the first 17 digits in the check sum.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// The check character for each value of the sum modulo 11.
const CHECK_CHARACTERS: &[u8; 11] = b"10X98765432";
/// Birth dates before this year are not plausible for a living card holder.
const EARLIEST_BIRTH_YEAR: i32 = 1900;
/// China Standard Time, UTC+8 all year (no daylight saving since 1991).
const CST_OFFSET_SECS: i32 = 8 * 3600;

/// A validated, normalised GB 11643 number (trimmed, final `X` upper-case).
/// `Debug` and `Display` redact.
#[derive(Clone, PartialEq, Eq)]
pub struct IdNumber(String);

impl IdNumber {
    /// Validates against today's date in China Standard Time: the card's
    /// birth date is a Beijing date, so between 16:00 and 24:00 UTC a person
    /// born "today" in Beijing was born on what UTC still calls tomorrow.
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        Self::parse_on(raw, china_today(Utc::now()))
    }

    /// Validates with `today` as the latest acceptable birth date.
    pub fn parse_on(raw: &str, today: NaiveDate) -> Result<Self, IdentityError> {
        let number = normalise(raw);
        if number.chars().count() != LENGTH {
            return Err(IdentityError::IdNumberLength);
        }
        // 18 chars and (checked next) all ASCII, so byte indexing below is safe.
        let bytes = number.as_bytes();
        let (body, last) = (&bytes[..LENGTH - 1], bytes[LENGTH - 1]);
        if !body.iter().all(u8::is_ascii_digit) || !(last.is_ascii_digit() || last == b'X') {
            return Err(IdentityError::IdNumberCharacters);
        }
        if body[0] == b'0' {
            return Err(IdentityError::IdNumberRegion);
        }
        let birth = birth_date(&number[6..14]).ok_or(IdentityError::IdNumberBirthDate)?;
        if birth.year() < EARLIEST_BIRTH_YEAR || birth > today {
            return Err(IdentityError::IdNumberBirthDate);
        }
        if check_character(&number[..LENGTH - 1]) != Some(char::from(last)) {
            return Err(IdentityError::IdNumberCheckCharacter);
        }
        Ok(Self(number))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The contract's mask, safe to store and show.
    pub fn masked(&self) -> String {
        super::mask_id_number(&self.0)
    }
}

/// Trims (Unicode white space included) and upper-cases a final `x`: the
/// same number written either way is the same number.
pub(super) fn normalise(raw: &str) -> String {
    let trimmed = raw.trim();
    match trimmed.strip_suffix('x') {
        Some(rest) => format!("{rest}X"),
        None => trimmed.to_owned(),
    }
}

/// The GB 11643 check character of 17 ASCII digits; `None` for anything else.
pub fn check_character(first_seventeen: &str) -> Option<char> {
    let bytes = first_seventeen.as_bytes();
    if bytes.len() != WEIGHTS.len() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = bytes
        .iter()
        .zip(WEIGHTS)
        .map(|(digit, weight)| u32::from(digit - b'0') * weight)
        .sum();
    Some(char::from(CHECK_CHARACTERS[(sum % 11) as usize]))
}

/// The calendar date in China Standard Time at the instant `now`.
pub fn china_today(now: DateTime<Utc>) -> NaiveDate {
    match FixedOffset::east_opt(CST_OFFSET_SECS) {
        Some(cst) => now.with_timezone(&cst).date_naive(),
        // Unreachable (8 h is a valid offset); the UTC date is the safe fallback.
        None => now.date_naive(),
    }
}

/// `YYYYMMDD` (8 ASCII digits) as a calendar date, if it is one.
fn birth_date(yyyymmdd: &str) -> Option<NaiveDate> {
    let year = yyyymmdd.get(0..4)?.parse().ok()?;
    let month = yyyymmdd.get(4..6)?.parse().ok()?;
    let day = yyyymmdd.get(6..8)?.parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

super::redacted_debug_and_display!(IdNumber);

#[cfg(test)]
mod tests;
