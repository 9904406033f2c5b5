//! The mock's checks of a call before any business logic, in the gateway's order:
//! the signature scheme, then its key, signature and timestamp ([`signature_v2`],
//! [`signature_v3`]), then (under the state lock) the nonce, the operation, and
//! finally the business parameters.
//!
//! The point of a strict mock is to fail a wrong client here, with the code the
//! real gateway would give, instead of in production.
//!
//! [`signature_v2`]: super::signature_v2
//! [`signature_v3`]: super::signature_v3

use chrono::{DateTime, Utc};

use super::keys::Keys;
use super::request::{Admitted, Answer, Call, Params};
use super::{signature_v2, signature_v3};
use crate::upstream::signing::Scheme;
use crate::upstream::{ACTION, API_VERSION, PARAM_TYPE, PRODUCT_CODE};

/// The business input of a well-formed call.
#[derive(Debug, PartialEq, Eq)]
pub struct Business<'a> {
    pub id_number: &'a str,
    pub name: &'a str,
}

/// The scheme a call claims: V3 carries an `Authorization` header, anything else is
/// read as V2 (an unsigned call fails there, on its missing parameters).
pub fn scheme_of(call: &Call) -> Scheme {
    if call.header("authorization").is_some() {
        Scheme::V3
    } else {
        Scheme::V2
    }
}

/// Scheme, access key, signature and timestamp. On success, the nonce to admit
/// next and the operation named. A scheme not in `accepted` is answered the way
/// Alibaba answers a signature it does not support.
pub fn authenticate<'a>(
    call: &'a Call,
    keys: &Keys,
    accepted: &[Scheme],
    now: DateTime<Utc>,
) -> Result<Admitted<'a>, Answer> {
    let scheme = scheme_of(call);
    if !accepted.contains(&scheme) {
        return Err(Answer::error(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards.",
        ));
    }
    match scheme {
        Scheme::V2 => signature_v2::verify(&call.method, &call.params, keys, now),
        Scheme::V3 => signature_v3::verify(call, keys, now),
    }
}

/// The answer to a nonce already used within the window.
pub fn nonce_used() -> Answer {
    Answer::error(
        400,
        "SignatureNonceUsed",
        "Specified signature nonce was used already.",
    )
}

/// The call's `Action` and `Version` (V2) or `x-acs-action` and `x-acs-version` (V3)
/// name this operation.
pub fn operation(admitted: &Admitted<'_>) -> Result<(), Answer> {
    if admitted.action != ACTION {
        return Err(Answer::error(
            404,
            "InvalidAction.NotFound",
            "Specified api is not found, please check your url and method.",
        ));
    }
    if admitted.version != API_VERSION {
        return Err(Answer::error(
            400,
            "InvalidVersion",
            "Specified parameter Version is not valid.",
        ));
    }
    Ok(())
}

/// `ProductCode`, `ParamType`, `IdentifyNum`, `UserName`: present, then valid.
pub fn business(params: &Params) -> Result<Business<'_>, Answer> {
    let values = ["ProductCode", "ParamType", "IdentifyNum", "UserName"].map(|name| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
            .ok_or(name)
    });
    if let Some(Err(name)) = values.iter().find(|v| v.is_err()) {
        return Err(Answer::error(
            400,
            "MissingParameter",
            &format!("The input parameter \"{name}\" that is mandatory for processing this request is not supplied."),
        ));
    }
    let [product, param_type, id_number, name] = values.map(|v| v.unwrap_or_default());
    let invalid = if product != PRODUCT_CODE {
        Some("ProductCode")
    } else if param_type != PARAM_TYPE {
        Some("ParamType")
    } else if !well_formed_id_number(id_number) {
        Some("IdentifyNum")
    } else {
        None
    };
    match invalid {
        Some(field) => Err(Answer::error(
            401,
            "InvalidParameter",
            &format!("Specified parameter {field} is not valid."),
        )),
        None => Ok(Business { id_number, name }),
    }
}

/// 17 digits then a digit or `X`: the shape the data source accepts. The check
/// character is deliberately not verified here; the worker must do that itself.
pub fn well_formed_id_number(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() == 18
        && bytes[..17].iter().all(u8::is_ascii_digit)
        && (bytes[17].is_ascii_digit() || bytes[17] == b'X')
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::credentials::Credentials;
    use crate::secret::Secret;
    use crate::upstream::signing::{Request, Signer};

    const NOW: &str = "2026-01-02T03:04:05Z";
    const BOTH: [Scheme; 2] = [Scheme::V2, Scheme::V3];

    fn now() -> DateTime<Utc> {
        chrono::NaiveDateTime::parse_from_str(NOW, "%Y-%m-%dT%H:%M:%SZ")
            .expect("a time")
            .and_utc()
    }

    fn keys() -> Keys {
        Keys::new("testid".into(), Secret::new("testsecret"))
    }

    /// The call the worker's signer makes for `name`, as the mock receives it
    /// (spaces sent as `+`, as the official SDK sends them).
    fn call(scheme: Scheme, name: &str, token: Option<&str>) -> Call {
        let credentials =
            Credentials::fixed("testid", Secret::new("testsecret"), token.map(Secret::new));
        let signed = Signer::new(scheme, ACTION, API_VERSION).sign(&Request {
            method: "POST",
            host: "127.0.0.1:8099",
            business: &[
                ("ProductCode", PRODUCT_CODE),
                ("ParamType", PARAM_TYPE),
                ("IdentifyNum", "11010519491231002X"),
                ("UserName", name),
            ],
            credentials: &credentials,
            nonce: "n-1",
            timestamp: NOW,
        });
        let mut headers: BTreeMap<String, String> = signed
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.expose().to_string()))
            .collect();
        headers.insert("host".into(), "127.0.0.1:8099".into());
        let query = signed.query.expose().replace("%20", "+");
        Call::new("POST", Some(&query), headers, Vec::new())
    }

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_call_of_either_scheme_passes_and_names_its_operation() {
        for scheme in BOTH {
            let c = call(scheme, "张三", Some("sts-token"));
            let admitted = authenticate(&c, &keys(), &BOTH, now()).expect("admitted");
            assert_eq!((admitted.scheme, admitted.nonce), (scheme, "n-1"));
            assert!(operation(&admitted).is_ok());
            assert_eq!(business(&c.params).map(|b| b.name).ok(), Some("张三"));
        }
    }

    #[test]
    fn a_scheme_not_accepted_is_an_incomplete_signature() {
        let c = call(Scheme::V2, "张三", None);
        let refused = authenticate(&c, &keys(), &[Scheme::V3], now()).unwrap_err();
        assert_eq!(
            (refused.status, refused.code.as_str()),
            (400, "IncompleteSignature")
        );
        let c = call(Scheme::V3, "张三", None);
        assert!(authenticate(&c, &keys(), &[Scheme::V3], now()).is_ok());
        let refused = authenticate(&c, &keys(), &[Scheme::V2], now()).unwrap_err();
        assert_eq!(refused.code, "IncompleteSignature");
    }

    proptest! {
        #[test]
        fn what_the_signer_signs_the_mock_verifies_for_any_name(
            name in "\\PC{1,40}",
            token in proptest::option::of("[A-Za-z0-9+/=]{1,40}"),
        ) {
            for scheme in BOTH {
                let c = call(scheme, &name, token.as_deref());
                let admitted = authenticate(&c, &keys(), &BOTH, now());
                prop_assert!(admitted.is_ok(), "{scheme}: {:?}", admitted.err());
                prop_assert_eq!(c.params.get("UserName"), Some(&name));
            }
        }
    }

    #[test]
    fn business_parameters_are_checked_for_presence_then_validity() {
        let mut p = params(&[("ProductCode", "ID_2META"), ("ParamType", "normal")]);
        assert_eq!(
            business(&p).err().map(|a| (a.status, a.code)),
            Some((400, "MissingParameter".into()))
        );
        p.insert("UserName".into(), "张三".into());
        p.insert("IdentifyNum".into(), "11010519491231002x".into());
        assert_eq!(
            business(&p).err().map(|a| (a.status, a.code)),
            Some((401, "InvalidParameter".into()))
        );
        p.insert("IdentifyNum".into(), "11010519491231002X".into());
        assert_eq!(
            business(&p).ok(),
            Some(Business {
                id_number: "11010519491231002X",
                name: "张三"
            })
        );
        p.insert("ParamType".into(), "md5".into());
        assert_eq!(
            business(&p).err().map(|a| a.code),
            Some("InvalidParameter".into())
        );
    }

    #[test]
    fn another_action_or_version_is_refused() {
        let mut admitted = Admitted {
            scheme: Scheme::V3,
            nonce: "n",
            action: ACTION,
            version: "2019-03-07",
        };
        assert_eq!(
            operation(&admitted).err().map(|a| a.code),
            Some("InvalidVersion".into())
        );
        admitted.action = "DescribeRegions";
        assert_eq!(
            operation(&admitted).err().map(|a| a.code),
            Some("InvalidAction.NotFound".into())
        );
    }
}
