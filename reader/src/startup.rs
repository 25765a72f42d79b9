//! Starting a reader from its settings: the AWS configuration, the SDK key when events are
//! wanted, and the engine. Shared by the reader Lambda, its CLI and the OFREP extension.

use launchdarkly_dynamo_common::secrets::CachedSecret;
use launchdarkly_dynamo_common::ssm::SsmClient;

use crate::reader::Reader;
use crate::settings::ReaderConfig;

/// Why a reader did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The AWS configuration is unusable (e.g. no region): fix the environment.
    #[error("{0:#}")]
    Configuration(anyhow::Error),
    /// The client could not be built.
    #[error("{0:#}")]
    Client(anyhow::Error),
}

/// AWS configuration, the SDK key when `send_events` (events stay off without one, with a
/// warning when it cannot be read), and the reader. Never waits for DynamoDB: the first load
/// of the flag data runs in the background.
pub async fn start_reader(config: &ReaderConfig, send_events: bool) -> Result<Reader, StartError> {
    let aws = launchdarkly_dynamo_common::aws::load_config()
        .await
        .map_err(|e| StartError::Configuration(e.into()))?;
    let sdk_key = match (&config.sdk_key, send_events) {
        (Some(source), true) => {
            let secret =
                CachedSecret::new(source.clone(), SsmClient::new(&aws), config.secrets_ttl);
            match secret.get().await {
                Ok(Some(value)) => Some((value, secret)),
                Ok(None) => {
                    tracing::warn!(
                        "analytics events are off: the SDK key parameter does not exist"
                    );
                    None
                }
                Err(err) => {
                    tracing::warn!("analytics events are off: {err}");
                    None
                }
            }
        }
        _ => None,
    };
    let dynamo = aws_sdk_dynamodb::Client::new(&aws);
    let reader = Reader::new(
        config,
        dynamo,
        sdk_key.as_ref().map(|(key, _)| key.expose()),
    )
    .await
    .map_err(StartError::Client)?;
    Ok(match sdk_key {
        Some((key, secret)) => reader.following_sdk_key(secret, key.expose()),
        None => reader,
    })
}
