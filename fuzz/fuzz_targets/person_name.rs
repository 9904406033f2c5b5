//! Name validation and masking on arbitrary text. What is accepted is what
//! the rules promise (trimmed, 1 to 64 characters, nothing invisible, single
//! ordinary spaces) and parses again to itself; a mask never holds more than
//! 64 characters, nor anything invisible, whatever it was made from.
#![no_main]

use id2meta::identity::{is_hidden_or_control, mask_name, PersonName, MAX_NAME_CHARS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    let mask = mask_name(raw);
    assert!(mask.chars().count() <= MAX_NAME_CHARS, "mask too long");
    assert!(
        !mask
            .chars()
            .any(|c| is_hidden_or_control(c) || c.is_whitespace()),
        "mask shows an invisible character"
    );
    assert_eq!(mask.is_empty(), raw.trim().is_empty(), "mask of nothing");
    let Ok(name) = PersonName::parse(raw) else {
        return;
    };
    let text = name.expose();
    assert_eq!(text, raw.trim(), "accepted name is not the trimmed input");
    assert!((1..=MAX_NAME_CHARS).contains(&text.chars().count()));
    assert!(!text.chars().any(is_hidden_or_control));
    assert!(!text.contains("  "));
    assert!(!text.chars().any(|c| c.is_whitespace() && c != ' '));
    assert!(
        !text.chars().any(|c| c.is_ascii_digit()),
        "a digit in a name"
    );
    assert_eq!(
        PersonName::parse(text).as_ref(),
        Ok(&name),
        "not idempotent"
    );
    assert_eq!(name.masked(), mask, "masks of a name and its input differ");
});
