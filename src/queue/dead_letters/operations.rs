//! The dead-letter tools' library: `list`, `show`, `replay`, `purge`, as both
//! `id2meta dead-letters` and the web console call them. Masked data only.
//!
//! Every operation [holds](super::scan) the queue's letters on a private
//! channel, acts on the selected ones, and returns the rest: no letter is
//! taken unless it was selected, and a replayed letter is removed only after
//! the broker confirmed its restored message in the source queue. Letters held
//! at that moment by another tool or a sweep are not seen by this one.
//!
//! Returned letters go back to the head of a quorum queue (RabbitMQ 3.x) and
//! count a delivery each, so the dead-letter queue has no delivery limit.

use std::collections::BTreeSet;

use anyhow::Context;
use chrono::{DateTime, Utc};
use lapin::message::Delivery;
use lapin::Connection;
use serde::Serialize;

use super::headers::{self, Facts};
use super::letter::{is_sealed, Sealer};
use super::scan::{self, MAX_SCAN};
use crate::queue::{Publisher, Topology};

/// Which letters an action takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Letters with these dead-letter ids.
    Ids(Vec<String>),
    /// Letters with this reason (`x-id2meta-reason`).
    Reason(String),
    /// Every letter.
    All,
    /// Letters of these job_ids (`x-id2meta-job-id`): retention's scrubbed jobs.
    JobIds(BTreeSet<String>),
    /// Letters of these identities (`x-id2meta-identity-digest`): `forget`.
    Digests(BTreeSet<String>),
}

impl Selection {
    /// The selection as the audit log's `target`: `ids a,b`, `reason not_json`, `all`.
    pub fn describe(&self) -> String {
        match self {
            Self::Ids(ids) => format!("ids {}", ids.join(",")),
            Self::Reason(reason) => format!("reason {reason}"),
            Self::All => "all".into(),
            Self::JobIds(ids) => format!("{} job ids", ids.len()),
            Self::Digests(digests) => format!("{} identities", digests.len()),
        }
    }
}

/// What an operator sees of a letter: masks and metadata, never the body.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// The dead-letter id given at sealing; none on a letter not sealed yet.
    pub id: Option<String>,
    pub reason: Option<String>,
    pub job_id: Option<String>,
    pub name_masked: Option<String>,
    pub id_number_masked: Option<String>,
    pub identity_digest: Option<String>,
    pub source_queue: Option<String>,
    /// False only for a letter a first-release broker route left in plaintext,
    /// until the worker's sweep seals it.
    pub sealed: bool,
    pub dead_lettered_at: Option<DateTime<Utc>>,
    /// When the broker may drop it (`ID2META_DEAD_LETTER_TTL` after sealing).
    pub expires_at: Option<DateTime<Utc>>,
    /// Times it was delivered from the dead-letter queue (each scan counts one).
    pub deliveries: Option<i64>,
    pub body_bytes: usize,
}

/// What an action did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    /// Letters the selection matched.
    pub selected: usize,
    /// Of those, replayed (or purged).
    pub done: usize,
    /// Of those, left in the queue, with why (masked: ids and reasons only).
    pub failed: Vec<Failure>,
}

impl Report {
    /// The audit log's `detail`: counts and the ids of the letters left behind.
    pub fn audit_detail(&self) -> serde_json::Value {
        serde_json::json!({
            "selected": self.selected,
            "done": self.done,
            "failed": self.failed.iter().map(|f| f.id.clone()).collect::<Vec<_>>(),
        })
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Failure {
    pub id: Option<String>,
    pub error: String,
}

/// The dead-letter queue of one topology.
pub struct DeadLetterQueue {
    connection: Connection,
    topology: Topology,
    /// Needed to replay (open) letters; listing and purging need no key.
    sealer: Option<Sealer>,
}

impl DeadLetterQueue {
    /// `sealer` from `ID2META_PII_KEY`; without it, `replay` refuses.
    pub fn new(connection: Connection, topology: Topology, sealer: Option<Sealer>) -> Self {
        Self {
            connection,
            topology,
            sealer,
        }
    }

    /// Connects with the configuration's broker, queues and key. Wide frames
    /// (`queue::Frames`): a replay republishes a job's own headers, which may not
    /// fit the worker's default frame; a short-lived tool can afford the rings.
    pub async fn from_config(config: &crate::config::Config) -> anyhow::Result<Self> {
        let connection = crate::queue::connect_with(
            &config.amqp_url,
            "id2meta dead-letters",
            crate::queue::Frames::Wide,
        )
        .await?;
        let sealer = config
            .pii_key
            .as_ref()
            .map(|key| Sealer::new(key, config.dead_letter_ttl));
        Ok(Self::new(connection, Topology::from_config(config), sealer))
    }

    /// The first `limit` letters, oldest first (at most 65535).
    pub async fn list(&self, limit: usize) -> anyhow::Result<Vec<Summary>> {
        let held = self.hold(limit).await?;
        let sealer = self.sealer.as_ref();
        let summaries = held.deliveries.iter().map(|d| summary(d, sealer)).collect();
        held.release(&self.connection).await;
        Ok(summaries)
    }

    /// The letter with this dead-letter id, if it is in the queue.
    pub async fn show(&self, id: &str) -> anyhow::Result<Option<Summary>> {
        let held = self.hold(MAX_SCAN).await?;
        let found = held
            .deliveries
            .iter()
            .find(|d| letter_id(d).as_deref() == Some(id))
            .map(|d| summary(d, self.sealer.as_ref()));
        held.release(&self.connection).await;
        Ok(found)
    }

    /// Restores the selected letters, unsealed, to their source queues with
    /// publisher confirms; each leaves the dead-letter queue after its confirm.
    pub async fn replay(&self, selection: &Selection) -> anyhow::Result<Report> {
        let sealer = self
            .sealer
            .as_ref()
            .context("replay needs ID2META_PII_KEY, the key the letters were sealed with")?;
        let publisher = Publisher::open(
            &self.connection,
            &self.topology.results_exchange,
            &self.topology.dead_letter_queue,
        )
        .await?;
        self.act(selection, Action::Replay { sealer, publisher })
            .await
    }

    /// Deletes the selected letters.
    pub async fn purge(&self, selection: &Selection) -> anyhow::Result<Report> {
        self.act(selection, Action::Purge).await
    }

    async fn hold(&self, limit: usize) -> anyhow::Result<scan::Held> {
        scan::hold(&self.connection, &self.topology.dead_letter_queue, limit).await
    }

    /// Applies `action` to each selected letter; removes the letter once it succeeded.
    async fn act(&self, selection: &Selection, action: Action<'_>) -> anyhow::Result<Report> {
        let held = self.hold(MAX_SCAN).await?;
        let mut report = Report::default();
        for delivery in held.deliveries.iter().filter(|d| selected(selection, d)) {
            report.selected += 1;
            let outcome = match self.apply(&action, delivery).await {
                Ok(()) => held.remove(delivery).await,
                Err(error) => Err(error),
            };
            match outcome {
                Ok(()) => report.done += 1,
                Err(error) => report.failed.push(Failure {
                    id: letter_id(delivery),
                    error: format!("{error:#}"),
                }),
            }
        }
        held.release(&self.connection).await;
        Ok(report)
    }

    async fn apply(&self, action: &Action<'_>, delivery: &Delivery) -> anyhow::Result<()> {
        let Action::Replay { sealer, publisher } = action else {
            return Ok(());
        };
        let restored = if sealer.opens(&delivery.data, &delivery.properties) {
            sealer.open(&delivery.data, &delivery.properties)?
        } else if is_sealed(&delivery.properties) && looks_sealed(&delivery.data) {
            // Sealed by another key (or altered): say so rather than replay ciphertext.
            sealer.open(&delivery.data, &delivery.properties)?
        } else {
            // A first-release plaintext letter the sweep has not sealed yet:
            // restored as it is, to the queue its broker headers name.
            let sealed = sealer.seal_found(
                &delivery.data,
                &delivery.properties,
                &self.topology.jobs_queue,
            );
            sealer.open(&sealed.body, &sealed.properties)?
        };
        // The source queue comes from the letter (an unsealed letter's broker
        // headers can be written by anyone who can publish): only a job queue of
        // this topology may receive a replay, never the results queue or another.
        anyhow::ensure!(
            restorable(&self.topology, &restored.source_queue),
            "the letter names {:?}, not a job queue of {}; not replayed",
            restored.source_queue,
            self.topology.jobs_queue
        );
        publisher
            .publish_to_queue(&restored.source_queue, &restored.body, restored.properties)
            .await
            .with_context(|| format!("restoring to queue {}", restored.source_queue))
    }
}

/// Whether a replay may publish to `queue`: a bulk job queue of the topology
/// (the jobs queue, or one of `ID2META_QUEUE_WEIGHTS`), or the interactive lane.
fn restorable(topology: &Topology, queue: &str) -> bool {
    queue == topology.jobs_queue
        || queue == topology.interactive_queue
        || topology.bulk_queues.iter().any(|q| q == queue)
}

/// What `act` does to a selected letter before removing it.
enum Action<'a> {
    Replay {
        sealer: &'a Sealer,
        publisher: Publisher,
    },
    Purge,
}

fn selected(selection: &Selection, delivery: &Delivery) -> bool {
    match selection {
        Selection::All => true,
        Selection::Ids(ids) => letter_id(delivery).is_some_and(|id| ids.contains(&id)),
        Selection::Reason(reason) => header(delivery, headers::REASON).as_ref() == Some(reason),
        Selection::JobIds(ids) => {
            header(delivery, headers::JOB_ID).is_some_and(|id| ids.contains(&id))
        }
        Selection::Digests(digests) => {
            header(delivery, headers::IDENTITY_DIGEST).is_some_and(|d| digests.contains(&d))
        }
    }
}

fn header(delivery: &Delivery, name: &str) -> Option<String> {
    headers::text(delivery.properties.headers().as_ref()?, name)
}

fn letter_id(delivery: &Delivery) -> Option<String> {
    header(delivery, headers::DEAD_LETTER_ID)
}

/// Whether a body has the seal's shape (its format byte first); a plaintext job
/// (JSON) never does.
fn looks_sealed(body: &[u8]) -> bool {
    body.first() == Some(&super::seal::VERSION)
}

/// What the list shows of a letter. With the key at hand a letter counts as
/// sealed only if it opens; otherwise its masks are read from its body, never
/// from headers a producer could have written, and its reason only from the
/// broker's own header.
fn summary(delivery: &Delivery, sealer: Option<&Sealer>) -> Summary {
    let table = delivery.properties.headers().clone().unwrap_or_default();
    let sealed = match sealer {
        Some(sealer) => sealer.opens(&delivery.data, &delivery.properties),
        None => is_sealed(&delivery.properties) && looks_sealed(&delivery.data),
    };
    let facts = if sealed {
        Facts::from_headers(&table)
    } else {
        let message_id = delivery
            .properties
            .message_id()
            .as_ref()
            .map(|m| m.as_str());
        Facts::read(&delivery.data, message_id, None)
    };
    let at = delivery
        .properties
        .timestamp()
        .and_then(|t| DateTime::<Utc>::from_timestamp(i64::try_from(t).ok()?, 0));
    let ttl = delivery
        .properties
        .expiration()
        .as_ref()
        .and_then(|e| e.as_str().parse::<i64>().ok())
        .map(chrono::Duration::milliseconds);
    Summary {
        // An unsealed letter's id header is a producer's claim: it has none yet.
        id: headers::text(&table, headers::DEAD_LETTER_ID).filter(|_| sealed),
        reason: if sealed {
            headers::text(&table, headers::REASON)
        } else {
            headers::text(&table, "x-first-death-reason")
        },
        job_id: facts.job_id,
        name_masked: facts.name_masked,
        id_number_masked: facts.id_number_masked,
        identity_digest: facts.identity_digest,
        source_queue: headers::text(&table, headers::SOURCE_QUEUE)
            .or_else(|| headers::text(&table, "x-first-death-queue")),
        sealed,
        dead_lettered_at: at,
        expires_at: at.zip(ttl).map(|(at, ttl)| at + ttl),
        deliveries: headers::number(&table, "x-delivery-count"),
        body_bytes: delivery.data.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_goes_only_to_a_job_queue_of_its_topology() {
        let config = crate::config::Config::from_source(&std::collections::HashMap::new())
            .expect("defaults");
        let topology = Topology::from_config(&config);
        assert!(restorable(&topology, "id2meta.jobs"));
        assert!(restorable(&topology, "id2meta.jobs.interactive"));
        for elsewhere in ["id2meta.results", "id2meta.jobs.dead", "other.jobs", ""] {
            assert!(!restorable(&topology, elsewhere), "{elsewhere}");
        }
        // A weighted bulk queue is a job queue too: its letters go back to it.
        assert!(!restorable(&topology, "id2meta.jobs.partner"));
        let env = std::collections::HashMap::from([(
            "ID2META_QUEUE_WEIGHTS",
            "id2meta.jobs=1,id2meta.jobs.partner=1",
        )]);
        let config = crate::config::Config::from_source(&env).expect("valid");
        assert!(restorable(
            &Topology::from_config(&config),
            "id2meta.jobs.partner"
        ));
    }
}
