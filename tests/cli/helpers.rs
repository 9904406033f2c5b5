#![allow(dead_code)] // each test module uses a part
//! What the command tests share: the test's names and config, running the
//! binary (and measuring its memory), reading and clearing the test's queues,
//! and rows and lines to feed the commands.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Output, Stdio};

use id2meta::config::Config;
use id2meta::job::Job;
use id2meta::store::Store;
use lapin::options::{BasicGetOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use sqlx::migrate::MigrateDatabase;
use uuid::Uuid;

/// Unique queue, exchange and database names for one test.
pub fn test_config() -> Config {
    let id = Uuid::new_v4().simple().to_string();
    let mut config = Config::from_source(&HashMap::new()).expect("the defaults are a config");
    config.database_url = format!("postgres://postgres@127.0.0.1:5432/id2meta_test_cli_{id}");
    config.jobs_queue = format!("test.{id}.jobs");
    config.results_exchange = format!("test.{id}.results");
    config
}

/// Runs `id2meta ARGS` with the test's names in its environment and `stdin` as input.
pub fn id2meta(config: &Config, args: &[&str], stdin: &str) -> Output {
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

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Messages in the test's jobs queue, taken off it (job_id, batch_id) in order.
pub async fn drain_jobs(
    channel: &lapin::Channel,
    config: &Config,
) -> Vec<(String, Option<String>)> {
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

pub async fn ready_count(channel: &lapin::Channel, queue: &str) -> u32 {
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

pub async fn delete_broker_objects(channel: &lapin::Channel, config: &Config) {
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

pub async fn drop_database(store: Store, config: &Config) {
    store.pool().close().await;
    let _ = sqlx::Postgres::force_drop_database(&config.database_url).await;
}

pub async fn insert_row(
    store: &Store,
    job_id: &str,
    batch_id: &str,
    status: &str,
    seconds_ago: i32,
) {
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

/// A JSON job line of `job_id` (a valid person), padded with `pad` bytes of metadata.
pub fn job_line(job_id: &str, pad: usize) -> String {
    format!(
        r#"{{"job_id":"{job_id}","name":"张三","id_number":"11010519491231002X","metadata":{{"pad":"{}"}}}}"#,
        "x".repeat(pad)
    )
}

/// Runs `id2meta ARGS` to its end, reading its VmHWM as it runs; (output, peak KiB).
pub fn run_measured(config: &Config, args: &[&str]) -> (Output, u64) {
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
