//! Plumbing shared by the pipeline's two Lambdas (`syncer`, `example-reader`): startup and
//! logging, AWS configuration and error descriptions, retry backoff, SSM secrets, settings.
//! The LaunchDarkly store itself is the `launchdarkly-dynamo-store` crate, which this one does
//! not depend on.

pub mod aws;
pub mod backoff;
pub mod http;
pub mod secrets;
pub mod settings;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// True when running inside AWS Lambda.
pub fn in_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// Logs through `tracing` on stderr (stdout stays free for command output): JSON lines in
/// Lambda, for CloudWatch; readable text on a terminal. `RUST_LOG` sets the level (default info).
pub fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only for a person at a terminal, never in files, pipes or CloudWatch.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(!json && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        builder
            .json()
            .with_current_span(false)
            .without_time()
            .init();
    } else {
        builder.init();
    }
}

/// Time left until a Lambda deadline given in milliseconds since the Unix epoch, minus a
/// margin for the runtime to send the answer.
pub fn time_left(deadline_epoch_millis: u64, margin: Duration) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Duration::from_millis(deadline_epoch_millis.saturating_sub(now)).saturating_sub(margin)
}
