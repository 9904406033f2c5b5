//! Building a message body from fields: a CSV row's body, and a field added to
//! a JSON object without re-serialising it, shared by both readers so a CSV row
//! and a JSON line come out the same way.

use serde_json::Value;

use crate::job::Job;
use crate::secret::Pii;

/// A CSV row's body: built like the demo's, then checked like any other. The
/// priority is copied as written: an unknown one makes the job `invalid` at the
/// worker, as the same value in a JSON line would.
pub(super) fn csv_body(
    job_id: &str,
    name: &str,
    id_number: &str,
    batch_id: Option<String>,
    priority: Option<&str>,
) -> Vec<u8> {
    let body = Job::new(job_id, Pii::new(name), Pii::new(id_number), batch_id, None).to_body();
    match priority {
        None => body,
        Some(priority) => insert_first_field(&body, "priority", priority),
    }
}

/// `{...}` with `"key":"value",` added right after the opening brace.
pub(super) fn insert_first_field(object: &[u8], key: &str, value: &str) -> Vec<u8> {
    // Callers pass a parsed, non-empty object; anything else is returned as is
    // rather than indexed past its end.
    let Some(brace) = object.iter().position(|b| *b == b'{') else {
        return object.to_vec();
    };
    let field = format!("{}:{},", Value::from(key), Value::from(value));
    let mut body = Vec::with_capacity(object.len() + field.len());
    body.extend_from_slice(&object[..=brace]);
    body.extend_from_slice(field.as_bytes());
    body.extend_from_slice(&object[brace + 1..]);
    body
}
