//! What the mock has answered (`GET /__stats`).
//!
//! These counts are how a test or a load run proves the claims that matter most
//! to the owner: no call billed twice (`verdict_calls`) and the QPS budget never
//! exceeded (`max_calls_in_one_second`). Nothing per person is kept.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::upstream::signing::Scheme;

/// A snapshot of the counts since start or the last reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Calls answered, errors and throttles included.
    pub calls: u64,
    /// Calls by answered Code (`Success` for a verdict).
    pub by_code: BTreeMap<String, u64>,
    /// Calls per ID number is not kept (PII); this is the most calls answered in any
    /// one wall-clock second.
    pub max_calls_in_one_second: u64,
    /// Calls refused by the QPS limit.
    pub throttled: u64,
    /// `Success` answers: the calls Alibaba would bill.
    pub verdict_calls: u64,
    /// Calls by the signature scheme they claimed (`v2`, `v3`), refused ones included.
    #[serde(default)]
    pub by_signature: BTreeMap<String, u64>,
}

/// The running counts, with the current wall-clock second's bucket.
#[derive(Debug, Default)]
pub struct Counters {
    stats: Stats,
    second: u64,
    in_second: u64,
}

impl Counters {
    /// Counts one answered call with `code` signed by `scheme`, at unix second `now_second`.
    pub fn record(&mut self, code: &str, throttled: bool, scheme: Scheme, now_second: u64) {
        self.stats.calls += 1;
        *self
            .stats
            .by_signature
            .entry(scheme.name().to_string())
            .or_default() += 1;
        *self.stats.by_code.entry(code.to_string()).or_default() += 1;
        if throttled {
            self.stats.throttled += 1;
        }
        if code == "Success" {
            self.stats.verdict_calls += 1;
        }
        if now_second != self.second {
            self.second = now_second;
            self.in_second = 0;
        }
        self.in_second += 1;
        self.stats.max_calls_in_one_second = self.stats.max_calls_in_one_second.max(self.in_second);
    }

    pub fn snapshot(&self) -> Stats {
        self.stats.clone()
    }

    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_counted_by_code_and_in_wall_clock_seconds() {
        let mut c = Counters::default();
        c.record("Success", false, Scheme::V3, 100);
        c.record("Success", false, Scheme::V3, 100);
        c.record("Throttling.User", true, Scheme::V2, 100);
        c.record("InternalError", false, Scheme::V3, 101);
        let s = c.snapshot();
        assert_eq!(s.calls, 4);
        assert_eq!(s.verdict_calls, 2);
        assert_eq!(s.throttled, 1);
        assert_eq!(s.by_code["Success"], 2);
        assert_eq!(s.max_calls_in_one_second, 3);
        assert_eq!((s.by_signature["v2"], s.by_signature["v3"]), (1, 3));
        c.reset();
        assert_eq!(c.snapshot(), Stats::default());
    }
}
