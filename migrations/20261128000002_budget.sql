-- The replicas sharing the account's QPS budget (see docs/qps-budget.md).
-- Each live replica upserts its row every heartbeat with the DATABASE's now(), so
-- replicas on different hosts agree on who is alive without trusting their clocks.
-- A replica's share is ID2META_QPS / (rows whose heartbeat is within the TTL).
CREATE TABLE IF NOT EXISTS worker_replicas (
    replica_id   uuid PRIMARY KEY,
    heartbeat_at timestamptz NOT NULL,
    joined_at    timestamptz NOT NULL DEFAULT now(),
    -- When this replica started using a share; null while joining or suspended.
    active_since timestamptz,
    -- The heartbeat_at of the last membership count this replica has applied to
    -- its limiter. A newcomer starts calling only once every live replica's
    -- counted_at is later than the moment the newcomer became visible, i.e. once
    -- every other replica has provably lowered its rate to make room for it.
    counted_at   timestamptz
);

CREATE INDEX IF NOT EXISTS worker_replicas_heartbeat ON worker_replicas (heartbeat_at);
