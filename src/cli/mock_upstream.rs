//! `id2meta mock-upstream` (STUB: to be written).

/// Options of the mock upstream.
#[derive(Debug, clap::Args)]
pub struct MockUpstreamArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8099")]
    pub listen: std::net::SocketAddr,
}

pub async fn run(_args: MockUpstreamArgs) -> anyhow::Result<()> {
    todo!()
}
