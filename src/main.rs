//! The `id2meta` binary: parse the command line, set up logging, run.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = id2meta::cli::Cli::parse();
    match id2meta::telemetry::LogFormat::from_env() {
        Ok(format) => {
            // The demo draws a progress line: only warnings may interrupt it.
            let quiet = matches!(cli.command, id2meta::cli::Command::Demo(_));
            let console = matches!(cli.command, id2meta::cli::Command::Console(_));
            let silenced = if console {
                id2meta::telemetry::CONSOLE_QUIET
            } else {
                &[]
            };
            id2meta::telemetry::init_silencing(
                format,
                if quiet { "warn" } else { "info" },
                silenced,
            )
        }
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
