//! Which source the worker uses, and starting it.
//!
//! The order is Alibaba's default chain (environment keys, OIDC / RRSA, then the
//! instance role), with the credentials URI before the ECS role because setting it
//! is an explicit choice while the role is a guess; the CLI profile files are not
//! read (a server has none). The first source whose variables are set is used, and
//! only that one: falling back to another after a failure would silently change
//! who the worker runs as.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::refresh::{self, Held, Refresher};
use super::settings::Settings;
use super::sources::{ecs, env, oidc, uri, FetchError, Source};
use super::CredentialsHandle;

/// What the caller must do when the chain cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// Configure a source: nothing was set, and no ECS role answered.
    #[error("no Alibaba Cloud credentials: tried {0}")]
    NoSource(String),
    /// Fix the configuration of the source that was chosen.
    #[error(transparent)]
    Setup(#[from] anyhow::Error),
}

/// The chain, started.
pub struct Started {
    pub handle: CredentialsHandle,
    /// The source in use (`environment`, `oidc`, `credentials_uri`, `ecs_ram_role`).
    pub source: &'static str,
    /// The refresh task; `None` for a static pair.
    pub task: Option<JoinHandle<()>>,
}

/// Chooses the source and obtains the first set. If the chosen source fails now,
/// the handle starts empty (the worker is not ready) and the refresh task keeps
/// trying; only "no source at all" is an error.
pub async fn start(
    settings: &Settings,
    shutdown: CancellationToken,
) -> Result<Started, ChainError> {
    let source = choose(settings)?;
    if let Source::Environment(credentials) = &source {
        refresh::log_new(env::NAME, credentials);
        return Ok(Started {
            handle: CredentialsHandle::fixed(credentials.clone()),
            source: env::NAME,
            task: None,
        });
    }
    let name = source.name();
    let (held, failures) = match source.fetch().await {
        Ok(credentials) => {
            refresh::log_new(name, &credentials);
            let held = Held {
                credentials: Arc::new(credentials),
                obtained: Utc::now(),
            };
            (Some(held), 0)
        }
        Err(FetchError::Unreachable(_)) if name == ecs::NAME => {
            return Err(ChainError::NoSource(tried(&format!(
                "ECS RAM role (metadata service at {} unreachable)",
                settings.ecs.endpoint
            ))));
        }
        Err(error) => {
            tracing::warn!(source = name, %error, "cannot obtain credentials at start; not ready, retrying");
            (None, 1)
        }
    };
    let (current, receiver) = watch::channel(held.as_ref().map(|h| h.credentials.clone()));
    let (force, requests) = watch::channel(None);
    let refresher = Refresher {
        source,
        current,
        force: requests,
        shutdown,
    };
    let task = tokio::spawn(refresher.run(held, failures));
    Ok(Started {
        handle: CredentialsHandle::refreshed(receiver, force),
        source: name,
        task: Some(task),
    })
}

/// The first source whose variables are set, in the contract's order.
pub fn choose(settings: &Settings) -> Result<Source, ChainError> {
    if let Some(why) = &settings.invalid {
        return Err(ChainError::Setup(anyhow::anyhow!("{why}")));
    }
    if let Some(keys) = &settings.environment {
        return Ok(Source::Environment(env::credentials(keys)));
    }
    if let Some(oidc) = &settings.oidc {
        let caller = oidc::Oidc::new(oidc.clone(), settings.sts_endpoint.clone())?;
        return Ok(Source::Oidc(caller));
    }
    if let Some(url) = &settings.credentials_uri {
        return Ok(Source::Uri(uri::CredentialsUri::new(url.clone())?));
    }
    if settings.ecs.disabled {
        return Err(ChainError::NoSource(tried(
            "ECS RAM role (disabled by ALIBABA_CLOUD_ECS_METADATA_DISABLED=true)",
        )));
    }
    Ok(Source::Ecs(ecs::EcsRole::new(settings.ecs.clone())?))
}

/// Every source in order, the last one with why it gave nothing.
fn tried(ecs: &str) -> String {
    format!(
        "environment keys ({} not set), OIDC / RRSA ({} not set), credentials URI ({} not set), {ecs}",
        env::VARIABLES,
        oidc::VARIABLES,
        uri::VARIABLES
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::settings::{OidcSettings, StaticKeys};
    use crate::secret::Secret;

    fn oidc() -> OidcSettings {
        OidcSettings {
            role_arn: "r".into(),
            provider_arn: "p".into(),
            token_file: "/t".into(),
            session_name: "s".into(),
        }
    }

    #[test]
    fn the_first_source_set_wins_in_the_contracts_order() {
        let mut s = Settings {
            environment: Some(StaticKeys {
                access_key_id: "id".into(),
                access_key_secret: Secret::new("s"),
                security_token: None,
            }),
            oidc: Some(oidc()),
            credentials_uri: Some("http://127.0.0.1:1/c".into()),
            ..Settings::default()
        };
        assert_eq!(choose(&s).map(|c| c.name()).ok(), Some(env::NAME));
        s.environment = None;
        assert_eq!(choose(&s).map(|c| c.name()).ok(), Some(oidc::NAME));
        s.oidc = None;
        assert_eq!(choose(&s).map(|c| c.name()).ok(), Some(uri::NAME));
        s.credentials_uri = None;
        assert_eq!(choose(&s).map(|c| c.name()).ok(), Some(ecs::NAME));
    }

    #[test]
    fn with_nothing_set_and_the_role_disabled_the_error_names_every_source() {
        let mut s = Settings::default();
        s.ecs.disabled = true;
        let err = choose(&s).err().map(|e| e.to_string()).unwrap_or_default();
        for name in [
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
            "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
            "ALIBABA_CLOUD_CREDENTIALS_URI",
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED",
        ] {
            assert!(err.contains(name), "{name} missing from: {err}");
        }
    }
}
