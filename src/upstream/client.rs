//! The signed HTTP client for `Id2MetaVerifyIntl`.
//!
//! It sends what the official SDK sends (a POST to `/` with every parameter in the
//! query string and an empty body, signed with HMAC-SHA1) and turns every way a
//! call can end, including the ones that never produce a body, into an
//! [`Outcome`]. It makes exactly one attempt per call: retrying, pacing and
//! billing decisions belong to the pipeline.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;

use super::signing::{percent_encode_rpc, signature};
use super::{response, FailureClass, Outcome, ACTION, API_VERSION, PARAM_TYPE, PRODUCT_CODE};
use crate::credentials::{Credentials, CredentialsHandle};
use crate::identity::Identity;

/// The method the request is sent and signed with.
const METHOD: &str = "POST";

/// Where and as whom to call.
#[derive(Clone)]
pub struct UpstreamConfig {
    /// Base URL, e.g. `https://cloudauth-intl.cn-hongkong.aliyuncs.com` or `http://127.0.0.1:8099`.
    pub endpoint: String,
    /// The credentials in force at each request (a fixed pair, or kept fresh by
    /// [`crate::credentials`]).
    pub credentials: CredentialsHandle,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

/// One pooled, keep-alive HTTP client; cheap to clone.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    config: Arc<UpstreamConfig>,
}

impl Client {
    pub fn new(config: UpstreamConfig) -> anyhow::Result<Self> {
        let url = reqwest::Url::parse(&config.endpoint)
            .with_context(|| format!("ID2META_ENDPOINT {:?} is not a URL", config.endpoint))?;
        anyhow::ensure!(
            matches!(url.scheme(), "http" | "https") && url.host().is_some(),
            "ID2META_ENDPOINT {:?} must be an http(s) URL with a host",
            config.endpoint
        );
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .pool_idle_timeout(Duration::from_secs(50))
            .tcp_keepalive(Duration::from_secs(30))
            .tcp_nodelay(true)
            .user_agent(concat!("id2meta/", env!("CARGO_PKG_VERSION")))
            // Never follow a redirect: the signed query (the name and ID number in it)
            // would go to wherever it points. A 3xx is read as a wrong endpoint.
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .build()
            .context("cannot build the upstream HTTP client")?;
        Ok(Self {
            http,
            config: Arc::new(config),
        })
    }

    /// One attempt to verify one identity (fresh nonce and timestamp each call).
    pub async fn verify(&self, identity: &Identity) -> Outcome {
        self.call(&[
            ("ProductCode", PRODUCT_CODE),
            ("ParamType", PARAM_TYPE),
            ("IdentifyNum", identity.id_number.expose()),
            ("UserName", identity.name.expose()),
        ])
        .await
    }

    /// A call with the business parameters left out: not billed (it never reaches
    /// the data source). `MissingParameter` means the account is accepted again;
    /// an account-level failure means it is still refused.
    pub async fn probe(&self) -> Outcome {
        self.call(&[("ProductCode", PRODUCT_CODE), ("ParamType", PARAM_TYPE)])
            .await
    }

    /// The credentials handle, for a forced refresh after `InvalidSecurityToken.*`.
    pub fn credentials(&self) -> &CredentialsHandle {
        &self.config.credentials
    }

    async fn call(&self, business: &[(&str, &str)]) -> Outcome {
        let Some(credentials) = self.config.credentials.current() else {
            return Outcome::failure(
                super::outcome::local::NO_CREDENTIALS,
                "no valid credentials are held",
                None,
                None,
            );
        };
        let url = format!(
            "{}/?{}",
            self.config.endpoint.trim_end_matches('/'),
            self.signed_query(business, &credentials)
        );
        let outcome = match self.http.post(url).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(body) => response::interpret(status, &body),
                    Err(error) => transport_failure(&error),
                }
            }
            Err(error) => transport_failure(&error),
        };
        if let Outcome::Failure(failure) = &outcome {
            tracing::debug!(
                code = %failure.code,
                request_id = failure.request_id.as_deref().unwrap_or(""),
                "upstream call failed"
            );
        }
        outcome
    }

    /// Every parameter, signed, encoded the RPC way (spaces as `%20`).
    fn signed_query(&self, business: &[(&str, &str)], credentials: &Credentials) -> String {
        let nonce = uuid::Uuid::new_v4().to_string();
        let timestamp = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let mut params: Vec<(&str, &str)> = vec![
            ("Action", ACTION),
            ("Version", API_VERSION),
            ("Format", "JSON"),
            ("AccessKeyId", &credentials.access_key_id),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", &nonce),
            ("Timestamp", &timestamp),
        ];
        if let Some(token) = &credentials.security_token {
            params.push(("SecurityToken", token.expose()));
        }
        params.extend_from_slice(business);
        let signature = signature(
            METHOD,
            params.iter().copied(),
            credentials.access_key_secret.expose(),
        );
        params.push(("Signature", &signature));
        params
            .iter()
            .map(|(name, value)| {
                format!("{}={}", percent_encode_rpc(name), percent_encode_rpc(value))
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// A call that produced no readable answer: always worth another attempt.
fn transport_failure(error: &reqwest::Error) -> Outcome {
    let transient = FailureClass::Transient { throttled: false };
    // reqwest's messages name the URL, which carries the identity: keep them out.
    if error.is_timeout() {
        Outcome::local_failure(transient, "Timeout", "the upstream did not answer in time")
    } else if error.is_connect() {
        Outcome::local_failure(
            transient,
            "ConnectionError",
            "cannot connect to the upstream",
        )
    } else if error.is_body() || error.is_decode() {
        Outcome::local_failure(
            transient,
            "UnreadableBody",
            "the answer's body could not be read",
        )
    } else {
        Outcome::local_failure(
            transient,
            "ConnectionError",
            "the connection failed during the call",
        )
    }
}
