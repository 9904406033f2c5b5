//! An egress proxy on the way to the upstream: `HTTPS_PROXY` (else `ALL_PROXY`,
//! either in lower case too) and `NO_PROXY`, read as curl and reqwest read them.
//!
//! Why here: the client dials its own connections ([`super::dial`]), so the proxy
//! support reqwest gave it must be its own too. Only an `https` endpoint goes
//! through a proxy (Alibaba's always is); the tunnel is an HTTP `CONNECT`, and
//! TLS runs end to end inside it, so the proxy sees the host, never a request.

use anyhow::{bail, Context};
use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::secret::Secret;

/// The most a proxy's answer to `CONNECT` may take before its blank line.
const MOST_HEAD: usize = 8 * 1024;

/// An HTTP proxy that tunnels with `CONNECT`.
pub(super) struct Proxy {
    host: String,
    port: u16,
    /// `Basic` credentials from the proxy URL's user information.
    authorization: Option<Secret>,
}

impl Proxy {
    /// The proxy for an `https` endpoint on `host`, from the variables `env` reads.
    pub(super) fn from_env(
        host: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Option<Self>> {
        let first = |names: &[&str]| {
            names
                .iter()
                .filter_map(|name| env(name))
                .find(|value| !value.trim().is_empty())
        };
        let Some(url) = first(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]) else {
            return Ok(None);
        };
        if first(&["NO_PROXY", "no_proxy"]).is_some_and(|list| excluded(&list, host)) {
            return Ok(None);
        }
        Self::parse(url.trim()).map(Some)
    }

    fn parse(url: &str) -> anyhow::Result<Self> {
        // A bare `host:port` means an HTTP proxy, as curl reads it.
        let with_scheme = if url.contains("://") {
            url.to_string()
        } else {
            format!("http://{url}")
        };
        // The URL may carry a password: never in an error message.
        let parsed = reqwest::Url::parse(&with_scheme)
            .map_err(|_| anyhow::anyhow!("HTTPS_PROXY (or ALL_PROXY) is not a URL"))?;
        if parsed.scheme() != "http" {
            bail!("HTTPS_PROXY (or ALL_PROXY) must be an http:// proxy (it tunnels with CONNECT)");
        }
        let host = parsed
            .host_str()
            .context("HTTPS_PROXY (or ALL_PROXY) has no host")?
            .to_string();
        let port = parsed.port().unwrap_or(80);
        let authorization = (!parsed.username().is_empty()).then(|| {
            let decode = |part: &str| {
                percent_encoding::percent_decode_str(part)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let pair = format!(
                "{}:{}",
                decode(parsed.username()),
                decode(parsed.password().unwrap_or(""))
            );
            Secret::new(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ))
        });
        Ok(Self {
            host,
            port,
            authorization,
        })
    }

    /// Where it is, for the log (never its credentials).
    pub(super) fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// A TCP stream through the proxy to `host:port`, ready for TLS.
    pub(super) async fn tunnel(&self, host: &str, port: u16) -> anyhow::Result<TcpStream> {
        let mut stream = TcpStream::connect((self.host.trim_matches(['[', ']']), self.port))
            .await
            .context("TCP connect to the proxy")?;
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut head = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
        if let Some(authorization) = &self.authorization {
            head.push_str(&format!(
                "Proxy-Authorization: {}\r\n",
                authorization.expose()
            ));
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .await
            .context("writing CONNECT to the proxy")?;
        // The proxy sends nothing after its answer until TLS starts, so reading
        // in chunks cannot take a byte of the tunnel.
        let mut answer = Vec::with_capacity(256);
        let mut chunk = [0u8; 512];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream
                .read(&mut chunk)
                .await
                .context("reading the proxy's answer")?;
            if n == 0 {
                bail!("the proxy closed the connection before answering CONNECT");
            }
            answer.extend_from_slice(&chunk[..n]);
            if answer.len() > MOST_HEAD {
                bail!("the proxy's answer to CONNECT is too long");
            }
        }
        let status_line = answer.split(|b| *b == b'\r').next().unwrap_or_default();
        let status_line = String::from_utf8_lossy(status_line);
        let status = status_line.split_whitespace().nth(1).unwrap_or("");
        if !status.starts_with('2') {
            bail!("the proxy refused the tunnel: {}", status_line.trim());
        }
        Ok(stream)
    }
}

/// Whether `NO_PROXY`'s list exempts `host`: `*`, the host itself, or a domain it
/// is under (`.example.com` and `example.com` both cover `api.example.com`).
fn excluded(list: &str, host: &str) -> bool {
    let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
    list.split(',')
        .map(|entry| entry.trim().trim_start_matches('.').to_ascii_lowercase())
        .filter(|entry| !entry.is_empty())
        .any(|entry| {
            entry == "*"
                || host == entry
                || host
                    .strip_suffix(entry.as_str())
                    .is_some_and(|rest| rest.ends_with('.'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const HOST: &str = "cloudauth-intl.cn-hongkong.aliyuncs.com";

    #[test]
    fn https_proxy_is_read_before_all_proxy_and_no_proxy_exempts_a_domain() {
        let proxy = Proxy::from_env(
            HOST,
            env(&[
                ("HTTPS_PROXY", "http://egress:3128"),
                ("ALL_PROXY", "http://other:1"),
            ]),
        )
        .expect("valid")
        .expect("a proxy");
        assert_eq!(proxy.address(), "egress:3128");
        let proxy = Proxy::from_env(HOST, env(&[("all_proxy", "egress.corp")]))
            .expect("valid")
            .expect("a proxy");
        assert_eq!(proxy.address(), "egress.corp:80");
        for list in ["aliyuncs.com", ".aliyuncs.com", "localhost, *", HOST] {
            let none = Proxy::from_env(
                HOST,
                env(&[("HTTPS_PROXY", "egress:3128"), ("NO_PROXY", list)]),
            );
            assert!(none.expect("valid").is_none(), "{list}");
        }
        let kept = Proxy::from_env(
            HOST,
            env(&[("HTTPS_PROXY", "egress:3128"), ("NO_PROXY", "yuncs.com")]),
        );
        assert!(
            kept.expect("valid").is_some(),
            "a suffix that is not a domain exempts nothing"
        );
        assert!(Proxy::from_env(HOST, env(&[])).expect("valid").is_none());
    }

    #[test]
    fn a_proxy_password_becomes_basic_credentials_and_stays_out_of_errors() {
        let proxy = Proxy::parse("http://svc:p%40ss@egress:3128").expect("valid");
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("svc:p@ss")
        );
        assert_eq!(
            proxy.authorization.as_ref().map(|s| s.expose().to_string()),
            Some(expected)
        );
        let error = Proxy::parse("socks5://svc:hunter2@egress:1080")
            .err()
            .expect("refused");
        assert!(!format!("{error:#}").contains("hunter2"));
    }
}
