//! `id2meta demo --credentials oidc`: the demo's worker on short-lived STS
//! credentials, obtained the way a pod on ACK obtains them through RRSA.
//!
//! The mock issues credentials valid `--sts-ttl` seconds and refuses the static
//! pair, so the batch completes only if the worker refreshes in time. An OIDC token
//! file is written in a temporary directory, and rewritten halfway through as the
//! kubelet rotates the projected token, to show that each refresh re-reads it.

use std::path::PathBuf;

use anyhow::Context;

use crate::config::Config;
use crate::credentials::OidcSettings;
use crate::mock::Stats;

/// The token file and what the demo changed in the configuration for it.
pub struct OidcDemo {
    dir: PathBuf,
    token_file: PathBuf,
    rotated: bool,
}

impl OidcDemo {
    /// Writes a token file and points `config`'s chain at the mock's STS, with no static pair.
    pub fn prepare(config: &mut Config, sts_endpoint: &str) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("id2meta-demo-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let token_file = dir.join("token");
        std::fs::write(&token_file, "demo-oidc-token-1").context("cannot write the token file")?;
        config.access_key_id = None;
        config.access_key_secret = None;
        config.security_token = None;
        config.credentials.environment = None;
        config.credentials.oidc = Some(OidcSettings {
            role_arn: "acs:ram::1234567890:role/id2meta-demo".into(),
            provider_arn: "acs:ram::1234567890:oidc-provider/ack-rrsa-demo".into(),
            token_file: token_file.clone(),
            session_name: "id2meta-demo".into(),
        });
        config.credentials.sts_endpoint = sts_endpoint.to_string();
        Ok(Self {
            dir,
            token_file,
            rotated: false,
        })
    }

    /// Rewrites the token once, as the kubelet does before the old one expires.
    pub fn rotate_token_once(&mut self) {
        if !self.rotated {
            self.rotated = std::fs::write(&self.token_file, "demo-oidc-token-2").is_ok();
        }
    }

    /// The summary's credential lines.
    pub fn summary(stats: &Stats, ttl_secs: u64) {
        println!();
        println!(
            "  {:<28} {:>10}",
            "credentials",
            format!("oidc, {ttl_secs} s")
        );
        println!("  {:<28} {:>10}", "  STS calls", stats.sts_calls);
        println!(
            "  {:<28} {:>10}",
            "  rotations",
            stats.sts_calls.saturating_sub(1)
        );
        println!(
            "  {:<28} {:>10}",
            "  OIDC tokens read", stats.oidc_tokens_seen
        );
        println!(
            "  {:<28} {:>10}",
            "  calls with expired ones", stats.expired_credential_calls
        );
    }
}

impl Drop for OidcDemo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
