//! Which base URLs the worker may send signed requests to.
//!
//! A signed request carries a name and an ID number (the upstream) or credentials
//! (STS), so it travels over TLS. Plain `http://` is allowed only for a mock: on a
//! loopback host, or on any host when the operator says so (`ID2META_ALLOW_HTTP=true`,
//! a mock in a container network), and never to Alibaba's own hosts, which a
//! plain-http URL can only mean by mistake. One rule for every endpoint variable
//! (`ID2META_ENDPOINT`, `ID2META_STS_ENDPOINT`), so they cannot drift apart.

use std::net::IpAddr;

use anyhow::{bail, Context};

/// Checks `url`, read from the variable `variable`; the error names both.
/// `allow_http` is `ID2META_ALLOW_HTTP`.
pub fn check(variable: &str, url: &str, allow_http: bool) -> anyhow::Result<()> {
    let parsed = reqwest::Url::parse(url)
        .with_context(|| format!("{variable} must be an http(s) URL, got '{url}'"))?;
    let Some(host) = parsed.host_str() else {
        bail!("{variable} must be an http(s) URL with a host, got '{url}'");
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_alibaba(host) => {
            bail!("{variable} must use https:// for Alibaba's host {host}, got '{url}'")
        }
        "http" if is_loopback(host) || allow_http => Ok(()),
        "http" => bail!(
            "{variable} may use plain http:// only for a loopback host (or set \
             ID2META_ALLOW_HTTP=true for a mock on another host), got '{url}'"
        ),
        _ => bail!("{variable} must be an http(s) URL, got '{url}'"),
    }
}

fn is_alibaba(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "aliyuncs.com" || host.ends_with(".aliyuncs.com")
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VAR: &str = "ID2META_ENDPOINT";

    #[test]
    fn https_is_accepted_anywhere() {
        for url in [
            "https://cloudauth-intl.cn-hongkong.aliyuncs.com",
            "https://cloudauth-intl-vpc.cn-hongkong.aliyuncs.com/",
            "https://mock.internal:8443",
        ] {
            check(VAR, url, false).expect(url);
        }
    }

    #[test]
    fn plain_http_is_accepted_on_loopback_hosts_only_unless_allowed() {
        for url in [
            "http://127.0.0.1:8099",
            "http://127.1.2.3:8099",
            "http://localhost:8099",
            "http://[::1]:8099",
        ] {
            check(VAR, url, false).expect(url);
        }
        let refused = check(VAR, "http://mock:8099", false).expect_err("not loopback");
        assert!(refused.to_string().contains(VAR), "{refused}");
        assert!(
            refused.to_string().contains("ID2META_ALLOW_HTTP"),
            "{refused}"
        );
        check(VAR, "http://mock:8099", true).expect("allowed by the operator");
    }

    #[test]
    fn plain_http_to_alibaba_is_refused_even_when_http_is_allowed() {
        for url in [
            "http://cloudauth-intl.cn-hongkong.aliyuncs.com",
            "http://sts.aliyuncs.com",
            "http://STS.ALIYUNCS.COM.",
        ] {
            let refused = check("ID2META_STS_ENDPOINT", url, true).expect_err(url);
            assert!(
                refused.to_string().contains("ID2META_STS_ENDPOINT"),
                "{refused}"
            );
        }
    }

    #[test]
    fn other_schemes_and_hostless_urls_are_refused_naming_the_variable() {
        for url in [
            "ftp://127.0.0.1",
            "127.0.0.1:8099",
            "",
            "file:///etc/passwd",
        ] {
            let refused = check(VAR, url, true).expect_err(url);
            assert!(refused.to_string().contains(VAR), "{refused}");
        }
    }
}
