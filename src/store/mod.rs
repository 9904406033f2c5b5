//! PostgreSQL: the results table (append-only, one row per job), the claims that
//! make one job one paid call, and the batched writer that commits results.
//!
//! Plaintext names and ID numbers never reach this module: rows carry masks and
//! a keyed digest only.

mod batcher;
mod billing;
mod cancellations;
mod claims;
mod database;
mod kept;
mod key_fingerprints;
mod pooling;
mod results;
mod retention;
mod reuse;
mod writer;

pub use billing::day_and_month_start;
pub use cancellations::CancelledSince;
pub use claims::{Claim, ClaimRequest, Claimer};
pub use database::{Bounds, Database, Pooler};
pub use kept::KeptOutcome;
pub use pooling::Db;
pub use results::{BatchCounts, ResultRow, StoredOutcome};
pub use retention::{sweep_claims_until, RETENTION, SWEEP_BATCH};
pub use reuse::{ClaimedLookup, Reusable, ReuseLookup};
pub use writer::{ResultWriter, UNSTORABLE};

use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

/// The migrations under `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Db,
    /// Whether statements may be named and cached (not behind a transaction pooler).
    named: bool,
}

/// The transaction-level advisory lock migrations take behind a transaction
/// pooler, where sqlx's session lock would stay with a server session we leave.
const MIGRATION_LOCK: i64 = 0x1d2_3e7a;

impl Store {
    /// Connects directly to `database_url`, creating the database first if it is
    /// missing (the contract's promise), with the default server-side bounds.
    pub async fn connect(database_url: &str, max_connections: u32) -> anyhow::Result<Self> {
        Self::open(&Database::direct(database_url), max_connections).await
    }

    /// Connects as `database` says (pooler, bounds), creating the database if missing.
    pub async fn open(database: &Database, max_connections: u32) -> anyhow::Result<Self> {
        let options = database.connect_options()?;
        create_if_missing(&options).await?;
        // sqlx logs statements at DEBUG and slow ones (over 1 s) at WARN by default: kept.
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            // sqlx pings a connection before lending it by default: a round trip per
            // statement, 25% of the worker's CPU in the profile (docs/benchmarks.md).
            // A dead connection fails its statement instead, and every caller retries.
            .test_before_acquire(false)
            // A request for a connection that waits longer than this is an outage, not load.
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .context("connecting to PostgreSQL")?;
        Ok(Self {
            db: Db::new(pool, database.begin_statement()),
            named: database.named_statements(),
        })
    }

    /// Applies pending migrations (idempotent; concurrent workers serialise on a lock).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        if self.named {
            // sqlx's own session-level lock.
            return MIGRATOR
                .run(self.pool())
                .await
                .context("applying migrations");
        }
        // Behind a transaction pooler: all of it in one transaction under a
        // transaction-level lock (each migration a savepoint), and the statements
        // sqlx prepared by name dropped before the session goes back to the pool.
        let mut migrator = sqlx::migrate!("./migrations");
        migrator.set_locking(false);
        let mut tx = self.db.begin().await.context("beginning the migrations")?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .persistent(false)
            .execute(&mut *tx)
            .await
            .context("waiting for the migration lock")?;
        migrator
            .run(&mut *tx)
            .await
            .context("applying migrations")?;
        sqlx::raw_sql("DEALLOCATE ALL")
            .execute(&mut *tx)
            .await
            .context("dropping the migrations' statements")?;
        tx.commit().await.context("committing the migrations")
    }

    /// The pool itself, for readers outside the store (console, tests) that
    /// connect directly.
    pub fn pool(&self) -> &PgPool {
        self.db.pool()
    }

    /// Where the store's statements run (see [`Db`]).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Whether a statement inside an explicit transaction may be named (cached):
    /// pass it to `.persistent(..)`.
    pub fn named(&self) -> bool {
        self.named
    }

    /// `select 1`: for readiness.
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("select 1")
            .execute(self.db())
            .await
            .context("pinging PostgreSQL")?;
        Ok(())
    }
}

/// Creates the database `options` name if it is missing. Simple-protocol
/// statements only (one exchange each), so it works through a transaction pooler.
async fn create_if_missing(options: &PgConnectOptions) -> anyhow::Result<()> {
    let name = options.get_database().unwrap_or("postgres").to_string();
    let mut server = PgConnection::connect_with(&options.clone().database("postgres"))
        .await
        .context("connecting to PostgreSQL to check that the database exists")?;
    let literal = name.replace('\'', "''");
    let exists = format!("SELECT 1 FROM pg_database WHERE datname = '{literal}'");
    let found = sqlx::raw_sql(&exists)
        .fetch_all(&mut server)
        .await
        .context("checking that the database exists")?;
    if found.is_empty() {
        let create = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        // Two processes may race to create it; the loser's error is harmless.
        if let Err(e) = sqlx::raw_sql(&create).execute(&mut server).await {
            let found = sqlx::raw_sql(&exists).fetch_all(&mut server).await?;
            if found.is_empty() {
                return Err(e).context("creating the database");
            }
        }
    }
    let _ = server.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::MIGRATOR;

    /// A `-- no-transaction` migration (`CREATE INDEX CONCURRENTLY`) cannot be
    /// serialised between replicas that start together: it waits for the
    /// snapshots of the replicas waiting for sqlx's lock, which wait for it, and
    /// PostgreSQL ends one of them (a replica exits); behind a transaction pooler
    /// the migrations run in one transaction, where it is refused. Index builds
    /// are plain (see migrations/20261206000401_retention_index.sql).
    #[test]
    fn every_migration_runs_in_a_transaction() {
        let outside: Vec<i64> = MIGRATOR
            .iter()
            .filter(|m| m.no_tx)
            .map(|m| m.version)
            .collect();
        assert!(
            outside.is_empty(),
            "`-- no-transaction` migrations: {outside:?}"
        );
    }
}
