//! Properties more than one fuzz target checks: what an RPC-encoded query may hold,
//! and that a sorted canonical query is exactly the parameters it was made from.

use percent_encoding::percent_decode_str;

/// Only `A-Z a-z 0-9 - _ . ~`, `%XX` with upper-case hex, and the bytes in `extra`.
pub fn is_rpc_encoded(text: &str, extra: &[u8]) -> bool {
    let bytes = text.as_bytes();
    let hex = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c));
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            if !hex(bytes.get(i + 1)) || !hex(bytes.get(i + 2)) {
                return false;
            }
            i += 3;
        } else if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || extra.contains(&b) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// Asserts that `query` is the canonical form of `given`: encoded bytes only, one
/// `name=value` pair per parameter, sorted, each decoding back to what was given.
pub fn assert_canonical_query(query: &str, given: &[(String, String)]) {
    assert!(
        is_rpc_encoded(query, b"=&"),
        "a raw byte in the canonical query"
    );
    // Even an empty name and value make a pair ("="): "" is no parameter at all.
    assert_eq!(
        query.is_empty(),
        given.is_empty(),
        "an empty query with parameters"
    );
    let encoded: Vec<(&str, &str)> = if query.is_empty() {
        Vec::new()
    } else {
        query
            .split('&')
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .collect()
    };
    assert_eq!(encoded.len(), given.len(), "a pair lost or invented");
    assert!(encoded.windows(2).all(|w| w[0] <= w[1]), "pairs not sorted");
    let mut decoded: Vec<(String, String)> = encoded
        .iter()
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    let mut given = given.to_vec();
    decoded.sort();
    given.sort();
    assert_eq!(decoded, given, "a pair does not decode to what was given");
}

/// Percent-decoding (no `+` rule: the canonical form never holds one).
pub fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}
