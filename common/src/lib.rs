//! Plumbing shared by the pipeline's two Lambdas (`syncer`, `example-reader`): startup and
//! logging, AWS configuration and error descriptions, retry backoff, SSM secrets, settings.
//! The LaunchDarkly store itself is the `launchdarkly-dynamo-store` crate; this one only borrows
//! its backoff and its description of AWS errors, so each exists once.

pub mod aws;
pub mod backoff;
mod config_error;
pub mod http;
pub mod metrics;
pub mod secrets;
pub mod server;
pub mod settings;
pub mod ssm;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// True when running inside AWS Lambda.
pub fn in_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// True on Lambda Managed Instances: one execution environment serves many invocations at
/// once and never freezes between them; extensions get no `INVOKE` events there.
pub fn on_managed_instances() -> bool {
    std::env::var("AWS_LAMBDA_INITIALIZATION_TYPE").is_ok_and(|t| t == "lambda-managed-instances")
}

/// How many invocations one execution environment serves at once, when Lambda says
/// (`AWS_LAMBDA_MAX_CONCURRENCY`, set on Lambda Managed Instances).
pub fn max_concurrency() -> Option<usize> {
    std::env::var("AWS_LAMBDA_MAX_CONCURRENCY")
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|n| *n > 0)
}

/// Logs through `tracing` on stderr (stdout stays free for command output): JSON lines in
/// Lambda, for CloudWatch; readable text on a terminal. `RUST_LOG` sets the level (default info).
pub fn init_tracing(json: bool) {
    // The AWS SDK's own warnings (a region or credentials not found on the instance metadata
    // service, with debug dumps) come before the one line that says what to set: errors only.
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,aws_config=error,aws_smithy_runtime=error")
    });
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

/// Tells Lambda that the function could not start (`POST /runtime/init/error`), so the failure
/// shows as an init error with this message instead of a bare exit. Outside Lambda, does nothing.
pub async fn report_init_error(error_type: &str, message: &str) {
    if !in_lambda() {
        return;
    }
    let body = serde_json::json!({"errorType": error_type, "errorMessage": message}).to_string();
    let request = lambda_http::http::Request::post("/2018-06-01/runtime/init/error")
        .header("lambda-runtime-function-error-type", error_type)
        .header("content-type", "application/json")
        .body(lambda_runtime_api_client::body::Body::from(body));
    send_to_lambda(request, "Runtime API").await;
}

/// Tells Lambda that the external extension `extension_id` could not start
/// (`POST /extension/init/error`): the environment's init fails with this message.
pub async fn report_extension_init_error(extension_id: &str, error_type: &str, message: &str) {
    let body =
        serde_json::json!({"errorType": error_type, "errorMessage": message, "stackTrace": []})
            .to_string();
    let request = lambda_http::http::Request::post("/2020-01-01/extension/init/error")
        .header("lambda-extension-identifier", extension_id)
        .header("lambda-extension-function-error-type", error_type)
        .header("content-type", "application/json")
        .body(lambda_runtime_api_client::body::Body::from(body));
    send_to_lambda(request, "Extensions API").await;
}

async fn send_to_lambda(
    request: Result<
        lambda_http::http::Request<lambda_runtime_api_client::body::Body>,
        lambda_http::http::Error,
    >,
    api: &str,
) {
    let sent = match (
        lambda_runtime_api_client::Client::builder().build(),
        request,
    ) {
        (Ok(client), Ok(request)) => client
            .call(request)
            .await
            .map(drop)
            .map_err(|e| e.to_string()),
        (Err(e), _) => Err(e.to_string()),
        (_, Err(e)) => Err(e.to_string()),
    };
    if let Err(err) = sent {
        tracing::warn!("could not report the init error to the Lambda {api}: {err}");
    }
}

/// Prints one line on stdout (command output; logs go to stderr). A closed pipe (`| head`) is
/// not an error worth a panic.
pub fn print_line(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// `2026-12-01T21:04:05Z`: RFC 3339, UTC, whole seconds (what health and status answers show).
pub fn rfc3339(at: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(at).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Time left until a Lambda deadline given in milliseconds since the Unix epoch, minus a
/// margin for the runtime to send the answer.
pub fn time_left(deadline_epoch_millis: u64, margin: Duration) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Duration::from_millis(deadline_epoch_millis.saturating_sub(now)).saturating_sub(margin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
        let night = UNIX_EPOCH + Duration::from_secs(1_796_169_599);
        assert_eq!(rfc3339(night), "2026-12-01T23:59:59Z");
    }
}
