//! The read side: the data generation a fenced sync commits, and the in-memory mirror that
//! follows it: fresh within its interval at the cost of one small read, reloading only what
//! changed, served as last read through a failing, stalled or unreachable DynamoDB, and never
//! answering a store it cannot read as missing flags.

use crate::fixtures;

use std::sync::Arc;
use std::time::Duration;

use fixtures::synced::*;
use fixtures::*;
use launchdarkly_dynamo_store::mirror::{FailureKind, MirrorState};
use launchdarkly_dynamo_store::schema::MAX_CHANGED_KEYS;
use launchdarkly_dynamo_store::{DynamoDbStoreBuilder, Kind, Mirror, MirrorSettings};
use launchdarkly_dynamo_testkit::dynamodb::{client_with, endpoint, RequestCounter};
use launchdarkly_dynamo_testkit::proxy::{DynamoProxy, Outage};
use launchdarkly_server_sdk::{
    Client, ConfigBuilder, ContextBuilder, NullEventProcessorBuilder, PersistentDataStoreBuilder,
};
use tokio::time::Instant;

#[tokio::test]
async fn each_changing_sync_commits_the_next_generation_and_an_idle_one_keeps_it() {
    let setup = setup("generation").await;
    assert_eq!(
        sync(&setup.writer, &snapshot(&[("a", 1), ("b", 1)])).await,
        Some(1)
    );
    let first = setup.writer.generation().await.unwrap().unwrap();
    assert_eq!(
        (first.number, first.changed.clone(), first.pending),
        (1, None, None)
    );

    assert_eq!(
        sync(&setup.writer, &snapshot(&[("a", 2), ("b", 1)])).await,
        Some(2)
    );
    let second = setup.writer.generation().await.unwrap().unwrap();
    let changed: Vec<String> = second
        .changed
        .clone()
        .unwrap()
        .iter()
        .map(|i| i.to_string())
        .collect();
    assert_eq!(changed, ["features/a"]);
    assert!(second.synced_at >= first.synced_at);

    assert_eq!(
        sync(&setup.writer, &snapshot(&[("a", 2), ("b", 1)])).await,
        Some(2)
    );
    let idle = setup.writer.generation().await.unwrap().unwrap();
    assert_eq!((idle.number, idle.changed), (2, second.changed));
    assert!(idle.synced_at >= second.synced_at);

    // A deletion is a change too.
    assert_eq!(sync(&setup.writer, &snapshot(&[("a", 2)])).await, Some(3));
    let deleted = setup.writer.generation().await.unwrap().unwrap();
    assert_eq!(deleted.changed.unwrap()[0].to_string(), "features/b");
    // Unfenced applies (the SDK's own init) do not claim a generation.
    let report = setup
        .writer
        .apply_snapshot(&snapshot(&[("a", 3)]))
        .await
        .unwrap();
    assert_eq!(report.generation, None);
    assert_eq!(setup.writer.generation().await.unwrap().unwrap().number, 3);
}

#[tokio::test]
async fn a_synced_change_costs_the_mirror_one_generation_read_and_the_changed_item() {
    let setup = setup("mirror-fresh").await;
    sync(&setup.writer, &snapshot(&[("a", 1), ("b", 1)])).await;
    let counter = RequestCounter::default();
    let mirror = mirror_via(&setup.table, &endpoint(), Some(counter.clone())).await;
    assert!(mirror.check_within(Duration::from_secs(5)).await);
    assert_eq!(mirror.status().state, MirrorState::Current);
    assert_eq!(mirror.status().generation, Some(1));
    assert_eq!(version(&mirror, "a"), Some(1));
    assert_eq!(mirror.status().flags, 2);

    sync(&setup.writer, &snapshot(&[("a", 2), ("b", 1)])).await;
    tokio::time::sleep(FAST * 2).await;
    counter.reset();
    assert!(mirror.check_within(Duration::from_secs(5)).await);
    assert_eq!(version(&mirror, "a"), Some(2));
    assert_eq!(mirror.status().generation, Some(2));
    // One check: the generation row, then the one changed flag; never the table.
    assert_eq!(counter.get("GetItem"), 1, "{counter:?}");
    assert_eq!(counter.get("BatchGetItem"), 1, "{counter:?}");
    assert_eq!(counter.get("Query"), 0, "{counter:?}");

    // Without changes, a check is one GetItem of the generation row; within the freshness
    // interval, none at all.
    counter.reset();
    for _ in 0..20 {
        mirror.check();
    }
    mirror.check_within(Duration::from_secs(1)).await;
    assert!(counter.get("GetItem") <= 1, "{counter:?}");
    assert_eq!(counter.get("Query"), 0);
}

#[tokio::test]
async fn a_reader_several_generations_behind_reads_only_what_changed_and_a_large_change_reloads() {
    let setup = setup("mirror-behind").await;
    let mut flags: Vec<(String, u64)> = (0..50).map(|i| (format!("f{i}"), 1)).collect();
    let as_snapshot = |flags: &[(String, u64)]| {
        let pairs: Vec<(&str, u64)> = flags.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        snapshot(&pairs)
    };
    sync(&setup.writer, &as_snapshot(&flags)).await;
    let counter = RequestCounter::default();
    let mirror = mirror_via(&setup.table, &endpoint(), Some(counter.clone())).await;
    assert!(mirror.check_within(Duration::from_secs(5)).await);
    // Five one-flag syncs while the mirror does not check (a frozen container), one of them a
    // deletion: it thaws five generations behind.
    for i in 0..4 {
        flags[i].1 = 2;
        sync(&setup.writer, &as_snapshot(&flags)).await;
    }
    flags.pop();
    assert_eq!(sync(&setup.writer, &as_snapshot(&flags)).await, Some(6));
    tokio::time::sleep(FAST * 2).await;
    counter.reset();
    assert!(mirror.check_within(Duration::from_secs(5)).await);
    assert_eq!(mirror.status().generation, Some(6));
    assert_eq!(
        (0..4)
            .map(|i| version(&mirror, &format!("f{i}")))
            .collect::<Vec<_>>(),
        [Some(2); 4]
    );
    assert_eq!(version(&mirror, "f49"), None);
    assert_eq!(mirror.status().flags, 49);
    // The generation row, then the five changed items in one batch; never the table.
    assert_eq!(counter.get("GetItem"), 1, "{counter:?}");
    assert_eq!(counter.get("BatchGetItem"), 1, "{counter:?}");
    assert_eq!(counter.get("Query"), 0, "{counter:?}");

    // More changed keys than a generation names: the copy is read whole again, from the
    // archive that sync wrote (one batch), not by querying the table.
    for (_, version) in flags.iter_mut() {
        *version = 3;
    }
    let more: Vec<(String, u64)> = (0..MAX_CHANGED_KEYS)
        .map(|i| (format!("g{i}"), 1))
        .collect();
    flags.extend(more);
    sync(&setup.writer, &as_snapshot(&flags)).await;
    tokio::time::sleep(FAST * 2).await;
    counter.reset();
    assert!(mirror.check_within(Duration::from_secs(5)).await);
    assert_eq!(version(&mirror, "f0"), Some(3));
    assert_eq!(mirror.status().flags, 49 + MAX_CHANGED_KEYS);
    assert_eq!(counter.get("BatchGetItem"), 1, "{counter:?}");
    assert_eq!(counter.get("Query"), 0, "{counter:?}");
}

#[tokio::test]
async fn a_table_without_a_generation_row_is_reloaded_once_per_fallback_ttl() {
    let setup = setup("mirror-foreign").await;
    // Written like an official SDK: unfenced, no generation row.
    setup
        .writer
        .apply_snapshot(&snapshot(&[("a", 1)]))
        .await
        .unwrap();
    let mirror = DynamoDbStoreBuilder::new(&setup.table)
        .client(client_with(&endpoint(), None))
        .mirror_settings(MirrorSettings {
            fallback_ttl: Duration::from_millis(300),
            ..settings()
        })
        .build_mirror()
        .await
        .unwrap();
    mirror.check_within(Duration::from_secs(5)).await;
    assert_eq!(version(&mirror, "a"), Some(1));
    assert_eq!(mirror.status().generation, None);
    setup
        .writer
        .apply_snapshot(&snapshot(&[("a", 2)]))
        .await
        .unwrap();
    refreshed_until(&mirror, "the fallback reload", |m| {
        version(m, "a") == Some(2)
    })
    .await;
}

#[tokio::test]
async fn through_every_kind_of_outage_the_copy_is_served_stale_then_current_again() {
    let setup = setup("mirror-outage").await;
    sync(&setup.writer, &snapshot(&[("a", 1)])).await;
    let proxy = DynamoProxy::start(&endpoint());
    let (logs, _guard) = launchdarkly_dynamo_testkit::logs::capture();
    let mirror = mirror_via(&setup.table, proxy.endpoint(), None).await;
    mirror.check_within(Duration::from_secs(5)).await;
    assert_eq!(mirror.status().state, MirrorState::Current);

    let outages = [Outage::InternalServerError, Outage::Stall, Outage::Refuse];
    for outage in outages {
        logs.listen_again();
        proxy.set_outage(outage);
        refreshed_until(&mirror, "going stale", |m| m.status().is_stale()).await;
        // Answers come from memory at once, whatever DynamoDB does.
        let started = Instant::now();
        assert_eq!(version(&mirror, "a"), Some(1), "{outage:?}");
        assert!(started.elapsed() < Duration::from_millis(50));
        let status = mirror.status();
        assert!(status.failing_since.is_some(), "{outage:?}");
        // A 500 is retried by the AWS client until the check's deadline: either way, not a
        // missing table or flag.
        let kind = status.last_error.as_ref().map(|e| e.kind());
        assert!(
            matches!(
                kind,
                Some(FailureKind::Unreachable | FailureKind::Unavailable)
            ),
            "{outage:?}: {:?}",
            status.last_error
        );
        // A waiting caller waits at most what it asked for.
        let started = Instant::now();
        mirror.check_within(Duration::from_millis(100)).await;
        assert!(started.elapsed() < Duration::from_millis(400), "{outage:?}");

        logs.listen_again();
        proxy.set_outage(Outage::None);
        refreshed_until(&mirror, "recovery", |m| {
            m.status().state == MirrorState::Current
        })
        .await;
    }
    // Many failed checks per outage, but one WARN when it starts and one INFO when it ends.
    let text = logs.text();
    let lines = |needle: &str| text.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(
        lines("cannot be read; answering from the flag data read"),
        outages.len(),
        "{text}"
    );
    assert_eq!(
        lines("the flag store answers again"),
        outages.len(),
        "{text}"
    );
    assert!(
        text.lines()
            .filter(|l| l.contains("cannot be read"))
            .all(|l| l.contains("WARN")),
        "{text}"
    );
    // A change synced during the last outage is picked up once it ends.
    sync(&setup.writer, &snapshot(&[("a", 5)])).await;
    refreshed_until(&mirror, "the change after recovery", |m| {
        version(m, "a") == Some(5)
    })
    .await;
}

#[tokio::test]
async fn before_a_first_load_reads_fail_with_the_reason_never_as_missing_flags() {
    let setup = setup("mirror-unloaded").await;
    // Never synced: no marker.
    let mirror = mirror_via(&setup.table, &endpoint(), None).await;
    mirror.check_within(Duration::from_secs(5)).await;
    assert_eq!(mirror.status().state, MirrorState::NeverSynced);
    let failure = mirror.data().unwrap_err();
    assert_eq!(failure.kind(), FailureKind::NeverSynced);
    assert!(failure.to_string().contains("never synced"), "{failure}");

    // A missing table.
    let missing = mirror_via("no-such-table", &endpoint(), None).await;
    missing.check_within(Duration::from_secs(5)).await;
    assert_eq!(missing.status().state, MirrorState::Misconfigured);
    assert_eq!(
        missing.data().unwrap_err().kind(),
        FailureKind::TableMissing
    );

    // A stalled DynamoDB: the wait is bounded, the error says so, and the first load succeeds
    // once DynamoDB answers.
    sync(&setup.writer, &snapshot(&[("a", 1)])).await;
    let proxy = DynamoProxy::start(&endpoint());
    proxy.set_outage(Outage::Stall);
    let started = Instant::now();
    let stalled = mirror_via(&setup.table, proxy.endpoint(), None).await;
    stalled.check_within(Duration::from_secs(2)).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(stalled.data().unwrap_err().kind(), FailureKind::Unreachable);
    proxy.set_outage(Outage::None);
    refreshed_until(&stalled, "the first load", |m| m.data().is_ok()).await;
    assert_eq!(version(&stalled, "a"), Some(1));
}

#[tokio::test]
async fn a_flag_the_loaded_copy_does_not_hold_costs_no_read() {
    let setup = setup("mirror-misses").await;
    sync(&setup.writer, &snapshot(&[("a", 1)])).await;
    let counter = RequestCounter::default();
    let mirror = DynamoDbStoreBuilder::new(&setup.table)
        .client(client_with(&endpoint(), Some(counter.clone())))
        .mirror_settings(MirrorSettings {
            freshness: Duration::from_secs(3600),
            ..settings()
        })
        .build_mirror()
        .await
        .unwrap();
    assert!(mirror.check_within(Duration::from_secs(5)).await);
    let client = sdk_client(&mirror);
    let context = ContextBuilder::new("user").build().unwrap();
    counter.reset();
    for _ in 0..1000 {
        let detail = client.variation_detail(&context, "no-such-flag", false);
        assert_eq!(
            detail.reason,
            launchdarkly_server_sdk::Reason::Error {
                error: launchdarkly_server_sdk::EvalError::FlagNotFound
            }
        );
    }
    assert_eq!(
        counter.get("GetItem") + counter.get("Query"),
        0,
        "{counter:?}"
    );
    client.close();
}

/// The SDK in daemon mode over `mirror`, without its own cache, started.
fn sdk_client(mirror: &Mirror) -> Client {
    let mut data_store = PersistentDataStoreBuilder::new(Arc::new(mirror.clone()));
    data_store.no_caching();
    let config = ConfigBuilder::new("sdk-key")
        .daemon_mode(true)
        .data_store(&data_store)
        .event_processor(&NullEventProcessorBuilder::new())
        .build()
        .unwrap();
    let client = Client::build(config).unwrap();
    client.start_with_default_executor();
    client
}

#[tokio::test]
async fn the_sdk_evaluates_from_the_mirror_and_sees_changes_without_its_own_cache() {
    let setup = setup("mirror-sdk").await;
    let mut on = snapshot(&[("a", 1)]);
    sync(&setup.writer, &on).await;
    let mirror = mirror_via(&setup.table, &endpoint(), None).await;
    mirror.check_within(Duration::from_secs(5)).await;
    let client = sdk_client(&mirror);
    let context = ContextBuilder::new("user").build().unwrap();
    assert!(client.bool_variation(&context, "a", false));

    // Version 2 is off: serves the off variation, false.
    let mut off: serde_json::Value = serde_json::from_str(&flag_json("a", 2)).unwrap();
    off["on"] = false.into();
    on.insert(
        Kind::Flags,
        "a",
        launchdarkly_server_sdk::SerializedItem {
            version: 2,
            deleted: false,
            serialized_item: off.to_string(),
        },
    );
    sync(&setup.writer, &on).await;
    refreshed_until(&mirror, "the SDK sees the change", |_| {
        !client.bool_variation(&context, "a", true)
    })
    .await;
    client.close();
}

#[tokio::test]
async fn a_service_can_wait_for_the_first_load_and_fail_its_init_clearly() {
    let setup = setup("mirror-first-load").await;
    sync(&setup.writer, &snapshot(&[("a", 1)])).await;
    let mirror = mirror_via(&setup.table, &endpoint(), None).await;
    mirror
        .wait_for_first_load(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(version(&mirror, "a"), Some(1));

    // A wrong table name: the error at once, not after the whole limit.
    let started = Instant::now();
    let missing = mirror_via("no-such-table-at-init", &endpoint(), None).await;
    let failure = missing
        .wait_for_first_load(Duration::from_secs(30))
        .await
        .unwrap_err();
    assert_eq!(failure.kind(), FailureKind::TableMissing, "{failure}");
    assert!(
        failure.to_string().contains("ResourceNotFoundException"),
        "{failure}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(missing.status().state, MirrorState::Misconfigured);

    // A stalled DynamoDB: the limit, then the last failure.
    let proxy = DynamoProxy::start(&endpoint());
    proxy.set_outage(Outage::Stall);
    let stalled = mirror_via(&setup.table, proxy.endpoint(), None).await;
    let failure = stalled
        .wait_for_first_load(Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            failure.kind(),
            FailureKind::Unreachable | FailureKind::Loading
        ),
        "{failure}"
    );
    proxy.set_outage(Outage::None);
    stalled
        .wait_for_first_load(Duration::from_secs(5))
        .await
        .unwrap();
}
