//! The job queues' weights and recent call rates (contract revision 3, "Several
//! job queues, weighted"): what the overview shows beside each queue's depth.
//!
//! The weights come from the console's own `ID2META_QUEUE_WEIGHTS` (set it as the
//! workers have it); the rates from `verification_results`, the same window and
//! index as the budget in use ([`super::fleet::calls_per_second`]).

use anyhow::Context;

use super::fleet::RATE_WINDOW_SECONDS;
use crate::config::Config;
use crate::store::Db;

/// One queue on the overview: its weight and share (`None` for the interactive
/// lane, which is served first, outside the shares), cap and recent rate.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueLine {
    pub queue: String,
    pub weight: Option<u32>,
    /// The fraction of the calls it gets while every bulk queue has jobs waiting.
    pub share: Option<f64>,
    /// `ID2META_QUEUE_CAPS`, calls per second across the fleet.
    pub cap: Option<f64>,
    /// Calls per second that settled a job of this queue, last [`RATE_WINDOW_SECONDS`].
    pub rate: f64,
}

/// The interactive lane, then the bulk queues in the order the weights name them.
pub async fn lines(pool: &Db, config: &Config) -> anyhow::Result<Vec<QueueLine>> {
    let calls: Vec<(Option<String>, i64)> = sqlx::query_as(
        "SELECT queue, count(*) FROM verification_results
          WHERE completed_at > now() - make_interval(secs => $1) AND upstream_code IS NOT NULL
          GROUP BY queue",
    )
    .bind(RATE_WINDOW_SECONDS as f64)
    .fetch_all(pool)
    .await
    .context("reading the recent calls by queue")?;
    Ok(assemble(config, &calls))
}

/// The lines from the configuration and the recent calls by queue.
fn assemble(config: &Config, calls: &[(Option<String>, i64)]) -> Vec<QueueLine> {
    let rate = |queue: &str| {
        // Counted whole, then divided: an empty float sum is -0.0, shown "-0.0".
        let calls: i64 = calls
            .iter()
            .filter(|(q, _)| q.as_deref() == Some(queue))
            .map(|(_, n)| *n)
            .sum();
        calls as f64 / RATE_WINDOW_SECONDS as f64
    };
    let bulk = config.bulk_queues();
    let total: u32 = bulk.iter().map(|w| w.weight).sum();
    let lane = config.interactive_queue();
    let mut out = vec![QueueLine {
        rate: rate(&lane),
        queue: lane,
        weight: None,
        share: None,
        cap: None,
    }];
    out.extend(bulk.into_iter().map(|w| {
        QueueLine {
            rate: rate(&w.queue),
            share: Some(f64::from(w.weight) / f64::from(total.max(1))),
            cap: config
                .queue_caps
                .iter()
                .find(|c| c.queue == w.queue)
                .map(|c| c.calls_per_second),
            weight: Some(w.weight),
            queue: w.queue,
        }
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bulk_queue_has_its_share_cap_and_rate_and_the_lane_comes_first() {
        let env = std::collections::HashMap::from([(
            "ID2META_QUEUE_WEIGHTS",
            "id2meta.jobs=1,id2meta.jobs.web=3",
        )]);
        let mut config = Config::from_source(&env).expect("valid");
        config.queue_caps = vec![crate::config::QueueCap {
            queue: "id2meta.jobs".into(),
            calls_per_second: 5.0,
        }];
        let calls = [(Some("id2meta.jobs.web".to_string()), 300), (None, 7)];
        let lines = assemble(&config, &calls);
        let names: Vec<&str> = lines.iter().map(|l| l.queue.as_str()).collect();
        assert_eq!(
            names,
            [
                "id2meta.jobs.interactive",
                "id2meta.jobs",
                "id2meta.jobs.web"
            ]
        );
        assert_eq!(lines[0].share, None);
        assert_eq!(lines[1].share, Some(0.25));
        assert_eq!(lines[1].cap, Some(5.0));
        assert_eq!(lines[2].rate, 300.0 / RATE_WINDOW_SECONDS as f64);
        assert_eq!(format!("{:.1}", lines[1].rate), "0.0");
    }
}
