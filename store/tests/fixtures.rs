//! Items shared by the store's integration tests (each test binary includes this file).
#![allow(dead_code)]

use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use launchdarkly_dynamo_store::{DynamoDbStore, DynamoDbStoreBuilder, Kind};
use launchdarkly_server_sdk::{
    DataKind, PersistentDataStore, PersistentDataStoreFactory, SerializedItem,
};

/// A flag the SDK can evaluate, at `version`.
pub fn flag_json(key: &str, version: u64) -> String {
    serde_json::json!({
        "key": key, "version": version, "on": true, "targets": [], "contextTargets": [],
        "rules": [], "prerequisites": [], "fallthrough": {"variation": 0}, "offVariation": 1,
        "variations": [true, false], "clientSideAvailability": {"usingMobileKey": false, "usingEnvironmentId": false},
        "salt": "salt", "trackEvents": false, "trackEventsFallthrough": false
    })
    .to_string()
}

/// A segment the SDK can evaluate, at `version`.
pub fn segment_json(key: &str, version: u64) -> String {
    serde_json::json!({
        "key": key, "version": version, "included": ["included-user"], "excluded": [],
        "rules": [], "salt": "salt"
    })
    .to_string()
}

/// A live item of `kind`.
pub fn item(kind: Kind, key: &str, version: u64) -> SerializedItem {
    SerializedItem {
        version,
        deleted: false,
        serialized_item: match kind {
            Kind::Flags => flag_json(key, version),
            Kind::Segments => segment_json(key, version),
        },
    }
}

/// The tombstone the Rust SDK hands the store.
pub fn tombstone(version: u64) -> SerializedItem {
    SerializedItem {
        version,
        deleted: true,
        serialized_item: format!(r#"{{"deleted":true,"key":"$deleted","version":{version}}}"#),
    }
}

pub fn data_kind(kind: Kind) -> DataKind {
    match kind {
        Kind::Flags => DataKind::Flag,
        Kind::Segments => DataKind::Segment,
    }
}

/// A fresh table in DynamoDB Local and a client for it.
pub struct Fixture {
    pub client: Client,
    pub table: String,
}

impl Fixture {
    pub fn new(label: &str) -> Self {
        let client = ld_dynamo_testkit::dynamodb::client();
        let table =
            ld_dynamo_testkit::block_on(ld_dynamo_testkit::dynamodb::create_table(&client, label));
        Self { client, table }
    }

    pub fn builder(&self, prefix: Option<&str>) -> DynamoDbStoreBuilder {
        let builder = DynamoDbStoreBuilder::new(&self.table).client(self.client.clone());
        match prefix {
            Some(prefix) => builder.prefix(prefix),
            None => builder,
        }
    }

    /// The store as the SDK sees it: through the factory, synchronous trait.
    pub fn sdk_store(&self, prefix: Option<&str>) -> Box<dyn PersistentDataStore> {
        self.builder(prefix)
            .create_persistent_data_store()
            .expect("the factory builds a store")
    }

    /// The async store.
    pub fn store(&self, prefix: Option<&str>) -> DynamoDbStore {
        ld_dynamo_testkit::block_on(self.builder(prefix).build()).expect("the store builds")
    }

    pub fn factory(&self, prefix: Option<&str>) -> Arc<DynamoDbStoreBuilder> {
        Arc::new(self.builder(prefix))
    }
}

/// Reads one item of `kind` through the SDK trait.
pub fn get(store: &dyn PersistentDataStore, kind: Kind, key: &str) -> Option<SerializedItem> {
    match kind {
        Kind::Flags => store.flag(key),
        Kind::Segments => store.segment(key),
    }
    .expect("get succeeds")
}

/// (version, deleted) of an item, for compact assertions.
pub fn state(item: Option<SerializedItem>) -> Option<(u64, bool)> {
    item.map(|i| (i.version, i.deleted))
}
