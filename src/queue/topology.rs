//! The broker objects the worker and `enqueue` both declare, idempotently, at start.
//! Every argument here is part of the contract: changing one on an existing queue
//! makes RabbitMQ refuse the declaration (PRECONDITION_FAILED, and the channel
//! closes), so a queue's arguments are fixed once it exists.
//!
//! The jobs queue has had two shapes. Today's routes the broker's own
//! dead-lettering (the delivery limit) to `<jobs>.dead.intake`, which the
//! worker drains and seals ([`DeadLetterRoute::Intake`]). The first release
//! routed it straight to `<jobs>.dead`, where the broker writes the plaintext;
//! such a queue cannot be changed, so it is kept and the worker sweeps
//! `<jobs>.dead` instead ([`DeadLetterRoute::Legacy`]). Which one exists is
//! learnt by trying today's arguments on a channel of their own.

use anyhow::Context;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Connection, ExchangeKind};

/// Names of the broker objects, from the configuration so tests can isolate themselves.
#[derive(Debug, Clone)]
pub struct Topology {
    pub jobs_queue: String,
    /// Every bulk job queue the worker consumes, in the order of
    /// `ID2META_QUEUE_WEIGHTS` (the jobs queue alone when that is unset): each
    /// a job queue like `jobs_queue`, with the same arguments and dead-letter route.
    pub bulk_queues: Vec<String>,
    /// `<jobs>.interactive`: the interactive lane, a job queue like `jobs_queue`
    /// (same arguments, same dead-letter route), consumed beside it.
    pub interactive_queue: String,
    pub dead_letter_queue: String,
    /// Where the broker dead-letters job queues to: plaintext, drained and sealed
    /// by the worker (a job queue as far as privacy goes).
    pub dead_letter_intake_queue: String,
    pub results_exchange: String,
    pub results_queue: String,
    pub delivery_limit: u32,
}

/// Where the broker's own dead-lettering of the jobs queue ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterRoute {
    /// To the intake queue, which the worker drains and seals into `<jobs>.dead`.
    Intake,
    /// Straight to `<jobs>.dead` (a queue declared by the first release): the
    /// worker must sweep `<jobs>.dead` and seal what it finds in plaintext.
    Legacy,
}

impl Topology {
    pub fn from_config(config: &crate::config::Config) -> Self {
        let dead_letter_queue = config.dead_letter_queue();
        Self {
            jobs_queue: config.jobs_queue.clone(),
            bulk_queues: config.bulk_queues().into_iter().map(|w| w.queue).collect(),
            interactive_queue: config.interactive_queue(),
            dead_letter_intake_queue: format!("{dead_letter_queue}.intake"),
            dead_letter_queue,
            results_exchange: config.results_exchange.clone(),
            results_queue: config.results_queue(),
            delivery_limit: config.delivery_limit,
        }
    }
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// A quorum queue with no other argument, as the first releases declared the
/// dead-letter, intake and results queues: replicated and durable. On RabbitMQ
/// 3.x it never drops a message however often it is returned; 4.0 gives such a
/// queue a delivery limit of 20 and then DROPS the message (no dead-letter
/// route), hence [`unlimited_quorum`] for the queues declared from now on.
fn plain_quorum() -> FieldTable {
    let mut arguments = FieldTable::default();
    arguments.insert(ShortString::from("x-queue-type"), text("quorum"));
    arguments
}

/// A quorum queue that keeps a message however often it is returned (the
/// dead-letter tools return what they do not select; a completion reader may
/// requeue), on every RabbitMQ: `x-delivery-limit` set explicitly to the
/// largest 32-bit value, which 3.x accepts too (`-1`, unlimited, is 4.x's only).
fn unlimited_quorum() -> FieldTable {
    let mut arguments = plain_quorum();
    arguments.insert("x-delivery-limit".into(), AMQPValue::LongInt(i32::MAX));
    arguments
}

/// The arguments of every job queue (`<jobs>`, and `<jobs>.interactive`):
/// a quorum queue with a delivery limit whose dead letters go to the intake.
pub fn job_queue_arguments(topology: &Topology) -> FieldTable {
    with_dead_letter_target(topology, &topology.dead_letter_intake_queue)
}

/// The first release's jobs queue: the same, dead-lettering to `<jobs>.dead`.
fn legacy_job_queue_arguments(topology: &Topology) -> FieldTable {
    with_dead_letter_target(topology, &topology.dead_letter_queue)
}

fn with_dead_letter_target(topology: &Topology, target: &str) -> FieldTable {
    // Quorum: replicated and durable, for data that matters; it also counts deliveries.
    let mut jobs = plain_quorum();
    // A message that keeps killing workers (or keeps being returned) stops after this
    // many deliveries instead of looping forever (3.10 has no default limit).
    jobs.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongInt(i32::try_from(topology.delivery_limit).unwrap_or(i32::MAX)),
    );
    // Dead letters go, through the default exchange, to the queue named `target`.
    jobs.insert("x-dead-letter-exchange".into(), text(""));
    jobs.insert("x-dead-letter-routing-key".into(), text(target));
    // Broker dead-lettering is at-most-once by default; at-least-once keeps the message
    // until the dead-letter target confirms it. It requires reject-publish overflow.
    jobs.insert("x-dead-letter-strategy".into(), text("at-least-once"));
    jobs.insert("x-overflow".into(), text("reject-publish"));
    jobs
}

/// Declares a job queue, with today's arguments if it is new or already has
/// them, else as the first release declared it (then [`DeadLetterRoute::Legacy`]).
/// Each attempt has its own channel: a refused declaration closes its channel.
pub async fn declare_job_queue(
    connection: &Connection,
    name: &str,
    topology: &Topology,
) -> anyhow::Result<DeadLetterRoute> {
    let attempts = [
        (DeadLetterRoute::Intake, job_queue_arguments(topology)),
        (
            DeadLetterRoute::Legacy,
            legacy_job_queue_arguments(topology),
        ),
    ];
    declare_first_accepted(connection, name, attempts).await
}

/// Which shape a dead-letter or results queue has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeepShape {
    /// Declared with [`unlimited_quorum`]: keeps what is returned, on 4.x too.
    Unlimited,
    /// Declared by an earlier release ([`plain_quorum`]): on 4.x the broker's
    /// default delivery limit applies (docs/deploy.md says how to lift it).
    Plain,
}

/// Declares a queue that keeps its messages (dead letters, the intake, the
/// completions) with an explicit unlimited delivery limit, or as an earlier
/// release declared it if it exists so (a queue's arguments never change).
async fn declare_kept_queue(connection: &Connection, name: &str) -> anyhow::Result<()> {
    let attempts = [
        (KeepShape::Unlimited, unlimited_quorum()),
        (KeepShape::Plain, plain_quorum()),
    ];
    if declare_first_accepted(connection, name, attempts).await? == KeepShape::Plain {
        tracing::warn!(
            queue = name,
            "queue declared by an earlier release without x-delivery-limit: RabbitMQ 4.x drops a message returned 20 times (see docs/deploy.md)"
        );
    }
    Ok(())
}

/// Declares `name` (durable) with the first of `attempts` the broker accepts and
/// says which. Each attempt has its own channel: a refused declaration (the
/// queue exists with other arguments) closes its channel.
async fn declare_first_accepted<T: std::fmt::Debug>(
    connection: &Connection,
    name: &str,
    attempts: impl IntoIterator<Item = (T, FieldTable)>,
) -> anyhow::Result<T> {
    let mut refusals = Vec::new();
    for (shape, arguments) in attempts {
        let channel = connection
            .create_channel()
            .await
            .context("opening a declaration channel")?;
        match channel
            .queue_declare(name.into(), durable(), arguments)
            .await
        {
            Ok(_) => {
                let _ = channel.close(200, "declared".into()).await;
                return Ok(shape);
            }
            Err(error) => refusals.push(format!("{shape:?}: {error}")),
        }
    }
    anyhow::bail!(
        "queue {name} exists with arguments this version does not know ({})",
        refusals.join("; ")
    )
}

/// Declares the jobs queue, the dead-letter queues, the results exchange and
/// queue; says where the jobs queue's own dead letters go.
pub async fn declare(
    connection: &Connection,
    topology: &Topology,
) -> anyhow::Result<DeadLetterRoute> {
    let channel = connection
        .create_channel()
        .await
        .context("opening a declaration channel")?;
    // The dead-letter queue: a quorum queue too, so a letter is kept as safely as a
    // job; nothing consumes it for good (the dead-letter tools read it). The intake:
    // plaintext the broker dead-lettered, until the worker seals it.
    for queue in [
        &topology.dead_letter_queue,
        &topology.dead_letter_intake_queue,
    ] {
        declare_kept_queue(connection, queue)
            .await
            .with_context(|| format!("declaring the dead-letter queue {queue}"))?;
    }
    let route = declare_job_queue(connection, &topology.jobs_queue, topology)
        .await
        .context("declaring the jobs queue")?;
    // The interactive lane and the other bulk queues: the same arguments for the
    // same reasons (a delivery limit, broker dead letters to the sealing intake).
    // They are newer than the first release, so they never have its route; were
    // one declared elsewhere with that route, the intake's legacy sweep of
    // `<jobs>.dead` (started by the jobs queue's route) would not cover it, so
    // refuse that.
    let others = topology
        .bulk_queues
        .iter()
        .filter(|q| **q != topology.jobs_queue);
    for queue in std::iter::once(&topology.interactive_queue).chain(others) {
        let other_route = declare_job_queue(connection, queue, topology)
            .await
            .with_context(|| format!("declaring the job queue {queue}"))?;
        if other_route != DeadLetterRoute::Intake && route == DeadLetterRoute::Intake {
            anyhow::bail!(
                "queue {queue} dead-letters straight to {} (first-release arguments); delete it so the worker can declare it",
                topology.dead_letter_queue
            );
        }
    }

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
    declare_kept_queue(connection, &topology.results_queue)
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
    let _ = channel.close(200, "declared".into()).await;
    Ok(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology() -> Topology {
        let config = crate::config::Config::from_source(&std::collections::HashMap::new())
            .expect("defaults");
        Topology::from_config(&config)
    }

    fn routing_key(arguments: &FieldTable) -> String {
        match arguments.inner().get("x-dead-letter-routing-key") {
            Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
            other => panic!("no routing key: {other:?}"),
        }
    }

    #[test]
    fn a_job_queue_dead_letters_to_the_intake_and_the_first_release_to_the_dead_letter_queue() {
        let t = topology();
        assert_eq!(t.dead_letter_intake_queue, "id2meta.jobs.dead.intake");
        assert_eq!(
            routing_key(&job_queue_arguments(&t)),
            "id2meta.jobs.dead.intake"
        );
        assert_eq!(
            routing_key(&legacy_job_queue_arguments(&t)),
            "id2meta.jobs.dead"
        );
        // Only the route differs: the rest must equal what the first release declared.
        let mut fresh = job_queue_arguments(&t).inner().clone();
        let mut legacy = legacy_job_queue_arguments(&t).inner().clone();
        fresh.remove("x-dead-letter-routing-key");
        legacy.remove("x-dead-letter-routing-key");
        assert_eq!(fresh, legacy);
        assert_eq!(fresh.len(), 5);
    }

    #[test]
    fn the_interactive_lane_is_named_after_the_jobs_queue() {
        let t = topology();
        assert_eq!(t.interactive_queue, "id2meta.jobs.interactive");
        // Declared with `job_queue_arguments` like the jobs queue: one shape, one route.
        assert_eq!(
            routing_key(&job_queue_arguments(&t)),
            t.dead_letter_intake_queue
        );
    }

    #[test]
    fn the_bulk_queues_are_the_weighted_ones_in_order_or_the_jobs_queue_alone() {
        assert_eq!(topology().bulk_queues, ["id2meta.jobs"]);
        let env = std::collections::HashMap::from([(
            "ID2META_QUEUE_WEIGHTS",
            "id2meta.jobs.web=3,id2meta.jobs=1",
        )]);
        let config = crate::config::Config::from_source(&env).expect("valid");
        let t = Topology::from_config(&config);
        assert_eq!(t.bulk_queues, ["id2meta.jobs.web", "id2meta.jobs"]);
    }

    #[test]
    fn the_kept_queues_set_their_delivery_limit_explicitly_and_unlimited() {
        // Unset, RabbitMQ 4.x would apply 20 and drop (no dead-letter route).
        assert_eq!(
            unlimited_quorum().inner().get("x-delivery-limit"),
            Some(&AMQPValue::LongInt(i32::MAX))
        );
        // What earlier releases declared: the fallback for queues that exist so.
        assert!(!plain_quorum().contains_key("x-delivery-limit"));
    }
}
