//! The `id2meta` command line: one binary, one subcommand per user task.

pub mod mock_upstream;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "id2meta",
    version,
    about = "Verify name + Chinese resident ID pairs at scale, from RabbitMQ to PostgreSQL, through Alibaba Cloud Id2MetaVerifyIntl."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// A faithful stand-in for the Alibaba endpoint, for tests, demos and load work.
    MockUpstream(mock_upstream::MockUpstreamArgs),
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::MockUpstream(args) => mock_upstream::run(args).await,
    }
}
