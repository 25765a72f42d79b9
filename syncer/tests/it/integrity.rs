//! Sync integrity under stress, against DynamoDB Local through the real client: fenced writes
//! that cannot land after a takeover even when delivered late, a killed lease holder, bursts of
//! concurrent triggers, strict validation, byte-faithful items and self-repair.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use common::*;
use launchdarkly_dynamo_store::StoreError;
use launchdarkly_dynamo_testkit::dynamodb::{client_for, get_raw, put_raw};
use launchdarkly_dynamo_testkit::launchdarkly::Behavior;
use launchdarkly_dynamo_testkit::proxy::DynamoProxy;
use serde_json::{json, Value};
use syncer::{Outcome, Settings, SyncError, Syncer, Trigger};

/// `count` flags `f0..` all at `version`.
fn many(count: usize, version: u64) -> Value {
    let names: Vec<String> = (0..count).map(|i| format!("f{i}")).collect();
    let flags: Vec<(&str, u64)> = names.iter().map(|n| (n.as_str(), version)).collect();
    data(&flags, &[("s", version)])
}

fn versions(count: usize, version: u64) -> BTreeMap<String, u64> {
    (0..count).map(|i| (format!("f{i}"), version)).collect()
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn short_lease(env: &Env) -> Settings {
    Settings {
        lease_seconds: 2,
        sync_timeout_seconds: 30,
        ..env.settings()
    }
}

#[tokio::test]
async fn writes_delivered_after_a_takeover_never_land_over_newer_data() {
    let env = Env::new("integrity-fence", many(60, 1)).await;
    env.syncer()
        .await
        .sync(Trigger::Manual, deadline())
        .await
        .unwrap();
    assert_eq!(env.flags().await, versions(60, 1));

    // Sync A talks to DynamoDB through a network that starts holding its writes (data
    // transactions and lease renewals) once it is fetching: its lease runs out meanwhile.
    let proxy = DynamoProxy::start(&launchdarkly_dynamo_testkit::dynamodb::endpoint());
    let syncer_a = env
        .syncer_on(short_lease(&env), client_for(proxy.endpoint()))
        .await;
    env.ld.set_data(many(60, 2));
    env.ld.queue([Behavior::Slow(Duration::from_millis(300))]);
    let fetches = env.ld.requests();
    let a = tokio::spawn(async move { syncer_a.sync(Trigger::Webhook, deadline_in(60)).await });
    wait_until("sync A fetches", || env.ld.requests() > fetches).await;
    proxy.hold_writes();
    wait_until("A's data writes are on the wire", || {
        proxy
            .held()
            .iter()
            .any(|t| t.ends_with("TransactWriteItems"))
    })
    .await;

    // LaunchDarkly moves on; sync B takes the expired lease and writes the newer data.
    env.ld.set_data(many(60, 3));
    let syncer_b = env.syncer_with(short_lease(&env)).await;
    let b = syncer_b.sync(Trigger::Webhook, deadline()).await.unwrap();
    assert_eq!((b.written, b.covered), (61, false), "{b:?}");
    assert_eq!(env.flags().await, versions(60, 3));

    // A's writes now reach DynamoDB, which executes and refuses them.
    proxy.release_writes();
    let a = a.await.unwrap();
    assert!(
        matches!(a, Err(SyncError::Store(StoreError::LeaseLost { .. }))),
        "A stops with a clear error: {a:?}"
    );
    let late: Vec<_> = proxy
        .late_answers()
        .into_iter()
        .filter(|(target, _, _)| target.ends_with("TransactWriteItems"))
        .collect();
    assert!(!late.is_empty());
    for (_, status, body) in &late {
        assert_eq!(*status, 400, "{body}");
        assert!(body.contains("TransactionCanceledException"), "{body}");
    }
    assert_eq!(
        env.flags().await,
        versions(60, 3),
        "no older version landed over B's data"
    );
}

fn deadline_in(seconds: u64) -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(seconds)
}

#[tokio::test]
async fn a_killed_lease_holder_blocks_the_next_sync_for_at_most_one_lease_period() {
    let env = Env::new("integrity-killed", data(&[("a", 1)], &[("s", 1)])).await;
    // The holder is the real binary, stuck fetching from a slow LaunchDarkly when killed.
    env.ld.queue([Behavior::Slow(Duration::from_secs(30))]);
    let mut holder = std::process::Command::new(env!("CARGO_BIN_EXE_syncer"))
        .arg("sync")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("LAUNCHDARKLY_DYNAMODB_TABLE", &env.table)
        .env("LAUNCHDARKLY_BASE_URI", env.ld.base_uri())
        .env("LAUNCHDARKLY_SDK_KEY", SDK_KEY)
        .env("LAUNCHDARKLY_LEASE_SECONDS", "2")
        .env(
            "AWS_ENDPOINT_URL_DYNAMODB",
            launchdarkly_dynamo_testkit::dynamodb::endpoint(),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the holder fetches", || env.ld.requests() > 0).await;
    holder.kill().unwrap();
    holder.wait().unwrap();
    let lease = get_raw(&env.dynamo, &env.table, "$syncer-lease", "lease")
        .await
        .unwrap();
    assert!(
        lease.contains_key("owner"),
        "killed while holding: {lease:?}"
    );

    // With a budget of one lease period plus a margin, the next sync gets through.
    let settings = Settings {
        lease_seconds: 2,
        sync_timeout_seconds: 6,
        ..env.settings()
    };
    let summary = env
        .syncer_with(settings)
        .await
        .sync(Trigger::Manual, deadline())
        .await
        .unwrap();
    assert_eq!(summary.written, 2, "{summary:?}");
}

async fn burst(env: &Env, triggers: &[Trigger]) -> Vec<syncer::Summary> {
    let mut syncers = Vec::new();
    for _ in triggers {
        syncers.push(env.syncer().await);
    }
    let tasks: Vec<_> = syncers
        .into_iter()
        .zip(triggers.iter().copied())
        .map(|(syncer, trigger): (Syncer, Trigger)| {
            tokio::spawn(async move { syncer.sync(trigger, deadline()).await })
        })
        .collect();
    let mut summaries = Vec::new();
    for task in tasks {
        summaries.push(task.await.unwrap().expect("every trigger succeeds"));
    }
    summaries
}

#[tokio::test]
async fn eight_concurrent_webhooks_fetch_and_apply_at_most_twice() {
    let env = Env::new("integrity-burst", many(20, 1)).await;
    env.ld.queue(std::iter::repeat_n(
        Behavior::Slow(Duration::from_millis(200)),
        8,
    ));
    let summaries = burst(&env, &[Trigger::Webhook; 8]).await;
    let applied = summaries.iter().filter(|s| !s.covered).count();
    assert!(env.ld.requests() <= 2, "fetches: {}", env.ld.requests());
    assert!((1..=2).contains(&applied), "{summaries:#?}");
    assert!(summaries.iter().all(|s| s.status == Outcome::Ok));
    assert_eq!(
        summaries.iter().filter(|s| s.covered).count(),
        8 - applied,
        "the others say they were covered"
    );
    assert_eq!(env.flags().await, versions(20, 1));
}

#[tokio::test]
async fn a_mixed_burst_is_answered_by_at_most_two_syncs_and_reconciles() {
    let env = Env::new("integrity-mixed", many(20, 1)).await;
    env.syncer()
        .await
        .sync(Trigger::Manual, deadline())
        .await
        .unwrap();
    // Drift the schedule must repair, whichever sync answers it.
    put_raw(
        &env.dynamo,
        &env.table,
        row("f0", 1, r#"{"key":"f0","version":1,"edited":true}"#),
    )
    .await;
    let fetches = env.ld.requests();
    env.ld.queue(std::iter::repeat_n(
        Behavior::Slow(Duration::from_millis(200)),
        8,
    ));
    let triggers = [
        Trigger::Webhook,
        Trigger::Schedule,
        Trigger::Webhook,
        Trigger::Cli,
        Trigger::Webhook,
        Trigger::Manual,
        Trigger::Webhook,
        Trigger::Schedule,
    ];
    let summaries = burst(&env, &triggers).await;
    assert!(
        env.ld.requests() - fetches <= 2,
        "fetches: {}",
        env.ld.requests() - fetches
    );
    assert!(
        summaries.iter().filter(|s| !s.covered).count() <= 2,
        "{summaries:#?}"
    );
    assert_eq!(
        summaries.iter().map(|s| s.repaired).sum::<usize>(),
        1,
        "{summaries:#?}"
    );
    assert_eq!(
        stored_item(&env, "features", "f0").await,
        flag("f0", 1, true).to_string()
    );
}

fn row(key: &str, version: u64, item: &str) -> launchdarkly_dynamo_testkit::dynamodb::Row {
    [
        ("namespace", AttributeValue::S("features".into())),
        ("key", AttributeValue::S(key.into())),
        ("version", AttributeValue::N(version.to_string())),
        ("item", AttributeValue::S(item.into())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

async fn stored_item(env: &Env, namespace: &str, key: &str) -> String {
    match get_raw(&env.dynamo, &env.table, namespace, key)
        .await
        .and_then(|row| row.get("item").cloned())
    {
        Some(AttributeValue::S(item)) => item,
        other => panic!("no item for {namespace}/{key}: {other:?}"),
    }
}

#[tokio::test]
async fn a_body_without_segments_or_flags_is_refused_and_changes_nothing() {
    let env = Env::new("integrity-partial-body", data(&[("a", 1)], &[("s", 1)])).await;
    let syncer = env.syncer().await;
    syncer.sync(Trigger::Manual, deadline()).await.unwrap();
    let before = env.data_state().await;
    for body in [
        json!({"flags": {}}),
        json!({"segments": {}}),
        json!({"flags": {}, "segments": []}),
    ] {
        env.ld.set_data(body.clone());
        let err = syncer.sync(Trigger::Manual, deadline()).await.unwrap_err();
        assert!(matches!(err, SyncError::InvalidBody(_)), "{body}: {err}");
        assert_eq!(env.data_state().await, before, "{body}");
    }
}

#[tokio::test]
async fn items_are_stored_exactly_as_launchdarkly_sent_them() {
    let mut future = flag("future", 4, true);
    future["someNewField"] = json!({"nested": [1, "two", null]});
    future["rules"] = json!([{
        "id": "r1", "variation": 1, "trackEvents": false,
        "clauses": [{"attribute": "email", "op": "operatorFromTheFuture", "values": ["x"], "negate": false}]
    }]);
    let mut segment = segment("seg", 2);
    segment["unboundedContextKind"] = json!("device");
    let env = Env::new(
        "integrity-raw",
        json!({"flags": {"future": future.clone()}, "segments": {"seg": segment.clone()}}),
    )
    .await;
    env.syncer()
        .await
        .sync(Trigger::Manual, deadline())
        .await
        .unwrap();
    assert_eq!(
        stored_item(&env, "features", "future").await,
        future.to_string()
    );
    assert_eq!(
        stored_item(&env, "segments", "seg").await,
        segment.to_string()
    );
}

#[tokio::test]
async fn same_version_drift_and_missing_or_extra_rows_are_repaired_by_the_schedule() {
    let env = Env::new("integrity-repair", data(&[("a", 1), ("b", 1)], &[("s", 1)])).await;
    let syncer = env.syncer().await;
    syncer.sync(Trigger::Schedule, deadline()).await.unwrap();
    let healthy = env.data_state().await;

    // Edited behind the syncer at the same version, deleted, and added.
    put_raw(
        &env.dynamo,
        &env.table,
        row("a", 1, r#"{"key":"a","version":1,"on":false}"#),
    )
    .await;
    env.dynamo
        .delete_item()
        .table_name(&env.table)
        .key("namespace", AttributeValue::S("features".into()))
        .key("key", AttributeValue::S("b".into()))
        .send()
        .await
        .unwrap();
    put_raw(
        &env.dynamo,
        &env.table,
        row("zombie", 3, r#"{"key":"zombie","version":3}"#),
    )
    .await;

    // A webhook keeps the cheap path: LaunchDarkly did not change, so it writes nothing.
    let hook = syncer.sync(Trigger::Webhook, deadline()).await.unwrap();
    assert!(hook.not_modified, "{hook:?}");
    assert_ne!(env.data_state().await, healthy);

    // The schedule does not stop at the 304 and reconciles by content.
    let repair = syncer.sync(Trigger::Schedule, deadline()).await.unwrap();
    assert_eq!(
        (
            repair.repaired,
            repair.written,
            repair.deleted,
            repair.reconciled
        ),
        (1, 1, 1, true),
        "{repair:?}"
    );
    assert_eq!(env.data_state().await, healthy);

    let again = syncer.sync(Trigger::Schedule, deadline()).await.unwrap();
    assert_eq!((again.repaired, again.written, again.deleted), (0, 0, 0));
}

#[tokio::test]
async fn a_response_over_the_size_cap_is_refused_and_changes_nothing() {
    let env = Env::new("integrity-cap", data(&[("a", 1)], &[("s", 1)])).await;
    env.syncer()
        .await
        .sync(Trigger::Manual, deadline())
        .await
        .unwrap();
    let before = env.data_state().await;
    let mut big = data(&[("a", 2)], &[("s", 1)]);
    big["flags"]["a"]["variations"] = json!([true, "x".repeat(1_200_000)]);
    env.ld.set_data(big);
    let settings = Settings {
        max_response_mb: 1,
        ..env.settings()
    };
    let err = env
        .syncer_with(settings)
        .await
        .sync(Trigger::Manual, deadline())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("LAUNCHDARKLY_MAX_RESPONSE_MB"),
        "{err}"
    );
    assert_eq!(env.data_state().await, before);
}
