-- Issue 19, item 5: an interactive job gets the fleet's next free call at any
-- number of replicas. An interactive job waits for the next call of the replica
-- that holds it, one spacing (window / share) at most; at 50 replicas sharing
-- ID2META_QPS=50 that is a second, while the fleet's next call is 20 ms away. So
-- no replica takes a share smaller than 15 calls per window: a spacing of 67 ms at
-- most, two thirds of the interactive target's 100 ms over the upstream's latency
-- (the rest is the broker's, the store's and the completion's). The
-- oldest max(1, min(live, floor(budget / 15))) replicas split the budget, and the
-- others stand by (take no jobs, hand back what they hold) as replicas beyond the
-- budget already did. A budget under 15 calls goes whole to the oldest replica.
--
-- The bound does not depend on the split (docs/qps-budget.md, "The bound": the
-- room a replica is allowed is the budget less every other claim, whatever the
-- targets), so replicas running the former split beside this one stay within it.
--
-- The split is its own function, so the next change to it replaces a few lines
-- instead of the whole heartbeat; the heartbeat is restated once here to call it.

-- A replica's target: `p_budget` whole calls per window split among the `p_live`
-- replicas taking part, this one ranked `p_rank` by seniority (0 is the oldest).
-- Each of the oldest `active` gets at least 15 calls (the whole budget when it is
-- smaller), the oldest ones a call more while the division leaves a remainder.
CREATE OR REPLACE FUNCTION id2meta_budget_target(p_budget integer, p_live integer, p_rank integer)
RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    WITH split AS (
        SELECT greatest(1, least(p_live, p_budget / 15)) AS active
    )
    SELECT CASE
               WHEN p_budget <= 0 OR p_live <= 0 OR p_rank >= s.active THEN 0
               ELSE p_budget / s.active
                    + CASE WHEN p_rank < p_budget % s.active THEN 1 ELSE 0 END
           END
      FROM split s
$$;

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
        -- newcomer does not take a share from a replica already using it. The
        -- split itself is id2meta_budget_target's (a minimum share per replica).
        SELECT count(*)::integer + 1,
               count(*) FILTER (WHERE (c.joined_at, c.replica_id) < (v_joined, p_replica))::integer
          INTO v_live, v_rank
          FROM id2meta_counting(p_expiry) c
         WHERE NOT c.leaving AND c.replica_id <> p_replica;
        v_target := id2meta_budget_target(v_budget, v_live, v_rank);
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
