//! Wiring: from a [`Config`] to a running worker (store, writer, client,
//! limiter, budget, HTTP endpoints, consumer), and back down at shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::budget::{Budget, BudgetSettings, Quota};
use crate::config::Config;
use crate::health::Health;
use crate::pipeline::account::AccountGate;
use crate::pipeline::cancellations::Cancellations;
use crate::pipeline::consumer::Consumer;
use crate::pipeline::limiter::Limiter;
use crate::pipeline::processor::Parts;
use crate::pipeline::retry::RetryPolicy;
use crate::pipeline::scheduler::BulkQueues;
use crate::pipeline::Processor;
use crate::queue::dead_letters::{Intake, Sealer};
use crate::queue::{DeadLetterSealing, Topology};
use crate::shutdown;
use crate::store::{Claimer, ResultWriter, Store};
use crate::upstream::Client;
use crate::upstream::WarmShare;

/// A worker started in this process.
pub struct RunningWorker {
    /// Where `/metrics`, `/healthz`, `/readyz` answer.
    pub http_addr: SocketAddr,
    pub health: Arc<Health>,
    /// This worker's id in claims and in the budget's replica table.
    pub owner: Uuid,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningWorker {
    /// Waits until the worker has shut down and flushed its writes.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("the worker task panicked")?
    }
}

/// Connects, migrates, binds the HTTP endpoints and starts consuming; returns once
/// running. Cancel `shutdown` to stop it; then [`RunningWorker::wait`].
pub async fn start(config: Config, shutdown: CancellationToken) -> anyhow::Result<RunningWorker> {
    let pii_key = config.require_pii_key()?.clone();
    let health = Health::new();
    let credentials = crate::credentials::start(&config.credential_settings(), shutdown.clone())
        .await
        .context("starting the credential chain")?;
    tokio::spawn(crate::credentials::readiness::report_to(
        credentials.handle.clone(),
        health.clone(),
    ));
    let client = Client::new(config.upstream_with(credentials.handle))
        .context("building the upstream client")?;
    let metrics = crate::instrumentation::install();
    // `ID2META_DB_CONNECTIONS` in all: one for the budget's heartbeats, the rest for
    // jobs. Claims and results go through two batching tasks (one statement each at
    // a time); the rest (retries, releases, readiness) is rare: a few suffice at any
    // concurrency.
    let store = Store::open(&config.database(), config.db_connections - 1).await?;
    store.migrate().await?;
    health.set_database(true);
    // The endpoints outlive the drain (so /metrics can be scraped while jobs
    // finish): they stop when the worker task ends, not at SIGTERM.
    let http_stop = CancellationToken::new();
    let http_addr = crate::http::serve(
        config.http_addr,
        &config.allowed_hosts,
        health.clone(),
        metrics,
        http_stop.clone(),
    )
    .await?;
    let owner = Uuid::new_v4();
    // QPS budget: the limiter stays closed until the budget opens it at this
    // replica's share; `budget_stop` is cancelled once the consumer made its last call.
    let budget_settings = BudgetSettings {
        spread: config.qps_margin,
        ..BudgetSettings::default()
    };
    let quota = Quota::from_qps(config.qps);
    let queues = BulkQueues::from_config(&config);
    let limiter = Limiter::closed_weighted(quota.window(&budget_settings), queues.weights());
    // Capped queues (ID2META_QUEUE_CAPS): closed until the budget claims their share.
    let caps = crate::budget::caps::of_config(&config, &queues, budget_settings.spread);
    caps.iter()
        .for_each(|c| limiter.cap_queue(c.index, c.window));
    let budget_stop = CancellationToken::new();
    let mut budget = Budget::start_capped(
        crate::budget::dedicated_pool(store.pool()),
        owner,
        quota,
        caps,
        limiter.clone(),
        budget_settings,
        budget_stop.clone(),
    );
    // Ready or why not, in this replica's row: the console's fleet page shows it.
    let readiness_health = health.clone();
    tokio::spawn(crate::budget::readiness::report(
        store.pool().clone(),
        owner,
        move || readiness_health.not_ready(),
        budget_stop.clone(),
    ));
    let (writer, writer_task) = ResultWriter::spawn(store.clone());
    let (claimer, _claimer_task) = Claimer::spawn(store.clone());
    // Settled claims are deleted after a day, and unstorable ones once their dead
    // letter can no longer be replayed, so `job_claims` stays bounded.
    tokio::spawn(crate::store::sweep_claims_until(
        store.clone(),
        config.dead_letter_ttl,
        shutdown.clone(),
    ));
    // Retention (off unless ID2META_RESULTS_RETENTION is set): scrubs old rows in
    // the background, one replica at a time, never on a job's path.
    if let Some(retention) = config.results_retention {
        tokio::spawn(crate::lifecycle::retention::sweep_until(
            store.clone(),
            retention,
            crate::audit::Actor::worker(owner),
            config.clone(),
            shutdown.clone(),
        ));
    }
    // Whether this replica stands by is known before the consumer takes a job.
    budget.first_heartbeat(budget_settings.pause_after).await;
    // Connections open before the first job, and kept open, so that a granted
    // token's request leaves at once (issue 19 item 3; `upstream::warm`). An
    // unreachable upstream does not hold the start: its calls fail and retry.
    let window = limiter.window();
    if !client
        .warmed(limiter.allowance(), window, config.connect_timeout)
        .await
    {
        tracing::warn!("the upstream's connections are not warm yet; starting anyway");
    }
    let warmer = (client.clone(), limiter.clone(), shutdown.clone());
    tokio::spawn(async move {
        let (client, limiter, shutdown) = warmer;
        let standby = limiter.standby();
        let share = WarmShare::default();
        let calls = move || share.follow(limiter.allowance(), *standby.borrow());
        client.keep_warm(calls, window, shutdown).await
    });
    let gate = AccountGate::new(health.clone());
    let standby = limiter.standby();
    tokio::spawn(show_standby(standby.clone(), health.clone()));
    let cancellations = Cancellations::start(store.clone(), shutdown.clone()).await?;
    crate::key_agreement::start(store.clone(), &pii_key, shutdown.clone());
    let processor = Processor::new(Parts {
        store: store.clone(),
        claimer,
        writer,
        client: client.clone(),
        limiter,
        queues,
        retry: RetryPolicy::default(),
        gate: gate.clone(),
        cancellations,
        health: health.clone(),
        pii_key,
        owner,
        lease: config.lease,
        max_attempts: config.max_attempts,
        reuse_within: config.reuse_within,
        shutdown: shutdown.clone(),
    });
    let topology = Topology::from_config(&config);
    // Dead letters: the consumer's are sealed as they are made; the intake task
    // seals what the broker dead-letters itself (and sweeps a first-release queue).
    let sealer = Arc::new(Sealer::new(
        config.require_pii_key()?,
        config.dead_letter_ttl,
    ));
    let intake = Intake {
        amqp_url: config.amqp_url.clone(),
        topology: topology.clone(),
        sealer: sealer.clone(),
        sweep_every: config.dead_letter_sweep,
        shutdown: shutdown.clone(),
    }
    .spawn();
    let consumer = Consumer {
        amqp_url: config.amqp_url.clone(),
        dead_letters: Arc::new(DeadLetterSealing {
            sealer: (*sealer).clone(),
            source_queue: topology.jobs_queue.clone(),
        }),
        topology,
        concurrency: config.concurrency,
        processor,
        client,
        gate,
        health: health.clone(),
        shutdown: shutdown.clone(),
        shutdown_deadline: config.shutdown_deadline,
        standby,
    };
    tracing::info!(%owner, qps = config.qps, concurrency = config.concurrency, %http_addr, "worker started");
    let drain = config.shutdown_deadline;
    let task = tokio::spawn(async move {
        let _http = http_stop.drop_guard();
        // Each step after the drain has its own bound (see `shutdown`): the sum
        // stays inside the contract's 30 s however stuck the broker or database.
        let consumed = run_consumer(consumer, &shutdown, drain).await;
        // QPS budget: no more calls from here; give the share back to the others.
        budget_stop.cancel();
        shutdown::bounded(
            "leaving the QPS budget",
            shutdown::BUDGET_LEAVE,
            budget.wait(),
        )
        .await;
        // The intake stops at the shutdown signal, after the message it is sealing.
        if shutdown::bounded(
            "stopping the dead-letter intake",
            shutdown::INTAKE_STOP,
            intake,
        )
        .await
        .is_none()
        {
            tracing::warn!("the dead-letter intake did not stop in time; its message returns to the intake queue");
        }
        consumed?;
        // The consumer held the last writer handles: the writer now flushes and ends.
        // Jobs still waiting on it were abandoned at the deadline (their deliveries
        // return to the queue); do not hang on a database that is down.
        if shutdown::bounded("flushing results", shutdown::WRITER_FLUSH, writer_task)
            .await
            .is_none()
        {
            tracing::warn!("results still uncommitted at exit; their jobs will be redelivered");
        }
        tracing::info!("worker stopped");
        Ok(())
    });
    Ok(RunningWorker {
        http_addr,
        health,
        owner,
        task,
    })
}

/// Keeps `/readyz` saying whether this replica stands by (no share of the budget).
async fn show_standby(mut standby: tokio::sync::watch::Receiver<bool>, health: Arc<Health>) {
    loop {
        health.set_standby(*standby.borrow_and_update());
        if standby.changed().await.is_err() {
            return;
        }
    }
}

/// Runs the consumer until it ends by itself, or, once shutdown is asked, for
/// at most the drain plus [`shutdown::CONSUMER_CLOSE`]: past that its future is
/// dropped with its connection, and the broker requeues what was unacked.
async fn run_consumer(
    consumer: Consumer,
    shutdown: &CancellationToken,
    drain: Duration,
) -> anyhow::Result<()> {
    let run = consumer.run();
    tokio::pin!(run);
    tokio::select! {
        consumed = &mut run => return consumed,
        _ = shutdown.cancelled() => {}
    }
    let limit = drain + shutdown::CONSUMER_CLOSE;
    shutdown::bounded("draining and closing the consumer", limit, run)
        .await
        .unwrap_or(Ok(()))
}
