//! The README's "Try it locally" section, run as written: every `bash` block in order, in one
//! shell from the checkout's root, as a new user would paste them. Only the environment differs:
//! free ports, a state folder of its own, and the binaries `make test` built (the deployed
//! release builds when `LAMBDA_BINARIES_DIR` is set) instead of a second `cargo build --release`.

use std::path::{Path, PathBuf};
use std::process::Command;

use launchdarkly_dynamo_testkit::lambda::{free_port, function_binary, layer_extension};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `bash` blocks of the README section `heading`, in order.
fn bash_blocks(heading: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let start = readme.find(heading).expect("the section in the README");
    let section = &readme[start + heading.len()..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    section
        .split("```bash\n")
        .skip(1)
        .map(|block| block[..block.find("```").expect("a closed block")].to_string())
        .collect()
}

/// A folder holding the binaries scripts/local.sh uses, under the names it expects.
fn binaries(dir: &Path) {
    let standin = PathBuf::from(env!("CARGO_BIN_EXE_launchdarkly-standin"));
    let debug = standin.parent().expect("the binaries' folder");
    let fallback = |name: &str| debug.join(name).to_string_lossy().into_owned();
    for (name, path) in [
        ("syncer", function_binary("syncer", &fallback("syncer"))),
        (
            "example-reader",
            function_binary("example-reader", &fallback("example-reader")),
        ),
        (
            "launchdarkly-ofrep",
            layer_extension("launchdarkly-ofrep", &fallback("launchdarkly-ofrep")),
        ),
        (
            "launchdarkly-standin",
            standin.to_string_lossy().into_owned(),
        ),
        (
            "launchdarkly-dynamo-local",
            env!("CARGO_BIN_EXE_launchdarkly-dynamo-local").to_string(),
        ),
    ] {
        assert!(
            Path::new(&path).exists(),
            "{path} is missing: run `cargo build --bin {name}` (or `make test`)"
        );
        std::os::unix::fs::symlink(&path, dir.join(name)).expect("linking a binary");
    }
}

/// Stops whatever the section started, even when an assertion failed half-way.
struct Stop<'a>(&'a [(&'a str, String)]);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        let _ = Command::new("scripts/local.sh")
            .arg("stop")
            .current_dir(root())
            .envs(self.0.iter().map(|(k, v)| (*k, v.as_str())))
            .output();
    }
}

#[test]
fn the_readme_try_it_locally_section_runs_as_written() {
    let blocks = bash_blocks("## Try it locally\n");
    assert_eq!(
        blocks.len(),
        5,
        "start, Python, Node.js, LaunchDarkly's SDKs in daemon mode, a change"
    );
    let work = std::env::temp_dir().join(format!("try-locally-{}", std::process::id()));
    let bin = work.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    binaries(&bin);
    let dynamo_port = free_port();
    let ofrep_port = free_port();
    let env = [
        ("LOCAL_BIN_DIR", bin.to_string_lossy().into_owned()),
        (
            "LOCAL_STATE_DIR",
            work.join("state").to_string_lossy().into_owned(),
        ),
        ("LOCAL_DYNAMODB_PORT", dynamo_port.to_string()),
        ("LAUNCHDARKLY_OFREP_PORT", ofrep_port.to_string()),
    ];
    let stop = Stop(&env);

    let script = format!("set -euo pipefail\n{}", blocks.join("\n"));
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(root())
        // What the harness exports for the other tests is not what a user's shell has.
        .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
        .env_remove("AWS_ENDPOINT_URL_SSM")
        .env_remove("LAMBDA_BINARIES_DIR")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );

    let lines: Vec<&str> = stdout.lines().collect();
    // curl through OFREP: dave is targeted individually.
    assert!(
        lines
            .iter()
            .any(|l| l.contains(r#""key":"welcome-banner","value":"Welcome, VIP!""#)),
        "{stdout}"
    );
    assert!(
        lines.contains(&"python: welcome-banner for dave: Welcome, VIP!"),
        "{stdout}"
    );
    // LaunchDarkly's own Python and Node.js SDKs read the table in daemon mode: a target, and
    // a rule on a segment (both need the table's items, not a default).
    assert!(
        lines.contains(&"python-daemon: welcome-banner for dave: Welcome, VIP! (TARGET_MATCH)"),
        "{stdout}"
    );
    assert!(
        lines.contains(&"node-daemon: beta-dashboard for alice: true (RULE_MATCH)"),
        "{stdout}"
    );
    // Node.js before and after the kill switch went off (defaults chosen so neither can pass
    // by falling back to the default value).
    let node: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains(r#""flagKey":"payments-enabled""#))
        .collect();
    assert_eq!(node.len(), 2, "{stdout}");
    assert!(
        node[0].contains(r#""value":true"#) && node[0].contains(r#""reason":"STATIC""#),
        "{}",
        node[0]
    );
    assert!(
        node[1].contains(r#""value":false"#) && node[1].contains(r#""reason":"DISABLED""#),
        "{}",
        node[1]
    );

    // status named the ports and logs; the Rust SDK and the operator's CLI read the table.
    assert!(
        stderr.contains("dynamodb: running, pid")
            && stderr.contains(&format!("127.0.0.1:{dynamo_port}"))
            && stderr.contains("ofrep.log"),
        "{stderr}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(r#""flag":"payments-enabled""#) && l.contains(r#""value":true"#)),
        "{stdout}"
    );
    assert!(stdout.contains("no webhook secret configured"), "{stdout}");
    // After stop, status says nothing runs, and fails.
    assert!(lines.contains(&"local: everything is stopped"), "{stdout}");
    assert!(
        stderr.contains("stopped: ofrep launchdarkly dynamodb"),
        "{stderr}"
    );

    // `scripts/local.sh stop` stopped every server.
    for port in [dynamo_port, ofrep_port] {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} still answers after stop"
        );
    }
    drop(stop);
    std::fs::remove_dir_all(&work).ok();
}
