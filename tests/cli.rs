//! The user's commands against a real RabbitMQ and PostgreSQL: `enqueue`,
//! `results` and `batch`, run as the binary a user runs, with isolated queue
//! and database names per test.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Output, Stdio};

use id2meta::cli::enqueue::enqueue_bodies;
use id2meta::cli::input::ParsedLine;
use id2meta::config::Config;
use id2meta::job::Job;
use id2meta::secret::Pii;
use id2meta::store::Store;
use lapin::options::{BasicGetOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use sqlx::migrate::MigrateDatabase;
use uuid::Uuid;

/// Unique queue, exchange and database names for one test.
fn test_config() -> Config {
    let id = Uuid::new_v4().simple().to_string();
    let mut config = Config::from_source(&HashMap::new()).expect("the defaults are a config");
    config.database_url = format!("postgres://postgres@127.0.0.1:5432/id2meta_test_cli_{id}");
    config.jobs_queue = format!("test.{id}.jobs");
    config.results_exchange = format!("test.{id}.results");
    config
}

/// Runs `id2meta ARGS` with the test's names in its environment and `stdin` as input.
fn id2meta(config: &Config, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_id2meta"))
        .args(args)
        .env("DATABASE_URL", &config.database_url)
        .env("AMQP_URL", &config.amqp_url)
        .env("ID2META_JOBS_QUEUE", &config.jobs_queue)
        .env("ID2META_RESULTS_EXCHANGE", &config.results_exchange)
        .env("ID2META_LOG_FORMAT", "json")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    input
        .write_all(stdin.as_bytes())
        .expect("the binary reads stdin");
    drop(input);
    child.wait_with_output().expect("the binary finishes")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Messages in the test's jobs queue, taken off it (job_id, batch_id) in order.
async fn drain_jobs(channel: &lapin::Channel, config: &Config) -> Vec<(String, Option<String>)> {
    let mut jobs = Vec::new();
    while let Some(message) = channel
        .basic_get(
            config.jobs_queue.as_str().into(),
            BasicGetOptions { no_ack: true },
        )
        .await
        .expect("basic.get")
    {
        let job = Job::parse(&message.delivery.data, None).expect("only jobs were published");
        jobs.push((job.job_id, job.batch_id));
    }
    jobs
}

async fn ready_count(channel: &lapin::Channel, queue: &str) -> u32 {
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.into(), passive, FieldTable::default())
        .await
        .expect("the queue exists")
        .message_count()
}

async fn delete_broker_objects(channel: &lapin::Channel, config: &Config) {
    for queue in [
        config.jobs_queue.clone(),
        config.interactive_queue(),
        config.dead_letter_queue(),
        format!("{}.intake", config.dead_letter_queue()),
        config.results_queue(),
    ] {
        let _ = channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    let _ = channel
        .exchange_delete(config.results_exchange.as_str().into(), Default::default())
        .await;
}

async fn drop_database(store: Store, config: &Config) {
    store.pool().close().await;
    let _ = sqlx::Postgres::force_drop_database(&config.database_url).await;
}

#[tokio::test]
async fn enqueue_publishes_the_good_lines_reports_the_bad_ones_and_exits_non_zero() {
    let config = test_config();
    let input = [
        r#"{"job_id":"cli-1","name":"张三","id_number":"11010519491231002X"}"#,
        r#"{"job_id":"cli-2","name":"李四","id_number":"110105194912310021","batch_id":"own"}"#,
        "",
        r#"{"job_id":"cli-3","name":"王五","id_number":"11010519491231002X""#,
        r#"{"job_id":"cli-1","name":"赵六","id_number":"11010519491231002X"}"#,
        r#"{"job_id":"cli-5","name":"","id_number":"not a number"}"#,
    ]
    .join("\n");

    let output = id2meta(&config, &["enqueue", "-", "--batch-id", "given"], &input);

    assert!(
        !output.status.success(),
        "bad lines make the exit status non-zero"
    );
    let stderr = text(&output.stderr);
    assert!(stderr.contains("line 4: body is not JSON"), "{stderr}");
    assert!(
        stderr.contains("line 5: duplicate job_id of line 1"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "published 3 jobs (2 bad lines) to {}",
            config.jobs_queue
        )),
        "{stderr}"
    );
    for pii in ["张三", "王五", "赵六", "11010519491231002"] {
        assert!(!stderr.contains(pii), "{pii} leaked to stderr: {stderr}");
    }

    let connection = id2meta::queue::connect(&config.amqp_url, "test-cli")
        .await
        .expect("RabbitMQ");
    let channel = connection.create_channel().await.expect("a channel");
    assert_eq!(ready_count(&channel, &config.jobs_queue).await, 3);
    let mut jobs = drain_jobs(&channel, &config).await;
    jobs.sort();
    let given = Some("given".to_string());
    assert_eq!(
        jobs,
        [
            ("cli-1".to_string(), given.clone()),
            ("cli-2".to_string(), Some("own".to_string())),
            ("cli-5".to_string(), given),
        ]
    );

    let store = Store::connect(&config.database_url, 1)
        .await
        .expect("PostgreSQL");
    let recorded: Vec<(String, i64)> =
        sqlx::query_as("SELECT batch_id, enqueued FROM batches ORDER BY batch_id")
            .fetch_all(store.pool())
            .await
            .expect("the batches table");
    assert_eq!(recorded, [("given".to_string(), 2), ("own".to_string(), 1)]);

    delete_broker_objects(&channel, &config).await;
    drop_database(store, &config).await;
}

#[tokio::test]
async fn enqueue_bodies_pipelines_thousands_of_jobs_into_the_queue() {
    let config = test_config();
    let jobs: Vec<ParsedLine> = (0..3000)
        .map(|n| {
            let job = Job::new(
                format!("bulk-{n}"),
                Pii::new("张三"),
                Pii::new("11010519491231002X"),
                Some("bulk".into()),
                None,
            );
            ParsedLine::from_job(n + 1, &job)
        })
        .collect();

    let confirmed = enqueue_bodies(&config, &jobs, false)
        .await
        .expect("the broker confirms");

    assert_eq!(confirmed, 3000);
    let connection = id2meta::queue::connect(&config.amqp_url, "test-cli")
        .await
        .expect("RabbitMQ");
    let channel = connection.create_channel().await.expect("a channel");
    assert_eq!(ready_count(&channel, &config.jobs_queue).await, 3000);
    delete_broker_objects(&channel, &config).await;
}

async fn insert_row(store: &Store, job_id: &str, batch_id: &str, status: &str, seconds_ago: i32) {
    sqlx::query(
        "INSERT INTO verification_results
             (job_id, batch_id, status, biz_code, upstream_code, attempts, name_masked,
              id_number_masked, identity_digest, received_at, completed_at)
         VALUES ($1, $2, $3, '1', 'Success', 1, '张*', '110***********002X', 'digest',
                 now() - make_interval(secs => $4 + 10), now() - make_interval(secs => $4))",
    )
    .bind(job_id)
    .bind(batch_id)
    .bind(status)
    .bind(seconds_ago)
    .execute(store.pool())
    .await
    .expect("inserting a result row");
}

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

    let unknown = id2meta(&config, &["batch", "no-such-batch"], "");
    assert!(!unknown.status.success());

    drop_database(store, &config).await;
}

#[tokio::test]
async fn enqueue_sends_interactive_jobs_to_the_interactive_queue() {
    let config = test_config();
    let line = |job_id: &str, priority: &str| {
        format!(
            r#"{{"job_id":"{job_id}","name":"张三","id_number":"11010519491231002X"{priority}}}"#
        )
    };
    let input = [
        line("by-field", r#","priority":"interactive""#),
        line("bulk-field", r#","priority":"bulk""#),
        line("no-field", ""),
    ]
    .join("\n");
    let output = id2meta(&config, &["enqueue", "-"], &input);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let connection = id2meta::queue::connect(&config.amqp_url, "test-cli")
        .await
        .expect("RabbitMQ");
    let channel = connection.create_channel().await.expect("a channel");
    assert_eq!(ready_count(&channel, &config.interactive_queue()).await, 1);
    assert_eq!(ready_count(&channel, &config.jobs_queue).await, 2);

    // --priority interactive: every job to the lane, bodies as written.
    let input = line("forced", r#","priority":"bulk""#);
    let output = id2meta(
        &config,
        &["enqueue", "-", "--priority", "interactive"],
        &input,
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(ready_count(&channel, &config.interactive_queue()).await, 2);
    let refused = id2meta(&config, &["enqueue", "-", "--priority", "urgent"], &input);
    assert!(!refused.status.success(), "an unknown lane is refused");
    delete_broker_objects(&channel, &config).await;
}

/// A JSON job line of `job_id` (a valid person), padded with `pad` bytes of metadata.
fn job_line(job_id: &str, pad: usize) -> String {
    format!(
        r#"{{"job_id":"{job_id}","name":"张三","id_number":"11010519491231002X","metadata":{{"pad":"{}"}}}}"#,
        "x".repeat(pad)
    )
}

#[tokio::test]
async fn enqueue_of_a_file_refuses_duplicates_far_apart_with_both_line_numbers_and_publishes_the_rest(
) {
    let config = test_config();
    // 5,000 lines; line 4,000 repeats line 2 and line 5,000 repeats line 3,000.
    let lines: Vec<String> = (1..=5000)
        .map(|n| {
            let id = match n {
                4000 => 2,
                5000 => 3000,
                n => n,
            };
            job_line(&format!("far-{id}"), 0)
        })
        .collect();
    let file = tempfile::Builder::new()
        .suffix(".jsonl")
        .tempfile()
        .expect("a temp file");
    std::fs::write(file.path(), lines.join("\n")).expect("the input file");
    let path = file.path().to_str().expect("a UTF-8 temp path");

    let output = id2meta(&config, &["enqueue", path], "");

    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    let reported: Vec<&str> = stderr.lines().filter(|l| l.starts_with("line ")).collect();
    assert_eq!(
        reported,
        [
            "line 4000: duplicate job_id of line 2",
            "line 5000: duplicate job_id of line 3000"
        ],
        "{stderr}"
    );
    assert!(
        stderr.contains("published 4998 jobs (2 bad lines)"),
        "{stderr}"
    );
    let connection = id2meta::queue::connect(&config.amqp_url, "test-cli")
        .await
        .expect("RabbitMQ");
    let channel = connection.create_channel().await.expect("a channel");
    assert_eq!(ready_count(&channel, &config.jobs_queue).await, 4998);
    delete_broker_objects(&channel, &config).await;
    let _ = sqlx::Postgres::force_drop_database(&config.database_url).await;
}

#[tokio::test]
async fn enqueue_from_stdin_reads_csv_twice_from_its_copy_with_bad_and_repeated_rows_reported() {
    let config = test_config();
    let input = "job_id,name,id_number,batch_id\r\n\
                 s-1,张三,11010519491231002X,sb\r\n\
                 s-2,李四,110105194912310021,sb\r\n\
                 \r\n\
                 s-1,王五,11010519491231002X,sb\r\n\
                 s-4,only-two\r\n\
                 s-5,赵六,11010519491231002X,sb\r\n";

    let output = id2meta(&config, &["enqueue", "-"], input);

    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    let reported: Vec<&str> = stderr.lines().filter(|l| l.starts_with("line ")).collect();
    assert_eq!(
        reported,
        [
            "line 5: duplicate job_id of line 2",
            "line 6: missing the id_number column (the row has 2 fields)"
        ],
        "{stderr}"
    );
    for pii in ["张三", "王五", "赵六", "11010519491231002"] {
        assert!(!stderr.contains(pii), "{pii} leaked to stderr: {stderr}");
    }
    let connection = id2meta::queue::connect(&config.amqp_url, "test-cli")
        .await
        .expect("RabbitMQ");
    let channel = connection.create_channel().await.expect("a channel");
    let mut jobs = drain_jobs(&channel, &config).await;
    jobs.sort();
    let sb = Some("sb".to_string());
    assert_eq!(
        jobs,
        [
            ("s-1".to_string(), sb.clone()),
            ("s-2".to_string(), sb.clone()),
            ("s-5".to_string(), sb)
        ]
    );
    let store = Store::connect(&config.database_url, 1)
        .await
        .expect("PostgreSQL");
    let recorded: Vec<(String, i64)> = sqlx::query_as("SELECT batch_id, enqueued FROM batches")
        .fetch_all(store.pool())
        .await
        .expect("the batches table");
    assert_eq!(recorded, [("sb".to_string(), 3)]);
    delete_broker_objects(&channel, &config).await;
    drop_database(store, &config).await;
}

/// Runs `id2meta ARGS` to its end, reading its VmHWM as it runs; (output, peak KiB).
fn run_measured(config: &Config, args: &[&str]) -> (Output, u64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_id2meta"))
        .args(args)
        .env("DATABASE_URL", &config.database_url)
        .env("AMQP_URL", &config.amqp_url)
        .env("ID2META_JOBS_QUEUE", &config.jobs_queue)
        .env("ID2META_RESULTS_EXCHANGE", &config.results_exchange)
        .env("ID2META_LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stderr, &mut text);
        text
    });
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            break status;
        }
        if let Ok(status) = std::fs::read_to_string(&status_path) {
            let hwm = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok());
            peak = peak.max(hwm.unwrap_or(0));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let stderr = reader.join().expect("the stderr reader");
    (
        Output {
            status,
            stdout: Vec::new(),
            stderr,
        },
        peak,
    )
}

#[tokio::test]
async fn enqueue_of_a_90_mb_file_stays_far_below_its_size_in_memory() {
    let config = test_config();
    // 60,000 lines of 1.5 KiB: 2,000 jobs, each line after them repeating one of them.
    let file = tempfile::Builder::new()
        .suffix(".jsonl")
        .tempfile()
        .expect("a temp file");
    {
        let mut out = std::io::BufWriter::new(file.reopen().expect("the temp file"));
        for n in 0..60_000u32 {
            writeln!(out, "{}", job_line(&format!("big-{}", n % 2000), 1500)).expect("writing");
        }
        out.flush().expect("writing");
    }
    let size = std::fs::metadata(file.path()).expect("the file").len();
    assert!(size > 90_000_000, "{size} bytes");
    let path = file.path().to_str().expect("a UTF-8 temp path");

    let (output, peak_kib) = run_measured(&config, &["enqueue", path]);

    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("published 2000 jobs (58000 bad lines)"),
        "{}",
        &stderr[stderr.len().saturating_sub(500)..]
    );
    assert!(stderr.contains("line 60000: duplicate job_id of line 2000"));
    // Reading the whole file would need more than 90 MB; streaming needs a few buffers.
    assert!(
        peak_kib < 64 * 1024,
        "enqueue peaked at {} MiB over a {} MB file",
        peak_kib / 1024,
        size / 1_000_000
    );
    let connection = id2meta::queue::connect(&config.amqp_url, "test-cli")
        .await
        .expect("RabbitMQ");
    let channel = connection.create_channel().await.expect("a channel");
    assert_eq!(ready_count(&channel, &config.jobs_queue).await, 2000);
    delete_broker_objects(&channel, &config).await;
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
