//! Settings both Lambdas read, under the same variable names (other tools rely on them).

use clap::Args;

pub use crate::config_error::ConfigError;
use crate::secrets::{Secret, SecretSource};

/// The table and prefix.
#[derive(Args, Debug, Clone, Default)]
pub struct TableArgs {
    /// DynamoDB table (partition key `namespace` S, sort key `key` S). Required.
    #[arg(long, env = "LAUNCHDARKLY_DYNAMODB_TABLE")]
    pub table: Option<String>,

    /// Key prefix, to share one table between environments (items go under `<prefix>:features`).
    #[arg(long, env = "LAUNCHDARKLY_DYNAMODB_PREFIX")]
    pub prefix: Option<String>,
}

impl TableArgs {
    /// The table name and the prefix, if any.
    pub fn validate(&self) -> Result<(String, Option<String>), ConfigError> {
        let table = non_empty(&self.table).ok_or(ConfigError::Missing(
            "LAUNCHDARKLY_DYNAMODB_TABLE",
            "set the name of the DynamoDB table the syncer writes",
        ))?;
        Ok((table, non_empty(&self.prefix)))
    }
}

/// The server-side SDK key, given directly or as an SSM parameter name.
#[derive(Args, Debug, Clone, Default)]
pub struct SdkKeyArgs {
    /// Server-side SDK key of the environment. Prefer --sdk-key-param in AWS.
    #[arg(long, env = "LAUNCHDARKLY_SDK_KEY", hide_env_values = true)]
    pub sdk_key: Option<String>,

    /// SSM parameter holding the SDK key (e.g. /launchdarkly/staging/sdkkey), read at run time.
    #[arg(long, env = "LAUNCHDARKLY_SDK_KEY_PARAM")]
    pub sdk_key_param: Option<String>,
}

impl SdkKeyArgs {
    /// Where the key comes from; `None` when neither variable is set.
    pub fn source(&self) -> Result<Option<SecretSource>, ConfigError> {
        secret_source(
            (&self.sdk_key, "LAUNCHDARKLY_SDK_KEY"),
            (&self.sdk_key_param, "LAUNCHDARKLY_SDK_KEY_PARAM"),
        )
    }
}

/// A secret given either as a value or as an SSM parameter name, never both.
pub fn secret_source(
    value: (&Option<String>, &'static str),
    parameter: (&Option<String>, &'static str),
) -> Result<Option<SecretSource>, ConfigError> {
    match (non_empty(value.0), non_empty(parameter.0)) {
        (Some(_), Some(_)) => Err(ConfigError::Conflict(value.1, parameter.1)),
        (Some(secret), None) => Ok(Some(SecretSource::Value(Secret::new(secret)))),
        (None, Some(name)) => Ok(Some(SecretSource::Parameter(name))),
        (None, None) => Ok(None),
    }
}

/// The trimmed value, if not empty.
pub fn non_empty(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}
