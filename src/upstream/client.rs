//! The signed HTTP client for `Id2MetaVerifyIntl`.
//!
//! It sends what the official SDK sends (a POST to `/` with the parameters in the
//! query string, an empty body, and the headers its [`Signer`] returns, under
//! whichever scheme it holds) and turns every way a call can end, including the
//! ones that never produce a body, into an [`Outcome`]. It makes exactly one attempt per call: retrying, pacing and
//! billing decisions belong to the pipeline.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;

use super::signing::{Request, Scheme, Signed, Signer};
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
    /// `ID2META_SIGNATURE`: V3 unless V2 is asked for.
    pub signature: Scheme,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

/// One pooled, keep-alive HTTP client; cheap to clone.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    signer: Signer,
    /// The `host` header as reqwest sends it (no default port), which V3 signs.
    host: String,
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
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            (None, _) => anyhow::bail!("ID2META_ENDPOINT {:?} has no host", config.endpoint),
        };
        let http = crate::tls::http_client()
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
            signer: Signer::new(config.signature, ACTION, API_VERSION),
            host,
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
        let signed = self.sign(business, &credentials);
        let url = format!(
            "{}/?{}",
            self.config.endpoint.trim_end_matches('/'),
            signed.query.expose()
        );
        let mut request = self.http.post(url);
        for (name, value) in &signed.headers {
            request = request.header(*name, value.expose());
        }
        let outcome = match request.send().await {
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

    /// The query and headers of one call, with a fresh nonce and timestamp.
    fn sign(&self, business: &[(&str, &str)], credentials: &Credentials) -> Signed {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let timestamp = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        self.signer.sign(&Request {
            method: METHOD,
            host: &self.host,
            business,
            credentials,
            nonce: &nonce,
            timestamp: &timestamp,
        })
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
