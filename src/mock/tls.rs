//! The mock over TLS, as the real endpoint is (`MockConfig::tls`).
//!
//! Why: with plain HTTP a client writes its first request the moment TCP connects,
//! so a slow handshake ([`super::handshake`]) can only hold the request after it
//! was sent, which no client can see or wait for. Over TLS the client cannot write
//! before the server has answered its hello: the handshake takes the delay *on the
//! client's side*, as it does against Alibaba's public endpoint from far away.
//! That is what a client must be measured against to show whether its rate-limit
//! token waits for the connection or the connection for the token.
//!
//! The certificate is a fixed test one (`certificates/`), for `127.0.0.1` and
//! `localhost`, issued by a test CA that nothing trusts unless told to: point
//! `SSL_CERT_FILE` at [`TEST_CA_PEM`] written to a file. Never a production secret.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::{server::TlsStream, Accept, TlsAcceptor};

use super::handshake::{Delayed, SlowHandshake};

/// The test CA that issued the mock's certificate (PEM).
pub const TEST_CA_PEM: &str = include_str!("certificates/ca.pem");
const LEAF_PEM: &str = include_str!("certificates/leaf.pem");
const LEAF_KEY_PEM: &str = include_str!("certificates/leaf.key");

/// The mock's listener: a slow handshake, then TLS if asked for.
pub(super) struct Listener {
    inner: SlowHandshake,
    tls: Option<TlsAcceptor>,
}

impl Listener {
    pub(super) fn new(inner: SlowHandshake, tls: bool) -> anyhow::Result<Self> {
        let tls = if tls { Some(acceptor()?) } else { None };
        Ok(Self { inner, tls })
    }
}

fn acceptor() -> anyhow::Result<TlsAcceptor> {
    let chain =
        vec![CertificateDer::from_pem_slice(LEAF_PEM.as_bytes())
            .context("the mock's certificate")?];
    let key = PrivateKeyDer::from_pem_slice(LEAF_KEY_PEM.as_bytes()).context("the mock's key")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the mock's certificate and key")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

impl axum::serve::Listener for Listener {
    type Io = Stream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        // The TLS handshake runs on the connection's own task, at its first read
        // or write: never in the accept loop, which would serialise handshakes.
        let stream = match &self.tls {
            Some(acceptor) => Stream::Accepting(Box::new(acceptor.accept(stream))),
            None => Stream::Plain(stream),
        };
        (stream, addr)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        axum::serve::Listener::local_addr(&self.inner)
    }
}

/// One accepted connection: plain, or TLS once its handshake is done.
pub(super) enum Stream {
    Plain(Delayed),
    Accepting(Box<Accept<Delayed>>),
    Tls(Box<TlsStream<Delayed>>),
    Failed,
}

impl Stream {
    /// Drives a pending TLS handshake; `Ready(Ok)` once the stream can be used.
    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if let Stream::Accepting(accept) = self {
            match Pin::new(accept.as_mut()).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(tls)) => *self = Stream::Tls(Box::new(tls)),
                Poll::Ready(Err(error)) => {
                    *self = Stream::Failed;
                    return Poll::Ready(Err(error));
                }
            }
        }
        match self {
            Stream::Failed => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
            _ => Poll::Ready(Ok(())),
        }
    }
}

/// Forwards an I/O call to the plain or TLS stream, after the handshake.
macro_rules! forward {
    ($self:ident, $cx:ident, $stream:ident => $call:expr) => {{
        let this = $self.get_mut();
        if let Poll::Ready(Err(error)) = this.poll_handshake($cx) {
            return Poll::Ready(Err(error));
        }
        match this {
            Stream::Plain($stream) => {
                let $stream = Pin::new($stream);
                $call
            }
            Stream::Tls($stream) => {
                let $stream = Pin::new($stream.as_mut());
                $call
            }
            Stream::Accepting(_) => Poll::Pending,
            Stream::Failed => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }};
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        forward!(self, cx, stream => stream.poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        forward!(self, cx, stream => stream.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        forward!(self, cx, stream => stream.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        forward!(self, cx, stream => stream.poll_shutdown(cx))
    }
}
