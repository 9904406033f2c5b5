-- Which ID2META_PII_KEY the replicas use, as a keyed fingerprint (never the key).
--
-- Replicas that disagree on the key compute different digests for one identity: a job
-- handed from one to another (a standby's hand-back, a crash) is dead-lettered as
-- job_id_conflict, and reuse, lookup and forget miss rows written under the other key.
-- Each replica marks its fingerprint every half minute and warns when another one was
-- marked recently (as during a key rotation, for as long as the rollout takes).
-- One row per key, not per replica: the table stays a few rows long.
CREATE TABLE pii_key_fingerprints (
    fingerprint text PRIMARY KEY,
    seen_at timestamptz NOT NULL
);
