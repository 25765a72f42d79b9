//! Processes the bench spawns: the Node.js reference, and timing and memory of a cold start.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context};
use serde_json::Value;

/// Runs bench/reference.js (the official Node.js store) with `args` and returns its JSON line.
pub fn node_reference(args: &[&str]) -> anyhow::Result<Value> {
    let output = Command::new("node")
        .arg("bench/reference.js")
        .args(args)
        .output()
        .context("running node")?;
    if !output.status.success() {
        bail!(
            "node reference.js {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// Spawns `command` and returns the time until its first stdout line (an evaluation) in ms.
pub fn cold_start(mut command: Command) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().context("no output")??;
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    if !first.contains("\"value\"") {
        bail!("unexpected output: {first}");
    }
    for _ in lines {}
    child.wait()?;
    Ok(elapsed)
}
/// Peak RSS in MiB of `command`, measured by a small Python parent: Linux keeps a process's
/// high-water mark across fork and exec, so a child of this (large) process would report ours.
pub fn peak_rss(command: &Command) -> anyhow::Result<f64> {
    let mut python = Command::new("python3");
    python.args([
        "-c",
        "import resource,subprocess,sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
    ]);
    python.arg(command.get_program()).args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => python.env(key, value),
            None => python.env_remove(key),
        };
    }
    let output = python.output()?;
    if !output.status.success() {
        bail!(
            "measuring RSS failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let kib: f64 = String::from_utf8_lossy(&output.stdout).trim().parse()?;
    Ok(kib / 1024.0)
}
