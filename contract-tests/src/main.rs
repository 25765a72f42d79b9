//! The test service LaunchDarkly's sdk-test-harness drives: the Rust server SDK configured with
//! this workspace's DynamoDB store. A thin adapter over the harness's protocol (see
//! `../shared/tools/sdk-test-harness/README.md`); `make contract-tests` runs it.

mod client;
mod protocol;
mod service;

use clap::Parser;

/// Serves the sdk-test-harness protocol on loopback.
#[derive(Parser)]
#[command(name = "contract-tests")]
struct Args {
    /// Port to listen on (127.0.0.1).
    #[arg(long, env = "PORT", default_value_t = 8000)]
    port: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    service::serve(args.port).await
}
