//! Settings, from environment variables (the names other tools rely on) or flags.

use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand};
use launchdarkly_dynamo_store::DeletionLimit;
use launchdarkly_dynamo_sync::MIN_LEASE_PERIOD;

use launchdarkly_dynamo_common::secrets::SecretSource;
pub use launchdarkly_dynamo_common::settings::ConfigError;
use launchdarkly_dynamo_common::settings::{secret_source, SdkKeyArgs, TableArgs};

/// Keeps a DynamoDB table equal to the flags and segments LaunchDarkly serves for one
/// environment, in the table layout of LaunchDarkly's official SDKs.
///
/// Inside AWS Lambda (AWS_LAMBDA_RUNTIME_API set) it serves the Lambda runtime: webhooks (API
/// Gateway, ALB, function URLs) run a version-diff sync; scheduled events and manual invokes run a
/// reconciling sync. Concurrent triggers share syncs: one that fetched after a trigger arrived
/// answers it. Elsewhere, `syncer sync` runs one reconciling sync and prints a JSON summary. AWS settings come from the standard AWS variables
/// (AWS_REGION, AWS_ENDPOINT_URL, AWS_PROFILE, ...).
#[derive(Parser, Debug)]
#[command(name = "syncer", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run exactly one reconciling sync (every stored item compared by content) and print one
    /// JSON summary line. Exit status: 0 ok, 3 partial (items skipped), 1 failed, 2 bad settings.
    Sync {
        /// Take the data set from this file instead of LaunchDarkly: JSON as LaunchDarkly's
        /// `/sdk/latest-all` answers it (`{"flags": {...}, "segments": {...}}`), for seeding,
        /// tests and air-gapped setups. No SDK key is needed then.
        #[arg(long, value_name = "FILE")]
        from_file: Option<std::path::PathBuf>,
        /// Print the summary as one line for a person instead of JSON.
        #[arg(long)]
        text: bool,
    },
    /// Show the table's sync state: the last successful sync and its summary, the data
    /// generation, a running sync's lease, the last failure, whether webhooks are signed.
    /// Needs only the table (and the webhook settings); never the SDK key.
    Status {
        /// Print one JSON object instead of the text screen.
        #[arg(long)]
        json: bool,
    },
}

/// Every setting; each can also be given as the environment variable shown.
#[derive(Args, Debug, Clone, Default)]
pub struct Settings {
    #[command(flatten)]
    pub target: TableArgs,

    /// LaunchDarkly SDK endpoint, or a Relay Proxy URL.
    #[arg(
        long,
        env = "LAUNCHDARKLY_BASE_URI",
        default_value = "https://sdk.launchdarkly.com"
    )]
    pub base_uri: String,

    #[command(flatten)]
    pub sdk_key: SdkKeyArgs,

    /// Webhook signing secret: webhooks without its signature get 401.
    #[arg(long, env = "LAUNCHDARKLY_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,

    /// SSM parameter holding the webhook secret (e.g. /launchdarkly/staging/webhooksecret).
    /// While it does not exist every webhook is refused (401) with an ERROR line.
    #[arg(long, env = "LAUNCHDARKLY_WEBHOOK_SECRET_PARAM")]
    pub webhook_secret_param: Option<String>,

    /// Accept webhooks without a signature when no webhook secret is configured. Off by
    /// default: the webhook is on the internet, and anyone could start syncs.
    #[arg(long, env = "LAUNCHDARKLY_ALLOW_UNSIGNED_WEBHOOKS", value_parser = BoolishValueParser::new(), default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub allow_unsigned_webhooks: bool,

    /// A sync that would delete every stored flag, or more than this percentage of them (when
    /// more than 5 would go), is refused and writes nothing.
    #[arg(long, env = "LAUNCHDARKLY_MAX_DELETE_PERCENT", default_value_t = 50)]
    pub max_delete_percent: u8,

    /// Allow a sync to delete any number of stored flags, for a deliberate clean-up (a manual
    /// invoke can ask for it once with `{"allowMassDelete": true}`).
    #[arg(long, global = true, env = "LAUNCHDARKLY_ALLOW_MASS_DELETE", value_parser = BoolishValueParser::new(), default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub allow_mass_delete: bool,

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

    /// How long the sync lease lasts without renewal (its holder renews it every third of
    /// that): the longest a sync that died (killed, timed out) blocks the next one. At least 2.
    #[arg(long, env = "LAUNCHDARKLY_LEASE_SECONDS", default_value_t = 10)]
    pub lease_seconds: u64,

    /// Largest LaunchDarkly response accepted, in MiB; a larger one fails the sync instead of
    /// exhausting the function's memory (give the function about 3x this plus 64 MB).
    #[arg(long, env = "LAUNCHDARKLY_MAX_RESPONSE_MB", default_value_t = 32)]
    pub max_response_mb: u64,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub table: String,
    pub prefix: Option<String>,
    pub base_uri: String,
    pub sdk_key: SecretSource,
    pub webhook_secret: Option<SecretSource>,
    pub allow_unsigned_webhooks: bool,
    pub deletion_limit: DeletionLimit,
    pub secrets_ttl: Duration,
    pub sync_timeout: Duration,
    pub http_timeout: Duration,
    pub lease_period: Duration,
    pub max_response_bytes: u64,
    /// `syncer sync --from-file`: the data set comes from this file, not LaunchDarkly.
    pub from_file: Option<std::path::PathBuf>,
}

impl Settings {
    /// Checks the settings and says exactly which one is wrong.
    pub fn validate(&self) -> Result<Config, ConfigError> {
        // The table first: without it nothing else matters.
        self.target.validate()?;
        self.validate_with(self.sdk_key.source()?.ok_or(ConfigError::Missing(
            "LAUNCHDARKLY_SDK_KEY_PARAM",
            "set it to the SSM parameter holding the SDK key (or set LAUNCHDARKLY_SDK_KEY)",
        ))?)
    }

    /// The settings `syncer status` needs: everything but the SDK key, which it never reads
    /// (an operator can check any table with only its name).
    pub fn validate_for_status(&self) -> Result<Config, ConfigError> {
        let unread = SecretSource::Parameter(String::new());
        self.validate_with(self.sdk_key.source()?.unwrap_or(unread))
    }

    /// The settings `syncer sync --from-file` needs: everything but the SDK key (the data set
    /// is the file's).
    pub fn validate_for_file(&self, path: &std::path::Path) -> Result<Config, ConfigError> {
        let unread = SecretSource::Parameter(String::new());
        let config = self.validate_with(self.sdk_key.source()?.unwrap_or(unread))?;
        Ok(Config {
            from_file: Some(path.to_path_buf()),
            ..config
        })
    }

    fn validate_with(&self, sdk_key: SecretSource) -> Result<Config, ConfigError> {
        let (table, prefix) = self.target.validate()?;
        let webhook_secret = secret_source(
            (&self.webhook_secret, "LAUNCHDARKLY_WEBHOOK_SECRET"),
            (
                &self.webhook_secret_param,
                "LAUNCHDARKLY_WEBHOOK_SECRET_PARAM",
            ),
        )?;
        let base_uri = self.base_uri.trim().trim_end_matches('/').to_string();
        self.check_limits(&base_uri)?;
        Ok(Config {
            table,
            prefix,
            base_uri,
            sdk_key,
            webhook_secret,
            allow_unsigned_webhooks: self.allow_unsigned_webhooks,
            deletion_limit: if self.allow_mass_delete {
                DeletionLimit::Unlimited
            } else {
                DeletionLimit::share(self.max_delete_percent)
            },
            secrets_ttl: Duration::from_secs(self.secrets_ttl_seconds),
            sync_timeout: Duration::from_secs(self.sync_timeout_seconds),
            http_timeout: Duration::from_secs(self.http_timeout_seconds),
            lease_period: Duration::from_secs(self.lease_seconds),
            max_response_bytes: self.max_response_mb.saturating_mul(1024 * 1024),
            from_file: None,
        })
    }

    /// The URL, timeouts, lease, deletion share and response size are usable.
    fn check_limits(&self, base_uri: &str) -> Result<(), ConfigError> {
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
        if Duration::from_secs(self.lease_seconds) < MIN_LEASE_PERIOD {
            return Err(ConfigError::Invalid(
                "LAUNCHDARKLY_LEASE_SECONDS",
                format!(
                    "{} is too short: use at least {} seconds",
                    self.lease_seconds,
                    MIN_LEASE_PERIOD.as_secs()
                ),
            ));
        }
        if self.max_delete_percent > 100 {
            return Err(ConfigError::Invalid(
                "LAUNCHDARKLY_MAX_DELETE_PERCENT",
                format!("{} is not a percentage (0 to 100)", self.max_delete_percent),
            ));
        }
        if self.max_response_mb == 0 {
            return Err(ConfigError::Invalid(
                "LAUNCHDARKLY_MAX_RESPONSE_MB",
                "must be at least 1".to_string(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            target: TableArgs {
                table: Some("t".into()),
                prefix: None,
            },
            sdk_key: key(None, Some("/launchdarkly/staging/sdkkey")),
            base_uri: "https://sdk.launchdarkly.com/".into(),
            secrets_ttl_seconds: 300,
            sync_timeout_seconds: 60,
            http_timeout_seconds: 20,
            lease_seconds: 10,
            max_response_mb: 32,
            max_delete_percent: 50,
            ..Settings::default()
        }
    }

    fn key(value: Option<&str>, parameter: Option<&str>) -> SdkKeyArgs {
        SdkKeyArgs {
            sdk_key: value.map(str::to_string),
            sdk_key_param: parameter.map(str::to_string),
        }
    }

    fn table(name: Option<&str>) -> TableArgs {
        TableArgs {
            table: name.map(str::to_string),
            prefix: None,
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
        let cases: [(Settings, &str); 9] = [
            (
                Settings {
                    max_delete_percent: 101,
                    ..settings()
                },
                "LAUNCHDARKLY_MAX_DELETE_PERCENT is invalid",
            ),
            (
                Settings {
                    lease_seconds: 1,
                    ..settings()
                },
                "LAUNCHDARKLY_LEASE_SECONDS is invalid",
            ),
            (
                Settings {
                    max_response_mb: 0,
                    ..settings()
                },
                "LAUNCHDARKLY_MAX_RESPONSE_MB is invalid",
            ),
            (
                Settings {
                    target: table(None),
                    ..settings()
                },
                "LAUNCHDARKLY_DYNAMODB_TABLE is not set",
            ),
            (
                Settings {
                    target: table(Some(" ")),
                    ..settings()
                },
                "LAUNCHDARKLY_DYNAMODB_TABLE is not set",
            ),
            (
                Settings {
                    sdk_key: key(None, None),
                    ..settings()
                },
                "LAUNCHDARKLY_SDK_KEY_PARAM is not set",
            ),
            (
                Settings {
                    sdk_key: key(Some("k"), Some("/p")),
                    ..settings()
                },
                "LAUNCHDARKLY_SDK_KEY and LAUNCHDARKLY_SDK_KEY_PARAM are both set",
            ),
            (
                Settings {
                    webhook_secret: Some("s".into()),
                    webhook_secret_param: Some("/p".into()),
                    ..settings()
                },
                "LAUNCHDARKLY_WEBHOOK_SECRET and LAUNCHDARKLY_WEBHOOK_SECRET_PARAM are both set",
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
            sdk_key: key(Some("sdk-secret-123"), None),
            ..settings()
        }
        .validate()
        .unwrap();
        assert!(!format!("{config:?}").contains("sdk-secret-123"));
    }
}
