//! The mock's check of a V2 (HMAC-SHA1) call, in the gateway's order: the access
//! key, the signature, the timestamp; the nonce is admitted afterwards, under the
//! state lock.

use chrono::{DateTime, Utc};

use super::clock;
use super::keys::Keys;
use super::request::{Admitted, Answer, Params};
use crate::upstream::signing::{v2, Scheme};

/// Key, signature and timestamp of a V2 call over its parameters (query and form body).
pub fn verify<'a>(
    method: &str,
    params: &'a Params,
    keys: &Keys,
    now: DateTime<Utc>,
) -> Result<Admitted<'a>, Answer> {
    let key = required(params, "AccessKeyId")?;
    let token = params.get("SecurityToken").map(String::as_str);
    let secret = keys.secret_for(key, token, now)?;
    let given = required(params, "Signature")?;
    if params.get("SignatureMethod").map(String::as_str) != Some("HMAC-SHA1")
        || params.get("SignatureVersion").map(String::as_str) != Some("1.0")
    {
        return Err(Answer::error(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards (HMAC-SHA1, 1.0).",
        ));
    }
    let pairs = params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    if v2::signature(method, pairs, secret.expose()) != given {
        return Err(Answer::error(
            400,
            "SignatureDoesNotMatch",
            "Specified signature is not matched with our calculation.",
        ));
    }
    clock::check(required(params, "Timestamp")?, now)?;
    Ok(Admitted {
        scheme: Scheme::V2,
        nonce: required(params, "SignatureNonce")?,
        action: params.get("Action").map(String::as_str).unwrap_or(""),
        version: params.get("Version").map(String::as_str).unwrap_or(""),
    })
}

fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, Answer> {
    match params.get(name).map(String::as_str) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(Answer::error(
            400,
            &format!("Missing{name}"),
            &format!("{name} is mandatory for this action."),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    use crate::mock::clock::fixed::{now, NOW};

    fn keys(id: &str) -> Keys {
        Keys::new(id.into(), Secret::new("testsecret"))
    }

    fn signed(method: &str, secret: &str) -> Params {
        let mut params: Params =
            v2::common_parameters("Id2MetaVerifyIntl", "2022-08-09", "testid", "n-1", NOW)
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let sig = v2::signature(
            method,
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            secret,
        );
        params.insert("Signature".into(), sig);
        params
    }

    fn code_of(result: Result<Admitted<'_>, Answer>) -> String {
        result.err().map(|a| a.code).unwrap_or_default()
    }

    #[test]
    fn a_well_signed_call_passes_with_its_nonce_and_operation() {
        let p = signed("POST", "testsecret");
        let admitted = verify("POST", &p, &keys("testid"), now()).expect("admitted");
        assert_eq!(
            (admitted.nonce, admitted.action, admitted.version),
            ("n-1", "Id2MetaVerifyIntl", "2022-08-09")
        );
    }

    #[test]
    fn the_key_is_checked_before_the_signature() {
        let p = signed("POST", "wrong");
        assert_eq!(
            code_of(verify("POST", &p, &keys("other"), now())),
            "InvalidAccessKeyId.NotFound"
        );
        assert_eq!(
            code_of(verify("POST", &p, &keys("testid"), now())),
            "SignatureDoesNotMatch"
        );
        let p = signed("POST", "testsecret");
        assert_eq!(
            code_of(verify("GET", &p, &keys("testid"), now())),
            "SignatureDoesNotMatch"
        );
    }

    #[test]
    fn a_timestamp_outside_fifteen_minutes_is_expired() {
        let p = signed("GET", "testsecret");
        let late = now() + chrono::TimeDelta::minutes(16);
        assert_eq!(
            code_of(verify("GET", &p, &keys("testid"), late)),
            "InvalidTimeStamp.Expired"
        );
    }

    #[test]
    fn another_signature_method_is_an_incomplete_signature() {
        let mut p = signed("GET", "testsecret");
        p.insert("SignatureMethod".into(), "HMAC-SHA256".into());
        assert_eq!(
            code_of(verify("GET", &p, &keys("testid"), now())),
            "IncompleteSignature"
        );
    }
}
