//! The memory the largest accepted LaunchDarkly answer costs the syncer's binary, measured as
//! the kernel's peak RSS of the process, against the memory `serverless.yml` gives the function.

use crate::common;

use std::io::Read;
use std::process::Stdio;

use common::*;
use serde_json::{json, Value};

/// The largest answer accepted by default (`LAUNCHDARKLY_MAX_RESPONSE_MB`).
const MAX_RESPONSE_MB: usize = 32;

/// Flags of about 20 KB each (a targeting list of 900 keys, as large real flags have) adding
/// up to just under the limit.
fn data_near_the_limit() -> Value {
    let keys: Vec<String> = (0..900).map(|i| format!("user-{i:06}")).collect();
    let mut flags = serde_json::Map::new();
    let mut size = 0;
    let mut i = 0;
    while size < (MAX_RESPONSE_MB - 1) * 1024 * 1024 {
        let key = format!("flag-{i:05}");
        let mut flag = flag(&key, 1, true);
        flag["targets"] = json!([{"variation": 0, "values": keys}]);
        size += flag.to_string().len();
        flags.insert(key, flag);
        i += 1;
    }
    json!({"flags": flags, "segments": {}})
}

/// Runs `syncer sync` to its end; returns its peak RSS in MiB: the kernel's high-water mark
/// (`VmHWM`, which starts afresh at exec, unlike `ru_maxrss`), read every 10 ms until exit.
fn sync_peak_rss(env: &Env) -> f64 {
    let binary = launchdarkly_dynamo_testkit::lambda::function_binary(
        "syncer",
        env!("CARGO_BIN_EXE_syncer"),
    );
    let mut child = env
        .cli(&binary)
        .arg("sync")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).ok();
        text
    });
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let status = loop {
        if let Some(kib) = std::fs::read_to_string(&status_file)
            .ok()
            .and_then(|status| high_water_kib(&status))
        {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert!(
        status.success(),
        "the sync failed: {}",
        logs.join().unwrap()
    );
    peak_kib as f64 / 1024.0
}

fn high_water_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `functions.store.memorySize` (or `provider.memorySize`) in serverless.yml, in MB.
fn deployed_memory_mb() -> f64 {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../serverless.yml")).unwrap();
    let mut in_store = false;
    let mut provider = None;
    let mut store = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if indent == 2 && trimmed.ends_with(':') {
            in_store = trimmed == "store:";
        }
        if let Some(value) = trimmed.strip_prefix("memorySize:") {
            let value: f64 = value.trim().parse().unwrap();
            match (indent, in_store) {
                (2, _) => provider = Some(value),
                (4, true) => store = Some(value),
                _ => {}
            }
        }
    }
    store
        .or(provider)
        .expect("a memorySize for the store function")
}

#[tokio::test]
async fn the_largest_accepted_answer_fits_the_deployed_memory() {
    let served = data_near_the_limit();
    let bytes = served.to_string().len();
    assert!(
        bytes < MAX_RESPONSE_MB * 1024 * 1024,
        "accepted: {bytes} bytes"
    );
    let env = Env::new("memory-largest", served).await;
    // A first sync writes everything; a second one reads everything back to compare content.
    let first = sync_peak_rss(&env);
    let second = sync_peak_rss(&env);
    let peak = first.max(second);
    let deployed = deployed_memory_mb();
    println!(
        "answer {:.1} MiB: peak RSS {first:.0} MiB (full write), {second:.0} MiB (reconcile); deployed {deployed} MB",
        bytes as f64 / 1048576.0
    );
    // Lambda counts the whole sandbox: keep a quarter free for the runtime and the kernel.
    assert!(
        peak <= deployed * 0.75,
        "peak {peak:.0} MiB leaves too little of the deployed {deployed} MB"
    );
}
