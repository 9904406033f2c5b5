//! Signature V2 (HMAC-SHA1) canonicalisation on arbitrary parameter lists.
//! The canonical query holds only unreserved bytes, `%XX` with upper-case hex,
//! `=` and `&`; its pairs are sorted by encoded name, one per parameter but
//! `Signature`, and each decodes back to what was given. The string to sign
//! is `METHOD&%2F&` and the encoded query; the signature is 28 characters of
//! Base64 and changes with the secret.
#![no_main]

use id2meta::upstream::signing::{canonical_query, percent_encode_rpc, signature, string_to_sign};
use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;

fuzz_target!(|input: (bool, String, Vec<(String, String)>)| {
    let (post, secret, params) = input;
    let method = if post { "POST" } else { "GET" };
    let pairs = || params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let query = canonical_query(pairs());

    assert!(is_encoded(&query, b"=&"), "a raw byte in the canonical query");
    let kept: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "Signature").collect();
    let encoded: Vec<(&str, &str)> = if query.is_empty() {
        Vec::new()
    } else {
        query
            .split('&')
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .collect()
    };
    // Even an empty name and value give a pair ("="): "" is no parameter at all.
    assert_eq!(query.is_empty(), kept.is_empty(), "an empty query with parameters");
    assert_eq!(encoded.len(), kept.len(), "a pair lost or invented");
    assert!(encoded.windows(2).all(|w| w[0] <= w[1]), "pairs not sorted");
    let mut decoded: Vec<(String, String)> = encoded
        .iter()
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    let mut given: Vec<(String, String)> = kept.into_iter().cloned().collect();
    decoded.sort();
    given.sort();
    assert_eq!(decoded, given, "a pair does not decode to what was given");
    for (k, v) in &params {
        assert!(is_encoded(&percent_encode_rpc(k), b""));
        assert!(is_encoded(&percent_encode_rpc(v), b""));
    }

    let to_sign = string_to_sign(method, pairs());
    assert_eq!(to_sign, format!("{method}&%2F&{}", percent_encode_rpc(&query)));
    let sig = signature(method, pairs(), &secret);
    assert_eq!(sig.len(), 28, "HMAC-SHA1 in Base64 is 28 characters");
    assert!(sig.ends_with('='));
    let other = format!("{secret}x");
    assert_ne!(sig, signature(method, pairs(), &other), "the secret did not matter");
});

/// Only `A-Z a-z 0-9 - _ . ~`, `%XX` with upper-case hex, and `extra`.
fn is_encoded(text: &str, extra: &[u8]) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = |c: &u8| c.is_ascii_digit() || (b'A'..=b'F').contains(c);
            if bytes.get(i + 1).is_none_or(|c| !hex(c)) || bytes.get(i + 2).is_none_or(|c| !hex(c)) {
                return false;
            }
            i += 3;
            continue;
        }
        if !(b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || extra.contains(&b)) {
            return false;
        }
        i += 1;
    }
    true
}

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}
