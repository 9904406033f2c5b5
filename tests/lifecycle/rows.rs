//! Rows and claims as a worker would have left them days ago: the retention
//! tests need rows older than any test can wait for. Inserted, never updated
//! (the table refuses updates).

use id2meta::identity::Identity;
use id2meta::secret::Secret;
use id2meta::store::Store;

use crate::helpers::PII_KEY;

/// The digest a worker stores for the i-th synthetic person.
pub fn digest_of(i: u64) -> String {
    let (name, id_number, _) = id2meta::mock::population::person(i);
    Identity::parse(&name, &id_number)
        .expect("the population is valid")
        .digest(&Secret::new(PII_KEY))
}

/// A paid `match` row for person `i`, completed `days_ago`, with its `done` claim.
pub async fn insert_settled(store: &Store, job_id: &str, i: u64, days_ago: i32) {
    let digest = digest_of(i);
    sqlx::query(
        "INSERT INTO verification_results (job_id, batch_id, status, biz_code, upstream_code,
              request_id, attempts, name_masked, id_number_masked, identity_digest, metadata,
              received_at, completed_at)
         VALUES ($1, 'old', 'match', '1', 'Success', 'R-' || $1, 1, '张*', '110***********002X', $2,
                 '{\"k\": \"v\"}', now() - make_interval(days => $3), now() - make_interval(days => $3))",
    )
    .bind(job_id)
    .bind(&digest)
    .bind(days_ago)
    .execute(store.pool())
    .await
    .expect("an old row");
    sqlx::query(
        "INSERT INTO job_claims (job_id, identity_digest, owner, state, lease_until, attempts)
         VALUES ($1, $2, gen_random_uuid(), 'done', now(), 1)",
    )
    .bind(job_id)
    .bind(&digest)
    .execute(store.pool())
    .await
    .expect("its claim");
}

/// `(job_id, scrubbed)` for every row, and whether each kept its masks, digest and metadata.
pub async fn scrub_states(store: &Store) -> Vec<(String, bool, bool)> {
    sqlx::query_as(
        "SELECT job_id, scrubbed_at IS NOT NULL,
                name_masked IS NOT NULL AND id_number_masked IS NOT NULL
                    AND identity_digest IS NOT NULL
           FROM verification_results ORDER BY job_id",
    )
    .fetch_all(store.pool())
    .await
    .expect("rows")
}

/// The job_ids that still have a claim.
pub async fn claimed(store: &Store) -> Vec<String> {
    sqlx::query_scalar("SELECT job_id FROM job_claims ORDER BY job_id")
        .fetch_all(store.pool())
        .await
        .expect("claims")
}

/// Rows, then every other table of the database, as text: where the identity must not be.
pub async fn every_table_as_text(store: &Store) -> String {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(table_name) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(store.pool())
    .await
    .expect("tables");
    let mut text = String::new();
    for table in tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM {table} t"))
            .fetch_all(store.pool())
            .await
            .expect("a table reads");
        text.push_str(&rows.join("\n"));
    }
    text
}
