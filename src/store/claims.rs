//! Claims: the row a worker writes before it may call upstream for a job.
//!
//! A claim is keyed by job_id and carries the identity digest, the owner (one
//! id per worker process), a lease and the attempts made so far. A concurrent
//! duplicate sees the claim and waits for the result instead of calling; a claim
//! whose lease ran out (its worker died) is taken over, attempts and all.

use std::time::Duration;

use anyhow::Context;
use uuid::Uuid;

use super::{ResultRow, Store};

/// What trying to claim a job came to.
#[derive(Debug)]
pub enum Claim {
    /// This worker may call upstream; `attempts` were already made (by a dead worker),
    /// the last of them answering `last_code` / `last_message`.
    Claimed {
        attempts: i32,
        last_code: Option<String>,
        last_message: Option<String>,
    },
    /// The job is settled: here is its row (same identity, or not: the caller compares).
    Done(Box<ResultRow>),
    /// Another live worker holds it; wait for its result.
    HeldByOther,
    /// The job_id is claimed for a different identity.
    Conflict,
}

impl Store {
    /// Claims `job_id` for `owner` unless its result exists, a live lease holds it,
    /// or it belongs to another identity.
    pub async fn claim(
        &self,
        job_id: &str,
        identity_digest: &str,
        owner: Uuid,
        lease: Duration,
    ) -> anyhow::Result<Claim> {
        if let Some(row) = self.result(job_id).await? {
            return Ok(Claim::Done(Box::new(row)));
        }
        // ON CONFLICT ... WHERE re-checks the newest committed claim row, so two
        // workers can never both see an expired lease and both take it.
        let taken: Option<(i32, Option<String>, Option<String>)> = sqlx::query_as(
            "INSERT INTO job_claims (job_id, identity_digest, owner, lease_until)
             VALUES ($1, $2, $3, now() + make_interval(secs => $4))
             ON CONFLICT (job_id) DO UPDATE
                SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until
              WHERE job_claims.state = 'active'
                AND job_claims.lease_until < now()
                AND job_claims.identity_digest = EXCLUDED.identity_digest
             RETURNING attempts, last_code, last_message",
        )
        .bind(job_id)
        .bind(identity_digest)
        .bind(owner)
        .bind(lease.as_secs_f64())
        .fetch_optional(self.pool())
        .await
        .context("claiming a job")?;
        if let Some((attempts, last_code, last_message)) = taken {
            return Ok(Claim::Claimed {
                attempts,
                last_code,
                last_message,
            });
        }
        let existing: Option<(String, String)> =
            sqlx::query_as("SELECT identity_digest, state FROM job_claims WHERE job_id = $1")
                .bind(job_id)
                .fetch_optional(self.pool())
                .await
                .context("reading a job's claim")?;
        match existing {
            Some((digest, _)) if digest != identity_digest => Ok(Claim::Conflict),
            Some((_, state)) if state == "done" => match self.result(job_id).await? {
                Some(row) => Ok(Claim::Done(Box::new(row))),
                None => Ok(Claim::HeldByOther),
            },
            _ => Ok(Claim::HeldByOther),
        }
    }

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
                SET attempts = attempts + 1, lease_until = now() + make_interval(secs => $3)
              WHERE job_id = $1 AND owner = $2 AND state = 'active'
              RETURNING attempts",
        )
        .bind(job_id)
        .bind(owner)
        .bind(lease.as_secs_f64())
        .fetch_optional(self.pool())
        .await
        .context("starting an attempt")?;
        Ok(row.map(|(a,)| a))
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
            .execute(self.pool())
            .await
            .context("noting a failed attempt")?;
        Ok(())
    }

    /// Gives a job back without a result (account-level refusal, shutdown): the lease
    /// ends now so the next delivery can claim at once, and an attempt the upstream
    /// refused for account reasons is not counted against the job.
    pub async fn release(
        &self,
        job_id: &str,
        owner: Uuid,
        uncount_attempt: bool,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE job_claims
                SET lease_until = now() - interval '1 second',
                    attempts = GREATEST(attempts - CASE WHEN $3 THEN 1 ELSE 0 END, 0)
              WHERE job_id = $1 AND owner = $2 AND state = 'active'",
        )
        .bind(job_id)
        .bind(owner)
        .bind(uncount_attempt)
        .execute(self.pool())
        .await
        .context("releasing a claim")?;
        Ok(())
    }

    /// Deletes claims settled longer ago than `age`: their rows answer any late duplicate.
    pub async fn prune_done_claims(&self, age: Duration) -> anyhow::Result<u64> {
        let done = sqlx::query(
            "DELETE FROM job_claims WHERE state = 'done' AND claimed_at < now() - make_interval(secs => $1)",
        )
        .bind(age.as_secs_f64())
        .execute(self.pool())
        .await
        .context("pruning settled claims")?;
        Ok(done.rows_affected())
    }
}
