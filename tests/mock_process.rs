//! The mock upstream as a process: what compose and Kubernetes do to it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Sends a signal with the system's `kill`, as a container runtime would.
fn send(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {pid} failed");
}

#[test]
fn the_mock_upstream_stops_cleanly_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_id2meta"))
        .args(["mock-upstream", "--listen", "127.0.0.1:0"])
        .env("ID2META_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the mock starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut first = String::new();
    stdout
        .read_line(&mut first)
        .expect("the mock prints its address");
    assert!(
        first.contains("listening on"),
        "unexpected first line: {first}"
    );

    let pid = child.id();
    send("-TERM", pid);
    // Wait for the exit on a thread, so the test can give up without polling.
    let (exited, exit) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = exited.send(child.wait());
    });
    let status = match exit.recv_timeout(Duration::from_secs(20)) {
        Ok(status) => status.expect("wait"),
        Err(_) => {
            send("-KILL", pid);
            panic!("the mock ignored SIGTERM for 20 s");
        }
    };
    assert!(status.success(), "the mock exited with {status}");
    let mut rest = String::new();
    stdout
        .read_line(&mut rest)
        .expect("the mock prints its summary");
    assert!(
        rest.contains("mock upstream stopped"),
        "unexpected summary: {rest}"
    );
}
