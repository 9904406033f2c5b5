//! Logging: JSON lines for production, a readable format on a terminal.
//!
//! What is logged is decided where it happens; this module only shapes it. No
//! log line carries a name, an ID number or a key: those live in redacting types.

use std::io::IsTerminal;

use tracing_subscriber::{fmt, EnvFilter};

/// `ID2META_LOG_FORMAT`: `json` or `pretty`; unset → pretty on a terminal, else JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl LogFormat {
    pub fn from_env() -> anyhow::Result<Self> {
        match std::env::var("ID2META_LOG_FORMAT").ok().as_deref() {
            Some("json") => Ok(Self::Json),
            Some("pretty") => Ok(Self::Pretty),
            None | Some("") => Ok(if std::io::stderr().is_terminal() {
                Self::Pretty
            } else {
                Self::Json
            }),
            Some(other) => {
                anyhow::bail!("ID2META_LOG_FORMAT must be json or pretty, got '{other}'")
            }
        }
    }
}

/// Installs the global subscriber (a second call is a no-op), logging to stderr.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        Format::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        Format::Pretty => builder.compact().try_init(),
    };
}

use LogFormat as Format;
