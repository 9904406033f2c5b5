//! The one TLS crypto provider of the process: ring.
//!
//! Every TLS user in the build speaks rustls: sqlx (ring, chosen by its own
//! feature), lapin (ring, by `rustls--ring`) and reqwest. reqwest is built with
//! `rustls-no-provider`, because its `rustls` feature would compile aws-lc-rs, a
//! second provider and a large C build (the quick start's cold build with and
//! without it: docs/benchmarks.md). Without a feature to pick one,
//! reqwest takes the process's default provider, and panics when there is none.
//! So every reqwest client of the crate is built through [`http_client`], which
//! installs ring first; `main` installs it too, before anything runs.
//! (`clippy.toml` refuses `reqwest::Client::new`, `builder` and `get` elsewhere.)
//! The upstream client dials its own connections (`upstream::dial`) with
//! [`upstream_config`], which names ring itself.

use std::sync::Arc;

use anyhow::Context;

/// Makes ring the process's default rustls provider. Idempotent: a provider
/// already installed (this one, by an earlier call) is kept.
pub fn install_provider() {
    // Err only means a default is already installed, which is all we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A reqwest client builder, with ring installed: the only way the crate (and its
/// tests) builds an HTTP client.
#[allow(clippy::disallowed_methods)]
pub fn http_client() -> reqwest::ClientBuilder {
    install_provider();
    reqwest::Client::builder()
}

/// `reqwest::get`, with ring installed: one GET on a client of its own.
pub async fn get<U: reqwest::IntoUrl>(url: U) -> reqwest::Result<reqwest::Response> {
    http_client().build()?.get(url).send().await
}

/// The upstream's TLS: 1.2/1.3 on ring, the platform's trust store (as reqwest
/// used; `SSL_CERT_FILE` replaces it), HTTP/1.1 by ALPN.
pub fn upstream_config() -> anyhow::Result<Arc<rustls::ClientConfig>> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_platform_verifier()
        .context("the platform's certificate verifier")?
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_builds_with_ring_as_the_provider() {
        assert!(http_client().build().is_ok());
        let provider = rustls::crypto::CryptoProvider::get_default().expect("installed");
        let ring = rustls::crypto::ring::default_provider();
        assert_eq!(
            provider.cipher_suites.len(),
            ring.cipher_suites.len(),
            "the installed provider is ring's"
        );
        // A second call keeps the provider and still builds.
        assert!(http_client().build().is_ok());
    }
}
