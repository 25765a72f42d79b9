//! `example-reader eval` prints what the table serves.

use std::process::Command;

use launchdarkly_dynamo_store::{DynamoDbStoreBuilder, Kind, Snapshot};
use launchdarkly_server_sdk::SerializedItem;
use serde_json::{json, Value};

#[tokio::test]
async fn eval_prints_one_evaluation_or_all() {
    let dynamo = ld_dynamo_testkit::dynamodb::client();
    let table = ld_dynamo_testkit::dynamodb::create_table(&dynamo, "reader-cli").await;
    let flag = json!({"key": "kill-switch", "version": 2, "on": false, "targets": [], "prerequisites": [], "rules": [],
        "fallthrough": {"variation": 0}, "offVariation": 1, "variations": [true, false], "salt": "k"});
    let mut snapshot = Snapshot::default();
    snapshot.insert(
        Kind::Flags,
        "kill-switch",
        SerializedItem {
            version: 2,
            deleted: false,
            serialized_item: flag.to_string(),
        },
    );
    let store = DynamoDbStoreBuilder::new(&table)
        .prefix("demo")
        .client(dynamo)
        .build()
        .await
        .unwrap();
    store.apply_snapshot(&snapshot).await.unwrap();

    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_example-reader"))
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .env("LAUNCHDARKLY_DYNAMODB_TABLE", &table)
            .env("LAUNCHDARKLY_DYNAMODB_PREFIX", "demo")
            .env(
                "AWS_ENDPOINT_URL_DYNAMODB",
                ld_dynamo_testkit::dynamodb::endpoint(),
            )
            .args(args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(
            output.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_str::<Value>(&stdout).unwrap()
    };
    let one = run(&[
        "eval",
        "kill-switch",
        "--context",
        r#"{"kind":"user","key":"alice"}"#,
    ]);
    assert_eq!(one["value"], false);
    assert_eq!(one["reason"]["kind"], "OFF");
    let all = run(&["eval", "--all", "--key", "alice"]);
    assert_eq!(all, json!({"flags": {"kill-switch": false}}));
}
