//! The limiter with a capped bulk queue, on tokio's paused clock: the queue keeps
//! to its allowance in every window, the calls it cannot make go to the other
//! queues (work-conserving), a cap alone leaves the rest of the allowance
//! unused, and an interactive job of a capped queue counts against its cap.

use super::*;
use crate::pipeline::limiter::weighted_tests::callers;

const SECOND: Duration = Duration::from_secs(1);

/// Runs `classes` for `seconds` against a limiter of 20 per second whose queue 1
/// is capped at `cap`; returns the calls made.
async fn run(cap: u32, classes: &[Class], seconds: u64) -> Vec<(Instant, Class)> {
    let limiter = Limiter::weighted(20, SECOND, &[1, 1]);
    limiter.cap_queue(1, SECOND);
    limiter.set_queue_allowance(1, cap);
    let (log, handles) = callers(&limiter, classes, 8);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    handles.iter().for_each(|h| h.abort());
    let calls = log.lock().unwrap().clone();
    calls
}

/// The most calls matching `of` in any window of one second.
fn most_in_a_second(calls: &[(Instant, Class)], of: impl Fn(Class) -> bool) -> usize {
    let times: Vec<Instant> = calls
        .iter()
        .filter(|(_, c)| of(*c))
        .map(|(t, _)| *t)
        .collect();
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t < times[i] + SECOND)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(start_paused = true)]
async fn a_capped_queue_keeps_to_its_cap_and_the_other_queue_takes_the_rest() {
    let calls = run(5, &[Class::Bulk(0), Class::Bulk(1)], 10).await;
    assert!(most_in_a_second(&calls, |c| c == Class::Bulk(1)) <= 5);
    assert!(most_in_a_second(&calls, |_| true) <= 20);
    let capped = calls.iter().filter(|(_, c)| *c == Class::Bulk(1)).count();
    assert!(capped >= 45, "the capped queue made {capped} calls in 10 s");
    // Work-conserving: what the cap leaves goes to queue 0, not to waste.
    assert!(calls.len() >= 190, "{} calls in 10 s", calls.len());
}

#[tokio::test(start_paused = true)]
async fn a_capped_queue_alone_stays_under_its_cap_and_the_rest_goes_unused() {
    let calls = run(5, &[Class::Bulk(1)], 5).await;
    assert!(most_in_a_second(&calls, |_| true) <= 5);
    assert!(calls.len() >= 20, "{} calls in 5 s", calls.len());
}

#[tokio::test(start_paused = true)]
async fn an_interactive_job_of_a_capped_queue_counts_against_its_cap() {
    let calls = run(3, &[Class::Urgent(1), Class::Bulk(0)], 5).await;
    assert!(most_in_a_second(&calls, |c| c == Class::Urgent(1)) <= 3);
    // The lane itself and interactive jobs of an uncapped queue are not capped.
    let calls = run(3, &[Class::Urgent(0), Class::Interactive], 5).await;
    assert!(calls.len() >= 95, "{} calls in 5 s", calls.len());
}

#[tokio::test(start_paused = true)]
async fn a_closed_cap_holds_only_its_queue_until_it_opens() {
    let limiter = Limiter::weighted(20, SECOND, &[1, 1]);
    limiter.cap_queue(1, SECOND);
    let (log, handles) = callers(&limiter, &[Class::Bulk(0), Class::Bulk(1)], 8);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before: Vec<Class> = log.lock().unwrap().iter().map(|(_, c)| *c).collect();
    assert!(before.len() >= 55 && before.iter().all(|c| *c == Class::Bulk(0)));
    limiter.set_queue_allowance(1, 4);
    tokio::time::sleep(Duration::from_secs(3)).await;
    handles.iter().for_each(|h| h.abort());
    let after = log.lock().unwrap().len() - before.len();
    let capped = log
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, c)| *c == Class::Bulk(1))
        .count();
    assert!(
        (9..=12).contains(&capped),
        "{capped} calls once opened at 4/s"
    );
    assert!(after >= 55, "{after} calls in 3 s");
    assert_eq!(limiter.queue_in_window(0), None);
}
