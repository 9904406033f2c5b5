//! The SQL of the replica table: one heartbeat transaction that reads every row
//! still counting, decides this replica's allotment ([`super::allotment`]) and
//! writes its row, under a lock so two replicas never raise into the same room;
//! and leaving.
//!
//! Every time comes from the database's `now()` (the start of the transaction,
//! taken after the replica last changed its limiter): the replicas may run on
//! hosts whose clocks disagree, but they all ask the same server.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::allotment::{self, Allotment, Claim};

/// The advisory lock that serialises heartbeats (any fixed number; this is
/// "id2meta" in ASCII).
const LOCK: i64 = 0x0069_6432_6d65_7461;

/// The parameters of one heartbeat.
#[derive(Debug, Clone, Copy)]
pub struct Heartbeat {
    pub replica: Uuid,
    /// The budget in whole calls per window.
    pub budget: u32,
    /// What this replica's limiter allows now (0 while closed).
    pub applied: u32,
    /// How long a lowered claim is still held: the limiter's window.
    pub window: Duration,
    /// How long after its last heartbeat a row's claim counts: until its pause
    /// deadline plus one window.
    pub expiry: Duration,
    /// Rows silent for longer are deleted (at least `expiry`).
    pub forget_after: Duration,
    /// Leaving: claim nothing, take no share, hold what was claimed for a window.
    pub leaving: bool,
}

/// What one heartbeat decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sighting {
    pub allotment: Allotment,
    /// The database's `now()` of this heartbeat: the `heartbeat_at` it wrote.
    pub beat_at: DateTime<Utc>,
}

type Row = (Uuid, Option<i32>, i32, bool);

/// Writes this replica's row and returns its allotment, in one transaction.
pub async fn heartbeat(pool: &PgPool, beat: Heartbeat) -> anyhow::Result<Sighting> {
    let mut tx = pool.begin().await.context("starting the heartbeat")?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(LOCK)
        // Unnamed: nothing left in a session a transaction pooler hands on.
        .persistent(false)
        .execute(&mut *tx)
        .await
        .context("locking the replica table")?;
    // Pruning here keeps the table bounded and inside the heartbeat's deadline.
    sqlx::query(
        "DELETE FROM worker_replicas WHERE heartbeat_at < now() - make_interval(secs => $1::float8)",
    )
    .bind(beat.forget_after.max(beat.expiry).as_secs_f64())
    // Unnamed: nothing left in a session a transaction pooler hands on.
    .persistent(false)
    .execute(&mut *tx)
    .await
    .context("forgetting dead replicas")?;
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT replica_id, calls,
                CASE WHEN held_until > now() THEN held_calls ELSE 0 END,
                left_at IS NOT NULL
         FROM worker_replicas
         WHERE heartbeat_at > now() - make_interval(secs => $1::float8)",
    )
    .bind(beat.expiry.as_secs_f64())
    // Unnamed: nothing left in a session a transaction pooler hands on.
    .persistent(false)
    .fetch_all(&mut *tx)
    .await
    .context("reading the replica claims")?;
    let (mine, others) = split(&rows, beat.replica);
    let allotment = if beat.leaving {
        Allotment {
            live: 0,
            target: 0,
            allowed: 0,
        }
    } else {
        allotment::allot(beat.budget, beat.replica, &others)
    };
    // Raised before use; a lowering shows only once applied, the old value held.
    let claim = beat.applied.max(allotment.allowed);
    // Lowered now: hold the old value a window from now. Lowered earlier: keep
    // holding it until the moment set then (never extended by later beats).
    let lowered_now = mine.calls > claim;
    let held = if lowered_now {
        mine.calls.max(mine.held)
    } else if mine.held > claim {
        mine.held
    } else {
        0
    };
    let beat_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO worker_replicas AS r
             (replica_id, heartbeat_at, counted_at, active_since, calls, held_calls, held_until,
              left_at)
         VALUES ($1, now(), now(), CASE WHEN $2 > 0 THEN now() END, $2, $3,
                 CASE WHEN $3 > 0 THEN now() + make_interval(secs => $4::float8) END,
                 CASE WHEN $5::boolean THEN now() END)
         ON CONFLICT (replica_id) DO UPDATE
             SET heartbeat_at = excluded.heartbeat_at,
                 counted_at = excluded.counted_at,
                 active_since = CASE WHEN $2 > 0 THEN coalesce(r.active_since, now()) END,
                 calls = excluded.calls,
                 held_calls = excluded.held_calls,
                 held_until = CASE WHEN $6::boolean THEN excluded.held_until
                                   WHEN $3 > 0 THEN r.held_until END,
                 left_at = excluded.left_at
         RETURNING heartbeat_at",
    )
    .bind(beat.replica)
    .bind(to_sql(claim))
    .bind(to_sql(held))
    .bind(beat.window.as_secs_f64())
    .bind(beat.leaving)
    .bind(lowered_now)
    // Unnamed: nothing left in a session a transaction pooler hands on.
    .persistent(false)
    .fetch_one(&mut *tx)
    .await
    .context("writing the replica claim")?;
    tx.commit().await.context("committing the heartbeat")?;
    Ok(Sighting { allotment, beat_at })
}

/// This replica's own row as it counts now (zeros if it no longer counts).
#[derive(Debug, Clone, Copy, Default)]
struct Mine {
    calls: u32,
    held: u32,
}

/// This replica's row and the others'.
fn split(rows: &[Row], me: Uuid) -> (Mine, Vec<Claim>) {
    let mut mine = Mine::default();
    let mut others = Vec::with_capacity(rows.len());
    for &(replica, calls, held, leaving) in rows {
        let calls = calls.map(from_sql);
        let held = from_sql(held);
        if replica == me {
            mine = Mine {
                calls: calls.unwrap_or(0),
                held,
            };
        } else {
            others.push(Claim {
                replica,
                calls,
                held,
                leaving,
            });
        }
    }
    (mine, others)
}

fn to_sql(calls: u32) -> i32 {
    i32::try_from(calls).unwrap_or(i32::MAX)
}

fn from_sql(calls: i32) -> u32 {
    u32::try_from(calls).unwrap_or(0)
}
