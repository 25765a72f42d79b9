//! The syncer's CloudWatch metrics, as the deployed binary prints them in Lambda: one EMF
//! record per sync on stdout, parsed here as CloudWatch reads the Embedded Metric Format.

use crate::common;

use std::io::Read;

use common::*;
use launchdarkly_dynamo_testkit::lambda::{function_binary, sigterm, wait_exit, LambdaApi};
use launchdarkly_dynamo_testkit::launchdarkly::Behavior;
use serde_json::{json, Value};

/// The EMF records among `stdout`'s lines, each checked against the format: a `_aws` directive
/// whose every dimension and metric named has a value at the top level.
fn emf_records(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|record| record.get("_aws").is_some())
        .inspect(|record| {
            let directive = &record["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(
                directive["Namespace"], "LaunchDarklyDynamoStore",
                "{record}"
            );
            assert!(record["_aws"]["Timestamp"].is_u64(), "{record}");
            for set in directive["Dimensions"].as_array().expect("dimension sets") {
                for name in set.as_array().expect("a dimension set") {
                    let name = name.as_str().expect("a dimension name");
                    assert!(record[name].is_string(), "dimension {name}: {record}");
                }
            }
            for metric in directive["Metrics"].as_array().expect("metrics") {
                let name = metric["Name"].as_str().expect("a metric name");
                assert!(metric["Unit"].is_string(), "{record}");
                assert!(record[name].is_number(), "metric {name}: {record}");
            }
        })
        .collect()
}

#[tokio::test]
async fn every_sync_in_lambda_emits_one_metric_record() {
    let env = Env::new("metrics-syncer", data(&[("a", 1), ("b", 1)], &[("s", 1)])).await;
    let api = LambdaApi::start();
    let settings = [
        ("LAUNCHDARKLY_DYNAMODB_TABLE", env.table.as_str()),
        ("LAUNCHDARKLY_BASE_URI", env.ld.base_uri()),
        ("LAUNCHDARKLY_SDK_KEY", SDK_KEY),
        (
            "AWS_ENDPOINT_URL_DYNAMODB",
            &launchdarkly_dynamo_testkit::dynamodb::endpoint(),
        ),
    ];
    let binary = function_binary("syncer", env!("CARGO_BIN_EXE_syncer"));
    let mut function = api.spawn_with_stdout(&binary, &settings);
    let summary = api
        .invoke(launchdarkly_dynamo_testkit::events::schedule())
        .await
        .response();
    assert_eq!(summary["written"], 3, "{summary}");
    env.ld.queue([Behavior::Status(401)]);
    api.invoke(json!({})).await;
    sigterm(&function);
    let mut stdout = String::new();
    function
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_string(&mut stdout)
        .unwrap();
    wait_exit(&mut function);

    let records = emf_records(&stdout);
    assert_eq!(records.len(), 2, "{stdout}");
    let (ok, failed) = (&records[0], &records[1]);
    assert_eq!(ok["Table"], env.table.as_str());
    assert_eq!(
        (
            ok["SyncSucceeded"].clone(),
            ok["SyncFailures"].clone(),
            ok["ItemsWritten"].clone()
        ),
        (json!(1.0), json!(0.0), json!(3.0)),
        "{ok}"
    );
    assert!(ok["SyncDuration"].as_f64().unwrap() > 0.0, "{ok}");
    assert_eq!(ok["trigger"], "schedule");
    assert_eq!(failed["SyncFailures"], 1.0, "{failed}");
    assert_eq!(failed["Kind"], "SDK_KEY_REFUSED", "{failed}");
    assert_eq!(
        failed["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Table"], ["Table", "Kind"]])
    );
}
