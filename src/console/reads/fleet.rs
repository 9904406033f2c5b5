//! The fleet: live replicas from `worker_replicas`, the budget used now, and the
//! upstream codes of the last minutes, from `verification_results`.

use crate::store::Db;
use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// How far back "now" reaches for the budget in use.
pub const RATE_WINDOW_SECONDS: i64 = 10;
/// How far back the upstream codes reach.
pub const CODES_WINDOW_MINUTES: i64 = 15;

/// One live replica, as the budget's heartbeat table knows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Replica {
    pub replica_id: Uuid,
    pub joined_at: DateTime<Utc>,
    /// Null while the replica is joining or has suspended its calls.
    pub active_since: Option<DateTime<Utc>>,
    pub heartbeat_age_ms: i64,
    /// What the replica last said of itself (`budget::readiness`): NULL from a
    /// worker older than migration 20261202000200, or before its first report.
    pub ready: Option<bool>,
    /// Why it is not ready (fixed phrases and an upstream code; no secrets).
    pub paused_cause: Option<String>,
    /// The `ID2META_QPS` it was started with (NULL from a worker older than
    /// migration 20261206000100).
    pub qps: Option<f64>,
    /// Its share in whole calls per window; 0 on standby (more replicas than shares).
    pub target: Option<i32>,
}

impl Replica {
    /// "ready", "joining", "paused: <cause>", or "unknown" for an older worker.
    pub fn readiness(&self) -> String {
        match (self.ready, &self.paused_cause) {
            (Some(false), Some(cause)) => format!("paused: {cause}"),
            (Some(false), None) => "paused".into(),
            (Some(true), _) if self.target == Some(0) => "standby (no share of the budget)".into(),
            (Some(true), _) if self.active_since.is_none() => "joining".into(),
            (Some(true), _) => "ready".into(),
            (None, _) => "unknown (an older worker)".into(),
        }
    }
}

/// The replicas whose heartbeat is younger than `ttl_ms` (the budget's own rule).
pub async fn live_replicas(pool: &Db, ttl_ms: i64) -> anyhow::Result<Vec<Replica>> {
    sqlx::query_as(
        "SELECT replica_id, joined_at, active_since,
                (extract(epoch FROM now() - heartbeat_at) * 1000)::bigint AS heartbeat_age_ms,
                ready, paused_cause, qps, target
           FROM worker_replicas
          WHERE heartbeat_at > now() - make_interval(secs => $1::double precision / 1000)
          ORDER BY joined_at, replica_id",
    )
    .bind(ttl_ms)
    .fetch_all(pool)
    .await
    .context("reading the replicas")
}

/// The `ID2META_QPS` values the live replicas disagree on (empty when they agree):
/// the fleet keeps to the smallest.
pub fn qps_disagreement(replicas: &[Replica]) -> Vec<f64> {
    let mut values: Vec<f64> = replicas.iter().filter_map(|r| r.qps).collect();
    values.sort_by(f64::total_cmp);
    values.dedup();
    if values.len() > 1 {
        values
    } else {
        Vec::new()
    }
}

/// Upstream calls per second that settled a job over the last [`RATE_WINDOW_SECONDS`]
/// (a job's earlier failed attempts are not seen here; `/metrics` counts every call).
pub async fn calls_per_second(pool: &Db) -> anyhow::Result<f64> {
    let calls: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM verification_results
          WHERE completed_at > now() - make_interval(secs => $1) AND upstream_code IS NOT NULL",
    )
    .bind(RATE_WINDOW_SECONDS as f64)
    .fetch_one(pool)
    .await
    .context("reading the recent call rate")?;
    Ok(calls as f64 / RATE_WINDOW_SECONDS as f64)
}

/// Settled jobs of the last [`CODES_WINDOW_MINUTES`] by upstream code (the status
/// when no call answered: `invalid`, `cancelled`, reused verdicts), most frequent first.
pub async fn recent_codes(pool: &Db) -> anyhow::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "SELECT coalesce(upstream_code, '(' || status || ')') AS code, count(*)
           FROM verification_results
          WHERE completed_at > now() - make_interval(mins => $1)
          GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 30",
    )
    .bind(CODES_WINDOW_MINUTES as i32)
    .fetch_all(pool)
    .await
    .context("reading the recent upstream codes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(ready: Option<bool>, cause: Option<&str>, calling: bool) -> Replica {
        Replica {
            replica_id: Uuid::nil(),
            joined_at: Utc::now(),
            active_since: calling.then(Utc::now),
            heartbeat_age_ms: 10,
            ready,
            paused_cause: cause.map(str::to_string),
            qps: None,
            target: None,
        }
    }

    fn with_qps(qps: Option<f64>) -> Replica {
        Replica {
            qps,
            target: Some(0),
            ..replica(Some(true), None, false)
        }
    }

    #[test]
    fn replicas_that_disagree_on_the_qps_are_named_smallest_first() {
        let agree = [with_qps(Some(50.0)), with_qps(Some(50.0)), with_qps(None)];
        assert!(qps_disagreement(&agree).is_empty());
        let differ = [
            with_qps(Some(500.0)),
            with_qps(Some(50.0)),
            with_qps(Some(50.0)),
        ];
        assert_eq!(qps_disagreement(&differ), [50.0, 500.0]);
        assert_eq!(differ[0].readiness(), "standby (no share of the budget)");
    }

    #[test]
    fn a_replica_reads_ready_joining_paused_with_its_cause_or_unknown() {
        assert_eq!(replica(Some(true), None, true).readiness(), "ready");
        assert_eq!(replica(Some(true), None, false).readiness(), "joining");
        assert_eq!(
            replica(
                Some(false),
                Some("no valid upstream credentials held"),
                false
            )
            .readiness(),
            "paused: no valid upstream credentials held"
        );
        assert_eq!(replica(Some(false), None, true).readiness(), "paused");
        assert_eq!(
            replica(None, None, true).readiness(),
            "unknown (an older worker)"
        );
    }
}
