-- Whole-call claims on the QPS budget (see docs/qps-budget.md). Each replica's row
-- claims the most calls its limiter may make in any window; the claims of all rows
-- add up to at most ID2META_QPS. A lowered claim keeps counting as held_calls until
-- held_until (one window after the lower value was applied). A row from a worker
-- older than this migration has calls NULL and is counted at its share plus one.
ALTER TABLE worker_replicas ADD COLUMN IF NOT EXISTS calls integer;
ALTER TABLE worker_replicas ADD COLUMN IF NOT EXISTS held_calls integer NOT NULL DEFAULT 0;
ALTER TABLE worker_replicas ADD COLUMN IF NOT EXISTS held_until timestamptz;
-- Set when the replica left: it takes no share, but what it held still counts.
ALTER TABLE worker_replicas ADD COLUMN IF NOT EXISTS left_at timestamptz;

-- Contract revision 2: the job's priority lane, and the job whose verdict a reused
-- result repeats (verdict reuse, ID2META_REUSE_WITHIN).
ALTER TABLE verification_results ADD COLUMN IF NOT EXISTS priority text;
ALTER TABLE verification_results ADD COLUMN IF NOT EXISTS reused_from_job_id text;
-- The reuse lookup: the latest row for an identity completed before a moment.
CREATE INDEX IF NOT EXISTS verification_results_identity
    ON verification_results (identity_digest, completed_at);
