//! A real Python OpenFeature client, as a Python function uses the layer: OpenFeature's Python
//! SDK with its OFREP provider (pinned in `examples/python-ofrep/requirements.txt`) against the
//! extension's real binary, over every shape LaunchDarkly data takes: flags off with and
//! without an off variation, a failed prerequisite, rollouts and experiments, a multi-kind
//! context, every value type, an unknown flag, a store that cannot be read; and the README's
//! Python snippet, run as written.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use launchdarkly_dynamo_testkit::lambda::{free_port, layer_extension, Happened, LambdaApi};
use serde_json::{json, Value};

const NAME: &str = "launchdarkly-ofrep";

fn python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        python.exists(),
        "the pinned Python tools are missing: run `make test` (or `make tools`)"
    );
    python
}

fn flag(key: &str, variations: Value, extra: Value) -> Value {
    let mut flag = json!({"key": key, "version": 1, "on": true, "targets": [], "prerequisites": [],
        "rules": [], "fallthrough": {"variation": 0}, "offVariation": 0, "variations": variations,
        "salt": key, "trackEvents": false});
    for (name, value) in extra.as_object().into_iter().flatten() {
        flag[name] = value.clone();
    }
    flag
}

fn flags() -> Vec<Value> {
    let half = json!([{"variation": 0, "weight": 50000}, {"variation": 1, "weight": 50000}]);
    vec![
        flag(
            "new-checkout",
            json!([false, true]),
            json!({"fallthrough": {"variation": 0}}),
        ),
        flag("banner-text", json!(["Welcome!", "Hi!"]), json!({})),
        flag(
            "max-items",
            json!([25, 50]),
            json!({"fallthrough": {"variation": 1}}),
        ),
        flag("ratio", json!([0.25, 0.5]), json!({})),
        flag(
            "theme",
            json!([{"color": "blue", "dense": true}]),
            json!({}),
        ),
        flag(
            "off-with-value",
            json!(["on-value", "off-value"]),
            json!({"on": false, "offVariation": 1}),
        ),
        flag(
            "off-without-value",
            json!([true, false]),
            json!({"on": false, "offVariation": null}),
        ),
        flag(
            "needs-off",
            json!(["granted", "denied"]),
            json!({"offVariation": 1,
            "prerequisites": [{"key": "off-with-value", "variation": 0}]}),
        ),
        flag(
            "rollout",
            json!(["a", "b"]),
            json!({"fallthrough": {"rollout": {"variations": half}}}),
        ),
        flag(
            "experiment",
            json!(["control", "treatment"]),
            json!({"fallthrough": {"rollout": {
            "kind": "experiment", "seed": 61, "variations": half}}}),
        ),
        flag(
            "org-plan",
            json!(["basic", "pro"]),
            json!({"rules": [{"id": "pro-orgs", "variation": 1,
            "clauses": [{"contextKind": "org", "attribute": "plan", "op": "in", "values": ["pro"], "negate": false}],
            "trackEvents": false}]}),
        ),
    ]
}

fn case(flag: &str, kind: &str, default: Value, context: Value) -> Value {
    json!({"flag": flag, "type": kind, "default": default, "context": context})
}

/// Runs `examples/python-ofrep/evaluate.py` against `base_url`.
fn evaluate(base_url: &str, cases: &Value) -> Vec<Value> {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/python-ofrep/evaluate.py");
    let mut child = Command::new(python())
        .arg(script)
        .arg(base_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(cases.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON line")
}

async fn extension(api: &LambdaApi, table: &str, dynamodb: &str, port: u16) -> std::process::Child {
    let port = port.to_string();
    let child = api.spawn(
        &layer_extension(NAME, env!("CARGO_BIN_EXE_launchdarkly-ofrep")),
        &[
            ("LAUNCHDARKLY_DYNAMODB_TABLE", table),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb),
            ("LAUNCHDARKLY_OFREP_PORT", port.as_str()),
        ],
    );
    assert!(api.wait_until(&Happened::ExtensionNext(NAME.into())).await);
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_openfeature_evaluates_every_shape_of_launchdarkly_data() {
    let table = launchdarkly_dynamo_fixtures::synced_table("ofrep-py", &flags(), &[]).await;
    let api = LambdaApi::start();
    let port = free_port();
    let mut child = extension(
        &api,
        &table,
        &launchdarkly_dynamo_testkit::dynamodb::endpoint(),
        port,
    )
    .await;
    let user = json!({"targetingKey": "user-1"});
    let multi = json!({"targetingKey": "user-1", "kind": "multi",
        "user": {"targetingKey": "user-1"}, "org": {"targetingKey": "acme", "plan": "pro"}});
    let cases = json!([
        case("new-checkout", "boolean", json!(true), user.clone()),
        case("banner-text", "string", json!("default"), user.clone()),
        case("max-items", "integer", json!(1), user.clone()),
        case("ratio", "float", json!(1.0), user.clone()),
        case("theme", "object", json!({}), user.clone()),
        case("off-with-value", "string", json!("default"), user.clone()),
        case("off-without-value", "boolean", json!(true), user.clone()),
        case("needs-off", "string", json!("default"), user.clone()),
        case("rollout", "string", json!("default"), user.clone()),
        case("experiment", "string", json!("default"), user.clone()),
        case("org-plan", "string", json!("default"), multi),
        case("no-such-flag", "boolean", json!(true), user.clone()),
    ]);
    let results = evaluate(&format!("http://127.0.0.1:{port}"), &cases);
    let by_flag = |key: &str| {
        results
            .iter()
            .find(|r| r["flag"] == key)
            .cloned()
            .unwrap_or_default()
    };
    let summary = |key: &str| {
        let r = by_flag(key);
        (
            r["value"].clone(),
            r["reason"].clone(),
            r["errorCode"].clone(),
        )
    };
    assert_eq!(
        summary("new-checkout"),
        (json!(false), json!("STATIC"), Value::Null)
    );
    assert_eq!(by_flag("new-checkout")["variant"], "0");
    assert_eq!(
        summary("banner-text"),
        (json!("Welcome!"), json!("STATIC"), Value::Null)
    );
    assert_eq!(
        summary("max-items"),
        (json!(50), json!("STATIC"), Value::Null)
    );
    assert_eq!(
        summary("ratio"),
        (json!(0.25), json!("STATIC"), Value::Null)
    );
    assert_eq!(summary("theme").0, json!({"color": "blue", "dense": true}));
    assert_eq!(
        summary("off-with-value"),
        (json!("off-value"), json!("DISABLED"), Value::Null)
    );
    // Off without an off variation: OFREP's code default, the caller's default value.
    assert_eq!(
        summary("off-without-value").0,
        json!(true),
        "{:?}",
        by_flag("off-without-value")
    );
    assert_eq!(
        summary("needs-off"),
        (json!("denied"), json!("DISABLED"), Value::Null)
    );
    assert_eq!(
        by_flag("needs-off")["metadata"]["prerequisiteKey"],
        "off-with-value"
    );
    let rollout = by_flag("rollout");
    assert!(
        ["a", "b"].contains(&rollout["value"].as_str().unwrap_or_default()),
        "{rollout}"
    );
    assert_eq!(rollout["reason"], "SPLIT");
    let experiment = by_flag("experiment");
    assert_eq!(experiment["reason"], "SPLIT", "{experiment}");
    assert_eq!(experiment["metadata"]["inExperiment"], true, "{experiment}");
    assert_eq!(
        summary("org-plan"),
        (json!("pro"), json!("TARGETING_MATCH"), Value::Null)
    );
    assert_eq!(
        summary("no-such-flag"),
        (json!(true), json!("ERROR"), json!("FLAG_NOT_FOUND"))
    );
    child.kill().ok();
    child.wait().ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_be_read_is_a_general_error_in_python_never_a_missing_flag() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let api = LambdaApi::start();
    let port = free_port();
    let mut child = extension(&api, "ofrep-py-down", &closed, port).await;
    let cases = json!([case(
        "new-checkout",
        "boolean",
        json!(true),
        json!({"targetingKey": "u"})
    )]);
    let results = evaluate(&format!("http://127.0.0.1:{port}"), &cases);
    assert_eq!(results[0]["errorCode"], "GENERAL", "{results:?}");
    assert_eq!(results[0]["value"], true);
    child.kill().ok();
    child.wait().ok();
}

/// The Python snippet of docs/other-languages.md, as written, against a running extension on
/// its port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_python_snippet_runs_as_written() {
    let readme = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/other-languages.md"),
    )
    .unwrap();
    let start = readme
        .find("```python\n")
        .expect("a Python snippet in docs/other-languages.md")
        + "```python\n".len();
    let snippet = &readme[start..start + readme[start..].find("```").unwrap()];
    assert!(snippet.contains("OFREP_ENDPOINT"), "{snippet}");
    let table = launchdarkly_dynamo_fixtures::synced_table("ofrep-py-readme", &flags(), &[]).await;
    let api = LambdaApi::start();
    let port = free_port();
    let mut child = extension(
        &api,
        &table,
        &launchdarkly_dynamo_testkit::dynamodb::endpoint(),
        port,
    )
    .await;
    // The snippet as written; the endpoint through OpenFeature's variable (8016 may be taken).
    let program = format!("{snippet}\nprint(repr(enabled))\n");
    let output = Command::new(python())
        .arg("-c")
        .arg(program)
        .env("OFREP_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "False",
        "new-checkout for user-123"
    );
    child.kill().ok();
    child.wait().ok();
}
