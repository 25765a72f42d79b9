//! `make deploy` fails fast: without credentials, or without the stage's SDK key parameter, it
//! stops in seconds with one line saying what to set, before it builds or installs anything.
//! (The second case runs against the SSM stand-in, which also answers STS.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `make -s deploy` with only `env` (and PATH) set, in a home with no AWS configuration.
fn deploy(env: &[(&str, &str)]) -> (Output, Duration) {
    let home = std::env::temp_dir().join(format!("preflight-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let started = Instant::now();
    let output = Command::new("make")
        .args(["-s", "deploy", "ENV=preflight-test"])
        .current_dir(root())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .output()
        .expect("make runs");
    (output, started.elapsed())
}

fn check_fails_fast(output: &Output, elapsed: Duration, says: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    // make's own "make: *** [...] Error 1" aside.
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("make: ") && !l.starts_with("make: ***"))
        .collect();
    assert!(
        ours.len() == 1 && ours[0].contains(says),
        "one line saying what to set ({says}): {stderr}"
    );
    assert!(
        !stderr.contains("Compiling") && !stderr.contains("npm"),
        "nothing was built or installed: {stderr}"
    );
}

#[test]
fn without_credentials_make_deploy_stops_at_once_saying_what_to_set() {
    let (output, elapsed) = deploy(&[]);
    check_fails_fast(&output, elapsed, "set AWS_PROFILE");
}

#[test]
fn without_the_sdk_key_parameter_make_deploy_stops_at_once_naming_it() {
    let Ok(aws) = std::env::var("LD_SSM_TEST_ENDPOINT") else {
        panic!("LD_SSM_TEST_ENDPOINT is not set: run with scripts/with-local-aws.sh");
    };
    let (output, elapsed) = deploy(&[
        ("AWS_ENDPOINT_URL", &aws),
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("REGION", "eu-west-1"),
    ]);
    check_fails_fast(
        &output,
        elapsed,
        "/launchdarkly/preflight-test/sdkkey does not exist",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("aws ssm put-parameter"), "{stderr}");
}

#[test]
fn capacity_provider_settings_that_cannot_work_together_stop_make_deploy_at_once() {
    let (output, elapsed) = deploy(&[
        (
            "CAPACITY_PROVIDER",
            "arn:aws:lambda:us-east-1:123456789012:capacity-provider:flags",
        ),
        ("CAPACITY_PROVIDER_SUBNETS", "subnet-0a1b2c3d"),
        ("CAPACITY_PROVIDER_SECURITY_GROUPS", "sg-0a1b2c3d"),
    ]);
    check_fails_fast(&output, elapsed, "not both");
    let (output, elapsed) = deploy(&[("CAPACITY_PROVIDER_SUBNETS", "subnet-0a1b2c3d")]);
    check_fails_fast(&output, elapsed, "needs CAPACITY_PROVIDER_SECURITY_GROUPS");
}
