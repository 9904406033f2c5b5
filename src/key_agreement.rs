//! Whether the replicas agree on `ID2META_PII_KEY`.
//!
//! Every replica of a fleet must hold the same key (`docs/deploy.md`): the key
//! makes an identity's digest, and a claim is checked against the digest. With
//! two keys, a job handed from a replica to another (a standby's hand-back, a
//! crash, a rollout) is dead-lettered as `job_id_conflict`, and reuse, `lookup`
//! and `forget` miss the rows written under the other key. Nothing else shows
//! the cause, so each replica marks its key's fingerprint in PostgreSQL every
//! [`EVERY`] and warns, once per change, while another key was marked within
//! [`WITHIN`]; `id2meta_pii_keys_seen` says how many keys are in use. During a
//! key rotation the warning is expected for as long as the rollout takes.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::identity::key_fingerprint;
use crate::secret::Secret;
use crate::store::Store;

/// How often a replica marks its key.
pub const EVERY: Duration = Duration::from_secs(30);

/// A key marked this recently is in use: a few marks, so one late mark of a
/// replica still running does not end a disagreement too early.
pub const WITHIN: Duration = Duration::from_secs(150);

/// Marks this replica's key until `shutdown`, warning while others are in use.
pub fn start(store: Store, key: &Secret, shutdown: CancellationToken) {
    let fingerprint = key_fingerprint(key);
    tokio::spawn(async move {
        let mut others_before = 0;
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            match store.mark_pii_key(&fingerprint, WITHIN).await {
                Ok(others) => {
                    report(others, others_before);
                    others_before = others;
                }
                // Best effort: the check must never stop a worker.
                Err(error) => {
                    tracing::debug!(error = %format!("{error:#}"), "PII key check skipped")
                }
            }
        }
    });
}

/// The gauge, and a line in the log when the number of other keys changes.
fn report(others: i64, before: i64) {
    metrics::gauge!(crate::instrumentation::PII_KEYS_SEEN).set((others + 1) as f64);
    if others == before {
        return;
    }
    if others > 0 {
        tracing::warn!(
            keys_in_use = others + 1,
            "replicas disagree on ID2META_PII_KEY: a job moving between them is dead-lettered \
             as job_id_conflict, and lookups miss rows of the other key; give every replica \
             the same key (expected during a key rotation until the rollout ends)"
        );
    } else {
        tracing::info!("every replica now uses the same ID2META_PII_KEY");
    }
}
