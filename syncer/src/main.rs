use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use lambda_http::{service_fn, Request, RequestExt};
use syncer::failure::{ErrorBody, FailureCategory};
use syncer::{handle, Cli, Command, Syncer, Trigger};
use tokio::time::Instant;

/// Exit status of `syncer sync` when the sync ran but skipped items (1: failed, 2: bad settings).
const EXIT_PARTIAL: u8 = 3;

// One thread: a sync waits on the network, and every extra thread keeps its own malloc arena
// (memory the function pays for).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let in_lambda = launchdarkly_dynamo_common::in_lambda();
    launchdarkly_dynamo_common::init_tracing(in_lambda);
    let cli = Cli::parse();
    let validated = match &cli.command {
        Some(Command::Status { .. }) => cli.settings.validate_for_status(),
        Some(Command::Sync {
            from_file: Some(path),
            ..
        }) => cli.settings.validate_for_file(path),
        _ => cli.settings.validate(),
    };
    let config = match validated {
        Ok(config) => config,
        Err(err) => {
            tracing::error!("invalid configuration: {err}");
            launchdarkly_dynamo_common::report_init_error(
                "Runtime.InvalidConfiguration",
                &err.to_string(),
            )
            .await;
            return ExitCode::from(2);
        }
    };
    if !in_lambda && cli.command.is_none() {
        eprintln!(
            "nothing to do: run `syncer sync` for one sync, `syncer status`, or `syncer --help`"
        );
        return ExitCode::from(2);
    }
    let aws = match launchdarkly_dynamo_common::aws::load_config().await {
        Ok(aws) => aws,
        Err(err) => {
            tracing::error!("{err}");
            launchdarkly_dynamo_common::report_init_error(
                "Runtime.InvalidConfiguration",
                &err.to_string(),
            )
            .await;
            return ExitCode::from(2);
        }
    };
    let syncer = match Syncer::new(config, &aws).await {
        Ok(syncer) => syncer,
        Err(err) => {
            tracing::error!("could not start the syncer: {err:#}");
            launchdarkly_dynamo_common::report_init_error("Runtime.InitError", &format!("{err:#}"))
                .await;
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Some(Command::Status { json }) => print_status(&syncer, json).await,
        _ if in_lambda => serve_lambda(std::sync::Arc::new(syncer)).await,
        Some(Command::Sync { text, .. }) => sync_once(&syncer, text).await,
        None => sync_once(&syncer, false).await,
    }
}

/// `syncer status`: the table's sync state, as text or one JSON object.
async fn print_status(syncer: &Syncer, json: bool) -> ExitCode {
    match syncer.status().await {
        Ok(report) if json => {
            launchdarkly_dynamo_common::print_line(
                &serde_json::to_string(&report).unwrap_or_default(),
            );
            ExitCode::SUCCESS
        }
        Ok(report) => {
            launchdarkly_dynamo_common::print_line(&report.to_text());
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!("could not read the sync status: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Every invocation: webhooks as HTTP requests, other events passed through. On Lambda
/// Managed Instances (`AWS_LAMBDA_MAX_CONCURRENCY`) several at once: the lease and the
/// coalescing of triggers hold across concurrent invocations as across containers.
async fn serve_lambda(syncer: std::sync::Arc<Syncer>) -> ExitCode {
    let result = lambda_http::run_concurrent(service_fn(move |request: Request| {
        let syncer = syncer.clone();
        async move {
            // Each invocation's own deadline, less a second for the runtime to send the answer.
            let deadline =
                request
                    .lambda_context_ref()
                    .map_or(Duration::from_secs(60), |context| {
                        launchdarkly_dynamo_common::time_left(
                            context.deadline,
                            Duration::from_secs(1),
                        )
                    });
            handle(&syncer, request, Instant::now() + deadline).await
        }
    }))
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("the Lambda runtime stopped: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `syncer sync`: one reconciling sync, one JSON line (or one line of text).
async fn sync_once(syncer: &Syncer, text: bool) -> ExitCode {
    let deadline = Instant::now() + Duration::from_secs(24 * 3600);
    match syncer.sync(Trigger::Cli, deadline).await {
        Ok(summary) => {
            let line = if text {
                summary.to_text()
            } else {
                serde_json::to_string(&summary).unwrap_or_default()
            };
            launchdarkly_dynamo_common::print_line(&line);
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
            let body = ErrorBody::failed(FailureCategory::of(&err), err.to_string());
            launchdarkly_dynamo_common::print_line(&body.to_value().to_string());
            ExitCode::FAILURE
        }
    }
}
