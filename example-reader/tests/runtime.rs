//! The reader's real binary as Lambda runs it, through the Runtime API stand-in: a request
//! answered in one process, a missing table answered 503. (The events extension's lifecycle is
//! not covered here yet: see the session note.)

use launchdarkly_dynamo_store::{DynamoDbStoreBuilder, Kind, Snapshot};
use launchdarkly_server_sdk::SerializedItem;
use ld_dynamo_testkit::events::HttpCall;
use ld_dynamo_testkit::lambda::{function_binary, sigterm, wait_exit, LambdaApi};
use serde_json::{json, Value};

fn binary() -> String {
    function_binary("example-reader", env!("CARGO_BIN_EXE_example-reader"))
}

async fn synced_table() -> String {
    let dynamo = ld_dynamo_testkit::dynamodb::client();
    let table = ld_dynamo_testkit::dynamodb::create_table(&dynamo, "reader-runtime").await;
    let flag = json!({"key": "banner", "version": 1, "on": true, "targets": [], "prerequisites": [], "rules": [],
        "fallthrough": {"variation": 0}, "offVariation": 0, "variations": ["hello"], "salt": "s", "trackEvents": true});
    let mut snapshot = Snapshot::default();
    snapshot.insert(
        Kind::Flags,
        "banner",
        SerializedItem {
            version: 1,
            deleted: false,
            serialized_item: flag.to_string(),
        },
    );
    DynamoDbStoreBuilder::new(&table)
        .client(dynamo)
        .build()
        .await
        .unwrap()
        .apply_snapshot(&snapshot)
        .await
        .unwrap();
    table
}

fn body(response: &Value) -> Value {
    serde_json::from_str(
        response["body"]
            .as_str()
            .unwrap_or_else(|| panic!("{response}")),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_is_503_through_the_runtime() {
    let api = LambdaApi::start();
    let endpoint = ld_dynamo_testkit::dynamodb::endpoint();
    let mut function = api.spawn(
        &binary(),
        &[
            ("LAUNCHDARKLY_DYNAMODB_TABLE", "no-such-table"),
            ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
        ],
    );
    let call = HttpCall::get("/flags/banner", &[("key", "alice")]).rest_v1("/flags/{key}");
    let response = api.invoke(call).await.response();
    assert_eq!(response["statusCode"], 503, "{response}");
    assert!(body(&response)["error"]
        .as_str()
        .unwrap_or_default()
        .contains("no-such-table"));
    assert!(
        api.extensions().is_empty(),
        "no events configured: no extension"
    );
    function.kill().ok();
    function.wait().ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_answers_several_requests_then_stops_on_sigterm() {
    let table = synced_table().await;
    let api = LambdaApi::start();
    let endpoint = ld_dynamo_testkit::dynamodb::endpoint();
    let mut function = api.spawn(
        &binary(),
        &[
            ("LAUNCHDARKLY_DYNAMODB_TABLE", table.as_str()),
            ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
        ],
    );
    let call = HttpCall::get("/flags/banner", &[("key", "alice")]);
    for event in [
        call.http_v2("/flags/{key}"),
        call.rest_v1("/flags/{key}"),
        call.alb(),
    ] {
        let response = api.invoke(event).await.response();
        assert_eq!(response["statusCode"], 200, "{response}");
        assert_eq!(body(&response)["value"], "hello");
    }
    let unknown = HttpCall::get("/flags/gone", &[("key", "alice")]).http_v2("/flags/{key}");
    let response = api.invoke(unknown).await.response();
    assert_eq!(
        body(&response)["reason"]["errorKind"],
        "FLAG_NOT_FOUND",
        "{response}"
    );
    sigterm(&function);
    let status = wait_exit(&mut function);
    use std::os::unix::process::ExitStatusExt;
    assert!(
        status.signal() == Some(15) || status.code() == Some(0),
        "{status:?}"
    );
}
