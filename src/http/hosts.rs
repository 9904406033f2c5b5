//! The Host allow-list of both HTTP servers: the defence against DNS rebinding.
//!
//! A page on `evil.example` whose name the attacker re-points at 127.0.0.1 is,
//! to the browser, same-origin with that name: it could read the console (open
//! on loopback) and the worker's `/metrics`. Its requests still say
//! `Host: evil.example`, so a server that answers only to its own names
//! refuses them (421) before any handler reads anything.
//!
//! Our own names: `localhost`, the loopback addresses, the listen address (any
//! address literal when listening on a wildcard such as `0.0.0.0`, since each of
//! the machine's addresses is then ours, and an address is never rebound), and
//! `ID2META_CONSOLE_ALLOWED_HOSTS`. Ports are not compared: a rebinding attack
//! changes the name, and a proxy may publish another port.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The names a server answers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHosts {
    /// Lower-case names and address literals, without ports.
    names: Vec<String>,
    /// Listening on a wildcard address: any address literal is ours.
    any_address: bool,
}

impl AllowedHosts {
    /// The names of a server listening on `listen`, plus `extra`
    /// (`ID2META_CONSOLE_ALLOWED_HOSTS`).
    pub fn new(listen: SocketAddr, extra: &[String]) -> Self {
        let mut names = vec!["localhost".to_string(), listen.ip().to_string()];
        names.extend(extra.iter().filter_map(|name| host_name(name)));
        Self {
            names,
            any_address: listen.ip().is_unspecified(),
        }
    }

    /// Whether a `Host` header's value names this server.
    pub fn allows(&self, host: &str) -> bool {
        let Some(name) = host_name(host) else {
            return false;
        };
        if let Ok(ip) = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return ip.is_loopback() || self.any_address || self.names.contains(&ip.to_string());
        }
        self.names.contains(&name)
    }
}

/// A `Host` value's name: lower case, without the port and a final dot;
/// `None` if it is empty or holds anything a host name cannot.
fn host_name(host: &str) -> Option<String> {
    let host = host.trim().to_ascii_lowercase();
    let name = match host.strip_prefix('[') {
        // `[::1]:9465`: the address is what the brackets hold.
        Some(rest) => rest.split_once(']')?.0.to_string(),
        None => match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_string(),
            _ => host,
        },
    };
    let name = name.trim_end_matches('.').to_string();
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:_".contains(&b));
    valid.then_some(name)
}

/// The middleware: a request for another name is answered 421 before any read.
/// The URI's own authority (an absolute-form request) must be ours as well.
pub async fn refuse_foreign(
    State(hosts): State<Arc<AllowedHosts>>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let authority_ok = request
        .uri()
        .authority()
        .is_none_or(|authority| hosts.allows(authority.as_str()));
    match host {
        Some(host) if authority_ok && hosts.allows(&host) => next.run(request).await,
        host => {
            let shown: String = host.unwrap_or_default().chars().take(100).collect();
            tracing::info!(host = %shown, "refused a request for a host name that is not ours (421)");
            (
                StatusCode::MISDIRECTED_REQUEST,
                "421: this server does not answer to that host name (see ID2META_CONSOLE_ALLOWED_HOSTS)\n",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(listen: &str, extra: &[&str]) -> AllowedHosts {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        AllowedHosts::new(listen.parse().expect("an address"), &extra)
    }

    #[test]
    fn loopback_names_and_the_listen_address_are_ours() {
        let hosts = on("127.0.0.1:9465", &[]);
        for ours in [
            "127.0.0.1:9465",
            "localhost:9465",
            "LOCALHOST",
            "[::1]:9465",
            "127.0.0.2",
            "localhost.",
        ] {
            assert!(hosts.allows(ours), "{ours}");
        }
        for theirs in [
            "evil.example:9465",
            "evil.example",
            "10.0.0.5:9465",
            "",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "a b",
        ] {
            assert!(!hosts.allows(theirs), "{theirs}");
        }
    }

    #[test]
    fn a_wildcard_listen_address_answers_to_any_address_and_the_listed_names_only() {
        let hosts = on("0.0.0.0:9464", &["console.internal", "Ops.Example:443"]);
        for ours in [
            "10.0.0.5:9464",
            "[fd00::1]:9464",
            "console.internal",
            "ops.example:8443",
        ] {
            assert!(hosts.allows(ours), "{ours}");
        }
        assert!(!hosts.allows("evil.example:9464"));
        let specific = on("10.0.0.5:9465", &[]);
        assert!(specific.allows("10.0.0.5:9465"));
        assert!(!specific.allows("10.0.0.6:9465"));
    }
}
