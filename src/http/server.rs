//! The one accept loop behind both HTTP servers (the worker's `ID2META_HTTP_ADDR`
//! and the console): what `axum::serve` does, plus the two limits it lacks.
//!
//! - A request whose headers are not complete within [`HEADER_READ_TIMEOUT`] is
//!   closed (hyper's HTTP/1 `header_read_timeout`, which needs a timer to act):
//!   a client that connects and sends nothing, or a byte a minute, holds no
//!   socket for long.
//! - At most `connections` connections are served at once; the next one waits
//!   in the kernel's accept queue until one closes, so no client can spend the
//!   process's file descriptors.
//!
//! Each request carries its peer's address as axum's [`ConnectInfo`], so a
//! handler can name the client (login throttling, the console's sessions).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How long a client may take to send a request's headers (the contract's 10 s).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open connections may finish their requests after `shutdown`.
const DRAIN: Duration = Duration::from_secs(10);

/// The limits of one server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    /// Connections served at once.
    pub connections: usize,
}

impl Limits {
    /// `connections` at once, headers within [`HEADER_READ_TIMEOUT`].
    pub fn new(connections: usize) -> Self {
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            connections: connections.max(1),
        }
    }
}

/// Serves `app` on `listener` until `shutdown`, then lets open requests finish
/// (for at most 10 s). `name` names the server in the log.
pub fn spawn(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: CancellationToken,
    name: &'static str,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let permits = Arc::new(Semaphore::new(limits.connections));
        let graceful = GracefulShutdown::new();
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout);
        loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break,
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let (stream, peer) = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // EMFILE and friends: wait a moment rather than spin.
                        tracing::warn!(%error, server = name, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let app = app.clone();
            let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(request)
            });
            let connection =
                graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                // A client that went away or timed out is no error of ours.
                let _ = connection.await;
                drop(permit);
            });
        }
        if tokio::time::timeout(DRAIN, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                server = name,
                "connections still open after the drain; closing"
            );
        }
    })
}

/// The peer address a request came from (set by [`spawn`]), if any.
pub fn client_addr(request: &axum::http::request::Parts) -> Option<SocketAddr> {
    request
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn serving(limits: Limits) -> (SocketAddr, CancellationToken) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let addr = listener.local_addr().expect("its address");
        let app = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let shutdown = CancellationToken::new();
        spawn(listener, app, limits, shutdown.clone(), "test");
        (addr, shutdown)
    }

    /// Reads until the server closes the connection (bounded, so a server that
    /// never closes fails the test instead of hanging it).
    async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
        let mut seen = Vec::new();
        tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut seen))
            .await
            .expect("the server closed the connection")
            .expect("read");
        seen
    }

    #[tokio::test]
    async fn a_client_that_never_finishes_its_headers_is_closed() {
        let limits = Limits {
            header_read_timeout: Duration::from_millis(300),
            connections: 4,
        };
        let (addr, shutdown) = serving(limits).await;
        let mut silent = TcpStream::connect(addr).await.expect("connects");
        let mut slow = TcpStream::connect(addr).await.expect("connects");
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("half a request");
        let seen = until_closed(&mut slow).await;
        assert!(
            !String::from_utf8_lossy(&seen).contains("ok"),
            "never served"
        );
        until_closed(&mut silent).await;
        shutdown.cancel();
    }

    #[tokio::test]
    async fn connections_beyond_the_bound_wait_until_one_closes() {
        let limits = Limits {
            header_read_timeout: Duration::from_millis(500),
            connections: 2,
        };
        let (addr, shutdown) = serving(limits).await;
        let first = TcpStream::connect(addr).await.expect("connects");
        let _second = TcpStream::connect(addr).await.expect("connects");
        let mut third = TcpStream::connect(addr).await.expect("connects");
        third
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("a request");
        let answer = until_closed(&mut third).await;
        assert!(String::from_utf8_lossy(&answer).ends_with("ok"));
        // The third was served only once a held connection was let go: by now
        // the first (idle) one has been closed by the server.
        let mut byte = [0u8; 1];
        assert!(
            matches!(first.try_read(&mut byte), Ok(0)),
            "the third connection was served while both held ones were open"
        );
        shutdown.cancel();
    }

    #[test]
    fn both_servers_close_unfinished_headers_after_ten_seconds() {
        assert_eq!(Limits::new(8).header_read_timeout, Duration::from_secs(10));
        assert_eq!(Limits::new(0).connections, 1);
    }
}
