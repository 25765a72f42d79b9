//! The reader's routes against DynamoDB Local, with data written by the store crate.

use std::collections::HashMap;

use example_reader::{handle, Reader, Request, Settings};
use launchdarkly_dynamo_store::{DynamoDbStoreBuilder, Kind, Snapshot};
use launchdarkly_server_sdk::SerializedItem;
use ld_dynamo_common::settings::TableArgs;
use serde_json::{json, Value};

fn item(value: Value) -> SerializedItem {
    SerializedItem {
        version: value["version"].as_u64().unwrap(),
        deleted: false,
        serialized_item: value.to_string(),
    }
}

async fn reader() -> Reader {
    let dynamo = ld_dynamo_testkit::dynamodb::client();
    let table = ld_dynamo_testkit::dynamodb::create_table(&dynamo, "reader").await;
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
    let store = DynamoDbStoreBuilder::new(&table)
        .client(dynamo.clone())
        .build()
        .await
        .unwrap();
    store.apply_snapshot(&snapshot).await.unwrap();
    let config = Settings {
        target: TableArgs {
            table: Some(table),
            prefix: None,
        },
        cache_ttl_seconds: 30,
        ..Settings::default()
    }
    .validate()
    .unwrap();
    Reader::new(&config, dynamo, None).unwrap()
}

fn get(path: &str, query: &[(&str, &str)]) -> Request {
    Request {
        method: "GET".into(),
        path: path.into(),
        query: query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flag_is_evaluated_with_the_sdk_reason() {
    let reader = reader().await;
    let alice = r#"{"kind":"user","key":"alice"}"#;
    let response = handle(&reader, &get("/flags/new-checkout", &[("context", alice)])).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body["flag"], "new-checkout");
    assert_eq!(response.body["value"], true);
    assert_eq!(response.body["variationIndex"], 0);
    assert_eq!(response.body["reason"]["kind"], "RULE_MATCH");
    assert_eq!(response.body["reason"]["ruleId"], "r1");

    let response = handle(
        &reader,
        &get("/flags/new-checkout", &[("key", "bob"), ("kind", "user")]),
    )
    .await;
    assert_eq!(response.body["value"], false);
    assert_eq!(response.body["reason"]["kind"], "FALLTHROUGH");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_flag_is_flag_not_found_not_an_error() {
    let reader = reader().await;
    let response = handle(&reader, &get("/flags/no-such-flag", &[("key", "alice")])).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body["value"], Value::Null);
    assert_eq!(response.body["reason"]["kind"], "ERROR");
    assert_eq!(response.body["reason"]["errorKind"], "FLAG_NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_flags_for_a_context() {
    let reader = reader().await;
    let response = handle(&reader, &get("/flags", &[("key", "alice")])).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.body,
        json!({"flags": {"new-checkout": true, "banner-text": "Welcome!"}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors() {
    let reader = reader().await;
    for (request, status, words) in [
        (
            get("/flags/new-checkout", &[("context", "{not json")]),
            400,
            "not valid LaunchDarkly context JSON",
        ),
        (
            get("/flags/new-checkout", &[("context", r#"{"kind":"user"}"#)]),
            400,
            "invalid context",
        ),
        (get("/flags/new-checkout", &[]), 400, "?context="),
        (get("/elsewhere", &[("key", "a")]), 404, "not found"),
        (
            Request {
                method: "DELETE".into(),
                ..get("/flags", &[])
            },
            405,
            "only GET",
        ),
    ] {
        let response = handle(&reader, &request).await;
        assert_eq!(response.status, status, "{request:?}");
        let error = response.body["error"].as_str().unwrap();
        assert!(error.contains(words), "{error}");
    }
}

#[test]
fn api_gateway_events_are_read() {
    let v2 = json!({
        "version": "2.0", "rawPath": "/flags/new-checkout", "pathParameters": {"key": "new-checkout"},
        "queryStringParameters": {"key": "alice"}, "requestContext": {"http": {"method": "GET"}}
    });
    let request = Request::from_event(&v2);
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("GET", "/flags/new-checkout")
    );
    assert_eq!(request.query["key"], "alice");
    let all = json!({"version": "2.0", "rawPath": "/flags", "requestContext": {"http": {"method": "GET"}}});
    assert_eq!(Request::from_event(&all).path, "/flags");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_events_are_flushed_before_the_response_when_a_key_is_set() {
    use std::sync::{Arc, Mutex};
    let received: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let sink = received.clone();
    let events = axum::Router::new().route(
        "/bulk",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let sink = sink.clone();
                async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let json = decompress(&headers, &body);
                    sink.lock().unwrap().push((auth, json));
                    axum::http::StatusCode::ACCEPTED
                }
            },
        ),
    );
    let address = ld_dynamo_testkit::serve(events);
    let dynamo = ld_dynamo_testkit::dynamodb::client();
    let table = ld_dynamo_testkit::dynamodb::create_table(&dynamo, "reader-events").await;
    let config = Settings {
        target: TableArgs {
            table: Some(table),
            prefix: None,
        },
        events_uri: format!("http://{address}"),
        events_flush_timeout_ms: 5000,
        ..Settings::default()
    }
    .validate()
    .unwrap();
    let reader = Reader::new(&config, dynamo, Some("sdk-events-key")).unwrap();
    let response = handle(&reader, &get("/flags/anything", &[("key", "alice")])).await;
    assert_eq!(response.status, 200);
    let received = received.lock().unwrap().clone();
    assert!(
        !received.is_empty(),
        "events were delivered before the response"
    );
    assert_eq!(received[0].0, "sdk-events-key");
    assert!(
        received
            .iter()
            .any(|(_, body)| body.to_string().contains("alice")),
        "{received:?}"
    );
}

/// Event payloads may be gzip-compressed.
fn decompress(headers: &axum::http::HeaderMap, body: &[u8]) -> Value {
    if headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        == Some("gzip")
    {
        use std::io::Read;
        let mut text = String::new();
        flate2::read::GzDecoder::new(body)
            .read_to_string(&mut text)
            .unwrap();
        serde_json::from_str(&text).unwrap()
    } else {
        serde_json::from_slice(body).unwrap()
    }
}
