//! The extension layer's measurements: its start as Lambda runs it (spawn → registered and
//! asking for its first event, i.e. ready), a Node.js process's first value through OFREP
//! (the example function's OpenFeature code), warm OFREP evaluations from Node, and the
//! extension's peak RSS.

use std::process::{Child, Command};
use std::time::Instant;

use anyhow::{bail, Context};
use launchdarkly_dynamo_testkit::lambda::{free_port, Happened, LambdaApi};
use serde_json::{json, Value};

use crate::data;

const NAME: &str = "launchdarkly-ofrep";

/// A started extension, ready, beside its own Extensions API stand-in.
pub struct Running {
    _api: LambdaApi,
    child: Child,
    pub base_url: String,
    /// Spawn → ready (its first `event/next`), in ms.
    pub start_ms: f64,
}

impl Running {
    /// Peak RSS of the extension process so far, in MiB (`VmHWM`).
    pub fn peak_rss_mib(&self) -> anyhow::Result<f64> {
        self.status_mib("VmHWM:")
    }

    /// RSS of the extension process now, in MiB (`VmRSS`).
    pub fn rss_mib(&self) -> anyhow::Result<f64> {
        self.status_mib("VmRSS:")
    }

    fn status_mib(&self, field: &str) -> anyhow::Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let line = status
            .lines()
            .find(|l| l.starts_with(field))
            .context("no such field in /proc/<pid>/status")?;
        let kib: f64 = line
            .trim_start_matches(field)
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()?;
        Ok(kib / 1024.0)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// Spawns the extension as Lambda does and waits until it is ready.
pub async fn start(binary: &str, table: &str, endpoint: &str) -> anyhow::Result<Running> {
    start_beside(LambdaApi::start(), binary, table, endpoint).await
}

/// [`start`], beside the given Lambda stand-in (for example in its Managed Instances mode).
pub async fn start_beside(
    api: LambdaApi,
    binary: &str,
    table: &str,
    endpoint: &str,
) -> anyhow::Result<Running> {
    let port = free_port().to_string();
    let started = Instant::now();
    let child = api.spawn(
        binary,
        &[
            ("LAUNCHDARKLY_DYNAMODB_TABLE", table),
            ("AWS_ENDPOINT_URL_DYNAMODB", endpoint),
            ("LAUNCHDARKLY_OFREP_PORT", port.as_str()),
        ],
    );
    // Owned by `Running` from here: dropping it kills and reaps the process.
    let mut running = Running {
        _api: api.clone(),
        child,
        base_url: format!("http://127.0.0.1:{port}"),
        start_ms: 0.0,
    };
    if !api.wait_until(&Happened::ExtensionNext(NAME.into())).await {
        bail!("the extension did not get ready");
    }
    running.start_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(running)
}

/// `node examples/node-ofrep/evaluate.mjs` evaluating the bench flag, for `cold_start`.
pub fn node_first_value(base_url: &str) -> Command {
    let request = json!([{"flag": data::EVAL_FLAG, "type": "boolean", "defaultValue": false,
        "context": {"targetingKey": data::EVAL_CONTEXT}}]);
    let mut command = Command::new("node");
    command
        .arg("examples/node-ofrep/evaluate.mjs")
        .arg(request.to_string())
        .env("OFREP_ENDPOINT", base_url);
    command
}

/// The Node OFREP process's answer is right (the segment rule serves `true`).
pub fn check_node_answer(base_url: &str) -> anyhow::Result<()> {
    let output = node_first_value(base_url).output()?;
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    if answer[0]["value"] != Value::Bool(true) || answer[0]["reason"] != "TARGETING_MATCH" {
        bail!(
            "unexpected OFREP evaluation: {answer} {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Warm evaluations per second from one Node process through OpenFeature and OFREP.
pub fn node_warm(base_url: &str, evaluations: usize) -> anyhow::Result<f64> {
    let output = Command::new("node")
        .args(["bench/ofrep-warm.mjs", data::EVAL_FLAG, data::EVAL_CONTEXT])
        .arg(evaluations.to_string())
        .env("OFREP_ENDPOINT", base_url)
        .output()?;
    if !output.status.success() {
        bail!(
            "bench/ofrep-warm.mjs failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let result: Value = serde_json::from_slice(&output.stdout)?;
    result["perSecond"].as_f64().context("perSecond")
}
