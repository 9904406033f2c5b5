//! Logging: JSON lines for production, a readable format on a terminal.
//!
//! What is logged is decided where it happens; this module only shapes it. No
//! log line carries a name, an ID number or a key: those live in redacting types.

use std::io::IsTerminal;

use tracing_subscriber::filter::{FilterExt, LevelFilter, Targets};
use tracing_subscriber::layer::{Filter, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
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

/// Crates whose own logs stop at `info`, whatever `RUST_LOG` asks: at `debug` and
/// `trace` they print what passes through them (lapin whole AMQP frames, message
/// bodies included; the HTTP stack the signed query with the name and ID number in
/// it; sqlx the bound values). A prefix covers the crate's modules and its sibling
/// crates (`amq_protocol` covers `amq_protocol_types`, `hyper` covers `hyper_util`).
pub const CAPPED_DEPENDENCIES: &[&str] = &[
    "lapin",
    "amq_protocol",
    "reqwest",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "sqlx",
    "tower",
    "axum",
];

/// The ceiling for [`CAPPED_DEPENDENCIES`]; every other target is left to `RUST_LOG`.
pub fn dependency_cap() -> Targets {
    CAPPED_DEPENDENCIES.iter().fold(
        Targets::new().with_default(LevelFilter::TRACE),
        |cap, target| cap.with_target(*target, LevelFilter::INFO),
    )
}

/// Targets the console process does not log at all: lapin's `lapin::channel`
/// logs an ERROR for every channel the broker closes, and the console's passive
/// declare of a queue not declared yet (`<jobs>.interactive` before a worker made
/// it) is answered exactly so. Every such close also reaches the console as the
/// `Err` of its call, which the console reports itself (the page's note, its own
/// warnings), so nothing is lost but the duplicate, misleading ERROR line.
pub const CONSOLE_QUIET: &[&str] = &["lapin::channel"];

/// What is logged: what `RUST_LOG` (or `default_filter`) enables, and for the
/// dependencies no more than the cap. Both must agree, so no directive, however
/// specific (`lapin::channels=trace`), lifts a dependency above `info`.
/// `silenced` targets log nothing.
pub fn filter<S>(default_filter: &str, silenced: &[&str]) -> impl Filter<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let wanted =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    wanted.and(dependency_cap()).and(silencing(silenced))
}

/// Drops the events of exactly the `silenced` targets (not their prefixes:
/// `lapin::channel` must not silence `lapin::channels`, the connection's errors).
pub fn silencing(
    silenced: &[&str],
) -> tracing_subscriber::filter::FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    let silenced: Vec<String> = silenced.iter().map(|t| (*t).to_string()).collect();
    tracing_subscriber::filter::filter_fn(move |meta| !silenced.iter().any(|t| t == meta.target()))
}

/// Installs the global subscriber (a second call is a no-op), logging to stderr.
pub fn init(format: LogFormat, default_filter: &str) {
    init_silencing(format, default_filter, &[]);
}

/// [`init`], with `silenced` targets logging nothing (see [`CONSOLE_QUIET`]).
pub fn init_silencing(format: LogFormat, default_filter: &str, silenced: &[&str]) {
    install(format, default_filter, silenced, std::io::stderr);
}

/// As [`init`], but every line goes to `path` (created or truncated) instead:
/// for a command whose own output is its point (`bench`), while the workers it
/// runs in process still log as in production.
pub fn init_to_file(
    format: LogFormat,
    default_filter: &str,
    path: &std::path::Path,
) -> std::io::Result<()> {
    let file = std::sync::Arc::new(std::fs::File::create(path)?);
    install(format, default_filter, &[], file);
    Ok(())
}

fn install<W>(format: LogFormat, default_filter: &str, silenced: &[&str], writer: W)
where
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = fmt::layer().with_writer(writer);
    // Trace export (`traces`): no layer unless OTEL_EXPORTER_OTLP_ENDPOINT is set, and
    // its spans never reach the log layers.
    let registry = tracing_subscriber::registry().with(crate::traces::layer());
    let logged = filter(default_filter, silenced).and(crate::traces::not_exported());
    let _ = match format {
        Format::Json => registry
            .with(
                layer
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_filter(logged),
            )
            .try_init(),
        Format::Pretty => registry
            .with(layer.compact().with_filter(logged))
            .try_init(),
    };
}

use LogFormat as Format;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer that keeps what was logged, for the assertions.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut kept) = self.0.lock() {
                kept.extend_from_slice(bytes);
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Logs one event per (target, level) under `directives`; returns what came out.
    fn logged_under(directives: &str) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry().with(
            fmt::layer()
                .with_writer(move || writer.clone())
                .with_filter(EnvFilter::new(directives).and(dependency_cap())),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "lapin::channel", "lapin-trace-frame");
            tracing::debug!(target: "lapin", "lapin-debug");
            tracing::info!(target: "lapin::connection", "lapin-info");
            tracing::trace!(target: "amq_protocol_types::parsing", "amq-trace");
            tracing::trace!(target: "reqwest::connect", "reqwest-trace");
            tracing::trace!(target: "hyper_util::client", "hyper-util-trace");
            tracing::debug!(target: "sqlx::query", "sqlx-debug");
            tracing::trace!(target: "id2meta::pipeline", "own-trace");
        });
        let kept = captured.0.lock().map(|k| k.clone()).unwrap_or_default();
        String::from_utf8_lossy(&kept).into_owned()
    }

    #[test]
    fn the_console_drops_lapins_channel_close_error_and_keeps_its_other_errors() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry().with(
            fmt::layer()
                .with_writer(move || writer.clone())
                .with_filter(
                    EnvFilter::new("info")
                        .and(dependency_cap())
                        .and(silencing(CONSOLE_QUIET)),
                ),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(target: "lapin::channel", "channel-closed-404");
            tracing::error!(target: "lapin::channels", "connection-error");
            tracing::warn!(target: "id2meta::console", "console-warning");
        });
        let kept = captured.0.lock().map(|k| k.clone()).unwrap_or_default();
        let logged = String::from_utf8_lossy(&kept);
        assert!(!logged.contains("channel-closed-404"), "{logged}");
        assert!(logged.contains("connection-error"), "{logged}");
        assert!(logged.contains("console-warning"), "{logged}");
    }

    #[test]
    fn rust_log_trace_cannot_lift_a_dependency_above_info() {
        for directives in [
            "trace",
            "lapin=trace,amq_protocol_types=trace",
            "lapin::channel=trace,trace",
        ] {
            let logged = logged_under(directives);
            for hidden in [
                "lapin-trace-frame",
                "lapin-debug",
                "amq-trace",
                "reqwest-trace",
                "hyper-util-trace",
                "sqlx-debug",
            ] {
                assert!(!logged.contains(hidden), "{directives}: {hidden} logged");
            }
            assert!(logged.contains("lapin-info"), "{directives}: info is kept");
        }
        assert!(
            logged_under("trace").contains("own-trace"),
            "our own trace stays"
        );
    }

    #[test]
    fn every_dependency_the_cap_names_stops_at_info() {
        let cap = dependency_cap();
        for target in CAPPED_DEPENDENCIES {
            let module = format!("{target}::inner");
            assert!(
                !cap.would_enable(&module, &tracing::Level::DEBUG),
                "{module}"
            );
            assert!(cap.would_enable(&module, &tracing::Level::INFO), "{module}");
        }
        assert!(cap.would_enable("id2meta::app", &tracing::Level::TRACE));
    }
}
