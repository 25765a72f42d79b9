//! The Rust service of docs/rust.md is this crate, word for word: its dependency lines and its whole
//! `main.rs`, which evaluates a synced flag from DynamoDB Local and fails its start with the
//! reason when the table does not exist.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::json;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The fenced blocks of `language` in the section `heading` of docs/rust.md.
fn blocks(heading: &str, language: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(crate_dir().join("../../docs/rust.md")).unwrap();
    let start = readme.find(heading).expect("the section in docs/rust.md");
    let section = &readme[start + heading.len()..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    section
        .split(&format!("```{language}\n"))
        .skip(1)
        .map(|block| block[..block.find("```").expect("a closed block")].to_string())
        .collect()
}

const SECTION: &str = "## Using the store from another Rust service\n";

#[test]
fn the_docs_quote_this_crate_word_for_word() {
    let read = |path: &Path| std::fs::read_to_string(crate_dir().join(path)).unwrap();
    let manifest = read(Path::new("Cargo.toml"));
    let dependencies = &manifest[manifest.find("[dependencies]").unwrap()..];
    let dependencies = &dependencies[..dependencies
        .find("\n[dev-dependencies]")
        .unwrap_or(dependencies.len())];
    assert_eq!(
        blocks(SECTION, "toml"),
        [dependencies.trim_end().to_string() + "\n"]
    );
    assert_eq!(blocks(SECTION, "rust"), [read(Path::new("src/main.rs"))]);
}

fn run(table: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rust-reader"))
        .args(["payments-enabled", "alice"])
        .env("LAUNCHDARKLY_DYNAMODB_TABLE", table)
        .env(
            "AWS_ENDPOINT_URL_DYNAMODB",
            launchdarkly_dynamo_testkit::dynamodb::endpoint(),
        )
        .env_remove("LAUNCHDARKLY_SDK_KEY")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_evaluates_a_synced_flag_from_the_table() {
    let flag = json!({"key": "payments-enabled", "version": 3, "on": true, "targets": [],
        "prerequisites": [], "rules": [], "fallthrough": {"variation": 0}, "offVariation": 1,
        "variations": [true, false], "salt": "p"});
    let table = launchdarkly_dynamo_fixtures::synced_table("rust-reader", &[flag], &[]).await;
    let output = run(&table);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout.starts_with("payments-enabled for alice: Some(true) (Fallthrough"),
        "{stdout}"
    );
    assert!(stdout.contains("store: Current"), "{stdout}");
}

#[test]
fn a_wrong_table_name_fails_the_start_with_the_reason() {
    let output = run("no-such-table-for-the-example");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stderr.starts_with("rust-reader: DynamoDB")
            && stderr.contains("ResourceNotFoundException")
            && stderr.contains("does the table exist"),
        "{stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "no answer was printed: {output:?}"
    );
}
