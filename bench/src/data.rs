//! Deterministic, realistic benchmark data: 1,000 flags and 200 segments of mixed sizes.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// Evaluations per warm run of the SDK in process.
pub const WARM_EVALUATIONS: usize = 50_000;

pub const FLAGS: usize = 1000;
pub const SEGMENTS: usize = 200;
/// The flag the reader measures evaluate: a rule matching segment-0000.
pub const EVAL_FLAG: &str = "flag-0000";
pub const EVAL_CONTEXT: &str = "user-7";

fn keys(rng: &mut StdRng, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| format!("user-{}", rng.random_range(0..10_000_000u32)))
        .collect()
}

fn clause(rng: &mut StdRng) -> Value {
    let attributes = ["email", "country", "plan", "version", "name"];
    let ops = ["in", "endsWith", "startsWith", "contains"];
    json!({
        "attribute": attributes[rng.random_range(0..attributes.len())],
        "op": ops[rng.random_range(0..ops.len())],
        "values": (0..rng.random_range(1..6)).map(|i| format!("value-{i}-{}", rng.random_range(0..1000))).collect::<Vec<_>>(),
        "negate": false
    })
}

fn flag(rng: &mut StdRng, i: usize) -> Value {
    let key = format!("flag-{i:04}");
    let mut rules: Vec<Value> = Vec::new();
    let mut targets: Vec<Value> = Vec::new();
    if i == 0 {
        rules.push(json!({"id": "segment-rule", "clauses": [{"attribute": "key", "op": "segmentMatch", "values": ["segment-0000"], "negate": false}], "variation": 0, "trackEvents": false}));
    }
    match i % 100 {
        // 20 %: a few rules.
        1..=20 => {
            for r in 0..rng.random_range(1..5) {
                let clauses: Vec<Value> =
                    (0..rng.random_range(1..4)).map(|_| clause(rng)).collect();
                rules.push(json!({"id": format!("rule-{r}"), "clauses": clauses, "variation": rng.random_range(0..2), "trackEvents": false}));
            }
        }
        // 9 %: individual targets, 1,000 context keys.
        21..=29 => targets.push(json!({"values": keys(rng, 1000), "variation": 0})),
        _ => {}
    }
    // One flag near 350 KB.
    if i == 500 {
        targets.push(json!({"values": keys(rng, 24_000), "variation": 1}));
    }
    json!({
        "key": key, "version": rng.random_range(1..500), "on": rng.random_bool(0.8), "deleted": false,
        "targets": targets, "contextTargets": [], "rules": rules, "prerequisites": [],
        "fallthrough": {"rollout": {"variations": [{"variation": 0, "weight": 50000}, {"variation": 1, "weight": 50000}]}},
        "offVariation": 1, "variations": [true, false], "salt": format!("salt-{i}"),
        "trackEvents": false, "trackEventsFallthrough": false, "debugEventsUntilDate": null,
        "clientSideAvailability": {"usingMobileKey": false, "usingEnvironmentId": false}
    })
}

fn segment(rng: &mut StdRng, i: usize) -> Value {
    let count = if i.is_multiple_of(5) {
        1000
    } else {
        rng.random_range(10..100)
    };
    let mut included = keys(rng, count);
    if i == 0 {
        included.push(EVAL_CONTEXT.to_string());
    }
    let rules: Vec<Value> = if i.is_multiple_of(5) {
        (0..3)
            .map(|r| json!({"id": format!("seg-rule-{r}"), "clauses": [clause(rng)]}))
            .collect()
    } else {
        Vec::new()
    };
    json!({
        "key": format!("segment-{i:04}"), "version": rng.random_range(1..100), "deleted": false,
        "included": included, "excluded": [], "includedContexts": [], "excludedContexts": [],
        "rules": rules, "salt": format!("seg-salt-{i}")
    })
}

/// The `latest-all` shaped data set, the same for every run.
pub fn generate() -> Value {
    generate_sized(FLAGS, SEGMENTS)
}

/// The same mix at another size (keys `flag-NNNN`, `segment-NNNN`).
pub fn generate_sized(flag_count: usize, segment_count: usize) -> Value {
    let mut rng = StdRng::seed_from_u64(20_261_123);
    let flags: serde_json::Map<String, Value> = (0..flag_count)
        .map(|i| (format!("flag-{i:04}"), flag(&mut rng, i)))
        .collect();
    let segments: serde_json::Map<String, Value> = (0..segment_count)
        .map(|i| (format!("segment-{i:04}"), segment(&mut rng, i)))
        .collect();
    json!({"flags": flags, "segments": segments})
}

/// The same data with `n` flags changed (new version, other salt).
pub fn with_changed_flags(data: &Value, n: usize) -> Value {
    let mut data = data.clone();
    if let Some(flags) = data["flags"].as_object_mut() {
        for (_, flag) in flags.iter_mut().skip(100).take(n) {
            let version = flag["version"].as_u64().unwrap_or(0) + 1;
            flag["version"] = json!(version);
            flag["salt"] = json!(format!("changed-{version}"));
        }
    }
    data
}
