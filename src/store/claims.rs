//! Claims: the row a worker writes before it may call upstream for a job.
//!
//! A claim is keyed by job_id and carries the identity digest, the owner (one
//! id per worker process), a lease and the attempts made so far. A concurrent
//! duplicate sees the claim and waits for the result instead of calling; a claim
//! whose lease ran out (its worker died) is taken over, attempts and all.
//!
//! A lease runs out only while the database is up: the first duplicate to find it
//! ended marks when it saw that (`expiry_seen_at`), and the claim may be taken over
//! only a lease after the mark. An owner that is alive renews within that time once
//! the database answers again (a paid verdict waiting for its row renews through
//! the outage, `pipeline/settle.rs`), and a renewal clears the mark. So a database
//! away for any length of time never lets a duplicate call a second time; a dead
//! owner's job is taken over between one and two leases after its last renewal.
//!
//! Claiming is batched (the [`Claimer`] task): one statement claims every job
//! that arrived meanwhile and counts its first attempt, so the hot path costs one
//! shared round trip per job instead of three of its own.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use uuid::Uuid;

use super::batcher::{Batcher, OnError};
use super::{KeptOutcome, ResultRow, Store};

/// What trying to claim a job came to.
#[derive(Debug)]
pub enum Claim {
    /// This worker may call upstream. `attempts` were made before (by a dead worker),
    /// the last of them answering `last_code` / `last_message`; the claim has already
    /// counted the next one, which the caller is about to make.
    Claimed {
        attempts: i32,
        last_code: Option<String>,
        last_message: Option<String>,
    },
    /// The job is settled: here is its row (same identity, or not: the caller compares).
    Done(Box<ResultRow>),
    /// Its call was made but the row was refused (`unstorable_result`): store the
    /// row from this outcome, never calling again (`kept.rs`).
    Kept(Box<KeptOutcome>),
    /// Another live worker holds it; wait for its result.
    HeldByOther,
    /// The job_id is claimed for a different identity.
    Conflict,
}

/// A claim request: job, identity digest, and the replica asking (recorded in the
/// claim for the console; the task token is the owner).
pub struct ClaimRequest {
    pub job_id: String,
    pub identity_digest: String,
    pub replica: Uuid,
    /// Whether the claim counts the first attempt. Not when verdict reuse is on:
    /// then the reuse lookup counts it, in the same statement that finds no
    /// verdict to reuse (`Store::reuse_or_count`), so a claim whose lookup never
    /// answered leaves no attempt counted and its redelivery still looks for reuse.
    pub counts_attempt: bool,
}

/// Claims jobs in batches for one owner; cheap to clone.
#[derive(Clone)]
pub struct Claimer {
    batcher: Batcher<(ClaimRequest, Uuid, f64), Claim>,
}

impl Claimer {
    /// Starts the claiming task (it ends when every clone is dropped).
    pub fn spawn(store: Store) -> (Self, tokio::task::JoinHandle<()>) {
        let (batcher, handle) = Batcher::spawn(
            store,
            "claiming jobs",
            |store, requests| Box::pin(claim_batch(store, requests)),
            OnError::Report,
        );
        (Self { batcher }, handle)
    }

    /// Claims `job_id` for `owner` (counting its first attempt if the request says so) unless its result
    /// exists, a live lease holds it, or it belongs to another identity.
    pub async fn claim(
        &self,
        request: ClaimRequest,
        owner: Uuid,
        lease: Duration,
    ) -> anyhow::Result<Claim> {
        self.batcher
            .call((request, owner, lease.as_secs_f64()))
            .await
    }
}

/// One statement for the batch. `ON CONFLICT ... WHERE` re-checks the newest committed
/// claim row, so two workers can never both see an expired lease and both take it.
/// The same owner (one job task) may retake its own live claim: that is a retry whose
/// first reply was lost.
/// Settled claims stay as `done` rows, so a duplicate arriving just as a result commits
/// still finds the job taken.
async fn claim_batch(
    store: &Store,
    requests: &[(ClaimRequest, Uuid, f64)],
) -> anyhow::Result<Vec<Claim>> {
    let job_ids: Vec<&str> = requests.iter().map(|(r, _, _)| r.job_id.as_str()).collect();
    let digests: Vec<&str> = requests
        .iter()
        .map(|(r, _, _)| r.identity_digest.as_str())
        .collect();
    let owners: Vec<Uuid> = requests.iter().map(|(_, o, _)| *o).collect();
    let leases: Vec<f64> = requests.iter().map(|(_, _, l)| *l).collect();
    let replicas: Vec<Uuid> = requests.iter().map(|(r, _, _)| r.replica).collect();
    let counts: Vec<i32> = requests
        .iter()
        .map(|(r, _, _)| i32::from(r.counts_attempt))
        .collect();
    // `attempts` of a new claim is what it counts (0 or 1); on a takeover the
    // counted number is added. The grace after a seen expiry is the asker's lease
    // (`EXCLUDED.lease_until - now()`), see the module's comment.
    let taken: Vec<(String, i32, Option<String>, Option<String>)> = sqlx::query_as(
        "INSERT INTO job_claims (job_id, identity_digest, owner, lease_until, attempts, replica_id)
         SELECT DISTINCT ON (t.job_id) t.job_id, t.digest, t.owner,
                now() + make_interval(secs => t.lease), t.counts, t.replica
           FROM UNNEST($1::text[], $2::text[], $3::uuid[], $4::float8[], $5::uuid[], $6::int[])
                WITH ORDINALITY AS t(job_id, digest, owner, lease, replica, counts, ord)
          WHERE NOT EXISTS (SELECT 1 FROM verification_results r WHERE r.job_id = t.job_id)
          ORDER BY t.job_id, t.ord
         ON CONFLICT (job_id) DO UPDATE
            SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until,
                attempts = job_claims.attempts + EXCLUDED.attempts,
                replica_id = EXCLUDED.replica_id, expiry_seen_at = NULL
          WHERE job_claims.state = 'active'
            AND (job_claims.owner = EXCLUDED.owner
                 OR (job_claims.lease_until < now()
                     AND job_claims.expiry_seen_at <= now() - (EXCLUDED.lease_until - now())))
            AND job_claims.identity_digest = EXCLUDED.identity_digest
         RETURNING job_id, attempts, last_code, last_message",
    )
    .bind(&job_ids)
    .bind(&digests)
    .bind(&owners)
    .bind(&leases)
    .bind(&replicas)
    .bind(&counts)
    .fetch_all(store.db())
    .await
    .context("claiming jobs")?;
    let mut taken: HashMap<String, (i32, Option<String>, Option<String>)> = taken
        .into_iter()
        .map(|(id, a, c, m)| (id, (a, c, m)))
        .collect();
    let mut answers = Vec::with_capacity(requests.len());
    for (request, _, _) in requests {
        // The first request of a job_id gets the claim; a copy in the same batch waits.
        if let Some((attempts, last_code, last_message)) = taken.remove(&request.job_id) {
            answers.push(Claim::Claimed {
                attempts: attempts - i32::from(request.counts_attempt),
                last_code,
                last_message,
            });
        } else {
            answers.push(unclaimed(store, request).await?);
        }
    }
    Ok(answers)
}

/// Why a job could not be claimed (rare: duplicates, redeliveries, conflicts).
/// An ended lease seen here for the first time is marked: the claim may be taken
/// over a lease from now, unless its owner renews meanwhile.
async fn unclaimed(store: &Store, request: &ClaimRequest) -> anyhow::Result<Claim> {
    if let Some(row) = store.result(&request.job_id).await? {
        return Ok(Claim::Done(Box::new(row)));
    }
    let existing: Option<(String, String, Option<serde_json::Value>, i32)> = sqlx::query_as(
        "WITH seen AS (
             UPDATE job_claims SET expiry_seen_at = now()
              WHERE job_id = $1 AND identity_digest = $2 AND state = 'active'
                AND lease_until < now() AND expiry_seen_at IS NULL
              RETURNING job_id)
         SELECT identity_digest, state, outcome, attempts FROM job_claims WHERE job_id = $1",
    )
    .bind(&request.job_id)
    .bind(&request.identity_digest)
    .fetch_optional(store.db())
    .await
    .context("reading a job's claim")?;
    match existing {
        Some((digest, ..)) if digest != request.identity_digest => Ok(Claim::Conflict),
        Some((_, state, outcome, attempts)) if state == "unstorable" => Ok(Claim::Kept(Box::new(
            KeptOutcome::from_column(outcome, attempts),
        ))),
        // A done claim whose row is not visible yet, or a live lease: wait for the row.
        _ => Ok(Claim::HeldByOther),
    }
}

impl Store {
    /// Renews the lease and counts one more attempt, just before a call.
    /// `None`: the claim was lost (taken over), and this worker must not call.
    pub async fn begin_attempt(
        &self,
        job_id: &str,
        owner: Uuid,
        lease: Duration,
    ) -> anyhow::Result<Option<i32>> {
        let row: Option<(i32,)> = sqlx::query_as(
            "UPDATE job_claims
                SET attempts = attempts + 1, lease_until = now() + make_interval(secs => $3),
                    expiry_seen_at = NULL
              WHERE job_id = $1 AND owner = $2 AND state = 'active'
              RETURNING attempts",
        )
        .bind(job_id)
        .bind(owner)
        .bind(lease.as_secs_f64())
        .fetch_optional(self.db())
        .await
        .context("starting an attempt")?;
        Ok(row.map(|(a,)| a))
    }

    /// Extends a live claim's lease (and clears a seen expiry: the owner is alive);
    /// `false` if the claim is no longer this owner's.
    pub async fn renew(&self, job_id: &str, owner: Uuid, lease: Duration) -> anyhow::Result<bool> {
        let renewed = sqlx::query(
            "UPDATE job_claims
                SET lease_until = now() + make_interval(secs => $3), expiry_seen_at = NULL
              WHERE job_id = $1 AND owner = $2 AND state = 'active'",
        )
        .bind(job_id)
        .bind(owner)
        .bind(lease.as_secs_f64())
        .execute(self.db())
        .await
        .context("renewing a claim")?;
        Ok(renewed.rows_affected() == 1)
    }

    /// Remembers the last transient failure, so a worker that takes the job over
    /// can store it as the reason if no attempts are left.
    pub async fn note_failure(
        &self,
        job_id: &str,
        owner: Uuid,
        code: &str,
        message: &str,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE job_claims SET last_code = $3, last_message = $4 WHERE job_id = $1 AND owner = $2")
            .bind(job_id)
            .bind(owner)
            .bind(code)
            .bind(message)
            .execute(self.db())
            .await
            .context("noting a failed attempt")?;
        Ok(())
    }

    /// Gives a job back without a result (account-level refusal, shutdown): the lease
    /// ends now, seen ended long ago, so the next delivery can claim at once (its
    /// owner said it holds nothing: no grace is owed), and an attempt the upstream
    /// refused for account reasons is not counted against the job.
    pub async fn release(
        &self,
        job_id: &str,
        owner: Uuid,
        uncount_attempt: bool,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE job_claims
                SET lease_until = now() - interval '1 second', expiry_seen_at = '-infinity',
                    attempts = GREATEST(attempts - CASE WHEN $3 THEN 1 ELSE 0 END, 0)
              WHERE job_id = $1 AND owner = $2 AND state = 'active'",
        )
        .bind(job_id)
        .bind(owner)
        .bind(uncount_attempt)
        .execute(self.db())
        .await
        .context("releasing a claim")?;
        Ok(())
    }
}
