//! OIDC / RRSA: STS `AssumeRoleWithOIDC` with the pod's service-account token.
//!
//! The call is anonymous (no signature: the OIDC token is the proof), sent as a
//! POST form so the token never lands in an access log's query string. The token
//! file is re-read at every refresh because the kubelet rotates it in place; a
//! token cached from start would stop working after its own lifetime.

use std::time::Duration;

use serde::Deserialize;

use super::super::settings::OidcSettings;
use super::super::Credentials;
use super::{expiration, transport, FetchError};
use crate::secret::Secret;

pub const NAME: &str = "oidc";

pub const VARIABLES: &str =
    "ALIBABA_CLOUD_ROLE_ARN + ALIBABA_CLOUD_OIDC_PROVIDER_ARN + ALIBABA_CLOUD_OIDC_TOKEN_FILE";

/// The lifetime asked for: STS's default maximum for a role session.
pub const DURATION_SECONDS: u32 = 3600;

/// An `AssumeRoleWithOIDC` caller.
pub struct Oidc {
    settings: OidcSettings,
    sts_endpoint: String,
    http: reqwest::Client,
}

impl Oidc {
    pub fn new(settings: OidcSettings, sts_endpoint: String) -> anyhow::Result<Self> {
        Ok(Self {
            settings,
            sts_endpoint,
            http: super::http_client(Duration::from_secs(5), Duration::from_secs(10))?,
        })
    }

    pub async fn fetch(&self) -> Result<Credentials, FetchError> {
        let token = std::fs::read_to_string(&self.settings.token_file).map_err(|e| {
            FetchError::Refused(format!(
                "cannot read ALIBABA_CLOUD_OIDC_TOKEN_FILE {}: {}",
                self.settings.token_file.display(),
                e.kind()
            ))
        })?;
        let token = Secret::new(token.trim());
        let form = request_form(&self.settings, &token);
        let response = self
            .http
            .post(format!("{}/", self.sts_endpoint))
            .form(&form)
            .send()
            .await
            .map_err(|e| transport("STS", &e))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| transport("STS", &e))?;
        parse_answer(status, &body)
    }
}

/// The form parameters of one call (`OIDCToken` is the file's current content).
pub fn request_form<'a>(
    settings: &'a OidcSettings,
    token: &'a Secret,
) -> Vec<(&'static str, std::borrow::Cow<'a, str>)> {
    vec![
        ("Action", "AssumeRoleWithOIDC".into()),
        ("Format", "JSON".into()),
        ("Version", "2015-04-01".into()),
        ("RoleArn", settings.role_arn.as_str().into()),
        ("OIDCProviderArn", settings.provider_arn.as_str().into()),
        ("OIDCToken", token.expose().into()),
        ("RoleSessionName", settings.session_name.as_str().into()),
        ("DurationSeconds", DURATION_SECONDS.to_string().into()),
    ]
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    credentials: Option<StsCredentials>,
    code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsCredentials {
    access_key_id: String,
    access_key_secret: String,
    security_token: String,
    expiration: String,
}

/// STS's answer: `Credentials.{...}` on 200, `Code` and `Message` otherwise.
pub fn parse_answer(status: u16, body: &[u8]) -> Result<Credentials, FetchError> {
    let answer: Answer = serde_json::from_slice(body).map_err(|_| {
        FetchError::Refused(format!(
            "STS answered HTTP {status} with a body that is not STS's JSON"
        ))
    })?;
    match (status, answer.credentials) {
        (200, Some(c)) => Ok(Credentials {
            access_key_id: c.access_key_id,
            access_key_secret: Secret::new(c.access_key_secret),
            security_token: Some(Secret::new(c.security_token)),
            expires_at: Some(expiration("STS", &c.expiration)?),
        }),
        _ => Err(FetchError::Refused(format!(
            "STS refused AssumeRoleWithOIDC: HTTP {status}, Code {}",
            answer.code.as_deref().unwrap_or("(none)")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_carries_the_contracts_parameters() {
        let settings = OidcSettings {
            role_arn: "acs:ram::1:role/r".into(),
            provider_arn: "acs:ram::1:oidc-provider/p".into(),
            token_file: "/t".into(),
            session_name: "id2meta-pod".into(),
        };
        let token = Secret::new("eyJ");
        let form = request_form(&settings, &token);
        let get = |name: &str| {
            form.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_ref())
        };
        assert_eq!(get("Action"), Some("AssumeRoleWithOIDC"));
        assert_eq!(get("Version"), Some("2015-04-01"));
        assert_eq!(get("OIDCToken"), Some("eyJ"));
        assert_eq!(get("RoleSessionName"), Some("id2meta-pod"));
        assert_eq!(get("DurationSeconds"), Some("3600"));
        assert_eq!(get("Format"), Some("JSON"));
    }

    #[test]
    fn a_success_is_read_and_a_refusal_names_its_code() {
        let ok = br#"{"RequestId":"r","Credentials":{"AccessKeyId":"STS.k","AccessKeySecret":"s",
            "SecurityToken":"t","Expiration":"2026-12-01T22:00:00Z"}}"#;
        let c = parse_answer(200, ok).expect("credentials");
        assert_eq!(c.access_key_id, "STS.k");
        assert!(c.expires_at.is_some());
        let refused =
            br#"{"RequestId":"r","Code":"AuthenticationFail.OIDCToken.Expired","Message":"m"}"#;
        let err = parse_answer(400, refused).unwrap_err().to_string();
        assert!(
            err.contains("AuthenticationFail.OIDCToken.Expired"),
            "{err}"
        );
        assert!(parse_answer(502, b"<html>").is_err());
    }
}
