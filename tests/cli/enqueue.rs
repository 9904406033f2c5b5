//! `enqueue`: good lines published and bad ones reported, thousands of jobs
//! pipelined, interactive jobs on their own queue, and duplicates and bad rows
//! named by line, from a file and from stdin.

use id2meta::cli::enqueue::enqueue_bodies;
use id2meta::cli::input::ParsedLine;
use id2meta::job::Job;
use id2meta::secret::Pii;
use id2meta::store::Store;
use sqlx::migrate::MigrateDatabase;

use super::helpers::*;

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

#[tokio::test]
async fn enqueue_with_a_queue_publishes_bulk_jobs_there_declared_as_a_job_queue() {
    let config = test_config();
    let partner = format!("{}.partner", config.jobs_queue);
    let line = |job_id: &str, priority: &str| {
        format!(
            r#"{{"job_id":"{job_id}","name":"张三","id_number":"11010519491231002X"{priority}}}"#
        )
    };
    let input = [
        line("p-1", ""),
        line("p-2", ""),
        line("p-urgent", r#","priority":"interactive""#),
    ]
    .join("\n");
    let output = id2meta(&config, &["enqueue", "-", "--queue", &partner], &input);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("to {partner}")), "{stderr}");
    // This environment's ID2META_QUEUE_WEIGHTS does not name it: said, not refused.
    assert!(stderr.contains("does not name"), "{stderr}");
    let connection = id2meta::queue::connect(&config.amqp_url, "test-cli")
        .await
        .expect("RabbitMQ");
    let channel = connection.create_channel().await.expect("a channel");
    assert_eq!(ready_count(&channel, &partner).await, 2);
    assert_eq!(ready_count(&channel, &config.jobs_queue).await, 0);
    // Interactive jobs still take the lane.
    assert_eq!(ready_count(&channel, &config.interactive_queue()).await, 1);
    // Declared as a job queue: redeclaring it with the job queue's arguments passes.
    let topology = id2meta::queue::Topology::from_config(&config);
    let route = id2meta::queue::declare_job_queue(&connection, &partner, &topology)
        .await
        .expect("the same arguments as every job queue");
    assert_eq!(route, id2meta::queue::DeadLetterRoute::Intake);
    let lane = config.interactive_queue();
    let refused = id2meta(&config, &["enqueue", "-", "--queue", &lane], &input);
    assert!(!refused.status.success(), "the lane is not a bulk queue");
    let _ = channel
        .queue_delete(partner.as_str().into(), Default::default())
        .await;
    delete_broker_objects(&channel, &config).await;
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
