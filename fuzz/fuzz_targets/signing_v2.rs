//! Signature V2 (HMAC-SHA1) canonicalisation on arbitrary parameter lists.
//! The canonical query holds only unreserved bytes, `%XX` with upper-case hex,
//! `=` and `&`; its pairs are sorted by encoded name, one per parameter but
//! `Signature`, and each decodes back to what was given. The string to sign
//! is `METHOD&%2F&` and the encoded query; the signature is 28 characters of
//! Base64 and changes with the secret.
#![no_main]

use id2meta::upstream::signing::percent_encode_rpc;
use id2meta::upstream::signing::v2::{canonical_query, signature, string_to_sign};
use id2meta_fuzz::{assert_canonical_query, is_rpc_encoded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (bool, String, Vec<(String, String)>)| {
    let (post, secret, params) = input;
    let method = if post { "POST" } else { "GET" };
    let pairs = || params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let query = canonical_query(pairs());
    let kept: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "Signature")
        .cloned()
        .collect();
    assert_canonical_query(&query, &kept);
    for (k, v) in &params {
        assert!(is_rpc_encoded(&percent_encode_rpc(k), b""));
        assert!(is_rpc_encoded(&percent_encode_rpc(v), b""));
    }

    let to_sign = string_to_sign(method, pairs());
    assert_eq!(
        to_sign,
        format!("{method}&%2F&{}", percent_encode_rpc(&query))
    );
    let sig = signature(method, pairs(), &secret);
    assert_eq!(sig.len(), 28, "HMAC-SHA1 in Base64 is 28 characters");
    assert!(sig.ends_with('='));
    let other = format!("{secret}x");
    assert_ne!(
        sig,
        signature(method, pairs(), &other),
        "the secret did not matter"
    );
});
