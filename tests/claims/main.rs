//! Claims and their edges (issue 19 items 4 and 9): a paid verdict keeps its claim
//! through a database outage, a claim that counted an attempt without a call does
//! not cost a reuse, and the cancelled batches are read incrementally and pruned.
//! Real PostgreSQL, RabbitMQ and the in-process mock; each test its own names.

#[path = "../support/fault_proxy.rs"]
mod fault_proxy;
#[path = "../worker/helpers.rs"]
mod helpers;

mod cancellations;
mod outage;
mod reuse_lookup;

use std::net::SocketAddr;

use fault_proxy::FaultProxy;
use id2meta::config::Config;

/// A proxy in front of the test PostgreSQL server, and `config` pointed through it.
async fn through_database_proxy(config: &Config) -> (FaultProxy, Config) {
    let proxy = FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], 5432))).await;
    let mut config = config.clone();
    assert!(
        config.database_url.contains("127.0.0.1:5432"),
        "the tests' database is not at 127.0.0.1:5432"
    );
    config.database_url = config
        .database_url
        .replace("127.0.0.1:5432", &proxy.addr().to_string());
    (proxy, config)
}

/// The claim row of `job_id` as `(attempts, xmin)`: `xmin` changes with every update.
async fn claim_of(env: &helpers::TestEnv, job_id: &str) -> Option<(i32, String)> {
    sqlx::query_as("SELECT attempts, xmin::text FROM job_claims WHERE job_id = $1")
        .bind(job_id)
        .fetch_optional(env.store.pool())
        .await
        .expect("reading a claim")
}
