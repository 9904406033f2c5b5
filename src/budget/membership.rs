//! The SQL of the replica table: one heartbeat statement that both announces this
//! replica and reads everyone else, a sweep of long-dead rows, and leaving.
//!
//! Every time comes from the database's `now()`: the replicas may run on hosts
//! whose clocks disagree, but they all ask the same server.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// What one heartbeat saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sighting {
    /// Live replicas, this one included (so at least 1).
    pub live: i64,
    /// Live other replicas that have not yet applied a count taken after
    /// `visible_since` (see [`Heartbeat::visible_since`]).
    pub lagging: i64,
    /// The database's `now()` of this heartbeat: the `heartbeat_at` it wrote.
    pub beat_at: DateTime<Utc>,
}

/// The parameters of one heartbeat.
#[derive(Debug, Clone, Copy)]
pub struct Heartbeat {
    pub replica: Uuid,
    /// Rows whose heartbeat is older than this are dead.
    pub ttl: Duration,
    /// The `beat_at` of the last sighting this replica applied to its limiter.
    pub counted_at: Option<DateTime<Utc>>,
    /// Count as lagging the replicas whose `counted_at` is not after this
    /// (this heartbeat's own `now()` when `None`).
    pub visible_since: Option<DateTime<Utc>>,
    /// Whether this replica is using a share (for `active_since`, which is informative).
    pub active: bool,
}

/// Upserts this replica's row and counts the live ones, in one statement.
///
/// The statement's snapshot does not include its own upsert, hence `1 +` and
/// the exclusion of our own id; it does include every commit that finished
/// before the statement's `now()`, which is what the joining rule relies on.
pub async fn heartbeat(pool: &PgPool, beat: Heartbeat) -> anyhow::Result<Sighting> {
    let (live, lagging, beat_at): (i64, i64, DateTime<Utc>) = sqlx::query_as(
        "WITH me AS (
             INSERT INTO worker_replicas AS r (replica_id, heartbeat_at, counted_at, active_since)
             VALUES ($1, now(), $3::timestamptz, CASE WHEN $5::boolean THEN now() END)
             ON CONFLICT (replica_id) DO UPDATE
                 SET heartbeat_at = excluded.heartbeat_at,
                     counted_at = excluded.counted_at,
                     active_since = CASE WHEN $5::boolean THEN coalesce(r.active_since, now()) END
             RETURNING heartbeat_at
         )
         SELECT 1 + count(*),
                count(*) FILTER (WHERE counted_at IS NULL
                                    OR counted_at <= coalesce($4::timestamptz, now())),
                (SELECT heartbeat_at FROM me)
         FROM worker_replicas
         WHERE replica_id <> $1
           AND heartbeat_at > now() - make_interval(secs => $2::float8)",
    )
    .bind(beat.replica)
    .bind(beat.ttl.as_secs_f64())
    .bind(beat.counted_at)
    .bind(beat.visible_since)
    .bind(beat.active)
    .fetch_one(pool)
    .await
    .context("writing the replica heartbeat")?;
    Ok(Sighting {
        live,
        lagging,
        beat_at,
    })
}

/// Deletes the rows of replicas silent for longer than `older_than` (they stopped
/// counting after the TTL already; this only keeps the table small).
pub async fn sweep(pool: &PgPool, older_than: Duration) -> anyhow::Result<u64> {
    let done = sqlx::query(
        "DELETE FROM worker_replicas WHERE heartbeat_at < now() - make_interval(secs => $1::float8)",
    )
    .bind(older_than.as_secs_f64())
    .execute(pool)
    .await
    .context("sweeping dead replicas")?;
    Ok(done.rows_affected())
}

/// Deletes this replica's row, so the others take its share at their next heartbeat.
pub async fn leave(pool: &PgPool, replica: Uuid) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM worker_replicas WHERE replica_id = $1")
        .bind(replica)
        .execute(pool)
        .await
        .context("removing the replica row")?;
    Ok(())
}
