//! The masked forms stored in the results table: enough for a person to
//! recognise a row (`张*`, `110***********002X`), not enough to identify anyone.
//!
//! Masks are made from invalid input too, so they bound what they reveal
//! whatever the input's length, and never copy an invisible or control
//! character into the table.

use super::id_number::normalise;
use super::person_name::{is_hidden_or_control, MAX_NAME_CHARS};

const MASK: char = '*';
/// ID number characters kept at the start and at the end.
const ID_HEAD: usize = 3;
const ID_TAIL: usize = 4;
/// Stars in the mask of an 18-character number, and never more.
const ID_MAX_STARS: usize = 11;

/// `张三` → `张*`, `欧阳娜娜` → `欧***`: the first character of the trimmed
/// input kept, each other one a `*` (at most 63 of them); one character → `*`.
pub fn mask_name(raw: &str) -> String {
    let mut chars = raw.trim().chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let rest = chars.count();
    if rest == 0 {
        return MASK.to_string();
    }
    let mut masked = String::with_capacity(first.len_utf8() + rest);
    masked.push(shown(first));
    masked.extend(std::iter::repeat_n(MASK, rest.min(MAX_NAME_CHARS - 1)));
    masked
}

/// `11010519491231002X` → `110***********002X`: of the trimmed input, the
/// first 3 and last 4 characters kept and at most 11 stars between; shorter
/// than 8 characters → all stars.
pub fn mask_id_number(raw: &str) -> String {
    let chars: Vec<char> = normalise(raw).chars().collect();
    if chars.len() < ID_HEAD + 1 + ID_TAIL {
        return std::iter::repeat_n(MASK, chars.len()).collect();
    }
    let stars = (chars.len() - ID_HEAD - ID_TAIL).min(ID_MAX_STARS);
    let head = chars[..ID_HEAD].iter().copied().map(shown);
    let tail = chars[chars.len() - ID_TAIL..].iter().copied().map(shown);
    head.chain(std::iter::repeat_n(MASK, stars))
        .chain(tail)
        .collect()
}

/// The character itself, or a star if it would be invisible or a control.
fn shown(c: char) -> char {
    if is_hidden_or_control(c) || c.is_whitespace() {
        MASK
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_only_their_first_character() {
        let table = [
            ("张三", "张*"),
            ("欧阳娜娜", "欧***"),
            ("欧阳 娜娜", "欧****"),
            ("  张三  ", "张*"),
            ("张", "*"),
            ("", ""),
            ("   ", ""),
            ("\u{202E}abc", "****"),
        ];
        for (raw, expected) in table {
            assert_eq!(mask_name(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn a_long_invalid_name_gives_a_bounded_mask() {
        let masked = mask_name(&"名".repeat(10_000));
        assert_eq!(masked.chars().count(), MAX_NAME_CHARS);
        assert!(masked.starts_with('名') && masked[3..].chars().all(|c| c == MASK));
    }

    #[test]
    fn numbers_keep_three_at_the_start_and_four_at_the_end() {
        let table = [
            ("11010519491231002X", "110***********002X"),
            ("11010519491231002x", "110***********002X"),
            (" 11010519491231002X ", "110***********002X"),
            ("12345678", "123*5678"),
            ("1234567", "*******"),
            ("12", "**"),
            ("", ""),
            ("1101051949123100", "110*********3100"),
            ("11010519491231002X99999", "110***********9999"),
            ("ab\u{202E}1234567\u{200B}yz", "ab*******7*yz"),
        ];
        for (raw, expected) in table {
            assert_eq!(mask_id_number(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn no_number_mask_is_longer_than_eighteen_characters() {
        for length in 0..200 {
            let masked = mask_id_number(&"7".repeat(length));
            assert!(masked.chars().count() <= 18, "{length}: {masked}");
            assert_eq!(
                masked.chars().filter(|&c| c == '7').count(),
                if length >= 8 { 7 } else { 0 }
            );
        }
    }
}
