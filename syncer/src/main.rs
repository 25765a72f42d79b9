use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use syncer::{handle, Cli, Command, Syncer, Trigger};
use tokio::time::Instant;

#[tokio::main]
async fn main() -> ExitCode {
    let in_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    init_tracing(in_lambda);
    let cli = Cli::parse();
    let config = match cli.settings.validate() {
        Ok(config) => config,
        Err(err) => {
            tracing::error!("invalid configuration: {err}");
            return ExitCode::from(2);
        }
    };
    if !in_lambda && cli.command != Some(Command::Sync) {
        eprintln!("nothing to do: run `syncer sync` for one sync, or `syncer --help`");
        return ExitCode::from(2);
    }
    let aws = launchdarkly_dynamo_store::load_default_config().await;
    let syncer = match Syncer::new(config, &aws).await {
        Ok(syncer) => syncer,
        Err(err) => {
            tracing::error!("could not start the syncer: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    if in_lambda {
        let syncer = &syncer;
        let result = lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
            // Keep a second for the runtime to send the answer.
            let remaining =
                Duration::from_millis(event.context.deadline.saturating_sub(epoch_millis()));
            let deadline = Instant::now() + remaining.saturating_sub(Duration::from_secs(1));
            handle(syncer, event.payload, deadline)
                .await
                .map_err(lambda_runtime::Error::from)
        }))
        .await;
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                tracing::error!("the Lambda runtime stopped: {err}");
                ExitCode::FAILURE
            }
        };
    }
    match syncer
        .sync(
            Trigger::Cli,
            Instant::now() + Duration::from_secs(24 * 3600),
        )
        .await
    {
        Ok(summary) => {
            println!("{}", serde_json::to_string(&summary).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!("sync failed, the table was left as it was: {err}");
            println!(
                "{}",
                serde_json::json!({"status": "error", "error": err.to_string()})
            );
            ExitCode::FAILURE
        }
    }
}

fn epoch_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// JSON lines in Lambda (CloudWatch), readable text on a terminal; always on stderr so stdout
/// carries only the summary.
fn init_tracing(json: bool) {
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
