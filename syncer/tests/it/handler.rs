//! The Lambda handler for each trigger, over the same `lambda_http` requests the runtime builds
//! from real events (REST v1, HTTP API v2, ALB; schedules and manual invokes passed through),
//! and secrets read from SSM (moto) at run time.

use crate::common;

use common::*;
use launchdarkly_dynamo_common::settings::SdkKeyArgs;
use launchdarkly_dynamo_testkit::events::{self, HttpCall};
use launchdarkly_dynamo_testkit::launchdarkly::sign_webhook as sign;
use serde_json::{json, Value};
use syncer::handler::HandlerError;
use syncer::{Settings, Syncer};
use tokio::time::Instant;

const SECRET: &str = "webhook-secret-xyz";
const AUDIT_ENTRY: &str = r#"{"_id":"1","kind":"flag","name":"a","titleVerb":"changed the flag"}"#;

fn header_pairs(headers: &Value) -> Vec<(String, String)> {
    headers
        .as_object()
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn webhook_call(
    headers: &[(String, String)],
    body: &str,
    event: impl Fn(&HttpCall) -> Value,
) -> Value {
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    event(&HttpCall::post("/webhook", &pairs, body))
}

/// An API Gateway REST (v1) proxy event.
fn rest_event(headers: Value, body: &str) -> Value {
    webhook_call(&header_pairs(&headers), body, |call| {
        call.rest_v1("/webhook")
    })
}

/// An API Gateway HTTP API (v2) event, base64 body (also what function URLs send).
fn http_api_event(headers: Value, body: &str) -> Value {
    webhook_call(&header_pairs(&headers), body, |call| {
        call.http_v2("/webhook")
    })
}

/// An Application Load Balancer event.
fn alb_event(headers: Value, body: &str) -> Value {
    webhook_call(&header_pairs(&headers), body, |call| call.alb())
}

/// Runs the handler on `event` as `lambda_http` delivers it. HTTP events answer
/// `{"statusCode","body"}` as API Gateway would see them; other events answer their result.
async fn handle(syncer: &Syncer, event: Value, deadline: Instant) -> Result<Value, HandlerError> {
    let http = event.get("requestContext").is_some();
    let response = syncer::handle(syncer, events::request(&event), deadline).await?;
    let body = json_body(&response);
    Ok(if http {
        json!({"statusCode": response.status().as_u16(), "body": body.to_string()})
    } else {
        body
    })
}

fn status(response: &Value) -> u64 {
    response["statusCode"].as_u64().expect("an HTTP response")
}

fn body(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().expect("a body")).expect("a JSON body")
}

async fn env_with_secret(label: &str, secret: Option<&str>) -> (Env, syncer::Syncer) {
    let env = Env::new(label, data(&[("a", 1)], &[("s", 1)])).await;
    let settings = Settings {
        webhook_secret: secret.map(str::to_string),
        ..env.settings()
    };
    let syncer = env.syncer_with(settings).await;
    (env, syncer)
}

#[tokio::test]
async fn webhook_with_a_valid_signature_syncs() {
    let (env, syncer) = env_with_secret("hook-valid", Some(SECRET)).await;
    let signature = sign(SECRET.as_bytes(), AUDIT_ENTRY.as_bytes());
    let response = handle(
        &syncer,
        rest_event(json!({"X-LD-Signature": signature}), AUDIT_ENTRY),
        deadline(),
    )
    .await
    .unwrap();
    assert_eq!(status(&response), 200, "{response}");
    assert_eq!(body(&response)["written"], 2);
    assert_eq!(body(&response)["status"], "ok");
    assert_eq!(
        env.flags().await.len(),
        1,
        "the body was not applied: the data came from the fetch"
    );
}

#[tokio::test]
async fn header_name_case_does_not_matter_and_http_api_events_work() {
    let (env, syncer) = env_with_secret("hook-case", Some(SECRET)).await;
    let signature = sign(SECRET.as_bytes(), AUDIT_ENTRY.as_bytes());
    for name in ["X-LD-SIGNATURE", "x-ld-signature"] {
        let response = handle(
            &syncer,
            http_api_event(json!({name: signature.clone()}), AUDIT_ENTRY),
            deadline(),
        )
        .await
        .unwrap();
        assert_eq!(status(&response), 200, "{name}: {response}");
    }
    let response = handle(
        &syncer,
        alb_event(json!({"x-ld-signature": signature}), AUDIT_ENTRY),
        deadline(),
    )
    .await
    .unwrap();
    assert_eq!(status(&response), 200, "ALB: {response}");
    assert_eq!(env.flags().await.len(), 1);
}

#[tokio::test]
async fn webhook_without_or_with_a_wrong_signature_is_refused_without_syncing() {
    let (env, syncer) = env_with_secret("hook-refused", Some(SECRET)).await;
    let wrong = sign(b"another secret", AUDIT_ENTRY.as_bytes());
    let tampered = sign(SECRET.as_bytes(), b"{}");
    for headers in [
        json!({}),
        json!({"X-LD-Signature": wrong}),
        json!({"X-LD-Signature": tampered}),
    ] {
        let response = handle(
            &syncer,
            rest_event(headers.clone(), AUDIT_ENTRY),
            deadline(),
        )
        .await
        .unwrap();
        assert_eq!(status(&response), 401, "{headers}: {response}");
        assert_eq!(body(&response)["status"], "error");
        assert!(!response.to_string().contains(SECRET));
    }
    assert_eq!(env.ld.requests(), 0, "no fetch");
    assert!(env.state().await.is_empty(), "no write");
}

#[tokio::test]
async fn without_a_secret_webhooks_are_refused_unless_unsigned_ones_are_allowed() {
    let (env, syncer) = env_with_secret("hook-closed", None).await;
    let (logs, _guard) = launchdarkly_dynamo_testkit::logs::capture();
    for _ in 0..2 {
        let response = handle(&syncer, rest_event(json!({}), AUDIT_ENTRY), deadline())
            .await
            .unwrap();
        assert_eq!(status(&response), 401, "{response}");
        assert!(
            !response.to_string().contains("LAUNCHDARKLY_"),
            "{response}"
        );
    }
    assert_eq!(env.ld.requests(), 0, "no fetch");
    assert!(env.state().await.is_empty(), "no write");
    let errors = logs.text();
    let refusals = errors
        .lines()
        .filter(|line| {
            line.contains("ERROR") && line.contains("set LAUNCHDARKLY_WEBHOOK_SECRET_PARAM")
        })
        .count();
    assert_eq!(
        refusals, 2,
        "one ERROR line per refused webhook, saying what to set: {errors}"
    );

    let open = env
        .syncer_with(Settings {
            allow_unsigned_webhooks: true,
            ..env.settings()
        })
        .await;
    for _ in 0..3 {
        let response = handle(&open, rest_event(json!({}), AUDIT_ENTRY), deadline())
            .await
            .unwrap();
        assert_eq!(status(&response), 200, "{response}");
    }
    assert_eq!(env.flags().await.len(), 1);
    let warnings = logs.text().matches("anyone who knows the URL").count();
    assert_eq!(warnings, 1, "{}", logs.text());
}

#[tokio::test]
async fn webhook_failures_tell_the_caller_nothing_internal() {
    let env = Env::new("hook-private", data(&[("a", 1)], &[])).await;
    let settings = Settings {
        sdk_key: SdkKeyArgs {
            sdk_key: None,
            sdk_key_param: Some("/launchdarkly/private/sdkkey".into()),
        },
        allow_unsigned_webhooks: true,
        ..env.settings()
    };
    let syncer = env.syncer_with(settings).await;
    let response = handle(&syncer, rest_event(json!({}), AUDIT_ENTRY), deadline())
        .await
        .unwrap();
    assert_eq!(status(&response), 500, "{response}");
    assert_eq!(body(&response)["kind"], "SDK_KEY_MISSING", "{response}");
    let text = response.to_string();
    for internal in ["/launchdarkly/private/sdkkey", "ssm:", "SSM", &env.table] {
        assert!(!text.contains(internal), "{internal} leaked: {text}");
    }

    // A partial sync's answer counts skipped items without naming them.
    let mut served = data(&[("a", 1)], &[]);
    served["flags"]["secret-flag-name"] = json!({"key": "secret-flag-name", "version": 1});
    env.ld.set_data(served);
    let open = env
        .syncer_with(Settings {
            allow_unsigned_webhooks: true,
            ..env.settings()
        })
        .await;
    let response = handle(&open, rest_event(json!({}), AUDIT_ENTRY), deadline())
        .await
        .unwrap();
    assert_eq!(status(&response), 200, "{response}");
    assert_eq!(body(&response)["status"], "partial");
    assert_eq!(body(&response)["skipped"], 1);
    assert!(
        !response.to_string().contains("secret-flag-name"),
        "{response}"
    );
}

#[tokio::test]
async fn a_failing_table_is_answered_by_its_category_never_the_aws_message() {
    let env = Env::new("hook-categories", data(&[("a", 1)], &[])).await;
    let proxy = launchdarkly_dynamo_testkit::proxy::DynamoProxy::start(
        &launchdarkly_dynamo_testkit::dynamodb::endpoint(),
    );
    // The AWS client retries 500s with jittered backoff (3 attempts, a few seconds at most):
    // the budget for that case outlasts them, so the 500 itself is what is answered. A stall
    // ends at the budget.
    let cases = [
        (
            launchdarkly_dynamo_testkit::proxy::Outage::InternalServerError,
            10,
            "UNAVAILABLE",
        ),
        (
            launchdarkly_dynamo_testkit::proxy::Outage::Stall,
            2,
            "UNREACHABLE",
        ),
    ];
    let syncer_within = |budget: u64| {
        let settings = Settings {
            allow_unsigned_webhooks: true,
            sync_timeout_seconds: budget,
            ..env.settings()
        };
        env.syncer_on(
            settings,
            launchdarkly_dynamo_testkit::dynamodb::client_for(proxy.endpoint()),
        )
    };
    for (outage, budget, kind) in cases {
        let syncer = syncer_within(budget).await;
        proxy.set_outage(outage);
        let response = handle(&syncer, rest_event(json!({}), AUDIT_ENTRY), deadline())
            .await
            .unwrap();
        assert_eq!(status(&response), 503, "{outage:?}: {response}");
        assert_eq!(body(&response)["kind"], kind, "{outage:?}: {response}");
        assert!(body(&response)["hint"]
            .as_str()
            .is_some_and(|h| !h.is_empty()));
    }
    proxy.set_outage(launchdarkly_dynamo_testkit::proxy::Outage::None);
    let syncer = syncer_within(2).await;

    // The table is gone: AWS's message names it (and in AWS, the account and region).
    env.dynamo
        .delete_table()
        .table_name(&env.table)
        .send()
        .await
        .unwrap();
    let response = handle(&syncer, rest_event(json!({}), AUDIT_ENTRY), deadline())
        .await
        .unwrap();
    assert_eq!(status(&response), 500, "{response}");
    assert_eq!(body(&response)["kind"], "TABLE_MISSING", "{response}");
    let text = response.to_string();
    for internal in [
        env.table.as_str(),
        "ResourceNotFound",
        "Cannot do operations",
    ] {
        assert!(!text.contains(internal), "{internal} leaked: {text}");
    }
}

#[tokio::test]
async fn only_post_is_accepted() {
    let (env, syncer) = env_with_secret("hook-get", None).await;
    let mut event = rest_event(json!({}), "");
    event["httpMethod"] = json!("GET");
    let response = handle(&syncer, event, deadline()).await.unwrap();
    assert_eq!(status(&response), 405);
    assert_eq!(env.ld.requests(), 0);
}

#[tokio::test]
async fn a_failed_sync_answers_5xx_so_launchdarkly_retries() {
    let (env, syncer) = env_with_secret("hook-5xx", None).await;
    env.ld.queue(std::iter::repeat_n(
        launchdarkly_dynamo_testkit::launchdarkly::Behavior::Status(500),
        100,
    ));
    let settings = Settings {
        sync_timeout_seconds: 2,
        allow_unsigned_webhooks: true,
        ..env.settings()
    };
    let syncer_short = env.syncer_with(settings).await;
    drop(syncer);
    let response = handle(
        &syncer_short,
        rest_event(json!({}), AUDIT_ENTRY),
        deadline(),
    )
    .await
    .unwrap();
    assert_eq!(status(&response), 503, "{response}");
    let text = response.to_string();
    assert!(text.contains("did not complete"), "{text}");
    // The caller is on the internet: no upstream URL, status or error text.
    for internal in ["500", "127.0.0.1", "latest-all", "LaunchDarkly answered"] {
        assert!(!text.contains(internal), "{internal} leaked: {text}");
    }
}

#[tokio::test]
async fn schedule_and_manual_invokes_sync_and_return_the_summary() {
    let (env, syncer) = env_with_secret("hook-schedule", Some(SECRET)).await;
    let summary = handle(&syncer, events::schedule(), deadline())
        .await
        .unwrap();
    assert_eq!(summary["status"], "ok");
    assert_eq!(summary["trigger"], "schedule");
    assert_eq!(summary["written"], 2);
    env.ld.set_data(data(&[("a", 2)], &[("s", 1)]));
    for manual in [json!({}), json!({"anything": [1, 2]}), Value::Null] {
        let summary = handle(&syncer, manual.clone(), deadline()).await.unwrap();
        assert_eq!(summary["trigger"], "manual", "{manual}");
        assert_eq!(summary["status"], "ok");
    }
    assert_eq!(env.flags().await["a"], 2);

    // `make status`: a manual invoke asking for the report syncs nothing.
    let fetches = env.ld.requests();
    let report = handle(&syncer, json!({"status": true}), deadline())
        .await
        .unwrap();
    assert_eq!(report["table"], env.table.as_str(), "{report}");
    assert_eq!(report["lastSync"]["note"]["trigger"], "manual", "{report}");
    assert_eq!(report["webhookSigning"]["state"], "checked");
    assert_eq!(env.ld.requests(), fetches);
}

#[tokio::test]
async fn a_failed_manual_sync_is_a_failed_invocation() {
    let env = Env::new("hook-manual-fail", data(&[("a", 1)], &[])).await;
    let settings = Settings {
        sdk_key: SdkKeyArgs {
            sdk_key: Some("bad".into()),
            sdk_key_param: None,
        },
        ..env.settings()
    };
    let syncer = env.syncer_with(settings).await;
    let err = handle(&syncer, json!({}), deadline()).await.unwrap_err();
    assert!(err.to_string().contains("refused the SDK key"), "{err}");
}

#[tokio::test]
async fn secrets_come_from_ssm_at_run_time_and_rotate_after_the_ttl() {
    let env = Env::new("ssm-path", data(&[("a", 1)], &[])).await;
    let ssm = launchdarkly_dynamo_testkit::ssm::client();
    let key_param = format!("/launchdarkly/{}/sdkkey", env.table);
    let secret_param = format!("/launchdarkly/{}/webhooksecret", env.table);
    launchdarkly_dynamo_testkit::ssm::put_secure(&ssm, &key_param, SDK_KEY).await;
    launchdarkly_dynamo_testkit::ssm::put_secure(&ssm, &secret_param, "first-secret").await;
    let settings = Settings {
        sdk_key: SdkKeyArgs {
            sdk_key: None,
            sdk_key_param: Some(key_param),
        },
        webhook_secret_param: Some(secret_param.clone()),
        secrets_ttl_seconds: 0,
        ..env.settings()
    };
    let syncer = env.syncer_with(settings).await;
    let signed = |secret: &str| {
        rest_event(
            json!({"X-LD-Signature": sign(secret.as_bytes(), AUDIT_ENTRY.as_bytes())}),
            AUDIT_ENTRY,
        )
    };
    assert_eq!(
        status(
            &handle(&syncer, signed("first-secret"), deadline())
                .await
                .unwrap()
        ),
        200
    );
    // Rotate: the next request uses the new value without a new container.
    launchdarkly_dynamo_testkit::ssm::put_secure(&ssm, &secret_param, "second-secret").await;
    assert_eq!(
        status(
            &handle(&syncer, signed("first-secret"), deadline())
                .await
                .unwrap()
        ),
        401
    );
    assert_eq!(
        status(
            &handle(&syncer, signed("second-secret"), deadline())
                .await
                .unwrap()
        ),
        200
    );
    assert_eq!(env.flags().await.len(), 1);
}

#[tokio::test]
async fn a_missing_webhook_secret_parameter_refuses_every_webhook_and_says_what_to_create() {
    let env = Env::new("ssm-no-secret", data(&[("a", 1)], &[])).await;
    let parameter = "/launchdarkly/nowhere/webhooksecret";
    // Allowing unsigned webhooks does not open a configured check whose secret is missing.
    let settings = Settings {
        webhook_secret_param: Some(parameter.into()),
        allow_unsigned_webhooks: true,
        ..env.settings()
    };
    let syncer = env.syncer_with(settings).await;
    let (logs, _guard) = launchdarkly_dynamo_testkit::logs::capture();
    let response = handle(&syncer, rest_event(json!({}), AUDIT_ENTRY), deadline())
        .await
        .unwrap();
    assert_eq!(status(&response), 401, "{response}");
    assert!(!response.to_string().contains(parameter), "{response}");
    assert_eq!(env.ld.requests(), 0, "no fetch");
    assert!(env.state().await.is_empty(), "no write");
    let line = logs
        .text()
        .lines()
        .find(|line| line.contains("ERROR"))
        .map(str::to_string)
        .unwrap_or_default();
    assert!(
        line.contains(parameter) && line.contains("aws ssm put-parameter"),
        "{}",
        logs.text()
    );

    // A manual invoke is not a webhook: it still syncs.
    let summary = handle(&syncer, json!({}), deadline()).await.unwrap();
    assert_eq!(summary["status"], "ok");
}

#[tokio::test]
async fn a_missing_sdk_key_parameter_is_a_clear_error_and_changes_nothing() {
    let env = Env::new("ssm-no-key", data(&[("a", 1)], &[])).await;
    let settings = Settings {
        sdk_key: SdkKeyArgs {
            sdk_key: None,
            sdk_key_param: Some("/launchdarkly/nowhere/sdkkey".into()),
        },
        ..env.settings()
    };
    let err = env
        .syncer_with(settings)
        .await
        .sync(syncer::Trigger::Manual, deadline())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("/launchdarkly/nowhere/sdkkey") && text.contains("aws ssm put-parameter"),
        "{text}"
    );
    assert!(env.data_state().await.is_empty(), "no data written");
    assert_eq!(env.ld.requests(), 0);
}

/// The response body as JSON (`Value::Null` when it is not JSON).
fn json_body(response: &lambda_http::Response<lambda_http::Body>) -> Value {
    serde_json::from_slice(response.body()).unwrap_or(Value::Null)
}
