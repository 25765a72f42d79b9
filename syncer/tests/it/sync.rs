//! Full syncs against DynamoDB Local and a LaunchDarkly stand-in: the happy path, ETags, and
//! every failure case, each of which must leave the table exactly as it was.

use crate::common;

use std::time::Duration;

use common::*;
use launchdarkly_dynamo_common::settings::{SdkKeyArgs, TableArgs};
use launchdarkly_dynamo_store::StoreError;
use launchdarkly_dynamo_testkit::launchdarkly::Behavior;
use launchdarkly_dynamo_testkit::proxy::{DynamoProxy, Faults};
use syncer::{Settings, SyncError, Trigger};

/// A table already synced with flags a, b (v1) and segment s (v1).
async fn synced(label: &str) -> Env {
    let env = Env::new(label, data(&[("a", 1), ("b", 1)], &[("s", 1)])).await;
    env.syncer()
        .await
        .sync(Trigger::Manual, deadline())
        .await
        .expect("first sync");
    env
}

#[tokio::test]
async fn first_sync_writes_everything_then_follows_changes() {
    let env = Env::new("sync-happy", data(&[("a", 1), ("b", 1)], &[("s", 1)])).await;
    let syncer = env.syncer().await;
    let summary = syncer.sync(Trigger::Manual, deadline()).await.unwrap();
    assert_eq!(
        (
            summary.flags,
            summary.segments,
            summary.written,
            summary.unchanged,
            summary.deleted
        ),
        (2, 1, 3, 0, 0)
    );
    assert_eq!(
        env.flags().await,
        [("a".to_string(), 1), ("b".to_string(), 1)].into()
    );

    // One flag changed, one removed, one added.
    env.ld.set_data(data(&[("a", 2), ("c", 1)], &[("s", 1)]));
    let summary = syncer.sync(Trigger::Manual, deadline()).await.unwrap();
    assert_eq!(
        (summary.written, summary.unchanged, summary.deleted),
        (2, 1, 1)
    );
    assert_eq!(
        env.flags().await,
        [("a".to_string(), 2), ("c".to_string(), 1)].into()
    );
    let json = serde_json::to_value(&summary).unwrap();
    for field in [
        "status",
        "flags",
        "segments",
        "written",
        "unchanged",
        "deleted",
        "skipped",
        "ms",
    ] {
        assert!(json.get(field).is_some(), "summary has {field}: {json}");
    }
    assert_eq!(json["status"], "ok");
}

#[tokio::test]
async fn unchanged_environment_costs_one_304_and_zero_writes() {
    let env = Env::new("sync-etag", data(&[("a", 1)], &[])).await;
    let syncer = env.syncer().await;
    syncer.sync(Trigger::Manual, deadline()).await.unwrap();
    env.counter.reset();
    let before = env.ld.requests();
    let summary = syncer.sync(Trigger::Webhook, deadline()).await.unwrap();
    assert!(summary.not_modified);
    assert_eq!(summary.written, 0);
    assert_eq!(env.ld.requests() - before, 1, "one request");
    assert_eq!(env.ld.not_modified(), 1, "answered 304");
    assert_eq!(
        env.counter.writes(),
        0,
        "no DynamoDB write of any kind, lease included"
    );

    // A changed environment is fetched under the lease and applied.
    env.ld.set_data(data(&[("a", 2)], &[]));
    let summary = syncer.sync(Trigger::Webhook, deadline()).await.unwrap();
    assert!(!summary.not_modified);
    assert_eq!(summary.written, 1);
}

#[tokio::test]
async fn a_table_emptied_behind_the_syncer_is_refilled_despite_a_304() {
    let env = Env::new("sync-etag-wiped", data(&[("a", 1)], &[])).await;
    let syncer = env.syncer().await;
    syncer.sync(Trigger::Manual, deadline()).await.unwrap();
    for row in env.state().await {
        let key: std::collections::HashMap<_, _> = row
            .into_iter()
            .filter(|(k, _)| k == "namespace" || k == "key")
            .collect();
        env.dynamo
            .delete_item()
            .table_name(&env.table)
            .set_key(Some(key))
            .send()
            .await
            .unwrap();
    }
    let summary = syncer.sync(Trigger::Schedule, deadline()).await.unwrap();
    assert_eq!(summary.written, 1);
    assert_eq!(env.flags().await.len(), 1);
}

async fn assert_fails_and_keeps_table(
    env: &Env,
    settings: Settings,
    expect: impl Fn(&SyncError) -> bool,
) -> SyncError {
    let before = env.data_state().await;
    let err = env
        .syncer_with(settings)
        .await
        .sync(Trigger::Webhook, deadline())
        .await
        .unwrap_err();
    assert!(expect(&err), "unexpected error: {err}");
    assert_eq!(
        env.data_state().await,
        before,
        "the table is exactly unchanged after: {err}"
    );
    err
}

#[tokio::test]
async fn launchdarkly_500_changes_nothing() {
    let env = synced("sync-500").await;
    env.ld.set_data(data(&[("z", 9)], &[]));
    env.ld
        .queue(std::iter::repeat_n(Behavior::Status(500), 100));
    let settings = Settings {
        sync_timeout_seconds: 3,
        ..env.settings()
    };
    let err =
        assert_fails_and_keeps_table(&env, settings, |e| matches!(e, SyncError::Fetch(_))).await;
    assert!(err.to_string().contains("HTTP 500"), "{err}");
    assert!(env.ld.requests() > 2, "retried");
}

#[tokio::test]
async fn launchdarkly_429_then_success_syncs() {
    let env = Env::new("sync-429", data(&[("a", 1)], &[])).await;
    env.ld.queue([Behavior::Status(429), Behavior::Status(503)]);
    let summary = env
        .syncer()
        .await
        .sync(Trigger::Manual, deadline())
        .await
        .unwrap();
    assert_eq!(summary.written, 1);
    assert_eq!(env.ld.requests(), 3);
}

#[tokio::test]
async fn launchdarkly_timeout_changes_nothing() {
    let env = synced("sync-timeout").await;
    env.ld.set_data(data(&[("z", 9)], &[]));
    env.ld.queue(std::iter::repeat_n(
        Behavior::Slow(Duration::from_secs(3)),
        10,
    ));
    let settings = Settings {
        http_timeout_seconds: 1,
        sync_timeout_seconds: 3,
        ..env.settings()
    };
    let err =
        assert_fails_and_keeps_table(&env, settings, |e| matches!(e, SyncError::Fetch(_))).await;
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[tokio::test]
async fn truncated_json_changes_nothing() {
    let env = synced("sync-truncated").await;
    let full = data(&[("z", 9)], &[]).to_string();
    env.ld
        .queue([Behavior::Raw(full[..full.len() / 2].to_string())]);
    let err = assert_fails_and_keeps_table(&env, env.settings(), |e| {
        matches!(e, SyncError::InvalidBody(_))
    })
    .await;
    assert!(err.to_string().contains("nothing was written"), "{err}");
}

#[tokio::test]
async fn body_cut_off_mid_transfer_changes_nothing() {
    let env = synced("sync-cutoff").await;
    env.ld.set_data(data(&[("z", 9)], &[]));
    env.ld.queue(std::iter::repeat_n(Behavior::CutOff, 100));
    let settings = Settings {
        sync_timeout_seconds: 3,
        ..env.settings()
    };
    let err =
        assert_fails_and_keeps_table(&env, settings, |e| matches!(e, SyncError::Fetch(_))).await;
    let text = err.to_string();
    assert!(
        text.contains("cut off") || text.contains("connection closed"),
        "{text}"
    );
}

#[tokio::test]
async fn bad_sdk_key_changes_nothing_and_is_not_retried() {
    let env = synced("sync-401").await;
    let before = env.ld.requests();
    let settings = Settings {
        sdk_key: SdkKeyArgs {
            sdk_key: Some("wrong-key".into()),
            sdk_key_param: None,
        },
        ..env.settings()
    };
    let err =
        assert_fails_and_keeps_table(&env, settings, |e| matches!(e, SyncError::Fetch(_))).await;
    assert!(err.to_string().contains("refused the SDK key"), "{err}");
    assert!(
        !err.to_string().contains("wrong-key"),
        "the key never appears in errors: {err}"
    );
    assert_eq!(env.ld.requests() - before, 1);
}

#[tokio::test]
async fn one_malformed_flag_is_skipped_and_its_stored_row_kept() {
    let env = synced("sync-malformed").await;
    let before_b =
        env.state().await.into_iter().find(|r| {
            r.get("key") == Some(&aws_sdk_dynamodb::types::AttributeValue::S("b".into()))
        });
    let mut next = data(&[("a", 2), ("c", 1)], &[("s", 1)]);
    next["flags"]["b"] = serde_json::json!({"key": "b", "version": 2, "on": "not a bool"});
    env.ld.set_data(next);
    let summary = env
        .syncer()
        .await
        .sync(Trigger::Manual, deadline())
        .await
        .unwrap();
    assert_eq!(summary.skipped.len(), 1);
    assert_eq!(summary.skipped[0].key, "b");
    assert!(summary.skipped[0].reason.starts_with("malformed"));
    assert_eq!(
        env.flags().await,
        [
            ("a".to_string(), 2),
            ("b".to_string(), 1),
            ("c".to_string(), 1)
        ]
        .into()
    );
    let after_b =
        env.state().await.into_iter().find(|r| {
            r.get("key") == Some(&aws_sdk_dynamodb::types::AttributeValue::S("b".into()))
        });
    assert_eq!(
        after_b, before_b,
        "b's stored row is byte-for-byte the old one"
    );
}

#[tokio::test]
async fn one_oversized_flag_is_skipped_and_the_rest_written() {
    let env = synced("sync-oversize").await;
    let mut next = data(&[("a", 2), ("b", 2)], &[("s", 1)]);
    next["flags"]["b"]["variations"] = serde_json::json!([true, "x".repeat(400_000)]);
    env.ld.set_data(next);
    let summary = env
        .syncer()
        .await
        .sync(Trigger::Manual, deadline())
        .await
        .unwrap();
    assert_eq!(summary.skipped.len(), 1, "{summary:?}");
    assert_eq!(summary.skipped[0].key, "b");
    assert!(summary.skipped[0].reason.contains("too large"));
    assert_eq!(
        env.flags().await,
        [("a".to_string(), 2), ("b".to_string(), 1)].into(),
        "b kept at v1"
    );
}

#[tokio::test]
async fn missing_table_is_a_clear_error() {
    let env = Env::new("sync-no-table", data(&[("a", 1)], &[])).await;
    let settings = Settings {
        target: TableArgs {
            table: Some("no-such-table".into()),
            prefix: None,
        },
        ..env.settings()
    };
    let err = env
        .syncer_with(settings)
        .await
        .sync(Trigger::Manual, deadline())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("no-such-table") && text.contains("ResourceNotFoundException"),
        "{text}"
    );
}

#[tokio::test]
async fn dynamodb_outage_mid_sync_changes_nothing() {
    let env = synced("sync-outage").await;
    let proxy = DynamoProxy::start(&launchdarkly_dynamo_testkit::dynamodb::endpoint());
    let dynamo = launchdarkly_dynamo_testkit::dynamodb::client_for(proxy.endpoint());
    let syncer = env.syncer_on(env.settings(), dynamo).await;
    env.ld.set_data(data(&[("a", 2), ("c", 1)], &[]));
    // The ticket, the lease and its fences, and the reads of what is stored go through; the
    // outage starts with the first data write.
    proxy.set_faults(Faults {
        outage_after_transactions: Some(1),
        ..Faults::default()
    });
    let data_before = env.data_state().await;
    let err = syncer.sync(Trigger::Manual, deadline()).await.unwrap_err();
    assert!(
        matches!(err, SyncError::Store(StoreError::Incomplete { .. })),
        "the failure is in the writes: {err}"
    );
    assert_eq!(
        env.data_state().await,
        data_before,
        "flags and segments exactly unchanged"
    );
}

#[tokio::test]
async fn overlapping_syncs_converge_to_the_newest_data() {
    let env = synced("sync-race").await;
    // Sync A gets its data (v2: a, b, c) late; LaunchDarkly changes to v3 (b deleted, a
    // updated) while A waits, and sync B starts. Without serialization B would apply v3 first
    // and A would overwrite it with the older v2, bringing b back.
    let v2 = data(&[("a", 2), ("b", 2), ("c", 1)], &[("s", 1)]);
    let v3 = data(&[("a", 3), ("c", 1)], &[("s", 1)]);
    env.ld.set_data(v2);
    env.ld.queue([Behavior::Slow(Duration::from_millis(1500))]);
    let syncer_a = env.syncer().await;
    let syncer_b = env.syncer().await;
    let a = tokio::spawn(async move { syncer_a.sync(Trigger::Webhook, deadline()).await });
    let waiting = tokio::time::Instant::now();
    while env.ld.requests() < 2 {
        assert!(
            waiting.elapsed() < Duration::from_secs(20),
            "sync A never reached LaunchDarkly"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    env.ld.set_data(v3);
    let b = tokio::spawn(async move { syncer_b.sync(Trigger::Webhook, deadline()).await });
    let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
    assert_eq!(
        env.flags().await,
        [("a".to_string(), 3), ("c".to_string(), 1)].into(),
        "A: {a:?}\nB: {b:?}"
    );
}
