//! When a configured endpoint may be plain `http://`.
//!
//! Credentials travel in these requests (an OIDC token to STS, a signed call with a
//! security token to the API), so plain HTTP is allowed only where nothing can
//! listen in: the loopback interface (tests, the mock, a local proxy), or anywhere
//! when `ID2META_ALLOW_HTTP=true` says the operator means it. Alibaba's own hosts
//! (`*.aliyuncs.com`) are always HTTPS: `http://` there is a typo, never a choice.
//!
//! The function names no credential type so that `ID2META_ENDPOINT`'s check can be
//! this same one.

use anyhow::{bail, Context};

/// `Ok` if `url` (the value of `variable`) is `https://`, or `http://` where allowed.
pub fn check_plain_http(variable: &str, url: &str, allow_http: bool) -> anyhow::Result<()> {
    let parsed =
        reqwest::Url::parse(url).with_context(|| format!("{variable} {url:?} is not a URL"))?;
    let Some(host) = parsed.host_str() else {
        bail!("{variable} {url:?} has no host");
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = host.trim_end_matches('.').to_ascii_lowercase();
            if host == "aliyuncs.com" || host.ends_with(".aliyuncs.com") {
                bail!("{variable} {url:?}: Alibaba Cloud endpoints are https:// only");
            }
            if allow_http || is_loopback(&parsed) {
                Ok(())
            } else {
                bail!(
                    "{variable} {url:?} is plain http:// off this machine; use https://, \
                     or set ID2META_ALLOW_HTTP=true if the network is private"
                )
            }
        }
        other => bail!("{variable} {url:?} must be http:// or https://, not {other}://"),
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_always_allowed() {
        assert!(check_plain_http("V", "https://sts.aliyuncs.com", false).is_ok());
        assert!(check_plain_http("V", "https://10.0.0.1:8443", false).is_ok());
    }

    #[test]
    fn plain_http_is_allowed_on_loopback_or_when_asked_for() {
        for url in [
            "http://127.0.0.1:8099",
            "http://localhost:1",
            "http://[::1]:2",
        ] {
            assert!(check_plain_http("V", url, false).is_ok(), "{url}");
        }
        assert!(check_plain_http("V", "http://10.0.0.1", false).is_err());
        assert!(check_plain_http("V", "http://10.0.0.1", true).is_ok());
    }

    #[test]
    fn plain_http_to_alibaba_is_refused_even_when_allowed() {
        let err = check_plain_http("ID2META_STS_ENDPOINT", "http://sts.aliyuncs.com", true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ID2META_STS_ENDPOINT") && err.contains("https"),
            "{err}"
        );
        assert!(check_plain_http("V", "http://STS.ALIYUNCS.COM.", true).is_err());
        assert!(check_plain_http("V", "ftp://x", true).is_err());
        assert!(check_plain_http("V", "not a url", true).is_err());
    }
}
