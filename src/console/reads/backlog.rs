//! The backlog: how many jobs wait in the job queues.
//!
//! A passive declare answers the ready count with no permission beyond the vhost and
//! changes nothing (a missing queue is reported, not created). Unacknowledged
//! messages (jobs in flight on the workers) only the management API knows; it is
//! asked when `ID2META_MANAGEMENT_URL` is set.

use std::time::Duration;

use anyhow::Context;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;

/// One job queue's depth.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueDepth {
    pub queue: String,
    /// None: the queue does not exist (or the broker could not be asked).
    pub ready: Option<u32>,
    pub consumers: Option<u32>,
    /// From the management API, when configured.
    pub unacked: Option<u64>,
    /// Why a number is missing, for the page.
    pub note: Option<String>,
}

/// Depths of `queues`; each missing number says why.
pub async fn depths(
    amqp_url: &str,
    management_url: Option<&str>,
    queues: &[String],
) -> Vec<QueueDepth> {
    let mut out: Vec<QueueDepth> = queues
        .iter()
        .map(|q| QueueDepth {
            queue: q.clone(),
            ..QueueDepth::default()
        })
        .collect();
    match crate::queue::connect(amqp_url, "id2meta-console").await {
        Ok(connection) => {
            for depth in &mut out {
                // One channel per queue: a passive declare of a missing queue closes it.
                match passive(&connection, &depth.queue).await {
                    Ok((ready, consumers)) => {
                        depth.ready = Some(ready);
                        depth.consumers = Some(consumers);
                    }
                    Err(error) => depth.note = Some(format!("{error:#}")),
                }
            }
            let _ = connection.close(200, "done".into()).await;
        }
        Err(error) => {
            for depth in &mut out {
                depth.note = Some(format!("{error:#}"));
            }
        }
    }
    if let Some(url) = management_url {
        for depth in &mut out {
            match unacked(url, amqp_url, &depth.queue).await {
                Ok((ready, unacked)) => {
                    depth.ready = depth.ready.or(Some(ready));
                    depth.unacked = Some(unacked);
                }
                Err(error) => depth.note = Some(format!("management API: {error:#}")),
            }
        }
    }
    out
}

async fn passive(connection: &lapin::Connection, queue: &str) -> anyhow::Result<(u32, u32)> {
    let channel = connection
        .create_channel()
        .await
        .context("opening a channel")?;
    let declared = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .context("the queue does not exist yet")?;
    let _ = channel.close(200, "done".into()).await;
    Ok((declared.message_count(), declared.consumer_count()))
}

#[derive(serde::Deserialize)]
struct ManagedQueue {
    messages_ready: Option<u64>,
    messages_unacknowledged: Option<u64>,
}

/// Ready and unacknowledged from `GET /api/queues/<vhost>/<queue>`; the user and
/// password come from the management URL (`http://user:pass@host:15672`).
async fn unacked(management_url: &str, amqp_url: &str, queue: &str) -> anyhow::Result<(u32, u64)> {
    let base = reqwest::Url::parse(management_url).context("parsing ID2META_MANAGEMENT_URL")?;
    let (user, password) = (
        base.username().to_string(),
        base.password().map(str::to_string),
    );
    let mut url = base.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    // The vhost as the AMQP URL names it (already percent-encoded); `/` when it names none.
    let vhost = reqwest::Url::parse(amqp_url)
        .ok()
        .map(|u| u.path().trim_start_matches('/').to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "%2f".to_string());
    let queue = percent_encoding::utf8_percent_encode(queue, percent_encoding::NON_ALPHANUMERIC);
    let url = format!(
        "{}/api/queues/{vhost}/{queue}",
        url.as_str().trim_end_matches('/')
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building an HTTP client")?;
    let mut request = client.get(url);
    if !user.is_empty() {
        request = request.basic_auth(user, password);
    }
    let answer: ManagedQueue = request
        .send()
        .await
        .context("asking the management API")?
        .error_for_status()
        .context("the management API refused")?
        .json()
        .await
        .context("reading the management API's answer")?;
    let ready = u32::try_from(answer.messages_ready.unwrap_or(0)).unwrap_or(u32::MAX);
    Ok((ready, answer.messages_unacknowledged.unwrap_or(0)))
}
