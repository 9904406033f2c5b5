//! The mock's behaviour that can change while it runs (`GET`/`POST /__config`).
//!
//! Tests and load runs flip the mock between regimes (an account refused, a lower
//! QPS limit, an error storm) without restarting it, so the settings are one JSON
//! document and a change is a patch of it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use super::faults;
use crate::upstream::signing::Scheme;

/// The current behaviour, as served by `GET /__config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Calls answered per second before `Throttling.User`; `null` is unlimited.
    pub qps_limit: Option<u32>,
    pub latency_ms: u64,
    pub jitter_ms: u64,
    /// Code → rate in 0..=1, among the documented errors; the rates add up to at most 1.
    pub error_rates: BTreeMap<String, f64>,
    /// When set, every signed call answers this account-level code.
    pub account_denied: Option<String>,
    /// The signature schemes answered; another is refused with `IncompleteSignature`
    /// (only `["v3"]` is an upstream that has dropped V2).
    pub accept_signatures: Vec<Scheme>,
    /// How far the mock's clock runs from the real one, in seconds: more than 900
    /// either way makes every honest call `InvalidTimeStamp.Expired`.
    pub clock_offset_secs: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            qps_limit: None,
            latency_ms: 0,
            jitter_ms: 0,
            error_rates: BTreeMap::new(),
            account_denied: None,
            accept_signatures: vec![Scheme::V2, Scheme::V3],
            clock_offset_secs: 0,
        }
    }
}

/// A change to [`Settings`]: absent fields stay, `null` clears an optional one.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    #[serde(default, deserialize_with = "present")]
    pub qps_limit: Option<Option<u32>>,
    pub latency_ms: Option<u64>,
    pub jitter_ms: Option<u64>,
    pub error_rates: Option<BTreeMap<String, f64>>,
    #[serde(default, deserialize_with = "present")]
    pub account_denied: Option<Option<String>>,
    pub accept_signatures: Option<Vec<Scheme>>,
    pub clock_offset_secs: Option<i64>,
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
    #[error("accept_signatures must name at least one of v2, v3")]
    NoScheme,
    #[error("clock_offset_secs must be within a day either way")]
    ClockOffset,
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
        if let Some(schemes) = patch.accept_signatures {
            next.accept_signatures = schemes;
        }
        if let Some(offset) = patch.clock_offset_secs {
            next.clock_offset_secs = offset;
        }
        next.validate()?;
        Ok(next)
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.qps_limit == Some(0) {
            return Err(SettingsError::ZeroQps);
        }
        if self.accept_signatures.is_empty() {
            return Err(SettingsError::NoScheme);
        }
        if self.clock_offset_secs.unsigned_abs() > 86_400 {
            return Err(SettingsError::ClockOffset);
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

    #[test]
    fn both_schemes_are_accepted_by_default_and_a_patch_can_narrow_them() {
        let s = Settings::default();
        assert_eq!(s.accept_signatures, vec![Scheme::V2, Scheme::V3]);
        let v3_only = s
            .patched(patch(
                r#"{"accept_signatures": ["v3"], "clock_offset_secs": -1200}"#,
            ))
            .expect("valid");
        assert_eq!(v3_only.accept_signatures, vec![Scheme::V3]);
        assert_eq!(v3_only.clock_offset_secs, -1200);
        assert_eq!(
            s.patched(patch(r#"{"accept_signatures": []}"#)),
            Err(SettingsError::NoScheme)
        );
        assert!(serde_json::from_str::<SettingsPatch>(r#"{"accept_signatures": ["v1"]}"#).is_err());
        assert_eq!(
            s.patched(patch(r#"{"clock_offset_secs": 100000}"#)),
            Err(SettingsError::ClockOffset)
        );
    }
}
