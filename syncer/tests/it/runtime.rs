//! The syncer's real binary as Lambda runs it: through a Lambda Runtime API stand-in, one
//! process answering a cold start and several invocations of every kind, failures reported
//! through `/error`, a configuration error through `/init/error`, and SIGTERM at shutdown.

use crate::common;

use common::*;
use launchdarkly_dynamo_testkit::events::{self, HttpCall};
use launchdarkly_dynamo_testkit::lambda::{
    function_binary, sigterm, wait_exit, LambdaApi, Outcome,
};
use launchdarkly_dynamo_testkit::launchdarkly::sign_webhook as sign;
use launchdarkly_dynamo_testkit::launchdarkly::Behavior;
use serde_json::{json, Value};

const SECRET: &str = "runtime-webhook-secret";
const AUDIT_ENTRY: &str = r#"{"_id":"2","kind":"flag","name":"a"}"#;

fn binary() -> String {
    function_binary("syncer", env!("CARGO_BIN_EXE_syncer"))
}

fn function_env(env: &Env) -> Vec<(&'static str, String)> {
    vec![
        ("LAUNCHDARKLY_DYNAMODB_TABLE", env.table.clone()),
        ("LAUNCHDARKLY_BASE_URI", env.ld.base_uri().to_string()),
        ("LAUNCHDARKLY_SDK_KEY", SDK_KEY.to_string()),
        ("LAUNCHDARKLY_WEBHOOK_SECRET", SECRET.to_string()),
        ("LAUNCHDARKLY_SYNC_TIMEOUT_SECONDS", "10".to_string()),
        (
            "AWS_ENDPOINT_URL_DYNAMODB",
            launchdarkly_dynamo_testkit::dynamodb::endpoint(),
        ),
    ]
}

fn http_status(response: &Value) -> u64 {
    response["statusCode"]
        .as_u64()
        .unwrap_or_else(|| panic!("an HTTP response: {response}"))
}

fn http_body(response: &Value) -> Value {
    let body = response["body"]
        .as_str()
        .unwrap_or_else(|| panic!("a text body: {response}"));
    serde_json::from_str(body).unwrap_or_else(|e| panic!("a JSON body ({e}): {body}"))
}

#[tokio::test]
async fn one_process_answers_every_trigger_then_exits_on_sigterm() {
    let env = Env::new("runtime-syncer", data(&[("a", 1)], &[("s", 1)])).await;
    let api = LambdaApi::start();
    let settings = function_env(&env);
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut function = api.spawn(&binary(), &settings);

    // Cold start: a signed REST API webhook.
    let signature = sign(SECRET.as_bytes(), AUDIT_ENTRY.as_bytes());
    let signed = [("X-LD-Signature", signature.as_str())];
    let rest = HttpCall::post("/webhook", &signed, AUDIT_ENTRY).rest_v1("/webhook");
    let response = api.invoke(rest).await.response();
    assert_eq!(http_status(&response), 200, "{response}");
    assert_eq!(http_body(&response)["written"], 2);
    assert_eq!(
        response["multiValueHeaders"]["content-type"][0], "application/json",
        "{response}"
    );

    // An unsigned HTTP API (v2) webhook is refused; a signed one is answered in v2's shape.
    let unsigned = HttpCall::post("/webhook", &[], AUDIT_ENTRY).http_v2("/webhook");
    let response = api.invoke(unsigned).await.response();
    assert_eq!(http_status(&response), 401, "{response}");
    let v2 = HttpCall::post("/webhook", &signed, AUDIT_ENTRY).http_v2("/webhook");
    let response = api.invoke(v2).await.response();
    assert_eq!(http_status(&response), 200, "{response}");
    assert_eq!(
        response["headers"]["content-type"], "application/json",
        "{response}"
    );

    // A schedule reconciles and returns the summary itself.
    env.ld.set_data(data(&[("a", 2), ("b", 1)], &[("s", 1)]));
    let summary = api.invoke(events::schedule()).await.response();
    assert_eq!(
        (
            summary["trigger"].clone(),
            summary["written"].clone(),
            summary["reconciled"].clone()
        ),
        (json!("schedule"), json!(2), json!(true)),
        "{summary}"
    );

    // A manual invoke that fails is a failed invocation, reported through /error.
    env.ld.queue([Behavior::Status(401)]);
    match api.invoke(json!({})).await {
        Outcome::Error { body, .. } => {
            assert_eq!(body["errorType"], "SyncFailed", "{body}");
            assert!(
                body["errorMessage"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("refused the SDK key"),
                "{body}"
            );
        }
        other => panic!("expected a failed invocation, got {other:?}"),
    }
    // The same process keeps serving.
    let summary = api.invoke(json!({"any": "payload"})).await.response();
    assert_eq!(summary["trigger"], "manual", "{summary}");
    assert_eq!(
        env.flags().await,
        [("a".to_string(), 2), ("b".to_string(), 1)].into()
    );

    sigterm(&function);
    let status = wait_exit(&mut function);
    assert!(
        !status.success() || status.code() == Some(0),
        "exited: {status:?}"
    );
}

#[tokio::test]
async fn a_configuration_error_is_reported_as_an_init_error() {
    let api = LambdaApi::start();
    let mut function = api.spawn(&binary(), &[("LAUNCHDARKLY_DYNAMODB_TABLE", "")]);
    let status = wait_exit(&mut function);
    assert!(!status.success());
    let error = api.init_error().expect("an init error was posted");
    assert_eq!(error["errorType"], "Runtime.InvalidConfiguration");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("LAUNCHDARKLY_DYNAMODB_TABLE"),
        "{error}"
    );
}

#[tokio::test]
async fn on_managed_instances_concurrent_triggers_in_one_process_coalesce() {
    let env = Env::new("runtime-lmi", data(&[("a", 1)], &[("s", 1)])).await;
    let api = LambdaApi::start_managed(8);
    let settings = function_env(&env);
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut function = api.spawn(&binary(), &settings);
    // The first fetch is slow, so the other triggers arrive while it holds the lease.
    env.ld
        .queue([Behavior::Slow(std::time::Duration::from_millis(800))]);
    let signature = sign(SECRET.as_bytes(), AUDIT_ENTRY.as_bytes());
    let signed = [("X-LD-Signature", signature.as_str())];
    let webhook = || HttpCall::post("/webhook", &signed, AUDIT_ENTRY).http_v2("/webhook");
    let answers = futures::future::join_all((0..6).map(|_| api.invoke(webhook()))).await;
    let mut written = Vec::new();
    for answer in answers {
        let response = answer.response();
        assert_eq!(http_status(&response), 200, "{response}");
        written.push(http_body(&response)["written"].as_u64().unwrap_or(99));
    }
    written.sort();
    // One sync wrote the data; the others waited for the lease, then found it current.
    assert_eq!(written, [0, 0, 0, 0, 0, 2], "{written:?}");
    // Several invocations ran in the one process at once ...
    let mut open = 0usize;
    let mut most = 0usize;
    for (_, happened) in api.timeline() {
        match happened {
            launchdarkly_dynamo_testkit::lambda::Happened::Delivered(_) => open += 1,
            launchdarkly_dynamo_testkit::lambda::Happened::Answered(_) => open -= 1,
            _ => {}
        }
        most = most.max(open);
    }
    assert!(most > 1, "the invocations were served one at a time");
    // ... and their syncs coalesced: one full fetch, the rest answered 304 by LaunchDarkly.
    assert_eq!(env.ld.requests() - env.ld.not_modified(), 1);
    assert_eq!(env.flags().await, [("a".to_string(), 1)].into());
    sigterm(&function);
    wait_exit(&mut function);
}
