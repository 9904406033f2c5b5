//! How a process reaches PostgreSQL: directly or through PgBouncer's transaction
//! pooling ([`Pooler`]), and the bounds the *server* puts on every session
//! ([`Bounds`]), so that nothing a frozen or vanished client holds (a lock, an
//! open transaction) outlives it for long, whatever the client does.
//!
//! Directly, the bounds are session settings sent in the startup packet
//! (`options=-c ...`): they hold from the first statement, on every connection of
//! every pool built from these options (the budget's included). PgBouncer 1.18
//! refuses that startup parameter and shares server sessions between clients, so
//! a session `SET` would not stick either: behind it each transaction opens with
//! `SET LOCAL` of the same values ([`Database::begin_statement`]), and TCP
//! keepalives are PgBouncer's own (`tcp_keepalive`, see docs/deploy.md).

use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;

/// `ID2META_DB_POOLER`: what stands between the replica and PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pooler {
    /// PostgreSQL itself, or a pooler in session mode: sessions are ours.
    #[default]
    Direct,
    /// PgBouncer (1.18+) in transaction pooling mode: a session is ours only
    /// for one transaction. No session state, no named prepared statements
    /// across transactions, no session advisory locks, no `LISTEN`.
    Transaction,
}

impl std::str::FromStr for Pooler {
    type Err = anyhow::Error;
    fn from_str(raw: &str) -> anyhow::Result<Self> {
        match raw.trim() {
            "" | "none" => Ok(Self::Direct),
            "transaction" => Ok(Self::Transaction),
            other => anyhow::bail!("ID2META_DB_POOLER must be transaction or unset, got '{other}'"),
        }
    }
}

/// The server-side limits on every session (see the module's doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// A statement waiting this long for a lock fails (a frozen holder stops no one for longer).
    pub lock_timeout: Duration,
    /// Any statement running this long is cancelled.
    pub statement_timeout: Duration,
    /// A session idle this long inside a transaction is ended, its locks released.
    pub idle_in_transaction: Duration,
    /// The server probes a silent client after this long (then every
    /// `keepalive_interval`, giving up after 3 probes): a vanished client's
    /// backend ends in about a minute instead of the kernel's 2 h 11 min.
    pub keepalive_idle: Duration,
    pub keepalive_interval: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            lock_timeout: Duration::from_secs(5),
            // The longest statement any command runs (a month's report over a large
            // table) stays well below it; a hung one does not run forever.
            statement_timeout: Duration::from_secs(120),
            idle_in_transaction: Duration::from_secs(15),
            keepalive_idle: Duration::from_secs(30),
            keepalive_interval: Duration::from_secs(10),
        }
    }
}

impl Bounds {
    /// `(setting, value)` pairs, values in milliseconds or seconds as PostgreSQL reads them.
    fn settings(&self) -> [(&'static str, String); 6] {
        let ms = |d: Duration| d.as_millis().to_string();
        let s = |d: Duration| d.as_secs().max(1).to_string();
        [
            ("lock_timeout", ms(self.lock_timeout)),
            ("statement_timeout", ms(self.statement_timeout)),
            (
                "idle_in_transaction_session_timeout",
                ms(self.idle_in_transaction),
            ),
            ("tcp_keepalives_idle", s(self.keepalive_idle)),
            ("tcp_keepalives_interval", s(self.keepalive_interval)),
            ("tcp_keepalives_count", "3".to_string()),
        ]
    }
}

/// Where and how to connect: the URL, the pooler in front, the server-side bounds.
#[derive(Debug, Clone)]
pub struct Database {
    pub url: String,
    pub pooler: Pooler,
    pub bounds: Bounds,
}

impl Database {
    /// Directly to `url`, with the default bounds.
    pub fn direct(url: &str) -> Self {
        Self {
            url: url.to_string(),
            pooler: Pooler::Direct,
            bounds: Bounds::default(),
        }
    }

    /// The connection options every pool of this process is built from.
    pub fn connect_options(&self) -> anyhow::Result<PgConnectOptions> {
        let options: PgConnectOptions = self.url.parse().context("parsing DATABASE_URL")?;
        Ok(match self.pooler {
            Pooler::Direct => options.options(self.bounds.settings()),
            // No statement kept between transactions: the next one may run on
            // another server session, where it does not exist (or another client's
            // statement of the same name does). See `pooling.rs` for the rest.
            // And no startup parameter PgBouncer 1.18 refuses ("unsupported startup
            // parameter"): sqlx sends `extra_float_digits` unless told not to.
            Pooler::Transaction => options.statement_cache_capacity(0).extra_float_digits(None),
        })
    }

    /// What opens a transaction: `BEGIN` with the bounds set for it alone behind a
    /// transaction pooler (one round trip, the simple protocol); `None` directly,
    /// where the session already carries them.
    pub fn begin_statement(&self) -> Option<String> {
        match self.pooler {
            Pooler::Direct => None,
            Pooler::Transaction => {
                let mut begin = String::from("BEGIN");
                // The keepalives are the pooler's business (its own sockets).
                for (name, value) in self.bounds.settings().iter().take(3) {
                    begin.push_str(&format!("; SET LOCAL {name} = {value}"));
                }
                Some(begin)
            }
        }
    }

    /// Named (cached) prepared statements: only where a session is ours.
    pub fn named_statements(&self) -> bool {
        self.pooler == Pooler::Direct
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pooler_is_transaction_or_nothing() {
        assert_eq!(
            "transaction".parse::<Pooler>().ok(),
            Some(Pooler::Transaction)
        );
        assert_eq!("".parse::<Pooler>().ok(), Some(Pooler::Direct));
        assert!("session".parse::<Pooler>().is_err());
    }

    #[test]
    fn behind_a_transaction_pooler_each_transaction_sets_the_bounds_locally() {
        let mut database = Database::direct("postgres://u@h/d");
        assert_eq!(database.begin_statement(), None);
        database.pooler = Pooler::Transaction;
        assert_eq!(
            database.begin_statement().as_deref(),
            Some(
                "BEGIN; SET LOCAL lock_timeout = 5000; SET LOCAL statement_timeout = 120000; \
                 SET LOCAL idle_in_transaction_session_timeout = 15000"
            )
        );
    }
}
