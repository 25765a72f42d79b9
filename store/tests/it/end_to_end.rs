//! End to end through the real SDK: a client fed by a data source writes through the store with
//! no caching; a second client in daemon mode on the same table evaluates from it, following
//! updates and deletes.

use crate::fixtures;

use std::time::Duration;

use fixtures::*;
use launchdarkly_dynamo_store::Kind;
use launchdarkly_server_sdk::{
    Client, ConfigBuilder, ContextBuilder, Flag, NullEventProcessorBuilder,
    PersistentDataStoreBuilder, Segment, TestData,
};

fn segment(included: &[&str]) -> Segment {
    serde_json::from_value(serde_json::json!({
        "key": "beta-users", "version": 1, "included": included, "excluded": [], "rules": [], "salt": "beta"
    }))
    .unwrap()
}

fn flag_with_segment_rule() -> Flag {
    serde_json::from_value(serde_json::json!({
        "key": "new-checkout", "version": 1, "on": true, "targets": [], "prerequisites": [],
        "rules": [{
            "id": "beta-rule",
            "clauses": [{"attribute": "key", "op": "segmentMatch", "values": ["beta-users"], "negate": false}],
            "variation": 0,
            "trackEvents": false
        }],
        "fallthrough": {"variation": 1}, "offVariation": 1, "variations": [true, false],
        "salt": "checkout", "clientSideAvailability": {"usingMobileKey": false, "usingEnvironmentId": false}
    }))
    .unwrap()
}

fn client(fixture: &Fixture, daemon: bool, data: Option<&TestData>) -> Client {
    let mut data_store = PersistentDataStoreBuilder::new(fixture.factory(Some("e2e")));
    data_store.no_caching();
    let mut config = ConfigBuilder::new("sdk-key")
        .daemon_mode(daemon)
        .data_store(&data_store)
        .event_processor(&NullEventProcessorBuilder::new());
    if let Some(data) = data {
        config = config.data_source(data);
    }
    Client::build(config.build().unwrap()).unwrap()
}

/// Keys of the flags an all-flags evaluation returns.
fn all_flag_keys(client: &Client, context: &launchdarkly_server_sdk::Context) -> Vec<String> {
    let detail =
        serde_json::to_value(client.all_flags_detail(context, Default::default())).unwrap();
    assert_eq!(detail["$valid"], true, "{detail}");
    detail["$flagsState"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[test]
fn daemon_mode_reader_follows_what_an_sdk_writer_stores() {
    let fixture = Fixture::new("e2e");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(fixture));
}

async fn run(fixture: Fixture) {
    let data = TestData::new();
    data.use_preconfigured_segment(segment(&["alice"]));
    data.use_preconfigured_flag(flag_with_segment_rule());

    let writer = client(&fixture, false, Some(&data));
    writer.start_with_default_executor();
    assert_eq!(
        writer
            .wait_for_initialization(Duration::from_secs(10))
            .await,
        Some(true)
    );

    let reader = client(&fixture, true, None);
    reader.start_with_default_executor();
    let alice = ContextBuilder::new("alice").build().unwrap();
    let bob = ContextBuilder::new("bob").build().unwrap();
    assert!(
        reader.bool_variation(&alice, "new-checkout", false),
        "alice is in the segment"
    );
    assert!(
        !reader.bool_variation(&bob, "new-checkout", true),
        "bob falls through"
    );
    let detail = reader.bool_variation_detail(&alice, "new-checkout", false);
    assert_eq!(
        serde_json::to_value(&detail.reason).unwrap()["kind"],
        "RULE_MATCH"
    );
    assert_eq!(all_flag_keys(&reader, &bob), ["new-checkout"]);

    // An update through the SDK writer (version 2 of the segment) is seen by the reader.
    data.use_preconfigured_segment(segment(&["alice", "bob"]));
    assert!(
        reader.bool_variation(&bob, "new-checkout", false),
        "bob was added to the segment"
    );

    // A delete, stored as the SDK stores one (a tombstone upsert), hides the flag.
    let store = fixture.builder(Some("e2e")).build().await.unwrap();
    assert!(store
        .upsert(Kind::Flags, "new-checkout", &tombstone(5))
        .await
        .unwrap());
    let detail = reader.bool_variation_detail(&alice, "new-checkout", false);
    assert_eq!(detail.value, Some(false), "the default");
    let reason = serde_json::to_value(&detail.reason).unwrap();
    assert_eq!(reason["errorKind"], "FLAG_NOT_FOUND", "{reason}");
    assert!(all_flag_keys(&reader, &alice).is_empty());

    writer.close();
    reader.close();
}

/// The AWS SDK enables rustls's aws-lc-rs provider and the LaunchDarkly SDK its ring provider;
/// with both, rustls refuses to choose and the SDK panics building its HTTPS transport unless a
/// process default is installed. Using the store must be enough for a client with analytics
/// events (HTTPS) to build.
#[test]
fn a_client_with_https_events_builds_next_to_the_store() {
    let fixture = Fixture::new("e2e-tls");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let data_store = PersistentDataStoreBuilder::new(fixture.factory(None));
        let config = ConfigBuilder::new("sdk-key")
            .daemon_mode(true)
            .data_store(&data_store)
            .build()
            .unwrap();
        let client = Client::build(config).expect("the client builds");
        client.start_with_default_executor();
        let context = ContextBuilder::new("alice").build().unwrap();
        assert!(!client.bool_variation(&context, "missing", false));
    });
}
