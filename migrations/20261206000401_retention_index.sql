-- The retention sweep's scan: rows not yet scrubbed, oldest completion first. Partial,
-- so the sweep never walks past the rows it already scrubbed, and the index shrinks
-- as they go.
--
-- A plain build, in the migration's transaction: it blocks result commits while it
-- runs (about a second per million rows), once, at the upgrade. A concurrent build
-- (`-- no-transaction`) cannot be serialised between replicas that start together:
-- it waits for the snapshots of the replicas waiting for it, and behind a
-- transaction pooler it cannot run at all (tests/database.rs shows it).
CREATE INDEX IF NOT EXISTS verification_results_unscrubbed
    ON verification_results (completed_at) WHERE scrubbed_at IS NULL;
