//! A real OpenFeature client, as a Node.js function uses it: the example function's code
//! (`examples/node-ofrep`, OpenFeature's server SDK and OFREP provider, pinned) in a Node
//! process invoked beside the extension's real binary, evaluating flags of every type, a
//! segment rule, a rollout, an unknown flag, and a store that is down.

use std::path::PathBuf;
use std::process::Command;

use launchdarkly_dynamo_testkit::lambda::{free_port, layer_extension, Happened, LambdaApi};
use serde_json::{json, Value};

const NAME: &str = "launchdarkly-ofrep";

fn example_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/node-ofrep");
    assert!(
        dir.join("node_modules/@openfeature/ofrep-provider").exists(),
        "the example's pinned packages are missing: run `make test` (or `npm ci --prefix examples/node-ofrep`)"
    );
    dir
}

fn flag(key: &str, variations: Value, extra: Value) -> Value {
    let mut flag = json!({"key": key, "version": 2, "on": true, "targets": [], "prerequisites": [],
        "rules": [], "fallthrough": {"variation": 0}, "offVariation": 0, "variations": variations,
        "salt": key, "trackEvents": false});
    for (name, value) in extra.as_object().into_iter().flatten() {
        flag[name] = value.clone();
    }
    flag
}

async fn synced_table() -> String {
    let beta = json!({"key": "beta", "version": 1, "included": ["beta-user"], "excluded": [],
        "rules": [], "salt": "b"});
    let flags = [
        flag(
            "new-checkout",
            json!([false, true]),
            json!({"rules": [{"id": "beta-rule",
            "clauses": [{"attribute": "key", "op": "segmentMatch", "values": ["beta"], "negate": false}],
            "variation": 1, "trackEvents": false}]}),
        ),
        flag("banner-text", json!(["Welcome!", "Hi!"]), json!({})),
        flag(
            "max-items",
            json!([25, 50]),
            json!({"fallthrough": {"variation": 1}}),
        ),
        flag(
            "theme",
            json!([{"color": "blue", "dense": true}]),
            json!({}),
        ),
        flag(
            "new-search",
            json!(["old", "new"]),
            json!({"fallthrough": {"rollout": {"variations": [
            {"variation": 0, "weight": 50000}, {"variation": 1, "weight": 50000}]}}}),
        ),
    ];
    launchdarkly_dynamo_fixtures::synced_table("ofrep-js", &flags, &[beta]).await
}

/// The extension running beside the stand-in, ready; returns its OFREP base URL.
async fn extension(api: &LambdaApi, table: &str, dynamodb: &str) -> (std::process::Child, String) {
    let port = free_port().to_string();
    let child = api.spawn(
        &layer_extension(NAME, env!("CARGO_BIN_EXE_launchdarkly-ofrep")),
        &[
            ("LAUNCHDARKLY_DYNAMODB_TABLE", table),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb),
            ("LAUNCHDARKLY_OFREP_PORT", port.as_str()),
        ],
    );
    assert!(api.wait_until(&Happened::ExtensionNext(NAME.into())).await);
    (child, format!("http://127.0.0.1:{port}"))
}

/// One invocation of "the function": a Node process running the example's evaluation code.
async fn node_evaluates(api: &LambdaApi, base_url: &str, requests: Value) -> Vec<Value> {
    let dir = example_dir();
    let base_url = base_url.to_string();
    let output = api
        .invoke_in_process(requests, |requests| async move {
            let output = Command::new("node")
                .arg("evaluate.mjs")
                .arg(requests.to_string())
                .env("OFREP_ENDPOINT", &base_url)
                .current_dir(&dir)
                .output()
                .expect("node runs");
            assert!(
                output.status.success(),
                "node failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
        })
        .await;
    output.as_array().cloned().unwrap_or_default()
}

fn request(flag: &str, kind: &str, default: Value, context: Value) -> Value {
    json!({"flag": flag, "type": kind, "defaultValue": default, "context": context})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openfeature_js_evaluates_every_kind_of_flag_through_the_extension() {
    let table = synced_table().await;
    let api = LambdaApi::start();
    let (mut child, base_url) = extension(
        &api,
        &table,
        &launchdarkly_dynamo_testkit::dynamodb::endpoint(),
    )
    .await;
    let beta = json!({"targetingKey": "beta-user"});
    let other = json!({"targetingKey": "someone", "kind": "user", "plan": "free"});
    let results = node_evaluates(
        &api,
        &base_url,
        json!([
            request("new-checkout", "boolean", json!(false), beta.clone()),
            request("new-checkout", "boolean", json!(true), other.clone()),
            request("banner-text", "string", json!("default"), other.clone()),
            request("max-items", "number", json!(0), other.clone()),
            request("theme", "object", json!({}), other.clone()),
            request("no-such-flag", "boolean", json!(true), other.clone()),
            request("banner-text", "boolean", json!(false), other.clone()),
        ]),
    )
    .await;
    let summary: Vec<Value> = results
        .iter()
        .map(|d| json!([d["value"], d["reason"], d["variant"], d["errorCode"]]))
        .collect();
    assert_eq!(
        summary,
        [
            json!([true, "TARGETING_MATCH", "1", null]),
            json!([false, "STATIC", "0", null]),
            json!(["Welcome!", "STATIC", "0", null]),
            json!([50, "STATIC", "1", null]),
            json!([{"color": "blue", "dense": true}, "STATIC", "0", null]),
            json!([true, "ERROR", null, "FLAG_NOT_FOUND"]),
            json!([false, "ERROR", null, "TYPE_MISMATCH"]),
        ],
        "{results:#?}"
    );
    assert_eq!(results[0]["flagMetadata"]["ruleId"], "beta-rule");

    let rollout: Vec<Value> = (0..20)
        .map(|n| {
            request(
                "new-search",
                "string",
                json!("?"),
                json!({"targetingKey": format!("user-{n}")}),
            )
        })
        .collect();
    let results = node_evaluates(&api, &base_url, Value::Array(rollout)).await;
    assert!(
        results.iter().all(|d| d["reason"] == "SPLIT"),
        "{results:#?}"
    );
    let values: std::collections::BTreeSet<String> =
        results.iter().map(|d| d["value"].to_string()).collect();
    assert_eq!(values.len(), 2, "a 50/50 rollout serves both: {values:?}");
    child.kill().ok();
    child.wait().ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_store_is_an_error_never_a_silent_default() {
    let api = LambdaApi::start();
    let closed = format!("http://127.0.0.1:{}", free_port());
    let (mut child, base_url) = extension(&api, "flags", &closed).await;
    let results = node_evaluates(
        &api,
        &base_url,
        json!([request(
            "new-checkout",
            "boolean",
            json!(false),
            json!({"targetingKey": "u"})
        )]),
    )
    .await;
    assert_eq!(results[0]["errorCode"], "GENERAL", "{results:#?}");
    assert_eq!(results[0]["reason"], "ERROR");
    assert!(
        results[0]["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot answer (UNREACHABLE)"),
        "{results:#?}"
    );
    child.kill().ok();
    child.wait().ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_lambda_handler_answers_an_http_api_request() {
    let table = synced_table().await;
    let api = LambdaApi::start();
    let (mut child, base_url) = extension(
        &api,
        &table,
        &launchdarkly_dynamo_testkit::dynamodb::endpoint(),
    )
    .await;
    let event = json!({"version": "2.0", "routeKey": "GET /node/flags/{key}", "rawPath": "/node/flags/new-checkout",
        "pathParameters": {"key": "new-checkout"},
        "queryStringParameters": {"type": "boolean", "targetingKey": "beta-user"}});
    let script = format!(
        "const {{ handler }} = await import('./handler.mjs'); \
         process.stdout.write(JSON.stringify(await handler({event}))); process.exit(0);"
    );
    let output = Command::new("node")
        .args(["--input-type=module", "-e", &script])
        .env("OFREP_ENDPOINT", &base_url)
        .current_dir(example_dir())
        .output()
        .expect("node runs");
    let response: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    assert_eq!(
        response["statusCode"],
        200,
        "{response} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let details: Value =
        serde_json::from_str(response["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
    assert_eq!(
        (&details["value"], &details["reason"]),
        (&json!(true), &json!("TARGETING_MATCH")),
        "{details}"
    );
    child.kill().ok();
    child.wait().ok();
}
