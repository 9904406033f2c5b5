//! Which indexes a read used, from PostgreSQL's statistics
//! (`pg_stat_user_indexes`, `pg_stat_user_tables`): counted before and after
//! a read, once the closed connections' counters have arrived.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::store::Store;

/// How long to wait for the statistics collector to show a page's index scans
/// (PostgreSQL flushes an idle backend's counters within about 10 s).
const STATS_WAIT: Duration = Duration::from_secs(15);

/// The indexes (and table scans) counted since `before`, once the closed
/// connections' counters have arrived and stopped changing.
pub(super) async fn scanned_since(
    observer: &Store,
    before: BTreeMap<String, i64>,
) -> anyhow::Result<(Vec<String>, i64)> {
    let deadline = Instant::now() + STATS_WAIT;
    let mut after = scans(observer).await?;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let again = scans(observer).await?;
        if (again == after && after != before) || Instant::now() >= deadline {
            break;
        }
        after = again;
    }
    let mut indexes = Vec::new();
    let mut seq_scans = 0;
    for (name, count) in &after {
        let grew = count - before.get(name).copied().unwrap_or(0);
        if grew > 0 {
            match name.strip_prefix("seq:") {
                Some(_) => seq_scans += grew,
                None => indexes.push(name.clone()),
            }
        }
    }
    Ok((indexes, seq_scans))
}

/// Index scans per index, and sequential scans of the large tables (`seq:<table>`).
pub(super) async fn scans(store: &Store) -> anyhow::Result<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT indexrelname::text, idx_scan FROM pg_stat_user_indexes
          UNION ALL
         SELECT 'seq:' || relname, seq_scan FROM pg_stat_user_tables
          WHERE relname IN ('verification_results', 'job_claims')",
    )
    .fetch_all(store.pool())
    .await
    .context("reading index statistics")?;
    Ok(rows.into_iter().collect())
}
