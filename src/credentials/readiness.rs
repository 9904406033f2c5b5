//! Tells [`Health`] whether valid credentials are held, so `/readyz` fails only
//! when none are (a refresh failing while the current set still works is a
//! warning in the log and the metrics, not a reason to take the replica out).

use std::sync::Arc;

use super::CredentialsHandle;
use crate::health::Health;

/// Follows the handle until its refresh task ends (at shutdown; at once for a
/// static pair, which never changes).
pub async fn report_to(handle: CredentialsHandle, health: Arc<Health>) {
    let mut changes = handle.changes();
    loop {
        let expiry = changes
            .borrow_and_update()
            .as_ref()
            .map(|held| held.expires_at);
        health.set_credentials(expiry);
        if changes.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Credentials;
    use crate::secret::Secret;
    use chrono::{TimeDelta, Utc};
    use tokio::sync::watch;

    fn until(offset: TimeDelta) -> Option<Arc<Credentials>> {
        Some(Arc::new(Credentials {
            access_key_id: "STS.k".into(),
            access_key_secret: Secret::new("s"),
            security_token: Some(Secret::new("t")),
            expires_at: Some(Utc::now() + offset),
        }))
    }

    async fn settled(health: &Health, want_ready: bool) {
        for _ in 0..200 {
            if health.not_ready().is_none() == want_ready {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!(
            "readiness never became {want_ready}: {:?}",
            health.not_ready()
        );
    }

    #[tokio::test]
    async fn not_ready_exactly_while_no_valid_credentials_are_held() {
        let health = Health::new();
        health.set_broker(true);
        health.set_database(true);
        assert_eq!(health.not_ready(), None, "a static pair's default");
        let (current, receiver) = watch::channel(None);
        let (force, _requests) = watch::channel(None);
        let handle = CredentialsHandle::refreshed(receiver, force);
        let task = tokio::spawn(report_to(handle, health.clone()));
        settled(&health, false).await;
        assert_eq!(
            health.not_ready(),
            Some("no valid upstream credentials held".into())
        );
        current.send_replace(until(TimeDelta::minutes(10)));
        settled(&health, true).await;
        // Held but already past their expiry: not valid any more.
        current.send_replace(until(TimeDelta::seconds(-1)));
        settled(&health, false).await;
        drop(current);
        task.await.expect("the reporter ends with its source");
    }
}
