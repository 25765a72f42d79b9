//! Shared setup of the syncer's tests: a fresh table in DynamoDB Local, a LaunchDarkly stand-in
//! and a syncer configured like the Lambda.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use launchdarkly_dynamo_common::settings::{SdkKeyArgs, TableArgs};
use launchdarkly_dynamo_store::schema::{ARCHIVE_NAMESPACE, SYNC_NAMESPACE};
use launchdarkly_dynamo_testkit::dynamodb::{client_with, create_table, scan_all, RequestCounter};
use launchdarkly_dynamo_testkit::launchdarkly::LaunchDarkly;
use serde_json::{json, Value};
use syncer::{Settings, Syncer};
use tokio::time::Instant;

pub const SDK_KEY: &str = "sdk-test-key-0123";

/// A flag the SDK can evaluate; `value` is what it serves to everyone.
pub fn flag(key: &str, version: u64, value: bool) -> Value {
    json!({
        "key": key, "version": version, "on": true, "targets": [], "contextTargets": [], "rules": [],
        "prerequisites": [], "fallthrough": {"variation": if value { 0 } else { 1 }}, "offVariation": 1,
        "variations": [true, false], "salt": format!("{key}-salt"), "trackEvents": false,
        "trackEventsFallthrough": false, "clientSideAvailability": {"usingMobileKey": false, "usingEnvironmentId": false}
    })
}

pub fn segment(key: &str, version: u64) -> Value {
    json!({"key": key, "version": version, "included": ["alice"], "excluded": [], "rules": [], "salt": "s"})
}

/// A `latest-all` body with these flags and segments (all values true).
pub fn data(flags: &[(&str, u64)], segments: &[(&str, u64)]) -> Value {
    let flags: serde_json::Map<String, Value> = flags
        .iter()
        .map(|(k, v)| (k.to_string(), flag(k, *v, true)))
        .collect();
    let segments: serde_json::Map<String, Value> = segments
        .iter()
        .map(|(k, v)| (k.to_string(), segment(k, *v)))
        .collect();
    json!({"flags": flags, "segments": segments})
}

pub type TableState = Vec<BTreeMap<String, AttributeValue>>;

/// A table, a stand-in and clients for one test.
pub struct Env {
    pub dynamo: aws_sdk_dynamodb::Client,
    pub counter: RequestCounter,
    pub table: String,
    pub ld: LaunchDarkly,
}

impl Env {
    pub async fn new(label: &str, initial: Value) -> Self {
        let counter = RequestCounter::default();
        let dynamo = client_with(
            &launchdarkly_dynamo_testkit::dynamodb::endpoint(),
            Some(counter.clone()),
        );
        let table = create_table(&dynamo, label).await;
        let ld = LaunchDarkly::start(SDK_KEY, initial);
        Self {
            dynamo,
            counter,
            table,
            ld,
        }
    }

    /// Settings as the Lambda gets them, with the SDK key given directly.
    pub fn settings(&self) -> Settings {
        Settings {
            target: TableArgs {
                table: Some(self.table.clone()),
                prefix: None,
            },
            base_uri: self.ld.base_uri().to_string(),
            sdk_key: SdkKeyArgs {
                sdk_key: Some(SDK_KEY.to_string()),
                sdk_key_param: None,
            },
            secrets_ttl_seconds: 300,
            sync_timeout_seconds: 20,
            http_timeout_seconds: 5,
            lease_seconds: 10,
            max_response_mb: 32,
            max_delete_percent: 50,
            ..Settings::default()
        }
    }

    /// `binary` (the syncer's, `CARGO_BIN_EXE_syncer`) as an operator runs it against this
    /// table and stand-in, outside Lambda.
    pub fn cli(&self, binary: &str) -> std::process::Command {
        let mut command = std::process::Command::new(binary);
        command
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .env("LAUNCHDARKLY_DYNAMODB_TABLE", &self.table)
            .env("LAUNCHDARKLY_BASE_URI", self.ld.base_uri())
            .env("LAUNCHDARKLY_SDK_KEY", SDK_KEY)
            .env(
                "AWS_ENDPOINT_URL_DYNAMODB",
                launchdarkly_dynamo_testkit::dynamodb::endpoint(),
            );
        command
    }

    pub async fn syncer(&self) -> Syncer {
        self.syncer_with(self.settings()).await
    }

    pub async fn syncer_with(&self, settings: Settings) -> Syncer {
        self.syncer_on(settings, self.dynamo.clone()).await
    }

    pub async fn syncer_on(&self, settings: Settings, dynamo: aws_sdk_dynamodb::Client) -> Syncer {
        let config = settings.validate().expect("valid settings");
        Syncer::with_clients(config, dynamo, launchdarkly_dynamo_testkit::ssm::client())
            .await
            .expect("the syncer builds")
    }

    /// Every row, sorted, the syncs' coordination rows included.
    pub async fn state(&self) -> TableState {
        scan_all(&self.dynamo, &self.table).await
    }

    /// Every row an SDK reads (flags, segments, `$inited`), sorted: to compare before and
    /// after a failure. The lease, fences and tickets change with every attempt.
    pub async fn data_state(&self) -> TableState {
        self.state()
            .await
            .into_iter()
            .filter(|row| {
                let namespace = row.get("namespace").and_then(|n| n.as_s().ok());
                // The syncer's own rows: the lease and generation, the archive.
                !matches!(
                    namespace.map(String::as_str),
                    Some(SYNC_NAMESPACE | ARCHIVE_NAMESPACE)
                )
            })
            .collect()
    }

    /// Flag keys and versions stored (tombstones and the marker excluded).
    pub async fn flags(&self) -> BTreeMap<String, u64> {
        self.items("features").await
    }

    pub async fn segments(&self) -> BTreeMap<String, u64> {
        self.items("segments").await
    }

    async fn items(&self, namespace: &str) -> BTreeMap<String, u64> {
        self.state()
            .await
            .into_iter()
            .filter(|row| row.get("namespace") == Some(&AttributeValue::S(namespace.into())))
            .filter_map(|row| match (row.get("key"), row.get("version")) {
                (Some(AttributeValue::S(k)), Some(AttributeValue::N(v))) => {
                    Some((k.clone(), v.parse().ok()?))
                }
                _ => None,
            })
            .collect()
    }
}

pub fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(30)
}
