//! The month's records of processing (`id2meta report --month YYYY-MM`): jobs
//! by status and queue, calls made, billed calls and spend, reused verdicts,
//! cancelled jobs, batches, rows scrubbed, identities forgotten and audit
//! actions by kind. Every number is a count over rows completed (or actions
//! recorded) in the month, UTC.

use anyhow::{bail, Context};
use chrono::{DateTime, Months, NaiveDate, TimeZone, Utc};

use crate::store::Store;

/// One month's numbers.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MonthReport {
    pub month: String,
    /// (status, queue, jobs); a NULL queue (rows from before revision 3) is `-`.
    pub jobs: Vec<(String, String, i64)>,
    /// Upstream calls made for the month's jobs (the sum of their attempts).
    pub calls: i64,
    pub billed_calls: i64,
    pub spend: String,
    pub reused: i64,
    pub cancelled: i64,
    pub batches: i64,
    pub rows_scrubbed: i64,
    pub identities_forgotten: i64,
    pub audit_actions: Vec<(String, i64)>,
}

/// `[from, to)` of a `YYYY-MM` month, UTC.
pub fn month_span(month: &str) -> anyhow::Result<(DateTime<Utc>, DateTime<Utc>)> {
    let first = NaiveDate::parse_from_str(&format!("{}-01", month.trim()), "%Y-%m-%d")
        .ok()
        .filter(|_| month.trim().len() == 7);
    let Some(first) = first else {
        bail!("--month must be YYYY-MM, got '{month}'");
    };
    let next = first
        .checked_add_months(Months::new(1))
        .context("--month is too far")?;
    let start = |d: NaiveDate| Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN));
    Ok((start(first), start(next)))
}

/// Counts the month `month` (`YYYY-MM`), spend at `pricing`.
pub async fn month(
    store: &Store,
    month: &str,
    pricing: &crate::spend::Pricing,
) -> anyhow::Result<MonthReport> {
    let (from, to) = month_span(month)?;
    let db = store.db();
    let jobs: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT status, coalesce(queue, '-'), count(*) FROM verification_results
          WHERE completed_at >= $1 AND completed_at < $2
          GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await
    .context("counting the month's jobs")?;
    let (calls, billed, reused, cancelled, batches): (i64, i64, i64, i64, i64) =
        sqlx::query_as(&format!(
            "SELECT coalesce(sum(attempts), 0)::bigint,
                    count(*) FILTER (WHERE {}),
                    count(*) FILTER (WHERE reused_from_job_id IS NOT NULL),
                    count(*) FILTER (WHERE status = 'cancelled'),
                    count(DISTINCT batch_id)
               FROM verification_results WHERE completed_at >= $1 AND completed_at < $2",
            crate::spend::BILLED_ROWS
        ))
        .bind(from)
        .bind(to)
        .fetch_one(db)
        .await
        .context("counting the month's calls")?;
    let rows_scrubbed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM verification_results WHERE scrubbed_at >= $1 AND scrubbed_at < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_one(db)
    .await
    .context("counting the month's scrubbed rows")?;
    let identities_forgotten: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum((detail->>'identities')::bigint), 0)::bigint FROM operator_actions
          WHERE action = 'forget' AND at >= $1 AND at < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_one(db)
    .await
    .context("counting the month's forgotten identities")?;
    let audit_actions = crate::audit::read::counts_by_action(db, from, to).await?;
    Ok(MonthReport {
        month: month.trim().to_string(),
        jobs,
        calls,
        billed_calls: billed,
        spend: pricing.spend(billed),
        reused,
        cancelled,
        batches,
        rows_scrubbed,
        identities_forgotten,
        audit_actions,
    })
}

impl MonthReport {
    /// The report as (section, key, value) lines: the table's and the CSV's rows.
    pub fn lines(&self) -> Vec<[String; 3]> {
        let mut lines = Vec::new();
        for (status, queue, n) in &self.jobs {
            lines.push(["jobs".into(), format!("{status} {queue}"), n.to_string()]);
        }
        for (key, value) in [
            ("calls made", self.calls.to_string()),
            ("billed calls", self.billed_calls.to_string()),
            ("spend", self.spend.clone()),
            ("reused verdicts", self.reused.to_string()),
            ("cancelled", self.cancelled.to_string()),
            ("batches", self.batches.to_string()),
            ("rows scrubbed", self.rows_scrubbed.to_string()),
            (
                "identities forgotten",
                self.identities_forgotten.to_string(),
            ),
        ] {
            lines.push(["totals".into(), key.into(), value]);
        }
        for (action, n) in &self.audit_actions {
            lines.push(["audit".into(), action.clone(), n.to_string()]);
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_spans_its_first_moment_to_the_next_months() {
        let (from, to) = month_span("2026-12").unwrap();
        assert_eq!(from, Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
        assert_eq!(to, Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
        for bad in ["2026-13", "2026-1", "26-12", "2026-12-01", "december"] {
            assert!(month_span(bad).is_err(), "{bad}");
        }
    }
}
