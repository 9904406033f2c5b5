//! `results` and `batch`: stored rows read back, and the export against the
//! table's one page.

use id2meta::store::Store;

use super::helpers::*;

#[tokio::test]
async fn results_and_batch_read_back_stored_rows() {
    let config = test_config();
    let store = Store::connect(&config.database_url, 2)
        .await
        .expect("PostgreSQL");
    store.migrate().await.expect("migrations");
    insert_row(&store, "r-1", "rb", "match", 30).await;
    insert_row(&store, "r-2", "rb", "match", 20).await;
    insert_row(&store, "r-3", "rb", "invalid", 10).await;
    insert_row(&store, "other", "elsewhere", "failed", 5).await;
    store
        .record_enqueued("rb", 5)
        .await
        .expect("recording a batch");

    let csv = id2meta(
        &config,
        &["results", "--batch-id", "rb", "--format", "csv"],
        "",
    );
    assert!(csv.status.success(), "{}", text(&csv.stderr));
    let mut reader = csv::Reader::from_reader(csv.stdout.as_slice());
    let job_ids: Vec<String> = reader
        .records()
        .map(|r| r.expect("a CSV row")[0].to_string())
        .collect();
    assert_eq!(job_ids, ["r-1", "r-2", "r-3"]);

    let json = id2meta(&config, &["results", "--job-id", "r-2"], "");
    assert!(json.status.success(), "{}", text(&json.stderr));
    let row: serde_json::Value =
        serde_json::from_slice(&json.stdout).expect("piped output is JSON");
    assert_eq!(
        (row["job_id"].as_str(), row["name_masked"].as_str()),
        (Some("r-2"), Some("张*"))
    );

    let missing = id2meta(&config, &["results", "--job-id", "never-enqueued"], "");
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("no result for job_id \"never-enqueued\""));

    let batch = id2meta(&config, &["batch", "rb"], "");
    assert!(batch.status.success(), "{}", text(&batch.stderr));
    let report = text(&batch.stdout);
    for line in [
        "match      2",
        "invalid    1",
        "failed     0",
        "done       3",
        "enqueued   5",
        "pending    2",
    ] {
        assert!(report.contains(line), "{line:?} missing from\n{report}");
    }
    // 3 jobs from the first received (40 s ago) to the last completed (10 s ago).
    assert!(report.contains("rate       0.1 jobs/s"), "{report}");
    // These rows were written without a queue (as before revision 3).
    assert!(report.contains("queues: not recorded (3)"), "{report}");

    let unknown = id2meta(&config, &["batch", "no-such-batch"], "");
    assert!(!unknown.status.success());

    drop_database(store, &config).await;
}

#[tokio::test]
async fn results_exports_every_row_by_default_and_the_table_one_page_saying_how_to_see_more() {
    let config = test_config();
    let store = Store::connect(&config.database_url, 2)
        .await
        .expect("PostgreSQL");
    store.migrate().await.expect("migrations");
    sqlx::query(
        "INSERT INTO verification_results
             (job_id, batch_id, status, biz_code, upstream_code, attempts, name_masked,
              id_number_masked, identity_digest, received_at, completed_at)
         SELECT 'e-' || lpad(n::text, 5, '0'), 'eb', 'match', '1', 'Success', 1, '张*',
                '110***********002X', 'digest', now(), now() + n * interval '1 ms'
           FROM generate_series(1, 2500) AS n",
    )
    .execute(store.pool())
    .await
    .expect("rows");

    let csv = id2meta(
        &config,
        &["results", "--batch-id", "eb", "--format", "csv"],
        "",
    );
    assert!(csv.status.success(), "{}", text(&csv.stderr));
    assert_eq!(text(&csv.stdout).lines().count(), 2501);
    let json = id2meta(
        &config,
        &["results", "--batch-id", "eb", "--format", "json"],
        "",
    );
    assert!(json.status.success(), "{}", text(&json.stderr));
    let last: serde_json::Value =
        serde_json::from_str(text(&json.stdout).lines().last().expect("rows")).expect("JSON");
    assert_eq!(text(&json.stdout).lines().count(), 2500);
    assert_eq!(last["job_id"], "e-02500");
    assert!(
        text(&json.stderr).trim().is_empty(),
        "{}",
        text(&json.stderr)
    );

    let table = id2meta(
        &config,
        &["results", "--batch-id", "eb", "--format", "table"],
        "",
    );
    assert!(table.status.success(), "{}", text(&table.stderr));
    assert_eq!(text(&table.stdout).lines().count(), 1001);
    assert!(
        text(&table.stderr).contains("showing rows 1 to 1000; --offset 1000 shows the next ones"),
        "{}",
        text(&table.stderr)
    );
    let page = id2meta(
        &config,
        &[
            "results",
            "--batch-id",
            "eb",
            "--format",
            "table",
            "--offset",
            "2000",
        ],
        "",
    );
    let shown = text(&page.stdout);
    assert_eq!(shown.lines().count(), 501, "{}", text(&page.stderr));
    assert!(shown
        .lines()
        .nth(1)
        .is_some_and(|l| l.starts_with("e-02001")));
    drop_database(store, &config).await;
}
