//! GB 11643-1999 validation, two ways. Arbitrary text: no panic, and what is
//! accepted is 18 ASCII characters whose check character is right, whatever
//! the case of a final `x` or the white space around it. Numbers built from
//! the input with a correct check character: accepted, and every single
//! substituted character is caught (the weights are all non-zero modulo 11).
#![no_main]

use chrono::NaiveDate;
use id2meta::identity::{check_character, mask_id_number, IdNumber};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
    if let Ok(raw) = std::str::from_utf8(data) {
        arbitrary_text(raw, today);
    }
    built_number(data, today);
});

fn arbitrary_text(raw: &str, today: NaiveDate) {
    let parsed = IdNumber::parse_on(raw, today);
    let mask = mask_id_number(raw);
    assert!(mask.chars().count() <= 18, "mask longer than a number");
    // Case of a final x and surrounding white space never change the verdict.
    let verdict = |text: &str| IdNumber::parse_on(text, today).map(|n| n.expose().to_owned());
    let trimmed = raw.trim_end();
    let flipped = if let Some(rest) = trimmed.strip_suffix('x') {
        Some(format!("{rest}X"))
    } else {
        trimmed.strip_suffix('X').map(|rest| format!("{rest}x"))
    };
    if let Some(flipped) = flipped {
        assert_eq!(
            verdict(&flipped),
            verdict(raw),
            "the case of x changed the verdict"
        );
    }
    let padded = format!(" \t{raw}\u{3000}\n");
    assert_eq!(
        verdict(&padded),
        verdict(raw),
        "surrounding white space changed the verdict"
    );
    let Ok(number) = parsed else {
        return;
    };
    let text = number.expose();
    assert_eq!(text.len(), 18);
    assert!(text.is_ascii());
    assert_eq!(check_character(&text[..17]), text.chars().last());
    assert_eq!(
        IdNumber::parse_on(text, today).as_ref(),
        Ok(&number),
        "not idempotent"
    );
    assert_eq!(
        number.masked(),
        format!("{}***********{}", &text[..3], &text[14..])
    );
}

fn built_number(data: &[u8], today: NaiveDate) {
    let [a, b, c, d, rest @ ..] = data else {
        return;
    };
    let year = 1900 + u32::from(u16::from_le_bytes([*a, *b]) % 126); // 1900..=2025: never after `today`
    let month = 1 + u32::from(*c % 12);
    let day = 1 + u32::from(*d % 28);
    let digit = |i: usize| char::from(b'0' + rest.get(i).map_or(0, |v| v % 10));
    let region: String = std::iter::once(char::from(b'1' + rest.first().map_or(0, |v| v % 9)))
        .chain((1..6).map(digit))
        .collect();
    let sequence: String = (6..9).map(digit).collect();
    let body = format!("{region}{year:04}{month:02}{day:02}{sequence}");
    let Some(check) = check_character(&body) else {
        panic!("17 digits have no check character");
    };
    let number = format!("{body}{check}");
    assert!(
        IdNumber::parse_on(&number, today).is_ok(),
        "a valid number was refused"
    );
    assert!(
        IdNumber::parse_on(&number.to_lowercase(), today).is_ok(),
        "lower-case x refused"
    );
    // Substitute one character (position and replacement from the input).
    let position = usize::from(rest.get(9).copied().unwrap_or(0)) % 18;
    let replacement = rest.get(10).copied().unwrap_or(0);
    let replacement = if position == 17 && replacement % 11 == 10 {
        'X'
    } else {
        char::from(b'0' + replacement % 10)
    };
    let mut changed: Vec<char> = number.chars().collect();
    if changed[position] == replacement {
        return;
    }
    changed[position] = replacement;
    let changed: String = changed.into_iter().collect();
    assert!(
        IdNumber::parse_on(&changed, today).is_err(),
        "a substitution was not caught"
    );
}
