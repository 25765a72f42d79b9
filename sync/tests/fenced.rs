//! Fenced applies and the sync lease: every write is a transaction that checks the fence,
//! transactions are cut by count and size, a holder that lost the lease writes nothing more,
//! and tickets are answered by a sync that took the lease after them.

use std::time::Duration;

use launchdarkly_dynamo_store::{
    ApplyOptions, Compare, DynamoDbStore, DynamoDbStoreBuilder, Kind, Snapshot, StoreError,
};
use launchdarkly_dynamo_sync::{
    Coverage, LeaseError, SyncCoordinator, SyncLease, Turn, MIN_LEASE_PERIOD,
};
use launchdarkly_dynamo_testkit::dynamodb::{client_with, create_table, scan_all, RequestCounter};
use launchdarkly_server_sdk::SerializedItem;
use tokio::time::Instant;

async fn store(label: &str) -> (DynamoDbStore, RequestCounter, String) {
    let counter = RequestCounter::default();
    let client = client_with(
        &launchdarkly_dynamo_testkit::dynamodb::endpoint(),
        Some(counter.clone()),
    );
    let table = create_table(&client, label).await;
    let store = DynamoDbStoreBuilder::new(&table)
        .client(client)
        .build()
        .await
        .unwrap();
    (store, counter, table)
}

/// A flag the SDK can evaluate, at `version`.
fn item(key: &str, version: u64) -> SerializedItem {
    let flag = serde_json::json!({
        "key": key, "version": version, "on": true, "targets": [], "rules": [],
        "prerequisites": [], "fallthrough": {"variation": 0}, "offVariation": 1,
        "variations": [true, false], "salt": "salt"
    });
    SerializedItem {
        version,
        deleted: false,
        serialized_item: flag.to_string(),
    }
}

fn coordinator(store: &DynamoDbStore, period: Duration) -> SyncCoordinator {
    SyncCoordinator::new(store, period).unwrap()
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(20)
}

async fn hold(store: &DynamoDbStore, period: Duration) -> SyncLease {
    let coordinator = coordinator(store, period);
    let ticket = coordinator.ticket(Coverage::Any).await.unwrap();
    match coordinator.wait_turn(&ticket, deadline()).await.unwrap() {
        Turn::Held(lease) => lease,
        Turn::Covered => panic!("nothing ran before: the first trigger must hold the lease"),
    }
}

fn flags(count: usize, version: u64) -> Snapshot {
    let mut snapshot = Snapshot::default();
    for i in 0..count {
        let key = format!("flag-{i:03}");
        snapshot.insert(Kind::Flags, key.clone(), item(&key, version));
    }
    snapshot
}

#[tokio::test]
async fn a_fenced_apply_writes_in_transactions_of_at_most_99_writes() {
    let (store, counter, _) = store("fenced-count").await;
    let lease = hold(&store, Duration::from_secs(10)).await;
    counter.reset();
    let report = store
        .apply(&flags(250, 1), ApplyOptions::default().fenced_by(&lease))
        .await
        .unwrap();
    assert_eq!(report.written.len(), 250);
    assert!(report.marker_written);
    // The generation announced, 250 items: 99 + 99 + 52, the archive (one part, fenced like
    // the data), then the marker and the generation committed in one transaction.
    assert_eq!(report.archive.as_ref().map(|a| a.parts), Some(1));
    assert_eq!(counter.get("TransactWriteItems"), 6);
    assert_eq!(report.generation, Some(1));
    assert_eq!(counter.get("BatchWriteItem"), 0);
    assert_eq!(counter.get("PutItem"), 0);
    assert_eq!(store.all(Kind::Flags).await.unwrap().len(), 250);
    lease.release(Some(Coverage::Any)).await;
}

#[tokio::test]
async fn transactions_are_cut_by_size_under_dynamodbs_4_mb() {
    let (store, counter, _) = store("fenced-size").await;
    let lease = hold(&store, Duration::from_secs(10)).await;
    let mut snapshot = Snapshot::default();
    for i in 0..20 {
        let key = format!("big-{i:02}");
        let padding = "x".repeat(300_000);
        snapshot.insert(
            Kind::Flags,
            key.clone(),
            SerializedItem {
                version: 1,
                deleted: false,
                serialized_item: format!(
                    r#"{{"key":"{key}","version":1,"on":false,"targets":[],"rules":[],"prerequisites":[],"fallthrough":{{"variation":0}},"offVariation":0,"variations":["{padding}"],"salt":"s"}}"#
                ),
            },
        );
    }
    counter.reset();
    let report = store
        .apply(&snapshot, ApplyOptions::default().fenced_by(&lease))
        .await
        .unwrap();
    assert_eq!(report.written.len(), 20);
    // 6 MB of items: at most 3 items of ~300 KB per transaction of about 1 MB (7 of them), plus
    // the generation's announcement, the archive (padding compresses to one part), and the
    // commit with the marker.
    assert_eq!(report.archive.as_ref().map(|a| a.parts), Some(1));
    assert_eq!(counter.get("TransactWriteItems"), 7 + 3);
}

#[tokio::test]
async fn a_holder_that_lost_the_lease_writes_nothing_and_says_so() {
    let (store, _, table) = store("fenced-lost").await;
    store.apply_snapshot(&flags(3, 1)).await.unwrap();
    let period = MIN_LEASE_PERIOD;
    let stale = hold(&store, period).await;
    // The holder stops renewing (a frozen or paused process): after one period another sync
    // takes over.
    stale.stop_renewing();
    let coordinator = coordinator(&store, period);
    let ticket = coordinator.ticket(Coverage::Any).await.unwrap();
    let Turn::Held(newer) = coordinator.wait_turn(&ticket, deadline()).await.unwrap() else {
        panic!("the stale holder never finished: nothing covers the ticket");
    };
    let before = scan_all(&launchdarkly_dynamo_testkit::dynamodb::client(), &table).await;
    let err = store
        .apply(
            &flags(3, 2),
            ApplyOptions::default()
                .fenced_by(&stale)
                .compare(Compare::Content),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
    assert!(err.to_string().contains("another sync took over"), "{err}");
    let after = scan_all(&launchdarkly_dynamo_testkit::dynamodb::client(), &table).await;
    assert_eq!(
        data_rows(after),
        data_rows(before),
        "none of the stale holder's writes landed"
    );
    // The new holder writes normally.
    let report = store
        .apply(&flags(3, 2), ApplyOptions::default().fenced_by(&newer))
        .await
        .unwrap();
    assert_eq!(report.written.len(), 3);
}

fn data_rows(
    rows: Vec<std::collections::BTreeMap<String, aws_sdk_dynamodb::types::AttributeValue>>,
) -> Vec<std::collections::BTreeMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    rows.into_iter()
        .filter(|row| {
            row.get("namespace")
                != Some(&aws_sdk_dynamodb::types::AttributeValue::S(
                    "$syncer-lease".into(),
                ))
        })
        .collect()
}

#[tokio::test]
async fn a_ticket_taken_before_a_sync_took_the_lease_is_covered_by_it() {
    let (store, _, _) = store("fenced-tickets").await;
    let coordinator = coordinator(&store, Duration::from_secs(10));
    let early = coordinator.ticket(Coverage::Any).await.unwrap();
    let wants_repair = coordinator.ticket(Coverage::Reconciled).await.unwrap();
    let Turn::Held(lease) = coordinator.wait_turn(&early, deadline()).await.unwrap() else {
        panic!("the first ticket holds the lease");
    };
    assert_eq!(lease.covers(), wants_repair.number());
    assert!(
        lease.must_reconcile(),
        "a waiting trigger asked for a reconciling sync"
    );
    let late = coordinator.ticket(Coverage::Any).await.unwrap();
    lease.release(Some(Coverage::Reconciled)).await;

    assert!(matches!(
        coordinator
            .wait_turn(&wants_repair, deadline())
            .await
            .unwrap(),
        Turn::Covered
    ));
    // A trigger that arrived after the sync took the lease is not covered by it.
    let Turn::Held(next) = coordinator.wait_turn(&late, deadline()).await.unwrap() else {
        panic!("a later trigger needs a sync of its own");
    };
    assert!(!next.must_reconcile());
    // A failed sync covers nothing.
    let after_failure = coordinator.ticket(Coverage::Any).await.unwrap();
    next.release(None).await;
    assert!(matches!(
        coordinator
            .wait_turn(&after_failure, deadline())
            .await
            .unwrap(),
        Turn::Held(_)
    ));
}

#[tokio::test]
async fn a_lease_period_below_the_minimum_is_an_error() {
    let (store, _, _) = store("fenced-period").await;
    let err = SyncCoordinator::new(&store, Duration::from_millis(1500)).unwrap_err();
    assert!(
        matches!(err, LeaseError::PeriodTooShort { minimum, .. } if minimum == MIN_LEASE_PERIOD),
        "{err}"
    );
    assert!(err.to_string().contains("at least 2s"), "{err}");
    assert_eq!(
        coordinator(&store, MIN_LEASE_PERIOD).lease_period(),
        MIN_LEASE_PERIOD
    );
}
