-- Cancelled batches (`id2meta batch ID --cancel`, the console's cancel button).
-- Every replica reads this small table every ~250 ms into memory; a job of a batch
-- listed here settles as `cancelled` instead of being called. Rows are never deleted
-- by the worker: a job of the batch that arrives later is cancelled too.
CREATE TABLE IF NOT EXISTS batch_cancellations (
    batch_id     text PRIMARY KEY,
    cancelled_at timestamptz NOT NULL DEFAULT now(),
    -- Who asked: `cli@<host>` or `console`; for the operator's record only.
    cancelled_by text NOT NULL
);

-- The `cancelled` status joins the six of the first revision. NOT VALID then
-- VALIDATE: the check of existing rows takes no lock that blocks the writers.
ALTER TABLE verification_results DROP CONSTRAINT IF EXISTS verification_results_status_check;
ALTER TABLE verification_results ADD CONSTRAINT verification_results_status_check
    CHECK (status IN ('match', 'mismatch', 'not_found', 'invalid', 'rejected', 'failed', 'cancelled'))
    NOT VALID;
ALTER TABLE verification_results VALIDATE CONSTRAINT verification_results_status_check;

-- The console's reads, kept fast on millions of rows (docs/console.md):
-- a batch's rows paged by (completed_at, job_id), keyset, and its last completion;
CREATE INDEX IF NOT EXISTS verification_results_batch_completed
    ON verification_results (batch_id, completed_at, job_id);
-- the upstream codes and the settled rate of the last minutes.
CREATE INDEX IF NOT EXISTS verification_results_completed
    ON verification_results (completed_at);
