//! How the acknowledgements of one consuming channel are sent: coalesced into
//! `basic.ack` with `multiple = true` where that is safe, so a backlog costs the
//! broker one ack frame per run of jobs instead of one per job.
//!
//! The consumer decides (ack, requeue); this room only decides *how* the frames go.
//! A multiple ack of tag `n` acknowledges every outstanding delivery up to `n` on
//! the channel, so it is only sent for a contiguous run of delivery tags (the broker
//! numbers a channel's deliveries 1, 2, 3, ...), each of them decided here: a
//! delivery not yet decided (or not yet even read from the stream) stops the run,
//! and a nack is sent at once, alone, before any later frame, so a later multiple
//! ack never covers a requeued delivery. Jobs finish out of order: an ack stuck
//! behind a slow job is sent alone after [`STRAGGLER_WAIT`], so a slow job never
//! holds the prefetch window full of finished ones. Every decided ack is sent
//! before [`Acks::close`] returns (the session's end) or when the last handle is
//! dropped.

use std::collections::BTreeMap;
use std::time::Duration;

use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::Channel;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// How long a decided ack may wait for its run to grow.
const LINGER: Duration = Duration::from_millis(5);
/// How long an ack behind an undecided delivery waits before it goes alone.
const STRAGGLER_WAIT: Duration = Duration::from_millis(100);
/// The longest run sent without waiting for [`LINGER`].
const MAX_RUN: u64 = 64;

/// The acknowledgements of one channel; cheap to clone.
#[derive(Clone)]
pub struct Acks {
    tx: mpsc::UnboundedSender<Command>,
}

enum Command {
    Ack(u64),
    Nack(u64),
    Close(oneshot::Sender<()>),
}

impl Acks {
    /// Starts the sender of `channel`'s acks. `prefetch` sizes the runs: a run
    /// waits for at most a quarter of the window, so the broker keeps sending.
    pub fn spawn(channel: Channel, prefetch: u16) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let run = (u64::from(prefetch) / 4).clamp(1, MAX_RUN);
        tokio::spawn(serve(channel, run, rx));
        Self { tx }
    }

    /// The delivery `tag` is settled: acknowledge it (coalesced).
    pub fn ack(&self, tag: u64) {
        // The sender only stops after `close`: a job that outlived its session.
        let _ = self.tx.send(Command::Ack(tag));
    }

    /// Return the delivery `tag` to its queue (sent at once, before any later ack).
    pub fn requeue(&self, tag: u64) {
        let _ = self.tx.send(Command::Nack(tag));
    }

    /// Sends every ack decided so far and stops.
    pub async fn close(&self) {
        let (done, flushed) = oneshot::channel();
        if self.tx.send(Command::Close(done)).is_ok() {
            let _ = flushed.await;
        }
    }
}

async fn serve(channel: Channel, run: u64, mut rx: mpsc::UnboundedReceiver<Command>) {
    let mut book = Book::default();
    let mut tick = tokio::time::interval(LINGER);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            command = rx.recv() => match command {
                Some(Command::Ack(tag)) => {
                    book.decided(tag, false, Instant::now());
                    if book.run_len >= run {
                        send(&channel, book.take_run(), Vec::new()).await;
                    }
                }
                Some(Command::Nack(tag)) => {
                    nack(&channel, tag).await;
                    book.decided(tag, true, Instant::now());
                }
                Some(Command::Close(done)) => {
                    flush_all(&channel, &mut book).await;
                    let _ = done.send(());
                    return;
                }
                None => {
                    flush_all(&channel, &mut book).await;
                    return;
                }
            },
            _ = tick.tick() => {
                let stragglers = book.take_stragglers(Instant::now() - STRAGGLER_WAIT);
                send(&channel, book.take_run(), stragglers).await;
            }
        }
    }
}

async fn flush_all(channel: &Channel, book: &mut Book) {
    let stragglers = book.take_stragglers(Instant::now() + Duration::from_secs(1));
    send(channel, book.take_run(), stragglers).await;
}

/// The decisions of one channel not yet covered by a sent frame.
#[derive(Debug, Default)]
struct Book {
    /// Every tag up to here is decided, and every ack up to here is sent except the run's.
    through: u64,
    /// The highest unsent ack at or below `through`, if any: one multiple ack sends them all.
    run_top: Option<u64>,
    run_len: u64,
    /// Decided tags above `through`: when, and whether a frame for it already went.
    after: BTreeMap<u64, (Instant, bool)>,
}

impl Book {
    /// Records a decision; `sent` for a nack (already on the wire).
    fn decided(&mut self, tag: u64, sent: bool, at: Instant) {
        if tag <= self.through {
            return;
        }
        self.after.insert(tag, (at, sent));
        while let Some((_, sent)) = self.after.remove(&(self.through + 1)) {
            self.through += 1;
            if !sent {
                self.run_top = Some(self.through);
                self.run_len += 1;
            }
        }
    }

    /// The tag of the multiple ack that sends the run, if there is one.
    fn take_run(&mut self) -> Option<u64> {
        self.run_len = 0;
        self.run_top.take()
    }

    /// Unsent acks above the run decided before `before`, now counted as sent.
    fn take_stragglers(&mut self, before: Instant) -> Vec<u64> {
        let mut tags = Vec::new();
        for (tag, (at, sent)) in self.after.iter_mut() {
            if !*sent && *at <= before {
                *sent = true;
                tags.push(*tag);
            }
        }
        tags
    }
}

/// One multiple ack for the run, then each straggler alone. The frames are queued
/// in this order by the first poll of each (`join_all` polls in order).
async fn send(channel: &Channel, run: Option<u64>, stragglers: Vec<u64>) {
    let multiple = BasicAckOptions { multiple: true };
    let single = BasicAckOptions::default();
    let frames = run
        .map(|tag| (tag, multiple))
        .into_iter()
        .chain(stragglers.into_iter().map(|tag| (tag, single)))
        .map(|(tag, options)| channel.basic_ack(tag, options));
    for result in futures_util::future::join_all(frames).await {
        if let Err(error) = result {
            // The channel is gone: the broker has already returned its deliveries.
            tracing::debug!(%error, "acknowledgement not delivered");
        }
    }
}

async fn nack(channel: &Channel, tag: u64) {
    let requeue = BasicNackOptions {
        requeue: true,
        multiple: false,
    };
    if let Err(error) = channel.basic_nack(tag, requeue).await {
        tracing::debug!(%error, "requeue not delivered");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_only_the_contiguous_decided_prefix() {
        let now = Instant::now();
        let mut book = Book::default();
        for tag in [1, 2, 4, 5] {
            book.decided(tag, false, now);
        }
        assert_eq!(
            book.take_run(),
            Some(2),
            "3 is undecided: the run stops at 2"
        );
        assert_eq!(book.take_run(), None);
        book.decided(3, false, now);
        assert_eq!(book.take_run(), Some(5));
    }

    #[test]
    fn a_requeued_delivery_is_never_inside_a_later_multiple_ack() {
        let now = Instant::now();
        let mut book = Book::default();
        for tag in [1, 2, 4, 5] {
            book.decided(tag, false, now);
        }
        assert_eq!(book.take_run(), Some(2));
        // 3 is nacked (its frame already sent): the next multiple ack may pass over it,
        // since the broker no longer counts it as outstanding; it never goes before it.
        book.decided(3, true, now);
        assert_eq!(book.take_run(), Some(5));
        // A run that ends in a nack stops at its last ack.
        book.decided(6, false, now);
        book.decided(7, true, now);
        assert_eq!(book.take_run(), Some(6));
    }

    #[test]
    fn an_ack_behind_a_slow_job_goes_alone_once_it_waited() {
        let early = Instant::now();
        let late = early + Duration::from_millis(500);
        let mut book = Book::default();
        book.decided(2, false, early);
        book.decided(3, false, late);
        assert_eq!(book.take_run(), None, "1 is undecided");
        assert_eq!(book.take_stragglers(early), vec![2]);
        assert_eq!(book.take_stragglers(late), vec![3]);
        assert!(book.take_stragglers(late).is_empty(), "each goes once");
        // Once 1 is decided, the run is 1 alone: 2 and 3 were sent already.
        book.decided(1, false, late);
        assert_eq!(book.take_run(), Some(1));
        assert_eq!(book.through, 3);
    }

    #[test]
    fn a_decision_at_or_below_the_prefix_is_ignored() {
        let now = Instant::now();
        let mut book = Book::default();
        book.decided(1, false, now);
        book.decided(1, false, now);
        assert_eq!(book.run_len, 1);
    }
}
