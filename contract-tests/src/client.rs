//! One SDK client per `POST /`, configured from the harness's JSON: the DynamoDB store of this
//! workspace as its persistent data store, daemon mode when no data source is given.

use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use launchdarkly_dynamo_store::DynamoDbStoreBuilder;
use launchdarkly_sdk_transport::HyperTransport;
use launchdarkly_server_sdk::{
    Client, ConfigBuilder, Context, FlagValue, NullEventProcessorBuilder,
    PersistentDataStoreBuilder, PollingDataSourceBuilder, Reason, ServiceEndpointsBuilder,
    StreamingDataSourceBuilder,
};
use serde_json::Value;

use crate::protocol::{CacheMode, Configuration, Evaluate, Evaluation, PersistentDataStore};

/// The table the harness creates before each test; it does not send the name.
pub const TABLE: &str = "sdk-contract-tests";
/// The harness talks to DynamoDB in this region with dummy credentials.
const REGION: &str = "us-east-1";
/// How long `POST /` waits for the client to initialize when the test does not say.
const DEFAULT_START_WAIT: Duration = Duration::from_secs(5);

const DEFAULT_POLLING_URI: &str = "https://sdk.launchdarkly.com";
const DEFAULT_STREAMING_URI: &str = "https://stream.launchdarkly.com";
const DEFAULT_EVENTS_URI: &str = "https://events.launchdarkly.com";

/// A client the harness created.
pub struct SdkClient {
    client: Client,
}

impl SdkClient {
    /// Builds and starts a client, waiting for it to initialize as the test asks.
    pub async fn start(configuration: Configuration) -> anyhow::Result<Self> {
        let wait = configuration
            .start_wait_time_ms
            .map_or(DEFAULT_START_WAIT, Duration::from_millis);
        let client = build(&configuration)?;
        client.start_with_default_executor();
        client.wait_for_initialization(wait).await;
        Ok(Self { client })
    }

    /// The `evaluate` command, typed as the test asks.
    pub fn evaluate(&self, params: Evaluate) -> Result<Evaluation, String> {
        let context: Context = serde_json::from_value(params.context.unwrap_or(Value::Null))
            .map_err(|e| format!("invalid context: {e}"))?;
        let default = params.default_value;
        let key = params.flag_key.as_str();
        let client = &self.client;
        let (value, index, reason): (Value, Option<isize>, Reason) =
            match params.value_type.as_deref().unwrap_or("any") {
                "bool" => {
                    let d = client.bool_variation_detail(
                        &context,
                        key,
                        default.as_bool().unwrap_or_default(),
                    );
                    (
                        d.value.map_or(Value::Null, Value::from),
                        d.variation_index,
                        d.reason,
                    )
                }
                "int" => {
                    let d = client.int_variation_detail(
                        &context,
                        key,
                        default.as_i64().unwrap_or_default(),
                    );
                    (
                        d.value.map_or(Value::Null, Value::from),
                        d.variation_index,
                        d.reason,
                    )
                }
                "double" => {
                    let d = client.float_variation_detail(
                        &context,
                        key,
                        default.as_f64().unwrap_or_default(),
                    );
                    (
                        d.value.map_or(Value::Null, Value::from),
                        d.variation_index,
                        d.reason,
                    )
                }
                "string" => {
                    let fallback = default.as_str().unwrap_or_default().to_string();
                    let d = client.str_variation_detail(&context, key, fallback);
                    (
                        d.value.map_or(Value::Null, Value::from),
                        d.variation_index,
                        d.reason,
                    )
                }
                _ => {
                    let d = client.variation_detail(&context, key, FlagValue::Json(default));
                    let value = d.value.and_then(|v| v.as_json()).unwrap_or(Value::Null);
                    (value, d.variation_index, d.reason)
                }
            };
        let reason = serde_json::to_value(reason).map_err(|e| e.to_string())?;
        Ok(Evaluation {
            value,
            variation_index: params.detail.then_some(index).flatten(),
            reason: params.detail.then_some(reason),
        })
    }

    /// Stops the client's data source and event processor.
    pub fn close(&self) {
        self.client.close();
    }
}

/// The client the configuration describes, not started yet.
fn build(configuration: &Configuration) -> anyhow::Result<Client> {
    let mut builder = ConfigBuilder::new(&configuration.credential);
    let mut endpoints = ServiceEndpointsBuilder::new();
    endpoints
        .polling_base_url(DEFAULT_POLLING_URI)
        .streaming_base_url(DEFAULT_STREAMING_URI)
        .events_base_url(DEFAULT_EVENTS_URI);

    if let Some(persistence) = &configuration.persistent_data_store {
        builder = builder.data_store(&data_store(persistence)?);
    }
    if let Some(streaming) = &configuration.streaming {
        if let Some(uri) = &streaming.base_uri {
            endpoints.streaming_base_url(uri);
        }
        let mut source = StreamingDataSourceBuilder::<HyperTransport>::new();
        source.transport(HyperTransport::new()?);
        if let Some(delay) = streaming.initial_retry_delay_ms {
            source.initial_reconnect_delay(Duration::from_millis(delay));
        }
        builder = builder.data_source(&source);
    } else if let Some(polling) = &configuration.polling {
        if let Some(uri) = &polling.base_uri {
            endpoints.polling_base_url(uri);
        }
        let mut source = PollingDataSourceBuilder::<HyperTransport>::new();
        source.transport(HyperTransport::new()?);
        if let Some(interval) = polling.poll_interval_ms {
            source.poll_interval(Duration::from_millis(interval));
        }
        builder = builder.data_source(&source);
    } else {
        // No data source: the client reads only what the store holds.
        builder = builder.daemon_mode(true);
    }
    match configuration
        .events
        .as_ref()
        .and_then(|e| e.base_uri.as_ref())
    {
        Some(uri) => {
            endpoints.events_base_url(uri);
        }
        None => builder = builder.event_processor(&NullEventProcessorBuilder::new()),
    }
    Ok(Client::build(
        builder.service_endpoints(&endpoints).build()?,
    )?)
}

/// The store of this workspace at the harness's endpoint and prefix, cached as the test asks.
fn data_store(persistence: &PersistentDataStore) -> anyhow::Result<PersistentDataStoreBuilder> {
    if persistence.store.kind != "dynamodb" {
        anyhow::bail!("unsupported store type \"{}\"", persistence.store.kind);
    }
    let mut config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            "dummy",
            "dummy",
            None,
            None,
            "contract-tests",
        ));
    if let Some(dsn) = &persistence.store.dsn {
        config = config.endpoint_url(dsn);
    }
    let mut store = DynamoDbStoreBuilder::new(TABLE)
        .client(aws_sdk_dynamodb::Client::from_conf(config.build()));
    if let Some(prefix) = &persistence.store.prefix {
        store = store.prefix(prefix);
    }
    let mut builder = PersistentDataStoreBuilder::new(Arc::new(store));
    let cache = persistence.cache.as_ref();
    match cache.and_then(|c| c.mode) {
        Some(CacheMode::Off) => {
            builder.no_caching();
        }
        Some(CacheMode::Infinite) => {
            builder.cache_forever();
        }
        Some(CacheMode::Ttl) => {
            if let Some(seconds) = cache.and_then(|c| c.ttl) {
                builder.cache_seconds(seconds);
            }
        }
        None => {}
    }
    Ok(builder)
}
