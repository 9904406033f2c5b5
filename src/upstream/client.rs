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
use http_body_util::{BodyExt, Limited};
use hyper::header::{HeaderName, HeaderValue, ACCEPT, HOST, USER_AGENT};

use super::dial::{Body, DialError, Target};
use super::pool::Pool;
use super::signing::{Request, Scheme, Signed, Signer};
use super::{response, FailureClass, Outcome, ACTION, API_VERSION, PARAM_TYPE, PRODUCT_CODE};
use crate::credentials::{Credentials, CredentialsHandle};
use crate::identity::Identity;

/// The method the request is sent and signed with.
const METHOD: &str = "POST";

/// The most of an answer read: Alibaba's are well under a kilobyte; a hostile or
/// broken endpoint cannot make a replica buffer more.
const MOST_BODY: usize = 1 << 20;

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

/// One pool of keep-alive HTTP/1.1 connections and a signer; cheap to clone.
#[derive(Clone)]
pub struct Client {
    pool: Pool,
    signer: Signer,
    /// The `host` header (no default port), which V3 signs.
    host: String,
    /// The endpoint's path, without its trailing `/` (empty for the usual root).
    path: String,
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
        let target = Target::new(&url, config.connect_timeout)
            .with_context(|| format!("ID2META_ENDPOINT {:?}", config.endpoint))?;
        Ok(Self {
            pool: Pool::new(target),
            signer: Signer::new(config.signature, ACTION, API_VERSION),
            host,
            path: url.path().trim_end_matches('/').to_string(),
            config: Arc::new(config),
        })
    }

    /// The endpoint's host (and port, if not the scheme's), as sent in `Host`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// One attempt to verify one identity (fresh nonce and timestamp each call).
    pub async fn verify(&self, identity: &Identity) -> Outcome {
        let business = [
            ("ProductCode", PRODUCT_CODE),
            ("ParamType", PARAM_TYPE),
            ("IdentifyNum", identity.id_number.expose()),
            ("UserName", identity.name.expose()),
        ];
        self.call(&business).await
    }

    /// Keeps enough connections open and idle that a call granted a token finds
    /// one at once, for a replica allowed `calls_per_window()` calls per window
    /// (read again every tick: it follows the replica's share), until `shutdown`.
    /// See [`super::warm`].
    pub async fn keep_warm(
        &self,
        calls_per_window: impl Fn() -> u32,
        window: Duration,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        super::warm::keep(&self.pool, calls_per_window, window, shutdown).await
    }

    /// Waits until the pool holds its warm connections for `calls_per_window`,
    /// for at most `within`: before a replica takes its first job.
    pub async fn warmed(&self, calls_per_window: u32, window: Duration, within: Duration) -> bool {
        super::warm::ready(&self.pool, calls_per_window, window, within).await
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
        let Some(request) = self.request(&signed) else {
            return Outcome::local_failure(
                FailureClass::Transient { throttled: false },
                "ConnectionError",
                "a signed header is not a valid HTTP header value",
            );
        };
        let exchange = self.exchange(request);
        let outcome = match tokio::time::timeout(self.config.request_timeout, exchange).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::local_failure(
                FailureClass::Transient { throttled: false },
                "Timeout",
                "the upstream did not answer in time",
            ),
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

    /// The HTTP request of a signed call; `None` if a header value cannot be sent.
    /// The signed headers replace the defaults (V3 signs `host` itself).
    fn request(&self, signed: &Signed) -> Option<hyper::Request<Body>> {
        let uri = format!("{}/?{}", self.path, signed.query.expose());
        let mut request = hyper::Request::post(uri)
            .header(HOST, &self.host)
            .header(USER_AGENT, concat!("id2meta/", env!("CARGO_PKG_VERSION")))
            .header(ACCEPT, "application/json")
            .body(Body::new())
            .ok()?;
        for (name, value) in &signed.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
            let value = HeaderValue::from_str(value.expose()).ok()?;
            request.headers_mut().insert(name, value);
        }
        Some(request)
    }

    /// Writes the request on a warm connection (or, if none is idle, a new one)
    /// and reads the answer whole. A request the connection refused before
    /// writing a byte goes once more on another idle connection (the race with a
    /// server closing an idle one).
    async fn exchange(&self, request: hyper::Request<Body>) -> Outcome {
        let mut connection = match self.pool.checkout().await {
            Ok(connection) => connection,
            Err(error) => return dial_failure(&error),
        };
        let response = match connection.sender().try_send_request(request).await {
            Ok(response) => response,
            Err(mut refused) => match (refused.take_message(), self.pool.take_idle()) {
                (Some(request), Some(other)) => {
                    connection = other;
                    match connection.sender().send_request(request).await {
                        Ok(response) => response,
                        Err(_) => return failed_during_call(),
                    }
                }
                _ => return failed_during_call(),
            },
        };
        let status = response.status().as_u16();
        match Limited::new(response.into_body(), MOST_BODY)
            .collect()
            .await
        {
            Ok(body) => {
                connection.release();
                response::interpret(status, &body.to_bytes())
            }
            Err(_) => Outcome::local_failure(
                FailureClass::Transient { throttled: false },
                "UnreadableBody",
                "the answer's body could not be read",
            ),
        }
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

/// The connection broke while the call was written or answered.
fn failed_during_call() -> Outcome {
    Outcome::local_failure(
        FailureClass::Transient { throttled: false },
        "ConnectionError",
        "the connection failed during the call",
    )
}

/// No connection could be opened: nothing was sent.
fn dial_failure(error: &DialError) -> Outcome {
    let transient = FailureClass::Transient { throttled: false };
    match error {
        DialError::Timeout => Outcome::local_failure(
            transient,
            "Timeout",
            "the upstream did not accept a connection in time",
        ),
        DialError::Failed(_) => {
            tracing::debug!(%error, "cannot connect to the upstream");
            Outcome::local_failure(
                transient,
                "ConnectionError",
                "cannot connect to the upstream",
            )
        }
    }
}
