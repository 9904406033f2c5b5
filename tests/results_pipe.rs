//! `id2meta results … | head`: when the reader closes the pipe early, the command
//! ends quietly (exit 0, nothing on stderr), as Unix tools do.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use id2meta::config::Config;
use id2meta::store::Store;
use sqlx::migrate::MigrateDatabase;
use uuid::Uuid;

#[tokio::test]
async fn results_piped_into_a_reader_that_stops_early_exits_zero_without_error_text() {
    let id = Uuid::new_v4().simple().to_string();
    let mut config = Config::from_source(&HashMap::new()).expect("the defaults are a config");
    config.database_url = format!("postgres://postgres@127.0.0.1:5432/id2meta_test_pipe_{id}");
    let store = Store::connect(&config.database_url, 2)
        .await
        .expect("PostgreSQL");
    store.migrate().await.expect("migrations");
    // Far more output than a pipe buffers (64 KiB), so the writer meets the closed pipe.
    sqlx::query(
        "INSERT INTO verification_results
             (job_id, batch_id, status, biz_code, upstream_code, attempts, name_masked,
              id_number_masked, identity_digest, received_at, completed_at)
         SELECT 'p-' || n, 'pb', 'match', '1', 'Success', 1, '张*', '110***********002X',
                'digest', now(), now()
           FROM generate_series(1, 20000) AS n",
    )
    .execute(store.pool())
    .await
    .expect("rows");

    for format in ["json", "csv", "table"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_id2meta"))
            .args([
                "results",
                "--batch-id",
                "pb",
                "--limit",
                "0",
                "--format",
                format,
            ])
            .env("DATABASE_URL", &config.database_url)
            .env("ID2META_LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        // `head -1`: read one line, then close the pipe.
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut first)
            .expect("a first line");
        assert!(!first.is_empty(), "{format}: no output");
        let output = child.wait_with_output().expect("the binary ends");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{format}: exit {:?}, stderr: {stderr}",
            output.status
        );
        assert!(stderr.trim().is_empty(), "{format}: stderr: {stderr}");
    }
    store.pool().close().await;
    let _ = sqlx::Postgres::drop_database(&config.database_url).await;
}
