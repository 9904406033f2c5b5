-- Which replica holds a claim (worker_replicas.replica_id), so the console can say
-- "claimed by replica …" instead of the per-task token in `owner`. NULL on claims
-- taken by a worker older than this migration.
ALTER TABLE job_claims ADD COLUMN IF NOT EXISTS replica_id uuid;

-- A job whose result PostgreSQL refused (the writer's `unstorable_result`) was paid
-- for: its claim ends `unstorable` and keeps the outcome (status, codes, request id,
-- attempts; no name, ID number or metadata), so a replay of its dead letter stores
-- the row from it without calling upstream a second time.
ALTER TABLE job_claims ADD COLUMN IF NOT EXISTS outcome jsonb;
ALTER TABLE job_claims DROP CONSTRAINT IF EXISTS job_claims_state_check;
ALTER TABLE job_claims ADD CONSTRAINT job_claims_state_check
    CHECK (state IN ('active', 'done', 'unstorable')) NOT VALID;
ALTER TABLE job_claims VALIDATE CONSTRAINT job_claims_state_check;

-- Why a replica takes no share (the console's fleet page): its readiness and, when
-- paused, the cause as a class (`account: <code>`, `environment: <code>`,
-- `no credentials`, `joining`); never a message, key or name.
ALTER TABLE worker_replicas ADD COLUMN IF NOT EXISTS ready boolean;
ALTER TABLE worker_replicas ADD COLUMN IF NOT EXISTS paused_cause text;
