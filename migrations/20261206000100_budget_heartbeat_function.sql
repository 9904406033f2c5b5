-- Contract revision 3: the QPS budget at any ratio of replicas to budget, with one
-- budget for the fleet and no lock held across client round trips
-- (docs/qps-budget.md has the rule and its proof).
--
-- The ID2META_QPS each replica was started with: the fleet's budget is the smallest
-- value in force (NULL from an older worker, which does not take part in the minimum).
ALTER TABLE worker_replicas ADD COLUMN IF NOT EXISTS qps double precision;
-- The share this replica was last given, in whole calls per window (0: standby).
ALTER TABLE worker_replicas ADD COLUMN IF NOT EXISTS target integer;

-- The rows whose claim still counts at this transaction's now(): heard from within
-- `p_expiry` seconds; a held value only until its moment.
CREATE OR REPLACE FUNCTION id2meta_counting(p_expiry double precision)
RETURNS TABLE (replica_id uuid, joined_at timestamptz, calls integer, held integer,
               leaving boolean, qps double precision)
LANGUAGE sql STABLE AS $$
    SELECT r.replica_id, r.joined_at, r.calls,
           CASE WHEN r.held_until > now() THEN r.held_calls ELSE 0 END,
           r.left_at IS NOT NULL, r.qps
      FROM worker_replicas r
     WHERE r.heartbeat_at > now() - make_interval(secs => p_expiry)
$$;

-- One heartbeat: forget long-silent rows, read every row still counting, decide this
-- replica's allotment, write its row, return the allotment. The whole rule runs on
-- the server in one call, so a replica never holds anything while the server waits
-- for it: a replica frozen (SIGSTOP, a paused VM) between two heartbeats holds no
-- lock, no transaction, no snapshot.
--
-- It must run in a SERIALIZABLE transaction, which the caller opens in the same
-- message (`START TRANSACTION ISOLATION LEVEL SERIALIZABLE; SELECT ...; COMMIT`):
-- PostgreSQL then guarantees the outcome of some serial order of all heartbeats
-- (two that read each other's rows concurrently cannot both commit: one fails with
-- 40001 and is retried), without taking a lock anyone else could hold and make
-- every other heartbeat wait. Only a replica's own row is written, so an outside
-- session holding a row lock stops that one replica, nobody else.
--
-- Arguments: the replica, its ID2META_QPS, its budget as whole calls per its
-- period (seconds), what its limiter applies now, its window, how long a silent row
-- still counts, when a silent row is deleted, and whether it is leaving.
CREATE OR REPLACE FUNCTION id2meta_budget_heartbeat(
    p_replica uuid,
    p_qps double precision,
    p_budget integer,
    p_period double precision,
    p_applied integer,
    p_window double precision,
    p_expiry double precision,
    p_forget double precision,
    p_leaving boolean
) RETURNS TABLE (
    live integer,
    target integer,
    allowed integer,
    budget integer,
    qps_min double precision,
    qps_max double precision,
    beat_at timestamptz
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_joined timestamptz;
    v_calls integer := 0;
    v_held integer := 0;
    v_fleet_qps double precision;
    v_budget integer;
    v_live integer;
    v_rank integer;
    v_taken bigint;
    v_target integer;
    v_allowed integer;
    v_claim integer;
    v_hold integer;
    v_lowered boolean;
BEGIN
    IF current_setting('transaction_isolation') <> 'serializable' THEN
        RAISE EXCEPTION 'id2meta_budget_heartbeat must run in a SERIALIZABLE transaction';
    END IF;
    -- The one lock a heartbeat waits for is its own row's, which only an outside
    -- session could hold: fail fast (this replica pauses, nobody else notices)
    -- rather than leave the statement waiting after the replica gave up on it.
    PERFORM set_config('lock_timeout', (p_window * 500)::integer::text || 'ms', true);
    -- Pruning here keeps the table bounded. Every read below sees the same snapshot
    -- (serializable): the rows still counting at this transaction's now(), its
    -- start (a hold or a row that expires while we read still counts: the safe side).
    DELETE FROM worker_replicas r
     WHERE r.heartbeat_at < now() - make_interval(secs => greatest(p_forget, p_expiry));
    SELECT c.joined_at, coalesce(c.calls, 0), c.held INTO v_joined, v_calls, v_held
      FROM id2meta_counting(p_expiry) c WHERE c.replica_id = p_replica;
    IF NOT FOUND THEN
        v_joined := coalesce((SELECT r.joined_at FROM worker_replicas r
                               WHERE r.replica_id = p_replica), now());
        v_calls := 0;
        v_held := 0;
    END IF;

    -- One budget for the fleet: the smallest ID2META_QPS of the replicas taking a
    -- share, this one included, in whole calls per this replica's period.
    SELECT min(c.qps), max(c.qps) INTO qps_min, qps_max
      FROM id2meta_counting(p_expiry) c
     WHERE NOT c.leaving AND c.replica_id <> p_replica;
    qps_min := least(coalesce(qps_min, p_qps), p_qps);
    qps_max := greatest(coalesce(qps_max, p_qps), p_qps);
    v_fleet_qps := qps_min;
    IF v_fleet_qps >= p_qps THEN
        v_budget := p_budget;
    ELSE
        v_budget := floor(v_fleet_qps * p_period + 1e-9)::integer;
    END IF;

    IF p_leaving THEN
        v_live := 0;
        v_target := 0;
        v_allowed := 0;
    ELSE
        -- Targets split the budget into whole calls by seniority (joined_at, then
        -- id): every replica computes the same split from the same rows, and a
        -- newcomer does not take a share from a replica already using it. With
        -- more replicas than calls, the newest hold none (standby: they take no
        -- jobs) until an older one goes.
        SELECT count(*)::integer + 1,
               count(*) FILTER (WHERE (c.joined_at, c.replica_id) < (v_joined, p_replica))::integer
          INTO v_live, v_rank
          FROM id2meta_counting(p_expiry) c
         WHERE NOT c.leaving AND c.replica_id <> p_replica;
        v_target := v_budget / v_live + CASE WHEN v_rank < v_budget % v_live THEN 1 ELSE 0 END;
        -- Room: the budget less every other row's claim (or held value), a row
        -- of a worker from before whole-call claims at its share rounded up and one.
        SELECT coalesce(sum(greatest(
                   coalesce(c.calls, least((v_budget + v_live - 1) / v_live + 1, v_budget)),
                   c.held)), 0)
          INTO v_taken
          FROM id2meta_counting(p_expiry) c
         WHERE c.replica_id <> p_replica;
        v_allowed := least(v_target, greatest(v_budget - v_taken, 0))::integer;
    END IF;

    -- Raised before use; a lowering shows only once applied, the old value held
    -- for a window from now (never extended by later heartbeats).
    v_claim := greatest(p_applied, v_allowed);
    v_lowered := v_calls > v_claim;
    IF v_lowered THEN
        v_hold := greatest(v_calls, v_held);
    ELSIF v_held > v_claim THEN
        v_hold := v_held;
    ELSE
        v_hold := 0;
    END IF;

    INSERT INTO worker_replicas AS r
        (replica_id, heartbeat_at, counted_at, active_since, calls, held_calls, held_until,
         left_at, qps, target)
    VALUES (p_replica, now(), now(), CASE WHEN v_claim > 0 THEN now() END, v_claim, v_hold,
            CASE WHEN v_hold > 0 THEN now() + make_interval(secs => p_window) END,
            CASE WHEN p_leaving THEN now() END, p_qps, v_target)
    ON CONFLICT (replica_id) DO UPDATE
        SET heartbeat_at = excluded.heartbeat_at,
            counted_at = excluded.counted_at,
            active_since = CASE WHEN v_claim > 0 THEN coalesce(r.active_since, now()) END,
            calls = excluded.calls,
            held_calls = excluded.held_calls,
            held_until = CASE WHEN v_lowered THEN excluded.held_until
                              WHEN v_hold > 0 THEN r.held_until END,
            left_at = excluded.left_at,
            qps = excluded.qps,
            target = excluded.target;

    live := v_live;
    target := v_target;
    allowed := v_allowed;
    budget := v_budget;
    beat_at := now();
    RETURN NEXT;
END;
$$;
