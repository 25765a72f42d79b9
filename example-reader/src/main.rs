use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use example_reader::startup::{start_reader, StartError};
use example_reader::{events, handle, parse_context, serve, Cli, Command, Config, Reader};
use lambda_http::{service_fn, Request};

#[tokio::main]
async fn main() -> ExitCode {
    let in_lambda = ld_dynamo_common::in_lambda();
    ld_dynamo_common::init_tracing(in_lambda);
    let cli = Cli::parse();
    let config = match cli.settings.validate() {
        Ok(config) => config,
        Err(err) => {
            tracing::error!("invalid configuration: {err}");
            ld_dynamo_common::report_init_error("Runtime.InvalidConfiguration", &err.to_string())
                .await;
            return ExitCode::from(2);
        }
    };
    let command = match (in_lambda, cli.command) {
        (true, _) => None,
        (false, Some(command)) => Some(command),
        (false, None) => {
            eprintln!("nothing to do: run `example-reader eval <flag> --context <JSON>`, `example-reader serve`, or `example-reader --help`");
            return ExitCode::from(2);
        }
    };
    let send_events = match &command {
        None | Some(Command::Serve { .. }) => true,
        Some(Command::Eval { send_events, .. }) => *send_events,
    };
    let reader = match start_reader(&config, send_events).await {
        Ok(reader) => Arc::new(reader),
        Err(err) => {
            tracing::error!("could not start the reader: {err}");
            ld_dynamo_common::report_init_error("Runtime.InitError", &err.to_string()).await;
            return match err {
                StartError::Configuration(_) => ExitCode::from(2),
                StartError::Client(_) => ExitCode::FAILURE,
            };
        }
    };
    match command {
        None => serve_lambda(reader, &config).await,
        Some(Command::Serve { port }) => match serve::serve(reader, port).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                tracing::error!("the local server stopped: {err:#}");
                ExitCode::FAILURE
            }
        },
        Some(Command::Eval {
            flag,
            all,
            context,
            key,
            kind,
            ..
        }) => eval(&reader, flag.filter(|_| !all), context, key, kind).await,
    }
}

/// Serves HTTP invocations; events go out after responses, never before.
async fn serve_lambda(reader: Arc<Reader>, config: &Config) -> ExitCode {
    let answered = if reader.sends_events() {
        match events::start(reader.clone(), config.events_interval).await {
            Ok(answered) => Some(answered),
            Err(err) => {
                tracing::warn!("analytics events will be delivered only while the function runs: the events extension did not register: {err}");
                None
            }
        }
    } else {
        None
    };
    let reader = &reader;
    let answered = &answered;
    let result = lambda_http::run(service_fn(|request: Request| async move {
        let response = handle(reader, &request).await;
        if let Some(answered) = answered {
            answered.one_more();
        }
        Ok::<_, std::convert::Infallible>(response)
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

/// `example-reader eval`: one line of JSON, or one line saying why the store cannot answer.
async fn eval(
    reader: &Reader,
    flag: Option<String>,
    context: Option<String>,
    key: Option<String>,
    kind: String,
) -> ExitCode {
    let context = match parse_context(context.as_deref(), key.as_deref(), Some(&kind)) {
        Ok(context) => context,
        Err(err) => {
            tracing::error!("{err}");
            return ExitCode::from(2);
        }
    };
    let answer = match &flag {
        Some(flag) => reader.evaluate(flag, &context).await,
        None => reader.evaluate_all(&context).await,
    };
    reader.close();
    match answer {
        Ok(result) => {
            ld_dynamo_common::print_line(&result.to_string());
            ExitCode::SUCCESS
        }
        Err(unavailable) => {
            tracing::error!("{unavailable}");
            ld_dynamo_common::print_line(
                &serde_json::json!({"status": "unavailable", "error": unavailable.to_string()})
                    .to_string(),
            );
            ExitCode::from(3)
        }
    }
}
