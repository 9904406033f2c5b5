-- Contract revision 3, "Accountability and the data's lifecycle".

-- The audit log: one row for every operator action, whatever started it (the CLI,
-- the console, a worker's retention sweep). Append-only and kept at least three
-- years (PIPL's records of processing): nothing in the project deletes from it.
-- `detail` holds counts, ids and masks, never a plaintext name or ID number.
CREATE TABLE IF NOT EXISTS operator_actions (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT now(),
    -- `user@host` (CLI), `session <id> from <address>` (console), `worker <replica>@host`.
    actor  text NOT NULL,
    action text NOT NULL CHECK (action IN ('cancel', 'replay', 'purge', 'forget', 'lookup',
        'export', 'login', 'login_refused', 'logout', 'retention')),
    -- What it acted on: a batch_id, a dead-letter selection; NULL when nothing is named.
    target text,
    detail jsonb NOT NULL DEFAULT '{}'::jsonb,
    origin text NOT NULL CHECK (origin IN ('cli', 'console', 'worker'))
);

-- `id2meta audit --since`, the console's `/audit` (newest first) and the monthly report.
CREATE INDEX IF NOT EXISTS operator_actions_at ON operator_actions (at);

-- What the log records stays recorded: refused at the database for every role,
-- the worker's included, as verification_results refuses updates.
CREATE OR REPLACE FUNCTION operator_actions_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'operator_actions is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS operator_actions_no_change ON operator_actions;
CREATE TRIGGER operator_actions_no_change
    BEFORE UPDATE OR DELETE ON operator_actions
    FOR EACH ROW EXECUTE FUNCTION operator_actions_append_only();
DROP TRIGGER IF EXISTS operator_actions_no_truncate ON operator_actions;
CREATE TRIGGER operator_actions_no_truncate
    BEFORE TRUNCATE ON operator_actions
    FOR EACH STATEMENT EXECUTE FUNCTION operator_actions_append_only();

-- Retention and `forget` scrub a row: its masks, digest and metadata become NULL and
-- `scrubbed_at` is set. Everything else (job_id, batch_id, status, codes, attempts,
-- times) stays, so counts and spend stay right.
ALTER TABLE verification_results ADD COLUMN IF NOT EXISTS scrubbed_at timestamptz;
ALTER TABLE verification_results ALTER COLUMN identity_digest DROP NOT NULL;

-- The scrub is the one change a settled row may ever see: exactly those four
-- columns to NULL with `scrubbed_at` set, once, every other column unchanged
-- (compared as a whole row, so a column added later is covered too).
CREATE OR REPLACE FUNCTION verification_results_append_only() RETURNS trigger AS $$
DECLARE
    scrubbed constant text[] := ARRAY['name_masked', 'id_number_masked', 'identity_digest',
                                      'metadata', 'scrubbed_at'];
BEGIN
    IF OLD.scrubbed_at IS NULL AND NEW.scrubbed_at IS NOT NULL
       AND NEW.name_masked IS NULL AND NEW.id_number_masked IS NULL
       AND NEW.identity_digest IS NULL AND NEW.metadata IS NULL
       AND (to_jsonb(NEW) - scrubbed) = (to_jsonb(OLD) - scrubbed) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'verification_results is append-only (job %)', OLD.job_id;
END;
$$ LANGUAGE plpgsql;
