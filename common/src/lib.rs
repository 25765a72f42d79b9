//! Code shared by the pipeline's two Lambdas (`syncer`, `example-reader`).

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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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
