use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = id2meta::cli::Cli::parse();
    match id2meta::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
