-- Contract revision 3: ID2META_QUEUE_CAPS, a queue's calls per second across the
-- fleet, enforced as the budget is (docs/qps-budget.md, "Caps"): each replica
-- claims, per capped queue, the whole calls per window its limiter may make for
-- that queue's jobs, and the claims of a queue never add up to more than its cap.
--
-- One row per replica and capped queue. Written only by that replica's
-- heartbeat; a row counts until `counts_until`, which the writer sets to its
-- pause deadline plus the queue's window (its window can differ from the budget's:
-- a cap under one call per second counts over `1 / cap` seconds).
CREATE TABLE IF NOT EXISTS worker_queue_claims (
    queue        text NOT NULL,
    replica_id   uuid NOT NULL,
    -- The cap this replica was started with (calls per second): the smallest
    -- among the replicas taking a share is in force.
    cap          double precision NOT NULL,
    -- Taking a share of the cap: not leaving, holding a share of the budget, and
    -- holding jobs of the queue that wait for a call (or made one since the last
    -- heartbeat): a replica without them would hold a share nobody uses.
    active       boolean NOT NULL,
    -- The share it was last given and the most it may use, in whole calls per window.
    target       integer NOT NULL DEFAULT 0,
    calls        integer NOT NULL DEFAULT 0,
    held_calls   integer NOT NULL DEFAULT 0,
    held_until   timestamptz,
    heartbeat_at timestamptz NOT NULL,
    counts_until timestamptz NOT NULL,
    PRIMARY KEY (queue, replica_id)
);

CREATE INDEX IF NOT EXISTS worker_queue_claims_counts_until
    ON worker_queue_claims (counts_until);

-- The heartbeat with caps: the budget's heartbeat (the function of migration
-- 20261206000100, unchanged, so older workers keep calling it), then, in the
-- same serializable transaction, one claim per capped queue by the same rule:
-- a share of the cap by seniority among the replicas taking one (those with jobs
-- of the queue waiting, not on standby, not leaving), raised only
-- into what the others leave free (written before it is used), a lowering held
-- for the queue's window. The arrays are per capped queue, in one order, and the
-- answer's arrays follow it.
--
-- p_caps: the cap in calls per second; p_calls, p_periods: it as whole calls per
-- period; p_queue_applied: what the limiter allows the queue now; p_windows: the
-- queue's window (its period plus the margin); p_wants: this replica has jobs of
-- the queue waiting for a call, or made one since its last heartbeat.
CREATE OR REPLACE FUNCTION id2meta_budget_heartbeat(
    p_replica uuid,
    p_qps double precision,
    p_budget integer,
    p_period double precision,
    p_applied integer,
    p_window double precision,
    p_expiry double precision,
    p_forget double precision,
    p_leaving boolean,
    p_queues text[],
    p_caps double precision[],
    p_calls integer[],
    p_periods double precision[],
    p_queue_applied integer[],
    p_windows double precision[],
    p_wants boolean[]
) RETURNS TABLE (
    live integer,
    target integer,
    allowed integer,
    budget integer,
    qps_min double precision,
    qps_max double precision,
    beat_at timestamptz,
    queue_budget integer[],
    queue_target integer[],
    queue_allowed integer[]
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    b record;
    v_pause double precision := greatest(p_expiry - p_window, 0);
    v_joined timestamptz;
    v_active boolean;
    i integer;
    v_queue text;
    v_calls integer;
    v_held integer;
    v_cap double precision;
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
    IF coalesce(array_length(p_queues, 1), 0) <> coalesce(array_length(p_caps, 1), 0)
       OR coalesce(array_length(p_queues, 1), 0) <> coalesce(array_length(p_calls, 1), 0)
       OR coalesce(array_length(p_queues, 1), 0) <> coalesce(array_length(p_periods, 1), 0)
       OR coalesce(array_length(p_queues, 1), 0) <> coalesce(array_length(p_queue_applied, 1), 0)
       OR coalesce(array_length(p_queues, 1), 0) <> coalesce(array_length(p_windows, 1), 0)
       OR coalesce(array_length(p_queues, 1), 0) <> coalesce(array_length(p_wants, 1), 0) THEN
        RAISE EXCEPTION 'id2meta_budget_heartbeat: one value per capped queue in every array';
    END IF;
    SELECT * INTO b FROM id2meta_budget_heartbeat(p_replica, p_qps, p_budget, p_period,
        p_applied, p_window, p_expiry, p_forget, p_leaving);
    live := b.live;
    target := b.target;
    allowed := b.allowed;
    budget := b.budget;
    qps_min := b.qps_min;
    qps_max := b.qps_max;
    beat_at := b.beat_at;
    queue_budget := ARRAY[]::integer[];
    queue_target := ARRAY[]::integer[];
    queue_allowed := ARRAY[]::integer[];

    DELETE FROM worker_queue_claims c
     WHERE c.counts_until < now() - make_interval(secs => p_forget);
    SELECT r.joined_at INTO v_joined FROM worker_replicas r WHERE r.replica_id = p_replica;
    FOR i IN 1 .. coalesce(array_length(p_queues, 1), 0) LOOP
        v_queue := p_queues[i];
        -- A replica on standby (no share of the budget), leaving, or without jobs
        -- of the queue takes no share of its cap: it could not use one.
        v_active := NOT p_leaving AND b.target > 0 AND coalesce(p_wants[i], false);
        SELECT c.calls, CASE WHEN c.held_until > now() THEN c.held_calls ELSE 0 END
          INTO v_calls, v_held
          FROM worker_queue_claims c
         WHERE c.queue = v_queue AND c.replica_id = p_replica AND c.counts_until > now();
        IF NOT FOUND THEN
            v_calls := 0;
            v_held := 0;
        END IF;

        -- One cap for the fleet: the smallest among the replicas taking a share,
        -- in whole calls per this replica's period for it.
        SELECT min(c.cap) INTO v_cap
          FROM worker_queue_claims c
         WHERE c.queue = v_queue AND c.replica_id <> p_replica AND c.active
           AND c.counts_until > now();
        v_cap := least(coalesce(v_cap, p_caps[i]), p_caps[i]);
        IF v_cap >= p_caps[i] THEN
            v_budget := p_calls[i];
        ELSE
            v_budget := floor(v_cap * p_periods[i] + 1e-9)::integer;
        END IF;

        IF NOT v_active THEN
            v_target := 0;
            v_allowed := 0;
        ELSE
            -- The split by seniority among the replicas taking a share of this cap.
            SELECT count(*)::integer + 1,
                   count(*) FILTER (WHERE (r.joined_at, c.replica_id) < (v_joined, p_replica))::integer
              INTO v_live, v_rank
              FROM worker_queue_claims c
              JOIN worker_replicas r ON r.replica_id = c.replica_id
             WHERE c.queue = v_queue AND c.replica_id <> p_replica AND c.active
               AND c.counts_until > now();
            v_target := v_budget / v_live
                        + CASE WHEN v_rank < v_budget % v_live THEN 1 ELSE 0 END;
            -- Room: the cap less every other row's claim or held value.
            SELECT coalesce(sum(greatest(c.calls,
                       CASE WHEN c.held_until > now() THEN c.held_calls ELSE 0 END)), 0)
              INTO v_taken
              FROM worker_queue_claims c
             WHERE c.queue = v_queue AND c.replica_id <> p_replica
               AND c.counts_until > now();
            v_allowed := least(v_target, greatest(v_budget - v_taken, 0))::integer;
        END IF;

        -- Raised before use; a lowering shows only once applied, the old value
        -- held for the queue's window from now (never extended later).
        v_claim := greatest(p_queue_applied[i], v_allowed);
        v_lowered := v_calls > v_claim;
        IF v_lowered THEN
            v_hold := greatest(v_calls, v_held);
        ELSIF v_held > v_claim THEN
            v_hold := v_held;
        ELSE
            v_hold := 0;
        END IF;

        INSERT INTO worker_queue_claims AS c
            (queue, replica_id, cap, active, target, calls, held_calls, held_until,
             heartbeat_at, counts_until)
        VALUES (v_queue, p_replica, p_caps[i], v_active, v_target, v_claim, v_hold,
                CASE WHEN v_hold > 0 THEN now() + make_interval(secs => p_windows[i]) END,
                now(), now() + make_interval(secs => v_pause + p_windows[i]))
        ON CONFLICT (queue, replica_id) DO UPDATE
            SET cap = excluded.cap,
                active = excluded.active,
                target = excluded.target,
                calls = excluded.calls,
                held_calls = excluded.held_calls,
                held_until = CASE WHEN v_lowered THEN excluded.held_until
                                  WHEN v_hold > 0 AND c.held_until > now() THEN c.held_until END,
                heartbeat_at = excluded.heartbeat_at,
                counts_until = excluded.counts_until;

        queue_budget := queue_budget || v_budget;
        queue_target := queue_target || v_target;
        queue_allowed := queue_allowed || v_allowed;
    END LOOP;
    RETURN NEXT;
END;
$$;
