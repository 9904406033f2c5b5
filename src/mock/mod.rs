//! A faithful stand-in for Alibaba's `Id2MetaVerifyIntl` (STUB: to be written).

pub mod population;

use std::net::SocketAddr;
use std::time::Duration;

use crate::secret::Secret;

/// How the mock behaves; everything here can also be changed at run time over HTTP.
#[derive(Debug, Clone)]
pub struct MockConfig {
    pub access_key_id: String,
    pub access_key_secret: Secret,
    /// Calls answered per second before `Throttling.User`; `None` is unlimited.
    pub qps_limit: Option<u32>,
    pub latency: Duration,
    pub jitter: Duration,
    /// (Code, rate in 0..=1) injected at random, e.g. ("InternalError", 0.02).
    pub error_rates: Vec<(String, f64)>,
    pub seed: u64,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            access_key_id: "testid".into(),
            access_key_secret: Secret::new("testsecret"),
            qps_limit: None,
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            error_rates: Vec::new(),
            seed: 0,
        }
    }
}

/// What the mock has answered (also served as JSON at `GET /__stats`).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    pub calls: u64,
    /// Calls by answered Code (`Success` for a verdict).
    pub by_code: std::collections::BTreeMap<String, u64>,
    /// Calls per ID number is not kept (PII); this is the most calls answered in any one second.
    pub max_calls_in_one_second: u64,
    pub throttled: u64,
}

/// A running mock; dropping it does not stop it, `shutdown` does.
pub struct MockHandle {
    pub addr: SocketAddr,
}

/// Starts the mock on `listen` (port 0 picks a free one).
pub async fn start(_config: MockConfig, _listen: SocketAddr) -> anyhow::Result<MockHandle> {
    todo!()
}
