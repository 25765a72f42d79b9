//! What a reader counts between two metric records: evaluations, answers from stale data,
//! answers refused because the store could not be read, and the data's age. Both readers
//! emit one EMF record per invocation that evaluated anything (the example reader after its
//! answer, the extension at the next event), dimensioned by table and component.

use std::sync::atomic::{AtomicU64, Ordering};

use launchdarkly_dynamo_common::metrics::{Record, Unit};

use crate::evaluation::{Evaluation, Unavailable};

/// Counters since the last record.
#[derive(Default)]
pub struct ReadCounters {
    evaluations: AtomicU64,
    stale: AtomicU64,
    unavailable: AtomicU64,
}

impl ReadCounters {
    /// Counts the outcome of one evaluation request (`evaluated` flags, or none).
    pub(crate) fn count<T>(
        &self,
        outcome: &Result<T, Unavailable>,
        evaluated: impl Fn(&T) -> (u64, bool),
    ) {
        match outcome {
            Ok(value) => {
                let (flags, stale) = evaluated(value);
                self.evaluations.fetch_add(flags, Ordering::Relaxed);
                if stale {
                    self.stale.fetch_add(flags, Ordering::Relaxed);
                }
            }
            Err(_) => {
                self.unavailable.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The record of what was counted since the last one, and the counters back at zero;
    /// `None` when nothing was asked.
    pub(crate) fn take(
        &self,
        table: &str,
        component: &str,
        data_age_seconds: Option<f64>,
        failing: bool,
    ) -> Option<Record> {
        let evaluations = self.evaluations.swap(0, Ordering::Relaxed);
        let stale = self.stale.swap(0, Ordering::Relaxed);
        let unavailable = self.unavailable.swap(0, Ordering::Relaxed);
        if evaluations == 0 && unavailable == 0 {
            return None;
        }
        let mut record = Record::new()
            .dimension("Table", table)
            .dimension("Component", component)
            .aggregate_by(&["Table"])
            .aggregate_by(&["Table", "Component"])
            .metric("Evaluations", Unit::Count, evaluations as f64)
            .metric("StaleAnswers", Unit::Count, stale as f64)
            .metric("UnavailableAnswers", Unit::Count, unavailable as f64)
            .metric("StoreErrors", Unit::Count, f64::from(u8::from(failing)));
        if let Some(age) = data_age_seconds {
            record = record.metric("DataAge", Unit::Seconds, age);
        }
        Some(record)
    }
}

/// One evaluation: one flag, stale or not.
pub(crate) fn one(evaluation: &Evaluation) -> (u64, bool) {
    (1, evaluation.freshness.stale)
}

/// A bulk evaluation: every flag, stale or not together.
pub(crate) fn all(evaluations: &[Evaluation]) -> (u64, bool) {
    let stale = evaluations.first().is_some_and(|e| e.freshness.stale);
    (evaluations.len() as u64, stale)
}
