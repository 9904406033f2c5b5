//! The limiter with several bulk queues, on tokio's paused clock: calls split
//! by weight while every queue waits, the whole allowance to whoever waits,
//! interactive jobs still first, and the window's bound unchanged.

use std::sync::{Arc, Mutex};

use super::*;

const SECOND: Duration = Duration::from_secs(1);

/// Each call's instant and class, in order.
pub(super) type CallLog = Arc<Mutex<Vec<(Instant, Class)>>>;

/// Starts `tasks` tasks per class that acquire in a loop, logging each call's class.
pub(super) fn callers(
    limiter: &Limiter,
    classes: &[Class],
    tasks: usize,
) -> (CallLog, Vec<tokio::task::JoinHandle<()>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for class in classes {
        for _ in 0..tasks {
            let (limiter, log, class) = (limiter.clone(), log.clone(), *class);
            handles.push(tokio::spawn(async move {
                loop {
                    limiter.acquire_for(class).await;
                    log.lock().unwrap().push((Instant::now(), class));
                }
            }));
        }
    }
    (log, handles)
}

fn count(calls: &[(Instant, Class)], class: Class) -> usize {
    calls.iter().filter(|(_, c)| *c == class).count()
}

#[tokio::test(start_paused = true)]
async fn backlogged_queues_split_every_second_by_weight() {
    let limiter = Limiter::weighted(20, SECOND, &[3, 1]);
    let (log, handles) = callers(&limiter, &[Class::Bulk(0), Class::Bulk(1)], 10);
    tokio::time::sleep(Duration::from_secs(10)).await;
    handles.iter().for_each(|h| h.abort());
    let calls = log.lock().unwrap().clone();
    assert!(calls.len() >= 190, "the allowance is used: {}", calls.len());
    // Every run of 20 consecutive calls (one window's worth) is 15:5 within one.
    for run in calls.windows(20) {
        let light = count(run, Class::Bulk(1));
        assert!(
            (4..=6).contains(&light),
            "{light} of 20 for the light queue"
        );
    }
    for (i, (t, _)) in calls.iter().enumerate() {
        let in_second = calls[i..]
            .iter()
            .take_while(|(s, _)| *s < *t + SECOND)
            .count();
        assert!(in_second <= 20, "{in_second} calls in a second");
    }
}

#[tokio::test(start_paused = true)]
async fn a_queue_alone_gets_the_whole_allowance_at_once() {
    let limiter = Limiter::weighted(20, SECOND, &[3, 1]);
    let (log, handles) = callers(&limiter, &[Class::Bulk(1)], 10);
    tokio::time::sleep(Duration::from_secs(5)).await;
    handles.iter().for_each(|h| h.abort());
    let calls = log.lock().unwrap().len();
    assert!(
        calls >= 95,
        "the light queue alone made {calls} calls in 5 s"
    );
}

#[tokio::test(start_paused = true)]
async fn an_interactive_job_takes_the_next_call_over_every_bulk_queue() {
    let limiter = Limiter::weighted(10, SECOND, &[3, 1]);
    let (log, handles) = callers(&limiter, &[Class::Bulk(0), Class::Bulk(1)], 10);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let asked = Instant::now();
    let waited = limiter.acquire_for(Class::Interactive).await;
    // The next free call, one spacing (100 ms) at most.
    assert!(waited <= Duration::from_millis(101), "waited {waited:?}");
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| *t > asked)
            .count()
            <= 1
    );
    handles.iter().for_each(|h| h.abort());
}

#[tokio::test(start_paused = true)]
async fn a_queue_index_the_limiter_does_not_know_is_served_as_the_first() {
    let limiter = Limiter::weighted(5, SECOND, &[1]);
    let waited = tokio::time::timeout(SECOND, limiter.acquire_for(Class::Bulk(7))).await;
    assert!(waited.is_ok());
}
