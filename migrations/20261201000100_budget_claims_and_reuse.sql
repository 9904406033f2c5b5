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
