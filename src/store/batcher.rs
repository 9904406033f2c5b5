//! The batching pattern shared by the result writer and the claimer: one task
//! takes whatever requests arrived while its previous statement ran (up to
//! `MAX_BATCH`) and answers them all from one round trip. Under load batches
//! grow by themselves; when idle a request goes alone, without waiting.

use std::future::Future;
use std::pin::Pin;

use anyhow::Context;
use tokio::sync::{mpsc, oneshot};

use super::Store;

/// The most requests answered by one statement.
pub(super) const MAX_BATCH: usize = 256;

/// One round trip for a batch: an answer per request, in order.
pub(super) type Run<I, O> =
    for<'a> fn(
        &'a Store,
        &'a [I],
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<Vec<O>>> + Send + 'a>>;

/// What a failed round trip does: hand the error to every caller, or retry it.
#[derive(Clone, Copy)]
pub(super) enum OnError {
    /// The callers retry (and can give up at shutdown).
    Report,
    /// The batch must not be lost (results that were paid for): retry until it passes.
    Retry,
}

type Reply<O> = oneshot::Sender<Result<O, String>>;

/// The sending side; cheap to clone. The task ends when every clone is dropped.
pub(super) struct Batcher<I, O> {
    tx: mpsc::Sender<(I, Reply<O>)>,
}

impl<I, O> Clone for Batcher<I, O> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

impl<I: Send + Sync + 'static, O: Send + 'static> Batcher<I, O> {
    pub fn spawn(
        store: Store,
        what: &'static str,
        run: Run<I, O>,
        on_error: OnError,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
        let handle = tokio::spawn(serve(store, what, run, on_error, rx));
        (Self { tx }, handle)
    }

    /// Sends one request and waits for its answer.
    pub async fn call(&self, input: I) -> anyhow::Result<O> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((input, reply))
            .await
            .ok()
            .context("the batching task has stopped")?;
        answer
            .await
            .context("the batching task has stopped")?
            .map_err(anyhow::Error::msg)
    }
}

async fn serve<I, O>(
    store: Store,
    what: &'static str,
    run: Run<I, O>,
    on_error: OnError,
    mut rx: mpsc::Receiver<(I, Reply<O>)>,
) {
    let mut batch: Vec<(I, Reply<O>)> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (inputs, replies): (Vec<I>, Vec<Reply<O>>) = batch.drain(..).unzip();
        let mut pause = std::time::Duration::from_millis(100);
        let answers = loop {
            match run(&store, &inputs).await {
                Ok(outputs) => break outputs.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(error) => {
                    let error = format!("{what}: {error:#}");
                    match on_error {
                        OnError::Report => {
                            break inputs.iter().map(|_| Err(error.clone())).collect()
                        }
                        OnError::Retry => {
                            metrics::counter!(crate::instrumentation::STORE_RETRIES).increment(1);
                            tracing::warn!(%error, requests = inputs.len(), "batch failed; retrying");
                            tokio::time::sleep(pause).await;
                            pause = (pause * 2).min(std::time::Duration::from_secs(5));
                        }
                    }
                }
            }
        };
        for (reply, answer) in replies.into_iter().zip(answers) {
            // A caller that gave up (shutdown) no longer listens; the work is done anyway.
            let _ = reply.send(answer);
        }
    }
}
