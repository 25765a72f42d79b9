use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use syncer::{handle, Cli, Command, Syncer, Trigger};
use tokio::time::Instant;

/// Exit status of `syncer sync` when the sync ran but skipped items (1: failed, 2: bad settings).
const EXIT_PARTIAL: u8 = 3;

#[tokio::main]
async fn main() -> ExitCode {
    let in_lambda = ld_dynamo_common::in_lambda();
    ld_dynamo_common::init_tracing(in_lambda);
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
    let aws = match ld_dynamo_common::aws::load_config().await {
        Ok(aws) => aws,
        Err(err) => {
            tracing::error!("{err}");
            return ExitCode::from(2);
        }
    };
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
            let deadline = Instant::now()
                + ld_dynamo_common::time_left(event.context.deadline, Duration::from_secs(1));
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
            print_line(&serde_json::to_string(&summary).unwrap_or_default());
            if summary.is_partial() {
                tracing::warn!(
                    "sync partial: {} item(s) skipped and their stored rows kept (see the lines above)",
                    summary.skipped.len()
                );
                ExitCode::from(EXIT_PARTIAL)
            } else {
                ExitCode::SUCCESS
            }
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

/// Prints one line on stdout; a closed pipe (`| head`) is not an error worth a panic.
fn print_line(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}
