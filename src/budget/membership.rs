//! The heartbeat: one call of the server-side function `id2meta_budget_heartbeat`
//! (migration 20261206000100) that reads every row still counting, decides this
//! replica's allotment and writes its row, in one serializable transaction sent
//! as one message. The rule lives there, in one place; `docs/qps-budget.md`
//! states it and proves the bound.
//!
//! Why one message and no lock: a heartbeat that held a lock across client round
//! trips let one frozen replica stop every other one. Now the server runs the
//! whole transaction without waiting for the client, and two heartbeats that
//! would break the rule together cannot both commit (PostgreSQL's serializable
//! isolation fails one with 40001, retried here at once). Nothing is left on the
//! session (no lock, no prepared statement, no setting), so it works through
//! PgBouncer in transaction pooling too.
//!
//! Every time comes from the database's `now()` (the start of the transaction):
//! the replicas may run on hosts whose clocks disagree, but they all ask the same
//! server.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::caps::{self, CapAllotment, Capped};

/// Attempts of one heartbeat that lost a serialization race before it gives up
/// (until the next tick); the caller's deadline usually ends it first.
const RACES: u32 = 40;

/// The parameters of one heartbeat.
#[derive(Debug, Clone, Copy)]
pub struct Heartbeat {
    pub replica: Uuid,
    /// This replica's `ID2META_QPS`: the fleet's budget is the smallest in force.
    pub qps: f64,
    /// Its budget in whole calls per period.
    pub budget: u32,
    /// Its period (one second, or `1 / QPS` under one call per second).
    pub period: Duration,
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

/// What this replica may do after one heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allotment {
    /// Replicas taking a share, this one included.
    pub live: u32,
    /// This replica's share of the budget in whole calls per window (0: standby,
    /// more replicas than shares of at least 15 calls and this one among the newest).
    pub target: u32,
    /// What it may use from now on: its target, as far as the others leave room.
    pub allowed: u32,
}

/// What one heartbeat decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sighting {
    pub allotment: Allotment,
    /// The fleet's budget as this replica counts it: whole calls per its period,
    /// from the smallest `ID2META_QPS` of the replicas taking a share.
    pub budget: u32,
    /// The smallest and largest `ID2META_QPS` among them (equal when they agree).
    pub qps_min: f64,
    pub qps_max: f64,
    /// The database's `now()` of this heartbeat: the `heartbeat_at` it wrote.
    pub beat_at: DateTime<Utc>,
}

impl Sighting {
    /// Whether the replicas taking a share disagree on `ID2META_QPS`.
    pub fn disagreement(&self) -> bool {
        self.qps_min < self.qps_max
    }
}

/// Writes this replica's row and returns its allotment: one message, one
/// serializable transaction, retried at once when it lost a race.
pub async fn heartbeat(pool: &PgPool, beat: Heartbeat) -> anyhow::Result<Sighting> {
    let (seen, _) = heartbeat_capped(pool, beat, &[], &[], &[]).await?;
    Ok(seen)
}

/// [`heartbeat`] with this replica's claims on its capped queues (`applied`: what
/// its limiter allows each now; `wants`: whether it has jobs of each waiting; in
/// the order of `caps`), in the same transaction: the budget's allotment and one
/// per capped queue, in that order.
pub async fn heartbeat_capped(
    pool: &PgPool,
    beat: Heartbeat,
    caps: &[Capped],
    applied: &[u32],
    wants: &[bool],
) -> anyhow::Result<(Sighting, Vec<CapAllotment>)> {
    let sql = statement(&beat, caps, applied, wants);
    let mut raced = 0;
    loop {
        match sqlx::raw_sql(&sql).fetch_one(pool).await {
            Ok(row) if caps.is_empty() => return Ok((sighting(&row)?, Vec::new())),
            Ok(row) => return Ok((sighting(&row)?, cap_allotments(&row, caps.len())?)),
            Err(error) if lost_a_race(&error) && raced < RACES => {
                raced += 1;
                // Apart at random, or the same replicas meet again at once.
                let pause = rand::random::<u64>() % (2_000 * u64::from(raced.min(10)));
                tokio::time::sleep(Duration::from_micros(pause)).await;
            }
            Err(error) => return Err(error).context("running the heartbeat"),
        }
    }
}

/// The heartbeat's one message. Bind parameters would need the extended protocol,
/// which allows one statement per message; the values are a UUID, numbers and a
/// boolean formatted here, never text from outside.
/// With capped queues it calls the function's version with per-queue arrays
/// (migration 20261207000200); without, the budget's alone, as before caps.
fn statement(beat: &Heartbeat, caps: &[Capped], applied: &[u32], wants: &[bool]) -> String {
    let (columns, queues) = if caps.is_empty() {
        (String::new(), String::new())
    } else {
        (
            ", queue_budget, queue_target, queue_allowed".to_string(),
            format!(", {}", caps::arguments(caps, applied, wants)),
        )
    };
    // An implicit transaction block: serializable, committed (or rolled back on
    // an error) by the server at the end of the message, whatever the client does.
    format!(
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE; \
         SELECT live, target, allowed, budget, qps_min, qps_max, beat_at{columns} \
           FROM id2meta_budget_heartbeat('{replica}'::uuid, '{qps}'::float8, {budget}, \
                '{period}'::float8, {applied}, '{window}'::float8, '{expiry}'::float8, \
                '{forget}'::float8, {leaving}{queues})",
        replica = beat.replica.hyphenated(),
        qps = finite(beat.qps),
        budget = to_sql(beat.budget),
        period = beat.period.as_secs_f64(),
        applied = to_sql(beat.applied),
        window = beat.window.as_secs_f64(),
        expiry = beat.expiry.as_secs_f64(),
        forget = beat.forget_after.max(beat.expiry).as_secs_f64(),
        leaving = beat.leaving,
    )
}

/// A serialization failure or a deadlock: the transaction was rolled back and
/// may simply run again.
fn lost_a_race(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "40001" || code == "40P01")
}

fn sighting(row: &sqlx::postgres::PgRow) -> anyhow::Result<Sighting> {
    let get = |name: &str| -> anyhow::Result<i32> {
        row.try_get::<i32, _>(name)
            .with_context(|| format!("reading the heartbeat's {name}"))
    };
    Ok(Sighting {
        allotment: Allotment {
            live: from_sql(get("live")?),
            target: from_sql(get("target")?),
            allowed: from_sql(get("allowed")?),
        },
        budget: from_sql(get("budget")?),
        qps_min: row.try_get("qps_min").context("reading qps_min")?,
        qps_max: row.try_get("qps_max").context("reading qps_max")?,
        beat_at: row.try_get("beat_at").context("reading beat_at")?,
    })
}

/// The per-queue arrays of the answer, one value per capped queue.
fn cap_allotments(row: &sqlx::postgres::PgRow, queues: usize) -> anyhow::Result<Vec<CapAllotment>> {
    let get = |name: &str| -> anyhow::Result<Vec<i32>> {
        let values: Vec<i32> = row
            .try_get(name)
            .with_context(|| format!("reading the heartbeat's {name}"))?;
        anyhow::ensure!(
            values.len() == queues,
            "the heartbeat answered {} values of {name} for {queues} capped queues",
            values.len()
        );
        Ok(values)
    };
    let (cap, target, allowed) = (
        get("queue_budget")?,
        get("queue_target")?,
        get("queue_allowed")?,
    );
    Ok((0..queues)
        .map(|i| CapAllotment {
            cap: from_sql(cap[i]),
            target: from_sql(target[i]),
            allowed: from_sql(allowed[i]),
        })
        .collect())
}

/// A QPS the database can read back (the config refuses anything else).
fn finite(qps: f64) -> f64 {
    if qps.is_finite() && qps > 0.0 {
        qps
    } else {
        f64::MIN_POSITIVE
    }
}

fn to_sql(calls: u32) -> i32 {
    i32::try_from(calls).unwrap_or(i32::MAX)
}

fn from_sql(calls: i32) -> u32 {
    u32::try_from(calls).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_one_serializable_transaction_of_formatted_numbers() {
        let beat = Heartbeat {
            replica: Uuid::from_u128(7),
            qps: 0.5,
            budget: 1,
            period: Duration::from_secs(2),
            applied: 0,
            window: Duration::from_millis(2005),
            expiry: Duration::from_millis(3505),
            forget_after: Duration::from_secs(60),
            leaving: false,
        };
        let sql = statement(&beat, &[], &[], &[]);
        assert!(sql.starts_with("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE; SELECT"));
        assert!(sql.contains("'00000000-0000-0000-0000-000000000007'::uuid, '0.5'::float8, 1, '2'::float8, 0, '2.005'::float8, '3.505'::float8, '60'::float8, false)"), "{sql}");
    }
}
