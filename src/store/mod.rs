//! PostgreSQL: the results table (append-only, one row per job), the claims that
//! make one job one paid call, and the batched writer that commits results.
//!
//! Plaintext names and ID numbers never reach this module: rows carry masks and
//! a keyed digest only.

mod batcher;
mod billing;
mod cancellations;
mod claims;
mod kept;
mod results;
mod retention;
mod reuse;
mod writer;

pub use billing::day_and_month_start;
pub use claims::{Claim, ClaimRequest, Claimer};
pub use kept::KeptOutcome;
pub use results::{BatchCounts, ResultRow, StoredOutcome};
pub use retention::{sweep_claims_until, RETENTION, SWEEP_BATCH};
pub use reuse::Reusable;
pub use writer::{ResultWriter, UNSTORABLE};

use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

/// The migrations under `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    /// Connects, creating the database first if it is missing (the contract's promise).
    pub async fn connect(database_url: &str, max_connections: u32) -> anyhow::Result<Self> {
        if !Postgres::database_exists(database_url)
            .await
            .context("checking that the database exists")?
        {
            // Two processes may race to create it; the loser's error is harmless.
            if let Err(e) = Postgres::create_database(database_url).await {
                if !Postgres::database_exists(database_url)
                    .await
                    .unwrap_or(false)
                {
                    return Err(e).context("creating the database");
                }
            }
        }
        // sqlx logs statements at DEBUG and slow ones (over 1 s) at WARN by default: kept.
        let options: PgConnectOptions = database_url
            .parse::<PgConnectOptions>()
            .context("parsing DATABASE_URL")?;
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
        Ok(Self { pool })
    }

    /// Applies pending migrations (idempotent; concurrent workers serialise on sqlx's lock).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .context("applying migrations")
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// `select 1`: for readiness.
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("select 1")
            .execute(&self.pool)
            .await
            .context("pinging PostgreSQL")?;
        Ok(())
    }
}
