//! The test environment's readers: the rows stored, and the completions and
//! dead letters taken off their queues (waiting for a count where a test needs
//! one), apart from the setup in `helpers.rs`.

use std::time::Duration;

use id2meta::queue::dead_letters::{self, is_sealed, Sealer};
use id2meta::queue::{Completion, REASON_HEADER};
use id2meta::secret::Secret;
use id2meta::store::ResultRow;
use lapin::types::AMQPValue;
use lapin::BasicProperties;

use super::{collect_until, eventually, queues, TestEnv, PII_KEY};

impl TestEnv {
    /// Waits until `count` rows exist (or panics after `within`).
    pub async fn wait_for_rows(&self, count: usize, within: Duration) -> Vec<ResultRow> {
        eventually(&format!("{count} rows"), within, || async {
            let rows = self.rows().await;
            (rows.len() >= count).then_some(rows)
        })
        .await
    }

    pub async fn rows(&self) -> Vec<ResultRow> {
        self.store.results(None, 1_000_000).await.expect("rows")
    }

    /// Takes every message from a queue (acknowledging them) with its headers.
    async fn drain(&self, queue_name: &str) -> Vec<(Vec<u8>, Option<String>)> {
        self.drain_messages(queue_name)
            .await
            .into_iter()
            .map(|(body, properties)| {
                let reason = properties
                    .headers()
                    .as_ref()
                    .and_then(|h| h.inner().get(REASON_HEADER).cloned())
                    .and_then(|v| match v {
                        AMQPValue::LongString(s) => {
                            Some(String::from_utf8_lossy(s.as_bytes()).to_string())
                        }
                        _ => None,
                    });
                (body, reason)
            })
            .collect()
    }

    /// Takes every message from a queue (acknowledging them) with all its properties.
    async fn drain_messages(&self, queue_name: &str) -> Vec<(Vec<u8>, BasicProperties)> {
        queues::drain(self.publisher.channel(), queue_name).await
    }

    /// Every completion published so far (drains the results queue).
    pub async fn completions(&self) -> Vec<Completion> {
        self.drain(&self.config.results_queue())
            .await
            .into_iter()
            .map(|(body, _)| serde_json::from_slice(&body).expect("a completion"))
            .collect()
    }

    /// Every dead letter so far, opened (its original body), with its reason
    /// header (drains the queue). Each must rest sealed.
    pub async fn dead_letters(&self) -> Vec<(Vec<u8>, Option<String>)> {
        let sealer = self.sealer();
        self.drain_messages(&self.config.dead_letter_queue())
            .await
            .into_iter()
            .map(|(body, properties)| {
                assert!(is_sealed(&properties), "a dead letter at rest is sealed");
                let reason = properties
                    .headers()
                    .as_ref()
                    .and_then(|h| dead_letters::headers::text(h, REASON_HEADER));
                let restored = sealer
                    .open(&body, &properties)
                    .expect("a dead letter opens with the test key");
                (restored.body, reason)
            })
            .collect()
    }

    /// The sealer of this environment's key, to open dead letters.
    pub fn sealer(&self) -> Sealer {
        Sealer::new(&Secret::new(PII_KEY), self.config.dead_letter_ttl)
    }

    /// Has the broker itself dead-letter everything in the jobs queue: returns
    /// each message until its delivery limit is spent.
    pub async fn exhaust_delivery_limit(&self) {
        let channel = self.publisher.channel();
        for _ in 0..(self.config.delivery_limit + 5) * 10 {
            let message = channel
                .basic_get(
                    self.config.jobs_queue.as_str().into(),
                    lapin::options::BasicGetOptions::default(),
                )
                .await
                .expect("basic_get");
            let Some(message) = message else { return };
            // A reject, not a nack: RabbitMQ 4.3 counts a `basic.nack` requeue as no
            // failed delivery (it never reaches the limit); a reject counts everywhere.
            message
                .delivery
                .acker
                .reject(lapin::options::BasicRejectOptions { requeue: true })
                .await
                .expect("reject");
        }
        panic!("the broker did not dead-letter the jobs queue's messages");
    }

    /// Every dead letter so far with all its properties (drains the queue).
    #[allow(dead_code)] // used by tests/privacy.rs, which shares this file
    pub async fn dead_letter_messages(&self) -> Vec<(Vec<u8>, BasicProperties)> {
        self.drain_messages(&self.config.dead_letter_queue()).await
    }

    /// Drains completions until at least `count` have arrived; returns them all.
    pub async fn completions_until(&self, count: usize, within: Duration) -> Vec<Completion> {
        collect_until("completions", count, within, || self.completions()).await
    }

    /// Drains dead letters until at least `count` have arrived; returns them all.
    pub async fn dead_letters_until(
        &self,
        count: usize,
        within: Duration,
    ) -> Vec<(Vec<u8>, Option<String>)> {
        collect_until("dead letters", count, within, || self.dead_letters()).await
    }

    /// Messages still in the jobs queue (ready, not unacknowledged).
    pub async fn jobs_ready(&self) -> u32 {
        queues::ready(self.publisher.channel(), &self.config.jobs_queue).await
    }
}
