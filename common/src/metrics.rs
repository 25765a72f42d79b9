//! CloudWatch metrics without an agent or a client: Embedded Metric Format lines on stdout,
//! which Lambda ships to CloudWatch Logs, where CloudWatch extracts the metrics. Every metric of
//! the pipeline is in one namespace, dimensioned by table, so one dashboard serves every stage.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

/// The CloudWatch namespace of every metric the pipeline emits.
pub const NAMESPACE: &str = "LaunchDarklyDynamoStore";

/// CloudWatch units used here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
        }
    }
}

/// One EMF record: dimension values, the dimension sets to aggregate by, and metric values.
///
/// ```
/// use launchdarkly_dynamo_common::metrics::{Record, Unit};
///
/// let line = Record::new()
///     .dimension("Table", "launchdarkly-staging")
///     .aggregate_by(&["Table"])
///     .metric("SyncSucceeded", Unit::Count, 1.0)
///     .to_line();
/// assert!(line.contains("\"CloudWatchMetrics\""));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Record {
    dimensions: Vec<(String, String)>,
    sets: Vec<Vec<String>>,
    metrics: Vec<(String, Unit, f64)>,
    properties: Vec<(String, Value)>,
}

impl Record {
    pub fn new() -> Self {
        Self::default()
    }

    /// A dimension's value.
    pub fn dimension(mut self, name: &str, value: &str) -> Self {
        self.dimensions.push((name.to_string(), value.to_string()));
        self
    }

    /// A set of dimensions CloudWatch aggregates the metrics by (several sets are allowed).
    pub fn aggregate_by(mut self, names: &[&str]) -> Self {
        self.sets
            .push(names.iter().map(|name| name.to_string()).collect());
        self
    }

    /// A metric value.
    pub fn metric(mut self, name: &str, unit: Unit, value: f64) -> Self {
        self.metrics.push((name.to_string(), unit, value));
        self
    }

    /// A value logged with the record, not a metric (searchable in Logs Insights).
    pub fn property(mut self, name: &str, value: Value) -> Self {
        self.properties.push((name.to_string(), value));
        self
    }

    /// The record as one JSON line in the Embedded Metric Format.
    pub fn to_line(&self) -> String {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
        let definitions: Vec<Value> = self
            .metrics
            .iter()
            .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.as_str()}))
            .collect();
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": self.sets,
                    "Metrics": definitions,
                }],
            }),
        );
        for (name, value) in &self.properties {
            root.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.dimensions {
            root.insert(name.clone(), Value::String(value.clone()));
        }
        for (name, _, value) in &self.metrics {
            root.insert(name.clone(), json!(value));
        }
        Value::Object(root).to_string()
    }

    /// Writes the record to stdout, inside Lambda only: elsewhere stdout is command output.
    pub fn emit(&self) {
        if crate::in_lambda() {
            crate::print_line(&self.to_line());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_valid_emf() {
        let line = Record::new()
            .dimension("Table", "t")
            .dimension("Kind", "THROTTLED")
            .aggregate_by(&["Table"])
            .aggregate_by(&["Table", "Kind"])
            .metric("SyncFailures", Unit::Count, 1.0)
            .property("trigger", json!("webhook"))
            .to_line();
        let record: Value = serde_json::from_str(&line).unwrap();
        let directive = &record["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(
            directive["Dimensions"],
            json!([["Table"], ["Table", "Kind"]])
        );
        assert_eq!(
            directive["Metrics"][0],
            json!({"Name": "SyncFailures", "Unit": "Count"})
        );
        assert!(record["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
        assert_eq!(record["Table"], "t");
        assert_eq!(record["Kind"], "THROTTLED");
        assert_eq!(record["SyncFailures"], 1.0);
        assert_eq!(record["trigger"], "webhook");
        assert!(!line.contains('\n'));
    }
}
