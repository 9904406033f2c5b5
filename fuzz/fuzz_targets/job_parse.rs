//! Arbitrary bytes through everything a message meets before a billed call:
//! the job parser, identity validation, masks. None of it may panic; what the
//! parser accepts must keep the contract's limits (a job_id is an AMQP short
//! string: at most 255 bytes; metadata is storable in `jsonb`: no NUL), and a
//! parsed job must survive its own round trip.
#![no_main]

use id2meta::identity::{is_hidden_or_control, mask_id_number, mask_name, Identity};
use id2meta::job::{Job, MAX_BATCH_ID_CHARS, MAX_BODY_BYTES, MAX_JOB_ID_CHARS, MAX_METADATA_BYTES};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The AMQP short-string limit the completion's `message_id` must fit.
const SHORT_STRING_BYTES: usize = 255;

fuzz_target!(|body: &[u8]| {
    let message_id = std::str::from_utf8(body.get(..8).unwrap_or_default()).ok();
    let Ok(job) = Job::parse(body, message_id) else {
        return;
    };
    assert!(
        is_label(&job.job_id, MAX_JOB_ID_CHARS),
        "job_id is not a label"
    );
    assert!(
        job.job_id.len() <= SHORT_STRING_BYTES,
        "job_id of {} bytes accepted",
        job.job_id.len()
    );
    if let Some(batch_id) = &job.batch_id {
        assert!(
            is_label(batch_id, MAX_BATCH_ID_CHARS),
            "batch_id is not a label"
        );
    }
    if let Some(metadata) = &job.metadata {
        assert!(metadata.is_object(), "metadata is not an object");
        assert!(
            metadata.to_string().len() <= MAX_METADATA_BYTES,
            "metadata too large"
        );
        assert!(!holds_nul(metadata), "metadata with a NUL accepted");
    }
    let _ = Identity::parse(job.name.expose(), job.id_number.expose());
    assert!(mask_id_number(job.id_number.expose()).chars().count() <= 18);
    let _ = mask_name(job.name.expose());
    // The canonical body can outgrow the limit (a job_id from message_id,
    // numbers re-spelled); below it, it must read back as the same job.
    let canonical = job.to_body();
    if canonical.len() <= MAX_BODY_BYTES {
        let again = Job::parse(&canonical, None).map(|j| j.job_id);
        assert_eq!(again.ok().as_deref(), Some(job.job_id.as_str()));
    }
});

fn is_label(value: &str, max_chars: usize) -> bool {
    (1..=max_chars).contains(&value.chars().count()) && !value.chars().any(is_hidden_or_control)
}

/// A NUL in any key or string, at any depth (PostgreSQL's `jsonb` refuses it).
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}
