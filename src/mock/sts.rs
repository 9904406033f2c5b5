//! A stand-in for STS `AssumeRoleWithOIDC`, served at `/` beside the API (the
//! `Action` tells them apart), by GET with a query or POST with a form.
//!
//! Like STS, it needs no signature: the OIDC token is the proof. The mock does not
//! verify the token (it has no identity provider); it only requires the parameters
//! STS requires and counts the distinct tokens it saw, so a test can prove the
//! worker re-read a rotated token file.

use serde_json::json;

use super::issued::IssuedKey;
use super::request::{Answer, Params};

pub const ACTION: &str = "AssumeRoleWithOIDC";
pub const VERSION: &str = "2015-04-01";

/// What one well-formed call asks for.
#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub role_arn: &'a str,
    pub session_name: &'a str,
    pub oidc_token: &'a str,
}

/// Whether a call to `/` is for this stand-in.
pub fn is_sts_call(params: &Params) -> bool {
    params.get("Action").map(String::as_str) == Some(ACTION)
}

/// The parameters STS requires, present and well-formed.
pub fn request(params: &Params) -> Result<Request<'_>, Answer> {
    if params.get("Version").map(String::as_str) != Some(VERSION) {
        return Err(Answer::error(
            400,
            "InvalidVersion",
            "Specified parameter Version is not valid.",
        ));
    }
    let get = |name: &'static str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                Answer::error(
                    400,
                    &format!("MissingParameter.{name}"),
                    &format!("The parameter {name} is required."),
                )
            })
    };
    let request = Request {
        role_arn: get("RoleArn")?,
        session_name: get("RoleSessionName")?,
        oidc_token: get("OIDCToken")?,
    };
    get("OIDCProviderArn")?;
    Ok(request)
}

/// The answer carrying `key`, shaped as STS's.
pub fn answer(key: &IssuedKey, request: &Request<'_>) -> Answer {
    let mut answer = Answer::verdict("1");
    answer.body = json!({
        "RequestId": answer.request_id(),
        "AssumedRoleUser": {
            "Arn": format!("{}/{}", request.role_arn, request.session_name),
            "AssumedRoleId": format!("300000000000000000001:{}", request.session_name),
        },
        "Credentials": {
            "AccessKeyId": key.access_key_id,
            "AccessKeySecret": key.access_key_secret.expose(),
            "SecurityToken": key.security_token.expose(),
            "Expiration": key.expiration(),
        },
    });
    answer
}

#[cfg(test)]
mod tests {
    use super::super::request::parameters;
    use super::*;

    #[test]
    fn a_complete_call_is_read_and_a_missing_parameter_named() {
        // As the worker sends it: a form body (here read the same way as a query).
        let mut p = parameters(
            None,
            Some(
                b"Action=AssumeRoleWithOIDC&Version=2015-04-01&RoleArn=acs%3Aram%3A%3A1%3Arole%2Fr\
                  &OIDCProviderArn=acs%3Aram%3A%3A1%3Aoidc-provider%2Fp&OIDCToken=eyJ\
                  &RoleSessionName=id2meta-pod",
            ),
        );
        assert!(is_sts_call(&p));
        assert_eq!(
            request(&p).map(|r| r.role_arn).ok(),
            Some("acs:ram::1:role/r")
        );
        assert_eq!(request(&p).map(|r| r.oidc_token).ok(), Some("eyJ"));
        p.remove("OIDCToken");
        assert_eq!(
            request(&p).err().map(|a| a.code),
            Some("MissingParameter.OIDCToken".into())
        );
        p.insert("Version".into(), "2022-08-09".into());
        assert_eq!(
            request(&p).err().map(|a| a.code),
            Some("InvalidVersion".into())
        );
    }
}
