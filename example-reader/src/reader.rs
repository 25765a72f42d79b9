//! The SDK client in daemon mode over the DynamoDB store, the evaluations it answers, and the
//! store check that keeps a broken pipeline from looking like a deleted flag.

use std::sync::Arc;
use std::time::Duration;

use launchdarkly_dynamo_store::DynamoDbStoreBuilder;
use launchdarkly_server_sdk::{
    Client, ConfigBuilder, Context, ContextBuilder, EvalError, EventProcessorBuilder,
    FlagDetailConfig, FlagValue, NullEventProcessorBuilder, PersistentDataStoreBuilder, Reason,
    ServiceEndpointsBuilder,
};
use serde_json::{json, Value};

use crate::config::Config;
use crate::health::{StoreHealth, Unavailable};
use crate::rollouts::{Rollouts, Served};

/// Built once per container: the SDK client and its store live as long as the process.
pub struct Reader {
    client: Client,
    health: StoreHealth,
    rollouts: Rollouts,
    events: Option<Duration>,
}

/// One flag evaluated for one context, as the SDK answered it.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The value; `None` when the flag has no value to serve (an error, or a flag that is off
    /// without an off variation).
    pub value: Option<Value>,
    /// Index of the served variation.
    pub variation_index: Option<usize>,
    /// LaunchDarkly's evaluation reason in its JSON form, e.g. `{"kind":"RULE_MATCH",...}`.
    pub reason: Value,
    /// True when the variation was picked by a percentage rollout.
    pub rollout: bool,
}

/// A context that could not be built from the request.
#[derive(Debug, thiserror::Error)]
#[error("invalid context: {0}")]
pub struct BadContext(pub String);

impl Reader {
    /// Builds the client on `dynamo` and checks the store. `sdk_key` turns analytics events on.
    pub async fn new(
        config: &Config,
        dynamo: aws_sdk_dynamodb::Client,
        sdk_key: Option<&str>,
    ) -> anyhow::Result<Self> {
        let mut store = DynamoDbStoreBuilder::new(&config.table).client(dynamo);
        if let Some(prefix) = &config.prefix {
            store = store.prefix(prefix);
        }
        let health = StoreHealth::new(store.build().await?, config.cache_ttl).await;
        let rollouts = Rollouts::default();
        let mut data_store = PersistentDataStoreBuilder::new(Arc::new(rollouts.watching(store)));
        data_store.cache_time(config.cache_ttl);
        let mut builder = ConfigBuilder::new(sdk_key.unwrap_or("daemon-mode-no-events"))
            .daemon_mode(true)
            .data_store(&data_store);
        builder = match sdk_key {
            Some(_) => {
                // The SDK wants all three endpoints when one is set; daemon mode uses events only.
                let mut endpoints = ServiceEndpointsBuilder::new();
                endpoints
                    .polling_base_url("https://sdk.launchdarkly.com")
                    .streaming_base_url("https://stream.launchdarkly.com")
                    .events_base_url(&config.events_uri);
                let mut events = EventProcessorBuilder::new();
                events
                    .flush_interval(config.events_interval)
                    .transport(launchdarkly_sdk_transport::HyperTransport::new_https()?);
                builder
                    .service_endpoints(&endpoints)
                    .event_processor(&events)
            }
            None => builder.event_processor(&NullEventProcessorBuilder::new()),
        };
        let client = Client::build(builder.build()?)?;
        client.start_with_default_executor();
        Ok(Self {
            client,
            health,
            rollouts,
            events: sdk_key.map(|_| config.events_flush_timeout),
        })
    }

    /// One flag: `{"flag","value","variationIndex","reason"}`, the SDK's reason JSON included. An
    /// unknown flag in a healthy table answers a `null` value with the `FLAG_NOT_FOUND` reason;
    /// when the store cannot be read or was never synced, the answer is [`Unavailable`].
    pub async fn evaluate(&self, flag: &str, context: &Context) -> Result<Value, Unavailable> {
        let evaluation = self.evaluation(flag, context).await?;
        Ok(json!({
            "flag": flag,
            "value": evaluation.value.unwrap_or(Value::Null),
            "variationIndex": evaluation.variation_index,
            "reason": evaluation.reason,
        }))
    }

    /// One flag's [`Evaluation`]; [`Unavailable`] as for [`Reader::evaluate`].
    pub async fn evaluation(
        &self,
        flag: &str,
        context: &Context,
    ) -> Result<Evaluation, Unavailable> {
        let detail = self
            .client
            .variation_detail(context, flag, FlagValue::Json(Value::Null));
        if matches!(
            detail.reason,
            Reason::Error {
                error: EvalError::FlagNotFound
            }
        ) {
            self.health.confirm().await?;
        }
        let reason = serde_json::to_value(&detail.reason).unwrap_or(Value::Null);
        Ok(Evaluation {
            // A `null` JSON value is the default the SDK was given: no value.
            value: detail
                .value
                .and_then(|v| v.as_json())
                .filter(|v| !v.is_null())
                .map(integral_as_integer),
            variation_index: detail.variation_index.and_then(|i| usize::try_from(i).ok()),
            rollout: self.served_by_rollout(flag, &reason),
            reason,
        })
    }

    /// Every flag's value for the context: `{"flags":{key:value}}`. No flag at all is checked
    /// like a missing flag.
    pub async fn evaluate_all(&self, context: &Context) -> Result<Value, Unavailable> {
        let flags: serde_json::Map<String, Value> = self
            .evaluations(context)
            .await?
            .into_iter()
            .map(|(key, evaluation)| (key, evaluation.value.unwrap_or(Value::Null)))
            .collect();
        Ok(json!({ "flags": flags }))
    }

    /// Every flag's [`Evaluation`] for the context, by key. No flag at all is checked like a
    /// missing flag.
    pub async fn evaluations(
        &self,
        context: &Context,
    ) -> Result<Vec<(String, Evaluation)>, Unavailable> {
        let state = self
            .client
            .all_flags_detail(context, *FlagDetailConfig::new().with_reasons());
        let state = serde_json::to_value(state).unwrap_or(Value::Null);
        let mut evaluations: Vec<(String, Evaluation)> = state["$flagsState"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(key, flag)| {
                let reason = flag.get("reason").cloned().unwrap_or(Value::Null);
                let evaluation = Evaluation {
                    value: state
                        .get(key)
                        .filter(|v| !v.is_null())
                        .cloned()
                        .map(integral_as_integer),
                    variation_index: flag["variation"].as_u64().map(|i| i as usize),
                    rollout: self.served_by_rollout(key, &reason),
                    reason,
                };
                (key.clone(), evaluation)
            })
            .collect();
        if evaluations.is_empty() {
            self.health.confirm().await?;
        }
        evaluations.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(evaluations)
    }

    fn served_by_rollout(&self, flag: &str, reason: &Value) -> bool {
        let served = match reason["kind"].as_str() {
            Some("RULE_MATCH") => reason["ruleIndex"]
                .as_u64()
                .map(|i| Served::Rule(i as usize)),
            Some("FALLTHROUGH") => Some(Served::Fallthrough),
            _ => None,
        };
        served.is_some_and(|served| self.rollouts.is_rollout(flag, served))
    }

    /// Checks the store now (what the CLI does before answering).
    pub async fn check_store(&self) -> Result<(), Unavailable> {
        self.health.check().await
    }

    /// True when analytics events are sent.
    pub fn sends_events(&self) -> bool {
        self.events.is_some()
    }

    /// Delivers pending analytics events, waiting at most the configured time; false when they
    /// were not all delivered (they stay queued).
    pub async fn flush_events(&self) -> bool {
        match self.events {
            Some(timeout) => self.client.flush_blocking(timeout).await,
            None => true,
        }
    }

    /// Delivers pending analytics events, waiting at most `limit` (and the configured time).
    pub async fn flush_events_within(&self, limit: Duration) -> bool {
        match self.events {
            Some(timeout) => self.client.flush_blocking(timeout.min(limit)).await,
            None => true,
        }
    }

    /// Stops the client, delivering pending events first (blocking).
    pub fn close(&self) {
        self.client.close();
    }
}

/// The SDK holds number flag values as `f64`: a flag served as `10` would come back as `10.0`,
/// which typed clients read as a float. Whole numbers go back to integers.
fn integral_as_integer(value: Value) -> Value {
    match value.as_f64() {
        Some(n) if value.is_f64() && n.fract() == 0.0 && n.abs() < 9.0e15 => Value::from(n as i64),
        _ => value,
    }
}

/// A context from LaunchDarkly context JSON, or from a key and kind.
pub fn parse_context(
    json: Option<&str>,
    key: Option<&str>,
    kind: Option<&str>,
) -> Result<Context, BadContext> {
    match (json, key) {
        (Some(json), _) => serde_json::from_str::<Context>(json).map_err(|e| {
            BadContext(format!(
                "the context is not valid LaunchDarkly context JSON: {e}"
            ))
        }),
        (None, Some(key)) => ContextBuilder::new(key)
            .kind(kind.unwrap_or("user"))
            .build()
            .map_err(|e| format!("the context key and kind do not make a valid context: {e}"))
            .map_err(BadContext),
        (None, None) => Err(BadContext(
            "give the context as ?context=<LaunchDarkly context JSON> or ?key=<key>&kind=<kind>"
                .to_string(),
        )),
    }
}
