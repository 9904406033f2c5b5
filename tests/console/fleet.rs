//! The fleet page and the job page read as HTML (no browser): each replica
//! ready or paused and why, a claim naming its replica, a missing queue.

use std::net::SocketAddr;

use id2meta::console::{self, ConsoleSettings};
use id2meta::mock::MockConfig;
use tokio_util::sync::CancellationToken;

use crate::browser::*;
use crate::helpers::{eventually, person_jobs, TestEnv};

/// A page of the console as text (no browser: these checks read the HTML).
async fn page_text(base: &str, path: &str) -> String {
    let answer = id2meta::tls::get(format!("{base}{path}"))
        .await
        .expect("the console answers");
    assert!(answer.status().is_success(), "{path}: {}", answer.status());
    answer.text().await.expect("a page")
}

#[tokio::test]
async fn the_fleet_says_ready_or_paused_and_why_a_claim_names_its_replica_and_a_missing_queue_reads_not_declared(
) {
    let env = TestEnv::new(MockConfig::default()).await;
    let worker = env.start_worker().await;
    env.publish_jobs(&person_jobs("fleet", 3)).await;
    env.wait_for_rows(3, WITHIN).await;
    // The worker recorded itself in the claims it took.
    let (claimed_by, replicas): (Option<uuid::Uuid>, i64) = sqlx::query_as(
        "SELECT (SELECT replica_id FROM job_claims WHERE job_id = 'fleet-0'),
                (SELECT count(*) FROM worker_replicas
                  WHERE replica_id = (SELECT replica_id FROM job_claims WHERE job_id = 'fleet-0'))",
    )
    .fetch_one(env.store.pool())
    .await
    .expect("claims");
    let replica = claimed_by.expect("the claim names its replica");
    assert_eq!(
        replicas, 1,
        "the claim's replica is the worker's heartbeat row"
    );
    // A claim in progress (a row of its own: the worker's finish too fast to look at).
    sqlx::query(
        "INSERT INTO job_claims (job_id, identity_digest, owner, lease_until, attempts, replica_id)
         VALUES ('held', 'd', gen_random_uuid(), now() + interval '1 minute', 2, $1)",
    )
    .bind(replica)
    .execute(env.store.pool())
    .await
    .expect("a claim");
    // A second replica, paused, written by the worker's own readiness writer.
    let paused = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO worker_replicas (replica_id, heartbeat_at) VALUES ($1, now() + interval '1 minute')",
    )
    .bind(paused)
    .execute(env.store.pool())
    .await
    .expect("a replica");
    id2meta::budget::readiness::write(
        env.store.pool(),
        paused,
        Some("paused by an account or environment error: Forbidden.AccountAccessDenied (account)"),
    )
    .await
    .expect("readiness");

    // The console watches job queues nobody declared (the interactive lane
    // included), without the management API: the passive declare's path.
    let mut config = env.config.clone();
    config.jobs_queue = format!("test.{}.undeclared", uuid::Uuid::new_v4().simple());
    let shutdown = CancellationToken::new();
    let settings = ConsoleSettings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        token: None,
        management_url: None,
    };
    let running = console::start(config.clone(), settings, shutdown.clone())
        .await
        .expect("the console starts");
    let base = format!("http://{}", running.addr);

    let short = |id: uuid::Uuid| id.simple().to_string()[..8].to_string();
    let overview = eventually("the worker reports itself ready", WITHIN, || async {
        let page = page_text(&base, "/").await;
        page.contains("<td class=\"readiness\"><span class=\"ok\"")
            .then_some(page)
    })
    .await;
    assert!(overview.contains(&short(replica)));
    assert!(
        overview.contains("paused: paused by an account or environment error: Forbidden.AccountAccessDenied (account)"),
        "the paused replica's cause"
    );
    assert!(overview.contains(&format!("{}.interactive", config.jobs_queue)));
    assert_eq!(
        overview.matches("not declared").count(),
        2,
        "both missing job queues read plainly"
    );
    for raw in ["NOT_FOUND", "NOT-FOUND", "protocol error", "404"] {
        assert!(
            !overview.contains(raw),
            "a raw broker error on the page: {raw}"
        );
    }

    let job = page_text(&base, "/jobs/held").await;
    assert!(
        job.contains(&format!("replica <code>{}</code>", short(replica))),
        "the claim's replica, not its task token"
    );
    assert!(job.contains("attempts so far"));

    shutdown.cancel();
    running.wait().await;
    worker.stop().await;
    env.cleanup().await;
}
