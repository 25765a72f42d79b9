//! The reader's routes against DynamoDB Local, with data written by the store crate, over the
//! `lambda_http` requests the runtime builds from real events; and a reader that never reports
//! a broken store as a missing flag.

use std::sync::Arc;
use std::time::Duration;

use example_reader::lambda_app;
use launchdarkly_dynamo_common::settings::TableArgs;
use launchdarkly_dynamo_reader::{Reader, ReaderSettings as Settings};
use launchdarkly_dynamo_store::{DynamoDbStoreBuilder, Kind, Snapshot};
use launchdarkly_dynamo_testkit::events::{call, request, HttpCall};
use launchdarkly_server_sdk::SerializedItem;
use serde_json::{json, Value};

fn item(value: Value) -> SerializedItem {
    SerializedItem {
        version: value["version"].as_u64().unwrap(),
        deleted: false,
        serialized_item: value.to_string(),
    }
}

fn snapshot() -> Snapshot {
    let mut snapshot = Snapshot::default();
    snapshot.insert(Kind::Segments, "beta-testers", item(json!({
        "key": "beta-testers", "version": 1, "included": ["alice"], "excluded": [], "rules": [], "salt": "b"
    })));
    snapshot.insert(Kind::Flags, "new-checkout", item(json!({
        "key": "new-checkout", "version": 4, "on": true, "targets": [], "prerequisites": [],
        "rules": [{"id": "r1", "clauses": [{"attribute": "key", "op": "segmentMatch", "values": ["beta-testers"], "negate": false}], "variation": 0, "trackEvents": false}],
        "fallthrough": {"variation": 1}, "offVariation": 1, "variations": [true, false], "salt": "c"
    })));
    snapshot.insert(Kind::Flags, "banner-text", item(json!({
        "key": "banner-text", "version": 1, "on": true, "targets": [], "prerequisites": [], "rules": [],
        "fallthrough": {"variation": 0}, "offVariation": 0, "variations": ["Welcome!"], "salt": "t"
    })));
    snapshot
}

fn settings(table: &str, prefix: Option<&str>) -> Settings {
    Settings {
        target: TableArgs {
            table: Some(table.to_string()),
            prefix: prefix.map(str::to_string),
        },
        cache_ttl_seconds: 30,
        events_flush_interval_seconds: 5,
        ..Settings::default()
    }
}

/// A table synced with [`snapshot`], and a reader over it.
async fn reader() -> Arc<Reader> {
    let dynamo = launchdarkly_dynamo_testkit::dynamodb::client();
    let table = launchdarkly_dynamo_testkit::dynamodb::create_table(&dynamo, "reader").await;
    let store = DynamoDbStoreBuilder::new(&table)
        .client(dynamo.clone())
        .build()
        .await
        .unwrap();
    store.apply_snapshot(&snapshot()).await.unwrap();
    reader_on(settings(&table, None), dynamo).await
}

async fn reader_on(settings: Settings, dynamo: aws_sdk_dynamodb::Client) -> Arc<Reader> {
    let reader = Reader::new(&settings.validate().unwrap(), dynamo, None)
        .await
        .unwrap();
    reader.check_within(Duration::from_secs(5)).await;
    Arc::new(reader)
}

/// `GET path?query` through an HTTP API (v2) event, as the function receives it.
async fn get(reader: &Arc<Reader>, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let route = if path.starts_with("/flags/") {
        "/flags/{key}"
    } else {
        path
    };
    let event = HttpCall::get(path, query).http_v2(route);
    let answer = call(lambda_app(reader.clone()), request(&event)).await;
    (answer.status, answer.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flag_is_evaluated_with_the_sdk_reason() {
    let reader = reader().await;
    let alice = r#"{"kind":"user","key":"alice"}"#;
    let (status, body) = get(&reader, "/flags/new-checkout", &[("context", alice)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["flag"], "new-checkout");
    assert_eq!(body["value"], true);
    assert_eq!(body["variationIndex"], 0);
    assert_eq!(body["reason"]["kind"], "RULE_MATCH");
    assert_eq!(body["reason"]["ruleId"], "r1");

    let (_, body) = get(
        &reader,
        "/flags/new-checkout",
        &[("key", "bob"), ("kind", "user")],
    )
    .await;
    assert_eq!(body["value"], false);
    assert_eq!(body["reason"]["kind"], "FALLTHROUGH");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_http_source_is_understood() {
    let reader = reader().await;
    let http = HttpCall::get("/flags/banner-text", &[("key", "alice")]);
    for (source, event) in [
        (
            "REST API v1 (stage in the path)",
            http.rest_v1("/flags/{key}"),
        ),
        ("HTTP API v2", http.http_v2("/flags/{key}")),
        ("ALB", http.alb()),
    ] {
        let answer = call(lambda_app(reader.clone()), request(&event)).await;
        assert_eq!(answer.status, 200, "{source}: {}", answer.body);
        assert_eq!(answer.body["value"], "Welcome!", "{source}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_flag_in_a_healthy_table_is_flag_not_found() {
    let reader = reader().await;
    let (status, body) = get(&reader, "/flags/no-such-flag", &[("key", "alice")]).await;
    assert_eq!(status, 200);
    assert_eq!(body["value"], Value::Null);
    assert_eq!(body["reason"]["kind"], "ERROR");
    assert_eq!(body["reason"]["errorKind"], "FLAG_NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_flags_for_a_context() {
    let reader = reader().await;
    let (status, body) = get(&reader, "/flags", &[("key", "alice")]).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"flags": {"new-checkout": true, "banner-text": "Welcome!"}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors() {
    let reader = reader().await;
    for (path, query, status, words) in [
        (
            "/flags/new-checkout",
            vec![("context", "{not json")],
            400,
            "not valid LaunchDarkly context JSON",
        ),
        (
            "/flags/new-checkout",
            vec![("context", r#"{"kind":"user"}"#)],
            400,
            "invalid context",
        ),
        ("/flags/new-checkout", vec![], 400, "?context="),
        ("/elsewhere", vec![("key", "a")], 404, "not found"),
    ] {
        let (got, body) = get(&reader, path, &query).await;
        assert_eq!(got, status, "{path} {query:?}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(words), "{error}");
    }
    let post = HttpCall::post("/flags", &[], "{}").http_v2("/flags");
    let answer = call(lambda_app(reader.clone()), request(&post)).await;
    assert_eq!(answer.status, 405);
}

/// Every way the store can be broken answers 503 saying what is wrong, for one flag and for
/// all flags, instead of `FLAG_NOT_FOUND` or an empty set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_answer_is_503_never_a_missing_flag() {
    let dynamo = launchdarkly_dynamo_testkit::dynamodb::client();
    let synced =
        launchdarkly_dynamo_testkit::dynamodb::create_table(&dynamo, "reader-prefixed").await;
    DynamoDbStoreBuilder::new(&synced)
        .prefix("staging")
        .client(dynamo.clone())
        .build()
        .await
        .unwrap()
        .apply_snapshot(&snapshot())
        .await
        .unwrap();
    let never_synced =
        launchdarkly_dynamo_testkit::dynamodb::create_table(&dynamo, "reader-empty").await;
    let wrong_keys = launchdarkly_dynamo_testkit::dynamodb::create_table_with_keys(
        &dynamo,
        "reader-wrong-keys",
        "pk",
        "sk",
    )
    .await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let cases = [
        (
            "missing table",
            settings("no-such-table", None),
            dynamo.clone(),
            "TABLE_MISSING",
        ),
        (
            "unreachable DynamoDB",
            settings(&synced, Some("staging")),
            launchdarkly_dynamo_testkit::dynamodb::client_for(&closed),
            "UNREACHABLE",
        ),
        (
            "wrong key schema",
            settings(&wrong_keys, None),
            dynamo.clone(),
            "WRONG_KEY_SCHEMA",
        ),
        (
            "wrong prefix",
            settings(&synced, Some("production")),
            dynamo.clone(),
            "NEVER_SYNCED",
        ),
        (
            "never synced",
            settings(&never_synced, None),
            dynamo.clone(),
            "NEVER_SYNCED",
        ),
    ];
    for (case, settings, client, words) in cases {
        let reader = reader_on(settings, client).await;
        for path in ["/flags/new-checkout", "/flags"] {
            let (status, body) = get(&reader, path, &[("key", "alice")]).await;
            assert_eq!(status, 503, "{case} {path}: {body}");
            assert_eq!(body["status"], "unavailable");
            assert_eq!(body["kind"], words, "{case} {path}: {body}");
            // What callers see says what to check, and names no table, account or ARN.
            let error = body["error"].as_str().unwrap_or_default();
            assert!(
                error.contains("check") || error.contains("run the syncer"),
                "{case}: {error}"
            );
            assert!(
                !error.contains("reader-") && !error.contains("arn:"),
                "{case}: {error}"
            );
        }
    }
    // The prefix the syncer used works.
    let reader = reader_on(settings(&synced, Some("staging")), dynamo).await;
    let (status, body) = get(&reader, "/flags/banner-text", &[("key", "alice")]).await;
    assert_eq!((status, body["value"].clone()), (200, json!("Welcome!")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_synced_after_cold_start_is_served_at_the_next_check() {
    let dynamo = launchdarkly_dynamo_testkit::dynamodb::client();
    let table = launchdarkly_dynamo_testkit::dynamodb::create_table(&dynamo, "reader-late").await;
    let mut late = settings(&table, None);
    late.freshness_ms = 100;
    let config = launchdarkly_dynamo_reader::ReaderConfig {
        request_wait: Duration::from_secs(2),
        ..late.validate().unwrap()
    };
    let reader = Arc::new(Reader::new(&config, dynamo.clone(), None).await.unwrap());
    let (status, _) = get(&reader, "/flags/banner-text", &[("key", "alice")]).await;
    assert_eq!(status, 503);
    DynamoDbStoreBuilder::new(&table)
        .client(dynamo)
        .build()
        .await
        .unwrap()
        .apply_snapshot(&snapshot())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (status, body) = get(&reader, "/flags/banner-text", &[("key", "alice")]).await;
    assert_eq!((status, body["value"].clone()), (200, json!("Welcome!")));
    let (status, body) = get(&reader, "/flags/no-such-flag", &[("key", "alice")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reason"]["errorKind"], "FLAG_NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_events_are_delivered_when_flushed_with_a_key() {
    let sink = launchdarkly_dynamo_testkit::events_sink::EventsSink::start();
    let dynamo = launchdarkly_dynamo_testkit::dynamodb::client();
    let table = launchdarkly_dynamo_testkit::dynamodb::create_table(&dynamo, "reader-events").await;
    let config = Settings {
        events_uri: sink.base_uri().to_string(),
        events_flush_timeout_ms: 5000,
        ..settings(&table, None)
    }
    .validate()
    .unwrap();
    DynamoDbStoreBuilder::new(&table)
        .client(dynamo.clone())
        .build()
        .await
        .unwrap()
        .apply_snapshot(&snapshot())
        .await
        .unwrap();
    let reader = Reader::new(&config, dynamo, Some("sdk-events-key"))
        .await
        .unwrap();
    reader.check_within(Duration::from_secs(5)).await;
    let reader = Arc::new(reader);
    assert!(reader.sends_events());
    let (status, _) = get(&reader, "/flags/banner-text", &[("key", "alice")]).await;
    assert_eq!(status, 200);
    assert!(
        reader.flush_events_within(Duration::from_secs(5)).await,
        "delivered within the timeout"
    );
    let received = sink.received();
    assert!(!received.is_empty());
    assert_eq!(received[0].0, "sdk-events-key");
    assert!(sink.mentions("alice"), "{received:?}");
}

/// The reader mounts the OFREP router (its protocol is tested in `ofrep/tests`): an evaluation
/// posted through API Gateway reaches it, with the context in the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ofrep_evaluations_are_served_through_the_function_url() {
    let reader = reader().await;
    let body = json!({"context": {"targetingKey": "alice"}}).to_string();
    let event = HttpCall::post(
        "/ofrep/v1/evaluate/flags/new-checkout",
        &[("content-type", "application/json")],
        &body,
    )
    .http_v2("/ofrep/v1/evaluate/flags/{key}");
    let answer = call(lambda_app(reader.clone()), request(&event)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        (&answer.body["value"], &answer.body["reason"]),
        (&json!(true), &json!("TARGETING_MATCH")),
        "{}",
        answer.body
    );
}
