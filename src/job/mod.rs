//! What a message must be to count as a job.
//!
//! Two fates, kept apart on purpose. A message we cannot even tell apart from
//! the others (not UTF-8 JSON, no usable `job_id`, too large, fields of the
//! wrong JSON type, ambiguous duplicate keys) is [`NotAJob`] and goes to the
//! dead-letter queue with [`NotAJob::reason`]. A message that names a job but
//! whose values are bad (empty name, over-long `batch_id`, huge `metadata`)
//! is a [`Job`] that ends `invalid`: stored and completed like any other, so
//! the producer learns its fate under its own `job_id`.
//!
//! Nothing here formats a field's value into an error.

mod priority;
mod top_level;

pub use priority::{Priority, PRIORITY_INVALID};

use serde_json::{Map, Value};

use crate::identity::is_hidden_or_control;
use crate::secret::Pii;
use top_level::TopLevel;

/// A message body over this is not a job.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// `metadata` over this (serialised) makes the job `invalid`.
pub const MAX_METADATA_BYTES: usize = 4 * 1024;
/// `job_id` length limit, in characters.
pub const MAX_JOB_ID_CHARS: usize = 128;
/// `job_id` length limit, in bytes of UTF-8: it becomes the completion's AMQP
/// `message_id`, a short string (128 CJK characters are 384 bytes).
pub const MAX_JOB_ID_BYTES: usize = 255;
/// `batch_id` length limit, in characters.
pub const MAX_BATCH_ID_CHARS: usize = 128;

/// [`Job::field_problem`] for a `batch_id` over 128 characters or with
/// control characters.
pub const BATCH_ID_INVALID: &str = "batch_id_invalid";
/// [`Job::field_problem`] for `metadata` over [`MAX_METADATA_BYTES`].
pub const METADATA_TOO_LARGE: &str = "metadata_too_large";
/// [`Job::field_problem`] for `metadata` with a NUL character (`\u0000`) in a
/// key or a string: PostgreSQL's `jsonb` cannot store it.
pub const METADATA_NUL: &str = "metadata_contains_nul";

/// A job as received. The identity fields are raw (validated later into `invalid` or an Identity).
#[derive(Debug, Clone)]
pub struct Job {
    pub job_id: String,
    pub batch_id: Option<String>,
    pub name: Pii,
    pub id_number: Pii,
    pub metadata: Option<Value>,
    /// `bulk` unless the body says `interactive`.
    pub priority: Priority,
    /// The queue the worker consumed the job from (its row's and completion's
    /// `queue`); `None` for a job not consumed (one `enqueue` publishes).
    pub queue: Option<String>,
    /// A problem with a non-identity field (metadata too large, batch_id too long):
    /// the job is `invalid` for this reason, without an upstream call.
    pub field_problem: Option<String>,
}

/// Why a message is not a job; dead-lettered with [`NotAJob::reason`] in a header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAJob {
    #[error("body is larger than 16 KiB")]
    TooLarge,
    #[error("body is not UTF-8")]
    NotUtf8,
    #[error("body is not JSON (syntax error or nested too deep)")]
    NotJson,
    #[error("body is not a JSON object")]
    NotAnObject,
    #[error("body has a duplicate top-level key")]
    DuplicateKey,
    #[error("no job_id in the body and no message_id property")]
    MissingJobId,
    #[error("job_id must be 1 to 128 characters, at most 255 bytes, without control characters")]
    InvalidJobId,
    /// The field named has a JSON type it cannot have.
    #[error("field {0} has the wrong JSON type")]
    WrongType(&'static str),
}

impl NotAJob {
    /// A short, stable reason code for the `x-id2meta-reason` header.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::NotUtf8 => "not_utf8",
            Self::NotJson => "not_json",
            Self::NotAnObject => "not_an_object",
            Self::DuplicateKey => "duplicate_key",
            Self::MissingJobId => "missing_job_id",
            Self::InvalidJobId => "invalid_job_id",
            Self::WrongType(_) => "wrong_type",
        }
    }
}

impl Job {
    /// A job to publish (`enqueue`). It is not validated: to learn what the
    /// worker will make of it, run its [`Job::to_body`] through [`Job::parse`].
    pub fn new(
        job_id: impl Into<String>,
        name: Pii,
        id_number: Pii,
        batch_id: Option<String>,
        metadata: Option<Value>,
    ) -> Job {
        Job {
            job_id: job_id.into(),
            batch_id,
            name,
            id_number,
            metadata,
            priority: Priority::Bulk,
            queue: None,
            field_problem: None,
        }
    }

    /// The same job with another priority.
    pub fn with_priority(mut self, priority: Priority) -> Job {
        self.priority = priority;
        self
    }

    /// The same job, consumed from `queue`.
    pub fn consumed_from(mut self, queue: &str) -> Job {
        self.queue = Some(queue.to_string());
        self
    }

    /// Parses a message body; `message_id` is the AMQP property, used when the body has no job_id.
    pub fn parse(body: &[u8], message_id: Option<&str>) -> Result<Job, NotAJob> {
        if body.len() > MAX_BODY_BYTES {
            return Err(NotAJob::TooLarge);
        }
        let text = std::str::from_utf8(body).map_err(|_| NotAJob::NotUtf8)?;
        let mut fields = match top_level::parse(text) {
            Err(_) => return Err(NotAJob::NotJson),
            Ok(TopLevel::NotAnObject) => return Err(NotAJob::NotAnObject),
            Ok(TopLevel::DuplicateKey) => return Err(NotAJob::DuplicateKey),
            Ok(TopLevel::Object(fields)) => fields,
        };
        let job_id = job_id(optional_string(&mut fields, "job_id")?, message_id)?;
        let name = Pii::new(optional_string(&mut fields, "name")?.unwrap_or_default());
        let id_number = Pii::new(optional_string(&mut fields, "id_number")?.unwrap_or_default());
        let (batch_id, batch_problem) = batch_id(optional_string(&mut fields, "batch_id")?);
        let (metadata, metadata_problem) = metadata(fields.remove("metadata"))?;
        let (priority, priority_problem) = Priority::from_field(fields.remove("priority"));
        // A job that is `invalid` for any reason stores and echoes no metadata.
        let field_problem = batch_problem.or(metadata_problem).or(priority_problem);
        Ok(Job {
            job_id,
            batch_id,
            name,
            id_number,
            metadata: metadata.filter(|_| field_problem.is_none()),
            priority,
            queue: None,
            field_problem: field_problem.map(str::to_owned),
        })
    }

    /// The JSON body `enqueue` publishes for this job (keys sorted; `batch_id`
    /// and `metadata` only when present).
    pub fn to_body(&self) -> Vec<u8> {
        let mut body = Map::new();
        body.insert("job_id".into(), self.job_id.clone().into());
        body.insert("name".into(), self.name.expose().into());
        body.insert("id_number".into(), self.id_number.expose().into());
        if let Some(batch_id) = &self.batch_id {
            body.insert("batch_id".into(), batch_id.clone().into());
        }
        if let Some(metadata) = &self.metadata {
            body.insert("metadata".into(), metadata.clone());
        }
        if self.priority != Priority::Bulk {
            body.insert("priority".into(), self.priority.as_str().into());
        }
        Value::Object(body).to_string().into_bytes()
    }
}

/// A string field; absent and `null` are both `None`, any other type is
/// not a job.
fn optional_string(
    fields: &mut Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, NotAJob> {
    match fields.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(NotAJob::WrongType(field)),
    }
}

/// The body's `job_id`, else a non-empty `message_id` property.
fn job_id(from_body: Option<String>, message_id: Option<&str>) -> Result<String, NotAJob> {
    let job_id = from_body
        .filter(|id| !id.is_empty())
        .or_else(|| message_id.filter(|id| !id.is_empty()).map(str::to_owned))
        .ok_or(NotAJob::MissingJobId)?;
    if is_label(&job_id, MAX_JOB_ID_CHARS) && job_id.len() <= MAX_JOB_ID_BYTES {
        Ok(job_id)
    } else {
        Err(NotAJob::InvalidJobId)
    }
}

/// An empty `batch_id` is no batch; a bad one is dropped and makes the job
/// `invalid`.
fn batch_id(value: Option<String>) -> (Option<String>, Option<&'static str>) {
    match value {
        None => (None, None),
        Some(batch_id) if batch_id.is_empty() => (None, None),
        Some(batch_id) if is_label(&batch_id, MAX_BATCH_ID_CHARS) => (Some(batch_id), None),
        Some(_) => (None, Some(BATCH_ID_INVALID)),
    }
}

/// `metadata` must be an object; one too large to echo, or one PostgreSQL
/// cannot store, is dropped and makes the job `invalid`.
fn metadata(value: Option<Value>) -> Result<(Option<Value>, Option<&'static str>), NotAJob> {
    match value {
        None | Some(Value::Null) => Ok((None, None)),
        Some(object @ Value::Object(_)) if object.to_string().len() > MAX_METADATA_BYTES => {
            Ok((None, Some(METADATA_TOO_LARGE)))
        }
        Some(object @ Value::Object(_)) if holds_nul(&object) => Ok((None, Some(METADATA_NUL))),
        Some(object @ Value::Object(_)) => Ok((Some(object), None)),
        Some(_) => Err(NotAJob::WrongType("metadata")),
    }
}

/// Whether any key or string, at any depth, holds a NUL character. The
/// depth is bounded by serde_json's recursion limit (128), so is this.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(key, value)| key.contains('\0') || holds_nul(value)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// 1..=`max_chars` characters, none of them control or invisible formatting.
fn is_label(value: &str, max_chars: usize) -> bool {
    let chars = value.chars().count();
    (1..=max_chars).contains(&chars) && !value.chars().any(is_hidden_or_control)
}

#[cfg(test)]
mod tests;
