//! Signature V2: Alibaba's RPC-style HMAC-SHA1 scheme (`SignatureVersion=1.0`),
//! which Alibaba documents as discontinued but still accepts; kept on request
//! (`ID2META_SIGNATURE=v2`).
//!
//! Pure functions, shared by the client (which signs) and the mock upstream (which
//! verifies), so the two can only disagree with Alibaba, never with each other.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

pub use super::encoding::percent_encode_rpc;
use super::encoding::sorted_encoded_pairs;

/// The common parameters V2 adds to the business ones, `Signature` aside.
pub fn common_parameters<'a>(
    action: &'a str,
    version: &'a str,
    access_key_id: &'a str,
    nonce: &'a str,
    timestamp: &'a str,
) -> [(&'a str, &'a str); 8] {
    [
        ("Action", action),
        ("Version", version),
        ("Format", "JSON"),
        ("AccessKeyId", access_key_id),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", nonce),
        ("Timestamp", timestamp),
    ]
}

/// The canonicalized query string: encoded pairs sorted by encoded name, joined by `&`.
/// `Signature` itself, if present, is left out.
pub fn canonical_query<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    sorted_encoded_pairs(params.into_iter().filter(|(name, _)| *name != "Signature"))
}

/// `METHOD&%2F&percentEncode(canonical query)`.
pub fn string_to_sign<'a>(
    method: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    format!(
        "{}&%2F&{}",
        method.to_ascii_uppercase(),
        percent_encode_rpc(&canonical_query(params))
    )
}

/// Base64(HMAC-SHA1(secret + "&", string_to_sign)).
pub fn signature<'a>(
    method: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    access_key_secret: &str,
) -> String {
    let key = format!("{access_key_secret}&");
    // HMAC takes a key of any length; this cannot fail.
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(string_to_sign(method, params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Vec<(&'static str, &'static str)> {
        vec![
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ]
    }

    #[test]
    fn alibabas_published_example_signs_to_its_published_signature() {
        assert_eq!(
            signature("GET", example(), "testsecret"),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
    }

    #[test]
    fn alibabas_published_example_has_its_published_string_to_sign() {
        assert_eq!(
            string_to_sign("GET", example()),
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML\
             %26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf\
             %26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
        );
    }

    #[test]
    fn pairs_are_sorted_by_encoded_name_and_the_signature_is_left_out() {
        let q = canonical_query([("b", "2"), ("Signature", "x"), ("a", "1"), ("A", "0")]);
        assert_eq!(q, "A=0&a=1&b=2");
    }

    #[test]
    fn the_signature_depends_on_method_value_secret_and_security_token() {
        let base = example();
        let sig = signature("GET", base.clone(), "testsecret");
        assert_ne!(sig, signature("POST", base.clone(), "testsecret"));
        assert_ne!(sig, signature("GET", base.clone(), "test secret&*~+/=%"));
        let mut with_token = base.clone();
        with_token.push(("SecurityToken", "sts+token/=="));
        assert_ne!(sig, signature("GET", with_token, "testsecret"));
    }

    #[test]
    fn a_secret_with_special_characters_is_used_verbatim_as_the_key() {
        // HMAC-SHA1 over the example string with key "a&b*~+/=% c&": computed independently
        // (python3 hmac) so a wrong key construction fails here.
        let got = signature("GET", example(), "a&b*~+/=% c");
        assert_eq!(got, expected_for_special_secret());
    }

    fn expected_for_special_secret() -> &'static str {
        include_str!("v2_vector_special_secret.txt").trim()
    }
}
