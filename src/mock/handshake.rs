//! A slow handshake: every new connection is read only `delay` after it was
//! accepted, as a TLS handshake to a distant endpoint would hold a first request
//! (issue 19, item 3).
//!
//! Only the first read of a connection waits: a request on a kept-alive
//! connection arrives at once. Over plain HTTP this holds a request the client
//! has already written; over TLS ([`super::tls`]) it holds the client's hello, so
//! the client itself waits for the handshake, as against the real endpoint.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// A listener whose connections wait `delay` before their first byte is read.
pub(super) struct SlowHandshake {
    listener: TcpListener,
    delay: Duration,
}

impl SlowHandshake {
    pub(super) fn new(listener: TcpListener, delay: Duration) -> Self {
        Self { listener, delay }
    }
}

impl axum::serve::Listener for SlowHandshake {
    type Io = Delayed;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = axum::serve::Listener::accept(&mut self.listener).await;
        // No timer at all for a zero delay: the mock's usual case.
        let handshake = (!self.delay.is_zero()).then(|| Box::pin(tokio::time::sleep(self.delay)));
        (Delayed { stream, handshake }, addr)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// A connection whose reads start once its handshake time has passed.
pub(super) struct Delayed {
    stream: TcpStream,
    handshake: Option<Pin<Box<Sleep>>>,
}

impl AsyncRead for Delayed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if let Some(handshake) = self.handshake.as_mut() {
            if handshake.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.handshake = None;
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Delayed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::serve::Listener;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// On tokio's paused clock: the first bytes of a new connection are read only
    /// once its handshake time has passed, and later ones at once.
    #[tokio::test(start_paused = true)]
    async fn a_new_connection_is_read_only_after_its_handshake_and_then_at_once() {
        let delay = Duration::from_millis(200);
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let mut listener = SlowHandshake::new(tcp, delay);
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut served, _) = listener.accept().await;
        let started = tokio::time::Instant::now();
        client.write_all(b"first").await.unwrap();
        let mut buf = [0u8; 5];
        served.read_exact(&mut buf).await.unwrap();
        assert!(
            started.elapsed() >= delay,
            "read after {:?}",
            started.elapsed()
        );
        let again = tokio::time::Instant::now();
        client.write_all(b"again").await.unwrap();
        served.read_exact(&mut buf).await.unwrap();
        assert!(again.elapsed() < delay, "a kept-alive connection waited");
    }
}
