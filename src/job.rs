//! What a message must be to count as a job (STUB: to be written).

use crate::secret::Pii;

/// A message body over this is not a job.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// `metadata` over this (serialised) makes the job `invalid`.
pub const MAX_METADATA_BYTES: usize = 4 * 1024;
/// `job_id` length limit, in characters.
pub const MAX_JOB_ID_CHARS: usize = 128;

/// A job as received. The identity fields are raw (validated later into `invalid` or an Identity).
#[derive(Debug, Clone)]
pub struct Job {
    pub job_id: String,
    pub batch_id: Option<String>,
    pub name: Pii,
    pub id_number: Pii,
    pub metadata: Option<serde_json::Value>,
    /// A problem with a non-identity field (metadata too large, batch_id too long):
    /// the job is `invalid` for this reason, without an upstream call.
    pub field_problem: Option<String>,
}

/// Why a message is not a job; dead-lettered with [`NotAJob::reason`] in a header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAJob {
    #[error("body is larger than 16 KiB")]
    TooLarge,
}

impl NotAJob {
    /// A short, stable reason code for the `x-id2meta-reason` header.
    pub fn reason(&self) -> &'static str {
        todo!()
    }
}

impl Job {
    /// Parses a message body; `message_id` is the AMQP property, used when the body has no job_id.
    pub fn parse(_body: &[u8], _message_id: Option<&str>) -> Result<Job, NotAJob> {
        todo!()
    }

    /// The JSON body `enqueue` publishes for this job.
    pub fn to_body(&self) -> Vec<u8> {
        todo!()
    }
}
