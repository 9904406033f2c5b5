//! What the mock has answered (`GET /__stats`).
//!
//! These counts are how a test or a load run proves the claims that matter most
//! to the owner: no call billed twice (`billed_calls`, as Alibaba bills: BizCode
//! 1 and 2; `verdict_calls` counts every answered verdict, `not_found` included)
//! and the QPS budget never exceeded (`max_calls_in_one_second`). Nothing per
//! person is kept.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

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
    /// The most calls answered in any window of one second, wherever it starts
    /// (the strictest count of the QPS an upstream could apply).
    #[serde(default)]
    pub max_calls_in_sliding_second: u64,
    /// The most calls in any sliding second per region code (the ID number's
    /// first six digits: a district, no person), so a test can tell apart the
    /// calls of jobs it gave people of different regions (a capped queue's).
    #[serde(default)]
    pub max_in_sliding_second_by_region: BTreeMap<String, u64>,
    /// Calls refused by the QPS limit.
    pub throttled: u64,
    /// `Success` answers: every verdict, BizCode 3 (`not_found`) included.
    pub verdict_calls: u64,
    /// The calls Alibaba bills: `Success` with BizCode `1` or `2` (rev 3); `3`
    /// (no record) is free.
    #[serde(default)]
    pub billed_calls: u64,
    /// Calls by the signature scheme they claimed (`v2`, `v3`), refused ones included.
    #[serde(default)]
    pub by_signature: BTreeMap<String, u64>,
    /// `AssumeRoleWithOIDC` calls answered with credentials (not in `calls`).
    #[serde(default)]
    pub sts_calls: u64,
    /// Credentials issued by the ECS metadata or credentials-URI stand-ins.
    #[serde(default)]
    pub credential_calls: u64,
    /// API calls signed with issued credentials after they expired.
    #[serde(default)]
    pub expired_credential_calls: u64,
    /// Distinct OIDC tokens presented to STS (a rotated token file shows as 2).
    #[serde(default)]
    pub oidc_tokens_seen: u64,
}

/// The running counts, with the current wall-clock second's bucket.
#[derive(Debug, Default)]
pub struct Counters {
    stats: Stats,
    second: u64,
    in_second: u64,
    /// The calls of the trailing second.
    recent: VecDeque<Instant>,
    /// The same, per region code.
    recent_by_region: BTreeMap<String, VecDeque<Instant>>,
}

impl Counters {
    /// Counts one answered call with `code` (`billed` when Alibaba would bill it)
    /// signed by `scheme`, at unix second `now_second` (and monotonic instant
    /// `now`, for the sliding second).
    pub fn record(
        &mut self,
        code: &str,
        billed: bool,
        throttled: bool,
        scheme: Scheme,
        now_second: u64,
        now: Instant,
    ) {
        super::throttle::forget_older(&mut self.recent, now);
        self.recent.push_back(now);
        self.stats.max_calls_in_sliding_second = self
            .stats
            .max_calls_in_sliding_second
            .max(self.recent.len() as u64);
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
        if billed {
            self.stats.billed_calls += 1;
        }
        if now_second != self.second {
            self.second = now_second;
            self.in_second = 0;
        }
        self.in_second += 1;
        self.stats.max_calls_in_one_second = self.stats.max_calls_in_one_second.max(self.in_second);
    }

    /// Counts one call for an ID number of region `region` at `now` (only the
    /// sliding second's count: the other counts are [`Counters::record`]'s).
    pub fn record_region(&mut self, region: &str, now: Instant) {
        let recent = self.recent_by_region.entry(region.to_string()).or_default();
        super::throttle::forget_older(recent, now);
        recent.push_back(now);
        let most = self
            .stats
            .max_in_sliding_second_by_region
            .entry(region.to_string())
            .or_default();
        *most = (*most).max(recent.len() as u64);
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
        let t = Instant::now();
        let ms = |n| t + std::time::Duration::from_millis(n);
        c.record("Success", true, false, Scheme::V3, 100, ms(0));
        // A `not_found` verdict: answered, not billed.
        c.record("Success", false, false, Scheme::V3, 100, ms(600));
        c.record("Throttling.User", false, true, Scheme::V2, 100, ms(700));
        c.record("InternalError", false, false, Scheme::V3, 101, ms(1100));
        let s = c.snapshot();
        assert_eq!(s.calls, 4);
        assert_eq!(s.verdict_calls, 2);
        assert_eq!(s.billed_calls, 1);
        assert_eq!(s.throttled, 1);
        assert_eq!(s.by_code["Success"], 2);
        assert_eq!(s.max_calls_in_one_second, 3);
        // 600, 700 and 1100 ms are within one second of each other.
        assert_eq!(s.max_calls_in_sliding_second, 3);
        assert_eq!((s.by_signature["v2"], s.by_signature["v3"]), (1, 3));
        c.record_region("110105", ms(0));
        c.record_region("110105", ms(900));
        c.record_region("310104", ms(950));
        c.record_region("110105", ms(1000));
        let s = c.snapshot();
        assert_eq!(s.max_in_sliding_second_by_region["110105"], 2);
        assert_eq!(s.max_in_sliding_second_by_region["310104"], 1);
        c.reset();
        assert_eq!(c.snapshot(), Stats::default());
    }
}
