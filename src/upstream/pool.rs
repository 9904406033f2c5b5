//! The upstream's keep-alive connections, kept warm so that a call granted its
//! rate-limit token writes its request at once (issue 19 item 3; [`super::warm`]
//! keeps the idle ones topped up, [`super::dial`] says why the client dials).
//!
//! - A checkout takes the most recently used idle connection that is still open,
//!   and dials a new one only when there is none (a call then goes out one
//!   handshake late: what the warm connections are there to prevent).
//! - A connection goes back after its answer has been read whole; one the server
//!   closed, or one idle longer than [`IDLE_FOR`], is dropped, not reused. The
//!   warm count counts only those idle for less than [`FRESH_FOR`], so a
//!   replacement is dialed before an old one is dropped.
//! - The pool holds at most [`MOST_IDLE`] idle connections, the newest.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::client::conn::http1::SendRequest;
use tokio::time::Instant;

use super::dial::{Body, DialError, Target};

/// How long an idle connection is kept (reqwest's former `pool_idle_timeout`):
/// under Alibaba's idle close, so a kept connection is rarely one the server is
/// closing at the moment it is used.
const IDLE_FOR: Duration = Duration::from_secs(50);

/// An idle connection counts as warm for this long; then a replacement is dialed.
pub(super) const FRESH_FOR: Duration = Duration::from_secs(40);

/// The most idle connections kept: a newer one pushes the oldest out.
pub(super) const MOST_IDLE: usize = 512;

/// How many recent dials the handshake estimate looks at.
const DIALS_REMEMBERED: usize = 16;

/// The upstream's connections; cheap to clone.
#[derive(Clone)]
pub(super) struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    target: Target,
    /// Idle connections, the most recently used last.
    idle: Mutex<Vec<Idle>>,
    /// How long the most recent dials took, the newest last.
    dials: Mutex<VecDeque<Duration>>,
}

struct Idle {
    sender: SendRequest<Body>,
    since: Instant,
}

/// A connection checked out of the pool: ready to carry one request now.
pub(super) struct Connection {
    sender: SendRequest<Body>,
    pool: Pool,
}

impl Pool {
    pub(super) fn new(target: Target) -> Self {
        Self {
            inner: Arc::new(Inner {
                target,
                idle: Mutex::new(Vec::new()),
                dials: Mutex::new(VecDeque::new()),
            }),
        }
    }

    /// A connection ready for a request: an idle one, or a new one.
    pub(super) async fn checkout(&self) -> Result<Connection, DialError> {
        if let Some(connection) = self.take_idle() {
            return Ok(connection);
        }
        let sender = self.dial().await?;
        Ok(Connection {
            sender,
            pool: self.clone(),
        })
    }

    /// Dials one more connection into the idle list (for [`super::warm`]).
    pub(super) async fn dial_idle(&self) -> Result<(), DialError> {
        let sender = self.dial().await?;
        self.give_back(sender);
        Ok(())
    }

    /// A new connection, ready for a request; its dial time is remembered.
    async fn dial(&self) -> Result<SendRequest<Body>, DialError> {
        let started = Instant::now();
        let mut sender = self.inner.target.dial().await?;
        // Until its task has run once, a new connection does not take a request.
        sender
            .ready()
            .await
            .map_err(|error| DialError::Failed(error.into()))?;
        let mut dials = self.inner.dials.lock().unwrap_or_else(|e| e.into_inner());
        if dials.len() == DIALS_REMEMBERED {
            dials.pop_front();
        }
        dials.push_back(started.elapsed());
        Ok(sender)
    }

    /// The longest of the recent dials: how long a replacement takes to come.
    pub(super) fn handshake_estimate(&self) -> Option<Duration> {
        let dials = self.inner.dials.lock().unwrap_or_else(|e| e.into_inner());
        dials.iter().max().copied()
    }

    /// Drops the closed and expired idle connections; returns how many of the
    /// rest are fresh (idle for less than [`FRESH_FOR`]).
    pub(super) fn fresh_idle(&self) -> usize {
        let now = Instant::now();
        let mut idle = self.lock();
        idle.retain(|kept| usable(&kept.sender) && now.duration_since(kept.since) < IDLE_FOR);
        idle.iter()
            .filter(|kept| now.duration_since(kept.since) < FRESH_FOR)
            .count()
    }

    /// An idle connection still open and ready, if any; the stale ones are dropped.
    pub(super) fn take_idle(&self) -> Option<Connection> {
        let now = Instant::now();
        let mut idle = self.lock();
        while let Some(candidate) = idle.pop() {
            if usable(&candidate.sender) && now.duration_since(candidate.since) < IDLE_FOR {
                return Some(Connection {
                    sender: candidate.sender,
                    pool: self.clone(),
                });
            }
        }
        None
    }

    fn give_back(&self, sender: SendRequest<Body>) {
        if !usable(&sender) {
            return;
        }
        let now = Instant::now();
        let mut idle = self.lock();
        // The oldest are first: expire from the front.
        idle.retain(|kept| usable(&kept.sender) && now.duration_since(kept.since) < IDLE_FOR);
        if idle.len() >= MOST_IDLE {
            idle.remove(0);
        }
        idle.push(Idle { sender, since: now });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        // The list holds no invariant a panicking holder could break.
        self.inner.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Connection {
    /// The sender, to write one request on.
    pub(super) fn sender(&mut self) -> &mut SendRequest<Body> {
        &mut self.sender
    }

    /// Back to the pool, after the answer was read whole.
    pub(super) fn release(self) {
        self.pool.give_back(self.sender);
    }
}

/// Open and waiting for a request (an idle connection's task has run).
fn usable(sender: &SendRequest<Body>) -> bool {
    !sender.is_closed() && sender.is_ready()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server that answers every request on a connection with an empty 200,
    /// and closes a connection after `per_connection` requests.
    async fn server(per_connection: usize) -> (reqwest::Url, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 4096];
                    for _ in 0..per_connection {
                        let Ok(n) = socket.read(&mut buffer).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                        if socket.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let url = reqwest::Url::parse(&format!("http://{addr}/")).expect("url");
        (url, accepted)
    }

    async fn call(pool: &Pool) {
        let mut connection = pool.checkout().await.expect("checkout");
        let request = hyper::Request::post("/")
            .header("host", "test")
            .body(Body::new())
            .expect("request");
        let response = connection
            .sender()
            .send_request(request)
            .await
            .expect("send");
        http_body_util::BodyExt::collect(response.into_body())
            .await
            .expect("body");
        connection.release();
    }

    #[tokio::test]
    async fn a_connection_is_reused_after_its_answer_and_one_the_server_closed_is_not() {
        let (url, accepted) = server(2).await;
        let pool = Pool::new(Target::new(&url, Duration::from_secs(2)).expect("target"));
        call(&pool).await;
        call(&pool).await;
        // Two calls on one connection; the server then closes it.
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
        // The close reaches the connection's task; the pool must not hand it out.
        let closed = async {
            while let Some(connection) = pool.take_idle() {
                connection.release();
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), closed)
            .await
            .expect("the closed connection is dropped");
        call(&pool).await;
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
