//! The signed HTTP client (STUB: to be written).

use std::time::Duration;

use crate::identity::Identity;
use crate::secret::Secret;

use super::Outcome;

/// Where and as whom to call.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// Base URL, e.g. `https://cloudauth-intl.cn-hongkong.aliyuncs.com` or `http://127.0.0.1:8099`.
    pub endpoint: String,
    pub access_key_id: String,
    pub access_key_secret: Secret,
    pub security_token: Option<Secret>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

/// One pooled, keep-alive HTTP client; cheap to clone.
#[derive(Clone)]
pub struct Client {
    _config: std::sync::Arc<UpstreamConfig>,
}

impl Client {
    pub fn new(config: UpstreamConfig) -> anyhow::Result<Self> {
        Ok(Self {
            _config: std::sync::Arc::new(config),
        })
    }

    /// One attempt to verify one identity (fresh nonce and timestamp each call).
    pub async fn verify(&self, _identity: &Identity) -> Outcome {
        todo!()
    }

    /// A call with the business parameters left out: not billed (it never reaches
    /// the data source). `MissingParameter` means the account is accepted again;
    /// an account-level failure means it is still refused.
    pub async fn probe(&self) -> Outcome {
        todo!()
    }
}
