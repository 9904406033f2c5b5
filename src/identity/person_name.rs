//! Names as the upstream receives them: trimmed, printable, bounded.
//!
//! The rules exist so that two names that *look* the same are the same string:
//! zero-width characters, bidi overrides and look-alike spaces would let one
//! name pass for another in a report, and give the same person two digests.

use super::IdentityError;

/// The longest name accepted, in characters (not bytes).
pub const MAX_NAME_CHARS: usize = 64;

/// A validated, trimmed name. `Debug` and `Display` redact.
#[derive(Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    /// Trims, then requires 1..=64 characters, no control or invisible
    /// formatting characters, and only single ASCII spaces between words.
    /// `·` (middle dot, used in minority names) is an ordinary character.
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(IdentityError::NameEmpty);
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(IdentityError::NameTooLong);
        }
        if name.chars().any(is_hidden_or_control) {
            return Err(IdentityError::NameControlCharacters);
        }
        if name.contains("  ") || name.chars().any(|c| c.is_whitespace() && c != ' ') {
            return Err(IdentityError::NameWhiteSpace);
        }
        // A name is letters (Han, Latin, Uyghur, ...) and the few marks real names use.
        // Digits, `;`, `$`, quotes-as-code and the like can only be data errors or attacks,
        // and every call that reaches the data source is billed: refuse them here.
        if !name.chars().all(is_name_character) {
            return Err(IdentityError::NameCharacters);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The contract's mask, safe to store and show.
    pub fn masked(&self) -> String {
        super::mask_name(&self.0)
    }
}

/// Letters, combining marks (as the "alphabetic" property counts them), the space,
/// and the marks used inside real names: middle dots (`·` in minority names,
/// `•` and `・` as typed), the full stop, hyphens and apostrophes.
fn is_name_character(c: char) -> bool {
    c.is_alphabetic() || matches!(c, ' ' | '·' | '•' | '・' | '.' | '-' | '\'' | '’')
}

/// Control characters (Unicode category Cc) and the invisible format
/// characters (category Cf) that can make one string look like another:
/// zero-width spaces and joiners, bidi embeddings, overrides and isolates,
/// the byte-order mark, interlinear annotation, tag characters.
pub fn is_hidden_or_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{0600}'..='\u{0605}'
                | '\u{061C}'
                | '\u{06DD}'
                | '\u{070F}'
                | '\u{0890}'..='\u{0891}'
                | '\u{08E2}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{110BD}'
                | '\u{110CD}'
                | '\u{13430}'..='\u{1343F}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0001}'
                | '\u{E0020}'..='\u{E007F}'
        )
}

super::redacted_debug_and_display!(PersonName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_parse_trimmed() {
        let table = [
            ("张三", "张三"),
            ("  张三 ", "张三"),
            ("\u{3000}张三\u{3000}", "张三"),
            ("欧阳 娜娜", "欧阳 娜娜"),
            ("阿依古丽·买买提", "阿依古丽·买买提"),
            ("Jean-Luc O'Neil", "Jean-Luc O'Neil"),
        ];
        for (raw, expected) in table {
            assert_eq!(
                PersonName::parse(raw).map(|n| n.0),
                Ok(expected.to_owned()),
                "{raw:?}"
            );
        }
        assert!(PersonName::parse(&"名".repeat(MAX_NAME_CHARS)).is_ok());
    }

    #[test]
    fn broken_names_fail_on_the_rule_they_break() {
        use IdentityError::*;
        let table = [
            (String::new(), NameEmpty),
            (" \t\n\u{3000}".to_owned(), NameEmpty),
            ("名".repeat(MAX_NAME_CHARS + 1), NameTooLong),
            ("a".repeat(MAX_NAME_CHARS + 1), NameTooLong),
            ("\u{202E}abc".to_owned(), NameControlCharacters),
            (
                "'; DROP TABLE verification_results; --".to_owned(),
                NameCharacters,
            ),
            ("$(rm -rf /)".to_owned(), NameCharacters),
            ("张3".to_owned(), NameCharacters),
            ("a\u{200B}b".to_owned(), NameControlCharacters),
            ("a\u{200D}b".to_owned(), NameControlCharacters),
            ("a\u{2066}b\u{2069}".to_owned(), NameControlCharacters),
            ("\u{FEFF}张三".to_owned(), NameControlCharacters),
            ("a\nb".to_owned(), NameControlCharacters),
            ("a\u{0}b".to_owned(), NameControlCharacters),
            ("a\u{7F}b".to_owned(), NameControlCharacters),
            ("a\u{85}b".to_owned(), NameControlCharacters),
            ("张\u{E0041}三".to_owned(), NameControlCharacters),
            ("欧阳  娜娜".to_owned(), NameWhiteSpace),
            ("欧阳\u{3000}娜娜".to_owned(), NameWhiteSpace),
            ("欧阳\u{A0}娜娜".to_owned(), NameWhiteSpace),
        ];
        for (raw, expected) in table {
            assert_eq!(PersonName::parse(&raw), Err(expected), "{raw:?}");
        }
    }

    #[test]
    fn the_length_limit_counts_characters_not_bytes() {
        // 64 three-byte characters are 192 bytes and still one valid name.
        let name = "龍".repeat(MAX_NAME_CHARS);
        assert_eq!(name.len(), 3 * MAX_NAME_CHARS);
        assert!(PersonName::parse(&name).is_ok());
    }

    #[test]
    fn debug_and_display_redact_the_name() {
        let name = PersonName::parse("张三").unwrap();
        assert_eq!(format!("{name:?}"), "PersonName([redacted])");
        assert_eq!(format!("{name}"), "[redacted]");
    }
}
