//! Writing one audit row.

use anyhow::Context;

use super::{Action, Actor};

/// Appends one row to `operator_actions` through `executor` (a pool, or the
/// transaction of the action itself); returns its id.
///
/// `detail` must hold counts, ids and masks only: every caller builds it from
/// values that are already masked or counted.
pub async fn record<'e, E>(
    executor: E,
    actor: &Actor,
    action: Action,
    target: Option<&str>,
    detail: &serde_json::Value,
) -> anyhow::Result<i64>
where
    E: sqlx::PgExecutor<'e>,
{
    sqlx::query_scalar(
        "INSERT INTO operator_actions (actor, action, target, detail, origin)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(&actor.name)
    .bind(action.as_str())
    .bind(target)
    .bind(detail)
    .bind(actor.origin.as_str())
    // Unnamed: it may run in a transaction behind PgBouncer's transaction pooling.
    .persistent(false)
    .fetch_one(executor)
    .await
    .with_context(|| format!("recording the {action} in the audit log"))
}
