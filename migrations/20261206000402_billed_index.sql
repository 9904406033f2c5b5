-- Billed calls over a span (the console's today and this month, `report`): exactly the
-- rows Alibaba billed (crate::spend::BILLED_ROWS), by completion, so a month's count
-- is read from the index (and the visibility map) alone. A plain build, for the
-- reason 20261206000401 gives.
CREATE INDEX IF NOT EXISTS verification_results_billed
    ON verification_results (completed_at)
    WHERE status IN ('match', 'mismatch') AND reused_from_job_id IS NULL;
