use chrono::NaiveDate;
use proptest::prelude::*;

use super::*;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A fixed "today" so the table does not age.
fn today() -> NaiveDate {
    day(2026, 11, 28)
}

/// Appends the check character, to isolate the other rules.
fn with_check(first_seventeen: &str) -> String {
    let check = check_character(first_seventeen).unwrap();
    format!("{first_seventeen}{check}")
}

#[test]
fn valid_numbers_parse_and_normalise() {
    // Expected check characters computed independently (python3).
    let table = [
        ("11010519491231002X", "11010519491231002X"),
        ("11010519491231002x", "11010519491231002X"),
        ("  11010519491231002X\t\n", "11010519491231002X"),
        ("\u{3000}11010519491231002x\u{a0}", "11010519491231002X"),
        ("44030419900307123X", "44030419900307123X"),
        ("650101200002294567", "650101200002294567"),
        ("320102198510153015", "320102198510153015"),
        ("31011519000101001X", "31011519000101001X"),
        ("510104202312319990", "510104202312319990"),
    ];
    for (raw, normalised) in table {
        let parsed = IdNumber::parse_on(raw, today());
        assert_eq!(
            parsed.as_ref().map(IdNumber::expose),
            Ok(normalised),
            "{raw:?}"
        );
    }
}

#[test]
fn invalid_numbers_fail_on_the_rule_they_break() {
    use IdentityError::*;
    let table: Vec<(String, IdentityError)> = vec![
        ("".into(), IdNumberLength),
        ("   ".into(), IdNumberLength),
        ("11010519491231002".into(), IdNumberLength),
        ("11010519491231002X1".into(), IdNumberLength),
        ("1101051949123100２X".into(), IdNumberCharacters), // full-width digit
        ("11010519491231002Y".into(), IdNumberCharacters),
        ("1101051949123100XX".into(), IdNumberCharacters),
        ("11010519491231 02X".into(), IdNumberCharacters),
        ("-1010519491231002X".into(), IdNumberCharacters),
        ("x11010519491231002".into(), IdNumberCharacters),
        (with_check("01010519491231002"), IdNumberRegion),
        (with_check("11010519490230002"), IdNumberBirthDate), // 30 February
        (with_check("11010519491301002"), IdNumberBirthDate), // month 13
        (with_check("11010519490000002"), IdNumberBirthDate),
        (with_check("11010520230229002"), IdNumberBirthDate), // 2023 not a leap year
        (with_check("11010518991231002"), IdNumberBirthDate), // before 1900
        (with_check("11010520261129002"), IdNumberBirthDate), // tomorrow
        (with_check("11010599991231002"), IdNumberBirthDate),
        ("110105194912310021".into(), IdNumberCheckCharacter),
        ("110105194912310020".into(), IdNumberCheckCharacter),
        ("11010519491231002 X".into(), IdNumberLength),
    ];
    for (raw, expected) in table {
        assert_eq!(IdNumber::parse_on(&raw, today()), Err(expected), "{raw:?}");
    }
}

#[test]
fn a_birth_date_of_today_is_accepted() {
    assert!(IdNumber::parse_on(&with_check("11010520261128002"), today()).is_ok());
}

#[test]
fn parse_uses_the_real_clock_for_future_dates() {
    assert!(IdNumber::parse("11010519491231002X").is_ok());
    assert_eq!(
        IdNumber::parse(&with_check("11010530001231002")),
        Err(IdentityError::IdNumberBirthDate)
    );
}

fn utc(text: &str) -> chrono::DateTime<Utc> {
    text.parse().unwrap()
}

#[test]
fn the_date_that_bounds_birth_dates_is_beijings_not_utcs() {
    // 16:00 UTC is midnight in Beijing: the date turns there eight hours early.
    assert_eq!(china_today(utc("2026-11-28T15:59:59Z")), day(2026, 11, 28));
    assert_eq!(china_today(utc("2026-11-28T16:00:00Z")), day(2026, 11, 29));
    assert_eq!(china_today(utc("2026-11-28T23:59:59Z")), day(2026, 11, 29));
    assert_eq!(china_today(utc("2026-11-29T00:00:00Z")), day(2026, 11, 29));
    assert_eq!(china_today(utc("2026-12-31T16:00:00Z")), day(2027, 1, 1));
}

#[test]
fn a_person_born_today_in_beijing_is_accepted_while_utc_is_still_on_yesterday() {
    let now = utc("2026-11-28T20:00:00Z");
    let born_in_beijing_today = with_check("11010520261129002");
    assert!(IdNumber::parse_on(&born_in_beijing_today, china_today(now)).is_ok());
    assert_eq!(
        IdNumber::parse_on(&with_check("11010520261130002"), china_today(now)),
        Err(IdentityError::IdNumberBirthDate)
    );
}

#[test]
fn parse_accepts_a_birth_on_the_current_beijing_date() {
    let today = china_today(Utc::now()).format("%Y%m%d").to_string();
    assert!(IdNumber::parse(&with_check(&format!("110105{today}002"))).is_ok());
}

#[test]
fn check_character_refuses_anything_but_seventeen_digits() {
    assert_eq!(check_character("11010519491231002"), Some('X'));
    assert_eq!(check_character("1101051949123100"), None);
    assert_eq!(check_character("1101051949123100A"), None);
    assert_eq!(check_character("11010519491231002X"), None);
}

#[test]
fn debug_and_display_redact_the_number() {
    let number = IdNumber::parse("11010519491231002X").unwrap();
    assert_eq!(format!("{number:?}"), "IdNumber([redacted])");
    assert_eq!(format!("{number}"), "[redacted]");
}

/// The first 17 digits of a plausible number: region, birth date, sequence.
fn first_seventeen() -> impl Strategy<Value = String> {
    let birth = (0i64..=days_since_1900()).prop_map(|offset| {
        (day(1900, 1, 1) + chrono::Duration::days(offset))
            .format("%Y%m%d")
            .to_string()
    });
    (110_000u32..=659_999, birth, 0u32..=999)
        .prop_map(|(region, birth, sequence)| format!("{region}{birth}{sequence:03}"))
}

fn days_since_1900() -> i64 {
    (Utc::now().date_naive() - day(1900, 1, 1)).num_days()
}

proptest! {
    #[test]
    fn every_well_formed_number_parses(first in first_seventeen()) {
        let number = with_check(&first);
        prop_assert_eq!(IdNumber::parse(&number).map(|n| n.0), Ok(number.clone()));
        prop_assert!(IdNumber::parse(&number.to_lowercase()).is_ok());
    }

    #[test]
    fn changing_any_one_of_the_first_seventeen_digits_is_caught(
        first in first_seventeen(),
        position in 0usize..17,
        bump in 1u8..=9,
    ) {
        let mut bytes = with_check(&first).into_bytes();
        bytes[position] = b'0' + (bytes[position] - b'0' + bump) % 10;
        let altered = String::from_utf8(bytes).unwrap();
        prop_assert!(IdNumber::parse(&altered).is_err(), "{} accepted", altered);
    }
}
