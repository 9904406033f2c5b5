//! A smoke run of `id2meta bench --quick` (a few hundred jobs per section) against the
//! real services: every section runs, the table comes out, and the correctness figures
//! (one upstream call per job, nothing throttled, a clean SIGTERM exit) hold.
//! Ignored by default (about 30 s in a debug build): `cargo test --test bench_smoke -- --ignored`.

use std::process::Command;

#[test]
#[ignore = "needs PostgreSQL and RabbitMQ; about 30 s"]
fn a_quick_bench_prints_every_section_with_one_upstream_call_per_job() {
    let out = Command::new(env!("CARGO_BIN_EXE_id2meta"))
        .args(["bench", "--quick"])
        .env("RUST_LOG", "warn")
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
    ] {
        assert!(table.contains(section), "no {section} row in\n{table}");
    }
    for correctness in [
        "| (2) upstream calls per job | 1.000 | = 1.000 | yes |",
        "| (3) throttled by the upstream | 0 | 0 | yes |",
        "| (7) lanes: throttled by the upstream | 0 | 0 | yes |",
        "| (5) upstream calls per job | 1.000 | = 1.000 | yes |",
    ] {
        assert!(table.contains(correctness), "not {correctness} in\n{table}");
    }
    assert!(
        table.contains(", clean |"),
        "the worker did not exit cleanly:\n{table}"
    );
}
