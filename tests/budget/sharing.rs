//! The budget shared as replicas come and go: a dead one's share taken up, a
//! newcomer joining, and a replica that loses the database stopping first.

use std::time::{Duration, Instant};

use crate::replicas::*;

#[tokio::test]
async fn three_replicas_use_the_budget_and_take_up_a_dead_ones_share_within_seconds() {
    let db = Database::fresh().await;
    let calls = Calls::default();
    let mut replicas = Vec::new();
    for i in 0..3 {
        replicas.push(Replica::start(&db, i, &calls).await);
    }
    wait_until(
        "the budget split three ways",
        Duration::from_secs(8),
        || {
            replicas.iter().map(|r| r.limiter.allowance()).sum::<u32>() == Q as u32
                && replicas.iter().all(|r| r.limiter.is_open())
        },
    )
    .await;
    let joined = Instant::now();
    sleep_until(joined + Duration::from_secs(4)).await;
    assert_budget_used(
        &times(&calls),
        joined,
        joined + Duration::from_secs(4),
        "three replicas",
    );

    let killed = Instant::now();
    replicas.remove(0).kill();
    sleep_until(killed + Duration::from_millis(6500)).await;
    let t = times(&calls);
    assert_budget_used(
        &t,
        killed + Duration::from_millis(3500),
        killed + Duration::from_millis(6500),
        "two replicas, 3.5 s after the third died",
    );
    let busiest = busiest_second(&t);
    eprintln!(
        "measured: busiest second {busiest}; full budget again {:?} after the kill",
        taken_up(&t, killed)
    );
    assert!(busiest as f64 <= Q, "{busiest} calls in one second");
    finish(db, replicas).await;
}

#[tokio::test]
async fn a_newcomer_joins_without_pushing_the_total_over_the_budget() {
    let db = Database::fresh().await;
    let calls = Calls::default();
    let mut replicas = vec![
        Replica::start(&db, 0, &calls).await,
        Replica::start(&db, 1, &calls).await,
    ];
    wait_until("two replicas joined", Duration::from_secs(5), || {
        replicas.iter().all(|r| r.limiter.is_open())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let arrived = Instant::now();
    replicas.push(Replica::start(&db, 2, &calls).await);
    let newcomer = replicas[2].limiter.clone();
    wait_until("the newcomer has its share", Duration::from_secs(8), || {
        newcomer.allowance() == Q as u32 / 3
    })
    .await;
    let opened = Instant::now();
    sleep_until(opened + Duration::from_secs(2)).await;

    let t = times(&calls);
    let busiest = busiest_second(&t);
    eprintln!(
        "measured: newcomer joined {:?} after starting; busiest second {busiest}",
        opened - arrived
    );
    assert!(busiest as f64 <= Q, "{busiest} calls in one second");
    assert_budget_used(
        &t,
        opened,
        opened + Duration::from_secs(2),
        "after the join",
    );
    let newcomers_calls = calls_of(&calls, 2).len();
    // Its share for 2 s is 30 calls: three quarters of it at least.
    assert!(newcomers_calls >= 22, "the newcomer got its share");
    // From one window after it opened, the others make room: a third a window each.
    for i in 0..2 {
        let late = calls_of(&calls, i)
            .into_iter()
            .filter(|&c| c >= opened + Duration::from_millis(1010))
            .collect::<Vec<_>>();
        assert!(
            busiest_second(&late) as u32 <= Q as u32 / 3,
            "replica {i} kept more than its share"
        );
    }
    assert!(opened - arrived < Duration::from_secs(4), "joined promptly");
    finish(db, replicas).await;
}

#[tokio::test]
async fn a_replica_that_loses_the_database_stops_calling_before_the_other_takes_its_share() {
    let db = Database::fresh().await;
    let calls = Calls::default();
    let healthy = Replica::start(&db, 0, &calls).await;
    let cut_off = Replica::start(&db, 1, &calls).await;
    wait_until("both joined", Duration::from_secs(5), || {
        healthy.limiter.is_open() && cut_off.limiter.is_open()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let lost = Instant::now();
    cut_off.pool.close().await;
    let limiter = cut_off.limiter.clone();
    // The others may count it dead 2 s (the TTL) after its last heartbeat.
    wait_until(
        "the cut-off replica paused",
        Duration::from_millis(1700),
        || !limiter.is_open(),
    )
    .await;
    let paused = Instant::now();
    sleep_until(lost + Duration::from_millis(6500)).await;

    let t = times(&calls);
    let busiest = busiest_second(&t);
    eprintln!(
        "measured: paused {:?} after losing the database; busiest second {busiest}; \
         full budget again {:?} after",
        paused - lost,
        taken_up(&t, paused).map(|after| after + (paused - lost))
    );
    assert!(busiest as f64 <= Q, "{busiest} calls in one second");
    let late_calls = calls_of(&calls, 1)
        .into_iter()
        .filter(|&c| c > paused)
        .count();
    assert_eq!(late_calls, 0, "no call after pausing");
    assert_budget_used(
        &t,
        lost + Duration::from_millis(3500),
        lost + Duration::from_millis(6500),
        "the healthy replica alone",
    );
    finish(db, vec![healthy, cut_off]).await;
}
