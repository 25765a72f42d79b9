//! Setup shared by the extension's tests.

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
