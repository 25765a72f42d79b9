//! The syncer's metrics, one EMF record per sync (see `launchdarkly_dynamo_common::metrics`): what a
//! dashboard and the stack's alarms read. Aggregated by table; failures also by their kind.

use launchdarkly_dynamo_common::metrics::{Record, Unit};
use serde_json::json;

use crate::failure::FailureCategory;
use crate::sync::{Summary, SyncError, Trigger};

/// The record of a sync that succeeded (`partial` included: its skipped items are counted).
pub fn succeeded(table: &str, summary: &Summary) -> Record {
    let count = |n: usize| n as f64;
    Record::new()
        .dimension("Table", table)
        .aggregate_by(&["Table"])
        .metric("SyncSucceeded", Unit::Count, 1.0)
        .metric("SyncFailures", Unit::Count, 0.0)
        .metric("SyncDuration", Unit::Milliseconds, summary.ms as f64)
        .metric("ItemsWritten", Unit::Count, count(summary.written))
        .metric("ItemsRepaired", Unit::Count, count(summary.repaired))
        .metric("ItemsDeleted", Unit::Count, count(summary.deleted))
        .metric("ItemsSkipped", Unit::Count, count(summary.skipped.len()))
        .metric(
            "SyncCovered",
            Unit::Count,
            f64::from(u8::from(summary.covered)),
        )
        .property("trigger", json!(summary.trigger))
        .property("status", json!(summary.status))
}

/// The record of a failed sync, by table and by the failure's kind.
pub fn failed(table: &str, trigger: Trigger, err: &SyncError, ms: u64) -> Record {
    Record::new()
        .dimension("Table", table)
        .dimension("Kind", &kind_name(FailureCategory::of(err)))
        .aggregate_by(&["Table"])
        .aggregate_by(&["Table", "Kind"])
        .metric("SyncSucceeded", Unit::Count, 0.0)
        .metric("SyncFailures", Unit::Count, 1.0)
        .metric("SyncDuration", Unit::Milliseconds, ms as f64)
        .property("trigger", json!(trigger))
}

fn kind_name(category: FailureCategory) -> String {
    serde_json::to_value(category)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "UNKNOWN".to_string())
}
