//! Before the first copy lands: an evaluation's point reads (the flag, its prerequisites, the
//! segments their rules match), answered from while the load is still running, replaced by
//! the copy when it lands; a table never synced is an error there too.

use crate::fixtures;

use std::time::Duration;

use fixtures::synced::*;
use fixtures::*;
use launchdarkly_dynamo_store::mirror::ReadFailure;
use launchdarkly_dynamo_store::{Kind, Snapshot};
use launchdarkly_dynamo_testkit::dynamodb::{endpoint, RequestCounter};
use launchdarkly_dynamo_testkit::proxy::{DynamoProxy, Faults};
use launchdarkly_server_sdk::SerializedItem;

fn json_item(json: serde_json::Value) -> SerializedItem {
    SerializedItem {
        version: json["version"].as_u64().unwrap_or(1),
        deleted: false,
        serialized_item: json.to_string(),
    }
}

/// A flag with a prerequisite and a segment rule, the segment naming another segment, and
/// fifty flags nobody needs.
fn environment() -> Snapshot {
    let mut snapshot = snapshot(&[]);
    for i in 0..50 {
        let key = format!("other-{i}");
        snapshot.insert(Kind::Flags, key.clone(), item(Kind::Flags, &key, 1));
    }
    let mut main = serde_json::from_str::<serde_json::Value>(&flag_json("main", 4)).unwrap();
    main["prerequisites"] = serde_json::json!([{"key": "needed", "variation": 0}]);
    main["rules"] = serde_json::json!([{"id": "r", "variation": 0, "clauses": [
        {"attribute": "key", "op": "segmentMatch", "values": ["beta"], "negate": false}]}]);
    snapshot.insert(Kind::Flags, "main", json_item(main));
    snapshot.insert(Kind::Flags, "needed", item(Kind::Flags, "needed", 2));
    let mut beta = serde_json::from_str::<serde_json::Value>(&segment_json("beta", 3)).unwrap();
    beta["rules"] = serde_json::json!([{"clauses": [
        {"attribute": "key", "op": "segmentMatch", "values": ["nested"], "negate": false}]}]);
    snapshot.insert(Kind::Segments, "beta", json_item(beta));
    snapshot.insert(Kind::Segments, "nested", item(Kind::Segments, "nested", 1));
    snapshot
}

/// Stalls the first load whichever way it goes: the archive and every query.
fn stalled_load() -> Faults {
    Faults {
        stall_bodies_with: vec!["$archive".into(), "KeyConditionExpression".into()],
        ..Faults::default()
    }
}

#[tokio::test]
async fn before_the_copy_a_flag_is_answered_from_point_reads_of_what_it_needs() {
    let setup = setup("ahead").await;
    sync(&setup.writer, &environment()).await;
    let proxy = DynamoProxy::start(&endpoint());
    proxy.set_faults(stalled_load());
    let counter = RequestCounter::default();
    let mirror = mirror_via(&setup.table, proxy.endpoint(), Some(counter.clone())).await;
    assert!(matches!(mirror.data(), Err(ReadFailure::Loading)));
    assert!(!mirror.can_answer());
    // The load is under way (its archive read stalled) before the point reads are counted.
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    while counter.get("BatchGetItem") == 0 {
        assert!(
            tokio::time::Instant::now() < until,
            "the first load never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    counter.reset();

    mirror
        .read_ahead("main", Duration::from_secs(5))
        .await
        .unwrap();
    assert!(mirror.data().is_err(), "the copy is still loading");
    assert!(mirror.can_answer());
    // Answers from point reads are as old as those reads.
    let age = mirror.status().data_age();
    assert!(
        age.is_some_and(|age| age < Duration::from_secs(5)),
        "{age:?}"
    );
    assert_eq!(version(&mirror, "main"), Some(4));
    assert_eq!(version(&mirror, "needed"), Some(2));
    let segment = |key: &str| mirror.get(Kind::Segments, key).unwrap().map(|i| i.version);
    assert_eq!((segment("beta"), segment("nested")), (Some(3), Some(1)));
    // One batch per level: the flag (with the marker), then its prerequisite and segment, then
    // the segment's segment. Nothing else was read.
    assert_eq!(counter.get("BatchGetItem"), 3, "{counter:?}");
    assert!(mirror.get(Kind::Flags, "other-1").is_err());
    // Read again: nothing more to read. A flag the table does not hold is known missing.
    mirror
        .read_ahead("main", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(counter.get("BatchGetItem"), 3, "{counter:?}");
    mirror
        .read_ahead("nowhere", Duration::from_secs(5))
        .await
        .unwrap();
    assert!(mirror.get(Kind::Flags, "nowhere").unwrap().is_none());

    // The copy lands and answers for everything; point reads are no longer made.
    proxy.set_faults(Faults::default());
    refreshed_until(&mirror, "the first copy", |m| m.data().is_ok()).await;
    assert_eq!(version(&mirror, "other-1"), Some(1));
    counter.reset();
    mirror
        .read_ahead("other-2", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(counter.get("BatchGetItem"), 0, "{counter:?}");
}

#[tokio::test]
async fn point_reads_of_a_table_never_synced_or_a_stalled_one_are_errors() {
    let setup = setup("ahead-never").await;
    let mirror = mirror_via(&setup.table, &endpoint(), None).await;
    let never = mirror.read_ahead("main", Duration::from_secs(5)).await;
    assert!(
        matches!(never, Err(ReadFailure::NeverSynced { .. })),
        "{never:?}"
    );
    // Callers hear why, not "still loading".
    let answer = mirror.get(Kind::Flags, "main").err();
    assert!(
        matches!(answer, Some(ReadFailure::NeverSynced { .. })),
        "{answer:?}"
    );

    sync(&setup.writer, &environment()).await;
    let proxy = DynamoProxy::start(&endpoint());
    proxy.set_faults(Faults {
        stall_bodies_with: vec![
            "main".into(),
            "$archive".into(),
            "KeyConditionExpression".into(),
        ],
        ..Faults::default()
    });
    let mirror = mirror_via(&setup.table, proxy.endpoint(), None).await;
    let stalled = mirror.read_ahead("main", Duration::from_millis(300)).await;
    assert!(
        matches!(stalled, Err(ReadFailure::Timeout { .. })),
        "{stalled:?}"
    );
    let answer = mirror.get(Kind::Flags, "main").err();
    assert!(
        matches!(answer, Some(ReadFailure::Timeout { .. })),
        "{answer:?}"
    );
    proxy.set_faults(Faults::default());
}
