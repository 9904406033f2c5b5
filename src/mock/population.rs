//! A deterministic synthetic population for the mock upstream.
//!
//! Tests, demos and load runs need identities whose verdict is known in advance
//! without any real person's data. The mock decides every verdict from the input
//! alone ([`verdict_for`]), and [`person`] enumerates inputs whose verdicts mix
//! matches, mismatches and numbers with no record, in fixed proportions.

use chrono::{Days, NaiveDate};

use crate::upstream::Verdict;

/// Real region codes (districts of Beijing, Shanghai, Shenzhen, Chengdu, Hangzhou).
const REGIONS: [&str; 5] = ["110105", "310104", "440305", "510107", "330106"];

/// GB 11643 weights of the first 17 digits.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARACTERS: &[u8; 11] = b"10X98765432";

const SURNAMES: [&str; 16] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡",
    "欧阳",
];
const GIVEN: [&str; 20] = [
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀", "霞", "平",
];

/// Sequences from this value up have no record in the mock's data source.
pub const NOT_FOUND_SEQUENCE_FROM: u32 = 900;

/// The i-th synthetic person: a valid ID number, the name the mock holds for it, and
/// the verdict the mock gives for (that name, that number).
///
/// One in ten is a number with no record, two in ten carry a name that does not
/// belong to the number, the rest match.
pub fn person(i: u64) -> (String, String, Verdict) {
    let region = REGIONS[(i % REGIONS.len() as u64) as usize];
    let birth = birth_date(i);
    let sequence = match i % 10 {
        7 => NOT_FOUND_SEQUENCE_FROM as u64 + (i / 10) % 100,
        _ => (i / 10 * 7 + i) % NOT_FOUND_SEQUENCE_FROM as u64,
    };
    let first17 = format!("{region}{}{sequence:03}", birth.format("%Y%m%d"));
    let id_number = format!("{first17}{}", check_character(&first17).unwrap_or('0'));
    let name = match i % 10 {
        3 | 8 => different_name(&name_for(&id_number)),
        _ => name_for(&id_number),
    };
    let verdict = verdict_for(&name, &id_number);
    (name, id_number, verdict)
}

/// The verdict the mock gives for a name and a well-formed number.
pub fn verdict_for(name: &str, id_number: &str) -> Verdict {
    let sequence: u32 = id_number
        .get(14..17)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if sequence >= NOT_FOUND_SEQUENCE_FROM {
        Verdict::NotFound
    } else if name == name_for(id_number) {
        Verdict::Match
    } else {
        Verdict::Mismatch
    }
}

/// The name the mock's data source holds for a number: a surname and one or two
/// given characters, chosen by a hash of the number.
pub fn name_for(id_number: &str) -> String {
    let h = fnv1a(id_number.as_bytes());
    let surname = SURNAMES[(h % SURNAMES.len() as u64) as usize];
    let first = GIVEN[((h >> 8) % GIVEN.len() as u64) as usize];
    if (h >> 16) % 2 == 0 {
        format!("{surname}{first}")
    } else {
        let second = GIVEN[((h >> 24) % GIVEN.len() as u64) as usize];
        format!("{surname}{first}{second}")
    }
}

/// The check character of the first 17 digits, or `None` if they are not 17 digits.
pub fn check_character(first17: &str) -> Option<char> {
    if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    Some(CHECK_CHARACTERS[(sum % 11) as usize] as char)
}

/// A birth date between 1950-01-01 and 2005-12-31, spread over the range by `i`.
fn birth_date(i: u64) -> NaiveDate {
    let start = NaiveDate::from_ymd_opt(1950, 1, 1).unwrap_or_default();
    let end = NaiveDate::from_ymd_opt(2005, 12, 31).unwrap_or_default();
    let span = (end - start).num_days().max(1) as u64;
    start
        .checked_add_days(Days::new(i.wrapping_mul(7919) % span))
        .unwrap_or(start)
}

/// The same surname with another given name, so the pair is a mismatch.
fn different_name(name: &str) -> String {
    let mut chars: Vec<char> = name.chars().collect();
    let last = chars.pop().map(String::from).unwrap_or_default();
    let index = GIVEN.iter().position(|g| *g == last).unwrap_or(0);
    let replacement = GIVEN[(index + 1) % GIVEN.len()];
    format!("{}{replacement}", chars.into_iter().collect::<String>())
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contracts_example_number_has_its_check_character() {
        assert_eq!(check_character("11010519491231002"), Some('X'));
        assert_eq!(check_character("1101051949123100"), None);
        assert_eq!(check_character("1101051949123100a"), None);
    }

    #[test]
    fn every_person_has_a_valid_number_with_a_real_region_and_birth_date() {
        for i in 0..2000 {
            let (_, id, _) = person(i);
            assert_eq!(id.len(), 18);
            assert_eq!(check_character(&id[..17]), id.chars().last(), "person {i}");
            assert!(REGIONS.contains(&&id[..6]));
            let birth = NaiveDate::parse_from_str(&id[6..14], "%Y%m%d").expect("a date");
            assert!((1950..=2005).contains(&chrono::Datelike::year(&birth)));
        }
    }

    #[test]
    fn the_population_mixes_verdicts_in_fixed_proportions() {
        let verdicts: Vec<Verdict> = (0..1000).map(|i| person(i).2).collect();
        let count = |v| verdicts.iter().filter(|x| **x == v).count();
        assert_eq!(count(Verdict::NotFound), 100);
        assert_eq!(count(Verdict::Mismatch), 200);
        assert_eq!(count(Verdict::Match), 700);
        assert_eq!(person(3).2, Verdict::Mismatch);
        assert_eq!(person(7).2, Verdict::NotFound);
        assert_eq!(person(0).2, Verdict::Match);
    }

    #[test]
    fn the_verdict_follows_the_name_and_the_sequence() {
        let (name, id, _) = person(1);
        assert_eq!(verdict_for(&name, &id), Verdict::Match);
        assert_eq!(verdict_for(&different_name(&name), &id), Verdict::Mismatch);
        let (_, id, _) = person(17);
        assert_eq!(verdict_for(&name_for(&id), &id), Verdict::NotFound);
    }

    #[test]
    fn the_people_scripts_sdk_check_relies_on_stay_the_same() {
        assert_eq!(
            person(0),
            ("马杰娜".into(), "110105195001010004".into(), Verdict::Match)
        );
        assert_eq!(
            person(7),
            (
                "李勇平".into(),
                "440305198910109002".into(),
                Verdict::NotFound
            )
        );
    }

    #[test]
    fn names_are_deterministic_and_two_or_three_characters_long() {
        let (_, id, _) = person(42);
        assert_eq!(name_for(&id), name_for(&id));
        let len = name_for(&id).chars().count();
        assert!((2..=4).contains(&len));
    }
}
