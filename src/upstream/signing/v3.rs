//! Signature V3: ACS3-HMAC-SHA256, the scheme Alibaba's SDKs sign with by default.
//!
//! Every step is a pure function over strings so that the client (which signs), the
//! mock (which verifies) and the fuzz targets run the very same canonicalisation:
//! a difference between them would otherwise only show against the real gateway.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::encoding::sorted_encoded_pairs;

/// The algorithm name, first in `Authorization` and in the string to sign.
pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// hex(SHA-256("")): the `x-acs-content-sha256` of an empty body.
pub const EMPTY_BODY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Lower-case hex SHA-256 of `bytes` (the body's `x-acs-content-sha256`, the request's hash).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The CanonicalQueryString: each name and value percent-encoded as in V2, sorted by
/// encoded name, `name=value` joined by `&`. It is also the query string sent.
pub fn canonical_query<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    sorted_encoded_pairs(params)
}

/// The signed headers in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalHeaders {
    /// `name:value\n` for each header: names lower-cased, values trimmed, sorted by name.
    pub canonical: String,
    /// The same names joined by `;`.
    pub signed: String,
}

/// Canonicalises the headers to sign (the caller chooses which: the signer signs
/// `host` and every `x-acs-*` it sends, a verifier those its `SignedHeaders` names).
pub fn canonical_headers<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> CanonicalHeaders {
    let mut lines: Vec<(String, &str)> = headers
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim()))
        .collect();
    lines.sort();
    CanonicalHeaders {
        canonical: lines
            .iter()
            .map(|(name, value)| format!("{name}:{value}\n"))
            .collect(),
        signed: lines
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>()
            .join(";"),
    }
}

/// METHOD `\n` `/` `\n` CanonicalQueryString `\n` CanonicalHeaders `\n` SignedHeaders
/// `\n` HashedPayload. The canonical headers end in `\n`, hence a blank line.
pub fn canonical_request(
    method: &str,
    canonical_query: &str,
    headers: &CanonicalHeaders,
    hashed_payload: &str,
) -> String {
    format!(
        "{}\n/\n{canonical_query}\n{}\n{}\n{hashed_payload}",
        method.to_ascii_uppercase(),
        headers.canonical,
        headers.signed
    )
}

/// `ACS3-HMAC-SHA256\n` + hex(SHA-256(CanonicalRequest)).
pub fn string_to_sign(canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{}", sha256_hex(canonical_request.as_bytes()))
}

/// hex(HMAC-SHA256(key = the raw secret, StringToSign)), lower case.
pub fn signature(access_key_secret: &str, string_to_sign: &str) -> String {
    // HMAC takes a key of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(access_key_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The `Authorization` header value.
pub fn authorization(access_key_id: &str, signed_headers: &str, signature: &str) -> String {
    format!("{ALGORITHM} Credential={access_key_id},SignedHeaders={signed_headers},Signature={signature}")
}

/// An `Authorization` header read back, as a verifier needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization<'a> {
    pub credential: &'a str,
    pub signed_headers: Vec<&'a str>,
    pub signature: &'a str,
}

/// Reads `ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..`; `None` if it
/// is another scheme or any of the three parts is missing or empty.
pub fn parse_authorization(value: &str) -> Option<Authorization<'_>> {
    let rest = value.trim().strip_prefix(ALGORITHM)?;
    let rest = rest.strip_prefix(' ')?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=')?;
        let slot = match name {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => return None,
        };
        *slot = Some(value).filter(|v| !v.is_empty());
    }
    Some(Authorization {
        credential: credential?,
        signed_headers: signed?.split(';').collect(),
        signature: signature?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Alibaba's published V3 example (RunInstances on ECS, all six headers signed).
    fn example_request() -> String {
        let query = canonical_query([
            ("RegionId", "cn-shanghai"),
            (
                "ImageId",
                "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
            ),
        ]);
        let headers = canonical_headers([
            ("host", "ecs.cn-shanghai.aliyuncs.com"),
            ("x-acs-action", "RunInstances"),
            ("x-acs-version", "2014-05-26"),
            ("x-acs-date", "2023-10-26T10:22:32Z"),
            ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
            ("x-acs-content-sha256", EMPTY_BODY_SHA256),
        ]);
        canonical_request("POST", &query, &headers, &sha256_hex(b""))
    }

    #[test]
    fn alibabas_published_example_hashes_to_its_published_canonical_request_hash() {
        assert_eq!(
            string_to_sign(&example_request()),
            "ACS3-HMAC-SHA256\n7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
        );
    }

    #[test]
    fn alibabas_published_example_signs_to_its_published_signature() {
        let sts = string_to_sign(&example_request());
        assert_eq!(
            signature("YourAccessKeySecret", &sts),
            "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
    }

    #[test]
    fn the_canonical_request_has_a_blank_line_before_the_signed_headers() {
        let request = example_request();
        assert!(request.starts_with(
            "POST\n/\nImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai\nhost:"
        ));
        assert!(request.contains(
            "x-acs-version:2014-05-26\n\nhost;x-acs-action;x-acs-content-sha256;x-acs-date;\
             x-acs-signature-nonce;x-acs-version\ne3b0c442"
        ));
    }

    #[test]
    fn header_names_are_lowered_values_trimmed_and_lines_sorted() {
        let h = canonical_headers([("X-Acs-B", "  2 "), ("Host", "h"), ("x-acs-a", "1")]);
        assert_eq!(h.canonical, "host:h\nx-acs-a:1\nx-acs-b:2\n");
        assert_eq!(h.signed, "host;x-acs-a;x-acs-b");
    }

    #[test]
    fn a_space_in_the_query_is_percent_twenty() {
        assert_eq!(
            canonical_query([("UserName", "欧阳 娜娜"), ("A", "*~")]),
            "A=%2A~&UserName=%E6%AC%A7%E9%98%B3%20%E5%A8%9C%E5%A8%9C"
        );
    }

    #[test]
    fn an_authorization_header_reads_back_into_its_three_parts() {
        let value = authorization("testid", "host;x-acs-date", "abc");
        assert_eq!(
            parse_authorization(&value),
            Some(Authorization {
                credential: "testid",
                signed_headers: vec!["host", "x-acs-date"],
                signature: "abc",
            })
        );
        for bad in [
            "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host",
            "ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature=s",
            "ACS3-HMAC-SHA1 Credential=a,SignedHeaders=host,Signature=s",
            "ACS3-HMAC-SHA256Credential=a,SignedHeaders=host,Signature=s",
            "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host,Signature=s,Extra=x",
            "",
        ] {
            assert_eq!(parse_authorization(bad), None, "{bad}");
        }
    }
}
