//! Billed calls over a span of time, from the results table: the console's
//! "today" and "this month", and the monthly report.
//!
//! A billed call is a row [`crate::spend::BILLED_ROWS`] selects; the partial index
//! `verification_results_billed` (migration `20261206000401`) holds exactly those
//! rows by completion, so a month of millions is counted from the index alone.

use std::sync::LazyLock;

use anyhow::Context;
use chrono::{DateTime, Datelike, TimeZone, Utc};

use super::Store;

static BILLED_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT count(*) FROM verification_results
          WHERE completed_at >= $1 AND completed_at < $2 AND {}",
        crate::spend::BILLED_ROWS
    )
});

impl Store {
    /// Billed calls of rows completed in `[from, to)`.
    pub async fn billed_calls(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> anyhow::Result<i64> {
        sqlx::query_scalar(&BILLED_SQL)
            .bind(from)
            .bind(to)
            .fetch_one(self.db())
            .await
            .context("counting billed calls")
    }
}

/// Midnight (UTC) of `now`'s day, and the first moment of its month.
pub fn day_and_month_start(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let day = now.date_naive();
    let start = |d: chrono::NaiveDate| Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN));
    let month = day.with_day(1).unwrap_or(day);
    (start(day), start(month))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn today_and_this_month_start_at_midnight_utc() {
        let now = Utc.with_ymd_and_hms(2026, 12, 6, 18, 40, 12).unwrap();
        let (day, month) = day_and_month_start(now);
        assert_eq!(day, Utc.with_ymd_and_hms(2026, 12, 6, 0, 0, 0).unwrap());
        assert_eq!(month, Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
    }
}
