//! Running the `id2meta` binary as an operator does, with a test's names and
//! key in its environment, and reading the audit log it leaves.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use id2meta::audit::Recorded;
use id2meta::config::Config;
use id2meta::queue::dead_letters::DeadLetterQueue;
use id2meta::store::Store;

use crate::helpers::{eventually, PII_KEY};

/// Runs `id2meta ARGS` with `stdin` as its input; `extra` adds variables.
pub fn id2meta(config: &Config, args: &[&str], stdin: &str, extra: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_id2meta"));
    command
        .args(args)
        .env("DATABASE_URL", &config.database_url)
        .env("AMQP_URL", &config.amqp_url)
        .env("ID2META_JOBS_QUEUE", &config.jobs_queue)
        .env("ID2META_RESULTS_EXCHANGE", &config.results_exchange)
        .env("ID2META_PII_KEY", PII_KEY)
        .env("ID2META_LOG_FORMAT", "json")
        .env("USER", "auditor")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in extra {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("the binary starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    input
        .write_all(stdin.as_bytes())
        .expect("the binary reads stdin");
    drop(input);
    child.wait_with_output().expect("the binary finishes")
}

/// Stdout of a run that must succeed (its stderr in the panic otherwise).
pub fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The whole audit log, oldest first.
pub async fn audit_rows(store: &Store) -> Vec<Recorded> {
    let mut rows = id2meta::audit::read::newest_first(store.pool(), None, None, 10_000)
        .await
        .expect("the audit log reads");
    rows.reverse();
    rows
}

/// The audit rows of one action, oldest first.
pub async fn audited(store: &Store, action: &str) -> Vec<Recorded> {
    audit_rows(store)
        .await
        .into_iter()
        .filter(|r| r.action == action)
        .collect()
}

/// The dead-letter tools on the test's queues, once `count` letters rest there.
pub async fn letters_resting(config: &Config, count: usize) -> DeadLetterQueue {
    let letters = DeadLetterQueue::from_config(config)
        .await
        .expect("the dead-letter tools connect");
    eventually("the dead letters rest", Duration::from_secs(30), || async {
        (letters.list(10).await.ok()?.len() == count).then_some(())
    })
    .await;
    letters
}
