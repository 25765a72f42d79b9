//! The snapshot diff apply: fewest writes, requests counted on the wire, and failures that
//! never delete anything nor mark an incomplete table initialized.

use crate::fixtures;

use fixtures::*;
use launchdarkly_dynamo_store::{
    DynamoDbStore, DynamoDbStoreBuilder, ItemRef, Kind, Snapshot, StoreError,
};
use launchdarkly_dynamo_testkit::dynamodb::{client_with, create_table, scan_all, RequestCounter};
use launchdarkly_dynamo_testkit::proxy::{DynamoProxy, Faults};
use std::time::Duration;

fn snapshot(flags: usize, segments: usize, version: u64) -> Snapshot {
    let mut snapshot = Snapshot::default();
    for i in 0..flags {
        let key = format!("flag-{i:03}");
        snapshot.insert(Kind::Flags, key.clone(), item(Kind::Flags, &key, version));
    }
    for i in 0..segments {
        let key = format!("segment-{i:03}");
        snapshot.insert(
            Kind::Segments,
            key.clone(),
            item(Kind::Segments, &key, version),
        );
    }
    snapshot
}

struct Counted {
    store: DynamoDbStore,
    counter: RequestCounter,
    table: String,
    client: aws_sdk_dynamodb::Client,
}

async fn counted(label: &str, endpoint: &str) -> Counted {
    let counter = RequestCounter::default();
    let client = client_with(endpoint, Some(counter.clone()));
    let plain = launchdarkly_dynamo_testkit::dynamodb::client();
    let table = create_table(&plain, label).await;
    let store = DynamoDbStoreBuilder::new(&table)
        .client(client.clone())
        .write_deadline(Duration::from_secs(5))
        .build()
        .await
        .unwrap();
    counter.reset();
    Counted {
        store,
        counter,
        table,
        client: plain,
    }
}

#[tokio::test]
async fn first_apply_writes_everything_and_the_same_snapshot_again_writes_nothing() {
    let t = counted(
        "apply-same",
        &launchdarkly_dynamo_testkit::dynamodb::endpoint(),
    )
    .await;
    let data = snapshot(60, 12, 1);

    let first = t.store.apply_snapshot(&data).await.unwrap();
    assert_eq!(first.written.len(), 72);
    assert!(first.marker_written);
    assert_eq!(first.item_writes(), 73, "N items + the marker");
    assert_eq!(
        t.counter.get("BatchWriteItem"),
        72usize.div_ceil(25),
        "an uninitialized table gets segments and flags in one phase"
    );
    assert_eq!(t.counter.get("PutItem"), 1, "the marker");
    let after_first = scan_all(&t.client, &t.table).await;
    assert_eq!(after_first.len(), 73);

    t.counter.reset();
    let second = t.store.apply_snapshot(&data).await.unwrap();
    assert_eq!(second.item_writes(), 0);
    assert_eq!(second.unchanged, 72);
    assert_eq!(
        t.counter.writes(),
        0,
        "no write request of any kind reached DynamoDB"
    );
    assert_eq!(
        t.counter.get("Query"),
        2,
        "one projected query per namespace"
    );
    assert_eq!(t.counter.get("GetItem"), 1, "the marker check");
    assert_eq!(scan_all(&t.client, &t.table).await, after_first);
}

#[tokio::test]
async fn k_changed_items_cost_k_writes_and_removed_keys_are_deleted() {
    let t = counted(
        "apply-changed",
        &launchdarkly_dynamo_testkit::dynamodb::endpoint(),
    )
    .await;
    let mut data = snapshot(40, 5, 1);
    t.store.apply_snapshot(&data).await.unwrap();

    for i in [3, 17, 29] {
        let key = format!("flag-{i:03}");
        data.insert(Kind::Flags, key.clone(), item(Kind::Flags, &key, 2));
    }
    let mut next = Snapshot::default();
    for kind in Kind::ALL {
        for (key, value) in data.items(kind) {
            if key != "flag-000" && key != "segment-004" {
                next.insert(kind, key.clone(), value.clone());
            }
        }
    }
    t.counter.reset();
    let report = t.store.apply_snapshot(&next).await.unwrap();
    let keys = |items: &[ItemRef]| items.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(
        keys(&report.written),
        [
            "features/flag-003",
            "features/flag-017",
            "features/flag-029"
        ]
    );
    assert_eq!(
        keys(&report.deleted),
        ["features/flag-000", "segments/segment-004"]
    );
    assert_eq!(report.unchanged, 40 + 5 - 3 - 2);
    assert!(!report.marker_written);
    assert_eq!(
        t.counter.get("BatchWriteItem"),
        3,
        "one put batch, one delete batch per kind"
    );
    assert_eq!(
        t.store
            .get(Kind::Flags, "flag-017")
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
    assert!(t
        .store
        .get(Kind::Flags, "flag-000")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_failed_data_write_deletes_nothing_and_leaves_the_marker_unwritten() {
    let t = counted(
        "apply-fails",
        &launchdarkly_dynamo_testkit::dynamodb::endpoint(),
    )
    .await;
    // A table that was synced before, then lost its marker (as if a previous sync failed).
    t.store.apply_snapshot(&snapshot(30, 2, 1)).await.unwrap();
    let marker = aws_sdk_dynamodb::types::AttributeValue::S("$inited".into());
    t.client
        .delete_item()
        .table_name(&t.table)
        .key("namespace", marker.clone())
        .key("key", marker)
        .send()
        .await
        .unwrap();
    let before = scan_all(&t.client, &t.table).await;

    // DynamoDB rejects a sort key over 1024 bytes: that batch fails for real.
    let mut next = snapshot(20, 2, 2);
    let long_key = "k".repeat(1100);
    next.insert(
        Kind::Flags,
        long_key.clone(),
        item(Kind::Flags, &long_key, 2),
    );
    let err = t.store.apply_snapshot(&next).await.unwrap_err();
    let StoreError::Incomplete { failed, report, .. } = &err else {
        panic!("expected Incomplete, got {err}")
    };
    assert!(
        failed.iter().any(|f| f.key == long_key),
        "the failing item is named"
    );
    assert!(report.deleted.is_empty());
    assert!(!report.marker_written);
    assert!(err.to_string().contains("nothing was deleted"), "{err}");

    let after = scan_all(&t.client, &t.table).await;
    assert!(
        !t.store.is_initialized().await.unwrap(),
        "marker still absent"
    );
    // Flags 20..29 were not in the new snapshot: still there, since deletes never ran.
    for i in 20..30 {
        assert!(t
            .store
            .get(Kind::Flags, &format!("flag-{i:03}"))
            .await
            .unwrap()
            .is_some());
    }
    // Nothing but the successful puts changed.
    assert_eq!(after.len(), before.len());
}

#[tokio::test]
async fn unprocessed_items_are_retried_until_written() {
    let proxy = DynamoProxy::start(&launchdarkly_dynamo_testkit::dynamodb::endpoint());
    let t = counted("apply-unprocessed", proxy.endpoint()).await;
    proxy.set_faults(Faults {
        unprocessed_batches: 4,
        ..Faults::default()
    });
    let report = t.store.apply_snapshot(&snapshot(30, 0, 1)).await.unwrap();
    assert_eq!(report.written.len(), 30);
    assert_eq!(proxy.remaining_faults().unprocessed_batches, 0);
    assert!(
        report.batch_requests > 2,
        "unprocessed halves were sent again: {}",
        report.batch_requests
    );
    let rows = scan_all(&t.client, &t.table).await;
    assert_eq!(rows.len(), 31, "every item and the marker really stored");
}

#[tokio::test]
async fn throttling_is_retried() {
    let proxy = DynamoProxy::start(&launchdarkly_dynamo_testkit::dynamodb::endpoint());
    let t = counted("apply-throttled", proxy.endpoint()).await;
    // More throttled answers than the AWS SDK's own three attempts absorb.
    proxy.set_faults(Faults {
        throttled_batches: 5,
        ..Faults::default()
    });
    let report = t.store.apply_snapshot(&snapshot(10, 0, 1)).await.unwrap();
    assert_eq!(report.written.len(), 10);
    assert_eq!(
        proxy.remaining_faults().throttled_batches,
        0,
        "all five throttles were answered"
    );
    assert_eq!(scan_all(&t.client, &t.table).await.len(), 11);
}

#[tokio::test]
async fn items_never_written_before_the_deadline_are_named_and_nothing_is_deleted() {
    let proxy = DynamoProxy::start(&launchdarkly_dynamo_testkit::dynamodb::endpoint());
    let t = counted("apply-deadline", proxy.endpoint()).await;
    t.store.apply_snapshot(&snapshot(3, 0, 1)).await.unwrap();
    let before = scan_all(&t.client, &t.table).await;
    let store = DynamoDbStoreBuilder::new(&t.table)
        .client(client_with(proxy.endpoint(), None))
        .write_deadline(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    proxy.set_faults(Faults {
        unprocessed_batches: usize::MAX,
        ..Faults::default()
    });
    let mut next = Snapshot::default();
    next.insert(Kind::Flags, "flag-000", item(Kind::Flags, "flag-000", 5));
    let err = store.apply_snapshot(&next).await.unwrap_err();
    proxy.set_faults(Faults::default());
    let StoreError::Incomplete { failed, .. } = &err else {
        panic!("expected Incomplete, got {err}")
    };
    assert_eq!(failed, &vec![ItemRef::new(Kind::Flags, "flag-000")]);
    assert!(err.to_string().contains("features/flag-000"), "{err}");
    assert_eq!(
        scan_all(&t.client, &t.table).await,
        before,
        "flag-001 and flag-002 not deleted"
    );
}

#[test]
fn oversize_items_are_dropped_with_one_error_line_naming_them() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (logs, _guard) = launchdarkly_dynamo_testkit::logs::capture();
    runtime.block_on(async {
        let t = counted(
            "apply-oversize",
            &launchdarkly_dynamo_testkit::dynamodb::endpoint(),
        )
        .await;
        let mut data = snapshot(3, 0, 1);
        let huge = launchdarkly_server_sdk::SerializedItem {
            version: 1,
            deleted: false,
            serialized_item: format!(r#"{{"key":"my-flag-key","pad":"{}"}}"#, "x".repeat(400_000)),
        };
        data.insert(Kind::Flags, "my-flag-key", huge);
        let report = t.store.apply_snapshot(&data).await.unwrap();
        assert_eq!(
            report.skipped_oversize,
            vec![ItemRef::new(Kind::Flags, "my-flag-key")]
        );
        assert_eq!(report.written.len(), 3);
        assert!(report.marker_written);
    });
    let text = logs.text();
    let line = "The item \"my-flag-key\" in \"features\" was too large to store in DynamoDB and was dropped";
    assert_eq!(text.matches(line).count(), 1, "{text}");
    assert!(text.contains("ERROR"), "{text}");
}
