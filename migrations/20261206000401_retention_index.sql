-- no-transaction
-- The retention sweep's scan: rows not yet scrubbed, oldest completion first. Partial,
-- so the sweep never walks past the rows it already scrubbed, and the index shrinks
-- as they go. Built CONCURRENTLY (outside a transaction, hence the directive above):
-- on a table of millions of rows a plain build would block every result commit.
CREATE INDEX CONCURRENTLY IF NOT EXISTS verification_results_unscrubbed
    ON verification_results (completed_at) WHERE scrubbed_at IS NULL;

