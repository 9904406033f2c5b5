//! Who an audit row names: the CLI's `user@host`, a console session (its id and
//! the client's address), or a worker replica for the sweeps it runs itself.

use uuid::Uuid;

/// Through what an action came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Cli,
    Console,
    Worker,
}

impl Origin {
    /// The word stored in `operator_actions.origin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cli => "cli",
            Self::Console => "console",
            Self::Worker => "worker",
        }
    }
}

/// The `actor` and `origin` of an audit row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    pub origin: Origin,
}

impl Actor {
    /// The person at this terminal: `$USER@<host>` (`unknown` for what cannot be read).
    pub fn cli() -> Self {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| "unknown".into());
        Self {
            name: format!("{}@{}", user.trim(), host_name()),
            origin: Origin::Cli,
        }
    }

    /// A console session: its id and the client's address, never its cookie.
    pub fn console(session_id: &str, client: &str) -> Self {
        Self {
            name: format!("session {session_id} from {client}"),
            origin: Origin::Console,
        }
    }

    /// A worker replica acting on its own (the retention sweep).
    pub fn worker(replica: Uuid) -> Self {
        Self {
            name: format!("worker {replica}@{}", host_name()),
            origin: Origin::Worker,
        }
    }
}

/// This machine's name (the pod's name on Kubernetes), or `unknown-host`.
pub fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_actor_names_who_and_through_what() {
        let cli = Actor::cli();
        assert_eq!(cli.origin, Origin::Cli);
        assert!(cli.name.contains('@'), "{}", cli.name);
        let console = Actor::console("7f3a", "127.0.0.1:5123");
        assert_eq!(console.name, "session 7f3a from 127.0.0.1:5123");
        assert_eq!(console.origin.as_str(), "console");
        let worker = Actor::worker(Uuid::nil());
        assert!(worker.name.starts_with("worker 00000000-"));
        assert_eq!(worker.origin.as_str(), "worker");
    }
}
