-- When an unstorable claim last sent its job to the dead letters (its first refusal, or a
-- replay refused again). The claim is kept while that dead letter can still be replayed:
-- the sweep deletes it once `kept_at` is older than the dead-letter TTL plus the settled
-- claims' retention (src/store/retention.rs), so `job_claims` stays bounded.
ALTER TABLE job_claims ADD COLUMN IF NOT EXISTS kept_at timestamptz;
UPDATE job_claims SET kept_at = claimed_at WHERE state = 'unstorable' AND kept_at IS NULL;
CREATE INDEX IF NOT EXISTS job_claims_unstorable ON job_claims (kept_at) WHERE state = 'unstorable';
