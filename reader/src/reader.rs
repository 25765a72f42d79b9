//! The engine: the SDK in daemon mode over the table's mirror. Every answer comes from memory;
//! a store that cannot answer is [`Unavailable`], never a missing flag.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use launchdarkly_dynamo_common::secrets::CachedSecret;

use launchdarkly_dynamo_store::mirror::{MirrorData, MirrorState};
use launchdarkly_dynamo_store::{DynamoDbStoreBuilder, Kind, Mirror};
use launchdarkly_server_sdk::{
    Client, ConfigBuilder, Context, ContextBuilder, EvalError, EventProcessorBuilder, FlagValue,
    NullEventProcessorBuilder, PersistentDataStoreBuilder, Reason, ServiceEndpointsBuilder,
};
use launchdarkly_server_sdk_evaluation::{Flag, Segment, Store};
use serde_json::Value;

use crate::evaluation::{Evaluation, Freshness, Unavailable};
use crate::health::Health;
use crate::metrics::{self, ReadCounters};
use crate::rollouts::served_by_rollout;
use crate::settings::ReaderConfig;
use launchdarkly_dynamo_common::metrics::Record;

/// How long a new reader waits for the SDK client to call itself ready (daemon mode: at once).
const CLIENT_READY: Duration = Duration::from_secs(1);

/// Built once per process: the mirror lives as long as it does; the SDK client too, unless
/// the SDK key changes (see [`Reader::follow_sdk_key`]).
pub struct Reader {
    client: RwLock<Arc<Client>>,
    mirror: Mirror,
    config: ReaderConfig,
    key: Option<KeyFollower>,
    events: Option<Duration>,
    request_wait: Duration,
    table: String,
    counters: ReadCounters,
    activity: Activity,
}

/// When the reader last evaluated, for a process that keeps its copy fresh on a timer only
/// while it is used.
struct Activity {
    started: std::time::Instant,
    /// Milliseconds after `started` of the last evaluation.
    last_ms: std::sync::atomic::AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            started: std::time::Instant::now(),
            last_ms: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn record(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms
            .store(now, std::sync::atomic::Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(std::sync::atomic::Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }
}

/// Where the SDK key comes from, and the key the client uses.
struct KeyFollower {
    secret: CachedSecret,
    in_use: tokio::sync::Mutex<String>,
}

/// The SDK client in daemon mode over `mirror`, started: events with `sdk_key`, none without.
async fn start_client(
    config: &ReaderConfig,
    mirror: &Mirror,
    sdk_key: Option<&str>,
) -> anyhow::Result<Client> {
    let client = build_client(config, mirror, sdk_key)?;
    client.start_with_default_executor();
    let _ = client.wait_for_initialization(CLIENT_READY).await;
    Ok(client)
}

// Apart from the start: the SDK's builders are not `Send`, and must not live across an await.
fn build_client(
    config: &ReaderConfig,
    mirror: &Mirror,
    sdk_key: Option<&str>,
) -> anyhow::Result<Client> {
    // The mirror is the cache; the SDK's own would only delay changes.
    let mut data_store = PersistentDataStoreBuilder::new(Arc::new(mirror.clone()));
    data_store.no_caching();
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
    Ok(Client::build(builder.build()?)?)
}

/// A context that could not be built from the request.
#[derive(Debug, thiserror::Error)]
#[error("invalid context: {0}")]
pub struct BadContext(pub String);

impl Reader {
    /// Builds the mirror of the table on `dynamo` (its first load starts in the background)
    /// and the client over it. `sdk_key` turns analytics events on.
    pub async fn new(
        config: &ReaderConfig,
        dynamo: aws_sdk_dynamodb::Client,
        sdk_key: Option<&str>,
    ) -> anyhow::Result<Self> {
        let mut store = DynamoDbStoreBuilder::new(&config.table)
            .client(dynamo)
            .mirror_settings(config.mirror.clone());
        if let Some(prefix) = &config.prefix {
            store = store.prefix(prefix);
        }
        let mirror = store.build_mirror().await?;
        let client = start_client(config, &mirror, sdk_key).await?;
        Ok(Self {
            client: RwLock::new(Arc::new(client)),
            mirror,
            config: config.clone(),
            key: None,
            events: sdk_key.map(|_| config.events_flush_timeout),
            request_wait: config.request_wait,
            table: config.table.clone(),
            counters: ReadCounters::default(),
            activity: Activity::new(),
        })
    }

    /// The mirror answers come from.
    pub fn mirror(&self) -> &Mirror {
        &self.mirror
    }

    /// Follows the SDK key where `in_use` (the key the reader was built with) was read from
    /// (its SSM parameter, re-read every secrets TTL): see [`Reader::follow_sdk_key`].
    pub fn following_sdk_key(self, secret: CachedSecret, in_use: &str) -> Self {
        Self {
            key: Some(KeyFollower {
                secret,
                in_use: tokio::sync::Mutex::new(in_use.to_string()),
            }),
            ..self
        }
    }

    /// When the SDK key has changed where it is kept (a rotation), builds a client with the
    /// new key over the same mirror and hands its events to it; the previous client delivers
    /// what it holds and stops. Reading the key waits at most `limit`, and only when its TTL
    /// has passed. Call it off the answer path (after an answer).
    pub async fn follow_sdk_key(&self, limit: Duration) {
        let Some(follower) = &self.key else { return };
        let key = match tokio::time::timeout(limit, follower.secret.get()).await {
            Ok(Ok(Some(key))) => key,
            Ok(Ok(None)) => {
                return tracing::debug!("the SDK key parameter is gone; events keep the key in use")
            }
            Ok(Err(err)) => return tracing::debug!("the SDK key could not be read again: {err}"),
            Err(_) => return,
        };
        // One rotation at a time.
        let mut in_use = follower.in_use.lock().await;
        if *in_use == key.expose() {
            return;
        }
        match start_client(&self.config, &self.mirror, Some(key.expose())).await {
            Ok(client) => {
                *in_use = key.expose().to_string();
                let previous = std::mem::replace(
                    &mut *self.client.write().unwrap_or_else(PoisonError::into_inner),
                    Arc::new(client),
                );
                tracing::info!("the SDK key changed: analytics events now go out with the new one");
                // Closing delivers its pending events, blocking.
                tokio::task::spawn_blocking(move || previous.close());
            }
            Err(err) => tracing::warn!(
                "the SDK key changed, but no client could be built with it ({err:#}); events keep the previous key"
            ),
        }
    }

    /// The SDK client in use.
    fn client(&self) -> Arc<Client> {
        self.client
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Starts a check of the table in the background if one is due. Never waits.
    pub fn check(&self) {
        self.mirror.check();
    }

    /// Starts a check if one is due and waits at most `wait` for it (see
    /// [`Mirror::check_within`]).
    pub async fn check_within(&self, wait: Duration) -> bool {
        self.mirror.check_within(wait).await
    }

    /// What a request about every flag does before it is answered: start a due check of the
    /// table, and wait for it at most the configured request wait (none: never wait) when the
    /// copy was not confirmed within two freshness intervals. Never
    /// while the last check failed: the answer then comes at once (from the copy, marked stale,
    /// or the store's error before any copy) instead of waiting on a failing DynamoDB at every
    /// request. Before the first copy (a cold start), wait for it within its deadlines: every
    /// flag needs the whole data set.
    pub async fn check_before_answer(&self) {
        if self.mirror.data().is_err() && !self.mirror.last_check_failed() {
            let settings = self.mirror.settings();
            self.mirror
                .check_within(settings.check_timeout + settings.load_timeout)
                .await;
            return;
        }
        self.check_within_request_wait().await;
    }

    /// What a request about one flag does before it is answered: the same check, and while
    /// there is no copy yet, the point reads of what that flag needs (within the check's
    /// deadline), so it is answered before the whole data set has loaded. Not while the last
    /// check failed: then the store's error comes at once.
    pub async fn check_before_answer_for(&self, flag: &str) {
        if self.mirror.data().is_ok() || self.mirror.last_check_failed() {
            return self.check_within_request_wait().await;
        }
        self.mirror.check();
        let limit = self.mirror.settings().check_timeout;
        if let Err(failure) = self.mirror.read_ahead(flag, limit).await {
            tracing::debug!("no point reads ahead of the flag data: {failure}");
        }
    }

    /// Starts a due check, and waits for it (at most the request wait) only when the copy may
    /// be old: not confirmed by DynamoDB within two freshness intervals (an environment Lambda
    /// froze, or one left idle). Under steady traffic the copy was confirmed moments ago, so
    /// the answer comes at once beside the check, and a DynamoDB that starts failing never
    /// holds an answer back. Never while the last check failed.
    async fn check_within_request_wait(&self) {
        let recent = self
            .mirror
            .data_age()
            .is_some_and(|age| age < self.mirror.settings().freshness * 2);
        if self.request_wait.is_zero() || self.mirror.last_check_failed() || recent {
            self.mirror.check();
        } else {
            self.mirror.check_within(self.request_wait).await;
        }
    }

    /// Waits for a check that is running, before Lambda may freeze the environment (see
    /// [`Mirror::await_check`]): at most the check's own deadlines, and at most `limit` (what is left
    /// of the invocation). Only while the data is current: a check frozen during an outage
    /// changes nothing that is not already reported, and waiting on a failing DynamoDB would
    /// hold every invocation back.
    pub async fn await_check(&self, limit: Duration) {
        // The first load too, unless it is failing: answers before it came from point reads,
        // and a load frozen half-way would only start over.
        let state = self.mirror.status().state;
        let loading = state == MirrorState::Loading && !self.mirror.last_check_failed();
        if state != MirrorState::Current && !loading {
            return;
        }
        let deadlines = self.mirror.settings().check_timeout + self.mirror.settings().load_timeout;
        self.mirror.await_check(limit.min(deadlines)).await;
    }

    /// Store state, generation, data age, last error.
    pub fn health(&self) -> Health {
        Health::of(&self.mirror.status())
    }

    /// Stale when the last read of the store failed, whether answers come from the copy or,
    /// before it, from point reads (a first load that keeps failing leaves them unconfirmed).
    /// Cheap: no item of the copy is counted.
    fn freshness(&self) -> Freshness {
        Freshness {
            stale: self.mirror.last_check_failed(),
            age: self.mirror.data_age(),
        }
    }

    /// One flag for `context`, from memory. A flag the loaded data does not hold is a
    /// `FLAG_NOT_FOUND` evaluation (no DynamoDB read); with no data, [`Unavailable`].
    pub fn evaluate(&self, flag: &str, context: &Context) -> Result<Evaluation, Unavailable> {
        self.activity.record();
        let outcome = self.evaluate_one(flag, context);
        self.counters.count(&outcome, metrics::one);
        outcome
    }

    /// Every live flag for `context`, sorted by key, from memory and without analytics events
    /// (as the SDKs' all-flags state). With no data, [`Unavailable`].
    pub fn evaluate_all(&self, context: &Context) -> Result<Vec<Evaluation>, Unavailable> {
        self.activity.record();
        let outcome = self.evaluate_every(context);
        self.counters
            .count(&outcome, |evaluations: &Vec<Evaluation>| {
                metrics::all(evaluations)
            });
        outcome
    }

    /// How long since the last evaluation (since the reader was built, before the first).
    pub fn idle_for(&self) -> Duration {
        self.activity.idle_for()
    }

    /// The metric record of the evaluations since the last one (`component`: `reader`,
    /// `extension`); `None` when there were none. Emit it with [`Record::emit`].
    pub fn take_metrics(&self, component: &str) -> Option<Record> {
        let status = self.mirror.status();
        let age = status.data_age().map(|age| age.as_secs_f64());
        self.counters
            .take(&self.table, component, age, status.failing_since.is_some())
    }

    fn evaluate_one(&self, flag: &str, context: &Context) -> Result<Evaluation, Unavailable> {
        self.mirror.check();
        // From the copy, or before it from the items read ahead for this flag.
        let stored = self.mirror.get(Kind::Flags, flag).map_err(Unavailable)?;
        let stored = stored.as_ref().filter(|i| !i.deleted);
        let freshness = self.freshness();
        // An unknown flag costs no DynamoDB read (the mirror answers from memory); the SDK
        // still sees it, so LaunchDarkly's event for an unknown flag goes out as usual.
        let detail = self
            .client()
            .variation_detail(context, flag, FlagValue::Json(Value::Null));
        let rollout = stored.is_some_and(|s| served_by_rollout(&s.serialized_item, &detail.reason))
            || in_experiment(&detail.reason);
        Ok(Evaluation {
            flag: flag.to_string(),
            // A `null` JSON value is the default the SDK was given: no value.
            value: detail.value.and_then(|v| json_value(&v)),
            variation_index: detail.variation_index.and_then(|i| usize::try_from(i).ok()),
            reason: detail.reason,
            rollout,
            freshness,
        })
    }

    fn evaluate_every(&self, context: &Context) -> Result<Vec<Evaluation>, Unavailable> {
        self.mirror.check();
        let data = self.mirror.data().map_err(Unavailable)?;
        let freshness = self.freshness();
        let view = DataView(&data);
        let mut keys: Vec<&std::sync::Arc<str>> = data
            .items(Kind::Flags)
            .iter()
            .filter(|(_, item)| !item.deleted)
            .map(|(key, _)| key)
            .collect();
        keys.sort();
        Ok(keys
            .into_iter()
            .map(|key| {
                let json = data.items(Kind::Flags)[key].json();
                match serde_json::from_str::<Flag>(&json) {
                    Ok(flag) => {
                        let detail = launchdarkly_server_sdk_evaluation::evaluate(
                            &view, &flag, context, None,
                        );
                        Evaluation {
                            flag: key.to_string(),
                            value: detail.value.and_then(json_value),
                            variation_index: detail
                                .variation_index
                                .and_then(|i| usize::try_from(i).ok()),
                            rollout: served_by_rollout(&json, &detail.reason)
                                || in_experiment(&detail.reason),
                            reason: detail.reason,
                            freshness,
                        }
                    }
                    Err(_) => Evaluation {
                        flag: key.to_string(),
                        value: None,
                        variation_index: None,
                        reason: Reason::Error {
                            error: EvalError::MalformedFlag,
                        },
                        rollout: false,
                        freshness,
                    },
                }
            })
            .collect())
    }

    /// True when analytics events are sent.
    pub fn sends_events(&self) -> bool {
        self.events.is_some()
    }

    /// Delivers pending analytics events, waiting at most `limit` (and the configured time);
    /// false when they were not all delivered (they stay queued).
    pub async fn flush_events_within(&self, limit: Duration) -> bool {
        match self.events {
            Some(timeout) => self.client().flush_blocking(timeout.min(limit)).await,
            None => true,
        }
    }

    /// Stops the client, delivering pending events first (blocking).
    pub fn close(&self) {
        self.client().close();
    }
}

fn in_experiment(reason: &Reason) -> bool {
    matches!(
        reason,
        Reason::RuleMatch {
            in_experiment: true,
            ..
        } | Reason::Fallthrough {
            in_experiment: true
        }
    )
}

/// The JSON of a served value; `None` for JSON `null` (no value). The SDK holds numbers as
/// `f64`: a flag served as `10` would come back as `10.0`, which typed clients read as a
/// float, so whole numbers go back to integers.
fn json_value(value: &FlagValue) -> Option<Value> {
    let value = value.as_json()?;
    match value.as_f64() {
        _ if value.is_null() => None,
        Some(n) if value.is_f64() && n.fract() == 0.0 && n.abs() < 9.0e15 => {
            Some(Value::from(n as i64))
        }
        _ => Some(value),
    }
}

/// The loaded data as the evaluator's store (prerequisites and segments).
struct DataView<'a>(&'a MirrorData);

impl Store for DataView<'_> {
    fn flag(&self, key: &str) -> Option<Flag> {
        let item = self.0.items(Kind::Flags).get(key).filter(|i| !i.deleted)?;
        serde_json::from_str(&item.json()).ok()
    }

    fn segment(&self, key: &str) -> Option<Segment> {
        let item = self
            .0
            .items(Kind::Segments)
            .get(key)
            .filter(|i| !i.deleted)?;
        serde_json::from_str(&item.json()).ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_are_integers_and_null_is_no_value() {
        assert_eq!(json_value(&FlagValue::Number(10.0)), Some(Value::from(10)));
        assert_eq!(json_value(&FlagValue::Number(1.5)), Some(Value::from(1.5)));
        assert_eq!(json_value(&FlagValue::Json(Value::Null)), None);
        assert_eq!(json_value(&FlagValue::Bool(true)), Some(Value::from(true)));
    }
}
