//! The audit log (`operator_actions`): who did what to the data or the queues,
//! when, and with what effect, for every operator action whatever started it.
//!
//! An action that changes the database writes its row in the same transaction
//! ([`record`] takes any executor, a transaction included), so the log never
//! claims an action that did not happen, nor misses one that did. An action on
//! the broker (a dead-letter replay or purge) has no transaction with the log:
//! its row is written once the broker has answered, with what was done.
//!
//! The table refuses UPDATE, DELETE and TRUNCATE for every role (migration
//! `20261206000400`). `detail` holds counts, ids and masks: callers build it
//! from values that are already masked, never from a name or an ID number.
//!
//! - [`actor`]: who acts ([`Actor`]) and through what ([`Origin`]).
//! - [`record`]: writing one row; [`read`]: the rows since a moment, paged.

pub mod actor;
pub mod read;
pub mod record;

pub use actor::{Actor, Origin};
pub use read::{Recorded, AUDIT_PAGE};
pub use record::record;

/// Every kind of operator action the contract names (the table's CHECK lists
/// the same words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Cancel,
    Replay,
    Purge,
    Forget,
    Lookup,
    Export,
    Login,
    LoginRefused,
    Logout,
    Retention,
}

impl Action {
    pub const ALL: [Action; 10] = [
        Self::Cancel,
        Self::Replay,
        Self::Purge,
        Self::Forget,
        Self::Lookup,
        Self::Export,
        Self::Login,
        Self::LoginRefused,
        Self::Logout,
        Self::Retention,
    ];

    /// The action a stored word names (the console's filter), if any.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == word)
    }

    /// The word stored in `operator_actions.action`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cancel => "cancel",
            Self::Replay => "replay",
            Self::Purge => "purge",
            Self::Forget => "forget",
            Self::Lookup => "lookup",
            Self::Export => "export",
            Self::Login => "login",
            Self::LoginRefused => "login_refused",
            Self::Logout => "logout",
            Self::Retention => "retention",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_check_and_the_enum_name_the_same_actions() {
        let migration = include_str!("../../migrations/20261206000400_audit_and_retention.sql");
        for action in Action::ALL {
            assert!(
                migration.contains(&format!("'{action}'")),
                "{action} is missing from the CHECK"
            );
            assert_eq!(Action::parse(action.as_str()), Some(action));
        }
    }
}
