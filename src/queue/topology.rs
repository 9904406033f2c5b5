//! The broker objects the worker and `enqueue` both declare, idempotently, at start.
//! Every argument here is part of the contract: changing one on an existing queue
//! makes RabbitMQ refuse the declaration (PRECONDITION_FAILED), so they are fixed.

use anyhow::Context;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

/// Names of the broker objects, from the configuration so tests can isolate themselves.
#[derive(Debug, Clone)]
pub struct Topology {
    pub jobs_queue: String,
    pub dead_letter_queue: String,
    pub results_exchange: String,
    pub results_queue: String,
    pub delivery_limit: u32,
}

impl Topology {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            jobs_queue: config.jobs_queue.clone(),
            dead_letter_queue: config.dead_letter_queue(),
            results_exchange: config.results_exchange.clone(),
            results_queue: config.results_queue(),
            delivery_limit: config.delivery_limit,
        }
    }
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

/// Declares the jobs queue, its dead-letter queue, the results exchange and queue.
pub async fn declare(channel: &Channel, topology: &Topology) -> anyhow::Result<()> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };

    // The dead-letter queue: a quorum queue too, so a poison message is kept as safely
    // as a job. Nothing consumes it automatically: an operator reads it.
    let mut dead = FieldTable::default();
    dead.insert(ShortString::from("x-queue-type"), text("quorum"));
    channel
        .queue_declare(topology.dead_letter_queue.as_str().into(), durable, dead)
        .await
        .context("declaring the dead-letter queue")?;

    let mut jobs = FieldTable::default();
    // Quorum: replicated and durable, for data that matters; it also counts deliveries.
    jobs.insert("x-queue-type".into(), text("quorum"));
    // A message that keeps killing workers (or keeps being returned) stops after this
    // many deliveries instead of looping forever (3.10 has no default limit).
    jobs.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongInt(topology.delivery_limit as i32),
    );
    // Dead letters go, through the default exchange, to `<jobs>.dead`.
    jobs.insert("x-dead-letter-exchange".into(), text(""));
    jobs.insert(
        "x-dead-letter-routing-key".into(),
        text(&topology.dead_letter_queue),
    );
    // Broker dead-lettering is at-most-once by default; at-least-once keeps the message
    // until the dead-letter queue confirms it. It requires reject-publish overflow.
    jobs.insert("x-dead-letter-strategy".into(), text("at-least-once"));
    jobs.insert("x-overflow".into(), text("reject-publish"));
    channel
        .queue_declare(topology.jobs_queue.as_str().into(), durable, jobs)
        .await
        .context("declaring the jobs queue")?;

    // Completions: a durable topic exchange, so consumers can bind `result.match` etc.
    channel
        .exchange_declare(
            topology.results_exchange.as_str().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .context("declaring the results exchange")?;
    // A durable queue keeps every completion until someone reads it (contract).
    let mut results = FieldTable::default();
    results.insert("x-queue-type".into(), text("quorum"));
    channel
        .queue_declare(topology.results_queue.as_str().into(), durable, results)
        .await
        .context("declaring the results queue")?;
    channel
        .queue_bind(
            topology.results_queue.as_str().into(),
            topology.results_exchange.as_str().into(),
            "result.#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .context("binding the results queue")?;
    Ok(())
}
