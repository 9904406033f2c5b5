//! Request signing for Alibaba's RPC APIs: one interface, two schemes.
//!
//! Alibaba's SDKs sign with V3 (ACS3-HMAC-SHA256) by default and document the old
//! HMAC-SHA1 scheme (V2) as discontinued, so V3 is the default and V2 stays on
//! request (`ID2META_SIGNATURE`). The client holds a [`Signer`] and never knows which
//! scheme it holds: it sends the query string and the headers the signer returns.
//! The canonicalisation steps of each scheme are public pure functions in [`v2`] and
//! [`v3`], because the mock verifies with them and fuzz targets run over them.

mod encoding;
pub mod v2;
pub mod v3;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use encoding::percent_encode_rpc;

use crate::credentials::Credentials;
use crate::secret::{Pii, Secret};

/// Which of Alibaba's signature schemes a request uses.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// HMAC-SHA1 in the query (`SignatureVersion=1.0`).
    V2,
    /// ACS3-HMAC-SHA256 in the `Authorization` header.
    #[default]
    V3,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Self::V2 => "v2",
            Self::V3 => "v3",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not `v2` or `v3`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a signature scheme (v3 or v2)")]
pub struct UnknownScheme(pub String);

impl FromStr for Scheme {
    type Err = UnknownScheme;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "v2" => Ok(Self::V2),
            "v3" => Ok(Self::V3),
            _ => Err(UnknownScheme(text.to_string())),
        }
    }
}

/// One request to sign: everything but the scheme and the operation.
pub struct Request<'a> {
    pub method: &'a str,
    /// The `host` header as it will be sent (`host` or `host:port`).
    pub host: &'a str,
    /// The business parameters (they go in the query string under both schemes).
    pub business: &'a [(&'a str, &'a str)],
    pub credentials: &'a Credentials,
    /// Unique per request.
    pub nonce: &'a str,
    /// UTC, `YYYY-MM-DDThh:mm:ssZ`.
    pub timestamp: &'a str,
}

/// What to send: the query string and the headers, with an empty body.
pub struct Signed {
    /// The encoded query string, without `?`. It carries the identity.
    pub query: Pii,
    /// Header names (lower case) and values; a value may carry the security token.
    pub headers: Vec<(&'static str, Secret)>,
}

/// Signs requests for one operation with one scheme.
#[derive(Debug, Clone)]
pub struct Signer {
    scheme: Scheme,
    action: &'static str,
    version: &'static str,
}

impl Signer {
    pub fn new(scheme: Scheme, action: &'static str, version: &'static str) -> Self {
        Self {
            scheme,
            action,
            version,
        }
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    pub fn sign(&self, request: &Request<'_>) -> Signed {
        match self.scheme {
            Scheme::V2 => self.sign_v2(request),
            Scheme::V3 => self.sign_v3(request),
        }
    }

    /// Every parameter in the query, `Signature` last; no headers of its own.
    fn sign_v2(&self, r: &Request<'_>) -> Signed {
        let credentials = r.credentials;
        let mut params: Vec<(&str, &str)> = v2::common_parameters(
            self.action,
            self.version,
            &credentials.access_key_id,
            r.nonce,
            r.timestamp,
        )
        .to_vec();
        if let Some(token) = &credentials.security_token {
            params.push(("SecurityToken", token.expose()));
        }
        params.extend_from_slice(r.business);
        let signature = v2::signature(
            r.method,
            params.iter().copied(),
            credentials.access_key_secret.expose(),
        );
        params.push(("Signature", &signature));
        let query = params
            .iter()
            .map(|(name, value)| {
                format!("{}={}", percent_encode_rpc(name), percent_encode_rpc(value))
            })
            .collect::<Vec<_>>()
            .join("&");
        Signed {
            query: Pii::new(query),
            headers: Vec::new(),
        }
    }

    /// The business parameters in the query; the operation, the date, the nonce and
    /// the token in signed headers; the signature in `Authorization`.
    fn sign_v3(&self, r: &Request<'_>) -> Signed {
        let credentials = r.credentials;
        let query = v3::canonical_query(r.business.iter().copied());
        let mut headers: Vec<(&'static str, &str)> = vec![
            ("host", r.host),
            ("x-acs-action", self.action),
            ("x-acs-version", self.version),
            ("x-acs-date", r.timestamp),
            ("x-acs-signature-nonce", r.nonce),
            ("x-acs-content-sha256", v3::EMPTY_BODY_SHA256),
        ];
        if let Some(token) = &credentials.security_token {
            headers.push(("x-acs-security-token", token.expose()));
        }
        let canonical = v3::canonical_headers(headers.iter().copied());
        let request = v3::canonical_request(r.method, &query, &canonical, v3::EMPTY_BODY_SHA256);
        let signature = v3::signature(
            credentials.access_key_secret.expose(),
            &v3::string_to_sign(&request),
        );
        let authorization =
            v3::authorization(&credentials.access_key_id, &canonical.signed, &signature);
        let mut sent: Vec<(&'static str, Secret)> = headers
            .into_iter()
            .map(|(name, value)| (name, Secret::new(value)))
            .collect();
        sent.push(("authorization", Secret::new(authorization)));
        Signed {
            query: Pii::new(query),
            headers: sent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(token: Option<&str>) -> Credentials {
        Credentials::fixed("testid", Secret::new("testsecret"), token.map(Secret::new))
    }

    fn signed(scheme: Scheme, token: Option<&str>) -> Signed {
        let credentials = credentials(token);
        Signer::new(scheme, "Id2MetaVerifyIntl", "2022-08-09").sign(&Request {
            method: "POST",
            host: "127.0.0.1:8099",
            business: &[("UserName", "欧阳 娜娜"), ("ProductCode", "ID_2META")],
            credentials: &credentials,
            nonce: "n-1",
            timestamp: "2026-01-02T03:04:05Z",
        })
    }

    fn header<'a>(s: &'a Signed, name: &str) -> Option<&'a str> {
        s.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.expose())
    }

    #[test]
    fn the_scheme_is_read_from_its_name_and_v3_is_the_default() {
        assert_eq!("v2".parse(), Ok(Scheme::V2));
        assert_eq!(" V3 ".parse(), Ok(Scheme::V3));
        assert_eq!(Scheme::default(), Scheme::V3);
        let err = "v4".parse::<Scheme>().unwrap_err().to_string();
        assert!(err.contains("'v4'"), "{err}");
    }

    #[test]
    fn v3_sends_the_business_in_a_canonical_query_and_signs_every_header_it_sends() {
        let s = signed(Scheme::V3, Some("tok"));
        assert_eq!(
            s.query.expose(),
            "ProductCode=ID_2META&UserName=%E6%AC%A7%E9%98%B3%20%E5%A8%9C%E5%A8%9C"
        );
        assert_eq!(header(&s, "x-acs-security-token"), Some("tok"));
        assert_eq!(header(&s, "x-acs-action"), Some("Id2MetaVerifyIntl"));
        let auth = header(&s, "authorization").expect("an Authorization header");
        let parsed = v3::parse_authorization(auth).expect("well formed");
        assert_eq!(parsed.credential, "testid");
        let sent: Vec<&str> = s
            .headers
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| *n != "authorization")
            .collect();
        let mut sorted = sent.clone();
        sorted.sort();
        assert_eq!(parsed.signed_headers, sorted);
    }

    #[test]
    fn v2_puts_everything_in_the_query_and_sends_no_header() {
        let s = signed(Scheme::V2, Some("tok"));
        assert!(s.headers.is_empty());
        let q = s.query.expose();
        for part in [
            "SignatureMethod=HMAC-SHA1",
            "SecurityToken=tok",
            "Signature=",
        ] {
            assert!(q.contains(part), "{part} in {q}");
        }
        assert!(q.contains("UserName=%E6%AC%A7%E9%98%B3%20"));
    }

    #[test]
    fn without_a_token_neither_scheme_sends_one() {
        assert_eq!(
            header(&signed(Scheme::V3, None), "x-acs-security-token"),
            None
        );
        assert!(!signed(Scheme::V2, None)
            .query
            .expose()
            .contains("SecurityToken"));
    }
}
