//! `syncer sync` as an operator runs it: configuration from the environment, one JSON summary
//! line on stdout, a non-zero exit status and one clear line on failure.

use crate::common;

use std::process::Command;

use common::*;

fn syncer(env: &Env) -> Command {
    env.cli(env!("CARGO_BIN_EXE_syncer"))
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
        "LAUNCHDARKLY_LEASE_SECONDS",
        "LAUNCHDARKLY_MAX_RESPONSE_MB",
        "LAUNCHDARKLY_ALLOW_UNSIGNED_WEBHOOKS",
        "LAUNCHDARKLY_MAX_DELETE_PERCENT",
        "LAUNCHDARKLY_ALLOW_MASS_DELETE",
    ] {
        assert!(help.contains(variable), "--help mentions {variable}");
    }
}

#[tokio::test]
async fn a_sync_that_skipped_items_exits_3_and_reports_partial() {
    let mut body = data(&[("a", 1)], &[]);
    body["flags"]["bad"] = serde_json::json!({"key": "bad", "version": 1, "on": "yes"});
    let env = Env::new("cli-partial", body).await;
    let output = syncer(&env).arg("sync").output().unwrap();
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["status"], "partial");
    assert_eq!(summary["skipped"][0]["key"], "bad");
    assert_eq!(env.flags().await.len(), 1, "the rest was written");
}

#[tokio::test]
async fn logs_carry_no_colour_codes_when_stderr_is_not_a_terminal() {
    let env = Env::new("cli-ansi", data(&[("a", 1)], &[])).await;
    let output = syncer(&env)
        .arg("sync")
        .env("LAUNCHDARKLY_SDK_KEY", "wrong")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ERROR"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

/// `syncer sync` with no profile and empty AWS config files, so nothing but the environment
/// can supply a region or credentials.
fn without_aws_files(env: &Env) -> Command {
    let empty = std::env::temp_dir().join(format!("empty-aws-config-{}", std::process::id()));
    std::fs::write(&empty, "").unwrap();
    let mut command = syncer(env);
    command
        .arg("sync")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", &empty)
        .env("AWS_SHARED_CREDENTIALS_FILE", &empty);
    command
}

#[tokio::test]
async fn a_missing_aws_region_is_named() {
    let env = Env::new("cli-region", data(&[("a", 1)], &[])).await;
    let output = without_aws_files(&env)
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("AWS_REGION is not set"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[tokio::test]
async fn missing_credentials_are_one_line_saying_what_to_set() {
    let env = Env::new("cli-credentials", data(&[("a", 1)], &[])).await;
    let output = without_aws_files(&env)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no AWS credentials were found") && stderr.contains("AWS_PROFILE"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_cli_repairs_rows_edited_behind_the_syncer() {
    let env = Env::new("cli-repair", data(&[("a", 1), ("b", 1)], &[("s", 1)])).await;
    assert!(syncer(&env).arg("sync").output().unwrap().status.success());
    let mut edited =
        launchdarkly_dynamo_testkit::dynamodb::get_raw(&env.dynamo, &env.table, "features", "a")
            .await
            .unwrap();
    edited.insert(
        "item".into(),
        aws_sdk_dynamodb::types::AttributeValue::S(r#"{"key":"a","version":1,"on":false}"#.into()),
    );
    launchdarkly_dynamo_testkit::dynamodb::put_raw(&env.dynamo, &env.table, edited).await;
    let output = syncer(&env).arg("sync").output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["repaired"], 1, "{summary}");
    assert_eq!(summary["written"], 0, "{summary}");
    let item =
        launchdarkly_dynamo_testkit::dynamodb::get_raw(&env.dynamo, &env.table, "features", "a")
            .await
            .unwrap()["item"]
            .clone();
    assert_eq!(
        item,
        aws_sdk_dynamodb::types::AttributeValue::S(flag("a", 1, true).to_string())
    );
}

/// `syncer sync --from-file`: the data set comes from the file (LaunchDarkly's format), no
/// LaunchDarkly and no SDK key involved; the stand-in is never asked.
#[tokio::test]
async fn a_sync_from_a_file_needs_no_launchdarkly() {
    let env = Env::new("cli-file", data(&[("served", 1)], &[])).await;
    let dir = std::env::temp_dir().join(format!("cli-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("flags.json");
    let body = data(&[("from-file", 3), ("other", 1)], &[("seg", 2)]);
    std::fs::write(&file, body.to_string()).unwrap();
    let output = syncer(&env)
        .args(["sync", "--from-file"])
        .arg(&file)
        .env_remove("LAUNCHDARKLY_SDK_KEY")
        .env("LAUNCHDARKLY_BASE_URI", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["written"], 3, "{summary}");
    let flags = env.flags().await;
    assert_eq!(flags.get("from-file"), Some(&3), "{flags:?}");
    assert_eq!(flags.len(), 2, "{flags:?}");
    assert_eq!(env.ld.requests(), 0, "LaunchDarkly was not asked");

    // A file that is not there: one line naming it, nothing written.
    let missing = dir.join("missing.json");
    let output = syncer(&env)
        .args(["sync", "--from-file"])
        .arg(&missing)
        .env_remove("LAUNCHDARKLY_SDK_KEY")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("could not read the data file"), "{stderr}");
    assert!(stderr.contains("missing.json"), "{stderr}");
    assert_eq!(env.flags().await, flags, "the table is as it was");
    std::fs::remove_dir_all(&dir).ok();
}
