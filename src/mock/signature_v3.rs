//! The mock's check of a V3 (ACS3-HMAC-SHA256) call, in the gateway's order: the
//! `Authorization` header and the headers it must cover, the access key, the body
//! hash, the signature, the date; the nonce is admitted afterwards, under the lock.
//!
//! It verifies over the headers `SignedHeaders` names, not a fixed list, because the
//! official SDK also signs `accept`, `user-agent` and whatever else it sends; and it
//! rebuilds the canonical query from the decoded query, so a `+` the SDK sends for a
//! space counts as the `%20` it signed.

use chrono::{DateTime, Utc};

use super::clock;
use super::keys::Keys;
use super::request::{Admitted, Answer, Call};
use crate::upstream::signing::{v3, Scheme};

/// The headers a V3 call must carry, all of them signed.
const REQUIRED: [&str; 6] = [
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
];

pub fn verify<'a>(call: &'a Call, keys: &Keys, now: DateTime<Utc>) -> Result<Admitted<'a>, Answer> {
    let auth = call
        .header("authorization")
        .and_then(v3::parse_authorization)
        .ok_or_else(|| {
            incomplete("Authorization must be ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..")
        })?;
    let signed_names: Vec<String> = auth
        .signed_headers
        .iter()
        .map(|name| name.to_ascii_lowercase())
        .collect();
    if let Some(name) = REQUIRED
        .iter()
        .find(|name| call.header(name).is_none_or(str::is_empty))
    {
        return Err(incomplete(&format!("The header {name} is mandatory.")));
    }
    let must_sign = call
        .headers
        .keys()
        .filter(|name| *name == "host" || name.starts_with("x-acs-"));
    if let Some(name) = must_sign
        .into_iter()
        .find(|name| !signed_names.contains(name))
    {
        return Err(incomplete(&format!(
            "The header {name} is sent but not signed."
        )));
    }
    let mut signed = Vec::with_capacity(signed_names.len());
    for name in &signed_names {
        let value = call
            .header(name)
            .ok_or_else(|| incomplete(&format!("The signed header {name} is not sent.")))?;
        signed.push((name.as_str(), value));
    }
    let secret = keys.secret_for(auth.credential, call.header("x-acs-security-token"), now)?;
    let claimed = call.header("x-acs-content-sha256").unwrap_or_default();
    if claimed != v3::sha256_hex(&call.body) {
        return Err(mismatch(
            "x-acs-content-sha256 is not the SHA-256 of the body.",
        ));
    }
    let query = v3::canonical_query(call.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let request = v3::canonical_request(
        &call.method,
        &query,
        &v3::canonical_headers(signed),
        claimed,
    );
    if v3::signature(secret.expose(), &v3::string_to_sign(&request)) != auth.signature {
        return Err(mismatch(
            "Specified signature is not matched with our calculation.",
        ));
    }
    clock::check(call.header("x-acs-date").unwrap_or_default(), now)?;
    Ok(Admitted {
        scheme: Scheme::V3,
        nonce: call.header("x-acs-signature-nonce").unwrap_or_default(),
        action: call.header("x-acs-action").unwrap_or_default(),
        version: call.header("x-acs-version").unwrap_or_default(),
    })
}

fn incomplete(message: &str) -> Answer {
    Answer::error(400, "IncompleteSignature", message)
}

fn mismatch(message: &str) -> Answer {
    Answer::error(400, "SignatureDoesNotMatch", message)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::credentials::Credentials;
    use crate::mock::clock::fixed::{now, NOW};
    use crate::secret::Secret;
    use crate::upstream::signing::{Request, Signer};

    fn keys() -> Keys {
        Keys::new("testid".into(), Secret::new("testsecret"))
    }

    /// A call as the worker's signer builds it, with `extra` unsigned headers added.
    fn call(name: &str) -> Call {
        let credentials = Credentials::fixed("testid", Secret::new("testsecret"), None);
        let signed = Signer::new(Scheme::V3, "Id2MetaVerifyIntl", "2022-08-09").sign(&Request {
            method: "POST",
            host: "127.0.0.1:8099",
            business: &[("UserName", name), ("ProductCode", "ID_2META")],
            credentials: &credentials,
            nonce: "n-1",
            timestamp: NOW,
        });
        let headers: BTreeMap<String, String> = signed
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.expose().to_string()))
            .collect();
        Call::new("POST", Some(signed.query.expose()), headers, Vec::new())
    }

    fn code(call: &Call) -> String {
        verify(call, &keys(), now())
            .err()
            .map(|a| a.code)
            .unwrap_or_default()
    }

    #[test]
    fn the_workers_call_passes_with_its_nonce_and_operation() {
        let c = call("欧阳 娜娜");
        let admitted = verify(&c, &keys(), now()).expect("admitted");
        assert_eq!(
            (admitted.nonce, admitted.action, admitted.version),
            ("n-1", "Id2MetaVerifyIntl", "2022-08-09")
        );
    }

    #[test]
    fn a_plus_in_the_query_counts_as_the_space_that_was_signed() {
        let c = call("欧阳 娜娜");
        let raw = v3::canonical_query(c.query.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .replace("%20", "+");
        let plus = Call::new("POST", Some(&raw), c.headers.clone(), Vec::new());
        assert_eq!(code(&plus), "");
    }

    #[test]
    fn a_tampered_query_or_method_does_not_match() {
        let mut c = call("张三");
        c.query.insert("UserName".into(), "李四".into());
        assert_eq!(code(&c), "SignatureDoesNotMatch");
        let mut c = call("张三");
        c.method = "GET".into();
        assert_eq!(code(&c), "SignatureDoesNotMatch");
    }

    #[test]
    fn a_body_other_than_the_hashed_one_does_not_match() {
        let mut c = call("张三");
        c.body = b"x=1".to_vec();
        assert_eq!(code(&c), "SignatureDoesNotMatch");
    }

    #[test]
    fn an_unsigned_acs_header_or_a_missing_one_is_incomplete() {
        let mut c = call("张三");
        c.headers.insert("x-acs-extra".into(), "1".into());
        assert_eq!(code(&c), "IncompleteSignature");
        let mut c = call("张三");
        c.headers.remove("x-acs-date");
        assert_eq!(code(&c), "IncompleteSignature");
        let mut c = call("张三");
        c.headers.insert(
            "authorization".into(),
            "ACS3-HMAC-SHA256 Credential=testid".into(),
        );
        assert_eq!(code(&c), "IncompleteSignature");
    }

    #[test]
    fn an_unsigned_ordinary_header_is_ignored() {
        let mut c = call("张三");
        c.headers
            .insert("user-agent".into(), "AlibabaCloud (Python)".into());
        assert_eq!(code(&c), "");
    }

    #[test]
    fn an_unknown_key_and_an_old_date_are_refused_with_the_gateways_codes() {
        let other = Keys::new("other".into(), Secret::new("testsecret"));
        let c = call("张三");
        let refused = verify(&c, &other, now()).err().map(|a| a.code);
        assert_eq!(refused.as_deref(), Some("InvalidAccessKeyId.NotFound"));
        let late = now() + chrono::TimeDelta::minutes(20);
        let refused = verify(&c, &keys(), late).err().map(|a| a.code);
        assert_eq!(refused.as_deref(), Some("InvalidTimeStamp.Expired"));
    }
}
