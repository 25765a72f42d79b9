//! What the bench measured, and bench/RESULTS.md written from it.

use std::path::Path;

use crate::data;

/// Several measurements of one quantity.
#[derive(Default, Clone)]
pub struct Sample(pub Vec<f64>);

impl Sample {
    pub fn push(&mut self, v: f64) {
        self.0.push(v);
    }
    fn sorted(&self) -> Vec<f64> {
        let mut v = self.0.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        v
    }
    pub fn median(&self) -> f64 {
        let v = self.sorted();
        if v.is_empty() {
            return f64::NAN;
        }
        let mid = v.len() / 2;
        if v.len().is_multiple_of(2) {
            (v[mid - 1] + v[mid]) / 2.0
        } else {
            v[mid]
        }
    }
    pub fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }
    pub fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }
}

/// One line of the results table.
pub struct Row {
    pub measure: String,
    pub unit: &'static str,
    pub ours: Sample,
    pub reference: Option<Sample>,
    /// How the ratio reads: reference / ours ("× faster") or ours / reference ("× higher").
    pub ratio: Ratio,
    pub goal: &'static str,
}

impl Row {
    /// A measure beside the official Node.js store's.
    pub fn compared(
        measure: impl Into<String>,
        unit: &'static str,
        ours: Sample,
        reference: &Sample,
        ratio: Ratio,
        goal: &'static str,
    ) -> Self {
        Self {
            measure: measure.into(),
            unit,
            ours,
            reference: Some(reference.clone()),
            ratio,
            goal,
        }
    }

    /// A measure of ours alone, reported.
    pub fn reported(measure: impl Into<String>, unit: &'static str, ours: Sample) -> Self {
        Self {
            measure: measure.into(),
            unit,
            ours,
            reference: None,
            ratio: Ratio::None,
            goal: "reported",
        }
    }

    fn to_markdown(&self) -> String {
        let spread =
            |s: &Sample| format!("{} ({}–{})", fmt(s.median()), fmt(s.min()), fmt(s.max()));
        let reference = self.reference.as_ref().map_or("—".to_string(), spread);
        let ratio = match (self.ratio, &self.reference) {
            (Ratio::ReferenceOverOurs, Some(r)) => {
                format!("{:.1}× (reference ÷ ours)", r.median() / self.ours.median())
            }
            (Ratio::OursOverReference, Some(r)) => {
                format!("{:.1}× (ours ÷ reference)", self.ours.median() / r.median())
            }
            _ => "—".to_string(),
        };
        format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            self.measure,
            self.unit,
            spread(&self.ours),
            reference,
            ratio,
            self.goal
        )
    }
}

#[derive(Clone, Copy)]
pub enum Ratio {
    ReferenceOverOurs,
    OursOverReference,
    None,
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        "—".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The Lambda zips' sizes, for the ones `make build` made.
pub fn zip_rows() -> Vec<Row> {
    [
        ("syncer (function store)", "dist/x86_64/syncer.zip"),
        (
            "example-reader (function reader)",
            "dist/x86_64/example-reader.zip",
        ),
        (
            "launchdarkly-ofrep extension layer",
            "dist/x86_64/launchdarkly-ofrep-layer.zip",
        ),
    ]
    .into_iter()
    .filter_map(|(name, path)| {
        let meta = std::fs::metadata(path).ok()?;
        let mut size = Sample::default();
        size.push(meta.len() as f64 / (1024.0 * 1024.0));
        Some(Row::reported(
            format!("Lambda zip size: {name}"),
            "MiB",
            size,
        ))
    })
    .collect()
}

/// The machine, as the results' header names it.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let kib = m
                .lines()
                .next()?
                .split_whitespace()
                .nth(1)?
                .parse::<f64>()
                .ok()?;
            Some(kib / 1024.0 / 1024.0)
        })
        .unwrap_or(0.0);
    format!("{cpu}, {cores} cores, {memory_gib:.0} GiB")
}

/// Writes bench/RESULTS.md (or `path`): a header saying what ran where, the table, the notes.
pub fn write(path: &Path, rows: &[Row], runs: usize, items: f64) -> anyhow::Result<()> {
    let mut out = String::new();
    out.push_str("# Benchmark results\n\n");
    out.push_str("Written by `make bench` (bench/src/main.rs). This project against LaunchDarkly's official Node.js\n");
    out.push_str("DynamoDB store (`launchdarkly-node-server-sdk-dynamodb` 4.0.0 with `launchdarkly-node-server-sdk` 6.4.3,\n");
    out.push_str("bench/reference.js), on the same DynamoDB Local, with the same generated data, in the same run.\n\n");
    out.push_str(&format!(
        "Machine: {}; DynamoDB Local 3.3.0 on loopback. Data: {} flags and {} segments \
         ({items:.0} items; some with rules and 1,000-key targets, one flag near 350 KB), seeded. {runs} runs per sync measure, \
         {} reader cold starts, 3 warm runs of {} evaluations.\n\n",
        machine(),
        data::FLAGS,
        data::SEGMENTS,
        runs * 2,
        data::WARM_EVALUATIONS,
    ));
    out.push_str("| Measure | Unit | Ours: median (min–max) | Reference: median (min–max) | Ratio | Goal |\n|---|---|---|---|---|---|\n");
    for row in rows {
        out.push_str(&row.to_markdown());
    }
    out.push_str("\nTimes are wall-clock on a shared 2-core machine; DynamoDB Local is much faster per request than AWS,\n");
    out.push_str("so request counts say more about cost in AWS than milliseconds do.\n");
    if let Ok(notes) = std::fs::read_to_string("bench/NOTES.md") {
        out.push('\n');
        out.push_str(&notes);
    }
    std::fs::write(path, out)?;
    Ok(())
}
