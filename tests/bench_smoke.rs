//! A smoke run of `id2meta bench --quick` (a few hundred jobs per section) against the
//! real services: every section runs, the table comes out, and the correctness figures
//! (one upstream call per job, nothing throttled, a clean SIGTERM exit) hold, and
//! nothing but progress and the table is printed (the workers' logs go to a file).
//! Ignored by default (about 30 s in a debug build): `cargo test --test bench_smoke -- --ignored`.

use std::process::Command;

#[test]
#[ignore = "needs PostgreSQL and RabbitMQ; about 30 s"]
fn a_quick_bench_prints_every_section_with_one_upstream_call_per_job() {
    let out = Command::new(env!("CARGO_BIN_EXE_id2meta"))
        .args(["bench", "--quick"])
        // At `info` the in-process workers log a line per job: none may reach the output.
        .env("RUST_LOG", "info")
        .output()
        .expect("the binary runs");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed: {}\n{table}",
        String::from_utf8_lossy(&out.stderr)
    );
    for section in [
        "(1) raw",
        "(2) pipeline / raw",
        "(3) most calls",
        "(4) latency",
        "(5) peak",
        "(7) lanes",
        "(8) queries on 100000 rows",
        "(9) `id2meta enqueue FILE`: peak",
        "(9) `id2meta results --format csv`: peak",
        "(10) more replicas than calls",
        "(10) a replica frozen (SIGSTOP)",
        "(10) interactive behind a backlog",
        "(10) cold start, 200 ms handshake",
        "(11) queues: a 100-job partner batch",
        "(11) queues: interactive publish → completion",
        "(12) retention sweep beside a fleet",
    ] {
        assert!(table.contains(section), "no {section} row in\n{table}");
    }
    // Only what holds whatever the machine's load: one call per job, and nothing throttled by
    // a token bucket (3). The strict sliding window of (6) and (7) is a timing bound (the
    // spread between a token and the mock's count of its call must stay under the margin),
    // so it is a figure in the table, not an assertion here (docs/benchmarks.md).
    for correctness in [
        "| (2) upstream calls per job | 1.000 | = 1.000 | yes |",
        "| (3) throttled by the upstream | 0 | 0 | yes |",
        "| (5) upstream calls per job | 1.000 | = 1.000 | yes |",
    ] {
        assert!(table.contains(correctness), "not {correctness} in\n{table}");
    }
    assert!(
        table.contains(", clean |"),
        "the worker did not exit cleanly:\n{table}"
    );
    let progress = String::from_utf8_lossy(&out.stderr);
    for (stream, text) in [("stdout", &table), ("stderr", &progress)] {
        let logged: Vec<&str> = text.lines().filter(|l| is_log_line(l)).take(3).collect();
        assert!(
            logged.is_empty(),
            "log lines on the bench's {stream}: {logged:#?}"
        );
    }
}

/// A line of the worker's log, JSON (`{"timestamp":…,"level":"INFO",…}`) or pretty
/// (`2026-12-02T01:02:03.456Z  INFO id2meta::…`).
fn is_log_line(line: &str) -> bool {
    let json = line.trim_start().starts_with('{') && line.contains("\"level\"");
    let mut words = line.split_whitespace();
    let pretty = matches!(
        (words.next(), words.next()),
        (Some(time), Some("TRACE" | "DEBUG" | "INFO" | "WARN" | "ERROR"))
            if time.starts_with("20") && time.ends_with('Z')
    );
    json || pretty
}

#[test]
fn a_log_line_is_told_from_the_bench_progress() {
    assert!(is_log_line(
        r#"{"timestamp":"2026-12-02T01:02:03Z","level":"INFO","message":"consuming"}"#
    ));
    assert!(is_log_line(
        "2026-12-02T01:02:03.456789Z  WARN id2meta::app: paused"
    ));
    assert!(!is_log_line(
        "id2meta bench: WARNING: a debug build; use --release for numbers worth keeping"
    ));
    assert!(!is_log_line("(2) pipeline, unlimited upstream: 200 jobs"));
}
