//! Where the upstream's credentials come from, and how they stay fresh.
//!
//! The signer never reads the environment: it asks a [`CredentialsHandle`] for the
//! credentials in force at the moment of the request. A static pair is a handle that
//! never changes ([`CredentialsHandle::fixed`]); temporary credentials (OIDC / RRSA,
//! a credentials URI, the ECS RAM role) are kept fresh by a background task that
//! publishes each new set through the handle, so no job ever waits on a refresh
//! except the one forced by an `InvalidSecurityToken.*` answer.
//!
//! INTERFACE NOTE (for the parallel work on this module): the types and method
//! signatures below are the agreed interface between `upstream/` (the signer and the
//! client use `current()`; the pipeline uses `force_refresh`) and the sources and the
//! refresh task that live in this module. Keep them; add beside them.

pub mod chain;
pub mod readiness;
pub mod refresh;
pub mod settings;
pub mod sources;

pub use chain::{start, ChainError, Started};
pub use settings::{OidcSettings, Settings, StaticKeys};

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::secret::Secret;

/// One set of credentials as the signer uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: Secret,
    /// Present for STS credentials (`STS.`-prefixed key ids).
    pub security_token: Option<Secret>,
    /// `None` for a static pair that does not expire.
    pub expires_at: Option<DateTime<Utc>>,
}

impl Credentials {
    /// A static pair (with an optional security token, as in `ALIBABA_CLOUD_SECURITY_TOKEN`).
    pub fn fixed(
        access_key_id: impl Into<String>,
        access_key_secret: Secret,
        security_token: Option<Secret>,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            access_key_secret,
            security_token,
            expires_at: None,
        }
    }

    /// Whether these may still be used at `now`.
    pub fn valid_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

/// A cheap, cloneable view of the credentials in force.
#[derive(Clone)]
pub struct CredentialsHandle {
    current: watch::Receiver<Option<Arc<Credentials>>>,
    /// Asks the refresh task for a refresh now (the value is the key id seen as stale).
    /// `None` for a fixed pair, which cannot be refreshed.
    force: Option<Arc<watch::Sender<Option<String>>>>,
}

impl CredentialsHandle {
    /// A handle over a static pair that never changes.
    pub fn fixed(credentials: Credentials) -> Self {
        let (_tx, current) = watch::channel(Some(Arc::new(credentials)));
        Self {
            current,
            force: None,
        }
    }

    /// The credentials in force, if valid ones are held. Never waits.
    pub fn current(&self) -> Option<Arc<Credentials>> {
        let held = self.current.borrow().clone()?;
        held.valid_at(Utc::now()).then_some(held)
    }
}

impl CredentialsHandle {
    /// Asks for new credentials because the upstream refused `stale`
    /// (`InvalidSecurityToken.Expired` / `.MismatchWithAccessKey`), and waits up to
    /// `within` for a set that differs from it. `None`: nothing new came (a fixed pair
    /// never does); the caller treats that as an environment error.
    pub async fn force_refresh(
        &self,
        stale: &Credentials,
        within: std::time::Duration,
    ) -> Option<Arc<Credentials>> {
        let force = self.force.as_ref()?;
        force.send_replace(Some(stale.access_key_id.clone()));
        let mut current = self.current.clone();
        let fresh = |held: &Option<Arc<Credentials>>| {
            held.as_ref().is_some_and(|c| {
                c.valid_at(Utc::now())
                    && (c.access_key_id != stale.access_key_id
                        || c.security_token != stale.security_token)
            })
        };
        let waited = tokio::time::timeout(within, current.wait_for(fresh)).await;
        match waited {
            Ok(Ok(held)) => held.clone(),
            _ => None,
        }
    }

    /// A handle fed by a refresh task: `current` carries each new set, `force`
    /// carries the refresh requests back to the task.
    pub fn refreshed(
        current: watch::Receiver<Option<Arc<Credentials>>>,
        force: watch::Sender<Option<String>>,
    ) -> Self {
        Self {
            current,
            force: Some(Arc::new(force)),
        }
    }

    /// Every set published through this handle, for readiness reporting. For a
    /// fixed pair the sender is gone at once: the first value is the only one.
    pub fn changes(&self) -> watch::Receiver<Option<Arc<Credentials>>> {
        self.current.clone()
    }
}
