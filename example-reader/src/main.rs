use std::process::ExitCode;

use clap::Parser;
use example_reader::{handle, parse_context, Cli, Command, Reader, Request};
use lambda_runtime::{service_fn, LambdaEvent};
use ld_dynamo_common::secrets::CachedSecret;
use serde_json::Value;

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
    if !in_lambda && cli.command.is_none() {
        eprintln!("nothing to do: run `example-reader eval <flag> --context <JSON>`, or `example-reader --help`");
        return ExitCode::from(2);
    }
    let aws = match ld_dynamo_common::aws::load_config().await {
        Ok(aws) => aws,
        Err(err) => {
            tracing::error!("{err}");
            return ExitCode::from(2);
        }
    };
    let sdk_key = match &config.sdk_key {
        None => None,
        Some(source) => {
            let secret = CachedSecret::new(
                source.clone(),
                aws_sdk_ssm::Client::new(&aws),
                std::time::Duration::MAX,
            );
            match secret.get().await {
                Ok(value) => value,
                Err(err) => {
                    tracing::warn!("analytics events are off: {err}");
                    None
                }
            }
        }
    };
    let reader = match Reader::new(
        &config,
        aws_sdk_dynamodb::Client::new(&aws),
        sdk_key.as_ref().map(|s| s.expose()),
    ) {
        Ok(reader) => reader,
        Err(err) => {
            tracing::error!("could not start the reader: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    if in_lambda {
        let reader = &reader;
        let result = lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
            let request = Request::from_event(&event.payload);
            Ok::<Value, lambda_runtime::Error>(handle(reader, &request).await.into_event())
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
    let Some(Command::Eval {
        flag,
        all,
        context,
        key,
        kind,
    }) = cli.command
    else {
        return ExitCode::from(2);
    };
    let context = match parse_context(context.as_deref(), key.as_deref(), Some(&kind)) {
        Ok(context) => context,
        Err(err) => {
            tracing::error!("{err}");
            return ExitCode::from(2);
        }
    };
    let result = match (all, flag) {
        (true, _) | (false, None) => reader.evaluate_all(&context),
        (false, Some(flag)) => reader.evaluate(&flag, &context),
    };
    reader.close();
    print_line(&result.to_string());
    ExitCode::SUCCESS
}

/// Prints one line on stdout; a closed pipe (`| head`) is not an error worth a panic.
fn print_line(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}
