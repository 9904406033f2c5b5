//! One dead letter: how a message becomes a sealed letter, and how a sealed
//! letter becomes the message again (for replay).
//!
//! Inside the seal is an envelope: the original body and the properties a
//! replay restores (`message_id`, which can be a job's id, `content_type`,
//! the producer's headers). Outside are only the reason, the letter's id, the
//! source queue, masks and digest, and the retention (`expiration`).

use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use lapin::types::{FieldTable, ShortString};
use lapin::BasicProperties;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::headers::{self, Facts};
use super::seal::{associated_data, SealBroken, SealKey, FORMAT};
use crate::secret::Secret;

/// AMQP delivery mode 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;
/// A broker dead letter whose `x-death` gives no reason.
const UNKNOWN_REASON: &str = "dead_lettered_by_broker";

/// Seals dead letters and opens them; holds the derived key and the retention.
#[derive(Clone)]
pub struct Sealer {
    key: SealKey,
    pii_key: Secret,
    ttl: Duration,
}

/// A message ready to be published to the dead-letter queue.
pub struct Sealed {
    pub id: String,
    pub body: Vec<u8>,
    pub properties: BasicProperties,
}

/// A dead letter opened: the message to publish again, and where.
pub struct Restored {
    pub source_queue: String,
    pub body: Vec<u8>,
    pub properties: BasicProperties,
}

/// What the seal keeps of the original message.
#[derive(Serialize, Deserialize)]
struct Envelope {
    message_id: Option<String>,
    content_type: Option<String>,
    headers: FieldTable,
    /// Base64: bodies need not be UTF-8.
    body: String,
}

impl Sealer {
    /// `ttl` is `ID2META_DEAD_LETTER_TTL`, set as each letter's expiration.
    pub fn new(pii_key: &Secret, ttl: Duration) -> Self {
        Self {
            key: SealKey::derive(pii_key),
            pii_key: pii_key.clone(),
            ttl,
        }
    }

    /// Seals a message the worker refused (`reason`) from `source_queue`.
    pub fn seal(
        &self,
        body: &[u8],
        properties: &BasicProperties,
        reason: &str,
        source_queue: &str,
    ) -> Sealed {
        let message_id = properties.message_id().as_ref().map(|m| m.as_str());
        let facts = Facts::read(body, message_id, Some(&self.pii_key));
        let id = Uuid::new_v4().to_string();
        let envelope = Envelope {
            message_id: message_id.map(str::to_owned),
            content_type: properties.content_type().as_ref().map(|c| c.to_string()),
            headers: headers::producer_headers(&original_headers(properties)),
            body: base64::engine::general_purpose::STANDARD.encode(body),
        };
        let plain = serde_json::to_vec(&envelope).unwrap_or_else(|_| {
            // A producer header JSON cannot carry: keep the message without its headers.
            let bare = Envelope {
                headers: FieldTable::default(),
                ..envelope
            };
            serde_json::to_vec(&bare)
                .unwrap_or_else(|_| unreachable!("strings and an empty table always serialise"))
        });
        let job_id = facts.job_id.clone().unwrap_or_default();
        let ad = associated_data(&[&id, reason, &job_id, source_queue]);
        let mut table = FieldTable::default();
        headers::insert_text(&mut table, headers::DEAD_LETTER_ID, &id);
        headers::insert_text(&mut table, headers::SEALED, FORMAT);
        headers::insert_text(&mut table, headers::REASON, reason);
        headers::insert_text(&mut table, headers::SOURCE_QUEUE, source_queue);
        facts.insert_into(&mut table);
        let mut properties = BasicProperties::default()
            .with_headers(table)
            .with_delivery_mode(PERSISTENT)
            .with_timestamp(u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0));
        // `try_new`, not `From` (which panics above 255 bytes): both fit (a constant,
        // and at most 39 digits), and neither could ever panic here.
        if let Ok(content_type) = ShortString::try_new("application/octet-stream") {
            properties = properties.with_content_type(content_type);
        }
        if let Ok(expiration) = ShortString::try_new(self.ttl.as_millis().to_string()) {
            properties = properties.with_expiration(expiration);
        }
        Sealed {
            body: self.key.seal(&plain, &ad),
            id,
            properties,
        }
    }

    /// Seals a message found unsealed (the broker dead-lettered it, or an older
    /// worker wrote it in plaintext): the reason and source queue come from
    /// its headers, else from `fallback_source`.
    pub fn seal_found(
        &self,
        body: &[u8],
        properties: &BasicProperties,
        fallback_source: &str,
    ) -> Sealed {
        let found = original_headers(properties);
        // The broker's own reason first (it overwrites a producer's); a letter an
        // older worker wrote names its reason in ours, but as a header anyone can
        // write, so only a reason code's shape is kept (never free text: a name).
        let reason = headers::text(&found, "x-first-death-reason")
            .or_else(|| headers::text(&found, headers::REASON))
            .filter(|r| is_reason_code(r))
            .unwrap_or_else(|| UNKNOWN_REASON.to_string());
        let source = headers::text(&found, "x-first-death-queue")
            .unwrap_or_else(|| fallback_source.to_string());
        self.seal(body, properties, &reason, &source)
    }

    /// Opens a sealed letter into the message it was.
    pub fn open(&self, body: &[u8], properties: &BasicProperties) -> anyhow::Result<Restored> {
        let table = original_headers(properties);
        let field = |name| headers::text(&table, name).unwrap_or_default();
        let source_queue = headers::text(&table, headers::SOURCE_QUEUE)
            .context("the dead letter names no source queue")?;
        let ad = associated_data(&[
            &field(headers::DEAD_LETTER_ID),
            &field(headers::REASON),
            &field(headers::JOB_ID),
            &source_queue,
        ]);
        let plain = self.key.open(body, &ad)?;
        let envelope: Envelope = serde_json::from_slice(&plain).map_err(|_| SealBroken)?;
        let body = base64::engine::general_purpose::STANDARD
            .decode(envelope.body)
            .map_err(|_| SealBroken)?;
        let mut properties = BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_headers(envelope.headers);
        // Both were short strings when they arrived; refuse rather than panic if not.
        if let Some(id) = envelope
            .message_id
            .and_then(|m| ShortString::try_new(m).ok())
        {
            properties = properties.with_message_id(id);
        }
        if let Some(ct) = envelope
            .content_type
            .and_then(|c| ShortString::try_new(c).ok())
        {
            properties = properties.with_content_type(ct);
        }
        Ok(Restored {
            source_queue,
            body,
            properties,
        })
    }
}

/// A reason code's shape: `delivery_limit`, `not_json`, `job_id_conflict`.
fn is_reason_code(reason: &str) -> bool {
    (1..=64).contains(&reason.len())
        && reason
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl Sealer {
    /// Whether a letter is sealed by this key: it opens. What a letter's headers
    /// claim decides nothing here, since a producer can publish a job with
    /// `x-id2meta-sealed` (and the broker dead-letters it as it came).
    pub fn opens(&self, body: &[u8], properties: &BasicProperties) -> bool {
        self.open(body, properties).is_ok()
    }
}

/// Whether a letter *says* it is sealed (the header). Only for display where no
/// key is at hand; sealing decisions use [`Sealer::opens`].
pub fn is_sealed(properties: &BasicProperties) -> bool {
    original_headers(properties).contains_key(headers::SEALED)
}

fn original_headers(properties: &BasicProperties) -> FieldTable {
    properties.headers().clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::{AMQPValue, LongString};

    fn sealer() -> Sealer {
        Sealer::new(&Secret::new("k"), Duration::from_secs(14 * 86_400))
    }

    const BODY: &str = r#"{"job_id":"j1","name":"张三","id_number":"11010519491231002X"}"#;

    #[test]
    fn a_sealed_letter_opens_into_the_original_message() {
        let mut producer = FieldTable::default();
        producer.insert(
            "x-trace".into(),
            AMQPValue::LongString(LongString::from("t")),
        );
        let original = BasicProperties::default()
            .with_message_id("m1".into())
            .with_content_type("application/json".into())
            .with_headers(producer.clone());
        let sealed = sealer().seal(BODY.as_bytes(), &original, "job_id_conflict", "jobs");
        assert_eq!(
            sealed.properties.expiration().as_ref().unwrap().as_str(),
            "1209600000"
        );
        assert!(is_sealed(&sealed.properties));
        let restored = sealer().open(&sealed.body, &sealed.properties).unwrap();
        assert_eq!(restored.source_queue, "jobs");
        assert_eq!(restored.body, BODY.as_bytes());
        assert_eq!(
            restored.properties.message_id().as_ref().unwrap().as_str(),
            "m1"
        );
        assert_eq!(restored.properties.headers().as_ref(), Some(&producer));
    }

    #[test]
    fn a_producer_s_seal_header_does_not_make_a_message_sealed() {
        let mut claimed = FieldTable::default();
        headers::insert_text(&mut claimed, headers::SEALED, super::FORMAT);
        headers::insert_text(&mut claimed, headers::DEAD_LETTER_ID, "forged");
        headers::insert_text(&mut claimed, headers::SOURCE_QUEUE, "jobs");
        headers::insert_text(&mut claimed, headers::REASON, "张三 11010519491231002X");
        let forged = BasicProperties::default().with_headers(claimed);
        assert!(is_sealed(&forged), "the header claims it");
        assert!(!sealer().opens(BODY.as_bytes(), &forged), "the key says no");
        let sealed = sealer().seal_found(BODY.as_bytes(), &forged, "jobs");
        assert!(sealer().opens(&sealed.body, &sealed.properties));
        let table = sealed.properties.headers().clone().unwrap();
        assert_eq!(
            headers::text(&table, headers::REASON).unwrap(),
            UNKNOWN_REASON
        );
        let restored = sealer().open(&sealed.body, &sealed.properties).unwrap();
        assert!(
            restored
                .properties
                .headers()
                .as_ref()
                .unwrap()
                .inner()
                .keys()
                .all(|k| !k.as_str().starts_with("x-id2meta-")),
            "the producer's x-id2meta-* headers are not restored"
        );
    }

    #[test]
    fn a_letter_whose_source_queue_was_edited_does_not_open() {
        let sealed = sealer().seal(BODY.as_bytes(), &BasicProperties::default(), "r", "jobs");
        let mut table = sealed.properties.headers().clone().unwrap();
        headers::insert_text(&mut table, headers::SOURCE_QUEUE, "elsewhere");
        let edited = sealed.properties.clone().with_headers(table);
        assert!(sealer().open(&sealed.body, &edited).is_err());
    }

    #[test]
    fn a_broker_dead_letter_takes_its_reason_and_source_from_the_broker_headers() {
        let mut broker = FieldTable::default();
        headers::insert_text(&mut broker, "x-first-death-reason", "delivery_limit");
        headers::insert_text(&mut broker, "x-first-death-queue", "jobs.interactive");
        let found = BasicProperties::default().with_headers(broker);
        let sealed = sealer().seal_found(BODY.as_bytes(), &found, "jobs");
        let table = sealed.properties.headers().clone().unwrap();
        assert_eq!(
            headers::text(&table, headers::REASON).unwrap(),
            "delivery_limit"
        );
        assert_eq!(
            headers::text(&table, headers::SOURCE_QUEUE).unwrap(),
            "jobs.interactive"
        );
        let restored = sealer().open(&sealed.body, &sealed.properties).unwrap();
        assert!(restored
            .properties
            .headers()
            .as_ref()
            .unwrap()
            .inner()
            .is_empty());
    }
}
