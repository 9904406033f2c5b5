//! The supervised consume loop: connect, declare, consume with a prefetch equal
//! to the jobs in flight, one task per delivery, and, the one place that does,
//! turn each [`Disposition`] into ack, requeue, return or dead-letter (the frames
//! themselves are coalesced per channel by [`super::acks`]).
//!
//! A pause (an account or environment error) ends the session: nothing more is
//! taken, what was received is put back without spending a delivery, the jobs in
//! flight get a deadline to hand themselves back, and no new session opens until
//! the gate's probe passes; the session after it starts on probation (one job
//! first, see [`super::probation`]).
//!
//! Lanes (see `docs/priorities.md` and `docs/queues.md`): `<jobs>.interactive`
//! and every bulk queue (`ID2META_QUEUE_WEIGHTS`, else the jobs queue), each on
//! its own channel with its own prefetch, so no queue's deliveries can hold every
//! slot: the interactive lane keeps [`interactive_reserve`] slots of its own, and
//! an interactive job is taken as soon as it is published, however full the bulk
//! lanes are; each bulk queue has `concurrency` slots of its own. Jobs from the
//! interactive queue are interactive whatever their body says; each delivery is
//! settled on its own channel (an ack is only valid there) and returned to its
//! own queue. All lanes start, go on probation and stop together, with the session.
//!
//! Standby (no share of the budget, more replicas than shares) ends the session
//! the same way as a pause, without probation: the jobs taken go back without
//! spending a delivery, the ones waiting for a token hand themselves back, and
//! the next session holds its connection but takes nothing until a share comes
//! ([`standby`]). No job waits at a replica that cannot
//! call while others can.
//!
//! The connection is supervised here rather than by lapin's auto-recovery
//! (young, and it does not re-apply the prefetch): any channel or connection
//! error ends the session, unacked deliveries return to the queue with the
//! connection, and a new session re-declares everything after a backoff. A
//! consumer the broker cancels (RabbitMQ 4.x's consumer timeout, a deleted
//! queue) is not an error: it is consumed again within the session.

mod disposal;
mod lanes;
mod standby;
mod task;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use disposal::apply;
use lanes::{next_of, Lane};
use standby::Standby;
use task::Task;

use super::account::AccountGate;
use super::probation::Subscription;
use super::{Disposition, Processor};
use crate::health::Health;
use crate::job::Priority;
use crate::queue::{self, DeadLetterSealing, Frames, Publisher, Topology};
use crate::upstream::Client;

/// How long a pause waits for the jobs in flight to hand themselves back before
/// it probes anyway (a call in flight ends within the request timeout).
const PAUSE_DRAIN_DEADLINE: Duration = Duration::from_secs(30);

/// Deliveries the interactive lane may hold beside the bulk lane's
/// `concurrency`: a quarter of it, at least 2. Enough that a burst of sign-ups
/// is taken at once (each waits only for the next free call, so a few slots
/// keep up with the whole allowance: a slot frees within one upstream latency),
/// small enough that the replica's memory and connections stay near what
/// `ID2META_CONCURRENCY` says.
pub fn interactive_reserve(concurrency: u16) -> u16 {
    (concurrency / 4).max(2)
}

/// The consumer's settings and collaborators.
pub struct Consumer {
    pub amqp_url: String,
    pub topology: Topology,
    pub concurrency: u16,
    pub processor: Processor,
    pub client: Client,
    pub gate: AccountGate,
    pub health: Arc<Health>,
    /// Stop taking jobs; let the ones in flight finish or return.
    pub shutdown: CancellationToken,
    pub shutdown_deadline: Duration,
    /// Seals what the consumer dead-letters (no plaintext in `<jobs>.dead`).
    pub dead_letters: Arc<DeadLetterSealing>,
    /// True while this replica holds no share of the budget ([`super::limiter::Limiter::standby`]).
    pub standby: watch::Receiver<bool>,
}

/// How a session with the broker ended.
enum SessionEnd {
    Shutdown,
    Paused,
    /// No share of the budget: what was taken went back, nothing more is taken
    /// until a share comes (a job must not wait at a replica that cannot call).
    Standby,
}

impl Consumer {
    /// Runs until shutdown, then waits (up to the deadline) for jobs in flight.
    pub async fn run(self) -> anyhow::Result<()> {
        let tracker = TaskTracker::new();
        let mut delay = Duration::from_millis(500);
        // After a pause: the next session starts with one job before the rest.
        let mut on_probation = false;
        // Wide after a message whose properties did not fit (`queue::Frames`).
        let mut frames = Frames::Narrow;
        loop {
            // The gate is read before every session: one opened while paused would
            // take jobs only to hand them back, in a loop, with no probe running.
            if self.gate.is_refused() {
                if !self
                    .gate
                    .probe_until_accepted(&self.client, &self.shutdown)
                    .await
                {
                    break;
                }
                on_probation = true;
            }
            match self.session(&tracker, &mut on_probation, frames).await {
                // The session drained its jobs before it ended.
                Ok(SessionEnd::Shutdown) => return Ok(()),
                Ok(SessionEnd::Paused | SessionEnd::Standby) => {}
                Err(error) => {
                    self.health.set_broker(false);
                    frames = frames.after(&error, "worker");
                    tracing::warn!(error = %format!("{error:#}"), retry_in = ?delay, "broker session ended; reconnecting");
                    if !self.health.idle(delay, &self.shutdown).await {
                        break;
                    }
                    delay = (delay * 2).min(Duration::from_secs(30));
                    continue;
                }
            }
            if self.shutdown.is_cancelled() {
                break;
            }
            delay = Duration::from_millis(500);
        }
        // Shutdown came while no session was open: drain the jobs of the lost one.
        self.drain(&tracker, self.shutdown_deadline).await;
        Ok(())
    }

    /// Waits for the jobs in flight to finish or return, up to `deadline`, beating
    /// all the while: a worker waiting out its jobs is alive (`/healthz`).
    async fn drain(&self, tracker: &TaskTracker, deadline: Duration) {
        tracker.close();
        let give_up = tokio::time::Instant::now() + deadline;
        let mut beat = tokio::time::interval(Duration::from_secs(1));
        let drained = loop {
            tokio::select! {
                _ = tracker.wait() => break true,
                _ = tokio::time::sleep_until(give_up) => break false,
                _ = beat.tick() => self.health.beat(),
            }
        };
        if !drained {
            tracing::warn!(
                in_flight = tracker.len(),
                "drain deadline passed; unfinished jobs return to the queue"
            );
        }
    }

    /// The broker cancelled a consumer (`basic.cancel`): RabbitMQ 4.x does so when
    /// a delivery outlives the consumer timeout (3.x closed the channel), and every
    /// version when the queue is deleted. The session goes on: the queue is
    /// declared again (it may be gone; same arguments, idempotent) and consumed
    /// again on the same channel, so the other lane, the jobs in flight and
    /// readiness are untouched. Failing that, the session ends as on any error.
    async fn consume_again(
        &self,
        connection: &lapin::Connection,
        subscription: &mut Subscription,
        queue: &str,
    ) -> anyhow::Result<()> {
        tracing::warn!(queue, "the broker cancelled the consumer; consuming again");
        queue::declare_job_queue(connection, queue, &self.topology)
            .await
            .with_context(|| format!("declaring {queue} again after a consumer cancel"))?;
        subscription
            .resume()
            .await
            .with_context(|| format!("consuming {queue} again after a consumer cancel"))
    }

    /// One connection: consume until shutdown, a pause or a broker error.
    async fn session(
        &self,
        tracker: &TaskTracker,
        on_probation: &mut bool,
        frames: Frames,
    ) -> anyhow::Result<SessionEnd> {
        // Subscribed before anything else: a pause tripped while connecting is seen
        // by `borrow_and_update` below, a later one by `changed`.
        let mut refused = self.gate.subscribe();
        let mut standby = self.standby.clone();
        let connection = queue::connect_with(&self.amqp_url, "id2meta worker", frames).await?;
        queue::declare(&connection, &self.topology).await?;
        let publisher = Publisher::open(
            &connection,
            &self.topology.results_exchange,
            &self.topology.dead_letter_queue,
        )
        .await?
        .sealing(self.dead_letters.clone());
        if *refused.borrow_and_update() {
            let _ = connection.close(200, "bye".into()).await;
            return Ok(SessionEnd::Paused);
        }
        let waiting = Standby {
            connection: &connection,
            health: &self.health,
            shutdown: &self.shutdown,
            standby: &mut standby,
            refused: &mut refused,
        };
        if let Some(end) = waiting.wait_for_a_share().await? {
            let _ = connection.close(200, "bye".into()).await;
            return Ok(end);
        }
        // The interactive lane, then every bulk queue, each its own lane; every
        // bulk queue has the whole `concurrency` as its prefetch, so a queue with a
        // backlog always has jobs waiting at the limiter (the scheduler can give it
        // its share) and none can take another's slots.
        let reserve = interactive_reserve(self.concurrency);
        let mut lane = Lane::open(
            &connection,
            &self.topology.interactive_queue,
            reserve,
            Some(Priority::Interactive),
            *on_probation,
        )
        .await?;
        let mut bulk = Vec::with_capacity(self.topology.bulk_queues.len());
        for queue in &self.topology.bulk_queues {
            bulk.push(Lane::open(&connection, queue, self.concurrency, None, *on_probation).await?);
        }
        self.health.set_broker(true);
        let queues: Vec<&str> = bulk.iter().map(|l| &*l.name).collect();
        tracing::info!(queues = ?queues, prefetch = self.concurrency, interactive_queue = %lane.name, interactive_prefetch = lane.prefetch, on_probation = *on_probation, "consuming");
        let (settled, mut settlements) = mpsc::unbounded_channel();
        let mut beat = tokio::time::interval(Duration::from_secs(1));
        let mut next_bulk = 0;
        let end = loop {
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => break SessionEnd::Shutdown,
                changed = refused.changed() => {
                    if changed.is_ok() && *refused.borrow_and_update() {
                        break SessionEnd::Paused;
                    }
                }
                changed = standby.changed() => {
                    if changed.is_ok() && *standby.borrow_and_update() {
                        break SessionEnd::Standby;
                    }
                }
                Some(()) = settlements.recv() => {
                    if *on_probation {
                        for each in std::iter::once(&mut lane).chain(bulk.iter_mut()) {
                            each.subscription.end_probation().await?;
                        }
                        *on_probation = false;
                    }
                }
                _ = beat.tick() => {
                    self.health.beat();
                    if !connection.status().connected() {
                        return Err(anyhow!("the broker connection closed"));
                    }
                }
                // Listed first: when both have a delivery ready, the interactive
                // one starts first (`biased`).
                next = lane.subscription.next() => match next {
                    Some(Ok(delivery)) => self.start(&lane, &publisher, &settled, tracker, delivery),
                    Some(Err(error)) => return Err(error).context("consuming the interactive queue"),
                    None => {
                        let name = lane.name.clone();
                        self.consume_again(&connection, &mut lane.subscription, &name).await?
                    }
                },
                (index, next) = next_of(&mut bulk, &mut next_bulk) => match next {
                    Some(Ok(delivery)) => self.start(&bulk[index], &publisher, &settled, tracker, delivery),
                    Some(Err(error)) => return Err(error).with_context(|| format!("consuming {}", bulk[index].name)),
                    None => {
                        let bulk_lane = &mut bulk[index];
                        let name = bulk_lane.name.clone();
                        self.consume_again(&connection, &mut bulk_lane.subscription, &name).await?
                    }
                },
            }
        };
        // Stop the flow, and hand back what was delivered but not started: a pause
        // puts it back without spending a delivery, a shutdown requeues it.
        let leftover = match end {
            SessionEnd::Paused => {
                *on_probation = true;
                Disposition::Return
            }
            SessionEnd::Standby => {
                tracing::info!("standing by: jobs held go back to the queue");
                Disposition::Return
            }
            SessionEnd::Shutdown => Disposition::Requeue,
        };
        for each in std::iter::once(&mut lane).chain(bulk.iter_mut()) {
            for delivery in each.subscription.stop().await {
                apply(
                    &delivery,
                    leftover.clone(),
                    &publisher,
                    &each.name,
                    &each.acks,
                )
                .await;
            }
        }
        // Jobs in flight keep using this connection to publish and acknowledge.
        let deadline = match end {
            SessionEnd::Shutdown => self.shutdown_deadline,
            SessionEnd::Paused | SessionEnd::Standby => PAUSE_DRAIN_DEADLINE,
        };
        self.drain(tracker, deadline).await;
        // Every decided ack goes out before the channel closes (a job abandoned at the
        // deadline is not acked: its delivery returns with the channel).
        for each in std::iter::once(&lane).chain(bulk.iter()) {
            each.acks.close().await;
        }
        // Reopened for the next session's jobs (`TaskTracker::wait` needs it closed).
        tracker.reopen();
        // Only now, with no job in flight: close the consuming channels, then the connection.
        for each in std::iter::once(lane).chain(bulk) {
            each.subscription.close().await;
        }
        let _ = connection.close(200, "bye".into()).await;
        Ok(end)
    }

    /// Runs one delivery of `lane` as a job on the session's tracker.
    fn start(
        &self,
        lane: &Lane,
        publisher: &Publisher,
        settled: &mpsc::UnboundedSender<()>,
        tracker: &TaskTracker,
        delivery: lapin::message::Delivery,
    ) {
        let task = Task {
            publisher: publisher.clone(),
            acks: lane.acks.clone(),
            queue: lane.name.clone(),
            lane: lane.priority,
            settled: settled.clone(),
        };
        task.spawn(tracker, self.processor.clone(), delivery);
    }
}
