//! OFREP as `router(reader)` answers it (driven with `tower::ServiceExt::oneshot`), over flags
//! in DynamoDB Local: every status code the spec lists for the two routes, the reason mapping on
//! real evaluations, and the bulk route's ETag. (The OpenAPI conformance run against the
//! extension's binary is `scripts/ofrep-conformance.sh`.)

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request};
use launchdarkly_dynamo_common::settings::TableArgs;
use launchdarkly_dynamo_ofrep::router;
use launchdarkly_dynamo_reader::{Reader, ReaderSettings as Settings};
use launchdarkly_dynamo_store::{DynamoDbStoreBuilder, Kind, Snapshot};
use launchdarkly_server_sdk::SerializedItem;
use serde_json::{json, Value};
use tower::ServiceExt;

fn item(value: Value) -> SerializedItem {
    SerializedItem {
        version: value["version"].as_u64().unwrap_or(1),
        deleted: false,
        serialized_item: value.to_string(),
    }
}

fn flag(key: &str, extra: Value) -> Value {
    let mut flag = json!({"key": key, "version": 3, "on": true, "targets": [], "prerequisites": [],
        "rules": [], "fallthrough": {"variation": 0}, "offVariation": 0, "salt": key, "trackEvents": false});
    for (name, value) in extra.as_object().into_iter().flatten() {
        flag[name] = value.clone();
    }
    flag
}

fn snapshot() -> Snapshot {
    let mut snapshot = Snapshot::default();
    snapshot.insert(Kind::Segments, "beta", item(json!({
        "key": "beta", "version": 1, "included": ["beta-user"], "excluded": [], "rules": [], "salt": "b"
    })));
    let flags = [
        flag(
            "beta-checkout",
            json!({"variations": [false, true],
            "rules": [{"id": "in-beta", "clauses": [{"attribute": "key", "op": "segmentMatch", "values": ["beta"], "negate": false}], "variation": 1, "trackEvents": false}]}),
        ),
        flag(
            "banner",
            json!({"variations": ["Welcome!", "Hi!"], "targets": [{"values": ["vip"], "variation": 1}]}),
        ),
        flag("limit", json!({"variations": [10, 2.5]})),
        flag(
            "theme",
            json!({"variations": [{"color": "blue"}], "on": false}),
        ),
        flag(
            "no-off-value",
            json!({"variations": [1], "on": false, "offVariation": null}),
        ),
        flag(
            "rollout",
            json!({"variations": ["a", "b"],
            "fallthrough": {"rollout": {"variations": [{"variation": 0, "weight": 50000}, {"variation": 1, "weight": 50000}]}}}),
        ),
        flag(
            "broken",
            json!({"variations": [true], "fallthrough": {"variation": 5}}),
        ),
    ];
    for flag in flags {
        let key = flag["key"].as_str().unwrap_or_default().to_string();
        snapshot.insert(Kind::Flags, &key, item(flag));
    }
    snapshot
}

async fn reader_on(table: &str, dynamo: aws_sdk_dynamodb::Client) -> Arc<Reader> {
    let settings = Settings {
        target: TableArgs {
            table: Some(table.to_string()),
            prefix: None,
        },
        cache_ttl_seconds: 30,
        events_flush_interval_seconds: 5,
        ..Settings::default()
    };
    let reader = Reader::new(&settings.validate().unwrap(), dynamo, None)
        .await
        .unwrap();
    reader.check_within(Duration::from_secs(5)).await;
    Arc::new(reader)
}

async fn reader() -> Arc<Reader> {
    let dynamo = launchdarkly_dynamo_testkit::dynamodb::client();
    let table = launchdarkly_dynamo_testkit::dynamodb::create_table(&dynamo, "ofrep").await;
    DynamoDbStoreBuilder::new(&table)
        .client(dynamo.clone())
        .build()
        .await
        .unwrap()
        .apply_snapshot(&snapshot())
        .await
        .unwrap();
    reader_on(&table, dynamo).await
}

struct Answer {
    status: u16,
    etag: Option<String>,
    allow: Option<String>,
    body: Value,
}

async fn send(reader: &Arc<Reader>, request: Request<Body>) -> Answer {
    let response = router(reader.clone())
        .oneshot(request)
        .await
        .expect("the router answers");
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (etag, allow) = (header("etag"), header("allow"));
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("a bounded body");
    Answer {
        status,
        etag,
        allow,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

async fn post(reader: &Arc<Reader>, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(reader, request.body(Body::from(body.to_string())).unwrap()).await
}

async fn evaluate(reader: &Arc<Reader>, flag: &str, context: Value) -> Answer {
    let body = json!({ "context": context }).to_string();
    post(
        reader,
        &format!("/ofrep/v1/evaluate/flags/{flag}"),
        &[],
        &body,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_of_every_type_with_ofrep_reasons_and_variants() {
    let reader = reader().await;
    let cases = [
        (
            "beta-checkout",
            json!({"targetingKey": "beta-user"}),
            json!(true),
            "TARGETING_MATCH",
            "1",
        ),
        (
            "beta-checkout",
            json!({"targetingKey": "someone"}),
            json!(false),
            "STATIC",
            "0",
        ),
        (
            "banner",
            json!({"targetingKey": "vip"}),
            json!("Hi!"),
            "TARGETING_MATCH",
            "1",
        ),
        (
            "limit",
            json!({"targetingKey": "u", "kind": "org"}),
            json!(10),
            "STATIC",
            "0",
        ),
        (
            "theme",
            json!({"targetingKey": "u"}),
            json!({"color": "blue"}),
            "DISABLED",
            "0",
        ),
    ];
    for (key, context, value, reason, variant) in cases {
        let answer = evaluate(&reader, key, context.clone()).await;
        assert_eq!(answer.status, 200, "{key} {context}: {}", answer.body);
        assert_eq!(answer.body["key"], key);
        assert_eq!(answer.body["value"], value, "{key}: {}", answer.body);
        assert_eq!(answer.body["reason"], reason, "{key}: {}", answer.body);
        assert_eq!(answer.body["variant"], variant, "{key}: {}", answer.body);
    }
    let rule = evaluate(
        &reader,
        "beta-checkout",
        json!({"targetingKey": "beta-user"}),
    )
    .await;
    assert_eq!(
        rule.body["metadata"],
        json!({"reasonKind": "RULE_MATCH", "ruleIndex": 0, "ruleId": "in-beta"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_is_split_and_splits() {
    let reader = reader().await;
    let mut seen = std::collections::BTreeSet::new();
    for n in 0..20 {
        let answer = evaluate(
            &reader,
            "rollout",
            json!({"targetingKey": format!("user-{n}")}),
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["reason"], "SPLIT", "{}", answer.body);
        seen.insert(answer.body["value"].to_string());
    }
    assert_eq!(
        seen.len(),
        2,
        "both variations served across 20 keys: {seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_kind_contexts_are_evaluated() {
    let reader = reader().await;
    let context = json!({"kind": "multi", "org": {"targetingKey": "acme"}, "user": {"targetingKey": "beta-user"}});
    let answer = evaluate(&reader, "beta-checkout", context).await;
    assert_eq!(answer.body["value"], true, "{}", answer.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_use_the_spec_status_codes() {
    let reader = reader().await;
    let unknown = evaluate(&reader, "no-such-flag", json!({"targetingKey": "u"})).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["errorCode"], "FLAG_NOT_FOUND");
    assert_eq!(unknown.body["key"], "no-such-flag");

    let cases = [
        ("not json", 400, "PARSE_ERROR"),
        (r#"{"context": {}}"#, 400, "TARGETING_KEY_MISSING"),
        (
            r#"{"context": {"targetingKey": "u", "kind": "kind"}}"#,
            400,
            "INVALID_CONTEXT",
        ),
        (r#"{"nothing": 1}"#, 400, "INVALID_CONTEXT"),
    ];
    for (body, status, code) in cases {
        let answer = post(&reader, "/ofrep/v1/evaluate/flags/banner", &[], body).await;
        assert_eq!(
            (answer.status, answer.body["errorCode"].as_str()),
            (status, Some(code)),
            "{body}"
        );
        assert_eq!(answer.body["key"], "banner");
        assert!(answer.body["errorDetails"]
            .as_str()
            .is_some_and(|d| !d.is_empty()));
        let bulk = post(&reader, "/ofrep/v1/evaluate/flags", &[], body).await;
        assert_eq!(
            (bulk.status, bulk.body["errorCode"].as_str()),
            (status, Some(code)),
            "bulk {body}"
        );
    }

    let broken = evaluate(&reader, "broken", json!({"targetingKey": "u"})).await;
    assert_eq!(
        (broken.status, broken.body["errorCode"].as_str()),
        (400, Some("PARSE_ERROR"))
    );

    let code_default = evaluate(&reader, "no-off-value", json!({"targetingKey": "u"})).await;
    assert_eq!(code_default.status, 200);
    assert_eq!(
        code_default.body,
        json!({"key": "no-off-value", "reason": "DISABLED", "metadata": {"reasonKind": "OFF"}})
    );

    let get = Request::builder()
        .method(Method::GET)
        .uri("/ofrep/v1/evaluate/flags/banner")
        .body(Body::empty())
        .unwrap();
    let get = send(&reader, get).await;
    assert_eq!(get.status, 405);
    assert_eq!(get.allow.as_deref(), Some("POST"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_answer_is_500_general_never_flag_not_found() {
    let dynamo = launchdarkly_dynamo_testkit::dynamodb::client();
    let reader = reader_on("ofrep-no-such-table", dynamo).await;
    for path in [
        "/ofrep/v1/evaluate/flags/banner",
        "/ofrep/v1/evaluate/flags",
    ] {
        let answer = post(&reader, path, &[], r#"{"context": {"targetingKey": "u"}}"#).await;
        assert_eq!(answer.status, 500, "{path}: {}", answer.body);
        assert_eq!(answer.body["errorCode"], "GENERAL");
        let details = answer.body["errorDetails"].as_str().unwrap_or_default();
        assert!(
            details.contains("TABLE_MISSING") && details.contains("does not exist"),
            "{details}"
        );
        // What callers see names no table, account or ARN.
        assert!(
            !details.contains("ofrep-no-such-table") && !details.contains("arn:"),
            "{details}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_evaluation_with_etag_and_if_none_match() {
    let reader = reader().await;
    let body = r#"{"context": {"targetingKey": "beta-user"}}"#;
    let first = post(&reader, "/ofrep/v1/evaluate/flags", &[], body).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let flags = first.body["flags"].as_array().cloned().unwrap_or_default();
    let keys: Vec<&str> = flags.iter().filter_map(|f| f["key"].as_str()).collect();
    assert_eq!(
        keys,
        [
            "banner",
            "beta-checkout",
            "broken",
            "limit",
            "no-off-value",
            "rollout",
            "theme"
        ]
    );
    let beta = flags
        .iter()
        .find(|f| f["key"] == "beta-checkout")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (&beta["value"], &beta["reason"]),
        (&json!(true), &json!("TARGETING_MATCH"))
    );
    let broken = flags
        .iter()
        .find(|f| f["key"] == "broken")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        broken["errorCode"], "PARSE_ERROR",
        "one bad flag fails alone: {broken}"
    );

    let etag = first.etag.expect("an ETag");
    let again = post(
        &reader,
        "/ofrep/v1/evaluate/flags",
        &[("if-none-match", &etag)],
        body,
    )
    .await;
    assert_eq!(again.status, 304);
    assert_eq!(again.etag.as_deref(), Some(etag.as_str()));
    assert_eq!(again.body, Value::Null, "no body with 304");

    let other_context = r#"{"context": {"targetingKey": "someone"}}"#;
    let changed = post(
        &reader,
        "/ofrep/v1/evaluate/flags",
        &[("if-none-match", &etag)],
        other_context,
    )
    .await;
    assert_eq!(changed.status, 200, "different values, different ETag");
    assert_ne!(changed.etag.as_deref(), Some(etag.as_str()));
}
