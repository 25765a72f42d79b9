//! Settings, from environment variables (the names other tools rely on) or flags.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::secrets::{Secret, SecretSource};

/// Keeps a DynamoDB table equal to the flags and segments LaunchDarkly serves for one
/// environment, in the table layout of LaunchDarkly's official SDKs.
///
/// Inside AWS Lambda (AWS_LAMBDA_RUNTIME_API set) it serves the Lambda runtime: webhooks from
/// API Gateway, scheduled events and manual invokes all run a full sync. Elsewhere, `syncer sync`
/// runs one sync and prints a JSON summary. AWS settings come from the standard AWS variables
/// (AWS_REGION, AWS_ENDPOINT_URL, AWS_PROFILE, ...).
#[derive(Parser, Debug)]
#[command(name = "syncer", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Subcommand, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Run exactly one full sync and print one JSON summary line (exit status 1 on failure).
    Sync,
}

/// Every setting; each can also be given as the environment variable shown.
#[derive(Args, Debug, Clone, Default)]
pub struct Settings {
    /// DynamoDB table to write (partition key `namespace` S, sort key `key` S). Required.
    #[arg(long, env = "LAUNCHDARKLY_DYNAMODB_TABLE")]
    pub table: Option<String>,

    /// Key prefix, to share one table between environments (items go under `<prefix>:features`).
    #[arg(long, env = "LAUNCHDARKLY_DYNAMODB_PREFIX")]
    pub prefix: Option<String>,

    /// LaunchDarkly SDK endpoint, or a Relay Proxy URL.
    #[arg(
        long,
        env = "LAUNCHDARKLY_BASE_URI",
        default_value = "https://sdk.launchdarkly.com"
    )]
    pub base_uri: String,

    /// Server-side SDK key of the environment. Prefer --sdk-key-param in AWS.
    #[arg(long, env = "LAUNCHDARKLY_SDK_KEY", hide_env_values = true)]
    pub sdk_key: Option<String>,

    /// SSM parameter holding the SDK key (e.g. /launchdarkly/staging/sdkkey), read at run time.
    #[arg(long, env = "LAUNCHDARKLY_SDK_KEY_PARAM")]
    pub sdk_key_param: Option<String>,

    /// Webhook signing secret; when set, unsigned or wrongly signed webhooks get 401.
    #[arg(long, env = "LAUNCHDARKLY_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,

    /// SSM parameter holding the webhook secret (e.g. /launchdarkly/staging/webhooksecret); a
    /// missing parameter turns the signature check off, with a warning.
    #[arg(long, env = "LAUNCHDARKLY_WEBHOOK_SECRET_PARAM")]
    pub webhook_secret_param: Option<String>,

    /// How long secrets read from SSM are reused before being read again.
    #[arg(long, env = "LAUNCHDARKLY_SECRETS_TTL_SECONDS", default_value_t = 300)]
    pub secrets_ttl_seconds: u64,

    /// Time budget of one sync (waiting for another sync, fetching, writing). In Lambda the
    /// function's remaining time caps it.
    #[arg(long, env = "LAUNCHDARKLY_SYNC_TIMEOUT_SECONDS", default_value_t = 60)]
    pub sync_timeout_seconds: u64,

    /// Timeout of one HTTP request to LaunchDarkly (connecting is capped at 5 s).
    #[arg(long, env = "LAUNCHDARKLY_HTTP_TIMEOUT_SECONDS", default_value_t = 20)]
    pub http_timeout_seconds: u64,
}

/// A setting is missing or contradicts another.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set: {1}")]
    Missing(&'static str, &'static str),
    #[error("{0} and {1} are both set: set only one")]
    Conflict(&'static str, &'static str),
    #[error("{0} is invalid: {1}")]
    Invalid(&'static str, String),
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub table: String,
    pub prefix: Option<String>,
    pub base_uri: String,
    pub sdk_key: SecretSource,
    pub webhook_secret: Option<SecretSource>,
    pub secrets_ttl: Duration,
    pub sync_timeout: Duration,
    pub http_timeout: Duration,
}

impl Settings {
    /// Checks the settings and says exactly which one is wrong.
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let table = non_empty(&self.table).ok_or(ConfigError::Missing(
            "LAUNCHDARKLY_DYNAMODB_TABLE",
            "set the name of the DynamoDB table to write",
        ))?;
        let sdk_key =
            match (non_empty(&self.sdk_key), non_empty(&self.sdk_key_param)) {
                (Some(_), Some(_)) => {
                    return Err(ConfigError::Conflict(
                        "LAUNCHDARKLY_SDK_KEY",
                        "LAUNCHDARKLY_SDK_KEY_PARAM",
                    ))
                }
                (Some(key), None) => SecretSource::Value(Secret::new(key)),
                (None, Some(param)) => SecretSource::Parameter(param),
                (None, None) => return Err(ConfigError::Missing(
                    "LAUNCHDARKLY_SDK_KEY_PARAM",
                    "set it to the SSM parameter holding the SDK key (or set LAUNCHDARKLY_SDK_KEY)",
                )),
            };
        let webhook_secret = match (
            non_empty(&self.webhook_secret),
            non_empty(&self.webhook_secret_param),
        ) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Conflict(
                    "LAUNCHDARKLY_WEBHOOK_SECRET",
                    "LAUNCHDARKLY_WEBHOOK_SECRET_PARAM",
                ))
            }
            (Some(secret), None) => Some(SecretSource::Value(Secret::new(secret))),
            (None, Some(param)) => Some(SecretSource::Parameter(param)),
            (None, None) => None,
        };
        let base_uri = self.base_uri.trim().trim_end_matches('/').to_string();
        if !(base_uri.starts_with("https://") || base_uri.starts_with("http://")) {
            return Err(ConfigError::Invalid(
                "LAUNCHDARKLY_BASE_URI",
                format!("\"{base_uri}\" is not an http(s) URL"),
            ));
        }
        if self.sync_timeout_seconds == 0 || self.http_timeout_seconds == 0 {
            return Err(ConfigError::Invalid(
                "LAUNCHDARKLY_SYNC_TIMEOUT_SECONDS / LAUNCHDARKLY_HTTP_TIMEOUT_SECONDS",
                "timeouts must be at least 1 second".to_string(),
            ));
        }
        Ok(Config {
            table,
            prefix: non_empty(&self.prefix),
            base_uri,
            sdk_key,
            webhook_secret,
            secrets_ttl: Duration::from_secs(self.secrets_ttl_seconds),
            sync_timeout: Duration::from_secs(self.sync_timeout_seconds),
            http_timeout: Duration::from_secs(self.http_timeout_seconds),
        })
    }
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            table: Some("t".into()),
            sdk_key_param: Some("/launchdarkly/staging/sdkkey".into()),
            base_uri: "https://sdk.launchdarkly.com/".into(),
            secrets_ttl_seconds: 300,
            sync_timeout_seconds: 60,
            http_timeout_seconds: 20,
            ..Settings::default()
        }
    }

    #[test]
    fn valid_settings() {
        let config = settings().validate().unwrap();
        assert_eq!(config.base_uri, "https://sdk.launchdarkly.com");
        assert!(
            matches!(config.sdk_key, SecretSource::Parameter(ref p) if p == "/launchdarkly/staging/sdkkey")
        );
        assert!(config.webhook_secret.is_none());
    }

    #[test]
    fn each_problem_names_the_variable() {
        let cases: [(Settings, &str); 5] = [
            (
                Settings {
                    table: None,
                    ..settings()
                },
                "LAUNCHDARKLY_DYNAMODB_TABLE is not set",
            ),
            (
                Settings {
                    table: Some(" ".into()),
                    ..settings()
                },
                "LAUNCHDARKLY_DYNAMODB_TABLE is not set",
            ),
            (
                Settings {
                    sdk_key_param: None,
                    ..settings()
                },
                "LAUNCHDARKLY_SDK_KEY_PARAM is not set",
            ),
            (
                Settings {
                    sdk_key: Some("k".into()),
                    ..settings()
                },
                "LAUNCHDARKLY_SDK_KEY and LAUNCHDARKLY_SDK_KEY_PARAM are both set",
            ),
            (
                Settings {
                    base_uri: "sdk.launchdarkly.com".into(),
                    ..settings()
                },
                "LAUNCHDARKLY_BASE_URI is invalid",
            ),
        ];
        for (settings, expected) in cases {
            let err = settings.validate().unwrap_err().to_string();
            assert!(err.starts_with(expected), "{err}");
        }
    }

    #[test]
    fn secret_values_never_show_in_debug_output() {
        let config = Settings {
            sdk_key: Some("sdk-secret-123".into()),
            sdk_key_param: None,
            ..settings()
        }
        .validate()
        .unwrap();
        assert!(!format!("{config:?}").contains("sdk-secret-123"));
    }
}
