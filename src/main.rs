//! The `id2meta` binary: parse the command line, set up logging, run.

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Before the runtime starts its threads (see `allocator`).
    id2meta::allocator::configure();
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
        Ok(format) => {
            // The demo draws a progress line: only warnings may interrupt it.
            let quiet = matches!(cli.command, id2meta::cli::Command::Demo(_));
            id2meta::telemetry::init(format, if quiet { "warn" } else { "info" })
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
