//! AWS plumbing both Lambdas need: the configuration chain with bounded timeouts, a clear
//! error when no region is set, and one-line descriptions of AWS SDK errors.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

use crate::config_error::ConfigError;

pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
pub(crate) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
pub(crate) const OPERATION_TIMEOUT: Duration = Duration::from_secs(15);

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

/// The AWS error code (or the kind of transport failure) and the message of an AWS SDK error:
/// the store's description, so every log line describes AWS errors alike.
pub use launchdarkly_dynamo_store::describe_aws_error as describe_error;
