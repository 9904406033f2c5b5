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
