//! Storms and kills: the mock answering `InternalError` / `Forbidden.ExceptionDataSource`
//! to half the calls for a while, and a worker process SIGKILLed at random points
//! over a batch and restarted. After each, every job has one row and a completion,
//! nothing is left in the queue, and the upstream calls are accounted for: equal to
//! the attempts stored (storm), or over the jobs by no more than the calls in flight
//! when a worker died (kills).
//!
//! `ID2META_LONG_FAULTS=1` runs the long variant of the kill test (more kills, more
//! jobs). Each test prints a `REPORT` line (run with `--nocapture`).

#[path = "worker/helpers.rs"]
mod helpers;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use helpers::{person_jobs, TestEnv, PII_KEY};
use id2meta::mock::{MockConfig, SettingsPatch};
use rand::Rng;
use tokio::process::{Child, Command};

const VERDICTS: [&str; 3] = ["match", "mismatch", "not_found"];
const STORM_CODES: [&str; 2] = ["InternalError", "Forbidden.ExceptionDataSource"];

fn storm(rate_each: f64) -> SettingsPatch {
    SettingsPatch {
        error_rates: Some(
            STORM_CODES
                .iter()
                .map(|code| (code.to_string(), rate_each))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..SettingsPatch::default()
    }
}

#[tokio::test]
async fn an_error_storm_settles_every_job_and_each_attempt_is_one_call() {
    const JOBS: u64 = 200;
    const MAX_ATTEMPTS: u32 = 3;
    const STORM: Duration = Duration::from_millis(1500);
    const STORM_CALLS: u64 = 100;
    let env = TestEnv::new(MockConfig {
        latency: Duration::from_millis(20),
        ..MockConfig::default()
    })
    .await;
    let mut config = env.config.clone();
    config.qps = 100.0;
    config.max_attempts = MAX_ATTEMPTS;
    let worker = env.start_worker_with(config).await;
    let jobs = person_jobs("storm", JOBS);
    env.publish_jobs(&jobs).await;
    // The storm starts once calls flow, so it lands on the batch.
    let started = tokio::time::Instant::now();
    while env.mock.stats().calls < 20 {
        assert!(started.elapsed() < Duration::from_secs(30), "no calls came");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    env.mock.update(storm(0.25)).expect("a valid storm");
    // At least STORM long, and long enough to answer STORM_CALLS however busy the machine.
    let storm_from = env.mock.stats().calls;
    tokio::time::sleep(STORM).await;
    while env.mock.stats().calls < storm_from + STORM_CALLS {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "calls stopped in the storm"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    env.mock.update(storm(0.0)).expect("calm");
    env.wait_for_rows(jobs.len(), Duration::from_secs(60)).await;
    worker.stop().await;
    let batch = env.assert_batch_settled(&jobs).await;

    let stats = env.mock.stats();
    for code in STORM_CODES {
        assert!(
            stats.by_code.get(code).copied().unwrap_or(0) > 0,
            "no {code} in the storm"
        );
    }
    assert_eq!(
        batch.calls as i64, batch.attempts,
        "the attempts stored differ from the calls the mock answered"
    );
    let failed: Vec<_> = batch.rows.iter().filter(|r| r.status == "failed").collect();
    for row in &failed {
        assert_eq!(row.attempts, MAX_ATTEMPTS as i32);
        let code = row.upstream_code.as_deref().unwrap_or("");
        assert!(STORM_CODES.contains(&code), "failed with {code}");
    }
    assert!(
        batch
            .rows
            .iter()
            .all(|r| r.status == "failed" || VERDICTS.contains(&r.status.as_str())),
        "a job ended neither with a verdict nor failed"
    );
    println!(
        "REPORT error storm (50% for {STORM:?} and {STORM_CALLS} calls at least, max attempts {MAX_ATTEMPTS}): jobs {JOBS}, rows {}, \
         completed {}, upstream calls {}, attempts stored {}, failed {}, storm answers {:?}",
        batch.rows.len(),
        batch.completed,
        batch.calls,
        batch.attempts,
        failed.len(),
        STORM_CODES.map(|c| stats.by_code.get(c).copied().unwrap_or(0)),
    );
    env.cleanup().await;
}

/// How hard the kill test pushes.
struct KillPlan {
    jobs: u64,
    kills: usize,
    concurrency: u16,
}

impl KillPlan {
    fn from_env() -> Self {
        let long = std::env::var("ID2META_LONG_FAULTS").is_ok_and(|v| v == "1");
        Self {
            jobs: if long { 3000 } else { 500 },
            kills: if long { 25 } else { 5 },
            concurrency: 16,
        }
    }
}

/// Starts `id2meta worker` as a separate process on this environment.
fn spawn_worker(env: &TestEnv, concurrency: u16, log_file: &std::fs::File) -> Child {
    let http_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let log = |f: &std::fs::File| Stdio::from(f.try_clone().expect("log file"));
    Command::new(env!("CARGO_BIN_EXE_id2meta"))
        .arg("worker")
        .env("DATABASE_URL", &env.config.database_url)
        .env("AMQP_URL", &env.config.amqp_url)
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", "testid")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "testsecret")
        .env("ID2META_ENDPOINT", env.mock.endpoint())
        .env("ID2META_PII_KEY", PII_KEY)
        .env("ID2META_JOBS_QUEUE", &env.config.jobs_queue)
        .env("ID2META_RESULTS_EXCHANGE", &env.config.results_exchange)
        .env("ID2META_HTTP_ADDR", http_addr.to_string())
        .env("ID2META_LEASE_SECS", "2")
        // A lease must be at least twice the request timeout.
        .env("ID2META_REQUEST_TIMEOUT_MS", "1000")
        .env("ID2META_QPS", "200")
        .env("ID2META_CONCURRENCY", concurrency.to_string())
        .env("ID2META_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        .stdout(log(log_file))
        .stderr(log(log_file))
        .kill_on_drop(true)
        .spawn()
        .expect("the worker binary starts")
}

/// SIGTERM, then waits for a clean exit (the contract: within 30 s).
async fn terminate(mut worker: Child) {
    let pid = worker.id().expect("the worker is running");
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "SIGTERM not delivered");
    let status = tokio::time::timeout(Duration::from_secs(30), worker.wait())
        .await
        .expect("the worker exits within 30 s of SIGTERM")
        .expect("the worker's exit status");
    assert!(status.success(), "the worker exited with {status}");
}

#[tokio::test]
async fn a_worker_killed_at_random_points_loses_nothing_and_repeats_only_calls_in_flight() {
    let plan = KillPlan::from_env();
    let env = TestEnv::new(MockConfig {
        latency: Duration::from_millis(50),
        ..MockConfig::default()
    })
    .await;
    let log_path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fault_suite_kills.log");
    let log_file = std::fs::File::create(&log_path).expect("a log file");
    let jobs = person_jobs("kill", plan.jobs);
    env.publish_jobs(&jobs).await;
    let mut rng = rand::rng();
    let mut thresholds: Vec<usize> = (0..plan.kills)
        .map(|_| rng.random_range(1..plan.jobs as usize * 9 / 10))
        .collect();
    thresholds.sort_unstable();
    let mut worker = spawn_worker(&env, plan.concurrency, &log_file);
    let mut killed_at = Vec::new();
    for threshold in thresholds {
        env.wait_for_rows(threshold, Duration::from_secs(60)).await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..200))).await;
        worker.start_kill().expect("SIGKILL");
        worker.wait().await.expect("the killed worker is reaped");
        killed_at.push(env.rows().await.len());
        worker = spawn_worker(&env, plan.concurrency, &log_file);
    }
    env.wait_for_rows(jobs.len(), Duration::from_secs(120))
        .await;
    terminate(worker).await;
    let batch = env.assert_batch_settled(&jobs).await;

    let excess = batch.calls as i64 - plan.jobs as i64;
    let bound = plan.kills as i64 * i64::from(plan.concurrency);
    println!(
        "REPORT SIGKILL x{} (rows at each kill {killed_at:?}), concurrency {}: jobs {}, rows {}, \
         completed {}, upstream calls {}, excess calls {excess} (bound {bound}), attempts stored {}",
        plan.kills,
        plan.concurrency,
        plan.jobs,
        batch.rows.len(),
        batch.completed,
        batch.calls,
        batch.attempts,
    );
    assert!(
        (0..=bound).contains(&excess),
        "excess calls {excess} beyond {bound} (kills × concurrency); log: {}",
        log_path.display()
    );
    assert!(
        batch
            .rows
            .iter()
            .all(|r| VERDICTS.contains(&r.status.as_str())),
        "a job did not end with a verdict"
    );
    env.cleanup().await;
}
