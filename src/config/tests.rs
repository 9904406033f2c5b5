//! The configuration's unit tests: defaults, and each refusal naming its
//! variable and value; beside `mod.rs` so the reading code stays short.

use super::*;
use std::collections::HashMap;

#[test]
fn defaults_are_the_contracts() {
    let c = Config::from_source(&HashMap::new()).unwrap();
    assert_eq!(c.database_url, "postgres://postgres@127.0.0.1:5432/id2meta");
    assert_eq!(c.amqp_url, "amqp://guest:guest@127.0.0.1:5672/%2f");
    assert_eq!(
        c.endpoint,
        "https://cloudauth-intl.cn-hongkong.aliyuncs.com"
    );
    assert_eq!(c.qps, 50.0);
    assert_eq!(c.max_attempts, 6);
    assert_eq!(c.jobs_queue, "id2meta.jobs");
    assert_eq!(c.dead_letter_queue(), "id2meta.jobs.dead");
    assert_eq!(c.results_exchange, "id2meta.results");
    assert_eq!(c.http_addr.to_string(), "0.0.0.0:9464");
    assert_eq!(c.concurrency, 50);
    assert!(c.pii_key.is_none());
    assert_eq!(c.dead_letter_ttl, Duration::from_secs(14 * 86_400));
}

#[test]
fn a_bad_number_names_the_variable_and_the_value() {
    let env = HashMap::from([("ID2META_QPS", "abc")]);
    let err = Config::from_source(&env).unwrap_err().to_string();
    assert_eq!(err, "ID2META_QPS must be a positive number, got 'abc'");
    let env = HashMap::from([("ID2META_QPS", "-3")]);
    assert!(Config::from_source(&env).is_err());
    let env = HashMap::from([("ID2META_MAX_ATTEMPTS", "0")]);
    assert!(Config::from_source(&env).is_err());
    let env = HashMap::from([("ID2META_HTTP_ADDR", "nowhere")]);
    assert!(Config::from_source(&env)
        .unwrap_err()
        .to_string()
        .contains("ID2META_HTTP_ADDR"));
}

#[test]
fn the_signature_scheme_is_v3_unless_v2_is_asked_for_and_a_bad_one_is_named() {
    let c = Config::from_source(&HashMap::new()).unwrap();
    assert_eq!(c.signature, Scheme::V3);
    let env = HashMap::from([("ID2META_SIGNATURE", "v2")]);
    assert_eq!(Config::from_source(&env).unwrap().signature, Scheme::V2);
    let env = HashMap::from([("ID2META_SIGNATURE", "hmac")]);
    let err = Config::from_source(&env).unwrap_err().to_string();
    assert_eq!(err, "ID2META_SIGNATURE must be v3 or v2, got 'hmac'");
}

#[test]
fn the_dead_letter_ttl_takes_the_duration_syntax() {
    let env = HashMap::from([("ID2META_DEAD_LETTER_TTL", "90m")]);
    let c = Config::from_source(&env).unwrap();
    assert_eq!(c.dead_letter_ttl, Duration::from_secs(90 * 60));
    let env = HashMap::from([("ID2META_DEAD_LETTER_TTL", "2 weeks")]);
    let err = format!("{:#}", Config::from_source(&env).unwrap_err());
    assert!(err.contains("ID2META_DEAD_LETTER_TTL"), "{err}");
}

#[test]
fn a_lease_that_a_call_can_outlive_is_refused_with_its_variable_and_value() {
    let env = HashMap::from([("ID2META_LEASE_SECS", "0")]);
    let err = Config::from_source(&env).unwrap_err().to_string();
    assert!(
        err.contains("ID2META_LEASE_SECS") && err.contains("'0'"),
        "{err}"
    );
    assert!(err.contains("at least 20"), "{err}");
    let env = HashMap::from([("ID2META_LEASE_SECS", "19")]);
    assert!(Config::from_source(&env).is_err());
    let env = HashMap::from([("ID2META_LEASE_SECS", "20")]);
    assert_eq!(
        Config::from_source(&env).unwrap().lease,
        Duration::from_secs(20)
    );
    let env = HashMap::from([
        ("ID2META_LEASE_SECS", "2"),
        ("ID2META_REQUEST_TIMEOUT_MS", "1000"),
    ]);
    assert!(Config::from_source(&env).is_ok());
    let env = HashMap::from([("ID2META_REQUEST_TIMEOUT_MS", "0")]);
    assert!(Config::from_source(&env).is_err());
}

#[test]
fn a_drain_deadline_that_overruns_the_contracts_30_seconds_is_refused() {
    let c = Config::from_source(&HashMap::new()).unwrap();
    assert_eq!(c.shutdown_deadline, crate::shutdown::DEFAULT_DRAIN);
    for bad in ["0", "25", "30"] {
        let env = HashMap::from([("ID2META_SHUTDOWN_DEADLINE_SECS", bad)]);
        let err = Config::from_source(&env).unwrap_err().to_string();
        assert!(err.contains("ID2META_SHUTDOWN_DEADLINE_SECS"), "{err}");
    }
    let max = crate::shutdown::MAX_DRAIN.as_secs().to_string();
    let env = HashMap::from([("ID2META_SHUTDOWN_DEADLINE_SECS", max.as_str())]);
    assert!(Config::from_source(&env).is_ok());
}

#[test]
fn a_queue_name_too_long_for_amqp_is_refused_at_start_not_a_panic_later() {
    let long = "q".repeat(300);
    let env = HashMap::from([("ID2META_JOBS_QUEUE", long.as_str())]);
    let err = Config::from_source(&env).unwrap_err().to_string();
    assert!(err.contains("ID2META_JOBS_QUEUE"), "{err}");
}

#[test]
fn secrets_do_not_appear_in_debug_output() {
    let env = HashMap::from([
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "s3cr3t-value"),
        ("ID2META_PII_KEY", "pii-k3y-value"),
        ("ALIBABA_CLOUD_SECURITY_TOKEN", "t0ken-value"),
    ]);
    let text = format!("{:?}", Config::from_source(&env).unwrap());
    for secret in ["s3cr3t-value", "pii-k3y-value", "t0ken-value"] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
}

#[test]
fn a_plain_http_endpoint_is_refused_off_loopback_unless_allowed_and_never_for_alibaba() {
    let env = HashMap::from([("ID2META_ENDPOINT", "http://127.0.0.1:8099")]);
    assert!(!Config::from_source(&env).unwrap().allow_http);
    let env = HashMap::from([("ID2META_ENDPOINT", "http://mock:8099")]);
    let err = Config::from_source(&env).unwrap_err().to_string();
    assert!(err.contains("ID2META_ENDPOINT"), "{err}");
    let env = HashMap::from([
        ("ID2META_ENDPOINT", "http://mock:8099"),
        ("ID2META_ALLOW_HTTP", "true"),
    ]);
    assert!(Config::from_source(&env).unwrap().allow_http);
    let env = HashMap::from([
        (
            "ID2META_ENDPOINT",
            "http://cloudauth-intl.cn-hongkong.aliyuncs.com",
        ),
        ("ID2META_ALLOW_HTTP", "true"),
    ]);
    assert!(Config::from_source(&env).is_err());
    let env = HashMap::from([("ID2META_ALLOW_HTTP", "maybe")]);
    let err = Config::from_source(&env).unwrap_err().to_string();
    assert!(err.contains("ID2META_ALLOW_HTTP"), "{err}");
}

#[test]
fn the_default_concurrency_follows_the_qps_within_bounds() {
    assert_eq!(default_concurrency(1.0), 4);
    assert_eq!(default_concurrency(50.0), 50);
    assert_eq!(default_concurrency(10_000.0), 256);
}

#[test]
fn verdict_reuse_is_off_by_default_and_takes_a_duration_with_a_unit() {
    let off = Config::from_source(&HashMap::new()).expect("defaults are valid");
    assert_eq!(off.reuse_within, None);
    let on = Config::from_source(&HashMap::from([("ID2META_REUSE_WITHIN", "30d")])).expect("valid");
    assert_eq!(on.reuse_within, Some(Duration::from_secs(30 * 86_400)));
    for bad in ["30", "d", "0s", "1w", "-5m"] {
        let env = HashMap::from([("ID2META_REUSE_WITHIN", bad)]);
        assert!(Config::from_source(&env).is_err(), "{bad}");
    }
}

#[test]
fn spend_is_priced_at_three_cents_in_dollars_unless_told_and_retention_is_off() {
    let c = Config::from_source(&HashMap::new()).expect("defaults are valid");
    assert_eq!(c.pricing, crate::spend::Pricing::default());
    assert_eq!(c.pricing.spend(100), "USD 3.00");
    assert_eq!(c.results_retention, None);
    let env = HashMap::from([
        ("ID2META_PRICE_PER_CALL", "0.25"),
        ("ID2META_CURRENCY", "cny"),
        ("ID2META_RESULTS_RETENTION", "180d"),
    ]);
    let c = Config::from_source(&env).expect("valid");
    assert_eq!(c.pricing.spend(4), "CNY 1.00");
    assert_eq!(c.results_retention, Some(Duration::from_secs(180 * 86_400)));
    for (name, bad) in [
        ("ID2META_PRICE_PER_CALL", "-1"),
        ("ID2META_PRICE_PER_CALL", "3 cents"),
        ("ID2META_CURRENCY", "US$"),
        ("ID2META_RESULTS_RETENTION", "180"),
    ] {
        let err = Config::from_source(&HashMap::from([(name, bad)]))
            .expect_err(bad)
            .to_string();
        assert!(err.contains(name), "{err}");
    }
}

#[test]
fn without_queue_weights_the_jobs_queue_is_the_one_bulk_queue_at_weight_1() {
    let env = HashMap::from([("ID2META_JOBS_QUEUE", "pipeline.jobs")]);
    let c = Config::from_source(&env).unwrap();
    assert_eq!(
        c.bulk_queues(),
        [QueueWeight {
            queue: "pipeline.jobs".into(),
            weight: 1
        }]
    );
    assert!(c.queue_caps.is_empty());
    let env = HashMap::from([("ID2META_QUEUE_WEIGHTS", "id2meta.jobs=1,id2meta.jobs.web=3")]);
    let c = Config::from_source(&env).unwrap();
    assert_eq!(c.bulk_queues().len(), 2);
    // A well-formed cap on a consumed queue is read (the budget enforces it fleet-wide).
    let env = HashMap::from([
        ("ID2META_QUEUE_WEIGHTS", "id2meta.jobs=1,id2meta.jobs.web=3"),
        ("ID2META_QUEUE_CAPS", "id2meta.jobs.web=20"),
    ]);
    let c = Config::from_source(&env).unwrap();
    assert_eq!(c.queue_caps.len(), 1);
    assert_eq!(c.queue_caps[0].calls_per_second, 20.0);
    // A cap on a queue the worker does not consume is a typo, refused.
    let env = HashMap::from([("ID2META_QUEUE_CAPS", "id2meta.jobs.web=20")]);
    let err = Config::from_source(&env).unwrap_err().to_string();
    assert!(err.contains("ID2META_QUEUE_CAPS"), "{err}");
}

#[test]
fn database_connections_default_to_six_and_the_pooler_to_direct() {
    let config = Config::from_source(&HashMap::new()).expect("defaults");
    assert_eq!(config.db_connections, 6);
    assert_eq!(config.db_pooler, crate::store::Pooler::Direct);
    let pooled = Config::from_source(&HashMap::from([
        ("ID2META_DB_CONNECTIONS", "3"),
        ("ID2META_DB_POOLER", "transaction"),
    ]))
    .expect("valid");
    assert_eq!(pooled.db_connections, 3);
    assert_eq!(pooled.db_pooler, crate::store::Pooler::Transaction);
    for (name, value) in [
        ("ID2META_DB_CONNECTIONS", "1"),
        ("ID2META_DB_POOLER", "session"),
    ] {
        let error = Config::from_source(&HashMap::from([(name, value)])).unwrap_err();
        assert!(error.to_string().contains(name), "{error}");
    }
}
