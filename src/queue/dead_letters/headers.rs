//! The clear part of a dead letter: masks and digest read from its body, and
//! the AMQP headers that carry them (the contract's `x-id2meta-*` names).
//!
//! Built fallibly: header *names* are AMQP short strings (255 bytes at most,
//! and lapin's `ShortString::from` panics above that), so every name here is a
//! constant, and every value that comes from input is a long string or is
//! dropped. Nothing here copies a name or an ID number: only their masks.

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use serde_json::Value;

use crate::identity::{identity_digest, mask_id_number, mask_name, Identity};
use crate::job::{Job, MAX_BODY_BYTES};
use crate::secret::Secret;

pub const REASON: &str = crate::queue::REASON_HEADER;
pub const JOB_ID: &str = "x-id2meta-job-id";
pub const NAME_MASKED: &str = "x-id2meta-name-masked";
pub const ID_NUMBER_MASKED: &str = "x-id2meta-id-number-masked";
pub const IDENTITY_DIGEST: &str = "x-id2meta-identity-digest";
pub const SOURCE_QUEUE: &str = "x-id2meta-source-queue";
/// The id this worker gives a dead letter when it seals it (a UUID).
pub const DEAD_LETTER_ID: &str = "x-id2meta-dead-letter-id";
/// Present on a sealed letter; its value names the seal's format.
pub const SEALED: &str = "x-id2meta-sealed";

/// Headers the broker sets on what it dead-letters or redelivers; never restored.
const BROKER_HEADERS: [&str; 2] = ["x-death", "x-delivery-count"];
const BROKER_PREFIXES: [&str; 2] = ["x-first-death-", "x-last-death-"];

/// What can be told about a body without revealing it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub job_id: Option<String>,
    pub name_masked: Option<String>,
    pub id_number_masked: Option<String>,
    pub identity_digest: Option<String>,
}

impl Facts {
    /// Masks what can be read: a job's fields, or the string fields of a JSON
    /// object that is not quite a job; nothing from a body that is not JSON.
    pub fn read(body: &[u8], message_id: Option<&str>, pii_key: Option<&Secret>) -> Facts {
        let (job_id, name, id_number) = match Job::parse(body, message_id) {
            Ok(job) => (
                Some(job.job_id),
                job.name.expose().to_string(),
                job.id_number.expose().to_string(),
            ),
            Err(_) => match loose_fields(body) {
                Some(fields) => fields,
                None => return Facts::default(),
            },
        };
        let identity_digest = match (pii_key, present(&name), present(&id_number)) {
            (Some(key), Some(name), Some(id_number)) => {
                Some(match Identity::parse(name, id_number) {
                    Ok(identity) => identity.digest(key),
                    Err(_) => identity_digest(key, id_number.trim(), name.trim()),
                })
            }
            _ => None,
        };
        Facts {
            job_id,
            name_masked: present(&name).map(mask_name),
            id_number_masked: present(&id_number).map(mask_id_number),
            identity_digest,
        }
    }

    /// Adds these facts to a header table (absent facts add nothing).
    pub fn insert_into(&self, headers: &mut FieldTable) {
        let pairs = [
            (JOB_ID, &self.job_id),
            (NAME_MASKED, &self.name_masked),
            (ID_NUMBER_MASKED, &self.id_number_masked),
            (IDENTITY_DIGEST, &self.identity_digest),
        ];
        for (name, value) in pairs {
            if let Some(value) = value {
                insert_text(headers, name, value);
            }
        }
    }

    /// The facts a sealed letter carries in its headers.
    pub fn from_headers(headers: &FieldTable) -> Facts {
        Facts {
            job_id: text(headers, JOB_ID),
            name_masked: text(headers, NAME_MASKED),
            id_number_masked: text(headers, ID_NUMBER_MASKED),
            identity_digest: text(headers, IDENTITY_DIGEST),
        }
    }
}

/// The value, unless it is empty or white space.
fn present(raw: &str) -> Option<&str> {
    (!raw.trim().is_empty()).then_some(raw)
}

/// `job_id`, `name`, `id_number` of a JSON object that is not a job (wrong
/// types elsewhere, a duplicate key, too large): strings only, the job_id only
/// if it would be a valid one.
fn loose_fields(body: &[u8]) -> Option<(Option<String>, String, String)> {
    // Masking a huge body's fields is pointless work; its size is the reason.
    if body.len() > 4 * MAX_BODY_BYTES {
        return None;
    }
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    let string = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_owned);
    // The job module's rules decide what a valid job_id is.
    let job_id = string("job_id").filter(|id| {
        let probe = serde_json::json!({ "job_id": id }).to_string();
        Job::parse(probe.as_bytes(), None).is_ok()
    });
    Some((
        job_id,
        string("name").unwrap_or_default(),
        string("id_number").unwrap_or_default(),
    ))
}

/// Inserts a text header under a constant name. `try_new`, not `From` (which
/// panics above 255 bytes): the names are constants (a test checks they fit),
/// and a name that did not fit would be left out, never a panic.
pub fn insert_text(headers: &mut FieldTable, name: &'static str, value: &str) {
    if let Ok(name) = ShortString::try_new(name) {
        headers.insert(name, AMQPValue::LongString(LongString::from(value)));
    }
}

/// A header's text, whichever string type the publisher used.
pub fn text(headers: &FieldTable, name: &str) -> Option<String> {
    match headers.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

/// A header's whole number (the broker's `x-delivery-count`), if any.
pub fn number(headers: &FieldTable, name: &str) -> Option<i64> {
    match headers.inner().get(name)? {
        AMQPValue::LongLongInt(n) => Some(*n),
        AMQPValue::LongInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortInt(n) => Some(i64::from(*n)),
        AMQPValue::LongUInt(n) => Some(i64::from(*n)),
        _ => None,
    }
}

/// The producer's own headers: without the broker's and without ours.
pub fn producer_headers(headers: &FieldTable) -> FieldTable {
    let mut kept = FieldTable::default();
    for (name, value) in headers {
        let name_text = name.as_str();
        let broker = BROKER_HEADERS.contains(&name_text)
            || BROKER_PREFIXES.iter().any(|p| name_text.starts_with(p));
        if !broker && !name_text.starts_with("x-id2meta-") {
            kept.insert(name.clone(), value.clone());
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "张三";
    const NUMBER: &str = "11010519491231002X";

    fn key() -> Secret {
        Secret::new("k")
    }

    #[test]
    fn a_job_body_gives_its_job_id_masks_and_digest() {
        let body = format!(r#"{{"job_id":"j1","name":"{NAME}","id_number":"{NUMBER}"}}"#);
        let facts = Facts::read(body.as_bytes(), None, Some(&key()));
        assert_eq!(facts.job_id.as_deref(), Some("j1"));
        assert_eq!(facts.name_masked.as_deref(), Some("张*"));
        assert_eq!(
            facts.id_number_masked.as_deref(),
            Some("110***********002X")
        );
        let identity = Identity::parse(NAME, NUMBER).unwrap();
        assert_eq!(facts.identity_digest, Some(identity.digest(&key())));
    }

    #[test]
    fn a_json_object_that_is_not_a_job_gives_what_can_be_read() {
        let body =
            format!(r#"{{"job_id":"j1","name":"{NAME}","id_number":"{NUMBER}","batch_id":7}}"#);
        let facts = Facts::read(body.as_bytes(), None, None);
        assert_eq!(facts.job_id.as_deref(), Some("j1"));
        assert_eq!(facts.name_masked.as_deref(), Some("张*"));
        assert_eq!(facts.identity_digest, None, "no key, no digest");
        let long = format!(r#"{{"job_id":"{}","name":7}}"#, "x".repeat(300));
        assert_eq!(Facts::read(long.as_bytes(), None, None), Facts::default());
    }

    #[test]
    fn a_body_that_is_not_json_gives_nothing() {
        let truncated = format!(r#"{{"job_id":"j1","name":"{NAME}","id_number":"{NUMBER}"#);
        assert_eq!(
            Facts::read(truncated.as_bytes(), None, Some(&key())),
            Facts::default()
        );
        assert_eq!(Facts::read(b"\xff\xfe", None, None), Facts::default());
    }

    #[test]
    fn the_facts_survive_the_headers_and_broker_headers_are_not_kept() {
        let facts = Facts {
            job_id: Some("j".repeat(300)),
            name_masked: Some("张*".into()),
            id_number_masked: None,
            identity_digest: Some("ab".into()),
        };
        let mut headers = FieldTable::default();
        facts.insert_into(&mut headers);
        insert_text(&mut headers, "x-death", "broker");
        insert_text(&mut headers, "x-first-death-queue", "q");
        insert_text(&mut headers, "x-trace", "mine");
        assert_eq!(Facts::from_headers(&headers), facts);
        let kept = producer_headers(&headers);
        assert_eq!(
            kept.inner().keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            ["x-trace"]
        );
    }

    #[test]
    fn every_header_name_fits_an_amqp_short_string_and_a_long_value_is_kept_whole() {
        let mut table = FieldTable::default();
        for name in [
            REASON,
            JOB_ID,
            NAME_MASKED,
            ID_NUMBER_MASKED,
            IDENTITY_DIGEST,
            SOURCE_QUEUE,
            DEAD_LETTER_ID,
            SEALED,
        ] {
            assert!(ShortString::try_new(name).is_ok(), "{name}");
            // A value sized by input (a 384-byte CJK job_id, say) is a long string.
            insert_text(&mut table, name, &"工".repeat(128));
            assert_eq!(text(&table, name).map(|v| v.len()), Some(384));
        }
    }
}
