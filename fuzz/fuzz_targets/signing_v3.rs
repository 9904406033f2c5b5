//! Signature V3 (ACS3-HMAC-SHA256) canonicalisation on arbitrary parameters and
//! headers. The canonical query is sorted, encoded and exactly the parameters;
//! canonical headers are lower-cased, trimmed and sorted, one `name:value` line
//! each, and `SignedHeaders` is their names joined by `;`; the canonical request
//! has the scheme's seven parts; all hex is lower case; an `Authorization` header
//! reads back as written.
#![no_main]

use id2meta::upstream::signing::v3;
use id2meta_fuzz::assert_canonical_query;
use libfuzzer_sys::fuzz_target;

type Input = (
    bool,
    String,
    String,
    Vec<(String, String)>,
    Vec<(String, String)>,
);

fuzz_target!(|input: Input| {
    let (post, secret, key_id, params, headers) = input;
    let method = if post { "POST" } else { "get" };
    let query = v3::canonical_query(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    assert_canonical_query(&query, &params);

    let canonical = v3::canonical_headers(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut expected: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    expected.sort();
    let lines: String = expected.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    assert_eq!(
        canonical.canonical, lines,
        "headers not lower-cased, trimmed, sorted"
    );
    let names: Vec<&str> = expected.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(canonical.signed, names.join(";"));

    let payload = v3::sha256_hex(secret.as_bytes());
    assert!(is_lower_hex(&payload, 64));
    let request = v3::canonical_request(method, &query, &canonical, &payload);
    assert_eq!(
        request,
        format!(
            "{}\n/\n{query}\n{}\n{}\n{payload}",
            method.to_ascii_uppercase(),
            canonical.canonical,
            canonical.signed
        )
    );
    // Without line breaks in the headers, the parts can be read back.
    if !headers
        .iter()
        .any(|(k, v)| format!("{k}{v}").contains(['\n', '\r']))
    {
        let parts: Vec<&str> = request.split('\n').collect();
        assert_eq!(parts.len(), 6 + headers.len(), "not the scheme's parts");
        assert_eq!(
            parts[parts.len() - 3],
            "",
            "no blank line before SignedHeaders"
        );
    }
    let to_sign = v3::string_to_sign(&request);
    let hash = to_sign
        .strip_prefix("ACS3-HMAC-SHA256\n")
        .unwrap_or_default();
    assert!(
        is_lower_hex(hash, 64),
        "string to sign is not the algorithm and a hash"
    );
    let signature = v3::signature(&secret, &to_sign);
    assert!(is_lower_hex(&signature, 64));
    assert_ne!(signature, v3::signature(&format!("{secret}x"), &to_sign));

    let authorization = v3::authorization(&key_id, &canonical.signed, &signature);
    // A key id and header names without `,` `=` or white space at their ends read back.
    let plain = |text: &str| !text.is_empty() && text == text.trim() && !text.contains([',', '=']);
    if plain(&key_id) && plain(&canonical.signed) {
        let read = v3::parse_authorization(&authorization);
        let read = read.map(|r| (r.credential, r.signed_headers.join(";"), r.signature));
        assert_eq!(
            read,
            Some((
                key_id.as_str(),
                canonical.signed.clone(),
                signature.as_str()
            )),
            "Authorization does not read back"
        );
    }
});

fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
