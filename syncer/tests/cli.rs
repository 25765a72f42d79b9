//! `syncer sync` as an operator runs it: configuration from the environment, one JSON summary
//! line on stdout, a non-zero exit status and one clear line on failure.

mod common;

use std::process::Command;

use common::*;

fn syncer(env: &Env) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_syncer"));
    command
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("LAUNCHDARKLY_DYNAMODB_TABLE", &env.table)
        .env("LAUNCHDARKLY_BASE_URI", env.ld.base_uri())
        .env("LAUNCHDARKLY_SDK_KEY", SDK_KEY)
        .env(
            "AWS_ENDPOINT_URL_DYNAMODB",
            ld_dynamo_testkit::dynamodb::endpoint(),
        );
    command
}

#[tokio::test]
async fn sync_prints_one_json_summary() {
    let env = Env::new("cli-sync", data(&[("a", 1), ("b", 1)], &[("s", 1)])).await;
    let output = syncer(&env).arg("sync").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["status"], "ok");
    assert_eq!(summary["written"], 3);
    assert_eq!(env.flags().await.len(), 2);
}

#[tokio::test]
async fn failure_exits_non_zero_with_one_clear_line() {
    let env = Env::new("cli-fail", data(&[("a", 1)], &[])).await;
    let output = syncer(&env)
        .arg("sync")
        .env("LAUNCHDARKLY_SDK_KEY", "wrong")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refused the SDK key"), "{stderr}");
    assert!(!stderr.contains("wrong\""), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["status"], "error");
}

#[tokio::test]
async fn a_missing_setting_is_named() {
    let env = Env::new("cli-missing", data(&[], &[])).await;
    let output = syncer(&env)
        .arg("sync")
        .env_remove("LAUNCHDARKLY_DYNAMODB_TABLE")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("LAUNCHDARKLY_DYNAMODB_TABLE is not set"),
        "{stderr}"
    );
}

#[test]
fn help_documents_every_setting() {
    let output = Command::new(env!("CARGO_BIN_EXE_syncer"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for variable in [
        "LAUNCHDARKLY_DYNAMODB_TABLE",
        "LAUNCHDARKLY_DYNAMODB_PREFIX",
        "LAUNCHDARKLY_BASE_URI",
        "LAUNCHDARKLY_SDK_KEY",
        "LAUNCHDARKLY_SDK_KEY_PARAM",
        "LAUNCHDARKLY_WEBHOOK_SECRET",
        "LAUNCHDARKLY_WEBHOOK_SECRET_PARAM",
        "LAUNCHDARKLY_SECRETS_TTL_SECONDS",
        "LAUNCHDARKLY_SYNC_TIMEOUT_SECONDS",
        "LAUNCHDARKLY_HTTP_TIMEOUT_SECONDS",
    ] {
        assert!(help.contains(variable), "--help mentions {variable}");
    }
}
