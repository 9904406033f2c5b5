//! The background task that keeps temporary credentials fresh.
//!
//! Jobs never wait on it: they read whatever [`super::CredentialsHandle::current`]
//! holds. The task refreshes when a quarter of the lifetime is left (15 minutes of
//! STS's hour, as Alibaba's Python and Java SDKs do), so a slow or failing STS has
//! that quarter to recover while the current set still works; a failure is retried
//! with a growing delay that never outlasts the credentials still held. A forced
//! refresh (the upstream said `InvalidSecurityToken.*`) skips the wait.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::sources::Source;
use super::Credentials;
use crate::instrumentation::{CREDENTIAL_EXPIRY, CREDENTIAL_REFRESHES};

/// The longest pause between two attempts after failures.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// How often the seconds-until-expiry gauge is brought up to date.
const GAUGE_PERIOD: Duration = Duration::from_secs(5);

/// When credentials obtained at `obtained` and expiring at `expires` should be
/// replaced: when a quarter of their lifetime is left.
pub fn refresh_at(obtained: DateTime<Utc>, expires: DateTime<Utc>) -> DateTime<Utc> {
    let lifetime = (expires - obtained).max(TimeDelta::zero());
    expires - lifetime / 4
}

/// The pause before attempt number `failures + 1`: 1 s doubling to a minute, and,
/// while credentials are still held, at most half the time they have left, so
/// several attempts fit before they expire.
pub fn retry_delay(failures: u32, time_left: Option<TimeDelta>) -> Duration {
    let doubling = Duration::from_secs(1u64 << failures.saturating_sub(1).min(6));
    let delay = doubling.min(MAX_RETRY_DELAY);
    match time_left.and_then(|left| (left / 2).to_std().ok()) {
        Some(half) => delay.min(half.max(Duration::from_millis(500))),
        None => delay,
    }
}

/// Credentials that arrive already expired (a source's stale cache, a clock
/// ahead of it) are no use: fetching again at once would ask again in a tight
/// loop, so such an answer counts as a failed attempt and the next one backs off.
pub fn arrived_expired(credentials: &Credentials, obtained: DateTime<Utc>) -> bool {
    credentials.expires_at.is_some_and(|at| at <= obtained)
}

/// The credentials held and when they were obtained (their lifetime starts there).
#[derive(Clone)]
pub struct Held {
    pub credentials: Arc<Credentials>,
    pub obtained: DateTime<Utc>,
}

/// The task's state: the source, where it publishes, where requests come from.
pub struct Refresher {
    pub source: Source,
    pub current: watch::Sender<Option<Arc<Credentials>>>,
    pub force: watch::Receiver<Option<String>>,
    pub shutdown: CancellationToken,
}

impl Refresher {
    /// Runs until `shutdown`. `held` is what start obtained (if anything);
    /// `failures` how many attempts have failed since.
    pub async fn run(mut self, mut held: Option<Held>, mut failures: u32) {
        if held
            .as_ref()
            .is_some_and(|h| arrived_expired(&h.credentials, h.obtained))
        {
            failures = failures.max(1);
        }
        loop {
            let now = Utc::now();
            let expires = held.as_ref().and_then(|h| h.credentials.expires_at);
            let next = match (&held, expires) {
                (_, _) if failures > 0 => {
                    let delay = retry_delay(failures, expires.map(|at| at - now));
                    now + TimeDelta::from_std(delay).unwrap_or(TimeDelta::zero())
                }
                (Some(h), Some(at)) => refresh_at(h.obtained, at),
                // Credentials without an expiry are never refreshed on schedule.
                (Some(_), None) => now + TimeDelta::days(365),
                (None, _) => now,
            };
            if !self.wait_until(next, held.as_ref()).await {
                return;
            }
            match self.source.fetch().await {
                Ok(fresh) if arrived_expired(&fresh, Utc::now()) => {
                    failures += 1;
                    record(self.source.name(), "expired");
                    tracing::warn!(
                        source = self.source.name(),
                        failures,
                        "the credentials arrived already expired; retrying"
                    );
                }
                Ok(fresh) => {
                    failures = 0;
                    let fresh = Arc::new(fresh);
                    record(self.source.name(), "success");
                    log_new(self.source.name(), &fresh);
                    self.current.send_replace(Some(fresh.clone()));
                    held = Some(Held {
                        credentials: fresh,
                        obtained: Utc::now(),
                    });
                }
                Err(error) => {
                    failures += 1;
                    record(self.source.name(), "failure");
                    tracing::warn!(source = self.source.name(), %error, failures, "credential refresh failed; retrying");
                }
            }
        }
    }

    /// Sleeps until `at`, a forced refresh of the credentials held, or shutdown
    /// (then `false`), keeping the expiry gauge current meanwhile.
    async fn wait_until(&mut self, at: DateTime<Utc>, held: Option<&Held>) -> bool {
        loop {
            let now = Utc::now();
            set_expiry_gauge(held.and_then(|h| h.credentials.expires_at), now);
            let Ok(left) = (at - now).to_std() else {
                return true;
            };
            tokio::select! {
                _ = self.shutdown.cancelled() => return false,
                _ = tokio::time::sleep(left.min(GAUGE_PERIOD)) => {}
                changed = self.force.changed() => {
                    if changed.is_err() {
                        // Every handle is gone: nobody can use credentials any more.
                        return false;
                    }
                    let stale = self.force.borrow_and_update().clone();
                    if is_stale(held, stale.as_deref()) {
                        return true;
                    }
                }
            }
        }
    }
}

/// A forced refresh for `stale` concerns the credentials held (a request about an
/// older set was answered by a refresh already).
fn is_stale(held: Option<&Held>, stale: Option<&str>) -> bool {
    match (held, stale) {
        (None, _) => true,
        (Some(h), Some(key)) => h.credentials.access_key_id == key,
        (Some(_), None) => false,
    }
}

fn record(source: &'static str, outcome: &'static str) {
    metrics::counter!(CREDENTIAL_REFRESHES, "source" => source, "outcome" => outcome).increment(1);
}

fn set_expiry_gauge(expires: Option<DateTime<Utc>>, now: DateTime<Utc>) {
    if let Some(at) = expires {
        let left = (at - now).num_milliseconds().max(0) as f64 / 1000.0;
        metrics::gauge!(CREDENTIAL_EXPIRY).set(left);
    }
}

/// The source, the key id's first characters (enough to tell two sets apart in a
/// log, never enough to use) and the expiry. Never the secret or the token.
pub fn log_new(source: &str, credentials: &Credentials) {
    let prefix: String = credentials.access_key_id.chars().take(8).collect();
    let expires = credentials
        .expires_at
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| "never".into());
    tracing::info!(source, key_id_prefix = %prefix, %expires, "credentials obtained");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("a time")
    }

    #[test]
    fn refresh_comes_when_a_quarter_of_the_lifetime_is_left() {
        assert_eq!(refresh_at(at(0), at(3600)), at(2700));
        assert_eq!(refresh_at(at(0), at(20)), at(15));
        // Credentials that came already expired are replaced at once.
        assert_eq!(refresh_at(at(10), at(5)), at(5));
    }

    #[test]
    fn failed_refreshes_back_off_but_fit_before_expiry() {
        assert_eq!(retry_delay(1, None), Duration::from_secs(1));
        assert_eq!(retry_delay(3, None), Duration::from_secs(4));
        assert_eq!(retry_delay(30, None), MAX_RETRY_DELAY);
        let left = Some(TimeDelta::seconds(10));
        assert_eq!(retry_delay(30, left), Duration::from_secs(5));
        let nearly_gone = Some(TimeDelta::milliseconds(100));
        assert_eq!(retry_delay(5, nearly_gone), Duration::from_millis(500));
    }

    #[test]
    fn a_forced_refresh_is_for_the_credentials_held_only() {
        let held = Held {
            credentials: Arc::new(Credentials {
                access_key_id: "STS.new".into(),
                access_key_secret: crate::secret::Secret::new("s"),
                security_token: None,
                expires_at: Some(at(60)),
            }),
            obtained: at(0),
        };
        assert!(is_stale(Some(&held), Some("STS.new")));
        assert!(!is_stale(Some(&held), Some("STS.old")));
        assert!(is_stale(None, Some("STS.old")));
    }
}
