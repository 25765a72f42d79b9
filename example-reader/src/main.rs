use std::process::ExitCode;
use std::sync::Arc;

use std::time::Duration;

use clap::Parser;
use example_reader::routes::{all_flags_body, flag_body, flag_line, ErrorBody};
use example_reader::{after_answer, app, lambda_app, Cli, Command};
use launchdarkly_dynamo_common::server::ServerLimits;
use launchdarkly_dynamo_reader::startup::{start_reader, StartError};
use launchdarkly_dynamo_reader::{parse_context, Reader, ReaderConfig};
use tower::ServiceExt;

/// Longest a request waits for a due check of the table before it is answered from memory.
const REQUEST_WAIT: Duration = Duration::from_millis(150);

/// The reader's settings, or `None` after saying (and, in Lambda, reporting) what is wrong.
async fn validated(cli: &Cli) -> Option<ReaderConfig> {
    match cli.settings.validate() {
        Ok(config) => Some(ReaderConfig {
            request_wait: REQUEST_WAIT,
            ..config
        }),
        Err(err) => {
            tracing::error!("invalid configuration: {err}");
            launchdarkly_dynamo_common::report_init_error(
                "Runtime.InvalidConfiguration",
                &err.to_string(),
            )
            .await;
            None
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let in_lambda = launchdarkly_dynamo_common::in_lambda();
    launchdarkly_dynamo_common::init_tracing(in_lambda);
    let cli = Cli::parse();
    let Some(config) = validated(&cli).await else {
        return ExitCode::from(2);
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
    let reader = match start(&config, send_events).await {
        Ok(reader) => reader,
        Err(code) => return code,
    };
    match command {
        None => serve_lambda(reader, &config).await,
        Some(Command::Serve { port }) => match serve_locally(reader, port).await {
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
            text,
            ..
        }) => {
            let question = Question {
                flag: flag.filter(|_| !all),
                context,
                key,
                kind,
                text,
            };
            eval(&reader, question).await
        }
    }
}

/// The read engine, or the exit status after saying (and telling Lambda) why it cannot start.
async fn start(config: &ReaderConfig, send_events: bool) -> Result<Arc<Reader>, ExitCode> {
    match start_reader(config, send_events).await {
        Ok(reader) => Ok(Arc::new(reader)),
        Err(err) => {
            tracing::error!("could not start the reader: {err}");
            launchdarkly_dynamo_common::report_init_error("Runtime.InitError", &err.to_string())
                .await;
            Err(match err {
                StartError::Configuration(_) => ExitCode::from(2),
                StartError::Client(_) => ExitCode::FAILURE,
            })
        }
    }
}

/// Serves HTTP invocations; what follows an answer (a check of the table ending, events)
/// happens after the response, never before.
async fn serve_lambda(reader: Arc<Reader>, config: &ReaderConfig) -> ExitCode {
    let answered = match after_answer::start(reader.clone(), config.events_interval).await {
        Ok(answered) => Some(answered),
        Err(err) => {
            tracing::warn!("the reader's internal extension did not register, so analytics events are delivered only while the function runs and a check of the table may be frozen half-way: {err}");
            None
        }
    };
    let app = lambda_app(reader.clone());
    // Sequential in Lambda; on Lambda Managed Instances as many at once as
    // AWS_LAMBDA_MAX_CONCURRENCY says, each with its own deadline and settling.
    let result =
        lambda_http::run_concurrent(tower::service_fn(move |request: lambda_http::Request| {
            let (app, answered, reader) = (app.clone(), answered.clone(), reader.clone());
            async move {
                let response = buffered(app.oneshot(request).await).await;
                if let Some(answered) = &answered {
                    answered.one_more();
                }
                // One metric record per invocation that evaluated (printed before the answer is
                // sent: a line on stdout, no I/O that can wait).
                if let Some(record) = reader.take_metrics("reader") {
                    record.emit();
                }
                response
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

/// The router's answer converted as `lambda_http` converts any response (text for JSON), ahead
/// of time: the concurrent runtime wants a response it can share between threads.
async fn buffered(
    response: Result<axum::response::Response, std::convert::Infallible>,
) -> Result<lambda_http::Response<lambda_http::Body>, std::convert::Infallible> {
    let Ok(response) = response;
    Ok(lambda_http::IntoResponse::into_response(response).await)
}

/// `example-reader serve`: the same routes on 127.0.0.1, on the bounded local server.
async fn serve_locally(reader: Arc<Reader>, port: u16) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!(
        "serving the reader's API on http://{}",
        listener.local_addr()?
    );
    launchdarkly_dynamo_common::server::serve(listener, app(reader), ServerLimits::default())
        .await?;
    Ok(())
}

/// The evaluation of one flag (or of every flag) as `eval` prints it.
fn answer(
    reader: &Reader,
    flag: Option<&str>,
    context: &launchdarkly_server_sdk::Context,
    text: bool,
) -> Result<String, launchdarkly_dynamo_reader::Unavailable> {
    let line =
        |evaluation: &launchdarkly_dynamo_reader::Evaluation| flag_line(evaluation, context.key());
    Ok(match flag {
        Some(flag) if text => line(&reader.evaluate(flag, context)?),
        Some(flag) => flag_body(&reader.evaluate(flag, context)?).to_string(),
        None if text => {
            let lines: Vec<String> = reader.evaluate_all(context)?.iter().map(line).collect();
            lines.join("\n")
        }
        None => all_flags_body(&reader.evaluate_all(context)?).to_string(),
    })
}

/// What `example-reader eval` was asked.
struct Question {
    /// One flag, or every flag when `None`.
    flag: Option<String>,
    context: Option<String>,
    key: Option<String>,
    kind: String,
    /// Lines for a person instead of JSON.
    text: bool,
}

/// `example-reader eval`: one line of JSON, or one line saying why the store cannot answer.
async fn eval(reader: &Reader, question: Question) -> ExitCode {
    let Question {
        flag,
        context,
        key,
        kind,
        text,
    } = question;
    let context = match parse_context(context.as_deref(), key.as_deref(), Some(&kind)) {
        Ok(context) => context,
        Err(err) => {
            tracing::error!("{err}");
            return ExitCode::from(2);
        }
    };
    // As a request would: one flag from point reads if the copy is not there yet, every flag
    // once the first load is done (its deadlines bound the wait).
    match &flag {
        Some(flag) => reader.check_before_answer_for(flag).await,
        None => reader.check_before_answer().await,
    }
    let answer = answer(reader, flag.as_deref(), &context, text);
    reader.close();
    match answer {
        Ok(result) => {
            launchdarkly_dynamo_common::print_line(&result);
            ExitCode::SUCCESS
        }
        Err(unavailable) => {
            // The operator's own command keeps the whole detail.
            tracing::error!("{}", unavailable.detail());
            let body = ErrorBody::unavailable(&unavailable, unavailable.detail());
            launchdarkly_dynamo_common::print_line(
                &serde_json::to_string(&body).unwrap_or_default(),
            );
            ExitCode::from(3)
        }
    }
}
