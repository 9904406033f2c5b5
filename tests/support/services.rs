//! Stopping and starting the local RabbitMQ node and PostgreSQL cluster under a
//! test, and a guard that starts them again whatever the test did, so a failed
//! run never leaves the machine without its services.
//!
//! The node is the one `rabbitmqctl` targets (set `RABBITMQ_NODENAME` to aim at
//! another); the cluster is `ID2META_TEST_PG_CLUSTER` (`VERSION/NAME`), by
//! default the installed version's `main`.

use tokio::process::Command;

/// Runs a service command; panics with its output if it fails.
async fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{program} could not run: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `VERSION/NAME` of the PostgreSQL cluster to restart.
fn postgres_cluster() -> String {
    if let Ok(cluster) = std::env::var("ID2META_TEST_PG_CLUSTER") {
        return cluster;
    }
    let version = std::fs::read_dir("/etc/postgresql")
        .expect("PostgreSQL is installed under /etc/postgresql")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .max_by_key(|name| name.parse::<u32>().unwrap_or(0))
        .expect("a PostgreSQL version under /etc/postgresql");
    format!("{version}/main")
}

/// Stops the RabbitMQ application (the node stays up; quorum queues keep their messages).
pub async fn stop_broker() {
    run("rabbitmqctl", &["stop_app"]).await;
}

/// Starts the RabbitMQ application and waits until it runs.
pub async fn start_broker() {
    run("rabbitmqctl", &["start_app"]).await;
    run("rabbitmqctl", &["await_startup"]).await;
}

/// Restarts the PostgreSQL cluster (a fast shutdown: every connection is cut).
pub async fn restart_database() {
    let cluster = postgres_cluster();
    run(
        "pg_ctlcluster",
        &["--skip-systemctl-redirect", &cluster, "restart"],
    )
    .await;
}

/// On drop (a test's end, or its panic), starts whatever a test stopped.
pub struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        // Both are harmless when the service already runs (pg_ctlcluster exits 2).
        let _ = std::process::Command::new("rabbitmqctl")
            .arg("start_app")
            .output();
        let _ = std::process::Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &postgres_cluster(), "start"])
            .output();
    }
}
