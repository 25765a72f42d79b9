//! Setup shared by the extension's tests.
#![allow(dead_code)] // each test binary uses part of it

use launchdarkly_dynamo_store::{DynamoDbStoreBuilder, Kind, Snapshot};
use launchdarkly_server_sdk::SerializedItem;
use serde_json::Value;

/// A new table holding `flags` and `segments` (LaunchDarkly JSON, each with `key` and
/// `version`), written by the store as a sync does.
pub async fn synced_table(label: &str, flags: &[Value], segments: &[Value]) -> String {
    let mut snapshot = Snapshot::default();
    for (kind, items) in [(Kind::Flags, flags), (Kind::Segments, segments)] {
        for item in items {
            let key = item["key"].as_str().unwrap_or_default();
            let serialized = SerializedItem {
                version: item["version"].as_u64().unwrap_or(1),
                deleted: false,
                serialized_item: item.to_string(),
            };
            snapshot.insert(kind, key, serialized);
        }
    }
    let dynamo = ld_dynamo_testkit::dynamodb::client();
    let table = ld_dynamo_testkit::dynamodb::create_table(&dynamo, label).await;
    DynamoDbStoreBuilder::new(&table)
        .client(dynamo)
        .build()
        .await
        .unwrap()
        .apply_snapshot(&snapshot)
        .await
        .unwrap();
    table
}

/// One sync as the syncer runs it (under the lease, fenced), so the table carries the data
/// generation readers follow.
pub async fn fenced_sync(table: &str, flags: &[Value]) {
    use launchdarkly_dynamo_store::{ApplyOptions, Coverage, Turn};
    let mut snapshot = Snapshot::default();
    for item in flags {
        let key = item["key"].as_str().unwrap_or_default();
        let serialized = SerializedItem {
            version: item["version"].as_u64().unwrap_or(1),
            deleted: false,
            serialized_item: item.to_string(),
        };
        snapshot.insert(Kind::Flags, key, serialized);
    }
    let store = DynamoDbStoreBuilder::new(table)
        .client(ld_dynamo_testkit::dynamodb::client())
        .build()
        .await
        .unwrap();
    let coordinator = store.coordinator(std::time::Duration::from_secs(10));
    let ticket = coordinator.ticket(Coverage::Any).await.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let Turn::Held(lease) = coordinator.wait_turn(&ticket, deadline).await.unwrap() else {
        panic!("no other sync runs");
    };
    store
        .apply(&snapshot, ApplyOptions::default().fenced_by(&lease))
        .await
        .unwrap();
    lease.release(Some(Coverage::Any)).await;
}
