//! Opening one HTTP/1.1 connection to the upstream: DNS, TCP, TLS (for `https`)
//! and hyper's handshake, all bounded by the connect timeout.
//!
//! Why the client dials for itself instead of letting reqwest do it: reqwest opens a
//! connection only inside a request, so a call's rate-limit token was taken before
//! its DNS, TCP and TLS. A replica meeting a backlog with a cold pool then sent its
//! first calls late by one handshake and bunched with the calls after them, above
//! the budget (issue 19 item 3; bench (10) "cold start"). Dialing first, the token
//! is taken only once a connection that can carry the request at once is in hand.

use std::time::Duration;

use anyhow::Context;
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use super::proxy::Proxy;

/// The request body type: every call is a POST with an empty body.
pub(super) type Body = http_body_util::Empty<Bytes>;

/// Where to dial, and how: read once from `ID2META_ENDPOINT`.
pub(super) struct Target {
    host: String,
    port: u16,
    /// Present for `https`: the TLS configuration and the name to verify.
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    /// The egress proxy to tunnel through (`https` endpoints only).
    proxy: Option<Proxy>,
    connect_timeout: Duration,
}

/// Why a dial failed, for the log: never the URL (the caller's query is not here,
/// but one message shape for every failure keeps it so).
#[derive(Debug, thiserror::Error)]
pub(super) enum DialError {
    #[error("the upstream did not accept a connection in time")]
    Timeout,
    #[error("cannot connect to the upstream: {0:#}")]
    Failed(anyhow::Error),
}

impl Target {
    /// The target of an `http` or `https` URL with a host.
    pub(super) fn new(url: &reqwest::Url, connect_timeout: Duration) -> anyhow::Result<Self> {
        let host = url
            .host_str()
            .context("the endpoint has no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url
            .port_or_known_default()
            .context("the endpoint has no port")?;
        let (tls, proxy) = match url.scheme() {
            "https" => {
                let name = ServerName::try_from(host.clone())
                    .context("the endpoint's host is not a valid TLS server name")?;
                let tls = (
                    tokio_rustls::TlsConnector::from(crate::tls::upstream_config()?),
                    name,
                );
                let proxy = Proxy::from_env(&host, |name| std::env::var(name).ok())?;
                if let Some(proxy) = &proxy {
                    tracing::info!(proxy = %proxy.address(), "upstream connections go through a proxy");
                }
                (Some(tls), proxy)
            }
            _ => (None, None),
        };
        Ok(Self {
            host,
            port,
            tls,
            proxy,
            connect_timeout,
        })
    }

    /// One new connection, handshaken and ready for a request.
    pub(super) async fn dial(&self) -> Result<SendRequest<Body>, DialError> {
        match tokio::time::timeout(self.connect_timeout, self.open()).await {
            Ok(result) => result.map_err(DialError::Failed),
            Err(_) => Err(DialError::Timeout),
        }
    }

    async fn open(&self) -> anyhow::Result<SendRequest<Body>> {
        let tcp = match &self.proxy {
            Some(proxy) => proxy.tunnel(&self.host, self.port).await?,
            None => TcpStream::connect((self.host.as_str(), self.port))
                .await
                .context("TCP connect")?,
        };
        // Requests are small and written whole: no Nagle delay on them.
        tcp.set_nodelay(true).context("TCP_NODELAY")?;
        // A peer gone without a FIN (a NAT that forgot us) is found within a minute.
        let keepalive = socket2::TcpKeepalive::new()
            .with_time(Duration::from_secs(30))
            .with_interval(Duration::from_secs(10));
        socket2::SockRef::from(&tcp)
            .set_tcp_keepalive(&keepalive)
            .context("TCP keepalive")?;
        match &self.tls {
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .context("TLS handshake")?;
                handshake(tls).await
            }
            None => handshake(tcp).await,
        }
    }
}

/// hyper's HTTP/1.1 handshake on an open stream; the connection is driven by a
/// task of its own until either side closes it.
async fn handshake<S>(stream: S) -> anyhow::Result<SendRequest<Body>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .context("HTTP/1.1 handshake")?;
    tokio::spawn(async move {
        // Its end (a close by either side, or an error) shows in the sender's
        // `is_closed`; the error itself names nothing of a caller's.
        if let Err(error) = connection.await {
            tracing::debug!(%error, "upstream connection ended");
        }
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A proxy that answers one `CONNECT` with 200 and splices the tunnel to
    /// where it asked; it sends back the head it received.
    async fn connect_proxy() -> (String, tokio::sync::oneshot::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (seen, heard) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (mut client, _) = listener.accept().await.expect("accept");
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                client.read_exact(&mut byte).await.expect("head");
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let target = head
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let mut upstream = TcpStream::connect(target).await.expect("target");
            client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
                .expect("answer");
            let _ = seen.send(head);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        });
        (format!("http://{addr}"), heard)
    }

    /// A server that reads what one connection sends and answers `reply`.
    async fn answer_once(reply: &'static [u8]) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut buffer = vec![0u8; 4096];
            let _ = socket.read(&mut buffer).await;
            let _ = socket.write_all(reply).await;
        });
        addr
    }

    /// A plain-HTTP target on loopback `port`, reached through the proxy at `url`.
    fn plain_through(url: String, port: u16) -> Target {
        let proxy = Proxy::from_env("x", |name| (name == "HTTPS_PROXY").then(|| url.clone()));
        Target {
            host: "127.0.0.1".into(),
            port,
            tls: None,
            proxy: proxy.expect("valid"),
            connect_timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn a_connection_through_a_proxy_is_a_connect_tunnel_to_the_endpoint() {
        let port = answer_once(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .await
            .port();
        let (proxy_url, heard) = connect_proxy().await;
        let target = plain_through(proxy_url, port);
        let mut sender = target.dial().await.expect("dialed through the proxy");
        let request = hyper::Request::post("/")
            .header("host", "x")
            .body(Body::new())
            .expect("request");
        let response = sender.send_request(request).await.expect("answered");
        assert_eq!(response.status(), 200);
        let head = heard.await.expect("the proxy was used");
        assert!(
            head.starts_with(&format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n")),
            "{head}"
        );
    }

    #[tokio::test]
    async fn a_proxy_that_refuses_the_tunnel_is_a_failed_dial_naming_its_answer() {
        let addr = answer_once(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").await;
        let target = plain_through(format!("http://{addr}"), 9);
        let error = target.dial().await.expect_err("refused");
        assert!(format!("{error}").contains("407"), "{error}");
    }
}
