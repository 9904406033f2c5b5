//! A section's private world: its own queues and its own database, named after the
//! run and the section, so a benchmark never touches real jobs, never reads a
//! previous run's leftovers, and leaves nothing behind.

use anyhow::Context;
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use sqlx::migrate::MigrateDatabase;

use crate::config::Config;
use crate::queue::{self, Publisher, Topology};
use crate::secret::Secret;

/// A short id for this run: the UTC time and a random suffix (sortable, unique).
pub fn run_id() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "{}{}",
        chrono::Utc::now().format("%Y%m%dt%H%M%S"),
        &random[..6]
    )
}

/// A section's configuration, broker objects and publisher.
pub struct Scratch {
    pub config: Config,
    pub topology: Topology,
    pub publisher: Publisher,
    pub connection: lapin::Connection,
}

impl Scratch {
    /// Names everything after `run_id` and `section`, declares the topology (the
    /// jobs queue with exactly the worker's arguments) and opens a confirm channel.
    pub async fn open(base: &Config, run_id: &str, section: &str) -> anyhow::Result<Self> {
        let mut config = base.clone();
        // One throwaway key per section, shared by all its replicas: a key per
        // replica gave a job handed from one replica to another a second digest,
        // and the second replica dead-lettered it as a job_id conflict.
        config.pii_key = Some(Secret::new(uuid::Uuid::new_v4().to_string()));
        config.jobs_queue = format!("id2meta.bench.{run_id}.{section}.jobs");
        config.results_exchange = format!("id2meta.bench.{run_id}.{section}.results");
        config.database_url = with_database(
            &base.database_url,
            &format!("id2meta_bench_{run_id}_{section}"),
        )?;
        let topology = Topology::from_config(&config);
        let connection = queue::connect(&config.amqp_url, "id2meta bench").await?;
        queue::declare(&connection, &topology).await?;
        let publisher = Publisher::open(
            &connection,
            &topology.results_exchange,
            &topology.dead_letter_queue,
        )
        .await?;
        Ok(Self {
            config,
            topology,
            publisher,
            connection,
        })
    }

    /// Deletes the queues, the exchange and the database (if one was created).
    pub async fn remove(self) -> anyhow::Result<()> {
        let channel = self
            .connection
            .create_channel()
            .await
            .context("opening a channel")?;
        let t = &self.topology;
        for name in [
            &t.jobs_queue,
            &t.interactive_queue,
            &t.dead_letter_queue,
            &t.dead_letter_intake_queue,
            &t.results_queue,
        ] {
            channel
                .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
                .await
                .with_context(|| format!("deleting queue {name}"))?;
        }
        channel
            .exchange_delete(
                t.results_exchange.as_str().into(),
                ExchangeDeleteOptions::default(),
            )
            .await
            .context("deleting the results exchange")?;
        // Closing after channels were dropped can fail harmlessly.
        let _ = self.connection.close(200, "bye".into()).await;
        let url = &self.config.database_url;
        if sqlx::Postgres::database_exists(url)
            .await
            .context("checking for the bench database")?
        {
            sqlx::Postgres::force_drop_database(url)
                .await
                .context("dropping the bench database")?;
        }
        Ok(())
    }
}

/// `url` with its database name replaced by `database` (query string kept).
pub fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base
        .find("://")
        .map(|i| i + 3)
        .context("DATABASE_URL must look like postgres://user@host:port/database")?;
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    Ok(match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_and_the_rest_is_kept() {
        let url = "postgres://postgres@127.0.0.1:5432/id2meta";
        assert_eq!(
            with_database(url, "b").unwrap(),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        let url = "postgres://u:p@db:5432/x?sslmode=disable";
        assert_eq!(
            with_database(url, "b").unwrap(),
            "postgres://u:p@db:5432/b?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://db", "b").unwrap(),
            "postgres://db/b"
        );
        assert!(with_database("not a url", "b").is_err());
    }

    #[test]
    fn run_ids_are_unique_and_fit_in_a_database_name() {
        let (a, b) = (run_id(), run_id());
        assert_ne!(a, b);
        // Postgres truncates identifiers at 63 bytes: the longest section name must fit.
        assert!(format!("id2meta_bench_{a}_resources").len() <= 63);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
