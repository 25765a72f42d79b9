//! `example-reader eval` prints what the table serves.

use std::process::Command;

use launchdarkly_dynamo_store::{DynamoDbStoreBuilder, Kind, Snapshot};
use launchdarkly_server_sdk::SerializedItem;
use serde_json::{json, Value};

#[tokio::test]
async fn eval_prints_one_evaluation_or_all() {
    let dynamo = launchdarkly_dynamo_testkit::dynamodb::client();
    let table = launchdarkly_dynamo_testkit::dynamodb::create_table(&dynamo, "reader-cli").await;
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
                launchdarkly_dynamo_testkit::dynamodb::endpoint(),
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

fn reader_cli(table: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_example-reader"));
    command
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("LAUNCHDARKLY_SDK_KEY_PARAM")
        .env("LAUNCHDARKLY_DYNAMODB_TABLE", table)
        .env(
            "AWS_ENDPOINT_URL_DYNAMODB",
            launchdarkly_dynamo_testkit::dynamodb::endpoint(),
        );
    command
}

#[tokio::test]
async fn eval_on_a_store_that_cannot_answer_exits_non_zero_with_one_line() {
    let dynamo = launchdarkly_dynamo_testkit::dynamodb::client();
    let never_synced =
        launchdarkly_dynamo_testkit::dynamodb::create_table(&dynamo, "reader-cli-empty").await;
    for (table, words) in [
        (never_synced.as_str(), "never synced"),
        ("no-such-table", "ResourceNotFoundException"),
    ] {
        let output = reader_cli(table)
            .args(["eval", "any-flag", "--key", "alice"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(3), "{output:?}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        let answer: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(answer["status"], "unavailable");
        assert!(
            answer["error"].as_str().unwrap_or_default().contains(words),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn eval_sends_events_only_when_asked() {
    let dynamo = launchdarkly_dynamo_testkit::dynamodb::client();
    let table =
        launchdarkly_dynamo_testkit::dynamodb::create_table(&dynamo, "reader-cli-events").await;
    DynamoDbStoreBuilder::new(&table)
        .client(dynamo)
        .build()
        .await
        .unwrap()
        .apply_snapshot(&Snapshot::default())
        .await
        .unwrap();
    let sink = launchdarkly_dynamo_testkit::events_sink::EventsSink::start();
    let eval = |key: &str, send: bool| {
        let mut command = reader_cli(&table);
        command
            .env("LAUNCHDARKLY_SDK_KEY", "sdk-cli-key")
            .env("LAUNCHDARKLY_EVENTS_URI", sink.base_uri())
            .args(["eval", "some-flag", "--key", key]);
        if send {
            command.arg("--send-events");
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{output:?}");
    };
    eval("quiet-user", false);
    eval("loud-user", true);
    assert!(
        sink.mentions("loud-user"),
        "--send-events delivers: {:?}",
        sink.received()
    );
    assert!(
        !sink.mentions("quiet-user"),
        "no events unless asked: {:?}",
        sink.received()
    );
}
