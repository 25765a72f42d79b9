//! AWS plumbing both Lambdas need: the configuration chain with bounded timeouts, a clear
//! error when no region is set, and one-line descriptions of AWS SDK errors.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_ssm::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response as HttpResponse;

use crate::settings::ConfigError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(15);

/// The standard AWS configuration chain (environment, profile, `AWS_ENDPOINT_URL*`, region),
/// with timeouts so an unreachable endpoint fails instead of hanging. Fails with a line saying
/// what to set when no region is configured: the AWS SDK would otherwise fail every request
/// with an error that does not say so.
pub async fn load_config() -> Result<SdkConfig, ConfigError> {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .load()
        .await;
    match config.region() {
        Some(_) => Ok(config),
        None => Err(ConfigError::Missing(
            "AWS_REGION",
            "set the AWS region of the table (for example AWS_REGION=us-east-1), or a profile with a region",
        )),
    }
}

/// The AWS error code (or the kind of transport failure) and the message of an AWS SDK error,
/// with the transport's underlying cause spelled out.
pub fn describe_error<E>(err: &SdkError<E, HttpResponse>) -> (String, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let code = inner.code().map_or_else(
                || format!("HTTP {}", service.raw().status().as_u16()),
                str::to_string,
            );
            let message = inner
                .message()
                .map_or_else(|| inner.to_string(), str::to_string);
            (code, message)
        }
        SdkError::TimeoutError(_) => (
            "timeout".to_string(),
            "no answer within the configured timeout".to_string(),
        ),
        SdkError::DispatchFailure(_) => ("dispatch failure".to_string(), source_chain(err)),
        other => ("request failed".to_string(), source_chain(other)),
    }
}

/// The whole `source()` chain on one line.
pub fn source_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
