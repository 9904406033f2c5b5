//! The one duration syntax of the configuration: a whole number and a unit,
//! `45s`, `90m`, `12h`, `14d` (`ID2META_DEAD_LETTER_TTL`, `ID2META_REUSE_WITHIN`).
//!
//! One unit per value, no fractions, no spaces inside, and never zero: every
//! setting that takes a duration is switched off by leaving it unset, so a `0`
//! is far more likely a typo than a wish.

use std::time::Duration;

/// Why a text is not a duration. The messages name the rule and echo the text,
/// which is configuration, never personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("'{0}' is not a duration: write a whole number and a unit, like 45s, 90m, 12h or 14d")]
    Syntax(String),
    #[error("'{0}' is not a duration: it must be above zero")]
    Zero(String),
    #[error("'{0}' is too long a duration")]
    TooLong(String),
}

/// Parses `45s`, `90m`, `12h` or `14d` (white space around it is ignored).
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    let syntax = || DurationError::Syntax(trimmed.to_string());
    let unit_at = trimmed
        .char_indices()
        .last()
        .map(|(at, _)| at)
        .ok_or_else(syntax)?;
    let (number, unit) = trimmed.split_at(unit_at);
    let seconds_per_unit: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 60 * 60,
        "d" => 24 * 60 * 60,
        _ => return Err(syntax()),
    };
    // `u64::from_str` accepts a leading `+`; the syntax is digits only.
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(syntax());
    }
    let count: u64 = number
        .parse()
        .map_err(|_| DurationError::TooLong(trimmed.to_string()))?;
    if count == 0 {
        return Err(DurationError::Zero(trimmed.to_string()));
    }
    let seconds = count
        .checked_mul(seconds_per_unit)
        // AMQP expirations are milliseconds: keep every duration expressible in them.
        .filter(|s| s.checked_mul(1000).is_some())
        .ok_or_else(|| DurationError::TooLong(trimmed.to_string()))?;
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_unit_means_what_it_says() {
        assert_eq!(parse("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse("90m"), Ok(Duration::from_secs(90 * 60)));
        assert_eq!(parse("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse("14d"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse(" 30d\n"), Ok(Duration::from_secs(30 * 86_400)));
    }

    #[test]
    fn anything_but_digits_and_one_unit_is_refused() {
        for text in [
            "", "d", "14", "14 d", "1.5h", "-3s", "+3s", "3w", "3S", "1h30m", "３s", "14dd",
        ] {
            assert!(
                matches!(parse(text), Err(DurationError::Syntax(_))),
                "{text:?}"
            );
        }
    }

    #[test]
    fn zero_and_overflowing_durations_are_refused() {
        assert_eq!(parse("0s"), Err(DurationError::Zero("0s".into())));
        assert!(matches!(
            parse("99999999999999999999d"),
            Err(DurationError::TooLong(_))
        ));
        assert!(matches!(
            parse("999999999999999d"),
            Err(DurationError::TooLong(_))
        ));
    }
}
