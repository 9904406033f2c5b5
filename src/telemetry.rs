//! Logging: JSON lines for production, a readable format on a terminal.
//!
//! What is logged is decided where it happens; this module only shapes it. No
//! log line carries a name, an ID number or a key: those live in redacting types.

use std::io::IsTerminal;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
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
pub fn wanted(default_filter: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter))
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
    let _ = subscriber(format, wanted(default_filter), silenced, writer).try_init();
}

/// Colours only for a person at a terminal, never into a file or a pipe.
fn colours() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// The whole stack: the filters, then one output in `format`.
///
/// The filters are *global* layers, ahead of the output, never a per-layer
/// filter (`Layer::with_filter`) on it. A per-layer filter hands its verdict
/// from `enabled` to `on_event` through a thread-local that only `enabled`
/// writes, and a callsite whose interest is cached as `always` (every one of
/// ours at `info`) skips `enabled`. Any `enabled` call not followed by its own
/// event (each `log` record of reqwest, rustls or sqlx asks through the
/// `log` bridge, which `try_init` installs) leaves "disabled" in that
/// thread-local, and the next event of ours on that thread was dropped:
/// a worker that settled 60 jobs wrote 4 lines (tokio-rs/tracing#2519).
/// With one output there is nothing a per-layer filter would add.
pub fn subscriber<W>(
    format: LogFormat,
    wanted: EnvFilter,
    silenced: &[&str],
    writer: W,
) -> impl tracing::Subscriber + Send + Sync + for<'a> LookupSpan<'a>
where
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = fmt::layer().with_writer(writer);
    let output = match format {
        Format::Json => layer
            .with_ansi(false)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        Format::Pretty => layer.compact().with_ansi(colours()).boxed(),
    };
    tracing_subscriber::registry()
        .with(wanted)
        .with(dependency_cap())
        .with(silencing(silenced))
        .with(output)
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

    impl Captured {
        fn text(&self) -> String {
            let kept = self.0.lock().map(|k| k.clone()).unwrap_or_default();
            String::from_utf8_lossy(&kept).into_owned()
        }
    }

    /// Runs `emit` under the production stack ([`subscriber`]) with these
    /// directives; returns what came out.
    fn logged_with(
        format: LogFormat,
        directives: &str,
        silenced: &[&str],
        emit: impl FnOnce(),
    ) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let stack = subscriber(format, EnvFilter::new(directives), silenced, move || {
            writer.clone()
        });
        tracing::subscriber::with_default(stack, emit);
        captured.text()
    }

    /// Logs one event per (target, level) under `directives`; returns what came out.
    fn logged_under(directives: &str) -> String {
        logged_with(Format::Pretty, directives, &[], || {
            tracing::trace!(target: "lapin::channel", "lapin-trace-frame");
            tracing::debug!(target: "lapin", "lapin-debug");
            tracing::info!(target: "lapin::connection", "lapin-info");
            tracing::trace!(target: "amq_protocol_types::parsing", "amq-trace");
            tracing::trace!(target: "reqwest::connect", "reqwest-trace");
            tracing::trace!(target: "hyper_util::client", "hyper-util-trace");
            tracing::debug!(target: "sqlx::query", "sqlx-debug");
            tracing::trace!(target: "id2meta::pipeline", "own-trace");
        })
    }

    /// What the `log` bridge asks for a dependency's `log::trace!` record: metadata
    /// made at run time, checked with `enabled` outside any callsite's cache.
    struct LogRecordCallsite;
    impl tracing::callsite::Callsite for LogRecordCallsite {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &tracing::Metadata<'_> {
            &LOG_RECORD
        }
    }
    static LOG_RECORD_CALLSITE: LogRecordCallsite = LogRecordCallsite;
    static LOG_RECORD: tracing::Metadata<'static> = tracing::Metadata::new(
        "log record",
        "rustls::client::hs",
        tracing::Level::TRACE,
        None,
        None,
        None,
        tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&LOG_RECORD_CALLSITE)),
        tracing::metadata::Kind::EVENT,
    );

    #[test]
    fn an_event_of_ours_after_a_dependencys_refused_log_record_is_still_written() {
        for format in [Format::Json, Format::Pretty] {
            let logged = logged_with(format, "info", &[], || {
                for job in 0..3 {
                    // As the `log` bridge does for every record of reqwest or rustls.
                    let wanted = tracing::dispatcher::get_default(|d| d.enabled(&LOG_RECORD));
                    assert!(!wanted, "a dependency's trace record is refused");
                    tracing::info!(target: "id2meta::pipeline::settle", job, "job settled");
                }
            });
            assert_eq!(
                logged.matches("job settled").count(),
                3,
                "{format:?}: {logged}"
            );
        }
    }

    #[test]
    fn the_console_drops_lapins_channel_close_error_and_keeps_its_other_errors() {
        let logged = logged_with(Format::Json, "info", CONSOLE_QUIET, || {
            tracing::error!(target: "lapin::channel", "channel-closed-404");
            tracing::error!(target: "lapin::channels", "connection-error");
            tracing::warn!(target: "id2meta::console", "console-warning");
        });
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
