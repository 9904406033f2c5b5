//! `id2meta batch`: how far a batch has come, from the results table and the
//! size `enqueue` recorded.
//!
//! Pending and ETA need the recorded size; without it the counts are still shown.
//! The rate is settled jobs over the time from the first job received to the
//! last completed, so it reflects the workers' pace, not when someone looked.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::Duration;

use anyhow::bail;

use super::table;
use crate::audit::Actor;
use crate::config::Config;
use crate::progress::human;
pub use crate::progress::BatchProgress;
use crate::spend::Pricing;
use crate::store::Store;

/// Show a batch's progress: counts by status, pending, rate, ETA
///
/// Prints the count of settled jobs by status (all seven: match, mismatch,
/// not_found, invalid, rejected, failed, cancelled), the total done, the number
/// enqueued (as recorded by `id2meta enqueue`), pending = enqueued - done,
/// the rate (done jobs per second between the first job received and the
/// last completed) and an ETA = pending / rate; the billed calls (BizCode 1
/// or 2 from the upstream, not reused; `not_found` is free) and their spend at
/// ID2META_PRICE_PER_CALL in ID2META_CURRENCY; then the queue(s) its jobs were
/// consumed from with their counts. Reads DATABASE_URL.
///
/// With --cancel, cancels the batch instead: every replica sees it within a
/// second, and each job of the batch not yet called (including jobs that
/// arrive later) settles as `cancelled` with a row and a completion, without
/// an upstream call. Calls already in flight finish normally. Idempotent;
/// each cancel is recorded in the audit log (`id2meta audit`).
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct BatchArgs {
    /// The batch_id the jobs were enqueued with.
    pub batch_id: String,
    /// Refresh every second until nothing is pending (needs the enqueued
    /// count; Ctrl-C stops).
    #[arg(long, conflicts_with = "cancel")]
    pub watch: bool,
    /// Cancel the batch: its jobs not yet called settle as `cancelled`.
    #[arg(long)]
    pub cancel: bool,
}

impl BatchProgress {
    /// The report `id2meta batch` prints, spend at `pricing`.
    pub fn render(&self, batch_id: &str, pricing: &Pricing) -> String {
        let unknown = || "unknown".to_string();
        let mut rows: Vec<Vec<String>> = self
            .by_status
            .iter()
            .map(|(s, n)| vec![s.to_string(), n.to_string()])
            .collect();
        rows.push(vec!["done".into(), self.done.to_string()]);
        rows.push(vec!["billed".into(), self.billed.to_string()]);
        rows.push(vec!["spend".into(), pricing.spend(self.billed)]);
        rows.push(vec![
            "enqueued".into(),
            self.enqueued.map_or_else(
                || "unknown (not recorded by id2meta enqueue)".into(),
                |n| n.to_string(),
            ),
        ]);
        rows.push(vec![
            "pending".into(),
            self.pending.map_or_else(unknown, |n| n.to_string()),
        ]);
        rows.push(vec![
            "rate".into(),
            self.rate.map_or_else(unknown, |r| format!("{r:.1} jobs/s")),
        ]);
        rows.push(vec!["eta".into(), self.eta.map_or_else(unknown, human)]);
        let mut out = String::new();
        let _ = writeln!(out, "batch {batch_id}");
        out.push_str(&table::render(&[], &rows));
        out
    }
}

pub async fn run(args: BatchArgs) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let store = Store::open(&config.database(), 1).await?;
    if args.cancel {
        return cancel(&store, &args.batch_id).await;
    }
    let clear = args.watch && std::io::stdout().is_terminal();
    loop {
        let counts = store.batch_counts(&args.batch_id).await?;
        if counts.total() == 0 && counts.enqueued.is_none() && !args.watch {
            bail!(
                "batch {:?} has no results and no recorded enqueue",
                args.batch_id
            );
        }
        let progress = BatchProgress::from_counts(&counts);
        if clear {
            // Clear the screen and go home, so the report redraws in place.
            print!("\x1b[2J\x1b[H");
        }
        print!("{}", progress.render(&args.batch_id, &config.pricing));
        let queues = store.batch_queues(&args.batch_id).await?;
        if !queues.is_empty() {
            println!("{}", queues_line(&queues));
        }
        if let Some(at) = store.batch_cancelled_at(&args.batch_id).await? {
            println!("cancelled at {}", at.format("%Y-%m-%dT%H:%M:%SZ"));
        }
        if !args.watch || progress.is_finished() {
            return Ok(());
        }
        if progress.enqueued.is_none() {
            println!(
                "(--watch waits for pending to reach 0, which needs the enqueued count; stopping)"
            );
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// `queues: a (120), b (30)`: where the batch's settled jobs came from.
fn queues_line(queues: &[(Option<String>, i64)]) -> String {
    let named: Vec<String> = queues
        .iter()
        .map(|(queue, n)| format!("{} ({n})", queue.as_deref().unwrap_or("not recorded")))
        .collect();
    format!("queues: {}", named.join(", "))
}

/// Records the cancellation (and its audit row); the replicas' refresh does the rest.
async fn cancel(store: &Store, batch_id: &str) -> anyhow::Result<()> {
    // Tables first: a cancel against a database no worker has migrated yet still holds.
    store.migrate().await?;
    let at = store.cancel_batch(batch_id, &Actor::cli()).await?;
    println!(
        "batch {batch_id} cancelled at {}: its jobs not yet called settle as cancelled",
        at.format("%Y-%m-%dT%H:%M:%SZ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queues_line_names_each_queue_with_its_count() {
        let queues = [(Some("id2meta.jobs".to_string()), 2), (None, 1)];
        assert_eq!(
            queues_line(&queues),
            "queues: id2meta.jobs (2), not recorded (1)"
        );
    }
    use crate::status::Status;
    use crate::store::BatchCounts;
    use chrono::TimeZone;

    fn counts(enqueued: Option<i64>) -> BatchCounts {
        let first = chrono::Utc
            .with_ymd_and_hms(2026, 11, 28, 13, 0, 0)
            .unwrap();
        BatchCounts {
            by_status: vec![("match".into(), 30), ("invalid".into(), 10)],
            first_received: Some(first),
            last_completed: Some(first + chrono::Duration::seconds(20)),
            billed: 25,
            enqueued,
        }
    }

    #[test]
    fn every_status_is_listed_and_pending_rate_and_eta_follow() {
        let progress = BatchProgress::from_counts(&counts(Some(100)));
        assert_eq!(progress.by_status.len(), 7);
        assert_eq!(progress.by_status[0], (Status::Match, 30));
        assert_eq!(progress.by_status[2], (Status::NotFound, 0));
        assert_eq!(progress.by_status[3], (Status::Invalid, 10));
        assert_eq!(progress.done, 40);
        assert_eq!(progress.pending, Some(60));
        assert_eq!(progress.rate, Some(2.0));
        assert_eq!(progress.eta, Some(Duration::from_secs(30)));
        assert!(!progress.is_finished());
        let text = progress.render("b1", &Pricing::default());
        for expected in [
            "batch b1",
            "billed     25",
            "spend      USD 0.75",
            "not_found",
            "pending    60",
            "2.0 jobs/s",
            "30s",
        ] {
            assert!(text.contains(expected), "{expected} missing from\n{text}");
        }
    }

    #[test]
    fn without_a_recorded_size_pending_and_eta_are_unknown() {
        let progress = BatchProgress::from_counts(&counts(None));
        assert_eq!((progress.pending, progress.eta), (None, None));
        assert!(!progress.is_finished());
        assert!(progress
            .render("b1", &Pricing::default())
            .contains("unknown (not recorded"));
    }

    #[test]
    fn a_batch_with_more_done_than_enqueued_is_finished() {
        let progress = BatchProgress::from_counts(&counts(Some(25)));
        assert_eq!(progress.pending, Some(0));
        assert!(progress.is_finished());
    }

    #[test]
    fn an_empty_batch_has_no_rate() {
        let progress = BatchProgress::from_counts(&BatchCounts {
            enqueued: Some(5),
            ..BatchCounts::default()
        });
        assert_eq!(
            (progress.done, progress.rate, progress.eta),
            (0, None, None)
        );
    }

    #[test]
    fn durations_read_like_a_clock() {
        assert_eq!(human(Duration::from_secs(6)), "6s");
        assert_eq!(human(Duration::from_secs(245)), "4m05s");
        assert_eq!(human(Duration::from_secs(3723)), "1h02m03s");
    }
}
