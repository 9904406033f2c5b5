//! (1) The ceiling: the same quorum queue (declared by the worker's own topology
//! code, so the same arguments), the same bodies, persistence and pipelined
//! confirms, consumed on its own connection with the worker's prefetch and one
//! manual ack per message, concurrently with publishing, as the worker would.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;

use super::host_cpu::HostCpu;
use super::jobs;
use super::scratch::Scratch;
use crate::config::Config;
use crate::queue;

/// What (1) measured.
#[derive(Debug, Clone)]
pub struct Raw {
    pub messages: u64,
    pub mean_body_bytes: f64,
    pub prefetch: u16,
    /// First publish → last confirm.
    pub publish: Duration,
    /// First publish → last ack.
    pub end_to_end: Duration,
    /// What the broker, the database and this process spent meanwhile.
    pub cpu: HostCpu,
}

impl Raw {
    pub fn rate(&self) -> f64 {
        self.messages as f64 / self.end_to_end.as_secs_f64().max(1e-9)
    }

    pub fn publish_rate(&self) -> f64 {
        self.messages as f64 / self.publish.as_secs_f64().max(1e-9)
    }
}

pub async fn measure(
    base: &Config,
    run_id: &str,
    messages: u64,
    prefetch: u16,
) -> anyhow::Result<Raw> {
    let scratch = Scratch::open(base, run_id, "raw").await?;
    let consumer = consume(&scratch, messages, prefetch).await?;
    let cpu_before = HostCpu::now();
    let started = Instant::now();
    let bytes = jobs::publish(
        &scratch.publisher,
        &scratch.topology.jobs_queue,
        &format!("bench-{run_id}-raw"),
        messages,
    )
    .await?;
    let publish = started.elapsed();
    let last_ack = consumer.await.context("the raw consumer panicked")??;
    let cpu = HostCpu::now().since(&cpu_before);
    let raw = Raw {
        messages,
        mean_body_bytes: bytes as f64 / messages.max(1) as f64,
        prefetch,
        publish,
        end_to_end: last_ack.saturating_duration_since(started),
        cpu,
    };
    scratch.remove().await?;
    Ok(raw)
}

/// Starts a consumer that acks `messages` deliveries one by one; yields the last ack's time.
async fn consume(
    scratch: &Scratch,
    messages: u64,
    prefetch: u16,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<Instant>>> {
    let connection = queue::connect(&scratch.config.amqp_url, "id2meta bench raw consumer").await?;
    let channel = connection
        .create_channel()
        .await
        .context("opening a channel")?;
    channel
        .basic_qos(prefetch, BasicQosOptions { global: false })
        .await
        .context("setting the prefetch")?;
    let mut deliveries = channel
        .basic_consume(
            scratch.topology.jobs_queue.as_str().into(),
            "id2meta-bench-raw".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .context("starting the raw consumer")?;
    Ok(tokio::spawn(async move {
        let mut acked = 0u64;
        let mut last = Instant::now();
        while acked < messages {
            let next = tokio::time::timeout(Duration::from_secs(60), deliveries.next()).await;
            let delivery = match next {
                Ok(Some(delivery)) => delivery.context("consuming")?,
                Ok(None) => bail!("the broker cancelled the raw consumer"),
                Err(_) => bail!("no delivery for 60 s: {acked} of {messages} acked"),
            };
            delivery
                .acker
                .ack(BasicAckOptions::default())
                .await
                .context("acking")?;
            acked += 1;
            last = Instant::now();
        }
        let _ = connection.close(200, "bye".into()).await;
        Ok(last)
    }))
}
