//! Metric names and the few helpers that record them, so every series is named
//! once. Rendered as Prometheus text at `/metrics` (see [`crate::http`]).

use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const JOBS: &str = "id2meta_jobs_total";
pub const UPSTREAM_CALLS: &str = "id2meta_upstream_calls_total";
pub const UPSTREAM_LATENCY: &str = "id2meta_upstream_latency_seconds";
pub const RETRIES: &str = "id2meta_retries_total";
pub const ATTEMPTS: &str = "id2meta_job_attempts";
pub const LIMITER_WAIT: &str = "id2meta_limiter_wait_seconds";
pub const IN_FLIGHT: &str = "id2meta_jobs_in_flight";
pub const QPS_SHARE: &str = "id2meta_qps_share";
pub const QPS_SHARE_TARGET: &str = "id2meta_qps_share_target";
pub const BUDGET_STANDBY: &str = "id2meta_budget_standby";
pub const FLEET_QPS: &str = "id2meta_fleet_qps";
/// `ID2META_PII_KEY`s in use in the fleet, by fingerprint ([`crate::key_agreement`]).
pub const PII_KEYS_SEEN: &str = "id2meta_pii_keys_seen";
pub const CONSUMER_PAUSED: &str = "id2meta_consumer_paused";
pub const PAUSE_CAUSE: &str = "id2meta_pause_cause";
pub const JOBS_RETURNED: &str = "id2meta_jobs_returned_total";
pub const DEAD_LETTERED: &str = "id2meta_dead_lettered_total";
pub const REPUBLISHED: &str = "id2meta_completions_republished_total";
pub const STORE_RETRIES: &str = "id2meta_store_retries_total";
pub const CREDENTIAL_REFRESHES: &str = "id2meta_credential_refreshes_total";
pub const CREDENTIAL_EXPIRY: &str = "id2meta_credential_expiry_seconds";
pub const REUSED: &str = "id2meta_jobs_reused_total";
pub const BILLED_CALLS: &str = "id2meta_billed_calls_total";
/// Upstream calls made for jobs of each queue (`queue`: the queue the job was
/// consumed from), so an operator sees the weighted split (docs/queues.md).
pub const QUEUE_CALLS: &str = "id2meta_queue_calls_total";

/// Installs the process-wide recorder once and returns its handle (later calls
/// return the same handle, so tests and the demo can start several workers).
pub fn install() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ];
            let attempts = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(UPSTREAM_LATENCY.into()), &buckets)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(LIMITER_WAIT.into()), &buckets)
                })
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(ATTEMPTS.into()), &attempts));
            let builder = match builder {
                Ok(b) => b,
                // Only an empty bucket list fails; ours are constants.
                Err(_) => PrometheusBuilder::new(),
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (embedding): keep ours readable anyway.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_gauge!(
        PII_KEYS_SEEN,
        "ID2META_PII_KEYs in use among the replicas (by fingerprint, within 150 s); above 1, jobs moving between replicas are dead-lettered."
    );
    metrics::describe_counter!(
        BILLED_CALLS,
        "Upstream calls Alibaba bills: answered BizCode 1 or 2 (3, no record, is free; reused verdicts made no call)."
    );
    metrics::describe_counter!(
        REUSED,
        "Jobs settled with a recent verdict for the same identity, without a call."
    );
    metrics::describe_counter!(JOBS, "Jobs settled, by final status.");
    metrics::describe_counter!(
        QUEUE_CALLS,
        "Upstream calls made, by the queue their job was consumed from."
    );
    metrics::describe_counter!(UPSTREAM_CALLS, "Upstream calls made, by answered Code.");
    metrics::describe_histogram!(
        UPSTREAM_LATENCY,
        metrics::Unit::Seconds,
        "Upstream call latency."
    );
    metrics::describe_counter!(
        RETRIES,
        "Upstream attempts that were retries of a transient failure."
    );
    metrics::describe_histogram!(ATTEMPTS, "Upstream attempts per settled job.");
    metrics::describe_histogram!(
        LIMITER_WAIT,
        metrics::Unit::Seconds,
        "Time a call waited for a rate-limit token."
    );
    metrics::describe_gauge!(IN_FLIGHT, "Jobs being processed by this replica.");
    metrics::describe_gauge!(
        QPS_SHARE,
        "This replica's share of the account QPS budget (calls/s)."
    );
    metrics::describe_gauge!(
        QPS_SHARE_TARGET,
        "The share the fleet's split gives this replica (calls/s); 0 on standby."
    );
    metrics::describe_gauge!(
        BUDGET_STANDBY,
        "1 while this replica holds no share (more replicas than calls): it takes no jobs."
    );
    metrics::describe_gauge!(
        FLEET_QPS,
        "The fleet's QPS budget in force: the smallest ID2META_QPS of the replicas sharing it."
    );
    metrics::describe_gauge!(
        CONSUMER_PAUSED,
        "1 while consumption is paused by an account or environment error."
    );
    metrics::describe_gauge!(
        PAUSE_CAUSE,
        "1 for what pauses consumption now: account, credentials, signature, clock or endpoint."
    );
    metrics::describe_counter!(
        JOBS_RETURNED,
        "Jobs handed back to their queue by a pause, republished without spending a delivery."
    );
    metrics::describe_counter!(
        DEAD_LETTERED,
        "Messages sent to the dead-letter queue, by reason."
    );
    metrics::describe_counter!(
        REPUBLISHED,
        "Completions re-published for jobs already settled."
    );
    metrics::describe_counter!(
        STORE_RETRIES,
        "Result commits retried after a database error."
    );
    metrics::describe_counter!(
        CREDENTIAL_REFRESHES,
        "Credential fetches by the refresh task, by source and outcome (success, failure)."
    );
    metrics::describe_gauge!(
        CREDENTIAL_EXPIRY,
        metrics::Unit::Seconds,
        "Seconds until the temporary credentials held expire."
    );
}

pub fn job_settled(status: &str, attempts: i32) {
    metrics::counter!(JOBS, "status" => status.to_string()).increment(1);
    metrics::histogram!(ATTEMPTS).record(attempts as f64);
}

/// A verdict answered by the upstream (never a reused one): counted as billed
/// when its BizCode is 1 or 2.
pub fn verdict_answered(verdict: crate::upstream::Verdict) {
    if verdict.is_billed() {
        metrics::counter!(BILLED_CALLS).increment(1);
    }
}

pub fn upstream_call(code: &str, latency: Duration) {
    metrics::counter!(UPSTREAM_CALLS, "code" => code.to_string()).increment(1);
    metrics::histogram!(UPSTREAM_LATENCY).record(latency.as_secs_f64());
}
