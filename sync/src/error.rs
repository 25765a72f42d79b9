//! Typed errors of the sync machinery.

use std::time::Duration;

use launchdarkly_dynamo_store::StoreError;

/// What can go wrong while taking, holding or reading the sync lease.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// A DynamoDB request failed.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// Another sync held the lease for this sync's whole time budget.
    #[error("another sync kept the sync lease on table \"{table}\" for this sync's whole time budget, so this one did not run (the running sync fetches the latest data anyway; a failed webhook is retried by LaunchDarkly)")]
    Busy {
        /// The table name.
        table: String,
    },

    /// The lease period is shorter than [`MIN_LEASE_PERIOD`](crate::MIN_LEASE_PERIOD).
    #[error("the sync lease period of {}s is too short: a holder renews it every third of the period, so it must be at least {}s", period.as_secs_f64(), minimum.as_secs())]
    PeriodTooShort {
        /// The period asked for.
        period: Duration,
        /// The shortest period allowed.
        minimum: Duration,
    },
}
