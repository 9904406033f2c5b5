//! Dead letters: what the worker cannot process, kept without plaintext.
//!
//! No name or ID number rests in RabbitMQ outside the job queues. A dead
//! letter in `<jobs>.dead` carries its reason, job_id, masks and identity
//! digest in headers, and the original message only [sealed](seal) under a
//! key derived from `ID2META_PII_KEY`, so that it can be replayed. Each one
//! expires after `ID2META_DEAD_LETTER_TTL`.
//!
//! - [`letter`]: sealing a message into a letter and opening it again.
//! - [`headers`]: the masks and digest, and the `x-id2meta-*` headers.
//! - [`seal`]: the AEAD and its key derivation.
//! - [`intake`]: the task that seals what the broker dead-letters itself.
//! - [`operations`]: list, show, replay, purge (the CLI and the console).
//! - `scan`: holding a queue's messages without taking them.
//!
//! See `docs/dead-letters.md`.

pub mod headers;
pub mod intake;
pub mod letter;
pub mod operations;
mod scan;
pub mod seal;

pub use intake::Intake;
pub use letter::{is_sealed, Restored, Sealed, Sealer};
pub use operations::{DeadLetterQueue, Failure, Report, Selection, Summary};
