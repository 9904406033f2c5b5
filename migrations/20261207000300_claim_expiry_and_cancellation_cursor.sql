-- A claim's lease runs out only while the database is up (issue 19 item 4): the
-- first duplicate that finds a lease ended records when it saw that
-- (`expiry_seen_at`), and may take the claim over only a lease later. An owner that
-- is alive (a paid verdict waiting for its row through an outage) renews within
-- that time once the database is back, which clears the mark, so an outage of any
-- length never lets a duplicate call again. Nullable without a default: a
-- catalogue change only.
ALTER TABLE job_claims ADD COLUMN IF NOT EXISTS expiry_seen_at timestamptz;

-- Incremental reads of the cancelled batches: each row records the transaction
-- that wrote it, and a replica re-reads only rows written by transactions at or
-- after the oldest one still running at its previous read (a snapshot's xmin),
-- so a cancel committed late is never skipped. The table is small (one row per
-- cancelled batch, pruned by age), so the rewrite this default causes is cheap.
ALTER TABLE batch_cancellations
    ADD COLUMN IF NOT EXISTS written_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX IF NOT EXISTS batch_cancellations_written ON batch_cancellations (written_xid);
CREATE INDEX IF NOT EXISTS batch_cancellations_age ON batch_cancellations (cancelled_at);
