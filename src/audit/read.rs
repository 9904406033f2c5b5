//! Reading the audit log: newest first, paged by id (keyset), from a moment on.
//! Any executor: the store's `db()` (which PgBouncer's transaction pooling needs).

use anyhow::Context;
use chrono::{DateTime, Utc};

/// The console's page size.
pub const AUDIT_PAGE: i64 = 50;

/// One row of `operator_actions`, as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct Recorded {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: serde_json::Value,
    pub origin: String,
}

/// Rows recorded at or after `since` (all when `None`) with an id below
/// `before` (the previous page's last id; `None` for the first page), newest
/// first, at most `limit`.
pub async fn newest_first<'e>(
    db: impl sqlx::PgExecutor<'e>,
    since: Option<DateTime<Utc>>,
    before: Option<i64>,
    limit: i64,
) -> anyhow::Result<Vec<Recorded>> {
    newest_first_of(db, None, since, before, limit).await
}

/// [`newest_first`], of one action only when `action` is given (the console's
/// filter; `operator_actions_action_id` serves it without walking other actions).
pub async fn newest_first_of<'e>(
    db: impl sqlx::PgExecutor<'e>,
    action: Option<super::Action>,
    since: Option<DateTime<Utc>>,
    before: Option<i64>,
    limit: i64,
) -> anyhow::Result<Vec<Recorded>> {
    sqlx::query_as(
        "SELECT id, at, actor, action, target, detail, origin FROM operator_actions
          WHERE ($1::timestamptz IS NULL OR at >= $1)
            AND ($2::bigint IS NULL OR id < $2)
            AND ($4::text IS NULL OR action = $4)
          ORDER BY id DESC
          LIMIT $3",
    )
    .bind(since)
    .bind(before)
    .bind(limit)
    .bind(action.map(super::Action::as_str))
    .fetch_all(db)
    .await
    .context("reading the audit log")
}

/// Rows by action in `[from, to)`, for the monthly report.
pub async fn counts_by_action<'e>(
    db: impl sqlx::PgExecutor<'e>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "SELECT action, count(*) FROM operator_actions
          WHERE at >= $1 AND at < $2 GROUP BY action ORDER BY action",
    )
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await
    .context("counting the audit log")
}
