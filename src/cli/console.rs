//! `id2meta console`: the web console (see `docs/console.md`).

use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::console::{self, ConsoleSettings};
use crate::secret::Secret;

/// Serve the web console: fleet, batches, jobs, dead letters
///
/// A separate process that reads PostgreSQL and RabbitMQ (DATABASE_URL,
/// AMQP_URL, ID2META_JOBS_QUEUE, ID2META_QPS as the workers have them), so
/// one console serves any number of workers. It shows masked data only.
/// Reading needs nothing on loopback; the actions (cancel a batch, replay or
/// purge dead letters) need ID2META_CONSOLE_TOKEN, entered in the login form
/// or sent as `Authorization: Bearer`. Without a token the actions answer
/// 403, and a non-loopback --listen is refused. Set ID2META_MANAGEMENT_URL
/// (e.g. http://guest:guest@127.0.0.1:15672) to show unacknowledged counts.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ConsoleArgs {
    /// Where to listen.
    #[arg(long, env = "ID2META_CONSOLE_ADDR", default_value = "127.0.0.1:9465")]
    pub listen: SocketAddr,
}

pub async fn run(args: ConsoleArgs) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let nonempty = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let settings = ConsoleSettings {
        listen: args.listen,
        token: nonempty("ID2META_CONSOLE_TOKEN").map(Secret::new),
        management_url: nonempty("ID2META_MANAGEMENT_URL"),
    };
    let shutdown: CancellationToken = crate::shutdown::on_signals();
    let running = console::start(config, settings, shutdown).await?;
    println!("console on http://{}", running.addr);
    running.wait().await;
    Ok(())
}
