//! The `id2meta` command line: one binary, one subcommand per user task.

pub mod audit;
pub mod batch;
pub mod bench;
pub mod console;
pub mod dead_letters;
pub mod demo;
mod demo_oidc;
pub mod enqueue;
pub mod input;
pub mod mock_upstream;
pub mod people;
pub mod report;
pub mod results;
mod table;
pub mod worker;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "id2meta",
    version,
    about = "Verify name + Chinese resident ID pairs at scale, from RabbitMQ to PostgreSQL, through Alibaba Cloud Id2MetaVerifyIntl.",
    after_help = "Configuration comes from the environment and a .env file; see .env.example for every variable."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Consume and process jobs until SIGTERM/SIGINT; applies migrations at start.
    Worker(worker::WorkerArgs),
    /// Apply the database migrations and exit.
    Migrate(worker::MigrateArgs),
    /// Run the main job on an embedded default: mock upstream, worker, a sample batch, a summary.
    Demo(demo::DemoArgs),
    /// Measure throughput, QPS-budget use, latency and resources against the mock; print a table.
    Bench(bench::BenchArgs),
    /// A faithful stand-in for the Alibaba endpoint, for tests, demos and load work.
    MockUpstream(mock_upstream::MockUpstreamArgs),
    Enqueue(enqueue::EnqueueArgs),
    Results(results::ResultsArgs),
    Batch(batch::BatchArgs),
    DeadLetters(dead_letters::DeadLettersArgs),
    Console(console::ConsoleArgs),
    Audit(audit::AuditArgs),
    Forget(people::ForgetArgs),
    Lookup(people::LookupArgs),
    Report(report::ReportArgs),
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Worker(args) => worker::run(args).await,
        Command::Migrate(args) => worker::migrate(args).await,
        Command::MockUpstream(args) => mock_upstream::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Enqueue(args) => enqueue::run(args).await,
        Command::Results(args) => results::run(args).await,
        Command::Batch(args) => batch::run(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::DeadLetters(args) => dead_letters::run(args).await,
        Command::Console(args) => console::run(args).await,
        Command::Audit(args) => audit::run(args).await,
        Command::Forget(args) => people::run_forget(args).await,
        Command::Lookup(args) => people::run_lookup(args).await,
        Command::Report(args) => report::run(args).await,
    }
}
