//! The one percent-encoding both schemes use for query names and values.
//!
//! V2 and V3 encode the same way (RFC 3986 unreserved characters stay, every other
//! UTF-8 byte becomes upper-case `%XY`); keeping it in one place means the two
//! signers cannot drift apart on a space, a `*` or a `~`.

use percent_encoding::{percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Every byte but `A-Z a-z 0-9 - _ . ~` is escaped, as RFC 3986 unreserved.
const RPC_ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a name or value as UTF-8 with upper-case hex (`%20`, `%2A`, `~`).
pub fn percent_encode_rpc(value: &str) -> String {
    percent_encode(value.as_bytes(), RPC_ESCAPED).to_string()
}

/// Encoded `name=value` pairs sorted by encoded name (then value), joined by `&`.
pub fn sorted_encoded_pairs<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut pairs: Vec<(String, String)> = params
        .into_iter()
        .map(|(name, value)| (percent_encode_rpc(name), percent_encode_rpc(value)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_characters_are_encoded_the_rpc_way() {
        assert_eq!(
            percent_encode_rpc("a b*c~d+e/f&g=h%i"),
            "a%20b%2Ac~d%2Be%2Ff%26g%3Dh%25i"
        );
        assert_eq!(percent_encode_rpc("-_.~AZaz09"), "-_.~AZaz09");
    }

    #[test]
    fn utf8_names_are_encoded_byte_by_byte_in_upper_case_hex() {
        assert_eq!(percent_encode_rpc("张三"), "%E5%BC%A0%E4%B8%89");
        assert_eq!(
            percent_encode_rpc("欧阳 娜娜"),
            "%E6%AC%A7%E9%98%B3%20%E5%A8%9C%E5%A8%9C"
        );
    }

    #[test]
    fn pairs_are_sorted_by_encoded_name() {
        let q = sorted_encoded_pairs([("b", "2"), ("a", "1"), ("A", "0"), ("c d", "")]);
        assert_eq!(q, "A=0&a=1&b=2&c%20d=");
    }
}
