//! What the demo prints: the live progress line while the batch runs and the
//! summary after it (statuses, upstream calls, rates against the budget).

use std::io::Write;
use std::time::Duration;

use super::batch::SCRIPTED_FAILED;
use crate::mock::MockHandle;
use crate::spend::Pricing;
use crate::status::Status;

/// Jobs settled with `status`.
fn count(by_status: &[(String, i64)], status: Status) -> i64 {
    by_status
        .iter()
        .find(|(s, _)| s == status.as_str())
        .map(|(_, n)| *n)
        .unwrap_or(0)
}

/// One line of live progress: redrawn on a terminal, appended in a log.
pub(super) fn progress(
    by_status: &[(String, i64)],
    total: i64,
    elapsed: Duration,
    calls: u64,
    terminal: bool,
) {
    let done: i64 = by_status.iter().map(|(_, n)| n).sum();
    let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
    let parts: Vec<String> = Status::ALL
        .iter()
        .map(|s| format!("{} {}", s, count(by_status, *s)))
        .collect();
    let line = format!(
        "  settled {done:>5}/{total}  [{}]  upstream calls {calls:>5}  {rate:>6.1} jobs/s ",
        parts.join(", ")
    );
    if terminal {
        eprint!("\r{line}");
    } else {
        eprintln!("{line}");
    }
    let _ = std::io::stderr().flush();
}

/// `elapsed`: (the whole batch, (the time and upstream calls until all but the jobs
/// scripted to fail every attempt were settled: their retries back off for seconds by
/// design, and would hide the rate reached)).
pub(super) fn summary(
    batch_id: &str,
    by_status: &[(String, i64)],
    total: i64,
    elapsed: (Duration, (Duration, u64)),
    mock: &MockHandle,
    (qps, pricing): (f64, &Pricing),
) {
    let stats = mock.stats();
    let secs = elapsed.0.as_secs_f64().max(0.001);
    let (bulk, bulk_calls) = (elapsed.1 .0.as_secs_f64().max(0.001), elapsed.1 .1 as f64);
    let called = total - count(by_status, Status::Invalid);
    println!("\nid2meta demo: batch {batch_id}");
    println!("  {:<28} {:>10}", "status", "jobs");
    for s in Status::ALL {
        println!("  {:<28} {:>10}", s.as_str(), count(by_status, s));
    }
    println!(
        "  {:<28} {:>10}",
        "total settled",
        by_status.iter().map(|(_, n)| n).sum::<i64>()
    );
    println!();
    println!("  {:<28} {:>10}", "upstream calls", stats.calls);
    println!(
        "  {:<28} {:>10}",
        "  billed (BizCode 1 and 2)", stats.billed_calls
    );
    println!(
        "  {:<28} {:>10}",
        "  spend",
        pricing.spend(i64::try_from(stats.billed_calls).unwrap_or(i64::MAX))
    );
    println!(
        "  {:<28} {:>10}",
        "  retries",
        stats.calls.saturating_sub(called.max(0) as u64)
    );
    println!(
        "  {:<28} {:>10}",
        "  throttled by upstream", stats.throttled
    );
    for (code, n) in &stats.by_code {
        println!("    {code:<26} {n:>10}");
    }
    println!();
    let bulk_jobs = (total - SCRIPTED_FAILED as i64) as f64;
    println!("  {:<28} {:>10.1} s", "elapsed, whole batch", secs);
    println!("  {:<28} {:>10.1} s", "elapsed, all but the failing", bulk);
    println!(
        "  {:<28} {:>10.1} jobs/s",
        "throughput (all but failing)",
        bulk_jobs / bulk
    );
    println!(
        "  {:<28} {:>10.1} calls/s ({:.0}% of the {qps} QPS budget)",
        "upstream rate (same span)",
        bulk_calls / bulk,
        100.0 * bulk_calls / bulk / qps
    );
    println!(
        "  {:<28} {:>10}",
        "most calls in one second", stats.max_calls_in_one_second
    );
    println!("\n  rows: id2meta results --batch-id {batch_id}");
}
