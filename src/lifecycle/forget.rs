//! `forget`: a person's request to be deleted (PIPL Art. 47), served by the
//! digest: every row of the identity is scrubbed (as retention does), its
//! claims and its sealed dead letters (by `x-id2meta-identity-digest`) deleted,
//! so that no verdict of it is ever reused: a later job of the person is called
//! again. The caller learns counts only.
//!
//! The dead letters go first (the broker has no transaction with the database);
//! then the rows, the claims and the audit row commit together, the audit row
//! counting all three. A run cut short between the two is simply run again.
//!
//! A claim still `active` is a job in flight: like a job still in a queue, it is
//! processed normally (the data is what the producer sent) and is not touched.

use std::collections::BTreeSet;

use anyhow::Context;

use crate::audit::{self, Action, Actor};
use crate::queue::dead_letters::{DeadLetterQueue, Selection};
use crate::store::Store;

/// What a `forget` did: counts only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Forgotten {
    /// Distinct identities asked for.
    pub identities: usize,
    pub rows: u64,
    pub claims: u64,
    pub dead_letters: usize,
}

/// Forgets every identity in `digests`; `letters` (when the broker is reachable)
/// for the dead letters. Writes one audit row naming `actor`.
pub async fn forget(
    store: &Store,
    letters: &DeadLetterQueue,
    digests: &BTreeSet<String>,
    actor: &Actor,
) -> anyhow::Result<Forgotten> {
    let dead_letters = letters
        .purge(&Selection::Digests(digests.clone()))
        .await
        .context("deleting the identities' dead letters")?
        .done;
    let digests: Vec<&str> = digests.iter().map(String::as_str).collect();
    let mut tx = store.db().begin().await.context("beginning a forget")?;
    let rows = sqlx::query(
        "UPDATE verification_results
            SET name_masked = NULL, id_number_masked = NULL, identity_digest = NULL,
                metadata = NULL, scrubbed_at = now()
          WHERE identity_digest = ANY($1) AND scrubbed_at IS NULL",
    )
    .bind(&digests)
    .persistent(store.named())
    .execute(&mut *tx)
    .await
    .context("scrubbing the identities' rows")?
    .rows_affected();
    let claims =
        sqlx::query("DELETE FROM job_claims WHERE identity_digest = ANY($1) AND state <> 'active'")
            .bind(&digests)
            .persistent(store.named())
            .execute(&mut *tx)
            .await
            .context("deleting the identities' claims")?
            .rows_affected();
    let forgotten = Forgotten {
        identities: digests.len(),
        rows,
        claims,
        dead_letters,
    };
    let detail = serde_json::to_value(forgotten).context("describing a forget")?;
    audit::record(&mut *tx, actor, Action::Forget, None, &detail).await?;
    tx.commit().await.context("committing a forget")?;
    Ok(forgotten)
}
