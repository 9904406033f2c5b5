//! The limiter's behaviour on tokio's paused clock: the window's bound, closing,
//! lowering, permits, and the order of the two lanes.

use super::*;

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test(start_paused = true)]
async fn no_second_holds_more_calls_than_the_allowance() {
    let limiter = Limiter::new(10, SECOND);
    let started = Instant::now();
    let mut sent = Vec::new();
    while started.elapsed() < Duration::from_secs(5) {
        limiter.acquire().await;
        sent.push(Instant::now());
    }
    for (i, &t) in sent.iter().enumerate() {
        let in_second = sent[i..].iter().take_while(|&&s| s < t + SECOND).count();
        assert!(in_second <= 10, "{in_second} calls from {i}");
    }
    assert!(sent.len() >= 49, "the allowance is used: {}", sent.len());
}

#[tokio::test(start_paused = true)]
async fn a_closed_limiter_hands_out_nothing_until_opened() {
    let limiter = Limiter::closed(SECOND);
    assert!(!limiter.is_open());
    let waiting = tokio::spawn({
        let limiter = limiter.clone();
        async move { limiter.acquire().await }
    });
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(!waiting.is_finished());
    limiter.set_allowance(5);
    let waited = tokio::time::timeout(SECOND, waiting).await;
    assert!(matches!(waited, Ok(Ok(_))), "the waiter got its token");
}

#[tokio::test(start_paused = true)]
async fn a_lower_allowance_counts_the_calls_already_made() {
    let limiter = Limiter::new(20, SECOND);
    for _ in 0..20 {
        limiter.acquire().await;
    }
    limiter.set_allowance(5);
    let lowered = Instant::now();
    // Twenty calls are still in the window: the next waits until sixteen aged out.
    limiter.acquire().await;
    assert!(lowered.elapsed() >= Duration::from_millis(400));
    assert_eq!(limiter.in_window(), 5);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_permit_counts_nothing_and_others_wait_behind_a_held_one() {
    let limiter = Limiter::new(1, SECOND);
    let permit = limiter.reserve().await;
    let behind = tokio::spawn({
        let limiter = limiter.clone();
        async move { limiter.acquire().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!behind.is_finished(), "the permit holds the turn");
    drop(permit);
    let waited = tokio::time::timeout(Duration::from_millis(10), behind).await;
    assert!(
        matches!(waited, Ok(Ok(_))),
        "the dropped permit used no room"
    );
    assert_eq!(limiter.in_window(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_on_a_closed_limiter_goes_as_soon_as_it_opens() {
    let limiter = Limiter::new(1, SECOND);
    limiter.acquire().await;
    limiter.close();
    let waiting = tokio::spawn({
        let limiter = limiter.clone();
        async move { limiter.acquire().await }
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!waiting.is_finished());
    limiter.set_allowance(2);
    let waited = tokio::time::timeout(Duration::from_millis(10), waiting).await;
    assert!(
        matches!(waited, Ok(Ok(_))),
        "the old call aged out long ago"
    );
}

/// Spawns a waiter of `lane` that records `label` once it has its token.
fn waiter(
    limiter: &Limiter,
    lane: Priority,
    label: &'static str,
    order: &Arc<Mutex<Vec<&'static str>>>,
) -> tokio::task::JoinHandle<()> {
    let limiter = limiter.clone();
    let order = order.clone();
    tokio::spawn(async move {
        limiter.acquire_as(lane).await;
        order.lock().unwrap().push(label);
    })
}

#[tokio::test(start_paused = true)]
async fn interactive_waiters_overtake_bulk_waiters_already_queued() {
    let limiter = Limiter::new(1, SECOND);
    limiter.acquire().await;
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for label in ["b1", "b2", "b3"] {
        tasks.push(waiter(&limiter, Priority::Bulk, label, &order));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // b1 holds the turn, waiting for room; b2 and b3 queue behind it.
    tasks.push(waiter(&limiter, Priority::Interactive, "i1", &order));
    tokio::time::sleep(Duration::from_millis(10)).await;
    tasks.push(waiter(&limiter, Priority::Interactive, "i2", &order));
    let started = Instant::now();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), ["i1", "i2", "b1", "b2", "b3"]);
    // One call per window all along: the order changed, not the bound.
    assert!(started.elapsed() >= Duration::from_millis(4_900));
}

#[tokio::test(start_paused = true)]
async fn an_interactive_waiter_takes_the_next_free_call() {
    let limiter = Limiter::new(2, SECOND);
    limiter.acquire().await;
    limiter.acquire().await;
    let order = Arc::new(Mutex::new(Vec::new()));
    let bulk: Vec<_> = (0..20)
        .map(|_| waiter(&limiter, Priority::Bulk, "b", &order))
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let arrived = Instant::now();
    limiter.acquire_as(Priority::Interactive).await;
    // The window frees its first call one second after it was made.
    assert!(
        arrived.elapsed() <= Duration::from_millis(902),
        "{:?}",
        arrived.elapsed()
    );
    assert!(order.lock().unwrap().is_empty(), "no bulk call went first");
    for task in bulk {
        task.abort();
    }
}

#[tokio::test(start_paused = true)]
async fn bulk_waiters_are_served_in_arrival_order_when_no_interactive_job_waits() {
    let limiter = Limiter::new(5, SECOND);
    let order = Arc::new(Mutex::new(Vec::new()));
    let labels = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"];
    let mut tasks = Vec::new();
    for label in labels {
        tasks.push(waiter(&limiter, Priority::Bulk, label, &order));
        tokio::task::yield_now().await;
    }
    // A burst of interactive work, then none: bulk goes on behind it.
    let interactive = waiter(&limiter, Priority::Interactive, "i", &order);
    let started = Instant::now();
    interactive.await.unwrap();
    for task in tasks {
        task.await.unwrap();
    }
    let order = order.lock().unwrap().clone();
    let bulk: Vec<_> = order.iter().filter(|l| **l != "i").copied().collect();
    assert_eq!(bulk, labels);
    // Eleven calls at five per second: the allowance was used, nobody starved.
    assert!(
        started.elapsed() <= Duration::from_millis(2_100),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_waiter_dropped_while_queued_or_just_served_loses_no_turn() {
    let limiter = Limiter::new(1, SECOND);
    limiter.acquire().await;
    let queued = tokio::spawn({
        let limiter = limiter.clone();
        async move { limiter.acquire_as(Priority::Interactive).await }
    });
    let behind = tokio::spawn({
        let limiter = limiter.clone();
        async move { limiter.acquire().await }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    queued.abort();
    let waited = tokio::time::timeout(Duration::from_secs(2), behind).await;
    assert!(matches!(waited, Ok(Ok(_))), "the turn passed on");
    assert_eq!(limiter.in_window(), 1);
}

#[tokio::test(start_paused = true)]
async fn under_a_steady_backlog_an_interactive_call_waits_at_most_one_spacing() {
    // A replica's share of 50 QPS over three, with a 10 ms margin.
    let limiter = Limiter::new(17, Duration::from_millis(1010));
    let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let backlog: Vec<_> = (0..4)
        .map(|_| {
            let (limiter, calls) = (limiter.clone(), calls.clone());
            tokio::spawn(async move {
                loop {
                    limiter.acquire().await;
                    calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (started, before) = (
        Instant::now(),
        calls.load(std::sync::atomic::Ordering::Relaxed),
    );
    let mut longest = Duration::ZERO;
    for _ in 0..80 {
        // Arrivals at every phase of the cadence.
        tokio::time::sleep(Duration::from_millis(37)).await;
        longest = longest.max(limiter.acquire_as(Priority::Interactive).await);
    }
    let made = calls.load(std::sync::atomic::Ordering::Relaxed) - before + 80;
    let rate = made as f64 / started.elapsed().as_secs_f64();
    for task in backlog {
        task.abort();
    }
    // One spacing is 1010.1 ms / 17 = 59.4 ms; bursts with a hole made it ~550.
    assert!(longest <= Duration::from_millis(61), "{longest:?}");
    // And the allowance is still used: 17 per 1010.1 ms is 16.83 calls/s.
    assert!(rate >= 16.7, "{rate:.2} calls/s");
}

#[tokio::test(start_paused = true)]
async fn no_token_is_handed_out_after_the_shares_deadline_though_nobody_closed_the_limiter() {
    let limiter = Limiter::closed(SECOND);
    let until = Instant::now() + Duration::from_millis(1500);
    limiter.set_share(5, Some(until));
    limiter.acquire().await;
    // As a replica frozen past its lease finds it on resuming: the budget task
    // that would close the limiter has not run, the deadline alone binds.
    tokio::time::sleep_until(until).await;
    assert_eq!(limiter.allowance(), 0);
    let waiting = tokio::spawn({
        let limiter = limiter.clone();
        async move { limiter.acquire().await }
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!waiting.is_finished(), "no token after the deadline");
    assert_eq!(limiter.in_window(), 0);
    // A fresh heartbeat's share opens it again.
    limiter.set_share(5, Some(Instant::now() + Duration::from_millis(1500)));
    let waited = tokio::time::timeout(Duration::from_millis(10), waiting).await;
    assert!(matches!(waited, Ok(Ok(_))), "the new share is used at once");
}

#[test]
fn no_token_is_handed_out_under_an_allowance_replaced_before_the_check() {
    let limiter = Limiter::new(1, SECOND);
    let (reserved, on_reserved) = std::sync::mpsc::channel();
    let (go, on_go) = std::sync::mpsc::channel::<()>();
    let waiter = std::thread::spawn({
        let limiter = limiter.clone();
        move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            runtime.block_on(async {
                let permit = limiter.reserve().await;
                reserved.send(()).unwrap();
                on_go.recv().unwrap();
                permit.take().await
            })
        }
    });
    on_reserved.recv().unwrap();
    // Hold the limiter's lock: the permit's holder stops at it, in the middle of
    // counting its call.
    let book = limiter.lock_sends();
    go.send(()).unwrap();
    // Nothing to await between the signal and the lock: give it time to get there.
    std::thread::sleep(Duration::from_millis(50));
    let closer = std::thread::spawn({
        let limiter = limiter.clone();
        move || limiter.close()
    });
    std::thread::sleep(Duration::from_millis(50));
    let closed_during_the_check = closer.is_finished();
    drop(book);
    closer.join().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let token_after_close = waiter.is_finished();
    assert!(
        !(closed_during_the_check && token_after_close),
        "close() returned, then a token was handed out under the old allowance"
    );
    limiter.set_allowance(1);
    waiter.join().unwrap();
}
