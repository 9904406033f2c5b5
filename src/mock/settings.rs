//! The mock's behaviour that can change while it runs (`GET`/`POST /__config`).
//!
//! Tests and load runs flip the mock between regimes (an account refused, a lower
//! QPS limit, an error storm) without restarting it, so the settings are one JSON
//! document and a change is a patch of it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use super::faults;
use super::throttle::QpsWindow;

/// The current behaviour, as served by `GET /__config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Calls answered per second before `Throttling.User`; `null` is unlimited.
    pub qps_limit: Option<u32>,
    /// How the limit counts: `bucket` (rate and capacity Q) or `sliding` (at most
    /// Q in any trailing second).
    #[serde(default)]
    pub qps_window: QpsWindow,
    pub latency_ms: u64,
    pub jitter_ms: u64,
    /// Code → rate in 0..=1, among the documented errors; the rates add up to at most 1.
    pub error_rates: BTreeMap<String, f64>,
    /// When set, every signed call answers this account-level code.
    pub account_denied: Option<String>,
}

/// A change to [`Settings`]: absent fields stay, `null` clears an optional one.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    #[serde(default, deserialize_with = "present")]
    pub qps_limit: Option<Option<u32>>,
    pub qps_window: Option<QpsWindow>,
    pub latency_ms: Option<u64>,
    pub jitter_ms: Option<u64>,
    pub error_rates: Option<BTreeMap<String, f64>>,
    #[serde(default, deserialize_with = "present")]
    pub account_denied: Option<Option<String>>,
}

/// Why a patch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("{0} is not an error the mock can inject")]
    UnknownCode(String),
    #[error("error rates must each be within 0..=1 and add up to at most 1")]
    BadRate,
    #[error("qps_limit must be at least 1 (null for unlimited)")]
    ZeroQps,
}

impl Settings {
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }

    pub fn jitter(&self) -> Duration {
        Duration::from_millis(self.jitter_ms)
    }

    /// The settings with `patch` applied, if the result is valid.
    pub fn patched(&self, patch: SettingsPatch) -> Result<Self, SettingsError> {
        let mut next = self.clone();
        if let Some(qps) = patch.qps_limit {
            next.qps_limit = qps;
        }
        if let Some(window) = patch.qps_window {
            next.qps_window = window;
        }
        if let Some(latency) = patch.latency_ms {
            next.latency_ms = latency;
        }
        if let Some(jitter) = patch.jitter_ms {
            next.jitter_ms = jitter;
        }
        if let Some(rates) = patch.error_rates {
            next.error_rates = rates;
        }
        if let Some(denied) = patch.account_denied {
            next.account_denied = denied;
        }
        next.validate()?;
        Ok(next)
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.qps_limit == Some(0) {
            return Err(SettingsError::ZeroQps);
        }
        if let Some(code) = self.error_rates.keys().find(|c| !faults::injectable(c)) {
            return Err(SettingsError::UnknownCode(code.clone()));
        }
        let in_range = self.error_rates.values().all(|r| (0.0..=1.0).contains(r));
        if !in_range || self.error_rates.values().sum::<f64>() > 1.0 + 1e-9 {
            return Err(SettingsError::BadRate);
        }
        Ok(())
    }
}

/// Reads a field that is present (even as `null`) as `Some(value)`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(json: &str) -> SettingsPatch {
        serde_json::from_str(json).expect("a patch")
    }

    #[test]
    fn an_absent_field_stays_and_a_null_one_is_cleared() {
        let start = Settings {
            qps_limit: Some(5),
            account_denied: Some("Forbidden.AccountAccessDenied".into()),
            ..Settings::default()
        };
        let same = start
            .patched(patch(r#"{"latency_ms": 20}"#))
            .expect("valid");
        assert_eq!(same.qps_limit, Some(5));
        assert_eq!(same.account_denied, start.account_denied);
        assert_eq!(same.latency_ms, 20);
        let cleared = start
            .patched(patch(r#"{"qps_limit": null, "account_denied": null}"#))
            .expect("valid");
        assert_eq!((cleared.qps_limit, cleared.account_denied), (None, None));
    }

    #[test]
    fn unknown_codes_and_impossible_rates_are_refused() {
        let s = Settings::default();
        assert_eq!(
            s.patched(patch(r#"{"error_rates": {"Nope": 0.1}}"#)),
            Err(SettingsError::UnknownCode("Nope".into()))
        );
        assert_eq!(
            s.patched(patch(
                r#"{"error_rates": {"InternalError": 0.7, "ServiceUnavailable": 0.5}}"#
            )),
            Err(SettingsError::BadRate)
        );
        assert_eq!(
            s.patched(patch(r#"{"qps_limit": 0}"#)),
            Err(SettingsError::ZeroQps)
        );
        assert!(serde_json::from_str::<SettingsPatch>(r#"{"qps": 3}"#).is_err());
    }
}
