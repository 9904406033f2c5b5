-- One row per job, written once when the job is final. Append-only: what a user
-- reads here is settled. No plaintext name or ID number is ever stored.
CREATE TABLE IF NOT EXISTS verification_results (
    job_id           text PRIMARY KEY,
    batch_id         text,
    status           text NOT NULL
        CHECK (status IN ('match', 'mismatch', 'not_found', 'invalid', 'rejected', 'failed')),
    biz_code         text,
    upstream_code    text,
    upstream_message text,
    request_id       text,
    attempts         int  NOT NULL DEFAULT 0,
    name_masked      text,
    id_number_masked text,
    identity_digest  text NOT NULL,
    metadata         jsonb,
    received_at      timestamptz NOT NULL,
    completed_at     timestamptz NOT NULL DEFAULT now()
);

-- `id2meta batch` and `results --batch-id` read by batch.
CREATE INDEX IF NOT EXISTS verification_results_batch ON verification_results (batch_id, status);

-- A settled row never changes: refuse updates at the database, whoever asks.
CREATE OR REPLACE FUNCTION verification_results_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'verification_results is append-only (job %)', OLD.job_id;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS verification_results_no_update ON verification_results;
CREATE TRIGGER verification_results_no_update
    BEFORE UPDATE ON verification_results
    FOR EACH ROW EXECUTE FUNCTION verification_results_append_only();

-- Work in progress: who may call upstream for a job, until when, and how often it has.
-- A claim is what a concurrent duplicate sees, so one job makes at most one paid call.
-- Rows stay (state 'done') after the result is written, so a duplicate that arrives
-- just as the result commits still finds the job taken and never calls again.
CREATE TABLE IF NOT EXISTS job_claims (
    job_id          text PRIMARY KEY,
    identity_digest text NOT NULL,
    owner           uuid NOT NULL,
    state           text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'done')),
    lease_until     timestamptz NOT NULL,
    attempts        int NOT NULL DEFAULT 0,
    last_code       text,
    last_message    text,
    claimed_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS job_claims_done ON job_claims (claimed_at) WHERE state = 'done';

-- How many jobs `enqueue` published per batch, so `id2meta batch` can show pending and ETA.
CREATE TABLE IF NOT EXISTS batches (
    batch_id   text PRIMARY KEY,
    enqueued   bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
