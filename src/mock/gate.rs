//! The mock's checks of a call before any business logic, in the gateway's order:
//! the access key, the signature, the timestamp (then, under the state lock, the
//! nonce), the operation, and finally the business parameters.
//!
//! The point of a strict mock is to fail a wrong client here, with the code the
//! real gateway would give, instead of in production.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::request::{Answer, Params};
use crate::upstream::{signing, ACTION, API_VERSION, PARAM_TYPE, PRODUCT_CODE};

/// How far a timestamp may be from the mock's clock, either way.
pub const TIMESTAMP_WINDOW: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

/// The business input of a well-formed call.
#[derive(Debug, PartialEq, Eq)]
pub struct Business<'a> {
    pub id_number: &'a str,
    pub name: &'a str,
}

/// Access key, signature and timestamp. On success, the nonce to admit next.
pub fn authenticate<'a>(
    method: &str,
    params: &'a Params,
    access_key_id: &str,
    access_key_secret: &str,
    now: DateTime<Utc>,
) -> Result<&'a str, Answer> {
    let key = required(params, "AccessKeyId")?;
    if key != access_key_id {
        return Err(Answer::error(
            404,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        ));
    }
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
    if signing::signature(method, pairs, access_key_secret) != given {
        return Err(Answer::error(
            400,
            "SignatureDoesNotMatch",
            "Specified signature is not matched with our calculation.",
        ));
    }
    let timestamp =
        NaiveDateTime::parse_from_str(required(params, "Timestamp")?, "%Y-%m-%dT%H:%M:%SZ")
            .map_err(|_| {
                Answer::error(
                    400,
                    "InvalidTimeStamp.Format",
                    "Specified time stamp or date value is not well formatted.",
                )
            })?
            .and_utc();
    if (now - timestamp).abs() > TIMESTAMP_WINDOW {
        return Err(Answer::error(
            400,
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.",
        ));
    }
    required(params, "SignatureNonce")
}

/// The answer to a nonce already used within the window.
pub fn nonce_used() -> Answer {
    Answer::error(
        400,
        "SignatureNonceUsed",
        "Specified signature nonce was used already.",
    )
}

/// `Action` and `Version` name this operation.
pub fn operation(params: &Params) -> Result<(), Answer> {
    if params.get("Action").map(String::as_str) != Some(ACTION) {
        return Err(Answer::error(
            404,
            "InvalidAction.NotFound",
            "Specified api is not found, please check your url and method.",
        ));
    }
    if params.get("Version").map(String::as_str) != Some(API_VERSION) {
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

    const NOW: &str = "2026-01-02T03:04:05Z";

    fn now() -> DateTime<Utc> {
        NaiveDateTime::parse_from_str(NOW, "%Y-%m-%dT%H:%M:%SZ")
            .expect("a time")
            .and_utc()
    }

    fn signed(method: &str, extra: &[(&str, &str)], secret: &str) -> Params {
        let mut params: Params = [
            ("AccessKeyId", "testid"),
            ("Action", ACTION),
            ("Version", API_VERSION),
            ("Format", "JSON"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", "n-1"),
            ("Timestamp", NOW),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let sig = signing::signature(
            method,
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            secret,
        );
        params.insert("Signature".into(), sig);
        params
    }

    fn code_of(result: Result<&str, Answer>) -> String {
        result.err().map(|a| a.code).unwrap_or_default()
    }

    #[test]
    fn a_well_signed_call_passes_and_yields_its_nonce() {
        let p = signed("POST", &[], "testsecret");
        assert_eq!(
            authenticate("POST", &p, "testid", "testsecret", now()).ok(),
            Some("n-1")
        );
        assert!(operation(&p).is_ok());
    }

    #[test]
    fn the_key_is_checked_before_the_signature() {
        let p = signed("POST", &[], "wrong");
        assert_eq!(
            code_of(authenticate("POST", &p, "other", "testsecret", now())),
            "InvalidAccessKeyId.NotFound"
        );
        assert_eq!(
            code_of(authenticate("POST", &p, "testid", "testsecret", now())),
            "SignatureDoesNotMatch"
        );
        let p = signed("POST", &[], "testsecret");
        assert_eq!(
            code_of(authenticate("GET", &p, "testid", "testsecret", now())),
            "SignatureDoesNotMatch"
        );
    }

    #[test]
    fn a_timestamp_outside_fifteen_minutes_is_expired() {
        let p = signed("GET", &[], "testsecret");
        let late = now() + chrono::TimeDelta::minutes(16);
        assert_eq!(
            code_of(authenticate("GET", &p, "testid", "testsecret", late)),
            "InvalidTimeStamp.Expired"
        );
        let early = now() - chrono::TimeDelta::minutes(14);
        assert!(authenticate("GET", &p, "testid", "testsecret", early).is_ok());
    }

    #[test]
    fn business_parameters_are_checked_for_presence_then_validity() {
        let mut p = signed(
            "POST",
            &[("ProductCode", "ID_2META"), ("ParamType", "normal")],
            "s",
        );
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
        let mut p = signed("POST", &[], "s");
        p.insert("Version".into(), "2019-03-07".into());
        assert_eq!(
            operation(&p).err().map(|a| a.code),
            Some("InvalidVersion".into())
        );
        p.insert("Action".into(), "DescribeRegions".into());
        assert_eq!(
            operation(&p).err().map(|a| a.code),
            Some("InvalidAction.NotFound".into())
        );
    }
}
