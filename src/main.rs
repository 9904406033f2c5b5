//! The `id2meta` binary: parse the command line, set up logging, run.

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Before the runtime starts its threads (see `allocator`).
    id2meta::allocator::configure();
    // ring, the build's one TLS provider, before any client is built (`tls`).
    id2meta::tls::install_provider();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run()),
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> std::process::ExitCode {
    let cli = id2meta::cli::Cli::parse();
    match id2meta::telemetry::LogFormat::from_env() {
        Ok(format) => match &cli.command {
            // The bench prints only its progress and its table: the workers it runs
            // in process log to a file (named in its progress), as JSON lines.
            id2meta::cli::Command::Bench(_) => {
                let path = id2meta::cli::bench::log_path();
                let json = id2meta::telemetry::LogFormat::Json;
                if let Err(error) = id2meta::telemetry::init_to_file(json, "info", &path) {
                    eprintln!("error: creating the log file {}: {error}", path.display());
                    return std::process::ExitCode::FAILURE;
                }
            }
            // The demo draws a progress line: only warnings may interrupt it.
            id2meta::cli::Command::Demo(_) => id2meta::telemetry::init(format, "warn"),
            // The console silences lapin's log of every channel the broker closes
            // (a passive declare of a missing queue): it reports that error itself.
            id2meta::cli::Command::Console(_) => id2meta::telemetry::init_silencing(
                format,
                "info",
                id2meta::telemetry::CONSOLE_QUIET,
            ),
            _ => id2meta::telemetry::init(format, "info"),
        },
        Err(error) => {
            eprintln!("error: {error:#}");
            return std::process::ExitCode::FAILURE;
        }
    }
    match id2meta::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "exiting");
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
