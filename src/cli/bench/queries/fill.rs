//! The section's data: a large results table filled by SQL only
//! (`generate_series`, no worker involved), with batches, claims and replicas
//! beside it, and the names and cursors the timed reads ask for.

use anyhow::Context;

use crate::store::Store;

/// Rows per batch in the fill: 1,000 batches at 10M rows.
pub(super) const BATCH_ROWS: i64 = 10_000;
/// Rows inserted per statement (each its own transaction, so progress shows).
const CHUNK: i64 = 500_000;
/// The path of a deep page of `batch`: after the row 90% into it.
pub(super) async fn deep_page(store: &Store, batch: &str, rows: i64) -> anyhow::Result<String> {
    let (at, job): (chrono::DateTime<chrono::Utc>, String) = sqlx::query_as(
        "SELECT completed_at, job_id FROM verification_results WHERE batch_id = $1
          ORDER BY completed_at, job_id OFFSET $2 LIMIT 1",
    )
    .bind(batch)
    .bind(BATCH_ROWS.min(rows) * 9 / 10)
    .fetch_one(store.pool())
    .await
    .context("finding a deep page's cursor")?;
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let encode = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    Ok(format!(
        "/batches/{batch}?after_at={}&after_id={}",
        encode(&at),
        encode(&job)
    ))
}

/// The fill's name of batch `n`.
pub(super) fn batch_id(n: i64) -> String {
    format!("bench-{n:05}")
}

/// The fill's name of row `n`.
pub(super) fn job_id(n: i64) -> String {
    format!("job-{n:09}")
}

/// The rows, the batches table, recent claims and three replicas, by SQL only.
/// Completions are 20 ms apart ending now (50 per second, the default budget),
/// so the overview's last minutes hold a realistic count.
pub(super) async fn fill(store: &Store, rows: i64) -> anyhow::Result<()> {
    let mut from = 0;
    while from < rows {
        let to = (from + CHUNK).min(rows);
        sqlx::query(
            "INSERT INTO verification_results (job_id, batch_id, status, biz_code, upstream_code,
                 request_id, attempts, name_masked, id_number_masked, identity_digest, received_at,
                 completed_at, priority)
             SELECT 'job-' || lpad(i::text, 9, '0'), 'bench-' || lpad((i / $3)::text, 5, '0'),
                    (ARRAY['match','mismatch','not_found','invalid','rejected','failed'])[1 + i % 6],
                    CASE WHEN i % 6 < 3 THEN (1 + i % 3)::text END,
                    CASE WHEN i % 6 = 3 THEN NULL WHEN i % 6 < 3 THEN 'Success' ELSE 'InternalError' END,
                    md5('r' || i), 1 + (i % 7 = 0)::int, '张*', '1101**********001X', md5(i::text),
                    now() - make_interval(secs => ($4 - i) * 0.02 + 0.2),
                    now() - make_interval(secs => ($4 - i) * 0.02),
                    'bulk'
               FROM generate_series($1::bigint, $2::bigint - 1) AS i",
        )
        .bind(from)
        .bind(to)
        .bind(BATCH_ROWS)
        .bind(rows)
        .execute(store.pool())
        .await
        .context("filling verification_results")?;
        eprintln!("(8) filled {to} of {rows} rows");
        from = to;
    }
    let statements = [
        "INSERT INTO batches (batch_id, enqueued, created_at)
         SELECT batch_id, count(*), min(received_at) FROM verification_results GROUP BY batch_id",
        // A day of claims at 50/s is 4.3M; the newest 1% of rows stand for them here.
        "INSERT INTO job_claims (job_id, identity_digest, owner, state, lease_until, attempts, claimed_at, replica_id)
         SELECT job_id, identity_digest, gen_random_uuid(), 'done', completed_at, attempts, received_at,
                '00000000-0000-0000-0000-000000000001'
           FROM verification_results ORDER BY completed_at DESC
          LIMIT (SELECT greatest(count(*) / 100, 1) FROM verification_results)",
        "INSERT INTO job_claims (job_id, identity_digest, owner, lease_until, attempts, replica_id)
         SELECT 'claimed-' || i, md5('c' || i), gen_random_uuid(), now() + interval '1 hour', 1,
                '00000000-0000-0000-0000-000000000001'
           FROM generate_series(1, 32) AS i",
        "INSERT INTO worker_replicas (replica_id, heartbeat_at, active_since, counted_at, calls, ready)
         SELECT ('00000000-0000-0000-0000-00000000000' || i)::uuid, now() + interval '1 hour', now(), now(), 16, true
           FROM generate_series(1, 3) AS i",
        // What autovacuum does to an insert-only table soon after: statistics, and
        // the visibility map that lets index-only scans skip the heap.
        "VACUUM ANALYZE",
    ];
    for statement in statements {
        sqlx::query(statement)
            .execute(store.pool())
            .await
            .with_context(|| format!("filling: {}", first_line(statement)))?;
    }
    Ok(())
}

/// A statement's first line, to name it in an error.
fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}
