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

/// What the page says of a queue that does not exist: the interactive lane, say,
/// before any worker that declares it has started.
pub const NOT_DECLARED: &str = "not declared";

/// Depths of `queues`; each missing number says why. With the management API
/// configured it alone is asked (ready, unacknowledged, consumers; a missing queue
/// is a plain 404), so the console never makes the broker close a channel for a
/// missing queue. Without it a passive declare answers, and a missing queue's
/// channel close (which lapin logs as an ERROR on `lapin::channel`, silenced for
/// the console process by `telemetry::CONSOLE_QUIET`) reads "not declared".
pub async fn depths(
    broker: &BrokerConnection,
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
    let mut unanswered: Vec<usize> = (0..out.len()).collect();
    if let Some(url) = management_url {
        unanswered.clear();
        for (i, depth) in out.iter_mut().enumerate() {
            match managed(url, amqp_url, &depth.queue).await {
                Ok(Some(queue)) => {
                    depth.ready =
                        Some(u32::try_from(queue.messages_ready.unwrap_or(0)).unwrap_or(u32::MAX));
                    depth.unacked = Some(queue.messages_unacknowledged.unwrap_or(0));
                    depth.consumers = queue
                        .consumers
                        .map(|c| u32::try_from(c).unwrap_or(u32::MAX));
                }
                Ok(None) => depth.note = Some(NOT_DECLARED.into()),
                Err(error) => {
                    depth.note = Some(format!("management API: {error:#}"));
                    unanswered.push(i);
                }
            }
        }
    }
    if unanswered.is_empty() {
        return out;
    }
    let mut held = broker.lock().await;
    let reusable = held.as_ref().is_some_and(|c| c.status().connected());
    if !reusable {
        *held = crate::queue::connect(amqp_url, "id2meta-console")
            .await
            .map_err(|error| {
                for &i in &unanswered {
                    out[i].note = Some(format!("{error:#}"));
                }
            })
            .ok();
    }
    if let Some(connection) = held.as_ref() {
        for i in unanswered {
            let depth = &mut out[i];
            // One channel per queue: a passive declare of a missing queue closes it.
            match passive(connection, &depth.queue).await {
                Ok(Some((ready, consumers))) => {
                    depth.ready = Some(ready);
                    depth.consumers = Some(consumers);
                }
                Ok(None) => depth.note = Some(NOT_DECLARED.into()),
                Err(error) => depth.note = Some(format!("{error:#}")),
            }
        }
    }
    out
}

/// The console's one broker connection for passive declares, opened on first use
/// and again after it dropped: a connection per page view costs a handshake
/// (tens of milliseconds) every refresh.
pub type BrokerConnection = std::sync::Arc<tokio::sync::Mutex<Option<lapin::Connection>>>;

/// Ready and consumers; `None` when the queue does not exist (the broker's 404).
async fn passive(
    connection: &lapin::Connection,
    queue: &str,
) -> anyhow::Result<Option<(u32, u32)>> {
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
        .await;
    match declared {
        Ok(declared) => {
            let _ = channel.close(200, "done".into()).await;
            Ok(Some((declared.message_count(), declared.consumer_count())))
        }
        Err(error) if is_not_found(&error) => Ok(None),
        Err(error) => Err(error).context("asking the broker for the queue"),
    }
}

/// The broker's NOT_FOUND (404), the answer to a passive declare of a missing queue.
fn is_not_found(error: &lapin::Error) -> bool {
    matches!(error.kind(), lapin::ErrorKind::ProtocolError(e) if e.get_id() == 404)
}

#[derive(serde::Deserialize)]
struct ManagedQueue {
    messages_ready: Option<u64>,
    messages_unacknowledged: Option<u64>,
    consumers: Option<u64>,
}

/// The queue from `GET /api/queues/<vhost>/<queue>` (`None` on 404: not declared);
/// the user and password come from the management URL (`http://user:pass@host:15672`).
async fn managed(
    management_url: &str,
    amqp_url: &str,
    queue: &str,
) -> anyhow::Result<Option<ManagedQueue>> {
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
    let client = crate::tls::http_client()
        .timeout(Duration::from_secs(3))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building an HTTP client")?;
    let mut request = client.get(url);
    if !user.is_empty() {
        request = request.basic_auth(user, password);
    }
    let answer = request.send().await.context("asking the management API")?;
    if answer.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let answer: ManagedQueue = answer
        .error_for_status()
        .context("the management API refused")?
        .json()
        .await
        .context("reading the management API's answer")?;
    Ok(Some(answer))
}
